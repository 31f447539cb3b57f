//! A minimal initramfs writer: an in-memory tree written as a gzip'd cpio `newc` archive.
//!
//! Entries are kept in a `BTreeMap` keyed by path, so every directory is written before
//! its contents. File contents are streamed from the host when the archive is written.

use std::{
    collections::BTreeMap,
    fs::{self, File},
    io::{self, Write},
    path::{Component, Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context as _, Result, bail};

/// One archive member.
enum Entry {
    Dir,
    /// A regular file copied from the host, with its mode bits.
    HostFile(PathBuf, u32),
    /// A regular file with inline contents, with its mode bits.
    Bytes(Vec<u8>, u32),
    Symlink(String),
    CharDev(u32, u32),
}

/// The archive being assembled. Paths are absolute inside the guest.
#[derive(Default)]
pub struct Archive {
    entries: BTreeMap<PathBuf, Entry>,
}

impl Archive {
    /// Adds a directory (and its parents).
    pub fn dir(&mut self, path: impl AsRef<Path>) {
        let path = normalize(path.as_ref());
        for ancestor in path.ancestors().filter(|a| *a != Path::new("/")) {
            self.entries
                .entry(ancestor.to_path_buf())
                .or_insert(Entry::Dir);
        }
    }

    /// Adds a copy of the host file `src` at `path` with `mode` (e.g. 0o755).
    pub fn host_file(&mut self, path: impl AsRef<Path>, src: impl Into<PathBuf>, mode: u32) {
        self.insert(path.as_ref(), Entry::HostFile(src.into(), mode));
    }

    /// Adds a file with the given contents.
    pub fn bytes(&mut self, path: impl AsRef<Path>, data: impl Into<Vec<u8>>, mode: u32) {
        self.insert(path.as_ref(), Entry::Bytes(data.into(), mode));
    }

    /// Adds a symlink unless something already exists at `path`.
    pub fn symlink(&mut self, path: impl AsRef<Path>, target: &str) {
        let path = normalize(path.as_ref());
        if !self.entries.contains_key(&path) {
            self.insert(&path, Entry::Symlink(target.to_owned()));
        }
    }

    /// Adds a character device node.
    pub fn char_dev(&mut self, path: impl AsRef<Path>, major: u32, minor: u32) {
        self.insert(path.as_ref(), Entry::CharDev(major, minor));
    }

    fn insert(&mut self, path: &Path, entry: Entry) {
        let path = normalize(path);
        if let Some(parent) = path.parent() {
            self.dir(parent);
        }
        self.entries.insert(path, entry);
    }

    /// Writes the archive as `newc` cpio, compressed by `gzip -1`, to `out`.
    pub fn write_gz(&self, out: &Path) -> Result<()> {
        let file = File::create(out).with_context(|| format!("creating {}", out.display()))?;
        let mut gzip = Command::new("gzip")
            .args(["-1", "-n", "-c"])
            .stdin(Stdio::piped())
            .stdout(file)
            .spawn()
            .context("starting gzip")?;
        let mut stdin = io::BufWriter::new(gzip.stdin.take().context("gzip stdin")?);
        self.write_newc(&mut stdin)?;
        drop(stdin.into_inner().map_err(io::IntoInnerError::into_error)?);
        if !gzip.wait()?.success() {
            bail!("gzip failed writing {}", out.display());
        }
        Ok(())
    }

    /// Writes the uncompressed `newc` archive.
    pub fn write_newc(&self, w: &mut impl Write) -> Result<()> {
        for (ino, (path, entry)) in (1u32..).zip(&self.entries) {
            let name = path.strip_prefix("/").unwrap_or(path);
            let name = name.to_str().context("non-UTF-8 path in initramfs")?;
            write_entry(w, ino, name, entry)?;
        }
        write_header(
            w,
            &Header {
                ino: 0,
                mode: 0,
                size: 0,
                rdev: (0, 0),
                nlink: 1,
            },
            "TRAILER!!!",
        )?;
        Ok(())
    }
}

/// `/a/./b` → `/a/b`; relative paths are taken as relative to `/`.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        if let Component::Normal(part) = c {
            out.push(part);
        }
    }
    out
}

