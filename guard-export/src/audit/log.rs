//! The audit log writer: appends hash-chained records and signed checkpoints.

use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{Value, json};

use super::{AuditError, GENESIS, canonical, hex, io_err, public_key_hex, signed_bytes};
use crate::ocsf::to_ocsf;
use crate::redact::Redacted;

/// When the writer adds a periodic checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditOptions {
    /// After this many events since the last checkpoint (default 1000).
    pub every_records: u64,
    /// Or when this much time has passed since the last one at the next append (default
    /// 60 s; the agent may also call [`AuditLog::checkpoint`] from a timer).
    pub every: Duration,
}

impl Default for AuditOptions {
    fn default() -> Self {
        Self { every_records: 1000, every: Duration::from_secs(60) }
    }
}

/// An open audit log. Append events, then [`AuditLog::close`] to seal it.
pub struct AuditLog {
    path: PathBuf,
    file: File,
    key: SigningKey,
    opts: AuditOptions,
    seq: u64,
    prev: String,
    since_checkpoint: u64,
    last_checkpoint: Instant,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").field("path", &self.path).field("seq", &self.seq).finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens (creating, mode 0600) the log at `path` and continues its chain. An existing
    /// log whose last line is torn or not a record is refused ([`AuditError::BadTail`]).
    pub fn open(path: &Path, key: SigningKey, opts: AuditOptions) -> Result<Self, AuditError> {
        let (seq, prev) = tail(path)?;
        use std::os::unix::fs::OpenOptionsExt as _;
        let file = OpenOptions::new().append(true).create(true).mode(0o600).open(path).map_err(io_err(path))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            key,
            opts,
            seq,
            prev,
            since_checkpoint: 0,
            last_checkpoint: Instant::now(),
        })
    }

    /// Appends one event (its OCSF mapping) and returns its `seq`; adds a checkpoint
    /// after it when one is due.
    pub fn append(&mut self, event: &Redacted) -> Result<u64, AuditError> {
        let seq = self.seq;
        self.write(json!({ "seq": seq, "prev": self.prev, "event": to_ocsf(event) }))?;
        self.since_checkpoint += 1;
        if self.since_checkpoint >= self.opts.every_records || self.last_checkpoint.elapsed() >= self.opts.every {
            self.checkpoint()?;
        }
        Ok(seq)
    }

    /// Writes a signed (non-final) checkpoint now and syncs the file.
    pub fn checkpoint(&mut self) -> Result<(), AuditError> {
        self.write_checkpoint(false)
    }

    /// Whether `every` has passed since the last checkpoint (or since the log was opened).
    pub fn checkpoint_due(&self) -> bool {
        self.last_checkpoint.elapsed() >= self.opts.every
    }

    /// Writes the final checkpoint and syncs the file.
    pub fn close(mut self) -> Result<(), AuditError> {
        self.write_checkpoint(true)
    }

    /// Records written so far, checkpoints included (the next record's `seq`).
    pub fn records(&self) -> u64 {
        self.seq
    }

    fn write_checkpoint(&mut self, last: bool) -> Result<(), AuditError> {
        let mut rec = json!({
            "seq": self.seq,
            "prev": self.prev,
            "checkpoint": {
                "time": jiff::Timestamp::now().as_millisecond(),
                "final": last,
                "key": public_key_hex(&self.key),
            },
        });
        let sig = self.key.sign(&signed_bytes(&rec)?);
        rec["checkpoint"]["sig"] = json!(hex(&sig.to_bytes()));
        self.write(rec)?;
        self.file.sync_data().map_err(io_err(&self.path))?;
        self.since_checkpoint = 0;
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    fn write(&mut self, rec: Value) -> Result<(), AuditError> {
        let mut line = canonical(&rec)?;
        self.prev = blake3::hash(&line).to_hex().to_string();
        line.push(b'\n');
        self.file.write_all(&line).map_err(io_err(&self.path))?;
        self.seq += 1;
        Ok(())
    }
}

/// `(next seq, hash of the last record)` of an existing log; genesis for a new one.
fn tail(path: &Path) -> Result<(u64, String), AuditError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, GENESIS.to_string())),
        Err(e) => return Err(io_err(path)(e)),
    };
    let mut reader = BufReader::new(file);
    let mut buf = Vec::new();
    let mut last = Vec::new();
    let mut lines = 0u64;
    let mut torn = false;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        lines += 1;
        torn = buf.last() != Some(&b'\n');
        std::mem::swap(&mut last, &mut buf);
    }
    if lines == 0 {
        return Ok((0, GENESIS.to_string()));
    }
    let bad = |why: &str| AuditError::BadTail { path: path.display().to_string(), line: lines, why: why.into() };
    if torn {
        return Err(bad("torn (no newline)"));
    }
    let v: Value = serde_json::from_slice(&last).map_err(|_| bad("not JSON"))?;
    let seq = v.get("seq").and_then(Value::as_u64).ok_or_else(|| bad("without seq"))?;
    Ok((seq + 1, blake3::hash(&canonical(&v)?).to_hex().to_string()))
}
