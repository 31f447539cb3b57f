//! `guard-agent run`: load (or adopt), attach, and stream events until SIGINT or SIGTERM.

use std::{
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use aya::maps::{MapData, PerCpuArray, RingBuf};
use guard_common::{
    enforce::{decision, intent, path},
    event::counter,
};
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    events::{
        decode::decode,
        json::{Clock, exec_to_json},
        reader,
    },
    cli::{
        enforcer::{Enforcer, PolicySource, RuleNames},
        export::{Output, OutputArgs},
        serve,
        kube::{self, KubeArgs, PodTable},
    },
    hold::{self, HeldMap, Heartbeat, Resolver},
    kernel::Kernel,
    loader::{self, LoadConfig},
    config::{self, ConfigArgs},
};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Ring buffer size in bytes (power of two).
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    pub ring_bytes: u32,
    /// Slots of the per-thread exec stash, indexed by tid (default: one per possible tid,
    /// `kernel.pid_max`, at most 65536). Threads with a larger tid use a hash map, which
    /// costs about 0.5 µs more per exec.
    #[arg(long)]
    pub stash_slots: Option<u32>,
    /// How often drop counters are checked and reported, in seconds.
    #[arg(long, default_value_t = 10)]
    pub report_interval: u64,
    /// Policy file (YAML); the built-in default policy when absent. Reloaded on SIGHUP
    /// and when the file changes; a bad new policy is refused and the old one stays.
    #[arg(long)]
    pub policy: Option<std::path::PathBuf>,
    /// Leave the programs pinned and enforcing when the agent stops (the next agent
    /// adopts them). Without it, a clean stop removes them; a killed agent always
    /// leaves them in force.
    #[arg(long)]
    pub persist: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub agent: ConfigArgs,
    #[command(flatten)]
    pub kube: KubeArgs,
}

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: &RunArgs) -> anyhow::Result<ExitCode> {
    // Handlers first: a signal that arrives while loading must still stop us cleanly.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let settings = config::resolve(&args.agent, args.policy.as_deref(), &args.output)?;
    let _lock = single_instance_lock()?;
    // The endpoint first, so /healthz answers 503 while loading.
    let metrics = crate::metrics::global();
    if let Some(addr) = settings.listen {
        serve::start(addr, metrics.clone()).await?;
    }
    let policy = PolicySource::new(settings.policy.clone());
    let loaded_policy = policy.load().context("loading the policy")?;
    // Outputs first: a bad sink URL, key or pattern fails before anything is attached.
    let output = Output::start(&settings.output, loaded_policy.name())?;
    metrics.watch_sinks(output.sink_views());
    // The Kubernetes watch (a bad kubeconfig fails here, before anything is attached);
    // it lists while the programs load, and its modes apply from the loop below.
    let mut pods = kube::start(&args.kube).await?;
    let mut kernel = Kernel::open(&LoadConfig { ring_bytes: args.ring_bytes, stash_slots: args.stash_slots })?;
    let path = kernel.path;
    tracing::info!(path = path::name(path), reason = %kernel.reason, adopted = kernel.adopted, "enforcement path");
    let enforcer = Enforcer::new(path, policy);
    // The policy is in the maps before any program is attached (or, when adopting,
    // replaces the one the pinned programs were enforcing).
    let rule_names = enforcer.install(&mut kernel.maps, &loaded_policy)?;
    // Holds: the heartbeat lets the kernel park strict identities' commands; the reaper
    // (its own process, it outlives us) ends any hold whose deadline passes.
    let mut heartbeat = Heartbeat::new(kernel.maps.take("AGENT").context("AGENT map")?)?;
    hold_settings(&mut heartbeat, &loaded_policy);
    heartbeat.beat();
    let held = HeldMap::new(kernel.maps.take("HELD").context("HELD map")?)?;
    kernel.attach()?;
    // Loading in attach() takes a while (the verifier): beat again now.
    heartbeat.beat();
    hold::spawn_reaper(kernel.pin_dir());
    let ring = RingBuf::try_from(kernel.maps.take("EVENTS").context("EVENTS map")?)?;
    let counters: PerCpuArray<MapData, u64> =
        PerCpuArray::try_from(kernel.maps.take("COUNTERS").context("COUNTERS map")?)?;
    metrics.set_attached(true);
    tracing::info!(path = path::name(path), adopted = kernel.adopted, "capture attached");

    let stop = Arc::new(reader::Stop::new().context("creating the reader's stop eventfd")?);
    let decode_errors = Arc::new(AtomicU64::new(0));
    let resolver = Resolver::new(held, enforcer.current(), kernel.maps.take("VERDICTS").context("VERDICTS map")?)?;
    // The agent's own quarantines (policy `quarantine`); without the maps it only reports.
    let auto = match crate::quarantine::Quarantine::from_pins(kernel.pin_dir()) {
        Ok(q) => Some(crate::quarantine::Auto::new(q)),
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "quarantine maps: the agent will not quarantine by itself");
            None
        }
    };
    // From here the reader beats: it is what answers holds, so the kernel parks a
    // command only while the reader is alive and keeping up.
    let beats = Beats { heartbeat, policy: enforcer.current() };
    let reader = spawn_reader(ring, stop.clone(), decode_errors.clone(), rule_names.clone(), output, pods.clone(), resolver, auto, beats);

    // systemd (Type=notify): ready once the programs are attached and the reader runs;
    // the watchdog is fed from this loop only while the reader thread is alive.
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    let mut watchdog = tokio::time::interval(watchdog_period());
    // The policy file's modification time is looked at every 2 s; without a file there
    // is nothing to watch, and no timer (each tick wakes two threads).
    let mut watch = settings.policy.is_some().then(|| tokio::time::interval(Duration::from_secs(2)));
    let mut tick = tokio::time::interval(Duration::from_secs(args.report_interval.max(1)));
    let mut last_dropped = 0;
    loop {
        tokio::select! {
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = tick.tick() => {
                last_dropped = report_drops(&counters, last_dropped);
                metrics.set_kernel_drops(last_dropped);
            }
            _ = sighup.recv() => {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading]);
                enforcer.reload(&mut kernel.maps, &rule_names, true);
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
            }
            _ = watchdog.tick() => {
                if reader.is_finished() {
                    tracing::error!("the event reader stopped; exiting so the service manager restarts the agent");
                    break;
                }
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            }
            () = next_tick(&mut watch) => enforcer.reload(&mut kernel.maps, &rule_names, false),
            () = kube::changed(&mut pods) => {
                if let Some(table) = pods.as_mut().map(|t| t.borrow_and_update().clone()) {
                    enforcer.set_label_cgroup_modes(&mut kernel.maps, kube::label_modes(&table));
                }
            }
        }
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    metrics.set_attached(false);
    // The reader stops the heartbeat when it sees this (nothing more is held from then
    // on), then drains: what is held by then gets its verdict from that drain, or the
    // fail mode from the reaper at the deadline.
    stop.request();
    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
    let totals = loader::read_counters(&counters)?;
    tracing::info!(
        emitted = totals[counter::EMITTED as usize],
        dropped = totals[counter::RINGBUF_DROPPED as usize],
        stash_full = totals[counter::STASH_FULL as usize],
        read_errors = totals[counter::READ_ERRORS as usize],
        decode_errors = decode_errors.load(Ordering::Relaxed),
        "stopped"
    );
    drop(counters);
    kernel.release(args.persist)?;
    Ok(ExitCode::SUCCESS)
}

