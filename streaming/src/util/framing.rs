//! Length + CRC-32 framing of log records: `len: u32 LE`, `crc32(payload): u32 LE`, payload.
//! A reader stops at the first record cut short or failing its checksum (a torn tail from a
//! crash mid-write) and says so in a warning naming the file and offset.

use std::path::Path;

/// Bytes of the frame header.
pub(crate) const HEADER: usize = 8;

/// `payload` framed.
pub(crate) fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + HEADER);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The payloads of the whole records in `bytes` with their offsets, up to the first torn or
/// damaged one (`path` names the file in the warning).
pub(crate) fn records<'a>(
    bytes: &'a [u8],
    path: &'a Path,
) -> impl Iterator<Item = (usize, &'a [u8])> + 'a {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= bytes.len() {
            return None;
        }
        let rest = &bytes[at..];
        let torn = || {
            log::warn!(
                "{}: torn record at byte {at}; ignoring the tail",
                path.display()
            );
        };
        if rest.len() < HEADER {
            torn();
            at = bytes.len();
            return None;
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        let Some(payload) = rest.get(HEADER..HEADER + len) else {
            torn();
            at = bytes.len();
            return None;
        };
        if crc32fast::hash(payload) != crc {
            log::warn!(
                "{}: checksum mismatch at byte {at}; ignoring the rest of the file",
                path.display()
            );
            at = bytes.len();
            return None;
        }
        let here = at;
        at += HEADER + len;
        Some((here, payload))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_records_come_back_and_a_torn_or_damaged_one_ends_the_read() {
        let mut bytes = frame(b"one");
        bytes.extend(frame(b"two"));
        let whole = bytes.len();
        bytes.extend(&frame(b"three")[..5]);
        let p = Path::new("seg");
        let got: Vec<&[u8]> = records(&bytes, p).map(|(_, r)| r).collect();
        assert_eq!(got, vec![&b"one"[..], &b"two"[..]]);
        bytes.truncate(whole);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(
            records(&bytes, p).count(),
            1,
            "a damaged record ends the read"
        );
    }
}
