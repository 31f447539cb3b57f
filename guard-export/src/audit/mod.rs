//! The tamper-evident audit trail: an append-only, line-delimited, hash-chained log with
//! Ed25519-signed checkpoints.
//!
//! Every line is one record in RFC 8785 canonical JSON (serde_jcs):
//! - event: `{"seq":N,"prev":H,"event":{OCSF object}}`
//! - checkpoint: `{"seq":N,"prev":H,"checkpoint":{"time":MS,"final":B,"key":PUB,"sig":SIG}}`
//!
//! `seq` counts records from 0; `prev` is the hex BLAKE3 hash of the canonical bytes of
//! the previous record (64 zeros for the first). A checkpoint's `sig` is the Ed25519
//! signature, by the key whose public half is `key`, of [`SIG_DOMAIN`] followed by the
//! canonical bytes of the checkpoint record without `sig`; it commits to every record
//! before it through `prev`. The writer adds a checkpoint every N records and a final one
//! (`"final":true`) on close, so a log whose tail was cut ends without a final checkpoint
//! and [`verify`] reports it.

mod key;
mod log;
mod report;
mod verify;

pub use key::{load_or_create_key, parse_public_key, public_key_hex, read_public_key};
pub use log::{AuditLog, AuditOptions};
pub use report::{ReportFormat, report};
pub use verify::{Problem, ProblemKind, Report, verify};

use serde_json::Value;

/// Prefix of the signed bytes of a checkpoint.
pub const SIG_DOMAIN: &[u8] = b"guard-audit-checkpoint-v1\n";

/// `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Errors of the audit log (I/O and keys; tampering is a [`Problem`] in the [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A key file or key string is not a valid Ed25519 key.
    #[error("{0}: not a valid Ed25519 key (64 hex digits expected)")]
    BadKey(String),
    /// A private key file is readable by group or others.
    #[error("{0}: private key is accessible by group or others (chmod 600)")]
    KeyPermissions(String),
    /// The existing log cannot be extended (its last record is torn or not a record).
    #[error("{path}: cannot append: last record (line {line}) is {why}; run `audit verify`")]
    BadTail {
        /// The log.
        path: String,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        why: String,
    },
    /// A value could not be canonicalized.
    #[error("canonical JSON: {0}")]
    Json(#[from] serde_json::Error),
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io { path: path.display().to_string(), source }
}

/// RFC 8785 canonical bytes of a JSON value.
pub(crate) fn canonical(v: &Value) -> Result<Vec<u8>, serde_json::Error> {
    serde_jcs::to_vec(v)
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(D[(b >> 4) as usize] as char);
        s.push(D[(b & 15) as usize] as char);
    }
    s
}

/// Parses exactly `N` bytes of hex.
pub(crate) fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim();
    if s.len() != N * 2 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The bytes a checkpoint signature covers: the domain and the canonical record minus `sig`.
pub(crate) fn signed_bytes(record: &Value) -> Result<Vec<u8>, serde_json::Error> {
    let mut unsigned = record.clone();
    if let Some(cp) = unsigned.get_mut("checkpoint").and_then(Value::as_object_mut) {
        cp.remove("sig");
    }
    let mut out = SIG_DOMAIN.to_vec();
    out.extend(canonical(&unsigned)?);
    Ok(out)
}
