//! Delivery for one sink: a bounded in-memory queue, then the disk spool, a worker thread
//! that sends batches in order with retries (exponential backoff, full jitter), and the
//! counters. The event path ([`SinkHandle::submit`]) never waits for the sink.
//!
//! Order: once anything is in the spool, new events go to the spool too, so the memory
//! queue always holds older events than the spool and the worker sends memory first.
//! A batch is removed only after the sink accepted it: delivery is at least once.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::spool::Spool;
use super::{Sink, SinkError};
use crate::redact::Redacted;

/// Tuning of one sink's delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// Events held in memory before spilling to disk (default 4096).
    pub queue_capacity: usize,
    /// Most events per send (default 256).
    pub batch_max: usize,
    /// Directory of the spool files (one `<sink>.spool` per sink).
    pub spool_dir: PathBuf,
    /// Cap of a spool file in bytes (default 64 MiB); past it events are dropped and counted.
    pub spool_max_bytes: u64,
    /// First retry delay (default 100 ms); doubles up to `backoff_max` (default 30 s).
    pub backoff_min: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// How long [`SinkHandle::close`] keeps trying before spooling what is left (default 5 s).
    pub shutdown_timeout: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 4096,
            batch_max: 256,
            spool_dir: PathBuf::from("/var/lib/guard/spool"),
            spool_max_bytes: 64 << 20,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}

/// A sink's counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Counters {
    /// Events the sink accepted (rejected ones excluded).
    pub sent: u64,
    /// Event sends that failed and were retried (an event retried twice counts twice).
    pub retried: u64,
    /// Events written to the disk spool.
    pub spooled: u64,
    /// Events lost because the spool was full (or could not be written).
    pub dropped: u64,
    /// Events the destination refused for good (e.g. an Elasticsearch mapping error).
    pub rejected: u64,
    /// Events waiting (memory and spool): the sink's lag.
    pub pending: u64,
}

#[derive(Default)]
struct Atomics {
    sent: AtomicU64,
    retried: AtomicU64,
    spooled: AtomicU64,
    dropped: AtomicU64,
    rejected: AtomicU64,
}

struct State {
    mem: VecDeque<Vec<u8>>,
    spool: Spool,
    closing: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    counts: Atomics,
    opts: DeliveryOptions,
    name: String,
}

impl Shared {
    fn counters(&self) -> Counters {
        let c = &self.counts;
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Counters {
            sent: c.sent.load(Ordering::Relaxed),
            retried: c.retried.load(Ordering::Relaxed),
            spooled: c.spooled.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            pending: st.mem.len() as u64 + st.spool.records(),
        }
    }
}

/// Reads one sink's counters from any thread ([`SinkHandle::view`]); cheap to clone.
#[derive(Clone)]
pub struct CountersView {
    shared: Arc<Shared>,
}

impl CountersView {
    /// The sink's name (its URL without secrets).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The counters now.
    pub fn read(&self) -> Counters {
        self.shared.counters()
    }
}

impl std::fmt::Debug for CountersView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountersView").field("name", &self.shared.name).finish_non_exhaustive()
    }
}

/// Encodes an event into the bytes a sink sends (OCSF JSON for most sinks).
pub type Encoder = Arc<dyn Fn(&Redacted) -> Vec<u8> + Send + Sync>;

/// A running sink: submit events, read counters, close.
pub struct SinkHandle {
    shared: Arc<Shared>,
    encoder: Encoder,
    worker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SinkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkHandle").field("name", &self.shared.name).finish_non_exhaustive()
    }
}

impl SinkHandle {
    /// Starts delivery to `sink` on its own thread, with its spool at
    /// `opts.spool_dir/<name>.spool` (undelivered events from a previous run go first).
    pub fn spawn(sink: Box<dyn Sink>, opts: DeliveryOptions) -> Result<Self, SinkError> {
        let name = sink.name();
        let file: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let spool_path = opts.spool_dir.join(format!("{file}.spool"));
        let spool = Spool::open(&spool_path, opts.spool_max_bytes)
            .map_err(|e| SinkError::Config(format!("spool {}: {e}", spool_path.display())))?;
        let encoder = sink.encoder();
        let shared = Arc::new(Shared {
            state: Mutex::new(State { mem: VecDeque::new(), spool, closing: false }),
            wake: Condvar::new(),
            counts: Atomics::default(),
            opts,
            name: name.clone(),
        });
        let s = shared.clone();
        let worker = std::thread::Builder::new()
            .name(format!("sink {}", name.chars().take(10).collect::<String>()))
            .spawn(move || worker(s, sink))
            .map_err(|e| SinkError::Config(format!("thread: {e}")))?;
        Ok(Self { shared, encoder, worker: Some(worker) })
    }

    /// The sink's name (its URL without secrets).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Queues one event; never blocks on the sink.
    pub fn submit(&self, event: &Redacted) {
        self.submit_encoded((self.encoder)(event));
    }

