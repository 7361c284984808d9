//! Text input and output. `text_file` splits files into byte ranges and each task reads the
//! lines that start in its range (Hadoop's rule: a split other than the first skips the line
//! it starts inside; every split reads past its end to finish its last line).
//! `save_as_text_file` writes a directory atomically: a hidden temporary directory beside the
//! target, renamed into place when every part and `_SUCCESS` are written.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::plumbing::{
    BoxChunks, BoxIter, Dependency, IterChunks, RddBase, RddMeta, RddNode, TaskContext,
};
use crate::rdd::Rdd;
use crate::{Context, Data, Error, Result};

/// Largest split, as Hadoop's local block size.
const MAX_SPLIT: u64 = 32 << 20;

/// How a record is written as one line of text. Tuples print as Spark prints them, `(a,1)`.
///
/// ```
/// use emberflow_core::TextRecord;
/// assert_eq!(("spark".to_string(), 3u64).to_text(), "(spark,3)");
/// assert_eq!(2.0f64.to_text(), "2.0");
/// ```
pub trait TextRecord {
    /// Appends the text form of `self` to `out`.
    fn write_text(&self, out: &mut String);
    /// The text form of `self`.
    fn to_text(&self) -> String {
        let mut s = String::new();
        self.write_text(&mut s);
        s
    }
}

macro_rules! text_by_display {
    ($($t:ty),*) => {$(
        impl TextRecord for $t {
            fn write_text(&self, out: &mut String) {
                use std::fmt::Write as _;
                let _ = write!(out, "{}", self);
            }
        }
    )*};
}
text_by_display!(
    String, str, char, bool, u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

macro_rules! text_float {
    ($($t:ty),*) => {$(
        impl TextRecord for $t {
            /// `1.0`, not `1`, as the JVM prints doubles.
            fn write_text(&self, out: &mut String) {
                use std::fmt::Write as _;
                let _ = write!(out, "{:?}", self);
            }
        }
    )*};
}
text_float!(f32, f64);

impl<T: TextRecord + ?Sized> TextRecord for &T {
    fn write_text(&self, out: &mut String) {
        (**self).write_text(out)
    }
}

impl<T: TextRecord> TextRecord for Option<T> {
    fn write_text(&self, out: &mut String) {
        match self {
            Some(x) => {
                out.push_str("Some(");
                x.write_text(out);
                out.push(')');
            }
            None => out.push_str("None"),
        }
    }
}

impl<T: TextRecord> TextRecord for Vec<T> {
    fn write_text(&self, out: &mut String) {
        out.push('[');
        for (i, x) in self.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            x.write_text(out);
        }
        out.push(']');
    }
}

impl TextRecord for () {
    fn write_text(&self, out: &mut String) {
        out.push_str("()");
    }
}

macro_rules! text_tuple {
    ($($name:ident : $idx:tt),+) => {
        impl<$($name: TextRecord),+> TextRecord for ($($name,)+) {
            fn write_text(&self, out: &mut String) {
                out.push('(');
                let mut _first = true;
                $(
                    if !_first { out.push(','); }
                    _first = false;
                    self.$idx.write_text(out);
                )+
                out.push(')');
            }
        }
    };
}
text_tuple!(A: 0);
text_tuple!(A: 0, B: 1);
text_tuple!(A: 0, B: 1, C: 2);
text_tuple!(A: 0, B: 1, C: 2, D: 3);
text_tuple!(A: 0, B: 1, C: 2, D: 3, E: 4);

fn is_hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// The files `path` names: itself, the visible files of a directory, or a glob's matches.
pub(crate) fn list_input_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| Error::io(path, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(path, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !is_hidden(&name) && entry.path().is_file() {
                files.push(entry.path());
            }
        }
    } else {
        let pattern = path.to_string_lossy();
        if pattern.contains(['*', '?', '[']) {
            let matches = glob::glob(&pattern)
                .map_err(|e| Error::InvalidArgument(format!("bad glob {pattern}: {e}")))?;
            for m in matches.flatten() {
                let hidden = m
                    .file_name()
                    .is_some_and(|n| is_hidden(&n.to_string_lossy()));
                if m.is_file() && !hidden {
                    files.push(m);
                }
            }
        }
        if files.is_empty() {
            return Err(Error::InputNotFound {
                path: pattern.into_owned(),
            });
        }
    }
    files.sort();
    Ok(files)
}

