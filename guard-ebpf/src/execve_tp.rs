//! `sys_enter_execve(at)` and `sys_exit_execve(at)`: remember the caller's pointers,
//! and report execs that failed (a completed exec is reported by `exec_sched`).
//!
//! Field offsets are those of the syscall tracepoint records, which are ABI: 8 bytes of
//! common fields, the syscall number padded to 8, then one 8-byte slot per argument.

use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid,
        generated::{bpf_get_current_task, bpf_probe_read_user},
    },
    macros::tracepoint,
    programs::TracePointContext,
};
use guard_common::event::{
    ARGV_CAP, DATA_OFF_MASK, ExecEvent, ExecStash, FLAG_ARGC_LOWER_BOUND, FLAG_ARGV_TRUNCATED,
    FLAG_EXECVEAT, FLAG_FAILED, FLAG_FILENAME_TRUNCATED, counter,
};

use guard_common::enforce::{decision, path};

use crate::{
    policy::{config, mode_of},
    emit::{Mem, begin, copy_str, read_error, submit},
    maps::{STASH, bump, scratch},
    task::fill_identity,
};

/// Arguments read one by one from the caller's memory for a failed exec.
const FAILED_ARGS_MAX: usize = 256;

#[tracepoint]
pub fn sys_enter_execve(ctx: TracePointContext) -> u32 {
    stash(&ctx, 16, 24, 0);
    0
}

#[tracepoint]
pub fn sys_enter_execveat(ctx: TracePointContext) -> u32 {
    stash(&ctx, 24, 32, FLAG_EXECVEAT);
    0
}

#[tracepoint]
pub fn sys_exit_execve(ctx: TracePointContext) -> u32 {
    let _ = exit(&ctx);
    0
}

#[tracepoint]
pub fn sys_exit_execveat(ctx: TracePointContext) -> u32 {
    let _ = exit(&ctx);
    0
}

fn stash(ctx: &TracePointContext, filename_at: usize, argv_at: usize, flags: u32) {
    // SAFETY: offsets inside the syscall tracepoint record.
    let filename: u64 = unsafe { ctx.read_at(filename_at) }.unwrap_or(0);
    // SAFETY: as above.
    let argv: u64 = unsafe { ctx.read_at(argv_at) }.unwrap_or(0);
    let entry = ExecStash { filename, argv, flags, ..ExecStash::default() };
    let tid = bpf_get_current_pid_tgid() as u32;
    if STASH.insert(&tid, &entry, 0).is_err() {
        bump(counter::STASH_FULL);
    }
}

fn exit(ctx: &TracePointContext) -> Option<()> {
    // SAFETY: `ret` is the first field after the syscall number.
    let ret: i64 = unsafe { ctx.read_at(16) }.ok()?;
    let tid = bpf_get_current_pid_tgid() as u32;
    // SAFETY: the value is copied before the entry is removed.
    let stash = unsafe { STASH.get(&tid) }.copied();
    let _ = STASH.remove(&tid);
    if ret >= 0 {
        return None;
    }
    let stash = stash?;
    let s = scratch()?;
    begin(s, stash.flags | FLAG_FAILED);
    // SAFETY: plain helper call.
    let task = unsafe { bpf_get_current_task() };
    fill_identity(&mut s.event, task);
    s.event.errno = (-ret) as i32;
    let data = s.data.as_mut_ptr();
    let (n, cut) = copy_str(&mut s.event, data, 0, stash.filename, Mem::User);
    s.event.filename_len = n as u32;
    if cut {
        s.event.header.flags |= FLAG_FILENAME_TRUNCATED;
    }
    let len = caller_argv(&mut s.event, data, n, stash.argv);
    lsm_outcome(&mut s.event, &stash);
    submit(s, n + len);
    Some(())
}

/// Copies the caller's argv, one string at a time; returns the bytes copied.
#[inline(always)]
pub fn caller_argv(ev: &mut ExecEvent, data: *mut u8, pos: usize, argv: u64) -> usize {
    // SAFETY: masked offset inside the scratch data.
    let base = unsafe { data.add(pos & DATA_OFF_MASK) };
    let mut used = 0usize;
    let mut argc = 0u32;
    let mut complete = false;
    for i in 0..FAILED_ARGS_MAX {
        let mut arg: u64 = 0;
        // SAFETY: the helper checks the user address.
        let ret = unsafe {
            bpf_probe_read_user((&raw mut arg).cast(), 8, (argv + (i as u64) * 8) as *const _)
        };
        if ret != 0 || arg == 0 {
            complete = true;
            break;
        }
        let room = ARGV_CAP.wrapping_sub(used) & 0xffff;
        // SAFETY: masked offset plus a size below 64 KiB stays inside the scratch data.
        let n = unsafe {
            aya_ebpf::helpers::generated::bpf_probe_read_user_str(
                base.add(used & 0x7fff).cast(),
                room as u32,
                arg as *const _,
            )
        };
        if n <= 0 {
            read_error(ev);
            complete = true;
            break;
        }
        argc += 1;
        used += n as usize;
        if n as usize >= room {
            ev.header.flags |= FLAG_ARGV_TRUNCATED | FLAG_ARGC_LOWER_BOUND;
            complete = true;
            break;
        }
    }
    if !complete {
        ev.header.flags |= FLAG_ARGV_TRUNCATED | FLAG_ARGC_LOWER_BOUND;
    }
    ev.argc = argc;
    ev.args_size = used as u32;
    ev.argv_len = used as u32;
    used
}

/// Carries the LSM hook's decision into the failed exec's event.
#[inline(always)]
fn lsm_outcome(ev: &mut ExecEvent, stash: &ExecStash) {
    if let Some(cfg) = config() {
        ev.policy_version = cfg.policy_version;
        ev.mode = mode_of(ev, cfg);
    }
    if stash.lsm_decision == 0 {
        return;
    }
    ev.decision = stash.lsm_decision - 1;
    ev.class = stash.class;
    ev.rule_id = stash.rule_id;
    ev.mode = stash.mode;
    if ev.decision == decision::DENY && ev.errno == 1 {
        ev.enforced_by = path::LSM;
    }
}
