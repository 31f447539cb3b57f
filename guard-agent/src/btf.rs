//! Kernel struct offsets from the running kernel's BTF (`/sys/kernel/btf/vmlinux`).
//!
//! The eBPF programs have no CO-RE relocations, so every field they read is located
//! here at start-up and handed to them as a load-time global.

use btf_rs::{Btf, Type};
use guard_common::config::{DENTRY_SPAN_MAX, KernelOffsets, OFFSET_MISSING};

/// Where the kernel exposes its own BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("cannot read kernel BTF at {path}")]
    Read {
        path: String,
        #[source]
        source: btf_rs::Error,
    },
    #[error("kernel BTF has no struct {0}")]
    NoStruct(String),
    #[error("kernel BTF: struct {strukt} has no field {field}")]
    NoField { strukt: String, field: String },
    #[error("kernel BTF: {0}")]
    Parse(#[from] btf_rs::Error),
}

/// The running kernel's type information.
pub struct KernelBtf {
    btf: Btf,
}

impl KernelBtf {
    /// Reads `/sys/kernel/btf/vmlinux`.
    pub fn load() -> Result<Self, BtfError> {
        Self::from_file(VMLINUX_BTF)
    }

    pub fn from_file(path: &str) -> Result<Self, BtfError> {
        let btf = Btf::from_file(path)
            .map_err(|source| BtfError::Read { path: path.to_owned(), source })?;
        Ok(Self { btf })
    }

    /// Byte offset of `path` inside `struct strukt`. `path` is dot-separated field
    /// names, each optionally indexed (`pids[3]`, `numbers[0].nr`); fields inside
    /// anonymous structs and unions are found as if they were direct members.
    pub fn offset(&self, strukt: &str, path: &str) -> Result<u32, BtfError> {
        Ok(self.locate(strukt, path)?.0)
    }

    /// Byte offset and size of `path` inside `struct strukt` (as [`Self::offset`]).
    pub fn field(&self, strukt: &str, path: &str) -> Result<(u32, u32), BtfError> {
        let (offset, ty) = self.locate(strukt, path)?;
        Ok((offset, self.size_of(&ty)?))
    }

    fn locate(&self, strukt: &str, path: &str) -> Result<(u32, Type), BtfError> {
        let mut ty = self.find_struct(strukt)?;
        let mut total_bits = 0u32;
        for part in path.split('.') {
            let (name, index) = split_index(part);
            let (bits, member_ty) = self
                .find_member(&ty, name)?
                .ok_or_else(|| BtfError::NoField { strukt: strukt.into(), field: path.into() })?;
            total_bits += bits;
            ty = self.skip_modifiers(member_ty)?;
            if let Some(index) = index {
                let Type::Array(array) = &ty else {
                    return Err(BtfError::NoField { strukt: strukt.into(), field: path.into() });
                };
                let elem = self.skip_modifiers(self.btf.resolve_chained_type(array)?)?;
                total_bits += 8 * index * self.size_of(&elem)?;
                ty = elem;
            }
        }
        Ok((total_bits / 8, ty))
    }

    /// Like [`Self::offset`], but a missing struct or field becomes `OFFSET_MISSING`.
    pub fn offset_or_missing(&self, strukt: &str, path: &str) -> u32 {
        self.offset(strukt, path).unwrap_or(OFFSET_MISSING)
    }

    fn find_struct(&self, name: &str) -> Result<Type, BtfError> {
        self.btf
            .resolve_types_by_name(name)
            .unwrap_or_default()
            .into_iter()
            .find(|t| matches!(t, Type::Struct(_)))
            .ok_or_else(|| BtfError::NoStruct(name.into()))
    }

    /// Finds `name` among the members of a struct or union, descending into anonymous
    /// members. Returns the member's bit offset and type.
    fn find_member(&self, ty: &Type, name: &str) -> Result<Option<(u32, Type)>, BtfError> {
        let (Type::Struct(s) | Type::Union(s)) = ty else { return Ok(None) };
        for member in &s.members {
            let member_name = self.btf.resolve_name(member).unwrap_or_default();
            let member_ty = self.btf.resolve_chained_type(member)?;
            if member_name == name {
                return Ok(Some((member.bit_offset(), member_ty)));
            }
            if member_name.is_empty() {
                let inner = self.skip_modifiers(member_ty)?;
                if let Some((bits, found)) = self.find_member(&inner, name)? {
                    return Ok(Some((member.bit_offset() + bits, found)));
                }
            }
        }
        Ok(None)
    }

