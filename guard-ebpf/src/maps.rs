//! The maps shared with user space, and the per-CPU scratch record.

use aya_ebpf::{
    helpers::generated::bpf_get_smp_processor_id,
    macros::map,
    maps::{Array, HashMap, PerCpuArray, RingBuf},
};
use guard_common::event::{ExecScratch, ExecStash, counter};

/// Exec records for the agent. Its size can be changed by the loader.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(16 * 1024 * 1024, 0);

/// Per-thread (keyed by tid) pointers from `sys_enter_execve(at)`.
#[map]
pub static STASH: HashMap<u32, ExecStash> = HashMap::with_max_entries(16384, 0);

/// One scratch record per CPU, indexed by CPU id. A plain array, not a per-CPU one:
/// per-CPU values are limited to 32 KiB. The loader sizes it to the possible CPUs.
#[map]
pub static SCRATCH: Array<ExecScratch> = Array::with_max_entries(1, 0);

/// Per-CPU counters (`guard_common::event::counter`).
#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counter::COUNT, 0);

/// Adds one to a counter.
#[inline(always)]
pub fn bump(index: u32) {
    if let Some(slot) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, programs on one CPU do not interleave on it.
        unsafe { *slot += 1 };
    }
}

/// This CPU's scratch record.
#[inline(always)]
pub fn scratch() -> Option<&'static mut ExecScratch> {
    // SAFETY: plain helper call.
    let cpu = unsafe { bpf_get_smp_processor_id() };
    // SAFETY: the map value lives as long as the map; one program per CPU uses it.
    SCRATCH.get_ptr_mut(cpu).map(|p| unsafe { &mut *p })
}
