//! Holding strict identities' commands for the agent's verdict.
//!
//! The kernel parks a strict identity's exec with SIGSTOP before its first instruction
//! when the kernel cannot judge it alone but its argv carries a token the policy marks
//! as interesting (see `enforce::compile::HOLD_WORDS`), and records it in the `HELD`
//! map. It does so only while the agent's heartbeat in the `AGENT` map is fresh;
//! otherwise the exec gets the fail mode at once.
//!
//! Three parties may end a hold, and the first to delete the `HELD` entry does:
//! - the agent's reader, once the classifier has judged the argv (resume or kill);
//! - the reaper (`guard-agent hold-reaper`, a separate process the agent starts, which
//!   outlives it), when the deadline passes: the fail mode (kill when closed);
//! - nobody else: a held process can only be resumed by one of them through a pidfd,
//!   after checking that the pid still names the process that was parked.

use std::{
    path::Path,
    time::Duration,
};

use aya::maps::{Array, HashMap as BpfHashMap, Map, MapData};
use guard_common::enforce::{AgentState, CachedVerdict, Held, VerdictKey};

/// A heartbeat older than this means the agent is gone. The reader beats after every
/// poll (`reader::POLL_INTERVAL`, 500 ms): four polls, so that a reader held up for a
/// moment (a slow stdout, a loaded machine) is not taken for gone. A stale heartbeat
/// gives a strict identity's command the fail mode at once, and fail-closed denies.
pub const MAX_AGE: Duration = Duration::from_secs(2);

/// CLOCK_MONOTONIC in nanoseconds (the clock of `bpf_ktime_get_ns`).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The agent's heartbeat in the kernel.
pub struct Heartbeat {
    map: Array<MapData, AgentState>,
    pub deadline: Duration,
}

impl Heartbeat {
    pub fn new(map: Map) -> anyhow::Result<Self> {
        Ok(Self { map: Array::try_from(map)?, deadline: Duration::from_secs(2) })
    }

    /// Tells the kernel the agent is alive (holds may be placed).
    pub fn beat(&mut self) {
        self.write(monotonic_ns());
    }

    /// Tells the kernel the agent is gone: nothing more is held.
    pub fn stop(&mut self) {
        self.write(0);
    }

    fn write(&mut self, now: u64) {
        // The reaper writes its own tgid into the same entry: keep it.
        let reaper_tgid = self.map.get(&0, 0).map_or(0, |s| s.reaper_tgid);
        let state = AgentState {
            heartbeat_ns: now,
            max_age_ns: MAX_AGE.as_nanos() as u64,
            deadline_ns: self.deadline.as_nanos() as u64,
            reaper_tgid,
            _pad: [0; 4],
        };
        if let Err(err) = self.map.set(0, state, 0) {
            tracing::warn!(%err, "writing the heartbeat");
        }
    }
}

/// The kernel's map of held processes.
pub struct HeldMap(BpfHashMap<MapData, u32, Held>);

impl HeldMap {
    pub fn new(map: Map) -> anyhow::Result<Self> {
        Ok(Self(BpfHashMap::try_from(map)?))
    }

    pub fn from_pin(path: &Path) -> anyhow::Result<Self> {
        Self::new(Map::from_map_data(MapData::from_pin(path)?)?)
    }

    /// Takes the hold of `tgid` for the caller: `Some` only for the one party whose
    /// delete removed the entry.
    pub fn claim(&mut self, tgid: u32) -> Option<Held> {
        let held = self.0.get(&tgid, 0).ok()?;
        self.0.remove(&tgid).ok().map(|()| held)
    }

    /// Holds older than `deadline` at `now`, and the start of the oldest hold that is
    /// not (the next to expire), if any.
    pub fn sweep(&self, now: u64, deadline: Duration) -> (Vec<u32>, Option<u64>) {
        let deadline = deadline.as_nanos() as u64;
        let mut next = None::<u64>;
        let mut expired = Vec::new();
        for (tgid, h) in self.0.iter().filter_map(Result::ok) {
            if now.saturating_sub(h.since_ns) >= deadline {
                expired.push(tgid);
            } else {
                next = Some(next.map_or(h.since_ns, |n| n.min(h.since_ns)));
            }
        }
        (expired, next)
    }

    pub fn is_empty(&self) -> bool {
        self.0.keys().next().is_none()
    }
}

/// What ended a hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Resumed,
    Killed,
    /// The pid no longer names the parked process (it died, or the pid was reused).
    Gone,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Self::Resumed => "resumed",
            Self::Killed => "killed",
            Self::Gone => "gone",
        }
    }
}

