//! Building a record in the per-CPU scratch and handing it to the ring buffer.

use aya_ebpf::helpers::generated::{
    bpf_ktime_get_ns, bpf_probe_read_kernel_str, bpf_probe_read_user_str,
};
use guard_common::enforce::{intent, mode};
use guard_common::event::{
    DATA_OFF_MASK, EVENT_VERSION, EventHeader, ExecEvent, ExecScratch, FLAG_READ_ERROR,
    KIND_EXEC, PATH_CAP, counter,
};

use crate::maps::{COUNTERS, EVENTS, bump};

/// `bpf_ringbuf_query` flag: bytes not yet consumed.
const BPF_RB_AVAIL_DATA: u64 = 0;
/// `bpf_ringbuf_output` flags.
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
/// Records are submitted without waking the reader (which polls on a short timer);
/// past this much unread data the reader is woken at once. The loader sets it to a
/// quarter of the ring (`override_global("WAKE_AT", ..)`).
#[unsafe(no_mangle)]
static WAKE_AT: u64 = 1024 * 1024;
/// The unread data is looked at on every this many records per CPU (a power of two):
/// the query reads the reader's position, a cache line the reader's CPU writes.
const WAKE_CHECK_EVERY: u64 = 32;
/// Bounds the record length for the verifier (the scratch record is larger).
const RECORD_MASK: usize = 0x1ffff;

/// Resets the fixed part of the scratch record. Word by word: a struct assignment
/// compiles to a call of a byte-by-byte `memset` subprogram.
#[inline(always)]
pub fn begin(s: &mut ExecScratch, flags: u32) {
    const WORDS: usize = size_of::<ExecEvent>() / 8;
    const _: () = assert!(size_of::<ExecEvent>() % 8 == 0 && align_of::<ExecEvent>() == 8);
    let words = (&raw mut s.event).cast::<u64>();
    let mut i = 0;
    while i < WORDS {
        // SAFETY: inside the record, which is plain words; volatile so the compiler
        // does not turn the loop back into a memset call.
        unsafe { core::ptr::write_volatile(words.add(i), 0) };
        i += 1;
    }
    s.event.header = EventHeader { version: EVENT_VERSION, kind: KIND_EXEC, flags, ts_ns: 0 };
    s.event.class = intent::NONE;
    s.event.mode = mode::UNSET;
}

/// Where a string is read from.
#[derive(Clone, Copy)]
pub enum Mem {
    Kernel,
    User,
}

/// Copies the NUL-terminated string at `src` to `data[off..]` (at most `PATH_CAP`
/// bytes). Returns its length without the NUL and whether it filled the cap.
#[inline(always)]
pub fn copy_str(ev: &mut ExecEvent, data: *mut u8, off: usize, src: u64, mem: Mem) -> (usize, bool) {
    if src == 0 {
        return (0, false);
    }
    // SAFETY: the masked offset plus PATH_CAP stays inside the scratch data.
    let dst = unsafe { data.add(off & DATA_OFF_MASK) }.cast();
    // SAFETY: the helpers check the source address.
    let n = unsafe {
        match mem {
            Mem::Kernel => bpf_probe_read_kernel_str(dst, PATH_CAP as u32, src as *const _),
            Mem::User => bpf_probe_read_user_str(dst, PATH_CAP as u32, src as *const _),
        }
    };
    if n < 0 {
        read_error(ev);
        return (0, false);
    }
    // Kernels before 6.5 return 0, not 1, for an empty string (its NUL is written).
    let n = if n == 0 { 1 } else { n as usize };
    (n - 1, n == PATH_CAP)
}

/// Sets flag bits in the record through memory. The record lives in map memory, which
/// the verifier does not track; a flag word kept in a register would instead carry a
/// different constant down every branch, and the verifier would explore each
/// combination of bits separately.
#[inline(always)]
pub fn set_flags(ev: &mut ExecEvent, bits: u32) {
    let p = &raw mut ev.header.flags;
    // SAFETY: a field of the scratch record.
    unsafe { core::ptr::write_volatile(p, core::ptr::read_volatile(p) | bits) };
}

/// Notes a failed read in the record and in the counters.
#[inline(always)]
pub fn read_error(ev: &mut ExecEvent) {
    set_flags(ev, FLAG_READ_ERROR);
    bump(counter::READ_ERRORS);
}

/// Sends the record (fixed part plus `data_len` bytes of data) to user space. A full
/// ring buffer is counted, never silent, and never changes any decision.
#[inline(always)]
pub fn submit(s: &mut ExecScratch, data_len: usize) {
    // SAFETY: plain helper call.
    s.event.header.ts_ns = unsafe { bpf_ktime_get_ns() };
    let len = (size_of::<ExecEvent>() + data_len) & RECORD_MASK;
    // SAFETY: `len` is within the scratch record, which is plain bytes.
    let bytes = unsafe { core::slice::from_raw_parts((&raw const *s).cast::<u8>(), len) };
    // A held process waits for the agent: wake it now rather than at its next poll.
    let held = s.event.enforced_by == guard_common::enforce::path::HOLD;
    let emitted = COUNTERS.get_ptr_mut(counter::EMITTED);
    // SAFETY: this CPU's counter.
    let n = emitted.map_or(0, |p| unsafe { *p });
    // SAFETY: reading an immutable global.
    let wake_at = unsafe { core::ptr::read_volatile(&raw const WAKE_AT) };
    let flags = if held || (n & (WAKE_CHECK_EVERY - 1) == 0 && EVENTS.query(BPF_RB_AVAIL_DATA) > wake_at) {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    match (EVENTS.output::<[u8]>(bytes, flags), emitted) {
        // SAFETY: this CPU's counter; programs on one CPU do not interleave on it.
        (Ok(()), Some(p)) => unsafe { *p = n + 1 },
        (Ok(()), None) => {}
        (Err(_), _) => bump(counter::RINGBUF_DROPPED),
    }
}
