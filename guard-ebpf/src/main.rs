//! guard's kernel side: capture every exec attempt and hand it to user space.
//!
//! - `execve_tp`: `sys_exit_execve(at)` reports failed execs from the caller's memory,
//!   found through the syscall's arguments (`syscall`).
//! - `exec_sched`: `sched_process_exec` reports completed execs from the kernel's own
//!   copy of argv (what the new image will see) before its first instruction.
//! - `emit`, `task`, `path`: building, identity and executable path of a record.
//!
//! Kernel struct offsets come from the agent (`config::OFFSETS`), resolved from the
//! running kernel's BTF. Every kernel function stays small and every loop bounded.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod bprm_check;
#[cfg(target_arch = "bpf")]
mod config;
#[cfg(target_arch = "bpf")]
mod emit;
#[cfg(target_arch = "bpf")]
mod exec_sched;
#[cfg(target_arch = "bpf")]
mod execve_tp;
#[cfg(target_arch = "bpf")]
mod lifecycle;
#[cfg(target_arch = "bpf")]
mod maps;
#[cfg(target_arch = "bpf")]
mod path;
#[cfg(target_arch = "bpf")]
mod policy;
#[cfg(target_arch = "bpf")]
mod probe;
#[cfg(target_arch = "bpf")]
mod syscall;
#[cfg(target_arch = "bpf")]
mod task;

/// GPL-compatible licence: the probe-read and signal helpers are GPL-only.
#[cfg(target_arch = "bpf")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects any reachable panic path; this is never executed.
    loop {}
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
