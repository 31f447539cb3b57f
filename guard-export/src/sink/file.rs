//! `stdout` and `file:///path` sinks: one OCSF JSON object per line; the file sink
//! rotates by size (`path` → `path.1` → … → `path.KEEP`, the oldest removed).

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::PathBuf;

use super::{Sink, SinkError};

/// Writes events to standard output.
#[derive(Debug, Default)]
pub struct StdoutSink;

impl Sink for StdoutSink {
    fn name(&self) -> String {
        "stdout".into()
    }

    fn send(&mut self, batch: &[Vec<u8>]) -> Result<(), SinkError> {
        let mut out = std::io::stdout().lock();
        for e in batch {
            out.write_all(e).and_then(|()| out.write_all(b"\n")).map_err(SinkError::Io)?;
        }
        out.flush().map_err(SinkError::Io)
    }
}

/// Appends events to a file, rotating it past `max_bytes`.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: Option<(File, u64)>,
}

impl FileSink {
    /// A file sink at `path` rotating past `max_bytes`, keeping `keep` old files.
    pub fn new(path: PathBuf, max_bytes: u64, keep: u32) -> Self {
        Self { path, max_bytes, keep, file: None }
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        p.into()
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        if self.keep == 0 {
            return std::fs::remove_file(&self.path);
        }
        let _ = std::fs::remove_file(self.rotated(self.keep));
        for n in (1..self.keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                std::fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        std::fs::rename(&self.path, self.rotated(1))
    }

    fn open(&mut self) -> std::io::Result<&mut (File, u64)> {
        if self.file.is_none() {
            use std::os::unix::fs::OpenOptionsExt as _;
            let f = OpenOptions::new().create(true).append(true).mode(0o640).open(&self.path)?;
            let len = f.metadata()?.len();
            self.file = Some((f, len));
        }
        Ok(self.file.as_mut().expect("opened above"))
    }
}

impl Sink for FileSink {
    fn name(&self) -> String {
        format!("file://{}", self.path.display())
    }

    fn send(&mut self, batch: &[Vec<u8>]) -> Result<(), SinkError> {
        for e in batch {
            let need = e.len() as u64 + 1;
            let len = self.open().map_err(SinkError::Io)?.1;
            if len > 0 && len + need > self.max_bytes {
                self.rotate().map_err(SinkError::Io)?;
            }
            let (f, len) = self.open().map_err(SinkError::Io)?;
            let mut line = Vec::with_capacity(e.len() + 1);
            line.extend_from_slice(e);
            line.push(b'\n');
            f.write_all(&line).map_err(SinkError::Io)?;
            *len += need;
        }
        Ok(())
    }
}
