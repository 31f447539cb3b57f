//! The exec event: the fixed header written by the kernel, followed by variable data.
//!
//! A record in the ring buffer is `ExecEvent` followed by `filename_len + interp_len +
//! exe_len + argv_len` bytes of data, in that order:
//! - `filename`: the path the caller passed to execve (as the kernel copied it), NUL-free;
//! - `interp`: what the kernel ran for it (`bprm->interp`; differs from `filename` for
//!   `#!` scripts), NUL-free;
//! - `exe`: the resolved path of the executed file, as NUL-terminated components from the
//!   leaf up to the root (user space reverses them);
//! - `argv`: the arguments, each NUL-terminated, exactly as the new image sees them.
//!
//! Changing this file changes the ABI: bump [`EVENT_VERSION`] and update `docs/events.md`
//! (a tidy test compares a hash of this file with the one recorded there).

/// Version of the event layout. The agent refuses records of another version.
pub const EVENT_VERSION: u16 = 3;

/// `EventHeader::kind` of an exec attempt (completed or failed).
pub const KIND_EXEC: u16 = 1;

/// The exec failed; `errno` says why and the data comes from the caller's memory.
pub const FLAG_FAILED: u32 = 1 << 0;
/// argv did not fit the capture limit; `argc`/`args_size` still hold the true sizes.
pub const FLAG_ARGV_TRUNCATED: u32 = 1 << 1;
/// The filename or interpreter string was cut at its limit.
pub const FLAG_FILENAME_TRUNCATED: u32 = 1 << 2;
/// The executable's path was deeper than the kernel walks; the leading part is missing.
pub const FLAG_EXE_TRUNCATED: u32 = 1 << 3;
/// The process has a controlling terminal.
pub const FLAG_TTY: u32 = 1 << 4;
/// A read of kernel or user memory failed while building the event; fields may be empty.
pub const FLAG_READ_ERROR: u32 = 1 << 5;
/// The exec was `execveat` (else `execve`).
pub const FLAG_EXECVEAT: u32 = 1 << 6;
/// The failed exec's argv count is a lower bound (the kernel stopped counting).
pub const FLAG_ARGC_LOWER_BOUND: u32 = 1 << 7;
/// The argv the kernel copied differs in verdict from the one decided on at exec
/// entry: someone rewrote the caller's memory in between. The image was killed.
pub const FLAG_TAMPERED: u32 = 1 << 8;
/// The kernel's argv scan stopped before the end (argv beyond the capture limit).
pub const FLAG_SCAN_INCOMPLETE: u32 = 1 << 9;
/// A completed exec whose interpreter differs from the filename (`#!` script or
/// binfmt_misc). Without it the kernel does not copy `interp` (it is the filename).
pub const FLAG_SCRIPT: u32 = 1 << 10;
/// A strict identity's command would have been held, but the agent's heartbeat was
/// stale (or the held map full): it got the fail mode instead (decision tells which).
pub const FLAG_HOLD_OFFLINE: u32 = 1 << 11;
/// The process is quarantined (the agent flagged it or an ancestor): every exec from
/// it is refused, whatever its argv.
pub const FLAG_QUARANTINED: u32 = 1 << 12;
/// The decision came from the agent's verdict cache (the agent judged this exact
/// command before), not from a hold.
pub const FLAG_CACHED: u32 = 1 << 13;

/// Capture limit for argv bytes (the arguments and their NULs).
pub const ARGV_CAP: usize = 32 * 1024;
/// Capture limit for the filename and the interpreter (PATH_MAX).
pub const PATH_CAP: usize = 4096;
/// Path components the kernel walks when resolving the executable's path.
pub const EXE_DEPTH: usize = 32;
/// Longest component (NAME_MAX + NUL).
pub const NAME_CAP: usize = 256;
/// Arguments the kernel reads one by one from the caller's memory (failed execs).
pub const ARGS_MAX: usize = 1024;
/// Size of the scratch area that holds an event's data while the kernel builds it.
/// Offsets into it are masked with `DATA_OFF_MASK`; the slack keeps every masked write
/// inside the buffer, which is what the verifier checks.
pub const DATA_SIZE: usize = 128 * 1024;
/// Mask for the running offset of the string regions (filename, interp, exe).
pub const DATA_OFF_MASK: usize = 0x7fff;

