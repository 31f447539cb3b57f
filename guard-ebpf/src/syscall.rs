//! The exec syscall's number and arguments, read from the calling thread's saved user
//! registers.
//!
//! `struct pt_regs` at the top of a thread's kernel stack holds the syscall's arguments
//! from its entry until it returns: the very values the `sys_enter_execve(at)`
//! tracepoints copy into their records. Reading them where they are needed (the LSM
//! hook, the report of a failed exec) rather than stashing them from a `sys_enter`
//! program saves a program run on every exec: ~0.16 µs of BPF time per exec on the
//! bench host, where an empty program costs ~0.10 µs. The syscall's number is good
//! until the new image is set up: x86-64 then rewrites it to execve's (the kernel's
//! `set_personality_64bit`), so a completed exec learns it was an execveat from
//! `sys_enter_execveat`'s stash instead.

use aya_ebpf::helpers::generated::{bpf_get_current_task_btf, bpf_task_pt_regs};

use crate::config::{Kmem, Typed, off};

/// Which exec syscall.
#[derive(Clone, Copy)]
#[repr(u64)]
pub enum ExecCall {
    Execve = 0,
    Execveat = 1,
}

/// The saved user registers of `task`, a BTF-typed task pointer.
#[inline(always)]
fn regs_of(task: u64) -> u64 {
    // SAFETY: the helper takes a typed task (the verifier checks it) and returns a
    // typed `struct pt_regs` pointer.
    unsafe { bpf_task_pt_regs(task as *mut _) as u64 }
}

/// The current task, BTF-typed.
#[inline(always)]
fn current() -> u64 {
    // SAFETY: plain helper call.
    unsafe { bpf_get_current_task_btf() as u64 }
}

/// Which exec syscall `task` (BTF-typed) is in, until its new image is set up; `None`
/// for another number (an exec the kernel started, such as a usermode helper's).
#[inline(always)]
fn exec_call_of(task: u64) -> Option<ExecCall> {
    let nr: u32 = Typed::read(regs_of(task), off!(regs_syscall_nr))?;
    if nr == off!(nr_execveat) {
        Some(ExecCall::Execveat)
    } else if nr == off!(nr_execve) {
        Some(ExecCall::Execve)
    } else {
        None
    }
}

/// The current thread's exec syscall, if it is in one (and its new image is not set up
/// yet: the LSM hook, or a failed exec).
#[inline(always)]
pub fn current_exec_call() -> Option<ExecCall> {
    exec_call_of(current())
}

/// The caller's filename and argv pointers of the current thread's `call`.
#[inline(always)]
pub fn exec_call(call: ExecCall) -> Option<(u64, u64)> {
    let regs = regs_of(current());
    let (filename, argv) = match call {
        ExecCall::Execve => (off!(regs_arg0), off!(regs_arg1)),
        ExecCall::Execveat => (off!(regs_arg1), off!(regs_arg2)),
    };
    Some((Typed::read(regs, filename)?, Typed::read(regs, argv)?))
}
