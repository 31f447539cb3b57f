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

/// Per-thread notes for an exec's end (see `ExecStash`), in slot `tid`. The loader sizes it to
/// the kernel's `pid_max` (at most `guard_common::config::STASH_SLOTS_MAX`), so no two
/// live threads share a slot and only the thread itself reads or writes its own: an
/// array lookup the verifier inlines, with no lock and no atomics, where a hash insert
/// takes a bucket lock and a free-list element.
#[map]
pub static STASH: Array<StashSlot> = Array::with_max_entries(1, 0);

/// The stash of threads whose tid is past the end of `STASH`, keyed by tid.
#[map]
pub static STASH_SPILL: HashMap<u32, ExecStash> = HashMap::with_max_entries(16384, 0);

#[repr(C)]
pub struct StashSlot {
    /// The tid whose entry this is; anything else (0, or a tid an exec that never
    /// ended left behind) marks the slot empty for the reader.
    owner: u64,
    entry: ExecStash,
}

#[inline(always)]
fn slot(tid: u32) -> Option<&'static mut StashSlot> {
    // SAFETY: map values live as long as the map; a slot is used by one thread only.
    STASH.get_ptr_mut(tid).map(|p| unsafe { &mut *p })
}

const _: () = assert!(
    size_of::<ExecStash>() == 24
        && core::mem::offset_of!(ExecStash, flags) == 8
        && core::mem::offset_of!(ExecStash, lsm_decision) == 12
        && core::mem::offset_of!(ExecStash, rule_id) == 16
);

/// Stores a fresh, undecided entry for `tid` with `flags`, for the exec `bprm` (0: not
/// known yet); false when there is no room.
#[inline(always)]
pub fn stash_put(tid: u32, bprm: u64, flags: u32) -> bool {
    if let Some(s) = slot(tid) {
        // Word by word: building an `ExecStash` and copying it compiles to a call of a
        // byte-by-byte `memset` subprogram for its zero fields.
        let words = (&raw mut s.entry).cast::<u64>();
        // SAFETY: the 24-byte entry is three words (the layout is asserted above); the
        // second holds `flags` in its low half and the decision fields, zero, above.
        unsafe {
            core::ptr::write_volatile(words, bprm);
            core::ptr::write_volatile(words.add(1), u64::from(flags));
            core::ptr::write_volatile(words.add(2), 0);
        }
        s.owner = u64::from(tid);
        return true;
    }
    let entry = ExecStash { bprm, flags, ..ExecStash::default() };
    STASH_SPILL.insert(&tid, &entry, 0).is_ok()
}

/// `tid`'s stash, in place.
#[inline(always)]
pub fn stash_get(tid: u32) -> Option<&'static mut ExecStash> {
    match slot(tid) {
        Some(s) if s.owner == u64::from(tid) => Some(&mut s.entry),
        Some(_) => None,
        // SAFETY: this thread's own entry; only this thread touches it during its exec.
        None => STASH_SPILL.get_ptr_mut(&tid).map(|p| unsafe { &mut *p }),
    }
}

/// Removes `tid`'s stash and returns it.
#[inline(always)]
pub fn stash_take(tid: u32) -> Option<ExecStash> {
    match slot(tid) {
        Some(s) if s.owner == u64::from(tid) => {
            s.owner = 0;
            Some(s.entry)
        }
        Some(_) => None,
        None => {
            // SAFETY: the value is copied before the entry is removed.
            let entry = unsafe { STASH_SPILL.get(&tid) }.copied()?;
            let _ = STASH_SPILL.remove(&tid);
            Some(entry)
        }
    }
}

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