    /// Follows typedefs and qualifiers to the underlying type.
    fn skip_modifiers(&self, mut ty: Type) -> Result<Type, BtfError> {
        for _ in 0..32 {
            ty = match &ty {
                Type::Typedef(t) => self.btf.resolve_chained_type(t)?,
                Type::Const(t) => self.btf.resolve_chained_type(t)?,
                Type::Volatile(t) => self.btf.resolve_chained_type(t)?,
                Type::Restrict(t) => self.btf.resolve_chained_type(t)?,
                Type::TypeTag(t) => self.btf.resolve_chained_type(t)?,
                _ => return Ok(ty),
            };
        }
        Ok(ty)
    }

    fn size_of(&self, ty: &Type) -> Result<u32, BtfError> {
        let size = match ty {
            Type::Ptr(_) => 8,
            Type::Int(i) => i.size(),
            Type::Struct(s) | Type::Union(s) => s.size(),
            Type::Enum(e) => e.size(),
            Type::Array(a) => {
                let elem = self.skip_modifiers(self.btf.resolve_chained_type(a)?)?;
                a.len() * self.size_of(&elem)? as usize
            }
            other => {
                let resolved = self.skip_modifiers(other.clone())?;
                return if matches!(resolved, Type::Typedef(_)) { Ok(0) } else { self.size_of(&resolved) };
            }
        };
        Ok(size as u32)
    }
}

fn split_index(part: &str) -> (&str, Option<u32>) {
    match part.split_once('[') {
        Some((name, rest)) => (name, rest.trim_end_matches(']').parse().ok()),
        None => (part, None),
    }
}

/// Resolves every offset the programs need. Fields the programs can live without
/// (audit login uid and session, absent without CONFIG_AUDIT) may be missing; the
/// others are required.
pub fn kernel_offsets(btf: &KernelBtf) -> Result<KernelOffsets, BtfError> {
    let o = |s: &str, f: &str| btf.offset(s, f);
    let d_parent = o("dentry", "d_parent")?;
    let d_name = o("dentry", "d_name.name")?;
    let d_name_len = btf.offset_or_missing("dentry", "d_name.len");
    let iname = btf.field("dentry", "d_iname").or_else(|_| btf.field("dentry", "d_shortname")).ok();
    Ok(KernelOffsets {
        task_real_parent: o("task_struct", "real_parent")?,
        task_tgid: o("task_struct", "tgid")?,
        task_comm: o("task_struct", "comm")?,
        task_cred: o("task_struct", "cred")?,
        task_mm: o("task_struct", "mm")?,
        task_signal: o("task_struct", "signal")?,
        task_loginuid: btf.offset_or_missing("task_struct", "loginuid"),
        task_sessionid: btf.offset_or_missing("task_struct", "sessionid"),
        cred_euid: o("cred", "euid")?,
        cred_egid: o("cred", "egid")?,
        signal_tty: o("signal_struct", "tty")?,
        signal_sid_pid: btf.offset_or_missing("signal_struct", "pids[3]"),
        pid_nr: o("pid", "numbers[0].nr")?,
        mm_arg_start: o("mm_struct", "arg_start")?,
        mm_arg_end: o("mm_struct", "arg_end")?,
        bprm_file: o("linux_binprm", "file")?,
        bprm_filename: o("linux_binprm", "filename")?,
        bprm_interp: o("linux_binprm", "interp")?,
        bprm_argc: o("linux_binprm", "argc")?,
        file_f_path: o("file", "f_path")?,
        path_mnt: o("path", "mnt")?,
        path_dentry: o("path", "dentry")?,
        dentry_d_parent: d_parent,
        dentry_name: d_name,
        vfsmount_mnt_root: o("vfsmount", "mnt_root")?,
        mount_mnt: o("mount", "mnt")?,
        mount_mnt_parent: o("mount", "mnt_parent")?,
        mount_mnt_mountpoint: o("mount", "mnt_mountpoint")?,
        dentry_name_len: d_name_len,
        dentry_iname: iname.map_or(OFFSET_MISSING, |(at, _)| at),
        dentry_span: dentry_span(d_parent, d_name, d_name_len, iname),
        task_pid: o("task_struct", "pid")?,
        cred_uid: o("cred", "uid")?,
        cred_gid: o("cred", "gid")?,
        // The default hierarchy's cgroup id (what bpf_get_current_cgroup_id returns);
        // without CONFIG_CGROUPS the programs use that helper instead.
        task_cgroups: btf.offset_or_missing("task_struct", "cgroups"),
        css_set_dfl_cgrp: btf.offset_or_missing("css_set", "dfl_cgrp"),
        cgroup_kn: btf.offset_or_missing("cgroup", "kn"),
        kernfs_node_id: btf.offset_or_missing("kernfs_node", "id"),
        regs_syscall_nr: btf.offset_or_missing("pt_regs", SYSCALL_REGS[0]),
        regs_arg0: btf.offset_or_missing("pt_regs", SYSCALL_REGS[1]),
        regs_arg1: btf.offset_or_missing("pt_regs", SYSCALL_REGS[2]),
        regs_arg2: btf.offset_or_missing("pt_regs", SYSCALL_REGS[3]),
        nr_execve: libc::SYS_execve as u32,
        nr_execveat: libc::SYS_execveat as u32,
    })
}

