//! Verification of an audit log: chain, sequence, signatures and seal.

use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::path::Path;

use ed25519_dalek::{Signature, VerifyingKey};
use serde::Serialize;
use serde_json::Value;

use super::{AuditError, GENESIS, hex, io_err, parse_public_key, signed_bytes, unhex};

/// Just the `seq` of a line (first pass).
#[derive(serde::Deserialize)]
struct SeqOnly {
    seq: u64,
}

/// A record, the event body skipped (it is covered by the hash of the line).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    seq: u64,
    prev: String,
    event: Option<serde::de::IgnoredAny>,
    checkpoint: Option<Value>,
}

/// What is wrong with a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A line is not a record (not JSON, or without `seq`/`prev`).
    Malformed,
    /// A record's content does not match the hash its successor holds, or a checkpoint
    /// signature does not cover what precedes it.
    Altered,
    /// A record is missing (its `seq` appears nowhere).
    Removed,
    /// Records are out of order (the expected `seq` appears later, or a `seq` repeats).
    Reordered,
    /// A checkpoint is signed by another key than the pinned (or first) one.
    WrongKey,
    /// The log ends without a final checkpoint: its tail was cut (or the writer died).
    Truncated,
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// 1-based line of the first bad record.
    pub line: u64,
    /// Human explanation.
    pub detail: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {:?}: {}", self.line, self.kind, self.detail)
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Lines read.
    pub records: u64,
    /// Event records among them.
    pub events: u64,
    /// Checkpoints with a valid signature.
    pub checkpoints: u64,
    /// Public key (hex) the checkpoints were verified with.
    pub key: Option<String>,
    /// `true` when the key was given by the caller, `false` when taken from the log itself
    /// (which proves integrity since the first checkpoint, not authorship).
    pub key_pinned: bool,
    /// The first problem; `None` when the log is intact and sealed.
    pub problem: Option<Problem>,
}

impl Report {
    /// Intact and sealed by a final checkpoint.
    pub fn is_intact(&self) -> bool {
        self.problem.is_none()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.problem {
            None => write!(
                f,
                "intact: {} records ({} events, {} checkpoints), sealed, key {}{}",
                self.records,
                self.events,
                self.checkpoints,
                self.key.as_deref().unwrap_or("-"),
                if self.key_pinned { "" } else { " (from the log, not pinned)" }
            ),
            Some(p) => write!(f, "NOT intact: {p}"),
        }
    }
}

fn lines(path: &Path, mut each: impl FnMut(u64, &[u8], bool) -> bool) -> Result<(), AuditError> {
    let mut r = BufReader::new(File::open(path).map_err(io_err(path))?);
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf).map_err(io_err(path))? == 0 {
            return Ok(());
        }
        n += 1;
        let newline = buf.last() == Some(&b'\n');
        let body = if newline { &buf[..buf.len() - 1] } else { &buf[..] };
        if !each(n, body, newline) {
            return Ok(());
        }
    }
}

