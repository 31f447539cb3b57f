//! Identity of the current task: ids, credentials, audit session, tty, cgroup.

use aya_ebpf::helpers::{
    bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
    generated::bpf_get_current_cgroup_id,
};
use guard_common::event::{ExecEvent, FLAG_TTY};

use crate::{
    config::{kread, kread_pair, off},
    emit::set_flags,
};

/// Fills the identity fields of `ev` from the current task (`task` is its pointer).
#[inline(always)]
pub fn fill_identity(ev: &mut ExecEvent, task: u64) {
    let pid_tgid = bpf_get_current_pid_tgid();
    ev.pid = (pid_tgid >> 32) as u32;
    ev.tid = pid_tgid as u32;
    let uid_gid = bpf_get_current_uid_gid();
    ev.uid = uid_gid as u32;
    ev.gid = (uid_gid >> 32) as u32;
    // SAFETY: plain helper call.
    ev.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    ev.comm = bpf_get_current_comm().unwrap_or_default();
    fill_parent(ev, task);
    fill_creds(ev, task);
    fill_session(ev, task);
}

#[inline(always)]
fn fill_parent(ev: &mut ExecEvent, task: u64) {
    let parent: u64 = kread(task, off!(task_real_parent)).unwrap_or(0);
    ev.ppid = kread(parent, off!(task_tgid)).unwrap_or(0);
    ev.parent_comm = kread(parent, off!(task_comm)).unwrap_or_default();
}

#[inline(always)]
fn fill_creds(ev: &mut ExecEvent, task: u64) {
    let cred: u64 = kread(task, off!(task_cred)).unwrap_or(0);
    let (euid, egid) = kread_pair(cred, off!(cred_euid), off!(cred_egid));
    ev.euid = euid.unwrap_or(u32::MAX);
    ev.egid = egid.unwrap_or(u32::MAX);
}

#[inline(always)]
fn fill_session(ev: &mut ExecEvent, task: u64) {
    let (loginuid, sessionid) = kread_pair(task, off!(task_loginuid), off!(task_sessionid));
    ev.loginuid = loginuid.unwrap_or(u32::MAX);
    ev.sessionid = sessionid.unwrap_or(u32::MAX);
    let signal: u64 = kread(task, off!(task_signal)).unwrap_or(0);
    let tty: u64 = kread(signal, off!(signal_tty)).unwrap_or(0);
    if tty != 0 {
        set_flags(ev, FLAG_TTY);
    }
    let sid_pid: u64 = kread(signal, off!(signal_sid_pid)).unwrap_or(0);
    ev.sid = kread(sid_pid, off!(pid_nr)).unwrap_or(0);
}