/// The fields of a newc header that vary between our entries.
struct Header {
    ino: u32,
    mode: u32,
    size: u32,
    rdev: (u32, u32),
    nlink: u32,
}

/// Writes one member: header, name, then contents.
fn write_entry(w: &mut impl Write, ino: u32, name: &str, entry: &Entry) -> Result<()> {
    let header = |mode, size, nlink| Header {
        ino,
        mode,
        size,
        rdev: (0, 0),
        nlink,
    };
    match entry {
        Entry::Dir => write_header(w, &header(0o040_755, 0, 2), name),
        Entry::Bytes(data, mode) => {
            write_header(w, &header(0o100_000 | mode, len32(data.len())?, 1), name)?;
            write_padded(w, data)
        }
        Entry::Symlink(target) => {
            write_header(w, &header(0o120_777, len32(target.len())?, 1), name)?;
            write_padded(w, target.as_bytes())
        }
        Entry::CharDev(major, minor) => {
            let h = Header {
                ino,
                mode: 0o020_600,
                size: 0,
                rdev: (*major, *minor),
                nlink: 1,
            };
            write_header(w, &h, name)
        }
        Entry::HostFile(src, mode) => {
            let data = fs::read(src).with_context(|| format!("reading {}", src.display()))?;
            write_header(w, &header(0o100_000 | mode, len32(data.len())?, 1), name)?;
            write_padded(w, &data)
        }
    }
}

fn len32(len: usize) -> Result<u32> {
    u32::try_from(len).context("initramfs member larger than 4 GiB")
}

/// Writes a `070701` header and the NUL-terminated, 4-byte-aligned name.
fn write_header(w: &mut impl Write, h: &Header, name: &str) -> Result<()> {
    let fields = [
        h.ino,
        h.mode,
        0,
        0,
        h.nlink,
        0,
        h.size,
        0,
        0,
        h.rdev.0,
        h.rdev.1,
        len32(name.len() + 1)?,
        0,
    ];
    let mut header = String::from("070701");
    for field in fields {
        header.push_str(&format!("{field:08x}"));
    }
    let mut bytes = header.into_bytes();
    bytes.extend_from_slice(name.as_bytes());
    bytes.push(0);
    write_padded(w, &bytes)
}

/// Writes `data` followed by NULs up to a multiple of 4 bytes.
fn write_padded(w: &mut impl Write, data: &[u8]) -> Result<()> {
    w.write_all(data)?;
    let pad = (4 - data.len() % 4) % 4;
    w.write_all(&[0; 3][..pad])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_come_first_and_members_are_aligned() {
        let mut archive = Archive::default();
        archive.bytes("/guard/tests/x", b"hello".to_vec(), 0o755);
        archive.symlink("/bin/sh", "/bin/busybox");
        let mut out = Vec::new();
        archive.write_newc(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out);
        let order: Vec<usize> = [
            "guard\0",
            "guard/tests\0",
            "guard/tests/x\0",
            "TRAILER!!!\0",
        ]
        .iter()
        .map(|n| text.find(n).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert_eq!(out.len() % 4, 0);
        assert!(text.starts_with("070701"));
    }

    #[test]
    fn round_trips_through_cpio() {
        let mut archive = Archive::default();
        archive.bytes("/a/b.txt", b"abc".to_vec(), 0o644);
        archive.symlink("/a/link", "b.txt");
        let mut data = Vec::new();
        archive.write_newc(&mut data).unwrap();
        let Ok(mut cpio) = Command::new("cpio")
            .args(["-t", "--quiet"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
        else {
            return; // cpio not installed: the format test above still ran.
        };
        cpio.stdin.take().unwrap().write_all(&data).unwrap();
        let listing = String::from_utf8(cpio.wait_with_output().unwrap().stdout).unwrap();
        assert_eq!(listing, "a\na/b.txt\na/link\n");
    }
}
