//! `lsm/bprm_check_security`: refuse a destructive exec with EPERM before it happens,
//! where BPF LSM is active. The decision rests on the caller's argv (read through the
//! syscall's argv pointer) and is stashed for the exec's event; `sched_process_exec`
//! checks it again on the kernel's own copy and kills the image if someone rewrote argv
//! in between.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, generated::bpf_get_current_task},
    macros::lsm,
    programs::LsmContext,
};
use guard_common::enforce::{decision, path};

use crate::{
    config::{kread, off},
    emit::{Mem, begin, copy_str},
    execve_tp::caller_argv,
    maps::{bump, scratch, stash_get, stash_put},
    policy::{config, judge, mode_of, name_hashes, quarantined},
    syscall::{current_exec_call, exec_call},
    task::fill_identity,
};
use guard_common::event::{ExecStash, counter};

const EPERM: i32 = 1;

#[lsm(hook = "bprm_check_security")]
pub fn bprm_check_security(ctx: LsmContext) -> i32 {
    // SAFETY: `int bprm_check_security(struct linux_binprm *bprm)`, then the return
    // value of earlier programs on this hook.
    let (bprm, prev): (u64, i32) = (ctx.arg(0), ctx.arg(1));
    if prev != 0 {
        return prev;
    }
    try_bprm_check(bprm).unwrap_or(0)
}

fn try_bprm_check(bprm: u64) -> Option<i32> {
    let cfg = config()?;
    if cfg.path != path::LSM {
        return None;
    }
    // An exec the kernel started itself (a usermode helper) has no caller's argv:
    // `sched_process_exec` decides on the new image's.
    let call = current_exec_call()?;
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    let stash = stash_for(tid, bprm)?;
    let tgid = (pid_tgid >> 32) as u32;
    if tgid != cfg.agent_tgid && quarantined(tgid) {
        stash.lsm_decision = decision::DENY + 1;
        stash.class = guard_common::enforce::intent::NONE;
        stash.flags |= guard_common::event::FLAG_QUARANTINED;
        return Some(-EPERM);
    }
    if stash.lsm_decision != 0 {
        // A `#!` script runs this hook again for its interpreter: same answer.
        return Some(if stash.lsm_decision == decision::DENY + 1 { -EPERM } else { 0 });
    }
    let s = scratch()?;
    begin(s, 0);
    // SAFETY: plain helper call.
    fill_identity::<crate::config::Probe>(&mut s.event, unsafe { bpf_get_current_task() });
    let mode = mode_of(&s.event, cfg);
    let data = s.data.as_mut_ptr();
    let filename: u64 = kread(bprm, off!(bprm_filename)).unwrap_or(0);
    let (n, _) = copy_str(&mut s.event, data, 0, filename, Mem::Kernel);
    let argv = exec_call(call).map_or(0, |(_, argv)| argv);
    let argv_len = caller_argv(&mut s.event, data, n, argv);
    let (binary, _) = name_hashes(data, 0, n);
    let v = judge(data, binary, n, argv_len, 0, mode, cfg);
    let v = if s.event.pid == cfg.agent_tgid { crate::policy::Verdict::ALLOW } else { v };
    stash.lsm_decision = v.decision + 1;
    if v.cached {
        stash.flags |= guard_common::event::FLAG_CACHED;
    }
    stash.class = v.class;
    stash.rule_id = v.rule_id;
    stash.mode = mode;
    Some(if v.decision == decision::DENY { -EPERM } else { 0 })
}

/// The thread's stash entry for the exec `bprm`: the one this hook left earlier in the
/// same exec (a `#!` script runs it again for the interpreter), or the one
/// `sys_enter_execveat` left for it, else a fresh one. `None` when there is no room;
/// the exec is then decided by `sched_process_exec` alone.
#[inline(always)]
fn stash_for(tid: u32, bprm: u64) -> Option<&'static mut ExecStash> {
    if let Some(stash) = stash_get(tid) {
        if stash.bprm == bprm {
            return Some(stash);
        }
        if stash.bprm == 0 && stash.lsm_decision == 0 {
            stash.bprm = bprm;
            return Some(stash);
        }
    }
    if !stash_put(tid, bprm, 0) {
        bump(counter::STASH_FULL);
        return None;
    }
    stash_get(tid)
}
