//! The resolved path of the executed file, walked up the dentry and mount chain.
//!
//! `bpf_d_path` is not allowed in tracepoints, so the walk is done by hand: component
//! names from the leaf up to the namespace root, each NUL-terminated, crossing mount
//! points through `struct mount`. User space reverses the components.

use aya_ebpf::helpers::generated::bpf_probe_read_kernel_str;
use guard_common::event::{DATA_OFF_MASK, EXE_DEPTH, NAME_CAP};

use crate::config::{kread, off};

/// Writes the path components of `file` at `data[off..]`. Returns the bytes written and
/// whether the walk reached the root within `EXE_DEPTH` steps.
#[inline(always)]
pub fn write_file_path(data: *mut u8, start: usize, file: u64) -> (usize, bool) {
    let f_path = file.wrapping_add(u64::from(off!(file_f_path)));
    let Some(mut dentry) = kread::<u64>(f_path, off!(path_dentry)) else {
        return (0, false);
    };
    let Some(vfsmnt) = kread::<u64>(f_path, off!(path_mnt)) else {
        return (0, false);
    };
    let mount_mnt = u64::from(off!(mount_mnt));
    let mut mnt = vfsmnt.wrapping_sub(mount_mnt);
    let mut pos = start;
    for _ in 0..EXE_DEPTH {
        let vfs = mnt.wrapping_add(mount_mnt);
        let root: u64 = kread(vfs, off!(vfsmount_mnt_root)).unwrap_or(0);
        if dentry == root {
            let parent: u64 = kread(mnt, off!(mount_mnt_parent)).unwrap_or(0);
            if parent == mnt || parent == 0 {
                return (pos - start, true);
            }
            dentry = kread(mnt, off!(mount_mnt_mountpoint)).unwrap_or(0);
            mnt = parent;
            continue;
        }
        let parent: u64 = kread(dentry, off!(dentry_d_parent)).unwrap_or(0);
        if parent == dentry || parent == 0 {
            return (pos - start, true);
        }
        let name: u64 = kread(dentry, off!(dentry_name)).unwrap_or(0);
        // SAFETY: the masked offset plus NAME_CAP stays inside the scratch data.
        let n = unsafe {
            bpf_probe_read_kernel_str(
                data.add(pos & DATA_OFF_MASK).cast(),
                NAME_CAP as u32,
                name as *const _,
            )
        };
        if n > 0 {
            // Masking keeps `pos` in one range on every branch, so the verifier can
            // prune the walk's paths instead of exploring 2^depth of them.
            pos = (pos + n as usize) & DATA_OFF_MASK;
        }
        dentry = parent;
    }
    (pos - start, false)
}