    /// Queues already-encoded bytes (one event).
    pub fn submit_encoded(&self, data: Vec<u8>) {
        let sh = &self.shared;
        let mut st = sh.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.spool.is_empty() && st.mem.len() < sh.opts.queue_capacity {
            st.mem.push_back(data);
        } else {
            spill(sh, &mut st, &data);
        }
        drop(st);
        sh.wake.notify_one();
    }

    /// Current counters.
    pub fn counters(&self) -> Counters {
        self.shared.counters()
    }

    /// A handle that reads this sink's counters from any thread, while it runs and after
    /// it closed (for a metrics endpoint).
    pub fn view(&self) -> CountersView {
        CountersView { shared: self.shared.clone() }
    }

    /// Delivers what it can within `shutdown_timeout`, spools the rest, stops the worker
    /// and returns the final counters.
    pub fn close(mut self) -> Counters {
        self.stop();
        self.counters()
    }

    fn stop(&mut self) {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner()).closing = true;
        self.shared.wake.notify_all();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl Drop for SinkHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spill(sh: &Shared, st: &mut State, data: &[u8]) {
    match st.spool.push(data) {
        Ok(true) => sh.counts.spooled.fetch_add(1, Ordering::Relaxed),
        Ok(false) => sh.counts.dropped.fetch_add(1, Ordering::Relaxed),
        Err(e) => {
            eprintln!("guard-export: sink {}: spool {}: {e}: event dropped", sh.name, st.spool.path().display());
            sh.counts.dropped.fetch_add(1, Ordering::Relaxed)
        }
    };
}

/// A small xorshift for jitter (no need for cryptographic randomness).
struct Jitter(u64);

impl Jitter {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        if below == 0 { 0 } else { self.0 % below }
    }
}

fn worker(sh: Arc<Shared>, mut sink: Box<dyn Sink>) {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1;
    let mut jitter = Jitter(seed);
    let mut deadline: Option<Instant> = None;
    loop {
        // Take a batch (without removing it).
        let (batch, from_mem) = {
            let mut st = sh.state.lock().unwrap_or_else(|e| e.into_inner());
            while st.mem.is_empty() && st.spool.is_empty() && !st.closing {
                st = sh.wake.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            if st.closing {
                deadline.get_or_insert_with(|| Instant::now() + sh.opts.shutdown_timeout);
            }
            if !st.mem.is_empty() {
                (st.mem.iter().take(sh.opts.batch_max).cloned().collect::<Vec<_>>(), true)
            } else if !st.spool.is_empty() {
                match st.spool.peek(sh.opts.batch_max) {
                    Ok(b) => (b, false),
                    Err(e) => {
                        eprintln!("guard-export: sink {}: spool read: {e}", sh.name);
                        return;
                    }
                }
            } else {
                return; // closing and empty
            }
        };
        // Send it, retrying with backoff.
        let mut delay = sh.opts.backoff_min;
        let mut refused = 0;
        loop {
            match sink.send(&batch) {
                Ok(()) => break,
                Err(SinkError::Rejected { count, reason }) => {
                    eprintln!("guard-export: sink {}: {count} events rejected by the destination: {reason}", sh.name);
                    sh.counts.rejected.fetch_add(count, Ordering::Relaxed);
                    refused = count;
                    break;
                }
                Err(e) => {
                    sh.counts.retried.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    let past = deadline.is_some_and(|d| Instant::now() >= d);
                    if past {
                        eprintln!("guard-export: sink {}: {e}; shutting down, spooling what is left", sh.name);
                        let mut st = sh.state.lock().unwrap_or_else(|e| e.into_inner());
                        let mem: Vec<_> = st.mem.drain(..).collect();
                        // Memory holds older events than the spool: put them in front.
                        let newer = match st.spool.peek(usize::MAX) {
                            Ok(rest) => {
                                let _ = st.spool.consume(rest.len());
                                rest
                            }
                            Err(_) => Vec::new(),
                        };
                        for d in &mem {
                            spill(&sh, &mut st, d);
                        }
                        for d in &newer {
                            if !matches!(st.spool.push(d), Ok(true)) {
                                sh.counts.dropped.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        return;
                    }
                    // Full jitter: sleep a random time in [delay/2, delay].
                    let ms = delay.as_millis() as u64;
                    let sleep = Duration::from_millis(ms / 2 + jitter.next(ms / 2 + 1));
                    let st = sh.state.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = sh.wake.wait_timeout_while(st, sleep, |s| !s.closing || deadline.is_some());
                    if deadline.is_none() && sh.state.lock().map(|s| s.closing).unwrap_or(true) {
                        deadline = Some(Instant::now() + sh.opts.shutdown_timeout);
                    }
                    delay = (delay * 2).min(sh.opts.backoff_max);
                }
            }
        }
        let n = batch.len();
        let mut st = sh.state.lock().unwrap_or_else(|e| e.into_inner());
        if from_mem {
            st.mem.drain(..n);
        } else if let Err(e) = st.spool.consume(n) {
            eprintln!("guard-export: sink {}: spool consume: {e}", sh.name);
        }
        sh.counts.sent.fetch_add((n as u64).saturating_sub(refused), Ordering::Relaxed);
    }
}
