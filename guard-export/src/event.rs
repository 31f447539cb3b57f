//! The exec event as guard-export receives it: owned fields mirroring `docs/events.md`.
//!
//! The agent builds one [`ExecEvent`] per exec attempt (its decoder already has every
//! field), passes it through a [`crate::Redactor`] and hands the [`crate::Redacted`]
//! result to the mappings, the audit log and the sinks.

use serde::{Deserialize, Serialize};

/// What the policy decided for an exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Nothing matched, or the identity's policy allows it.
    Allow,
    /// Stopped (EPERM from the LSM hook or SIGKILL before the first instruction).
    Deny,
    /// Matched, recorded, not stopped (audit mode).
    Audit,
    /// A strict identity's command parked before its first instruction for the agent's
    /// verdict, which follows as another event (`enforced_by: hold`).
    Hold,
}

impl Decision {
    /// The wire spelling (`allow`, `deny`, `audit`).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Audit => "audit",
            Decision::Hold => "hold",
        }
    }
}

/// How a deny was carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnforcedBy {
    /// BPF LSM refused the exec with EPERM.
    Lsm,
    /// SIGKILL before the new image's first instruction.
    Signal,
    /// Not enforced.
    None,
    /// Parked (SIGSTOP), then resumed or killed by the agent's verdict.
    Hold,
}

impl EnforcedBy {
    /// The wire spelling (`lsm`, `signal`, `none`).
    pub fn as_str(self) -> &'static str {
        match self {
            EnforcedBy::Lsm => "lsm",
            EnforcedBy::Signal => "signal",
            EnforcedBy::None => "none",
            EnforcedBy::Hold => "hold",
        }
    }
}

/// One exec attempt, owned. Field meanings are those of `docs/events.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecEvent {
    /// Unique event id (UUIDv7); becomes OCSF `metadata.uid`. Keep it across retries.
    pub id: uuid::Uuid,
    /// Wall-clock time of the event.
    pub time: jiff::Timestamp,
    /// `CLOCK_MONOTONIC` nanoseconds.
    pub ts_mono_ns: u64,
    /// Host name.
    pub host: String,
    /// `true` when the new image runs, `false` for a failed exec.
    pub ok: bool,
    /// errno of a failed exec.
    pub errno: Option<i32>,
    /// Thread group id after the exec.
    pub pid: u32,
    /// Thread that called exec.
    pub tid: u32,
    /// Parent's thread group id.
    pub ppid: u32,
    /// Real uid.
    pub uid: u32,
    /// Effective uid.
    pub euid: u32,
    /// Real gid.
    pub gid: u32,
    /// Effective gid.
    pub egid: u32,
    /// Audit login uid; `None` when unset.
    pub loginuid: Option<u32>,
    /// Audit session id; `None` when unset.
    pub sessionid: Option<u32>,
    /// POSIX session id.
    pub sid: u32,
    /// cgroup v2 id.
    pub cgroup_id: u64,
    /// Has a controlling terminal.
    pub tty: bool,
    /// Task name after the exec.
    pub comm: String,
    /// Parent's task name.
    pub parent_comm: String,
    /// `execve` or `execveat`.
    pub syscall: String,
    /// Path the caller passed (bytes).
    pub filename: Vec<u8>,
    /// Interpreter or filename the kernel ran; empty for failed execs.
    pub interp: Vec<u8>,
    /// Resolved absolute path of the executed file; empty for failed execs.
    pub exe: Vec<u8>,
    /// Arguments, exact bytes.
    pub argv: Vec<Vec<u8>>,
    /// True number of arguments.
    pub argc: u32,
    /// True byte length of argv including NULs.
    pub args_size: u64,
    /// argv was cut at the capture limit.
    pub argv_truncated: bool,
    /// Failed execs: the kernel stopped counting arguments.
    pub argc_lower_bound: bool,
    /// filename was cut.
    pub filename_truncated: bool,
    /// exe was cut.
    pub exe_truncated: bool,
    /// A memory read failed while building the event.
    pub read_error: bool,
    /// The policy decision.
    pub decision: Decision,
    /// Intent class that matched (`bulk_delete`, ...).
    pub class: Option<String>,
    /// The identity's mode: `audit`, `enforce`, `strict` or `unset`.
    pub mode: String,
    /// How a deny was carried out.
    pub enforced_by: EnforcedBy,
    /// Kernel signature (rule) that matched.
    pub rule: Option<String>,
    /// Why it was decided so, in words (the classifier's explanation or the signature's).
    #[serde(default)]
    pub reason: Option<String>,
    /// Policy name (empty when no policy is loaded).
    pub policy_name: String,
    /// Low 32 bits of the policy's version hash.
    pub policy_version: u32,
    /// argv was rewritten during the exec (LSM path); the image was killed.
    pub tampered: bool,
    /// The kernel's matcher saw only the first 32 KiB of argv.
    pub scan_incomplete: bool,
    /// guard's fields beyond the exec itself, passed through to every mapping (under
    /// `unmapped` in OCSF, `guard` in ECS) as they are: `hold` (the agent's verdict on
    /// a held exec), `k8s` (the pod), `verdict_cached`, `quarantined`, `hold_offline`.
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ExecEvent {
    /// A fresh UUIDv7 for [`ExecEvent::id`].
    pub fn new_id() -> uuid::Uuid {
        uuid::Uuid::now_v7()
    }
}

/// Bytes as text for JSON output: valid UTF-8 as is, anything else as in `docs/events.md`
/// (each invalid byte as U+DC80+byte would need lone surrogates, which JSON libraries
/// reject, so here each invalid byte is written as `\xHH`, and the exact bytes travel in
/// `unmapped.argv_base64`).
pub fn lossless_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// `true` when every byte string is valid UTF-8.
pub fn all_utf8<'a>(items: impl IntoIterator<Item = &'a Vec<u8>>) -> bool {
    items.into_iter().all(|a| std::str::from_utf8(a).is_ok())
}
