//! Load-time configuration: kernel struct offsets, and a checked kernel read.

use aya_ebpf::helpers::generated::bpf_probe_read_kernel;
use guard_common::config::{KernelOffsets, OFFSET_MISSING};

/// Set by the agent with `override_global("OFFSETS", ..)` before load.
#[unsafe(no_mangle)]
pub(crate) static OFFSETS: KernelOffsets = KernelOffsets::MISSING;

/// Reads one offset; volatile so the compiler cannot fold the placeholder value.
macro_rules! off {
    ($field:ident) => {
        // SAFETY: reading a field of an immutable global.
        unsafe { core::ptr::read_volatile(&raw const $crate::config::OFFSETS.$field) }
    };
}
pub(crate) use off;

/// Reads a `T` at `base + off` from kernel memory; `None` when the base is null, the
/// offset is unknown on this kernel, or the read fails.
#[inline(always)]
pub fn kread<T: Copy + Default>(base: u64, off: u32) -> Option<T> {
    if base == 0 || off == OFFSET_MISSING {
        return None;
    }
    let mut value = T::default();
    // SAFETY: bpf_probe_read_kernel checks the source address; the destination is ours.
    let ret = unsafe {
        bpf_probe_read_kernel(
            (&raw mut value).cast(),
            size_of::<T>() as u32,
            (base + u64::from(off)) as *const _,
        )
    };
    if ret == 0 { Some(value) } else { None }
}