struct Split {
    path: PathBuf,
    start: u64,
    end: u64,
}

pub(crate) fn text_file(ctx: &Context, path: &Path, min_partitions: usize) -> Result<Rdd<String>> {
    let files = list_input_files(path)?;
    text_files(ctx, files, min_partitions)
}

/// Lines of exactly these files, in this order.
pub(crate) fn text_files(
    ctx: &Context,
    files: Vec<PathBuf>,
    min_partitions: usize,
) -> Result<Rdd<String>> {
    let mut sizes = Vec::with_capacity(files.len());
    for f in &files {
        sizes.push(std::fs::metadata(f).map_err(|e| Error::io(f, e))?.len());
    }
    let total: u64 = sizes.iter().sum();
    let goal = (total / min_partitions.max(1) as u64).max(1);
    let split_size = goal.min(MAX_SPLIT);
    let mut splits = Vec::new();
    for (f, &size) in files.iter().zip(&sizes) {
        if size == 0 {
            continue;
        }
        let mut start = 0;
        // As Hadoop: the last split may be up to 10% larger rather than leave a sliver.
        while (size - start) as f64 / split_size as f64 > 1.1 {
            splits.push(Split {
                path: f.clone(),
                start,
                end: start + split_size,
            });
            start += split_size;
        }
        splits.push(Split {
            path: f.clone(),
            start,
            end: size,
        });
    }
    Ok(Rdd::from_node(TextFileRdd {
        meta: RddMeta::new(ctx, "text_file"),
        splits,
    }))
}

struct TextFileRdd {
    meta: RddMeta,
    splits: Vec<Split>,
}

impl RddBase for TextFileRdd {
    fn meta(&self) -> &RddMeta {
        &self.meta
    }
    fn dependencies(&self) -> Vec<Dependency> {
        Vec::new()
    }
    fn num_partitions(&self) -> usize {
        self.splits.len()
    }
}

impl RddNode<String> for TextFileRdd {
    fn compute<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<BoxIter<'a, String>> {
        Ok(Box::new(self.lines(split, tc)?))
    }
    fn compute_chunks<'a>(
        &'a self,
        split: usize,
        tc: &'a TaskContext,
    ) -> Result<BoxChunks<'a, String>>
    where
        String: 'a,
    {
        Ok(Box::new(IterChunks(self.lines(split, tc)?)))
    }
}

impl TextFileRdd {
    fn lines<'a>(&'a self, split: usize, tc: &'a TaskContext) -> Result<LineIter<'a>> {
        let s = &self.splits[split];
        let file = File::open(&s.path).map_err(|e| Error::io(&s.path, e))?;
        let mut reader = BufReader::with_capacity(256 << 10, file);
        let mut pos = s.start;
        if s.start > 0 {
            // Skip the line this split starts inside; a line starting exactly at `start` is
            // ours, which the byte before it (a newline) tells.
            reader
                .seek(SeekFrom::Start(s.start - 1))
                .map_err(|e| Error::io(&s.path, e))?;
            let mut skipped = Vec::new();
            let n = reader
                .read_until(b'\n', &mut skipped)
                .map_err(|e| Error::io(&s.path, e))?;
            pos = s.start - 1 + n as u64;
        }
        Ok(LineIter {
            reader,
            pos,
            end: s.end,
            path: &s.path,
            tc,
            buf: Vec::new(),
            replaced: 0,
        })
    }
}

