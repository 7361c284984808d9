//! The length + CRC-32 framing every on-disk format of emberflow uses, in one place:
//!
//! - whole files ([`FileFrame`]): an 8-byte magic, an optional `u32` format version, the
//!   payload length (`u64`), the CRC-32 (IEEE) of the payload, the payload — RDD checkpoint
//!   parts (`EMBRCKP1`, no version) and metadata checkpoints (`EMBRMETA`, version 1);
//! - records appended to a log ([`frame_record`], [`records`]): the payload length (`u32`),
//!   its CRC-32, the payload — the receivers' write-ahead log.
//!
//! Integers are little-endian. A reader never trusts a frame whose length or checksum does
//! not match: a file is refused with the reason, a log is read up to its first torn or
//! damaged record.
//!
//! ```
//! use emberflow_core::framing::FileFrame;
//! let frame = FileFrame::new(b"EXAMPLE1", Some(3));
//! let bytes = frame.encode(b"payload");
//! assert_eq!(frame.decode(&bytes).unwrap(), b"payload");
//! let mut torn = bytes.clone();
//! torn.pop();
//! assert!(frame.decode(&torn).unwrap_err().contains("header says"));
//! ```

use std::path::Path;

/// Checks a payload against the length and checksum its header gave.
fn check(payload: &[u8], len: usize, crc: u32) -> Result<(), String> {
    if payload.len() != len {
        return Err(format!(
            "payload is {} bytes, header says {len}",
            payload.len()
        ));
    }
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch".into());
    }
    Ok(())
}

/// The frame of a whole file: magic, optional format version, length, CRC-32, payload.
#[derive(Clone, Copy, Debug)]
pub struct FileFrame {
    magic: &'static [u8; 8],
    version: Option<u32>,
}

impl FileFrame {
    /// A frame with `magic` and, if given, a format version that readers require.
    pub const fn new(magic: &'static [u8; 8], version: Option<u32>) -> Self {
        FileFrame { magic, version }
    }

    /// Bytes before the payload.
    pub const fn header_len(&self) -> usize {
        8 + if self.version.is_some() { 4 } else { 0 } + 8 + 4
    }

    /// `payload` framed.
    pub fn encode(&self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.header_len() + payload.len());
        out.extend_from_slice(self.magic);
        if let Some(v) = self.version {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// The payload of a whole file, or why it is not one of ours or is damaged.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Result<&'a [u8], String> {
        let header = self.header_len();
        if bytes.len() < header {
            return Err(format!(
                "file is {} bytes, shorter than the {header}-byte header",
                bytes.len()
            ));
        }
        if &bytes[..8] != self.magic {
            return Err(format!(
                "bad magic: not a {} file",
                String::from_utf8_lossy(self.magic)
            ));
        }
        let mut at = 8;
        if let Some(want) = self.version {
            let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
            if version != want {
                return Err(format!("format version {version}, this build reads {want}"));
            }
            at = 12;
        }
        let len = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().expect("4 bytes"));
        let payload = &bytes[header..];
        check(payload, len, crc)?;
        Ok(payload)
    }
}

/// Bytes of a log record's header.
pub const RECORD_HEADER: usize = 8;

/// `payload` framed as a log record.
pub fn frame_record(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + RECORD_HEADER);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The payloads of the whole records in `bytes` with their offsets, up to the first torn or
/// damaged one, which ends the read with a warning naming `path` and the offset (a torn tail
/// is what a crash in the middle of an append leaves).
pub fn records<'a>(
    bytes: &'a [u8],
    path: &'a Path,
) -> impl Iterator<Item = (usize, &'a [u8])> + 'a {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= bytes.len() {
            return None;
        }
        let rest = &bytes[at..];
        let header = rest.get(..RECORD_HEADER);
        let len = header.map(|h| u32::from_le_bytes(h[..4].try_into().expect("4 bytes")) as usize);
        let found = header.zip(len).and_then(|(h, len)| {
            let crc = u32::from_le_bytes(h[4..8].try_into().expect("4 bytes"));
            let payload = rest.get(RECORD_HEADER..RECORD_HEADER + len);
            Some((payload?, len, crc))
        });
        let Some((payload, len, crc)) = found else {
            log::warn!(
                "{}: torn record at byte {at}; ignoring the tail",
                path.display()
            );
            at = bytes.len();
            return None;
        };
        if let Err(why) = check(payload, len, crc) {
            log::warn!(
                "{}: {why} at byte {at}; ignoring the rest of the file",
                path.display()
            );
            at = bytes.len();
            return None;
        }
        let here = at;
        at += RECORD_HEADER + len;
        Some((here, payload))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_records_come_back_and_a_torn_or_damaged_one_ends_the_read() {
        let mut bytes = frame_record(b"one");
        bytes.extend(frame_record(b"two"));
        let whole = bytes.len();
        bytes.extend(&frame_record(b"three")[..5]);
        let p = Path::new("seg");
        let got: Vec<&[u8]> = records(&bytes, p).map(|(_, r)| r).collect();
        assert_eq!(got, vec![&b"one"[..], &b"two"[..]]);
        bytes.truncate(whole);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(
            records(&bytes, p).count(),
            1,
            "the damaged record ends the read"
        );
    }

    #[test]
    fn file_frames_refuse_every_kind_of_damage() {
        let versioned = FileFrame::new(b"TESTMETA", Some(1));
        let f = versioned.encode(b"hello");
        assert_eq!(f.len(), 24 + 5);
        assert_eq!(versioned.decode(&f).unwrap(), b"hello");
        assert!(versioned.decode(&f[..10]).unwrap_err().contains("shorter"));
        let mut magic = f.clone();
        magic[0] = b'X';
        assert!(versioned.decode(&magic).unwrap_err().contains("magic"));
        let mut version = f.clone();
        version[8] = 2;
        assert!(versioned
            .decode(&version)
            .unwrap_err()
            .contains("version 2"));
        let mut flipped = f.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(versioned.decode(&flipped).unwrap_err().contains("checksum"));
        assert!(versioned
            .decode(&f[..f.len() - 1])
            .unwrap_err()
            .contains("header says"));
        let plain = FileFrame::new(b"TESTCKP1", None);
        assert_eq!(plain.encode(b"x").len(), 20 + 1);
    }
}
