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
    helpers::generated::{bpf_loop, bpf_probe_read_kernel, bpf_probe_read_kernel_str},
    macros::map,
    maps::PerCpuArray,
};
use guard_common::{
    config::{DENTRY_SPAN_MAX, OFFSET_MISSING},
    event::{DATA_OFF_MASK, EXE_DEPTH, NAME_CAP},
};

use crate::config::{Kmem, kread, kread_near, off};

/// Where the walk is.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Walk {
    dentry: u64,
    mnt: u64,
    /// `mnt`'s root dentry, parent mount and mountpoint there, read when the walk
    /// enters the mount.
    root: u64,
    parent_mnt: u64,
    mountpoint: u64,
    pos: u64,
    done: u64,
    /// One read of the current dentry from `d_parent` on (see `KernelOffsets::dentry_span`).
    buf: [u64; SPAN_WORDS],
}

const SPAN_WORDS: usize = DENTRY_SPAN_MAX as usize / 8;

#[map]
static WALK: PerCpuArray<Walk> = PerCpuArray::with_max_entries(1, 0);

#[repr(C)]
struct WalkCtx {
    data: *mut u8,
    walk: *mut Walk,
}

/// Writes the path components of `file` at `data[start..]`. Returns the bytes written
/// and whether the walk reached the root within `EXE_DEPTH` steps. `M` reads `file`'s
/// own fields; the walk itself reads through helpers (its pointers live in map memory).
#[inline(always)]
pub fn write_file_path<M: Kmem>(data: *mut u8, start: usize, file: u64) -> (usize, bool) {
    let f_path = off!(file_f_path);
    if f_path == OFFSET_MISSING {
        return (0, false);
    }
    let (Some(dentry), Some(vfsmnt)) = (
        M::read::<u64>(file, f_path.wrapping_add(off!(path_dentry))),
        M::read::<u64>(file, f_path.wrapping_add(off!(path_mnt))),
    ) else {
        return (0, false);
    };
    let Some(walk) = WALK.get_ptr_mut(0) else {
        return (0, false);
    };
    let mnt = vfsmnt.wrapping_sub(u64::from(off!(mount_mnt)));
    // SAFETY: this CPU's slot.
    unsafe {
        enter_mount(&mut *walk, mnt);
        (*walk).dentry = dentry;
        (*walk).pos = start as u64;
        (*walk).done = 0;
    }
    let mut ctx = WalkCtx { data, walk };
    // SAFETY: the callback writes masked offsets of the scratch data only.
    unsafe { bpf_loop(EXE_DEPTH as u32, walk_step as *mut _, (&raw mut ctx).cast(), 0) };
    // SAFETY: as above.
    let (pos, done) = unsafe { ((*walk).pos, (*walk).done) };
    ((pos as usize).wrapping_sub(start) & DATA_OFF_MASK, done != 0)
}

/// Moves the walk into the `struct mount` at `mnt`: its parent mount, its mountpoint
/// there and its root dentry. In every layout we know (`mnt_parent`, `mnt_mountpoint`,
/// then the embedded `vfsmount` whose first field is `mnt_root`) that is one read.
#[inline(always)]
fn enter_mount(w: &mut Walk, mnt: u64) {
    let parent = off!(mount_mnt_parent);
    let root_at = off!(mount_mnt).wrapping_add(off!(vfsmount_mnt_root));
    let adjacent = off!(mount_mnt_mountpoint).wrapping_sub(parent) == 8 && root_at.wrapping_sub(parent) == 16;
    let (parent_mnt, mountpoint, root) = if adjacent {
        match kread::<[u64; 3]>(mnt, parent) {
            Some([p, m, r]) => (p, m, r),
            None => (0, 0, 0),
        }
    } else {
        let (p, m) = kread_near(mnt, parent, off!(mount_mnt_mountpoint));
        (p.unwrap_or(0), m.unwrap_or(0), kread(mnt, root_at).unwrap_or(0))
    };
    w.mnt = mnt;
    w.parent_mnt = parent_mnt;
    w.mountpoint = mountpoint;
    w.root = root;
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
        let (parent, mountpoint) = (w.parent_mnt, w.mountpoint);
        if parent == w.mnt || parent == 0 {
            w.done = 1;
            return 1;
        }
        w.dentry = mountpoint;
        enter_mount(w, parent);
        return 0;
    }
    let span = off!(dentry_span);
    if span != OFFSET_MISSING {
        return inline_step(data, w, span);
    }
    let (parent, name) = kread_near(w.dentry, off!(dentry_d_parent), off!(dentry_name));
    let parent = parent.unwrap_or(0);
    if parent == w.dentry || parent == 0 {
        w.done = 1;
        return 1;
    }
    name_step(data, w, name.unwrap_or(0), parent)
}

/// A step with one read: the parent, the name's pointer and length, and the inline
/// name come together; only a name too long for the inline buffer costs a second read.
#[inline(always)]
fn inline_step(data: *mut u8, w: &mut Walk, span: u32) -> i64 {
    let base = off!(dentry_d_parent);
    // SAFETY: `buf` is ours and `span` is at most its size (checked by the agent and
    // masked here); the helper checks the source address.
    let ret = unsafe {
        bpf_probe_read_kernel(
            w.buf.as_mut_ptr().cast(),
            span.min(DENTRY_SPAN_MAX),
            (w.dentry + u64::from(base)) as *const _,
        )
    };
    let parent = w.buf[0];
    if ret != 0 || parent == w.dentry || parent == 0 {
        w.done = 1;
        return 1;
    }
    let name: u64 = word(&w.buf, off!(dentry_name).wrapping_sub(base));
    let len = word(&w.buf, off!(dentry_name_len).wrapping_sub(base)) as u32;
    let iname = off!(dentry_iname);
    let inline_len = base.wrapping_add(span).wrapping_sub(iname);
    if name != w.dentry + u64::from(iname) || len >= inline_len {
        return name_step(data, w, name, parent);
    }
    // Copy the whole inline buffer word by word (a count the verifier knows, so the
    // loop does not branch on the name's length), then end the name with a NUL: the
    // bytes past it are overwritten by what follows.
    let from = iname.wrapping_sub(base) as usize;
    let at = w.pos as usize & DATA_OFF_MASK;
    let words = (inline_len as usize).div_ceil(8).min(SPAN_WORDS);
    let mut i = 0;
    while i < words {
        let word: u64 = word(&w.buf, (from + i * 8) as u32);
        // SAFETY: a masked offset plus at most DENTRY_SPAN_MAX bytes stays inside the
        // scratch data (its slack is NAME_CAP).
        unsafe { core::ptr::write_unaligned(data.add(at + i * 8).cast::<u64>(), word) };
        i += 1;
    }
    // SAFETY: as above.
    unsafe { *data.add(at + (len as usize & 0xff)) = 0 };
    w.pos = (w.pos + u64::from(len) + 1) & DATA_OFF_MASK as u64;
    w.dentry = parent;
    0
}

/// The 8 bytes at byte `at` of the buffer (zero past its end), unaligned.
#[inline(always)]
fn word(buf: &[u64; SPAN_WORDS], at: u32) -> u64 {
    let at = at as usize;
    if at > DENTRY_SPAN_MAX as usize - 8 {
        return 0;
    }
    // SAFETY: `at + 8` is within the buffer.
    unsafe { core::ptr::read_unaligned(buf.as_ptr().cast::<u8>().add(at).cast::<u64>()) }
}

/// Copies the name at `name` (a second read) and moves up to `parent`.
#[inline(always)]
fn name_step(data: *mut u8, w: &mut Walk, name: u64, parent: u64) -> i64 {
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
