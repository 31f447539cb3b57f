//! The exec storm: worker threads that `posix_spawn` a command and wait for it, as fast
//! as they can, recording each spawn-to-reap latency.
//!
//! Every spawned command's `argv[0]` is a marker naming this process, so the agent's
//! events for the storm can be told apart from everything else on the machine.

use std::{
    ffi::{CString, c_char},
    sync::{Barrier, Mutex},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

/// The command each worker runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shape {
    /// `/bin/true` with no arguments.
    True,
    /// `/bin/true` with 20 arguments.
    Args20,
}

impl Shape {
    /// A short label for reports.
    pub fn label(self) -> &'static str {
        match self {
            Self::True => "true",
            Self::Args20 => "true+20 args",
        }
    }
}

/// A prepared command line: the C strings `posix_spawn` needs.
pub struct Spawn {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl Spawn {
    /// `/bin/true` with `argv[0] = marker` and, for [`Shape::Args20`], 20 arguments.
    pub fn new(shape: Shape, marker: &str) -> Result<Self> {
        let mut argv = vec![CString::new(marker)?];
        if shape == Shape::Args20 {
            for i in 1..=20 {
                argv.push(CString::new(format!(
                    "--bench-argument-{i:02}=value-{i:02}"
                ))?);
            }
        }
        let envp = vec![CString::new("PATH=/usr/bin:/bin")?];
        Ok(Self {
            path: CString::new("/bin/true")?,
            argv,
            envp,
        })
    }

    /// Spawns the command, waits for it, and returns the elapsed nanoseconds.
    pub fn once(&self) -> Result<u64> {
        let argv = null_terminated(&self.argv);
        let envp = null_terminated(&self.envp);
        let start = Instant::now();
        let mut pid: libc::pid_t = 0;
        // SAFETY: path, argv and envp are NUL-terminated strings in NULL-terminated arrays
        // that outlive the call; null file actions and attributes mean the defaults.
        let rc = unsafe {
            libc::posix_spawn(
                &mut pid,
                self.path.as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                argv.as_ptr(),
                envp.as_ptr(),
            )
        };
        if rc != 0 {
            bail!("posix_spawn: {}", std::io::Error::from_raw_os_error(rc));
        }
        let mut status = 0;
        // SAFETY: pid is our child; status is a valid out-pointer.
        if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
            bail!("waitpid: {}", std::io::Error::last_os_error());
        }
        let elapsed = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            bail!("/bin/true ended with wait status {status:#x}");
        }
        Ok(elapsed)
    }
}

/// A `NULL`-terminated array of pointers into `strings` (posix_spawn's C signature
/// says `char *const[]`; it does not write through them).
fn null_terminated(strings: &[CString]) -> Vec<*mut c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr().cast_mut())
        .chain(std::iter::once(std::ptr::null_mut()))
        .collect()
}

/// What one storm did.
#[derive(Debug, Default)]
pub struct Storm {
    /// Successful spawns.
    pub execs: u64,
    /// Wall time from the start signal until the last worker stopped.
    pub secs: f64,
    /// Each spawn's latency, in nanoseconds.
    pub latencies_ns: Vec<u64>,
    /// The workers' thread ids (the parent pid the kernel may report for their children).
    pub worker_tids: Vec<u32>,
}

impl Storm {
    /// Spawns per second.
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.execs as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// Runs `workers` threads spawning `spawn` for `duration`.
pub fn run(spawn: &Spawn, workers: usize, duration: Duration) -> Result<Storm> {
    let barrier = Barrier::new(workers + 1);
    let result = Mutex::new(Storm::default());
    let start = thread::scope(|scope| -> Result<Instant> {
        let handles: Vec<_> = (0..workers)
            .map(|_| scope.spawn(|| worker(spawn, &barrier, duration, &result)))
            .collect();
        barrier.wait();
        let start = Instant::now();
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a storm worker panicked"))??;
        }
        Ok(start)
    })?;
    let mut storm = result
        .into_inner()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    storm.secs = start.elapsed().as_secs_f64();
    storm.execs = storm.latencies_ns.len() as u64;
    Ok(storm)
}

/// One worker: wait for the start, spawn until the deadline, then merge its samples.
fn worker(spawn: &Spawn, barrier: &Barrier, duration: Duration, out: &Mutex<Storm>) -> Result<()> {
    // SAFETY: gettid has no preconditions.
    let tid = u32::try_from(unsafe { libc::gettid() }).unwrap_or(0);
    let mut latencies = Vec::with_capacity(64 * 1024);
    barrier.wait();
    let deadline = Instant::now() + duration;
    while Instant::now() < deadline {
        latencies.push(spawn.once().context("storm spawn")?);
    }
    let mut storm = out.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    storm.latencies_ns.extend(latencies);
    storm.worker_tids.push(tid);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_storm_spawns() {
        let spawn = Spawn::new(Shape::Args20, "guard-bench-test").unwrap();
        let storm = run(&spawn, 2, Duration::from_millis(50)).unwrap();
        assert!(storm.execs > 0 && storm.rate() > 0.0);
        assert_eq!(storm.worker_tids.len(), 2);
    }
}