/// Common header of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventHeader {
    pub version: u16,
    pub kind: u16,
    pub flags: u32,
    /// `CLOCK_MONOTONIC` (bpf_ktime_get_ns) at emission.
    pub ts_ns: u64,
}

/// Fixed part of an exec record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecEvent {
    pub header: EventHeader,
    /// Thread group id after the exec (what `getpid()` returns in the new image).
    pub pid: u32,
    /// Thread id that called exec (differs from `pid` when a non-leader thread exec'd).
    pub tid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    /// Audit login uid (`u32::MAX` when unset).
    pub loginuid: u32,
    /// Audit session id (`u32::MAX` when unset).
    pub sessionid: u32,
    /// POSIX session id (the session leader's pid).
    pub sid: u32,
    /// 0 when the exec completed, else the positive errno.
    pub errno: i32,
    /// True argc (from the kernel's `bprm`, or counted for failed execs).
    pub argc: u32,
    /// True argv bytes including NULs.
    pub args_size: u32,
    pub filename_len: u32,
    pub interp_len: u32,
    pub exe_len: u32,
    pub argv_len: u32,
    /// `enforce::decision`.
    pub decision: u8,
    /// Matched intent class (`enforce::intent`), or `intent::NONE`.
    pub class: u8,
    /// Mode of the identity (`enforce::mode`).
    pub mode: u8,
    /// How a denial was carried out (`enforce::path`).
    pub enforced_by: u8,
    pub cgroup_id: u64,
    /// Rule that matched (index in the agent's compiled table).
    pub rule_id: u16,
    pub _pad: [u8; 2],
    /// Policy version in force (low 32 bits of its hash).
    pub policy_version: u32,
    pub comm: [u8; 16],
    pub parent_comm: [u8; 16],
}

const _: () = assert!(size_of::<EventHeader>() == 16);
const _: () = assert!(size_of::<ExecEvent>() == 136);

/// The per-CPU scratch record: the fixed part followed by room for the data.
#[repr(C)]
pub struct ExecScratch {
    pub event: ExecEvent,
    pub data: [u8; DATA_SIZE],
}

/// What a thread's exec leaves for the program that reports it (completed:
/// `sched_process_exec`; failed: `sys_exit_execve(at)`): the execveat flag from
/// `sys_enter_execveat`, and the LSM hook's decision.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ExecStash {
    /// The exec's `struct linux_binprm`: an entry is this exec's only if it matches.
    pub bprm: u64,
    pub flags: u32,
    /// Decision the LSM hook took on the caller's argv (`enforce::decision`), plus one.
    pub lsm_decision: u8,
    pub class: u8,
    pub mode: u8,
    pub _pad0: u8,
    pub rule_id: u16,
    pub _pad: [u8; 6],
}

const _: () = assert!(size_of::<ExecStash>() == 24);

/// Indices of the per-CPU counters array (`COUNTERS`).
pub mod counter {
    /// Records lost because the ring buffer was full.
    pub const RINGBUF_DROPPED: u32 = 0;
    /// Stash entries (execveat flag, LSM decision) that could not be stored (too many
    /// execs in flight).
    pub const STASH_FULL: u32 = 1;
    /// Kernel or user memory reads that failed.
    pub const READ_ERRORS: u32 = 2;
    /// Records submitted to the ring buffer.
    pub const EMITTED: u32 = 3;
    /// Number of counters.
    pub const COUNT: u32 = 4;
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain `repr(C)` integers and byte arrays, no padding (sizes asserted above).
    unsafe impl aya::Pod for super::ExecStash {}
}
