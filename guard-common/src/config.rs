//! Load-time configuration of the eBPF programs: kernel struct offsets resolved by the
//! agent from the running kernel's BTF, set as a read-only global before load.

/// Marks an offset the running kernel does not have; the programs skip that field.
pub const OFFSET_MISSING: u32 = u32::MAX;

/// Byte offsets of the kernel struct fields the programs read.
///
/// Rust eBPF has no CO-RE relocations, so nothing here is baked in from one kernel's
/// headers: the agent fills every field from `/sys/kernel/btf/vmlinux` at start-up.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelOffsets {
    pub task_real_parent: u32,
    pub task_tgid: u32,
    pub task_comm: u32,
    pub task_cred: u32,
    pub task_mm: u32,
    pub task_signal: u32,
    pub task_loginuid: u32,
    pub task_sessionid: u32,
    pub cred_euid: u32,
    pub cred_egid: u32,
    pub signal_tty: u32,
    /// `signal_struct.pids[PIDTYPE_SID]`.
    pub signal_sid_pid: u32,
    /// `struct pid.numbers[0].nr`.
    pub pid_nr: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    pub bprm_file: u32,
    pub bprm_filename: u32,
    pub bprm_interp: u32,
    pub bprm_argc: u32,
    pub file_f_path: u32,
    pub path_mnt: u32,
    pub path_dentry: u32,
    pub dentry_d_parent: u32,
    /// `dentry.d_name.name`.
    pub dentry_name: u32,
    pub vfsmount_mnt_root: u32,
    /// Offset of the embedded `struct vfsmount mnt` inside `struct mount`.
    pub mount_mnt: u32,
    pub mount_mnt_parent: u32,
    pub mount_mnt_mountpoint: u32,
    /// `dentry.d_name.len`.
    pub dentry_name_len: u32,
    /// The dentry's inline name buffer (`d_iname`, `d_shortname` since 6.14), where
    /// names shorter than it are kept.
    pub dentry_iname: u32,
    /// Bytes from `d_parent` to the end of the inline name when the path walk can read
    /// the parent, the name's pointer and length and the inline name in one read
    /// (at most [`DENTRY_SPAN_MAX`]); `OFFSET_MISSING` when the layout does not allow it.
    pub dentry_span: u32,
    pub task_pid: u32,
    pub cred_uid: u32,
    pub cred_gid: u32,
    pub task_cgroups: u32,
    pub css_set_dfl_cgrp: u32,
    pub cgroup_kn: u32,
    pub kernfs_node_id: u32,
    /// Where the exec syscall's number and first three arguments are in the caller's
    /// saved user registers (`struct pt_regs`; on x86-64 `orig_ax`, `di`, `si`, `dx`).
    pub regs_syscall_nr: u32,
    pub regs_arg0: u32,
    pub regs_arg1: u32,
    pub regs_arg2: u32,
    /// This architecture's syscall numbers of execve and execveat (not offsets; they
    /// travel with the offsets because both describe the running kernel).
    pub nr_execve: u32,
    pub nr_execveat: u32,
}

/// The most the path walk reads of a dentry at once (see `KernelOffsets::dentry_span`).
pub const DENTRY_SPAN_MAX: u32 = 96;

impl KernelOffsets {
    /// All offsets missing: the programs then report only what needs no struct reads.
    pub const MISSING: Self = Self {
        task_real_parent: OFFSET_MISSING,
        task_tgid: OFFSET_MISSING,
        task_comm: OFFSET_MISSING,
        task_cred: OFFSET_MISSING,
        task_mm: OFFSET_MISSING,
        task_signal: OFFSET_MISSING,
        task_loginuid: OFFSET_MISSING,
        task_sessionid: OFFSET_MISSING,
        cred_euid: OFFSET_MISSING,
        cred_egid: OFFSET_MISSING,
        signal_tty: OFFSET_MISSING,
        signal_sid_pid: OFFSET_MISSING,
        pid_nr: OFFSET_MISSING,
        mm_arg_start: OFFSET_MISSING,
        mm_arg_end: OFFSET_MISSING,
        bprm_file: OFFSET_MISSING,
        bprm_filename: OFFSET_MISSING,
        bprm_interp: OFFSET_MISSING,
        bprm_argc: OFFSET_MISSING,
        file_f_path: OFFSET_MISSING,
        path_mnt: OFFSET_MISSING,
        path_dentry: OFFSET_MISSING,
        dentry_d_parent: OFFSET_MISSING,
        dentry_name: OFFSET_MISSING,
        vfsmount_mnt_root: OFFSET_MISSING,
        mount_mnt: OFFSET_MISSING,
        mount_mnt_parent: OFFSET_MISSING,
        mount_mnt_mountpoint: OFFSET_MISSING,
        dentry_name_len: OFFSET_MISSING,
        dentry_iname: OFFSET_MISSING,
        dentry_span: OFFSET_MISSING,
        task_pid: OFFSET_MISSING,
        cred_uid: OFFSET_MISSING,
        cred_gid: OFFSET_MISSING,
        task_cgroups: OFFSET_MISSING,
        css_set_dfl_cgrp: OFFSET_MISSING,
        cgroup_kn: OFFSET_MISSING,
        kernfs_node_id: OFFSET_MISSING,
        regs_syscall_nr: OFFSET_MISSING,
        regs_arg0: OFFSET_MISSING,
        regs_arg1: OFFSET_MISSING,
        regs_arg2: OFFSET_MISSING,
        nr_execve: OFFSET_MISSING,
        nr_execveat: OFFSET_MISSING,
    };
}

const _: () = assert!(size_of::<KernelOffsets>() == 44 * 4);

#[cfg(feature = "user")]
// SAFETY: only u32 fields, no padding.
unsafe impl aya::Pod for KernelOffsets {}

/// The most slots the loader gives the tid-indexed exec stash (32 bytes each); threads
/// with a larger tid use the stash's hash map.
pub const STASH_SLOTS_MAX: u32 = 65536;
