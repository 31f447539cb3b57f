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

/// Reads the `T`s at `base + a` and `base + b` with one read when `b` directly follows
/// `a` (as in most kernels' layouts), else with two. Each helper call costs more than
/// the bytes it copies, so fields that sit together are fetched together.
#[inline(always)]
pub fn kread_pair<T: Copy + Default>(base: u64, a: u32, b: u32) -> (Option<T>, Option<T>) {
    if a != OFFSET_MISSING && b != OFFSET_MISSING && b.wrapping_sub(a) == size_of::<T>() as u32 {
        return match kread::<[T; 2]>(base, a) {
            Some([x, y]) => (Some(x), Some(y)),
            None => (None, None),
        };
    }
    (kread(base, a), kread(base, b))
}

/// Reads the pointers at `base + a` and `base + b`, where `b` lies one or two words
/// after `a`, with one read; else with two.
#[inline(always)]
pub fn kread_near(base: u64, a: u32, b: u32) -> (Option<u64>, Option<u64>) {
    if a != OFFSET_MISSING && b != OFFSET_MISSING {
        let gap = b.wrapping_sub(a);
        if gap == 8 || gap == 16 {
            return match kread::<[u64; 3]>(base, a) {
                Some(words) => (Some(words[0]), Some(if gap == 8 { words[1] } else { words[2] })),
                None => (None, None),
            };
        }
    }
    (kread(base, a), kread(base, b))
}
