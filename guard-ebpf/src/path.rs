//! The resolved path of the executed file, walked up the dentry and mount chain.
//!
//! `bpf_d_path` is not allowed in tracepoints, so the walk is done by hand: component
//! names from the leaf up to the namespace root, each NUL-terminated, crossing mount
//! points through `struct mount`. User space reverses the components.
//!
//! Each step is a `bpf_loop` callback whose state lives in a per-CPU map: the verifier
//! checks the step once instead of every path through an unrolled walk, which would
//! multiply with everything the program does afterwards.

use aya_ebpf::{
    helpers::generated::{bpf_loop, bpf_probe_read_kernel_str},
    macros::map,
    maps::PerCpuArray,
};
use guard_common::event::{DATA_OFF_MASK, EXE_DEPTH, NAME_CAP};

use crate::config::{kread, kread_near, off};

/// Where the walk is.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Walk {
    dentry: u64,
    mnt: u64,
    /// `mnt`'s root dentry, read again only when the walk changes mounts.
    root: u64,
    pos: u64,
    done: u64,
}

#[map]
static WALK: PerCpuArray<Walk> = PerCpuArray::with_max_entries(1, 0);

#[repr(C)]
struct WalkCtx {
    data: *mut u8,
    walk: *mut Walk,
}

/// Writes the path components of `file` at `data[start..]`. Returns the bytes written
/// and whether the walk reached the root within `EXE_DEPTH` steps.
#[inline(always)]
pub fn write_file_path(data: *mut u8, start: usize, file: u64) -> (usize, bool) {
    let f_path = file.wrapping_add(u64::from(off!(file_f_path)));
    let (Some(dentry), Some(vfsmnt)) = (kread::<u64>(f_path, off!(path_dentry)), kread::<u64>(f_path, off!(path_mnt))) else {
        return (0, false);
    };
    let Some(walk) = WALK.get_ptr_mut(0) else {
        return (0, false);
    };
    let mnt = vfsmnt.wrapping_sub(u64::from(off!(mount_mnt)));
    let root = mount_root(mnt);
    // SAFETY: this CPU's slot.
    unsafe { *walk = Walk { dentry, mnt, root, pos: start as u64, done: 0 } };
    let mut ctx = WalkCtx { data, walk };
    // SAFETY: the callback writes masked offsets of the scratch data only.
    unsafe { bpf_loop(EXE_DEPTH as u32, walk_step as *mut _, (&raw mut ctx).cast(), 0) };
    // SAFETY: as above.
    let w = unsafe { *walk };
    ((w.pos as usize).wrapping_sub(start) & DATA_OFF_MASK, w.done != 0)
}

/// The root dentry of the `struct mount` at `mnt`.
#[inline(always)]
fn mount_root(mnt: u64) -> u64 {
    kread(mnt.wrapping_add(u64::from(off!(mount_mnt))), off!(vfsmount_mnt_root)).unwrap_or(0)
}

extern "C" fn walk_step(_index: u64, ctx: *mut core::ffi::c_void) -> i64 {
    // SAFETY: `ctx` is the WalkCtx on the caller's stack; `walk` is this CPU's slot.
    let (data, w) = unsafe {
        let ctx = &*ctx.cast::<WalkCtx>();
        if ctx.walk.is_null() {
            return 1;
        }
        (ctx.data, &mut *ctx.walk)
    };
    if w.dentry == w.root {
        let (parent, mountpoint) = kread_near(w.mnt, off!(mount_mnt_parent), off!(mount_mnt_mountpoint));
        let parent = parent.unwrap_or(0);
        if parent == w.mnt || parent == 0 {
            w.done = 1;
            return 1;
        }
        w.dentry = mountpoint.unwrap_or(0);
        w.mnt = parent;
        w.root = mount_root(parent);
        return 0;
    }
    let (parent, name) = kread_near(w.dentry, off!(dentry_d_parent), off!(dentry_name));
    let parent = parent.unwrap_or(0);
    if parent == w.dentry || parent == 0 {
        w.done = 1;
        return 1;
    }
    let name = name.unwrap_or(0);
    // SAFETY: the masked offset plus NAME_CAP stays inside the scratch data.
    let n = unsafe {
        bpf_probe_read_kernel_str(data.add(w.pos as usize & DATA_OFF_MASK).cast(), NAME_CAP as u32, name as *const _)
    };
    if n > 0 {
        w.pos = (w.pos + n as u64) & DATA_OFF_MASK as u64;
    }
    w.dentry = parent;
    0
}
