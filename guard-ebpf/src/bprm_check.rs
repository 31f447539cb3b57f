//! `lsm/bprm_check_security`: refuse a destructive exec with EPERM before it happens,
//! where BPF LSM is active. The decision rests on the caller's argv (read through the
//! pointers `sys_enter_execve` stashed); `sched_process_exec` checks it again on the
//! kernel's own copy and kills the image if someone rewrote argv in between.

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
    maps::{scratch, stash_get},
    policy::{config, judge, mode_of, name_hashes, quarantined},
    task::fill_identity,
};

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
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    let stash = stash_get(tid)?;
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
    let argv_len = caller_argv(&mut s.event, data, n, stash.argv);
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
