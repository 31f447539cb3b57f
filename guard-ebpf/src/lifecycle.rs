//! Process lifecycle: the quarantine follows forks and ends with the process, and
//! (under BPF LSM) a held process can be resumed by nobody but guard.
//!
//! - `sched_process_fork`: a child of a quarantined process is quarantined too.
//! - `sched_process_exit`: a quarantined process's entry goes when its leader exits, so
//!   a recycled pid is never refused.
//! - `lsm/task_kill`: SIGCONT to a held process is refused with EPERM unless it comes
//!   from the agent or the hold reaper.

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{lsm, raw_tracepoint},
    programs::{LsmContext, RawTracePointContext},
};

use crate::{
    config::{kread, off},
    policy::{AGENT, HELD, QUARANTINE, config, quarantine_in_use},
};

const SIGCONT: i32 = 18;
const EPERM: i32 = 1;

/// `TP_PROTO(struct task_struct *parent, struct task_struct *child)`.
#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_process_fork(ctx: RawTracePointContext) -> i32 {
    if !quarantine_in_use() {
        return 0;
    }
    let parent = (bpf_get_current_pid_tgid() >> 32) as u32;
    // SAFETY: the value is copied out at once.
    let Some(since) = (unsafe { QUARANTINE.get(&parent) }).copied() else {
        return 0;
    };
    let child: u64 = ctx.arg(1);
    let child_tgid: u32 = kread(child, off!(task_tgid)).unwrap_or(0);
    if child_tgid != 0 && child_tgid != parent {
        let _ = QUARANTINE.insert(&child_tgid, &since, 0);
    }
    0
}

/// `TP_PROTO(struct task_struct *p)`; the current task is the one exiting.
#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn sched_process_exit(_ctx: RawTracePointContext) -> i32 {
    if !quarantine_in_use() {
        return 0;
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    let (tgid, tid) = ((pid_tgid >> 32) as u32, pid_tgid as u32);
    if tgid == tid {
        let _ = QUARANTINE.remove(&tgid);
    }
    0
}

/// `int task_kill(struct task_struct *p, struct kernel_siginfo *info, int sig,
/// const struct cred *cred)`, then the return value of earlier programs.
///
/// Kernels from 6.10 on require an LSM program's return value provably within
/// [-MAX_ERRNO, 0] in the 64-bit register. Left to itself the compiler turns
/// "0 or -EPERM" into `-(x & 1)`, whose range the verifier does not track, or returns a
/// 32-bit value zero-extended. So each outcome returns a constant on its own path: a
/// volatile store on each path keeps the compiler from merging them into arithmetic,
/// and each constant is then a 64-bit move the verifier knows exactly.
#[lsm(hook = "task_kill")]
pub fn task_kill(ctx: LsmContext) -> i32 {
    let mut outcome = 0u8;
    if refuse(&ctx) {
        // SAFETY: a local.
        unsafe { core::ptr::write_volatile(&mut outcome, 1) };
        return -EPERM;
    }
    // SAFETY: a local.
    unsafe { core::ptr::write_volatile(&mut outcome, 2) };
    0
}

/// Whether the signal is refused: an earlier program refused it (its answer stands,
/// as EPERM), or it is SIGCONT to a held process from anyone but the agent and the
/// reaper.
#[inline(always)]
fn refuse(ctx: &LsmContext) -> bool {
    let (target, sig, prev): (u64, i32, i32) = (ctx.arg(0), ctx.arg(2), ctx.arg(4));
    if prev != 0 {
        return true;
    }
    if sig != SIGCONT {
        return false;
    }
    let tgid: u32 = kread(target, off!(task_tgid)).unwrap_or(0);
    // SAFETY: only tested for presence.
    if unsafe { HELD.get(&tgid) }.is_none() {
        return false;
    }
    let sender = (bpf_get_current_pid_tgid() >> 32) as u32;
    let agent = config().map_or(0, |c| c.agent_tgid);
    let reaper = AGENT.get(0).map_or(0, |a| a.reaper_tgid);
    sender != agent && sender != reaper
}
