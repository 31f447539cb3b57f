//! `sched_process_exec`: a completed exec, reported before the new image's first
//! instruction with the kernel's own copy of argv (exactly what the program will see).

use aya_ebpf::{
    helpers::generated::{bpf_ktime_get_ns, bpf_probe_read_user, bpf_send_signal}, macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use guard_common::{
    enforce::{EnforceConfig, Held, decision, path},
    event::{
        ARGV_CAP, DATA_OFF_MASK, ExecEvent, FLAG_ARGV_TRUNCATED, FLAG_EXE_TRUNCATED,
        FLAG_CACHED, FLAG_FILENAME_TRUNCATED, FLAG_HOLD_OFFLINE, FLAG_QUARANTINED, FLAG_SCAN_INCOMPLETE, FLAG_SCRIPT, FLAG_TAMPERED,
    },
};

const SIGKILL: u32 = 9;
const SIGSTOP: u32 = 19;

use crate::{
    config::{Kmem, Typed, off},
    emit::{Mem, begin, copy_str, read_error, set_flags, submit},
    maps::{scratch, stash_take},
    path::write_file_path,
    policy::{AGENT, HELD, config, fails_open, judge, mode_of, name_hashes, quarantined},
    task::fill_identity,
};

/// `TP_PROTO(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)`.
///
/// A BTF tracepoint: `p` and `bprm` arrive typed, so their fields (and the fields of
/// the objects they point to) are plain loads rather than helper calls.
#[btf_tracepoint(function = "sched_process_exec")]
pub fn sched_process_exec(ctx: BtfTracePointContext) -> i32 {
    let _ = try_sched_process_exec(&ctx);
    0
}

fn try_sched_process_exec(ctx: &BtfTracePointContext) -> Option<()> {
    let task: u64 = ctx.arg(0);
    let old_tid = ctx.arg::<u64>(1) as u32;
    let bprm: u64 = ctx.arg(2);
    // What `sys_enter_execveat` and the LSM hook left for this exec (an entry of no
    // exec yet is `sys_enter_execveat`'s alone); an entry of another exec is stale.
    let stash = stash_take(old_tid).filter(|st| st.bprm == bprm || st.bprm == 0);
    let s = scratch()?;
    begin(s, stash.map_or(0, |st| st.flags));
    fill_identity::<Typed>(&mut s.event, task);
    s.event.tid = old_tid;
    let data = s.data.as_mut_ptr();
    let argv_at = strings(&mut s.event, data, bprm);
    let len = argv(&mut s.event, data, argv_at, task, bprm);
    if let Some(cfg) = config() {
        enforce(&mut s.event, data, cfg, stash.map_or(0, |st| st.lsm_decision), argv_at);
    }
    submit(s, argv_at + len);
    Some(())
}

/// Decides on the kernel's own copy of argv. On the signal path a denial kills the
/// image here; on the LSM path the hook already decided on the caller's copy, and a
/// denial here means the two differ: argv was rewritten during the exec (tampering).
#[inline(always)]
fn enforce(ev: &mut ExecEvent, data: *mut u8, cfg: &EnforceConfig, lsm_said: u8, argv_at: usize) {
    ev.mode = mode_of(ev, cfg);
    ev.policy_version = cfg.policy_version;
    if ev.pid == cfg.agent_tgid {
        return;
    }
    if quarantined(ev.pid) {
        set_flags(ev, FLAG_QUARANTINED);
        ev.decision = decision::DENY;
        // SAFETY: plain helper call; the current task is the new image.
        unsafe { bpf_send_signal(SIGKILL) };
        ev.enforced_by = path::SIGNAL;
        return;
    }
    let (binary, file_hash) = name_hashes(data, 0, ev.filename_len as usize);
    // A `#!` script: the kernel's argv starts with the interpreter, then the script.
    let skip = if ev.header.flags & FLAG_SCRIPT != 0 { file_hash } else { 0 };
    let v = judge(data, binary, argv_at, ev.argv_len as usize, skip, ev.mode, cfg);
    ev.decision = v.decision;
    ev.class = v.class;
    ev.rule_id = v.rule_id;
    if v.cached {
        set_flags(ev, FLAG_CACHED);
    }
    if ev.header.flags & FLAG_ARGV_TRUNCATED != 0 {
        set_flags(ev, FLAG_SCAN_INCOMPLETE);
    }
    if v.decision == decision::HOLD && hold(ev, !v.confirm && fails_open(ev, cfg)) {
        return;
    }
    if v.decision != decision::DENY && v.decision != decision::HOLD {
        return;
    }
    // The hook allowed what is denied now: argv changed in between. (A hold the hook
    // left to this program, denied because the agent is gone, is not that.)
    if cfg.path == path::LSM && lsm_said != 0 && lsm_said != decision::HOLD + 1 {
        set_flags(ev, FLAG_TAMPERED);
    }
    // SAFETY: plain helper call; the current task is the new image.
    unsafe { bpf_send_signal(SIGKILL) };
    ev.enforced_by = path::SIGNAL;
}

/// Parks the new image (SIGSTOP before its first instruction) for the agent, if the
/// agent's heartbeat is fresh and the held map has room. Otherwise the agent is gone:
/// when the identity fails open (`fail_open`; never for a matched signature) the exec
/// is allowed (returns true), else it is denied like any other (returns false with the
/// decision set to deny). The held entry carries the same fail mode for the reaper.
#[inline(always)]
fn hold(ev: &mut ExecEvent, fail_open: bool) -> bool {
    // SAFETY: plain helper call.
    let now = unsafe { bpf_ktime_get_ns() };
    let Some(agent) = AGENT.get(0) else {
        ev.decision = decision::DENY;
        return false;
    };
    let fresh = agent.heartbeat_ns != 0 && now.wrapping_sub(agent.heartbeat_ns) < agent.max_age_ns;
    if fresh {
        let held = Held { since_ns: now, uid: ev.uid, fail_open: u8::from(fail_open), mode: ev.mode, _pad: [0; 2] };
        if HELD.insert(&ev.pid, &held, 0).is_ok() {
            // SAFETY: plain helper call; the current task is the new image.
            unsafe { bpf_send_signal(SIGSTOP) };
            ev.enforced_by = path::HOLD;
            return true;
        }
    }
    set_flags(ev, FLAG_HOLD_OFFLINE);
    if fail_open {
        ev.decision = decision::ALLOW;
        return true;
    }
    ev.decision = decision::DENY;
    false
}

/// filename, interp and the executable's path; returns the bytes written.
#[inline(always)]
fn strings(ev: &mut ExecEvent, data: *mut u8, bprm: u64) -> usize {
    let (filename, interp) = Typed::read_pair::<u64>(bprm, off!(bprm_filename), off!(bprm_interp));
    let (filename, interp) = (filename.unwrap_or(0), interp.unwrap_or(0));
    let (n, cut) = copy_str(ev, data, 0, filename, Mem::Kernel);
    ev.filename_len = n as u32;
    // bprm->interp is bprm->filename itself unless a `#!` (or binfmt_misc) handler
    // replaced it: only then is there a second string to copy and hash.
    let (m, cut2) = if interp == filename {
        (0, false)
    } else {
        set_flags(ev, FLAG_SCRIPT);
        copy_str(ev, data, n, interp, Mem::Kernel)
    };
    ev.interp_len = m as u32;
    if cut || cut2 {
        set_flags(ev, FLAG_FILENAME_TRUNCATED);
    }
    let file: u64 = Typed::read(bprm, off!(bprm_file)).unwrap_or(0);
    let (e, whole) = write_file_path::<Typed>(data, n + m, file);
    ev.exe_len = e as u32;
    if !whole {
        set_flags(ev, FLAG_EXE_TRUNCATED);
    }
    n + m + e
}

/// The new image's argv (`mm->arg_start..arg_end`); returns the bytes copied.
#[inline(always)]
fn argv(ev: &mut ExecEvent, data: *mut u8, pos: usize, task: u64, bprm: u64) -> usize {
    ev.argc = Typed::read::<i32>(bprm, off!(bprm_argc)).unwrap_or(0) as u32;
    let mm: u64 = Typed::read(task, off!(task_mm)).unwrap_or(0);
    let (start, end) = Typed::read_pair::<u64>(mm, off!(mm_arg_start), off!(mm_arg_end));
    let (start, end) = (start.unwrap_or(0), end.unwrap_or(0));
    let size = end.saturating_sub(start) as usize;
    ev.args_size = size as u32;
    let mut len = size;
    if len > ARGV_CAP {
        len = ARGV_CAP;
        set_flags(ev, FLAG_ARGV_TRUNCATED);
    }
    let len = len & 0xffff;
    // SAFETY: masked offset plus a length below 64 KiB stays inside the scratch data.
    let ret = unsafe {
        bpf_probe_read_user(data.add(pos & DATA_OFF_MASK).cast(), len as u32, start as *const _)
    };
    if ret != 0 {
        read_error(ev);
        return 0;
    }
    ev.argv_len = len as u32;
    len
}
