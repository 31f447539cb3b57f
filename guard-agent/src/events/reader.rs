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
//! is the wake-up rate more than the work. The batch a wake-up handles counts too: the
//! process it displaces waits for all of it. Polling every 200, 500 and 1000 ms gave
//! p99 ratios of 1.10, 1.03 and 1.06 (`true`) and 1.09, 1.05 and 1.11 (20 arguments):
//! at 1000 ms a batch probably outlasts a scheduler slice (ARCHITECTURE.md). What the longer
//! cadence costs: a record reaches the outputs up to 500 ms after its exec. Held
//! processes and a filling ring still wake the reader at once, and so does a stop.

use std::{
    io,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd},
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use aya::maps::{MapData, RingBuf};

/// How long the reader sleeps when the kernel did not wake it.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Records handled between two calls of `flush` while a long backlog drains.
const FLUSH_EVERY: usize = 1024;

/// A request to stop the reader: a flag, and an eventfd that wakes it from its poll.
pub struct Stop {
    requested: AtomicBool,
    wake: OwnedFd,
}

impl Stop {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor that nothing else owns.
        let wake = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Self { requested: AtomicBool::new(false), wake })
    }

    /// Asks the reader to stop; it sees this at once, even mid-poll.
    pub fn request(&self) {
        self.requested.store(true, Ordering::Release);
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer; an eventfd takes exactly that. It
        // can only fail when the counter would overflow, and then it is readable anyway.
        unsafe { libc::write(self.wake.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }

    fn requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }
}

/// Reads records until `stop` is requested, then calls `stopping` and drains what is
/// left. `handle` gets each record's bytes; `flush` is called after each poll (so at
/// least every [`POLL_INTERVAL`]: the heartbeat and timers such as audit checkpoints
/// hang off it) and every [`FLUSH_EVERY`] records of a long drain.
pub fn run(
    ring: &mut RingBuf<MapData>,
    stop: &Stop,
    mut handle: impl FnMut(&[u8]),
    mut flush: impl FnMut(),
    stopping: impl FnOnce(),
) {
    let fd = ring.as_raw_fd();
    loop {
        if stop.requested() {
            stopping();
            drain(ring, &mut handle, &mut flush);
            flush();
            return;
        }
        drain(ring, &mut handle, &mut flush);
        flush();
        wait(fd, stop, POLL_INTERVAL);
    }
}

/// Sleeps until the kernel wakes the ring's reader, a stop is requested, or `timeout`
/// passes.
fn wait(ring: RawFd, stop: &Stop, timeout: Duration) {
    let mut fds = [
        libc::pollfd { fd: ring, events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: stop.wake.as_raw_fd(), events: libc::POLLIN, revents: 0 },
    ];
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: two valid pollfds; a failed or interrupted poll just returns early.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A stop wakes a reader sleeping in its poll at once, not at the timeout.
    #[test]
    fn stop_interrupts_the_poll() {
        let stop = Stop::new().unwrap();
        let (quiet, _writer) = std::io::pipe().unwrap();
        let start = Instant::now();
        std::thread::scope(|s| {
            let waiter = s.spawn(|| wait(quiet.as_raw_fd(), &stop, Duration::from_secs(60)));
            std::thread::sleep(Duration::from_millis(50));
            stop.request();
            waiter.join().unwrap();
        });
        assert!(start.elapsed() < Duration::from_secs(30), "woke after {:?}", start.elapsed());
        assert!(stop.requested());
    }

    /// Without a stop, the poll sleeps out its timeout (a never-ready ring fd).
    #[test]
    fn no_stop_sleeps_the_timeout() {
        let stop = Stop::new().unwrap();
        let (quiet, _writer) = std::io::pipe().unwrap();
        let start = Instant::now();
        wait(quiet.as_raw_fd(), &stop, Duration::from_millis(100));
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert!(!stop.requested());
    }
}