fn spawn_reader(
    mut ring: RingBuf<MapData>,
    stop: Arc<reader::Stop>,
    decode_errors: Arc<AtomicU64>,
    rule_names: RuleNames,
    output: Output,
    pods: Option<PodTable>,
    mut resolver: Resolver,
    mut auto: Option<crate::quarantine::Auto>,
    beats: Beats,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("guard-reader".into())
        .spawn(move || {
            batch_priority();
            let metrics = crate::metrics::global();
            let clock = Clock::now();
            let host = hostname();
            let out = std::cell::RefCell::new(output);
            let beats = std::cell::RefCell::new(beats);
            // Each event's line is written into the previous one's buffer.
            let mut buf = String::new();
            reader::run(
                &mut ring,
                &stop,
                |bytes| match decode(bytes) {
                    Ok(record) => {
                        metrics.event(record.event.decision, record.event.class);
                        // Read under the lock, not copied: a reload swaps it rarely, every exec reads it.
                        let names = rule_names.read().unwrap_or_else(std::sync::PoisonError::into_inner);
                        let pod = pods.as_ref().and_then(|t| t.borrow().get(&record.event.cgroup_id).map(|e| e.info.clone()));
                        let policy = resolver.policy();
                        let e = &record.event;
                        let rule = names
                            .get(e.rule_id as usize)
                            .map(String::as_str)
                            .filter(|_| e.class != intent::NONE || e.decision == decision::HOLD);
                        let reason = crate::enforce::reason::for_record(&record, rule, &policy);
                        let line = exec_to_json(std::mem::take(&mut buf), &record, &clock, &host, &names, pod.as_deref(), reason.as_deref());
                        drop(names);
                        out.borrow_mut().event(&line);
                        let mut denied = e.decision == decision::DENY;
                        if e.decision == decision::HOLD && e.enforced_by == path::HOLD {
                            let (verdict, deny) = resolver.resolve(&record);
                            denied = deny;
                            out.borrow_mut().native(&verdict);
                            if let Some(event) = verdict_event(&line, &verdict) {
                                out.borrow_mut().export(&event);
                            }
                        }
                        if let Some(q) = auto.as_mut()
                            && let Some(note) = q.observe(&record, denied, policy.quarantine())
                        {
                            out.borrow_mut().native(&note);
                        }
                        buf = line;
                    }
                    Err(err) => {
                        decode_errors.fetch_add(1, Ordering::Relaxed);
                        metrics.decode_error();
                        tracing::warn!(%err, "undecodable record");
                    }
                },
                || {
                    out.borrow_mut().flush();
                    beats.borrow_mut().beat();
                },
                || beats.borrow_mut().heartbeat.stop(),
            );
            out.into_inner().close();
        })
        .expect("spawning the reader thread")
}

