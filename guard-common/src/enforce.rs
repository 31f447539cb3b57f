//! Modes, actions, decisions and the enforcement configuration shared with the kernel.

/// Intent classes, in the fixed vocabulary's order (index into `EnforceConfig::action`).
pub mod intent {
    pub const BULK_DELETE: u8 = 0;
    pub const DISK_WIPE: u8 = 1;
    pub const SCHEMA_DESTROY: u8 = 2;
    pub const CLOUD_DESTROY: u8 = 3;
    pub const DATA_EXFILTRATION: u8 = 4;
    pub const AUDIT_TAMPER: u8 = 5;
    pub const SERVICE_DISRUPTION: u8 = 6;
    pub const PERMISSION_CHANGE: u8 = 7;
    /// Number of classes.
    pub const COUNT: usize = 8;
    /// Names, indexed by class.
    pub const NAMES: [&str; COUNT] = [
        "bulk_delete",
        "disk_wipe",
        "schema_destroy",
        "cloud_destroy",
        "data_exfiltration",
        "audit_tamper",
        "service_disruption",
        "permission_change",
    ];
    /// No class (the event carries no match).
    pub const NONE: u8 = 0xff;
}

/// Identity modes.
pub mod mode {
    pub const AUDIT: u8 = 0;
    pub const ENFORCE: u8 = 1;
    pub const STRICT: u8 = 2;
    /// "No mode given" in a map or config slot.
    pub const UNSET: u8 = 0xff;
    /// A bit on a mode value in the maps and the config (never in an event): the
    /// identity's holds fail open (its policy says `fail: open`). Without it they fail
    /// closed.
    pub const FAIL_OPEN: u8 = 0x40;
    /// The mode of a map or config value, without [`FAIL_OPEN`].
    #[inline(always)]
    pub const fn of(value: u8) -> u8 {
        if value == UNSET { UNSET } else { value & !FAIL_OPEN }
    }
    pub fn name(m: u8) -> &'static str {
        match of(m) {
            AUDIT => "audit",
            ENFORCE => "enforce",
            STRICT => "strict",
            _ => "unset",
        }
    }
}

/// Per-class actions from the policy.
pub mod action {
    pub const DENY: u8 = 0;
    pub const HOLD: u8 = 1;
    pub const AUDIT: u8 = 2;
}

/// What happened to an exec (`ExecEvent::decision`).
pub mod decision {
    /// No rule matched.
    pub const ALLOW: u8 = 0;
    /// A rule matched and the exec was stopped.
    pub const DENY: u8 = 1;
    /// A rule matched in audit mode (or with action audit): recorded, not stopped.
    pub const AUDIT: u8 = 2;
    /// Parked (SIGSTOP before the first instruction) for the agent's verdict.
    pub const HOLD: u8 = 3;
    pub fn name(d: u8) -> &'static str {
        match d {
            ALLOW => "allow",
            DENY => "deny",
            AUDIT => "audit",
            HOLD => "hold",
            _ => "unknown",
        }
    }
}

/// How a denial was carried out (`ExecEvent::enforced_by`).
pub mod path {
    pub const NONE: u8 = 0;
    /// `lsm/bprm_check_security` refused the exec with EPERM.
    pub const LSM: u8 = 1;
    /// SIGKILL at `sched_process_exec`, before the first instruction.
    pub const SIGNAL: u8 = 2;
    /// SIGSTOP at `sched_process_exec`; the agent resumes or kills it through a pidfd.
    pub const HOLD: u8 = 3;
    pub fn name(p: u8) -> &'static str {
        match p {
            LSM => "lsm",
            SIGNAL => "signal",
            HOLD => "hold",
            _ => "none",
        }
    }
}

/// The decision for a mode and the action the policy gives the matched class: `hold`
/// parks the exec for strict identities and denies it for enforce ones.
#[inline(always)]
pub const fn decide(mode: u8, action: u8) -> u8 {
    match (mode, action) {
        (mode::AUDIT, _) | (_, action::AUDIT) => decision::AUDIT,
        (mode::STRICT, action::HOLD) => decision::HOLD,
        _ => decision::DENY,
    }
}

