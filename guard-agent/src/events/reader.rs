//! Draining the ring buffer on a timer.
//!
//! The kernel submits records without waking the reader (`BPF_RB_NO_WAKEUP`; a wake-up
//! per exec costs 16-18 µs on these machines) and forces a wake-up only past a fill
//! watermark, or for a held process, which waits for the agent. So this loop polls with
//! a timeout and drains everything each time.
//!
//! The timeout is [`POLL_INTERVAL`], busy or idle. Each wake-up of the agent costs the
//! machine more than its own CPU time: on a machine whose CPUs are all busy, the woken
//! thread takes a CPU from a workload process, which then often waits a whole scheduler
//! slice behind another. Measured here (two `posix_spawn` loops on two CPUs), a reader
//! waking every 10 ms raised their p99 latency from ~1.0 to ~1.5 ms; a plain C program
//! that wakes every 10 ms and spins 30 µs does the same, and every 100 ms, ~1.05 ms: it
//! is the wake-up rate, not the work (ARCHITECTURE.md). What the longer cadence costs:
//! a record reaches the outputs up to 200 ms after its exec (held processes and a
//! filling ring still wake the reader at once).

use std::{
    os::fd::AsRawFd as _,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use aya::maps::{MapData, RingBuf};

/// How long the reader sleeps when the kernel did not wake it.
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Records handled between two calls of `flush` while a long backlog drains.
const FLUSH_EVERY: usize = 1024;

/// Reads records until `stop` is set, then calls `stopping` and drains what is left.
/// `handle` gets each record's bytes; `flush` is called after each poll (so at least
/// every [`POLL_INTERVAL`]: the heartbeat and timers such as audit checkpoints hang off
/// it) and every [`FLUSH_EVERY`] records of a long drain.
pub fn run(
    ring: &mut RingBuf<MapData>,
    stop: &AtomicBool,
    mut handle: impl FnMut(&[u8]),
    mut flush: impl FnMut(),
    stopping: impl FnOnce(),
) {
    let fd = ring.as_raw_fd();
    let timeout = POLL_INTERVAL.as_millis() as i32;
    loop {
        if stop.load(Ordering::Acquire) {
            stopping();
            drain(ring, &mut handle, &mut flush);
            flush();
            return;
        }
        drain(ring, &mut handle, &mut flush);
        flush();
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd; a failed or interrupted poll just loops again.
        unsafe { libc::poll(&mut pfd, 1, timeout) };
    }
}

/// Hands every record in the ring to `handle`.
fn drain(ring: &mut RingBuf<MapData>, handle: &mut impl FnMut(&[u8]), flush: &mut impl FnMut()) {
    let mut n = 0usize;
    while let Some(item) = ring.next() {
        handle(&item);
        n += 1;
        if n % FLUSH_EVERY == 0 {
            flush();
        }
    }
}
