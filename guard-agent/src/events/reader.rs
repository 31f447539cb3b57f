//! Draining the ring buffer on a short timer.
//!
//! The kernel submits records without waking the reader (`BPF_RB_NO_WAKEUP`; a wake-up
//! per exec costs 16-18 µs on these machines) and forces a wake-up only past a fill
//! watermark, or for a held process, which waits for the agent. So this loop polls with
//! a short timeout and drains everything each time. While nothing comes, the timeout
//! doubles up to [`IDLE_POLL`]: each wake-up of an idle reader costs ~30 µs of CPU on
//! these machines, 100 a second were ~0.35 % of a CPU doing nothing.

use std::{
    os::fd::AsRawFd as _,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use aya::maps::{MapData, RingBuf};

/// How long the reader sleeps when the kernel did not wake it, while records come.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// The longest sleep, reached after polls that found nothing: the first record after a
/// quiet spell waits at most this long (holds and a filling ring wake the reader at once).
pub const IDLE_POLL: Duration = Duration::from_millis(100);

/// The timeout after a poll: back to [`POLL_INTERVAL`] when it found records, else
/// twice the last one, up to [`IDLE_POLL`].
pub fn next_timeout(last: Duration, found: bool) -> Duration {
    if found { POLL_INTERVAL } else { (last * 2).min(IDLE_POLL) }
}

/// Reads records until `stop` is set, then drains what is left. `handle` gets each
/// record's bytes; `flush` is called after each drained batch and after each poll, so
/// at least every [`IDLE_POLL`] (timers such as audit checkpoints hang off it).
pub fn run(
    ring: &mut RingBuf<MapData>,
    stop: &AtomicBool,
    mut handle: impl FnMut(&[u8]),
    mut flush: impl FnMut(),
) {
    let fd = ring.as_raw_fd();
    let mut timeout = POLL_INTERVAL;
    loop {
        let stopping = stop.load(Ordering::Acquire);
        let mut found = false;
        while let Some(item) = ring.next() {
            handle(&item);
            found = true;
        }
        flush();
        timeout = next_timeout(timeout, found);
        if stopping {
            return;
        }
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd; a failed or interrupted poll just loops again.
        unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Empty polls back off to the idle timeout; one record brings the short one back.
    #[test]
    fn the_timeout_backs_off_while_idle_and_returns_with_records() {
        let mut t = POLL_INTERVAL;
        let mut seen = Vec::new();
        for _ in 0..6 {
            t = next_timeout(t, false);
            seen.push(t.as_millis());
        }
        assert_eq!(seen, [20, 40, 80, 100, 100, 100]);
        assert_eq!(next_timeout(t, true), POLL_INTERVAL);
        assert_eq!(next_timeout(POLL_INTERVAL, true), POLL_INTERVAL);
    }
}