/// Puts the calling thread (the reader) in `SCHED_BATCH`: the same share of CPU, but
/// its timer wake-ups no longer preempt the thread that is running, usually the
/// workload whose execs it reports. A held process waits at most a scheduler tick more.
fn batch_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: a valid sched_param; pid 0 is the calling thread.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "reader: SCHED_BATCH refused");
    }
}

fn report_drops(counters: &PerCpuArray<MapData, u64>, last: u64) -> u64 {
    match loader::read_counters(counters) {
        Ok(totals) => {
            let dropped = totals[counter::RINGBUF_DROPPED as usize];
            if dropped > last {
                tracing::warn!(dropped, new = dropped - last, "ring buffer full: events lost");
            }
            dropped
        }
        Err(err) => {
            tracing::warn!(%err, "reading counters");
            last
        }
    }
}

/// The agent's verdict on a held exec as an exec event for the sinks and the audit log:
/// the held exec's line with the final decision, `enforced_by: hold`, the first intent
/// and rule, and the hold's details under `hold`.
fn verdict_event(exec_line: &str, verdict_line: &str) -> Option<String> {
    let mut event: serde_json::Value = serde_json::from_str(exec_line).ok()?;
    let verdict: serde_json::Value = serde_json::from_str(verdict_line).ok()?;
    event["decision"] = verdict["decision"].clone();
    event["enforced_by"] = "hold".into();
    event["class"] = verdict["intents"].get(0).cloned().unwrap_or(serde_json::Value::Null);
    event["rule"] = verdict["rule"].clone();
    event["reason"] = verdict["reason"].clone();
    event["hold"] = serde_json::json!({
        "outcome": verdict["outcome"],
        "held_us": verdict["held_us"],
        "classify_us": verdict["classify_us"],
        "cached": verdict["cached"],
        "intents": verdict["intents"],
    });
    Some(event.to_string())
}

/// The next tick of `interval`; never without one.
async fn next_tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// The heartbeat, written from the reader thread each time it has drained the ring
/// (after every poll, so at least every `reader::POLL_INTERVAL`). A timer of its own in
/// the main loop would wake two threads five times a second, and each wake-up of the
/// agent on a busy machine delays the workload's next process by up to a scheduler slice.
struct Beats {
    heartbeat: Heartbeat,
    policy: hold::CurrentPolicy,
}

impl Beats {
    fn beat(&mut self) {
        if let Ok(policy) = self.policy.read() {
            hold_settings(&mut self.heartbeat, &policy);
        }
        self.heartbeat.beat();
    }
}

/// The hold settings of `policy`: its deadline. (Each identity's fail mode travels
/// with its mode in the kernel's mode maps, `mode::FAIL_OPEN`.)
fn hold_settings(heartbeat: &mut Heartbeat, policy: &guard_policy::Policy) {
    heartbeat.deadline = Duration::from_millis(policy.hold().deadline_ms);
}

/// How often to feed systemd's watchdog: half its timeout (an hour when there is none).
fn watchdog_period() -> Duration {
    sd_notify::watchdog_enabled().filter(|d| !d.is_zero()).map_or(Duration::from_secs(3600), |d| d / 2)
}

/// This host's name, for every event.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buffer and its length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Whether an agent holds the single-instance lock.
pub fn agent_running() -> bool {
    use std::os::fd::AsRawFd as _;
    let Ok(file) = std::fs::File::open(LOCK_PATH) else {
        return false;
    };
    // SAFETY: flock on an fd we own; released when `file` closes.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) != 0 }
}

/// Where the running agent holds its lock.
const LOCK_PATH: &str = "/run/guard-agent.lock";

/// Holds an exclusive lock for the agent's lifetime: a second agent would fight the
/// first over the pins under /sys/fs/bpf/guard, so it refuses to start instead.
fn single_instance_lock() -> anyhow::Result<std::fs::File> {
    use std::os::fd::AsRawFd as _;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK_PATH)
        .with_context(|| format!("opening {LOCK_PATH}"))?;
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        anyhow::bail!("another guard-agent is running (it holds {LOCK_PATH})");
    }
    Ok(file)
}
