//! Draining the ring buffer on a short timer.
//!
//! The kernel submits records without waking the reader (`BPF_RB_NO_WAKEUP`; a wake-up
//! per exec costs 16-18 µs on these machines) and forces a wake-up only past a fill
//! watermark, so this loop polls with a short timeout and drains everything each time.

use std::{
    os::fd::AsRawFd as _,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use aya::maps::{MapData, RingBuf};

/// How long the reader sleeps when the kernel did not wake it.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Reads records until `stop` is set, then drains what is left. `handle` gets each
/// record's bytes; `flush` is called after each drained batch and after each poll, so
/// at least every [`POLL_INTERVAL`] (timers such as audit checkpoints hang off it).
pub fn run(
    ring: &mut RingBuf<MapData>,
    stop: &AtomicBool,
    mut handle: impl FnMut(&[u8]),
    mut flush: impl FnMut(),
) {
    let fd = ring.as_raw_fd();
    loop {
        let stopping = stop.load(Ordering::Acquire);
        while let Some(item) = ring.next() {
            handle(&item);
        }
        flush();
        if stopping {
            return;
        }
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd; a failed or interrupted poll just loops again.
        unsafe { libc::poll(&mut pfd, 1, POLL_INTERVAL.as_millis() as i32) };
    }
}