/// Resumes (SIGCONT) or kills (SIGKILL) the held process `tgid` through a pidfd, once
/// its start time shows it is the process parked at `held.since_ns`.
pub fn release(tgid: u32, held: &Held, kill: bool) -> Outcome {
    // SAFETY: pidfd_open(pid, 0) returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, tgid as libc::pid_t, 0) } as i32;
    if fd < 0 {
        return Outcome::Gone;
    }
    let outcome = if started_before(tgid, held.since_ns) {
        let sig = if kill { libc::SIGKILL } else { libc::SIGCONT };
        // SAFETY: pidfd_send_signal on our fd, no siginfo.
        let rc = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fd, sig, std::ptr::null::<libc::siginfo_t>(), 0) };
        match (rc, kill) {
            (0, true) => Outcome::Killed,
            (0, false) => Outcome::Resumed,
            _ => Outcome::Gone,
        }
    } else {
        Outcome::Gone
    };
    // SAFETY: closing the fd we opened.
    unsafe { libc::close(fd) };
    outcome
}

/// Whether process `tgid` was created before `since_ns` (CLOCK_MONOTONIC): a pid
/// reused after the parked process died was created later.
fn started_before(tgid: u32, since_ns: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{tgid}/stat")) else {
        return false;
    };
    // Field 22 (starttime, clock ticks since boot), counted after the `)` of comm.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return false;
    };
    let Some(ticks) = rest.split_whitespace().nth(19).and_then(|t| t.parse::<u64>().ok()) else {
        return false;
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    // starttime is on the boot clock (monotonic plus suspend); one tick of slack.
    ticks.saturating_mul(1_000_000_000 / hz) <= since_ns + 1_000_000_000 / hz
}

/// `guard-agent hold-reaper`: ends holds whose deadline passed (with the fail mode),
/// so no process stays stopped when the agent is late or gone. Started by `run`; exits
/// once no agent runs, its heartbeat is stale and nothing is held.
#[derive(clap::Args, Debug)]
pub struct ReaperArgs {
    /// The build's pin directory (`/sys/fs/bpf/guard/<object id>`).
    #[arg(long)]
    pub pins: std::path::PathBuf,
}

