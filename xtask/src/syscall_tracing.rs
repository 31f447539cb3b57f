//! Syscall tracepoints switched on with nothing attached, for two uses:
//! - `bench exec`'s floor, the cost under every tool built on syscall tracepoints,
//!   measured in the same run;
//! - the VM guest (`cargo xtask guest-syscall-tracing`, started by the guest's `/init`),
//!   where it keeps the tracepoints' probes registered for the whole run, so that an
//!   agent attaching and detaching its programs never patches the syscall entry code
//!   (see `vm_image`).
//!
//! Attaching anything to one syscall tracepoint makes the kernel send *every* syscall
//! of *every* task through its slow path (`SYSCALL_WORK_SYSCALL_TRACEPOINT` on entry and
//! exit), whatever the program does. guard needs `sys_exit_execve(at)` to see failed
//! execs, so it pays this too. The floor storm runs with a perf counter on
//! a syscall the storm never makes (`getppid`): the slow path is on, and no program and
//! no per-exec work runs. `agent / floor` is then what guard itself adds. (A
//! `posix_spawn` makes ~160 syscalls, 122 of them `rt_sigaction` resetting the child's
//! signal handlers, so the floor is not small.)

use std::{
    fs,
    os::fd::{FromRawFd as _, OwnedFd},
};

use anyhow::{Context as _, Result, bail};

/// Tracepoints whose counters switch the slow path on (never hit by the storm, nor by
/// the agent, which traces `execve` and `execveat`).
const TRACEPOINTS: [&str; 2] = ["syscalls/sys_enter_getppid", "syscalls/sys_exit_getppid"];
const TRACEFS: [&str; 2] = [
    "/sys/kernel/tracing/events",
    "/sys/kernel/debug/tracing/events",
];

/// `PERF_TYPE_TRACEPOINT`.
const PERF_TYPE_TRACEPOINT: u32 = 2;
/// `PERF_ATTR_SIZE_VER0`: the fields up to `bp_addr`, enough for a counter.
const ATTR_SIZE: u32 = 64;

/// Syscall tracepoints switched on (counting only) while alive.
pub struct SyscallTracing {
    _counters: Vec<OwnedFd>,
}

impl SyscallTracing {
    pub fn enable() -> Result<Self> {
        let counters = TRACEPOINTS
            .iter()
            .map(|tp| counter(tracepoint_id(tp)?))
            .collect::<Result<_>>()?;
        Ok(Self {
            _counters: counters,
        })
    }
}

/// What `hold` prints once the tracepoints are on; the guest's `/init` waits for it.
pub const HOLDING: &str = "syscall tracepoints held";

/// `cargo xtask guest-syscall-tracing`: switches the tracepoints on, says so on stdout
/// and keeps them on until killed.
pub fn hold() -> Result<std::convert::Infallible> {
    let _tracing = SyscallTracing::enable()?;
    println!("{HOLDING}");
    loop {
        std::thread::park();
    }
}

fn tracepoint_id(tp: &str) -> Result<u64> {
    for root in TRACEFS {
        if let Ok(id) = fs::read_to_string(format!("{root}/{tp}/id")) {
            return id
                .trim()
                .parse()
                .with_context(|| format!("id of tracepoint {tp}"));
        }
    }
    bail!("tracepoint {tp} not found under {TRACEFS:?} (is tracefs mounted?)")
}

/// A counting perf event on tracepoint `id`, for every task on CPU 0. One event is
/// enough: registering the tracepoint's probe flips the slow path for all tasks.
fn counter(id: u64) -> Result<OwnedFd> {
    // perf_event_attr, version 0: type, size, config, then zeros (counting, enabled).
    let mut attr = [0u64; ATTR_SIZE as usize / 8];
    attr[0] = u64::from(PERF_TYPE_TRACEPOINT) | (u64::from(ATTR_SIZE) << 32);
    attr[1] = id;
    // SAFETY: a valid attr of the size it declares; pid -1 with cpu 0 (needs root).
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            -1i32,
            0i32,
            -1i32,
            0u64,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error())
            .context("perf_event_open on a syscall tracepoint");
    }
    // SAFETY: a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    /// The counters are live: `getppid` calls on CPU 0 are counted while enabled.
    #[test]
    fn enabled_counters_see_the_syscall() {
        if !crate::util::is_root() {
            eprintln!("skipped: needs root (a counter for every task)");
            return;
        }
        if tracepoint_id(TRACEPOINTS[0]).is_err() {
            eprintln!("skipped: no tracefs here");
            return;
        }
        // SAFETY: a zeroed set with CPU 0, for this thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(0, &mut set);
            assert_eq!(
                libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set),
                0
            );
        }
        let tracing = SyscallTracing::enable().unwrap();
        for _ in 0..5 {
            // SAFETY: no preconditions; the raw syscall, as glibc may cache it.
            unsafe { libc::syscall(libc::SYS_getppid) };
        }
        let mut count = [0u8; 8];
        let mut fd = fs::File::from(tracing._counters[0].try_clone().unwrap());
        fd.read_exact(&mut count).unwrap();
        assert!(
            u64::from_ne_bytes(count) >= 5,
            "counted {}",
            u64::from_ne_bytes(count)
        );
    }
}