/// Kinds of kernel rules (`KernelRule::kind`).
pub mod rule_kind {
    /// A signature: its class's action decides.
    pub const SIGNATURE: u8 = 0;
    /// A hold trigger: the kernel cannot judge the command, but it carries something
    /// the policy marks as interesting. Strict identities are held; others allowed.
    pub const HOLD: u8 = 1;
    /// A signature matched, but the argv also carries a word or path that can make the
    /// command harmless (`DROP VIEW`, `shutdown -c`, `chown -R` inside a data
    /// directory): the kernel asks the agent where it would deny (enforce and strict),
    /// and denies on its own when the agent is gone.
    pub const CONFIRM: u8 = 2;
}

/// The agent's side of holding: written by the agent (heartbeat every few hundred ms),
/// read by the kernel before it parks anything.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AgentState {
    /// CLOCK_MONOTONIC (`bpf_ktime_get_ns`) of the agent's last heartbeat.
    pub heartbeat_ns: u64,
    /// A heartbeat older than this means the agent is gone: nothing is held.
    pub max_age_ns: u64,
    /// How long a held process waits for a verdict (read by the agent and the reaper).
    pub deadline_ns: u64,
    /// The hold reaper's tgid (it writes it; the agent keeps it): under BPF LSM only
    /// the agent and the reaper may SIGCONT a held process.
    pub reaper_tgid: u32,
    pub _pad: [u8; 4],
}

/// A parked process (value of the held map, keyed by tgid).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// CLOCK_MONOTONIC when it was parked.
    pub since_ns: u64,
    pub uid: u32,
    /// What the deadline gives it: 1 resume, 0 kill (the kernel's fail mode at hold time).
    pub fail_open: u8,
    pub mode: u8,
    pub _pad: [u8; 2],
}

/// Key of the agent's verdict cache: a command the agent judged once is decided in the
/// kernel the next time it comes with the same binary, argv, mode and policy.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VerdictKey {
    /// Basename hash of the executed file (`matcher::hash_name`).
    pub binary: u64,
    /// FNV-1a 64 of the argv bytes the kernel scanned (each argument and its NUL).
    pub argv_hash: u64,
    pub policy_version: u32,
    pub mode: u8,
    pub _pad: [u8; 3],
}

/// A cached verdict.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CachedVerdict {
    /// `decision::ALLOW` or `decision::DENY`.
    pub decision: u8,
    pub class: u8,
    pub rule_id: u16,
    pub _pad: u32,
}

const _: () = assert!(size_of::<AgentState>() == 32);
const _: () = assert!(size_of::<VerdictKey>() == 24);
const _: () = assert!(size_of::<CachedVerdict>() == 8);
const _: () = assert!(size_of::<Held>() == 16);

/// Entries of the `TABLES_USED` map: which tables may hold entries (the programs skip
/// an empty one). One small array, so every exec reads one cache line for all three.
pub mod table_used {
    /// `MODES_UID`.
    pub const UID: u32 = 0;
    /// `MODES_CGROUP`.
    pub const CGROUP: u32 = 1;
    /// `QUARANTINE` (set at the first quarantine, never cleared while loaded).
    pub const QUARANTINE: u32 = 2;
    pub const COUNT: u32 = 3;
}

/// Global enforcement settings (one entry of the config map; the agent rewrites it on
/// policy reload).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnforceConfig {
    /// 0: capture only (no policy loaded), 1: decide.
    pub enabled: u8,
    /// How denials are carried out (`path::LSM` or `path::SIGNAL`).
    pub path: u8,
    pub default_mode: u8,
    /// Mode for processes with no controlling TTY and no login session, or `UNSET`.
    pub non_interactive_mode: u8,
    /// Action per intent class.
    pub action: [u8; intent::COUNT],
    /// The agent's own process (never denied).
    pub agent_tgid: u32,
    /// Policy version (low 32 bits of its hash), reported in events.
    pub policy_version: u32,
}

impl EnforceConfig {
    pub const DISABLED: Self = Self {
        enabled: 0,
        path: path::NONE,
        default_mode: mode::AUDIT,
        non_interactive_mode: mode::UNSET,
        action: [action::DENY; intent::COUNT],
        agent_tgid: 0,
        policy_version: 0,
    };
}

const _: () = assert!(size_of::<EnforceConfig>() == 20);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C), integers only, sizes asserted.
    unsafe impl aya::Pod for super::EnforceConfig {}
    unsafe impl aya::Pod for super::AgentState {}
    unsafe impl aya::Pod for super::Held {}
    unsafe impl aya::Pod for super::VerdictKey {}
    unsafe impl aya::Pod for super::CachedVerdict {}
    unsafe impl aya::Pod for crate::matcher::RuleSet {}
    unsafe impl aya::Pod for crate::matcher::RuleFilter {}
}