/// The `struct pt_regs` fields holding a syscall's number and its first three
/// arguments, as they are when the syscall returns (the return value has replaced the
/// first argument's register on arm64, which keeps that argument in `orig_x0`).
#[cfg(target_arch = "x86_64")]
const SYSCALL_REGS: [&str; 4] = ["orig_ax", "di", "si", "dx"];
#[cfg(target_arch = "aarch64")]
const SYSCALL_REGS: [&str; 4] = ["syscallno", "orig_x0", "regs[1]", "regs[2]"];

/// How many bytes from `d_parent` cover the name's pointer, its length and the inline
/// name, when all lie after `d_parent` within `DENTRY_SPAN_MAX` bytes (true of every
/// kernel since the inline name moved next to `d_name`); else `OFFSET_MISSING`.
fn dentry_span(d_parent: u32, d_name: u32, d_name_len: u32, iname: Option<(u32, u32)>) -> u32 {
    let Some((at, size)) = iname else { return OFFSET_MISSING };
    if d_name_len == OFFSET_MISSING || size == 0 || [d_name, d_name_len, at].iter().any(|&o| o < d_parent) {
        return OFFSET_MISSING;
    }
    let span = at + size - d_parent;
    if span > DENTRY_SPAN_MAX || d_name + 8 - d_parent > span || d_name_len + 4 - d_parent > span {
        return OFFSET_MISSING;
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_syntax_is_split() {
        assert_eq!(split_index("pids[3]"), ("pids", Some(3)));
        assert_eq!(split_index("tgid"), ("tgid", None));
    }

    /// Runs against the build machine's own kernel BTF, which every supported kernel
    /// has; the resolved offsets must be plausible and distinct.
    #[test]
    fn resolves_offsets_from_running_kernel() {
        let btf = KernelBtf::load().expect("this kernel exposes BTF");
        let off = kernel_offsets(&btf).expect("all required fields resolve");
        assert!(off.task_tgid > 0 && off.task_comm > 0 && off.task_tgid != off.task_comm);
        assert_ne!(off.mm_arg_start, off.mm_arg_end);
        assert_eq!(off.mm_arg_end - off.mm_arg_start, 8, "arg_start and arg_end are adjacent");
        assert_eq!(btf.offset("path", "dentry").unwrap(), 8, "struct path is {{mnt, dentry}}");
        assert!(btf.offset("task_struct", "no_such_field").is_err());
        // Every kernel we run on keeps the inline name next to d_name: one read a step.
        assert_ne!(off.dentry_span, OFFSET_MISSING, "the path walk reads a dentry at once");
        assert!(off.dentry_iname > off.dentry_name && off.dentry_name_len > off.dentry_d_parent);
    }

    #[test]
    fn dentry_span_covers_name_and_inline_name_or_is_missing() {
        // 6.1: d_parent@24, d_name{hash, len, name}@32, d_inode@48, d_iname[32]@56.
        assert_eq!(dentry_span(24, 40, 36, Some((56, 32))), 64);
        // 6.12 and later: a 40-byte inline name.
        assert_eq!(dentry_span(24, 40, 36, Some((56, 40))), 72);
        // No inline name, a name before d_parent, or too far apart: the two-read walk.
        assert_eq!(dentry_span(24, 40, 36, None), OFFSET_MISSING);
        assert_eq!(dentry_span(24, 16, 36, Some((56, 40))), OFFSET_MISSING);
        assert_eq!(dentry_span(24, 40, 36, Some((24 + DENTRY_SPAN_MAX, 8))), OFFSET_MISSING);
        assert_eq!(dentry_span(24, 40, OFFSET_MISSING, Some((56, 40))), OFFSET_MISSING);
    }
}