pub fn reaper(args: &ReaperArgs) -> anyhow::Result<std::process::ExitCode> {
    use std::os::fd::AsRawFd as _;
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(REAPER_LOCK)?;
    // One reaper at a time. One that holds the lock serves either these pins (the agent
    // was restarted and adopted them: it goes on serving them) or older ones, removed
    // or replaced by this load, and then it exits at its next wake-up. Exiting at once
    // here, as this did, left a quick reload with no reaper at all, and a held process
    // of a killed agent stopped for good.
    // SAFETY: flock on an fd we own.
    if !wait_for(REAPER_HANDOVER, || unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0) {
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let maps = args.pins.join("maps");
    // The agent that started this reaper may have stopped cleanly, removing its pins,
    // while this waited for the lock: then there is nothing to serve, which is no error.
    let gone = || !maps.join("HELD").exists() || !maps.join("AGENT").exists();
    let opened = HeldMap::from_pin(&maps.join("HELD")).and_then(|held| {
        let agent: Array<MapData, AgentState> = Array::try_from(Map::from_map_data(MapData::from_pin(maps.join("AGENT"))?)?)?;
        Ok((held, agent))
    });
    let (mut held, mut agent) = match opened {
        Ok(maps) => maps,
        Err(_) if gone() => {
            tracing::info!(pins = %args.pins.display(), "hold reaper: the pins are gone (the agent unloaded them), nothing to serve");
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Err(err) => return Err(err),
    };
    // The pins it serves: once they are removed (unload), or replaced by a new load,
    // this reaper's maps are no one's and it exits.
    let ino = |p: &Path| std::fs::metadata(p).map(|m| std::os::unix::fs::MetadataExt::ino(&m)).ok();
    let served = ino(&maps.join("HELD"));
    // Under BPF LSM, only the agent and this reaper may SIGCONT a held process.
    let mut state = agent.get(&0, 0).unwrap_or_default();
    state.reaper_tgid = std::process::id();
    agent.set(0, state, 0)?;
    let mut pause = REAPER_MIN_PAUSE;
    loop {
        std::thread::sleep(pause);
        if ino(&maps.join("HELD")) != served {
            return Ok(std::process::ExitCode::SUCCESS);
        }
        let now = monotonic_ns();
        let state = agent.get(&0, 0).unwrap_or_default();
        let deadline = Duration::from_nanos(state.deadline_ns.max(10_000_000));
        let (expired, next) = held.sweep(now, deadline);
        for tgid in expired {
            if let Some(h) = held.claim(tgid) {
                let outcome = release(tgid, &h, h.fail_open == 0);
                tracing::warn!(tgid, uid = h.uid, outcome = outcome.name(), "hold deadline passed: fail mode applied");
            }
        }
        let stale = state.heartbeat_ns == 0 || now.saturating_sub(state.heartbeat_ns) > state.max_age_ns;
        if stale && held.is_empty() && !crate::cli::run::agent_running() {
            return Ok(std::process::ExitCode::SUCCESS);
        }
        pause = reaper_pause(monotonic_ns(), deadline, next);
    }
}

/// The reaper's sleeps are at least this long (no spinning on a hold about to expire).
const REAPER_MIN_PAUSE: Duration = Duration::from_millis(1);
/// With nothing held, the reaper sleeps one deadline, but at least this long (a 10 ms
/// deadline does not make it wake 100 times a second) ...
const REAPER_IDLE_PAUSE: Duration = Duration::from_millis(50);
/// ... and never longer than this, so that a shortened deadline, an unload or a new
/// load of the programs is noticed within a second. Not shorter: each wake-up on a
/// machine whose CPUs are all busy costs some workload process a scheduler slice
/// (see `events::reader`).
const REAPER_MAX_PAUSE: Duration = Duration::from_secs(1);

/// How long the reaper sleeps after a sweep at `now`: until the next pending hold's
/// deadline, so it is ended when it is due rather than up to a fixed poll later. With
/// nothing held, one deadline: a hold placed after the sweep cannot expire sooner (the
/// wake-up that follows sees it and sleeps until its own deadline).
fn reaper_pause(now: u64, deadline: Duration, next_since: Option<u64>) -> Duration {
    match next_since {
        Some(since) => {
            let due = since.saturating_add(deadline.as_nanos() as u64);
            Duration::from_nanos(due.saturating_sub(now)).clamp(REAPER_MIN_PAUSE, REAPER_MAX_PAUSE)
        }
        None => deadline.clamp(REAPER_IDLE_PAUSE, REAPER_MAX_PAUSE),
    }
}

const REAPER_LOCK: &str = "/run/guard-hold-reaper.lock";

/// How long a new reaper waits for an older one to go: the older one's longest sleep,
/// and as much again. Holds of the new load that fall due meanwhile end this much late
/// at most; a lock still held after it is an older reaper serving these same pins.
const REAPER_HANDOVER: Duration = REAPER_MAX_PAUSE.saturating_mul(2);

/// Whether `ready` turned true within `limit` (asked every 10 ms).
fn wait_for(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    loop {
        if ready() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts the reaper for `pins` in its own session, so that it outlives the agent.
pub fn spawn_reaper(pins: &Path) {
    use std::os::unix::process::CommandExt as _;
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("hold-reaper").arg("--pins").arg(pins).stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    match cmd.spawn() {
        Ok(child) => tracing::info!(pid = child.id(), "hold reaper started"),
        Err(err) => tracing::error!(%err, "starting the hold reaper: holds then end only by the agent's verdict"),
    }
}

/// The current policy, shared by the enforcer (which swaps it on reload) and the reader.
pub type CurrentPolicy = std::sync::Arc<std::sync::RwLock<std::sync::Arc<guard_policy::Policy>>>;

/// The agent's side of a hold: judge the parked command, then resume or kill it.
pub struct Resolver {
    held: HeldMap,
    policy: CurrentPolicy,
    cache: BpfHashMap<MapData, VerdictKey, CachedVerdict>,
}

impl Resolver {
    pub fn new(held: HeldMap, policy: CurrentPolicy, cache: Map) -> anyhow::Result<Self> {
        Ok(Self { held, policy, cache: BpfHashMap::try_from(cache)? })
    }

    /// Judges the held exec of `record` with the classifier in its identity's mode and
    /// the policy, ends the hold, remembers the verdict in the kernel's cache when it does
    /// not depend on where the command runs, and returns the verdict as one JSON line and
    /// whether it denies.
    pub fn resolve(&mut self, record: &crate::events::decode::ExecRecord) -> (String, bool) {
        let (tgid, argv) = (record.event.pid, &record.argv.to_vecs());
        let started = std::time::Instant::now();
        let policy = self.policy.read().map(|p| p.clone()).expect("policy lock");
        // The parked process's working directory gives its relative paths meaning.
        let cwd = std::fs::read_link(format!("/proc/{tgid}/cwd")).ok().and_then(|p| p.to_str().map(str::to_owned));
        let classified = guard_classify::classify_argv_in(argv, cwd.as_deref(), policy.context());
        let input = argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(" ");
        // Strict identities' holds, and a confirm rule's holds of enforce identities.
        let mode = if record.event.mode == guard_common::enforce::mode::ENFORCE {
            guard_classify::check::Mode::Enforce
        } else {
            guard_classify::check::Mode::Strict
        };
        let judgement = guard_classify::check::Judgement::new(classified, mode, input);
        let verdict = crate::cli::check::apply_policy(&judgement, &policy);
        let classify_us = started.elapsed().as_micros() as u64;
        crate::metrics::global().observe_classification(started.elapsed());
        let (outcome, waited_us) = match self.held.claim(tgid) {
            Some(h) => {
                let outcome = release(tgid, &h, verdict.deny);
                let parked = Duration::from_nanos(monotonic_ns().saturating_sub(h.since_ns));
                crate::metrics::global().observe_hold(parked);
                (Some(outcome), parked.as_micros() as u64)
            }
            // The reaper ended it first (deadline), or it was never ours.
            None => (None, 0),
        };
        let cached = !record.argv_truncated() && (verdict.deny || allowed_anywhere(argv, &policy));
        if cached {
            let key = VerdictKey {
                binary: guard_common::matcher::hash_name(guard_common::matcher::basename(&record.filename)),
                argv_hash: argv.iter().fold(guard_common::matcher::FNV_BASIS, |h, a| {
                    guard_common::matcher::fnv(guard_common::matcher::fnv_bytes(h, a), 0)
                }),
                policy_version: record.event.policy_version,
                mode: record.event.mode,
                _pad: [0; 3],
            };
            let class = judgement.intents.first().map_or(guard_common::enforce::intent::NONE, |i| crate::enforce::facts::class_code(i.class));
            let value = CachedVerdict {
                decision: if verdict.deny { guard_common::enforce::decision::DENY } else { guard_common::enforce::decision::ALLOW },
                class,
                rule_id: record.event.rule_id,
                _pad: 0,
            };
            if let Err(err) = self.cache.insert(key, value, 0) {
                tracing::warn!(%err, "verdict cache");
            }
        }
        let intents: Vec<String> = judgement.intents.iter().map(|i| i.class.to_string()).collect();
        tracing::info!(
            tgid,
            decision = if verdict.deny { "deny" } else { "allow" },
            outcome = outcome.map_or("deadline", Outcome::name),
            ?intents,
            held_us = waited_us,
            classify_us,
            "hold verdict"
        );
        let line = serde_json::json!({
            "event": "hold_verdict",
            "pid": tgid,
            "decision": if verdict.deny { "deny" } else { "allow" },
            "outcome": outcome.map_or("deadline", Outcome::name),
            "intents": intents,
            "reason": judgement.intents.first().map(|i| i.reason.clone()),
            "rule": verdict.rule,
            "excepted": verdict.excepted,
            "cwd": cwd,
            "cached": cached,
            "held_us": waited_us,
            "classify_us": classify_us,
            "policy": {"name": policy.name(), "version": policy.version_hash()},
        })
        .to_string();
        (line, verdict.deny)
    }

    /// The policy in force.
    pub fn policy(&self) -> std::sync::Arc<guard_policy::Policy> {
        self.policy.read().map(|p| p.clone()).expect("policy lock")
    }
}

/// Whether `argv` is allowed wherever it runs: with no working directory, at `/`, and
/// in every protected path, data directory and each of their ancestors (the places
/// from which a relative path could reach what the policy protects). Only such an
/// allow may be cached, since the cache key has no working directory.
fn allowed_anywhere(argv: &[Vec<u8>], policy: &guard_policy::Policy) -> bool {
    let ctx = policy.context();
    let mut cwds: std::collections::BTreeSet<String> = ["/".to_owned()].into();
    for p in ctx.protected_paths.iter().chain(&ctx.data_dirs) {
        let mut cur = Path::new(p);
        cwds.insert(cur.display().to_string());
        while let Some(parent) = cur.parent() {
            cwds.insert(parent.display().to_string());
            cur = parent;
        }
    }
    let allowed = |cwd: Option<&str>| {
        let v = guard_classify::classify_argv_in(argv, cwd, ctx);
        let j = guard_classify::check::Judgement::new(v, guard_classify::check::Mode::Strict, String::new());
        !crate::cli::check::apply_policy(&j, policy).deny
    };
    allowed(None) && cwds.iter().all(|c| allowed(Some(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_new_reaper_waits_for_the_lock_a_while_then_gives_up() {
        let mut asked = 0;
        assert!(wait_for(Duration::from_secs(5), || {
            asked += 1;
            asked == 3
        }));
        assert_eq!(asked, 3, "asked until it was ready");
        let start = std::time::Instant::now();
        assert!(!wait_for(Duration::from_millis(50), || false));
        assert!(start.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn the_reaper_wakes_when_the_next_hold_is_due() {
        let d = Duration::from_secs(1);
        let now = 10_000 * MS;
        // Placed 900 ms ago: due in 100 ms.
        assert_eq!(reaper_pause(now, d, Some(now - 900 * MS)), Duration::from_millis(100));
        // Due long after the longest sleep: it wakes in between (a shortened deadline).
        assert_eq!(reaper_pause(now, Duration::from_secs(5), Some(now - 100 * MS)), REAPER_MAX_PAUSE);
        // Already due (the sweep raced with it): at once, without spinning.
        assert_eq!(reaper_pause(now, d, Some(now - 2_000 * MS)), REAPER_MIN_PAUSE);
        // Nothing held: one deadline, within the idle bounds.
        assert_eq!(reaper_pause(now, Duration::from_millis(100), None), Duration::from_millis(100));
        assert_eq!(reaper_pause(now, Duration::from_secs(2), None), REAPER_MAX_PAUSE);
        assert_eq!(reaper_pause(now, Duration::from_millis(10), None), REAPER_IDLE_PAUSE);
    }

    /// Holds placed at arbitrary moments between the reaper's sweeps are each ended
    /// within 1 ms of their deadline when the deadline is at least the idle pause (and
    /// within the idle pause when it is shorter).
    #[test]
    fn every_hold_ends_at_its_deadline() {
        for deadline_ms in [10u64, 50, 100, 1_000, 2_000, 60_000] {
            let d = Duration::from_millis(deadline_ms);
            let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ deadline_ms;
            let mut rand = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            // A simulated reaper: holds as (placed at, ended at).
            let (mut now, mut holds) = (0u64, Vec::<(u64, Option<u64>)>::new());
            let end = 600_000 * MS;
            while now < end {
                // Holds placed since the last sweep (some sweeps see none).
                if rand() % 4 == 0 {
                    let placed = now.saturating_sub(rand() % (5 * MS));
                    holds.push((placed, None));
                }
                let mut next = None::<u64>;
                for (placed, ended) in holds.iter_mut().filter(|h| h.1.is_none()) {
                    if now - *placed >= d.as_nanos() as u64 {
                        *ended = Some(now);
                    } else {
                        next = Some(next.map_or(*placed, |n: u64| n.min(*placed)));
                    }
                }
                now += reaper_pause(now, d, next).as_nanos() as u64;
            }
            let slack = if d >= REAPER_IDLE_PAUSE { MS } else { REAPER_IDLE_PAUSE.as_nanos() as u64 };
            for (placed, ended) in holds.iter().filter_map(|(p, e)| Some((*p, (*e)?))) {
                let late = ended - (placed + d.as_nanos() as u64);
                assert!(late <= slack, "deadline {deadline_ms} ms: a hold placed at {placed} ended {late} ns late");
            }
            assert!(holds.iter().filter(|h| h.1.is_some()).count() > 100, "deadline {deadline_ms} ms");
        }
    }

    /// With nothing held and the default deadline, the reaper wakes once a second
    /// (a fixed 50 ms poll: 20 times), and never less often.
    #[test]
    fn an_idle_reaper_wakes_rarely() {
        let d = Duration::from_millis(guard_policy::DEFAULT_DEADLINE_MS);
        assert_eq!(reaper_pause(0, d, None), Duration::from_secs(1));
        for ms in [1u64, 10, 49, 50, 60, 250, 251, 60_000] {
            let p = reaper_pause(0, Duration::from_millis(ms), None);
            assert!(p >= REAPER_IDLE_PAUSE && p <= REAPER_MAX_PAUSE, "{ms} ms: {p:?}");
        }
    }
}