/// Verifies the log at `path`: every record in sequence, every link, every checkpoint
/// signature (by `key`, or else by the key of the first checkpoint), and a final
/// checkpoint at the end. Tampering is reported in [`Report::problem`]; `Err` is for I/O.
pub fn verify(path: &Path, key: Option<&VerifyingKey>) -> Result<Report, AuditError> {
    // Pass 1: every line's seq, to tell removal from reordering.
    let mut seqs: Vec<Option<u64>> = Vec::new();
    lines(path, |_, body, _| {
        seqs.push(serde_json::from_slice::<SeqOnly>(body).ok().map(|r| r.seq));
        true
    })?;
    let mut rep = Report {
        records: 0,
        events: 0,
        checkpoints: 0,
        key: key.map(|k| hex(k.as_bytes())),
        key_pinned: key.is_some(),
        problem: None,
    };
    let mut pinned = key.copied();
    let mut prev = GENESIS.to_string();
    let mut last_cp: Option<(u64, bool)> = None; // (line, final)
    let mut problem = None;
    let mut fail = |kind, line, detail: String| {
        problem = Some(Problem { kind, line, detail });
        false
    };
    lines(path, |n, body, newline| {
        rep.records = n;
        let expected = n - 1;
        let Ok(v) = serde_json::from_slice::<Record>(body) else {
            return if !newline {
                fail(ProblemKind::Truncated, n, "last record is cut off (no newline, not a complete record)".into())
            } else {
                fail(ProblemKind::Malformed, n, "not a log record".into())
            };
        };
        let seq = v.seq;
        if seq != expected {
            let later = seqs[n as usize..].contains(&Some(expected));
            return if seq > expected && !later {
                fail(ProblemKind::Removed, n, format!("record seq {expected} is missing before this line (found seq {seq})"))
            } else {
                fail(ProblemKind::Reordered, n, format!("found seq {seq} where seq {expected} belongs"))
            };
        }
        if v.prev != prev {
            let at = if n > 1 { n - 1 } else { n };
            return fail(ProblemKind::Altered, at, format!("record does not match the hash stored in line {n}"));
        }
        // The writer writes canonical bytes, so hashing the line as read equals hashing
        // its canonical form; any change to the line (canonical or not) changes the hash.
        prev = blake3::hash(body).to_hex().to_string();
        if v.event.is_some() {
            rep.events += 1;
        } else if let Some(cp) = &v.checkpoint {
            let cp_key = cp.get("key").and_then(Value::as_str).and_then(|k| parse_public_key(k).ok());
            let sig = cp.get("sig").and_then(Value::as_str).and_then(unhex::<64>).map(|b| Signature::from_bytes(&b));
            let (Some(cp_key), Some(sig)) = (cp_key, sig) else {
                return fail(ProblemKind::Malformed, n, "checkpoint without key or signature".into());
            };
            let k = *pinned.get_or_insert(cp_key);
            if cp_key != k {
                return fail(ProblemKind::WrongKey, n, format!("checkpoint names key {} , expected {}", hex(cp_key.as_bytes()), hex(k.as_bytes())));
            }
            let whole = serde_json::json!({ "seq": v.seq, "prev": v.prev, "checkpoint": cp });
            let ok = signed_bytes(&whole).is_ok_and(|m| k.verify_strict(&m, &sig).is_ok());
            if !ok {
                let from = last_cp.map_or(1, |(l, _)| l + 1);
                return fail(ProblemKind::Altered, n, format!("checkpoint signature invalid: this checkpoint or a record since line {from} was altered"));
            }
            rep.checkpoints += 1;
            last_cp = Some((n, cp.get("final").and_then(Value::as_bool).unwrap_or(false)));
        } else {
            return fail(ProblemKind::Malformed, n, "neither event nor checkpoint".into());
        }
        true
    })?;
    if problem.is_none() {
        let after = rep.records.saturating_sub(last_cp.map_or(0, |(l, _)| l));
        problem = match last_cp {
            _ if rep.records == 0 => Some(Problem { kind: ProblemKind::Truncated, line: 1, detail: "empty log".into() }),
            None => Some(Problem {
                kind: ProblemKind::Truncated,
                line: 1,
                detail: format!("no checkpoint at all: {} records unsigned", rep.records),
            }),
            Some((l, _)) if after > 0 => Some(Problem {
                kind: ProblemKind::Truncated,
                line: l + 1,
                detail: format!("{after} records after the last checkpoint (line {l}) and no final checkpoint: tail cut or writer stopped"),
            }),
            Some((l, false)) => Some(Problem {
                kind: ProblemKind::Truncated,
                line: l,
                detail: "log ends at a periodic checkpoint, not a final one: tail cut or writer stopped".into(),
            }),
            Some((_, true)) => None,
        };
    }
    rep.key = pinned.map(|k| hex(k.as_bytes()));
    rep.problem = problem;
    Ok(rep)
}