struct LineIter<'a> {
    reader: BufReader<File>,
    pos: u64,
    end: u64,
    path: &'a Path,
    tc: &'a TaskContext,
    buf: Vec<u8>,
    /// Lines whose invalid UTF-8 was replaced, logged once when the split is done.
    replaced: u64,
}

impl Drop for LineIter<'_> {
    fn drop(&mut self) {
        if self.replaced > 0 {
            log::warn!(
                "{}: {} lines were not valid UTF-8; their invalid bytes were replaced with U+FFFD",
                self.path.display(),
                self.replaced
            );
        }
    }
}

/// A line's bytes as a `String` (one exact-size allocation), without its end: `\n` or
/// `\r\n`. `true` if invalid UTF-8 was replaced.
fn line_text(bytes: &[u8]) -> (String, bool) {
    let bytes = match bytes.strip_suffix(b"\n") {
        Some(line) => line.strip_suffix(b"\r").unwrap_or(line),
        None => bytes,
    };
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), false),
        Err(_) => (String::from_utf8_lossy(bytes).into_owned(), true),
    }
}

impl Iterator for LineIter<'_> {
    type Item = String;
    fn next(&mut self) -> Option<String> {
        if self.pos >= self.end {
            return None;
        }
        // Nearly every line lies whole in the reader's buffer: make its `String` from there,
        // one copy, instead of copying it into `buf` first.
        let available = match self.reader.fill_buf() {
            Ok(b) => b,
            Err(e) => {
                self.tc.fail(Error::io(self.path, e));
                return None;
            }
        };
        if let Some(i) = memchr::memchr(b'\n', available) {
            let (line, replaced) = line_text(&available[..=i]);
            self.reader.consume(i + 1);
            self.pos += i as u64 + 1;
            self.replaced += u64::from(replaced);
            return Some(line);
        }
        // The line runs past the buffer, or is the file's last and has no newline.
        self.buf.clear();
        match self.reader.read_until(b'\n', &mut self.buf) {
            Ok(0) => None,
            Ok(n) => {
                self.pos += n as u64;
                let (line, replaced) = line_text(&self.buf);
                self.replaced += u64::from(replaced);
                Some(line)
            }
            Err(e) => {
                self.tc.fail(Error::io(self.path, e));
                None
            }
        }
    }
}

pub(crate) fn save_as_text_file<T: Data + TextRecord>(
    rdd: &Rdd<T>,
    dir: &Path,
    replace: bool,
) -> Result<()> {
    if dir.exists() && !replace {
        return Err(Error::OutputExists {
            path: dir.to_path_buf(),
        });
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    let name = dir
        .file_name()
        .ok_or_else(|| Error::InvalidArgument(format!("{} has no directory name", dir.display())))?
        .to_string_lossy()
        .into_owned();
    let token = crate::storage::unique_token();
    let tmp = parent.join(format!(".{name}._temporary-{token:x}"));
    std::fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let written = (|| {
        let tmp_dir = tmp.clone();
        rdd.run_job(move |tc, it| {
            let path = tmp_dir.join(format!("part-{:05}", tc.partition()));
            let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
            let mut w = BufWriter::with_capacity(256 << 10, file);
            let mut line = String::new();
            for record in it {
                line.clear();
                record.write_text(&mut line);
                line.push('\n');
                w.write_all(line.as_bytes())
                    .map_err(|e| Error::io(&path, e))?;
            }
            let file = w
                .into_inner()
                .map_err(|e| Error::io(&path, e.into_error()))?;
            file.sync_all().map_err(|e| Error::io(&path, e))
        })?;
        crate::fault::kill_point(rdd.context(), "output-mid-write");
        let success = tmp.join("_SUCCESS");
        File::create(&success).map_err(|e| Error::io(&success, e))?;
        crate::io::sync_dir(&tmp);
        if replace && dir.exists() {
            let old = parent.join(format!(".{name}._old-{token:x}"));
            std::fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
            std::fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))?;
            let _ = std::fs::remove_dir_all(&old);
        } else {
            std::fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))?;
        }
        crate::io::sync_dir(&parent);
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    written
}
