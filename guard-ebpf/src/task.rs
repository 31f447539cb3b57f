//! Identity of the current task: ids, credentials, audit session, tty, cgroup.

use aya_ebpf::helpers::{
    bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
    generated::bpf_get_current_cgroup_id,
};
use guard_common::event::{ExecEvent, FLAG_TTY};

use crate::{
    config::{Kmem, off},
    emit::set_flags,
};

/// Fills the identity fields of `ev` from the current task (`task` is its pointer).
#[inline(always)]
pub fn fill_identity<M: Kmem>(ev: &mut ExecEvent, task: u64) {
    if M::DIRECT {
        ev.pid = M::read(task, off!(task_tgid)).unwrap_or(0);
        ev.tid = M::read(task, off!(task_pid)).unwrap_or(0);
        ev.comm = comm::<M>(task);
        ev.cgroup_id = match cgroup_id::<M>(task) {
            Some(id) => id,
            // SAFETY: plain helper call.
            None => unsafe { bpf_get_current_cgroup_id() },
        };
    } else {
        let pid_tgid = bpf_get_current_pid_tgid();
        ev.pid = (pid_tgid >> 32) as u32;
        ev.tid = pid_tgid as u32;
        let uid_gid = bpf_get_current_uid_gid();
        ev.uid = uid_gid as u32;
        ev.gid = (uid_gid >> 32) as u32;
        // SAFETY: plain helper call.
        ev.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
        ev.comm = bpf_get_current_comm().unwrap_or_default();
    }
    fill_parent::<M>(ev, task);
    fill_creds::<M>(ev, task);
    fill_session::<M>(ev, task);
}

#[inline(always)]
fn fill_parent<M: Kmem>(ev: &mut ExecEvent, task: u64) {
    let parent: u64 = M::read(task, off!(task_real_parent)).unwrap_or(0);
    ev.ppid = M::read(parent, off!(task_tgid)).unwrap_or(0);
    ev.parent_comm = comm::<M>(parent);
}

/// A task's `comm`, read as two words (a direct load is at most 8 bytes).
#[inline(always)]
fn comm<M: Kmem>(task: u64) -> [u8; 16] {
    let at = off!(task_comm);
    let mut comm = [0u8; 16];
    if let (Some(a), Some(b)) = M::read_pair::<u64>(task, at, at.wrapping_add(8)) {
        comm[..8].copy_from_slice(&a.to_ne_bytes());
        comm[8..].copy_from_slice(&b.to_ne_bytes());
    }
    comm
}

/// The id of the task's cgroup in the default hierarchy (`task->cgroups->dfl_cgrp->kn->id`,
/// as `bpf_get_current_cgroup_id` reads it); `None` where a field is missing.
#[inline(always)]
fn cgroup_id<M: Kmem>(task: u64) -> Option<u64> {
    let css_set: u64 = M::read(task, off!(task_cgroups))?;
    let cgroup: u64 = M::read(css_set, off!(css_set_dfl_cgrp))?;
    let kn: u64 = M::read(cgroup, off!(cgroup_kn))?;
    M::read(kn, off!(kernfs_node_id))
}

#[inline(always)]
fn fill_creds<M: Kmem>(ev: &mut ExecEvent, task: u64) {
    let cred: u64 = M::read(task, off!(task_cred)).unwrap_or(0);
    if M::DIRECT {
        ev.uid = M::read(cred, off!(cred_uid)).unwrap_or(u32::MAX);
        ev.gid = M::read(cred, off!(cred_gid)).unwrap_or(u32::MAX);
    }
    let (euid, egid) = M::read_pair(cred, off!(cred_euid), off!(cred_egid));
    ev.euid = euid.unwrap_or(u32::MAX);
    ev.egid = egid.unwrap_or(u32::MAX);
}

#[inline(always)]
fn fill_session<M: Kmem>(ev: &mut ExecEvent, task: u64) {
    let (loginuid, sessionid) = M::read_pair(task, off!(task_loginuid), off!(task_sessionid));
    ev.loginuid = loginuid.unwrap_or(u32::MAX);
    ev.sessionid = sessionid.unwrap_or(u32::MAX);
    let signal: u64 = M::read(task, off!(task_signal)).unwrap_or(0);
    let tty: u64 = M::read(signal, off!(signal_tty)).unwrap_or(0);
    if tty != 0 {
        set_flags(ev, FLAG_TTY);
    }
    let sid_pid: u64 = M::read(signal, off!(signal_sid_pid)).unwrap_or(0);
    ev.sid = M::read(sid_pid, off!(pid_nr)).unwrap_or(0);
}
