//! The size-capped disk spool behind a sink's in-memory queue: a FIFO of length-prefixed
//! records in one file, with the read position kept in a sidecar file so undelivered
//! events survive a restart.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

/// A FIFO of byte records on disk. Not thread-safe; the delivery state's mutex guards it.
#[derive(Debug)]
pub(crate) struct Spool {
    path: PathBuf,
    pos_path: PathBuf,
    file: File,
    len: u64,
    read: u64,
    max_bytes: u64,
    records: u64,
}

impl Spool {
    /// Opens (or creates) `path` and its `path.pos`; the file may not grow past `max_bytes`.
    pub(crate) fn open(path: &Path, max_bytes: u64) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        use std::os::unix::fs::OpenOptionsExt as _;
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path)?;
        let len = file.metadata()?.len();
        let pos_path = path.with_extension("pos");
        let read = std::fs::read_to_string(&pos_path).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0).min(len);
        let mut s = Self { path: path.to_path_buf(), pos_path, file, len, read, max_bytes, records: 0 };
        s.records = s.count()?;
        Ok(s)
    }

    /// Records waiting.
    pub(crate) fn records(&self) -> u64 {
        self.records
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Appends one record; `Ok(false)` (nothing written) when it would pass the cap.
    pub(crate) fn push(&mut self, data: &[u8]) -> std::io::Result<bool> {
        let need = 4 + data.len() as u64;
        if self.len + need > self.max_bytes {
            return Ok(false);
        }
        self.file.seek(SeekFrom::Start(self.len))?;
        let mut buf = Vec::with_capacity(need as usize);
        buf.extend_from_slice(&(data.len() as u32).to_le_bytes());
        buf.extend_from_slice(data);
        self.file.write_all(&buf)?;
        self.len += need;
        self.records += 1;
        Ok(true)
    }

    /// Up to `max` records from the head, without consuming them.
    pub(crate) fn peek(&mut self, max: usize) -> std::io::Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        let mut at = self.read;
        self.file.seek(SeekFrom::Start(at))?;
        while out.len() < max && at < self.len {
            let mut n = [0u8; 4];
            self.file.read_exact(&mut n)?;
            let mut data = vec![0u8; u32::from_le_bytes(n) as usize];
            self.file.read_exact(&mut data)?;
            at += 4 + data.len() as u64;
            out.push(data);
        }
        Ok(out)
    }

    /// Consumes `n` records from the head (after they were delivered); empties the file
    /// when everything is consumed.
    pub(crate) fn consume(&mut self, n: usize) -> std::io::Result<()> {
        self.file.seek(SeekFrom::Start(self.read))?;
        for _ in 0..n {
            let mut len = [0u8; 4];
            self.file.read_exact(&mut len)?;
            let l = u32::from_le_bytes(len) as u64;
            self.file.seek(SeekFrom::Current(l as i64))?;
            self.read += 4 + l;
            self.records -= 1;
        }
        if self.read >= self.len {
            self.file.set_len(0)?;
            self.len = 0;
            self.read = 0;
        }
        std::fs::write(&self.pos_path, self.read.to_string())
    }

    fn count(&mut self) -> std::io::Result<u64> {
        let mut n = 0;
        let mut at = self.read;
        while at + 4 <= self.len {
            self.file.seek(SeekFrom::Start(at))?;
            let mut len = [0u8; 4];
            self.file.read_exact(&mut len)?;
            let next = at + 4 + u32::from_le_bytes(len) as u64;
            if next > self.len {
                break;
            }
            at = next;
            n += 1;
        }
        if at < self.len {
            // A torn record from a crash: drop it so appends stay aligned.
            self.file.set_len(at)?;
            self.len = at;
        }
        Ok(n)
    }

    /// The spool file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}
