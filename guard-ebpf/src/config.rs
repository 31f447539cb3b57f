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

/// How a program reads kernel memory.
///
/// Programs with BTF-typed arguments (`tp_btf`, LSM) may load fields of those objects
/// directly: the verifier checks each load against the kernel's BTF and the JIT turns
/// it into a plain load with a fault handler. The offsets are known constants to the
/// verifier (`OFFSETS` is a frozen read-only map), which such loads require. Other
/// programs, and pointers that lost their type (kept in map memory, or computed with
/// `container_of`), go through `bpf_probe_read_kernel`, which costs a helper call per
/// read: several times a direct load.
pub trait Kmem {
    /// Whether reads are direct loads (then the current task's own ids, comm and
    /// cgroup are read from it too, rather than through helpers).
    const DIRECT: bool;
    /// The `T` at `base + off`; `None` when the base is null, the offset is unknown on
    /// this kernel, or the read fails.
    fn read<T: Copy + Default>(base: u64, off: u32) -> Option<T>;
    /// The `T`s at `base + a` and `base + b`.
    fn read_pair<T: Copy + Default>(base: u64, a: u32, b: u32) -> (Option<T>, Option<T>);
}

/// Reads through `bpf_probe_read_kernel`: any address.
pub struct Probe;

impl Kmem for Probe {
    const DIRECT: bool = false;
    #[inline(always)]
    fn read<T: Copy + Default>(base: u64, off: u32) -> Option<T> {
        kread(base, off)
    }
    #[inline(always)]
    fn read_pair<T: Copy + Default>(base: u64, a: u32, b: u32) -> (Option<T>, Option<T>) {
        kread_pair(base, a, b)
    }
}

/// Direct loads: `base` must be a BTF-typed pointer the verifier knows (a program
/// argument, or a pointer field loaded from one), and `T` the field's own size (a
/// load may not span two fields).
pub struct Typed;

impl Kmem for Typed {
    const DIRECT: bool = true;
    #[inline(always)]
    fn read<T: Copy + Default>(base: u64, off: u32) -> Option<T> {
        if base == 0 || off == OFFSET_MISSING {
            return None;
        }
        // SAFETY: the verifier checks the load against BTF; a fault reads zero.
        Some(unsafe { core::ptr::read_volatile((base + u64::from(off)) as *const T) })
    }
    #[inline(always)]
    fn read_pair<T: Copy + Default>(base: u64, a: u32, b: u32) -> (Option<T>, Option<T>) {
        (Self::read(base, a), Self::read(base, b))
    }
}

/// Reads a `T` at `base + off` from kernel memory; `None` when the base is null, the
/// offset is unknown on this kernel, or the read fails.
#[inline(always)]
pub fn kread<T: Copy + Default>(base: u64, off: u32) -> Option<T> {
    if base == 0 || off == OFFSET_MISSING {
        return None;
    }
    // Not zeroed first: for a multi-word `T` that would be a call of the byte-wise
    // `memset` subprogram, and the helper writes every byte (zeroes on failure).
    let mut value = core::mem::MaybeUninit::<T>::uninit();
    // SAFETY: bpf_probe_read_kernel checks the source address; the destination is ours.
    let ret = unsafe {
        bpf_probe_read_kernel(
            value.as_mut_ptr().cast(),
            size_of::<T>() as u32,
            (base + u64::from(off)) as *const _,
        )
    };
    // SAFETY: a successful read wrote all of `value`.
    if ret == 0 { Some(unsafe { value.assume_init() }) } else { None }
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
