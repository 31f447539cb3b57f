//! Strict identities: commands the kernel cannot judge alone (here `sh -c` scripts whose
//! target is a relative path) but which carry an interesting token are parked with
//! SIGSTOP before their first instruction, judged by the agent's classifier, then
//! resumed or killed through a pidfd. When the agent dies, the hold reaper applies the
//! fail mode at the deadline, and once the heartbeat is stale the kernel applies it at
//! once. Every target is a directory this test created and declared protected; the
//! commands run as test uid 4244 (strict, fail closed), 4245 (strict, fail open) or
//! 4242 (enforce).

use std::{
    os::unix::{fs::PermissionsExt as _, process::{CommandExt as _, ExitStatusExt as _}},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus},
    time::{Duration, Instant},
};

use integration_test::{Agent, Events, agent_bin, lsm, require_root, token, unload};
use serde_json::Value;

const STRICT: u32 = 4244;
const ENFORCED: u32 = 4242;
/// Strict too, but its policy entry says `fail: open`.
const STRICT_OPEN: u32 = 4245;

struct Sandbox {
    dir: PathBuf,
    policy: PathBuf,
}

impl Sandbox {
    fn new(tag: &str, deadline_ms: u64) -> Self {
        let dir = std::env::temp_dir().join(token(tag));
        for sub in ["protected/keep", "scratch/build"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::write(dir.join("protected/keep/file"), "precious").unwrap();
        for p in [&dir, &dir.join("protected"), &dir.join("protected/keep"), &dir.join("scratch"), &dir.join("scratch/build")] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let policy = dir.join("policy.yaml");
        std::fs::write(
            &policy,
            format!(
                "version: 1\nname: hold-test\ndefault_mode: audit\nidentities:\n  - name: bots\n    mode: strict\n    match: {{ uids: [{STRICT}] }}\n  - name: tolerant-bots\n    mode: strict\n    fail: open\n    match: {{ uids: [{STRICT_OPEN}] }}\n  - name: people\n    mode: enforce\n    match: {{ uids: [{ENFORCED}] }}\nprotected_paths: [{}]\nhold: {{ deadline_ms: {deadline_ms} }}\n",
                dir.join("protected").display()
            ),
        )
        .unwrap();
        Self { dir, policy }
    }

    fn intact(&self) -> bool {
        self.dir.join("protected/keep/file").exists()
    }

    /// `sh -c SCRIPT TOKEN` as `uid`, in the sandbox (the token is the script's `$0`,
    /// an argument of its own that finds the exec's events), run to its end.
    fn sh(&self, uid: u32, script: &str, tok: &str) -> ExitStatus {
        wait_bounded(&mut self.spawn_sh(uid, script, tok), COMMAND_LIMIT)
    }

    /// The same, started.
    fn spawn_sh(&self, uid: u32, script: &str, tok: &str) -> Child {
        Command::new("/bin/sh").arg("-c").arg(script).arg(tok).current_dir(&self.dir).uid(uid).gid(uid).spawn().unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn verdicts(events: &Events) -> Vec<&Value> {
    events.events.iter().filter(|e| e["event"] == "hold_verdict").collect()
}

fn held_events<'a>(events: &'a Events, needle: &str) -> Vec<&'a Value> {
    events.with_token(needle).into_iter().filter(|e| e["decision"] == "hold" && e["enforced_by"] == "hold").collect()
}

#[test]
fn a_held_command_resumes_when_allowed_and_dies_before_acting_when_denied() {
    require_root();
    unload();
    let sb = Sandbox::new("hold", 5000);
    let agent = Agent::start(&["--policy", sb.policy.to_str().unwrap()]).unwrap();
    let allowed_tok = token("allowed");
    let denied_tok = token("denied");

    // The kernel cannot judge either script (a relative path, and a cd before it); the
    // token `rm` makes both worth holding. The classifier allows the first...
    let started = Instant::now();
    let ok = sb.sh(STRICT, "rm -rf scratch/build", &allowed_tok);
    let allowed_took = started.elapsed();
    if !ok.success() {
        let events = agent.stop().unwrap();
        panic!("the allowed command resumed and completed: {ok:?}\n{:#?}\n{}", events.with_token(&allowed_tok), events.log);
    }
    assert!(!sb.dir.join("scratch/build").exists(), "and did its work");
    // ...and denies the second: it is killed while parked, so nothing is deleted.
    let killed = sb.sh(STRICT, "cd protected/.. && rm -rf protected", &denied_tok);
    assert_eq!(killed.signal(), Some(libc::SIGKILL), "the denied command was killed: {killed:?}");
    assert!(sb.intact(), "nothing was deleted");
    // Ordinary scripts and other modes are not held.
    let plain = sb.sh(STRICT, "echo ordinary > /dev/null", "plain");
    assert!(plain.success());
    let enforced = sb.sh(ENFORCED, "cd protected/.. && rm -rf scratch", "enforced");
    assert!(enforced.success(), "enforce mode has no hold: the kernel alone decides, and it cannot judge this");

    let events = agent.stop().unwrap();
    assert_eq!(held_events(&events, &allowed_tok).len(), 1, "{:#?}", events.with_token(&allowed_tok));
    assert_eq!(held_events(&events, &denied_tok).len(), 1, "{:#?}", events.with_token(&denied_tok));
    let v = verdicts(&events);
    let allowed_pid = held_events(&events, &allowed_tok)[0]["pid"].clone();
    let denied_pid = held_events(&events, &denied_tok)[0]["pid"].clone();
    let of = |pid: &Value| v.iter().find(|e| e["pid"] == *pid).copied().unwrap_or_else(|| panic!("a verdict for {pid}: {v:#?}"));
    assert_eq!(of(&allowed_pid)["decision"], "allow");
    assert_eq!(of(&allowed_pid)["outcome"], "resumed");
    assert_eq!(of(&denied_pid)["decision"], "deny");
    assert_eq!(of(&denied_pid)["outcome"], "killed");
    assert_eq!(of(&denied_pid)["intents"][0], "bulk_delete");
    assert!(allowed_took < Duration::from_secs(5), "resumed by the verdict, not the deadline: {allowed_took:?}");
    assert!(events.events.iter().all(|e| e["event"] == "hold_verdict" || e["hold_offline"] == false), "the agent was up throughout");
    unload();
}

/// The heartbeat is kept fresh by the reader thread as it polls, not only written at
/// start: seconds after start (past the heartbeat's 2 s maximum age), with no event in
/// between, a strict identity's command is still held and judged.
#[test]
fn commands_are_still_held_long_after_the_agent_started() {
    require_root();
    unload();
    let sb = Sandbox::new("hold-later", 5000);
    let agent = Agent::start(&["--policy", sb.policy.to_str().unwrap()]).unwrap();
    std::thread::sleep(Duration::from_millis(3000));
    let tok = token("later");
    let killed = sb.sh(STRICT, "cd protected/.. && rm -rf protected", &tok);
    let events = agent.stop().unwrap();
    assert_eq!(killed.signal(), Some(libc::SIGKILL), "held and denied: {killed:?}\n{:#?}", events.with_token(&tok));
    assert!(sb.intact(), "nothing was deleted");
    assert_eq!(held_events(&events, &tok).len(), 1, "held, not the fail mode at once: {:#?}", events.with_token(&tok));
    unload();
}

#[test]
fn with_the_agent_killed_no_held_command_outlives_the_deadline() {
    require_root();
    unload();
    let sb = Sandbox::new("hold-dead", 1000);
    let agent = Agent::start(&["--policy", sb.policy.to_str().unwrap()]).unwrap();
    let tok = token("orphan");
    agent.kill9().unwrap();
    // The heartbeat is at most a poll (500 ms) old: the kernel still holds, and nobody is there
    // to judge. The reaper applies the fail mode (strict: closed) at the deadline.
    let started = Instant::now();
    let mut child = sb.spawn_sh(STRICT, "cd protected/.. && rm -rf protected", &tok);
    // A strict identity whose policy entry says `fail: open`: the same deadline resumes it.
    let tok_open = token("orphan-open");
    let mut open_child = sb.spawn_sh(STRICT_OPEN, "cd scratch/.. && rm -rf scratch/build", &tok_open);
    let pid = child.id() as i32;
    if lsm() {
        // Under BPF LSM nobody but guard may resume a held process: wait until it is
        // parked, then try, as root.
        assert!(integration_test::task_kill_attached(), "under BPF LSM guard's task_kill is attached (6.1 and 6.12)");
        while !stopped(pid) && started.elapsed() < Duration::from_millis(800) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(stopped(pid), "the command is parked");
        // SAFETY: signalling our own child.
        let rc = unsafe { libc::kill(pid, libc::SIGCONT) };
        let err = std::io::Error::last_os_error();
        assert_eq!((rc, err.raw_os_error()), (-1, Some(libc::EPERM)), "SIGCONT to a held process is refused");
    }
    let status = wait_bounded(&mut child, Duration::from_secs(10));
    let took = started.elapsed();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "killed by the fail mode: {status:?}");
    assert!(sb.intact());
    // The reaper sleeps until the hold is due: ended at the deadline, not a poll later.
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(2), "ended at the 1 s deadline, not before and not long after: {took:?}");
    let open_status = wait_bounded(&mut open_child, Duration::from_secs(10));
    assert!(open_status.success(), "the fail-open identity was resumed at the deadline and ran: {open_status:?}");
    assert!(!sb.dir.join("scratch/build").exists(), "and did its work");
    std::fs::create_dir_all(sb.dir.join("scratch/build")).unwrap();
    std::fs::set_permissions(sb.dir.join("scratch/build"), std::fs::Permissions::from_mode(0o777)).unwrap();

    // Once the heartbeat is stale (2 s) nothing is held: the kernel applies the fail mode.
    std::thread::sleep(Duration::from_millis(2000));
    let tok2 = token("offline");
    let started = Instant::now();
    let status = sb.sh(STRICT, "rm -rf scratch/build", &tok2);
    assert_eq!(status.signal(), Some(libc::SIGKILL), "fail-closed while the agent is gone: {status:?}");
    assert!(started.elapsed() < Duration::from_millis(900), "at once, without waiting for a deadline");
    assert!(sb.dir.join("scratch/build").exists());
    // The fail-open identity is let through at once.
    let tok3 = token("offline-open");
    let status = sb.sh(STRICT_OPEN, "rm -rf scratch/build", &tok3);
    assert!(status.success(), "fail-open while the agent is gone: {status:?}");
    assert!(!sb.dir.join("scratch/build").exists());

    // The next agent adopts the programs and reads what happened meanwhile.
    let next = Agent::start(&["--policy", sb.policy.to_str().unwrap()]).unwrap();
    let events = next.stop().unwrap();
    assert_eq!(held_events(&events, &tok).len(), 1, "the first was held: {:#?}", events.with_token(&tok));
    let offline: Vec<&Value> = events.with_token(&tok2).into_iter().filter(|e| e["hold_offline"] == true).collect();
    assert_eq!(offline.len(), 1, "{:#?}", events.with_token(&tok2));
    assert_eq!(offline[0]["decision"], "deny");
    let offline_open: Vec<&Value> = events.with_token(&tok3).into_iter().filter(|e| e["hold_offline"] == true).collect();
    assert_eq!(offline_open.len(), 1, "{:#?}", events.with_token(&tok3));
    assert_eq!(offline_open[0]["decision"], "allow");
    assert_eq!(held_events(&events, &tok_open).len(), 1, "the fail-open one was held too: {:#?}", events.with_token(&tok_open));
    unload();
    assert!(no_stopped_process_of(STRICT), "no process of the strict uid is left stopped");
}

/// A reaper of an earlier load can still hold the reaper lock when the next agent
/// starts: it sees that its pins are gone only at its next wake-up, up to 1 s later.
/// The new load's reaper waits for it rather than leaving. Here the test holds the lock
/// as that older reaper would, lets it go, and a held command of the agent, killed
/// meanwhile, still ends at the deadline with the fail mode.
#[test]
fn a_new_reaper_takes_over_from_the_one_before_it() {
    require_root();
    unload();
    let sb = Sandbox::new("hold-handover", 1000);
    let older_reaper = ReaperLock::take();
    let agent = Agent::start(&["--policy", sb.policy.to_str().unwrap()]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(older_reaper);
    let tok = token("handover");
    agent.kill9().unwrap();
    let started = Instant::now();
    let mut child = sb.spawn_sh(STRICT, "cd protected/.. && rm -rf protected", &tok);
    let status = wait_bounded(&mut child, Duration::from_secs(10));
    let took = started.elapsed();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "killed by the fail mode: {status:?}");
    assert!(sb.intact());
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(2), "ended at the 1 s deadline: {took:?}");
    // It was held (not the fail mode at once): the next agent reads what happened.
    let next = Agent::start(&["--policy", sb.policy.to_str().unwrap()]).unwrap();
    let events = next.stop().unwrap();
    assert_eq!(held_events(&events, &tok).len(), 1, "held: {:#?}", events.with_token(&tok));
    unload();
    assert!(no_stopped_process_of(STRICT), "no process of the strict uid is left stopped");
}

/// A reaper that gets the lock only after its agent stopped cleanly (and removed its
/// pins) has nothing to serve: it exits quietly, without an error in the agent's log.
/// (Since a new reaper waits for an older one's lock, this happens whenever an agent is
/// stopped within a second or two of a restart.)
#[test]
fn a_reaper_whose_pins_are_gone_exits_quietly() {
    require_root();
    unload();
    let agent = Agent::start(&[]).unwrap();
    let pins: Vec<PathBuf> = std::fs::read_dir("/sys/fs/bpf/guard").unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(pins.len(), 1, "one pin directory while the agent runs: {pins:?}");
    agent.stop().unwrap();
    assert!(!pins[0].exists(), "a clean stop removes the pins");
    // Waits for the agent's own reaper to leave, so the one below takes the lock at once.
    drop(ReaperLock::take());
    let mut reaper = Command::new(agent_bin())
        .args(["hold-reaper", "--pins"])
        .arg(&pins[0])
        .env("GUARD_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut reaper, COMMAND_LIMIT);
    let mut log = String::new();
    std::io::Read::read_to_string(&mut reaper.stderr.take().unwrap(), &mut log).unwrap();
    assert!(status.success(), "{status:?}: {log}");
    assert!(log.contains("nothing to serve"), "it reached the pins, not a busy lock: {log}");
    assert!(!log.to_lowercase().contains("error"), "{log}");
}

/// The reapers' lock (`hold::REAPER_LOCK` in the agent), held as a reaper holds it.
struct ReaperLock {
    /// The lock lasts as long as this descriptor is open.
    _file: std::fs::File,
}

impl ReaperLock {
    /// Takes the lock, waiting (at most `COMMAND_LIMIT`) for a reaper of an earlier test
    /// to exit: a reaper that never does fails the test instead of hanging it.
    fn take() -> Self {
        use std::os::fd::AsRawFd as _;
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open("/run/guard-hold-reaper.lock").unwrap();
        let start = Instant::now();
        // SAFETY: flock on an fd we own; released when the file closes.
        while unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            assert!(start.elapsed() < COMMAND_LIMIT, "a hold reaper kept the lock for {COMMAND_LIMIT:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self { _file: file }
    }
}

/// Every command here is waited for at most this long: a hold that nobody ends would
/// leave it stopped, and the test waiting for good.
const COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// Runs `cmd` to its end (at most `COMMAND_LIMIT`).
fn run_bounded(cmd: &mut Command) -> std::io::Result<ExitStatus> {
    let mut child = cmd.spawn()?;
    Ok(wait_bounded(&mut child, COMMAND_LIMIT))
}

/// Waits for `child` at most `limit`; past it, kills it and fails the test.
fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let stopped = stopped(child.id() as i32);
            let _ = child.kill();
            let _ = child.wait();
            panic!("pid {} still running after {limit:?} (stopped: {stopped}), killed", child.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether process `pid` is stopped.
fn stopped(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.rfind(')').is_some_and(|i| s[i + 1..].trim_start().starts_with('T')))
}

/// Whether no process of `uid` is in the stopped state.
fn no_stopped_process_of(uid: u32) -> bool {
    let mut ok = true;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let p = entry.path();
        let Ok(status) = std::fs::read_to_string(p.join("status")) else { continue };
        let state = status.lines().find(|l| l.starts_with("State:")).unwrap_or("");
        let owner = status.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(1)).unwrap_or("");
        if owner == uid.to_string() && state.contains("stopped") {
            ok = false;
        }
    }
    ok && Path::new("/proc").exists()
}

/// The verdict cache: a command the agent judged once is decided in the kernel the next
/// time (no hold), allowed or denied as before, unless the allow depended on where it
/// ran (a relative path that reaches a protected path from some directory).
#[test]
fn the_verdict_cache_decides_a_command_judged_before_without_holding_it() {
    require_root();
    unload();
    let sb = Sandbox::new("hold-cache", 5000);
    let agent = Agent::start(&["--policy", sb.policy.to_str().unwrap()]).unwrap();
    let d = sb.dir.display().to_string();
    // The agent ends a hold first and records its verdict in the kernel's cache right
    // after (an allow must first be judged from every directory): the second run waits
    // for the first verdict to be recorded, which the agent logs as "hold verdict".
    let recorded = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent.log().matches("hold verdict").count() < n {
            assert!(Instant::now() < deadline, "verdict {n} never recorded: {}", agent.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let allowed = token("cache-allowed");
    for _ in 0..2 {
        std::fs::create_dir_all(sb.dir.join("scratch/build")).unwrap();
        let st = sb.sh(STRICT, &format!("rm -rf {d}/scratch/build"), &allowed);
        assert!(st.success(), "{st:?}");
        assert!(!sb.dir.join("scratch/build").exists());
        recorded(1);
    }
    let denied = token("cache-denied");
    for _ in 0..2 {
        let st = run_bounded(Command::new("/bin/sh").args(["-c", &format!("rm -rf {d}/protected"), &denied]).uid(STRICT).gid(STRICT));
        match st {
            Ok(st) => assert_eq!(st.signal(), Some(libc::SIGKILL), "{st:?}"),
            Err(e) => assert!(lsm() && e.raw_os_error() == Some(libc::EPERM), "{e}"),
        }
        assert!(sb.intact());
        recorded(2);
    }
    // Allowed here (/tmp has no `protected`), but not from the sandbox: not cached.
    let relative = token("cache-relative");
    for _ in 0..2 {
        let st = run_bounded(Command::new("/bin/sh").args(["-c", "rm -rf protected", &relative]).current_dir("/tmp").uid(STRICT).gid(STRICT)).unwrap();
        assert!(st.success(), "{st:?}");
    }
    assert!(sb.intact());
    let events = agent.stop().unwrap();
    let decisions = |tok: &str| -> Vec<(String, bool)> {
        events
            .with_token(tok)
            .iter()
            .filter(|e| e["result"] == "ok" || e["errno"] == libc::EPERM)
            .filter(|e| e["filename"] == "/bin/sh")
            .map(|e| (e["decision"].as_str().unwrap().to_owned(), e["verdict_cached"] == true))
            .collect()
    };
    assert_eq!(decisions(&allowed), [("hold".to_owned(), false), ("allow".to_owned(), true)], "{:#?}", events.with_token(&allowed));
    assert_eq!(decisions(&denied), [("hold".to_owned(), false), ("deny".to_owned(), true)], "{:#?}", events.with_token(&denied));
    assert_eq!(decisions(&relative), [("hold".to_owned(), false), ("hold".to_owned(), false)], "{:#?}", events.with_token(&relative));
    unload();
}

/// A SIEM sees both halves of a hold: the parked exec (OCSF disposition Delayed) and
/// the agent's verdict on it (Blocked, `enforced_by: hold`), schema-valid and in the
/// hash-chained audit log.
#[test]
fn holds_and_their_verdicts_reach_the_sinks_and_the_audit_log() {
    require_root();
    unload();
    let sb = Sandbox::new("hold-sink", 5000);
    let ocsf = sb.dir.join("events.ocsf.jsonl");
    let log = sb.dir.join("audit.log");
    let sink = format!("file://{}", ocsf.display());
    let agent = Agent::start(&["--policy", sb.policy.to_str().unwrap(), "--sink", &sink, "--audit-log", log.to_str().unwrap()]).unwrap();
    let tok = token("sink-denied");
    let st = sb.sh(STRICT, "cd protected/.. && rm -rf protected", &tok);
    assert_eq!(st.signal(), Some(libc::SIGKILL));
    agent.stop().unwrap();
    let events: Vec<Value> = std::fs::read_to_string(&ocsf).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mine: Vec<&Value> = events.iter().filter(|e| e.to_string().contains(&tok) && e["process"]["file"]["name"] == "dash" || e.to_string().contains(&tok) && e["unmapped"]["filename"] == "/bin/sh").collect();
    let held = mine.iter().find(|e| e["disposition_id"] == 14).unwrap_or_else(|| panic!("the parked exec, Delayed: {mine:#?}"));
    assert_eq!(held["action_id"], 99);
    let verdict = mine.iter().find(|e| e["disposition_id"] == 2).unwrap_or_else(|| panic!("the verdict, Blocked: {mine:#?}"));
    assert_eq!(verdict["unmapped"]["enforced_by"], "hold");
    assert_eq!(verdict["unmapped"]["class"], "bulk_delete");
    assert_eq!(verdict["unmapped"]["hold"]["outcome"], "killed", "the verdict's details pass through: {verdict:#}");
    let out = Command::new(agent_bin()).args(["audit", "verify", log.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let out = Command::new(agent_bin()).args(["audit", "report", log.to_str().unwrap()]).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("1 held"), "{report}");
    unload();
}

/// Enforce identities are held too, but only where a signature matched together with
/// something that can make the command harmless (a confirm rule): here `chmod -R`
/// inside a declared data directory. The agent's classifier allows re-permissioning
/// the data directory and denies the same command once it also reaches a protected
/// path (killed while parked: nothing changes); without the data directory the kernel
/// still denies alone, without a hold.
#[test]
fn a_confirm_rule_asks_the_agent_for_an_enforce_identity() {
    require_root();
    unload();
    let dir = std::env::temp_dir().join(token("confirm"));
    let tag = dir.file_name().unwrap().to_str().unwrap().to_owned();
    for sub in ["data/db", "protected/keep"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for p in [dir.join("data"), dir.join("data/db")] {
        std::os::unix::fs::chown(&p, Some(ENFORCED), Some(ENFORCED)).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let policy = dir.join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "version: 1\nname: confirm-test\ndefault_mode: audit\nidentities:\n  - name: people\n    mode: enforce\n    match: {{ uids: [{ENFORCED}] }}\nprotected_paths: [{p}]\ndata_dirs: [{d}]\nhold: {{ deadline_ms: 5000 }}\n",
            p = dir.join("protected").display(),
            d = dir.join("data").display()
        ),
    )
    .unwrap();
    let mode_of = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // The exit status, or the exec's own error (EPERM: refused by BPF LSM).
    let chmod = |targets: &[PathBuf]| run_bounded(Command::new("/bin/chmod").arg("-R").arg("g+rwx").args(targets).uid(ENFORCED).gid(ENFORCED));
    let agent = Agent::start(&["--policy", policy.to_str().unwrap()]).unwrap();

    let ok = chmod(&[dir.join("data")]);
    let denied = chmod(&[dir.join("data"), dir.join("protected")]);
    let alone = chmod(&[dir.join("protected")]);
    let events = agent.stop().unwrap();
    let db_mode = mode_of(&dir.join("data/db"));
    let _ = std::fs::remove_dir_all(&dir);
    let mine: Vec<&Value> = events
        .events
        .iter()
        .filter(|e| e["argv"].as_array().is_some_and(|a| a.iter().any(|x| x.as_str().is_some_and(|s| s.contains(&tag)))))
        .collect();
    let show = || format!("{mine:#?}\n{}", events.log);

    assert!(ok.as_ref().is_ok_and(|s| s.success()), "the data directory's own chmod was allowed and ran: {ok:?}\n{}", show());
    assert_eq!(db_mode, 0o770, "and did its work");
    // Held (the LSM hook leaves holds to sched_process_exec), then killed through the pidfd.
    assert_eq!(denied.as_ref().ok().and_then(|s| s.signal()), Some(libc::SIGKILL), "reaching a protected path too, it was killed: {denied:?}\n{}", show());
    if lsm() {
        assert_eq!(alone.as_ref().err().and_then(std::io::Error::raw_os_error), Some(libc::EPERM), "the signature alone refuses the exec: {alone:?}");
    } else {
        assert_eq!(alone.as_ref().ok().and_then(|s| s.signal()), Some(libc::SIGKILL), "the signature alone denies: {alone:?}");
    }
    let held: Vec<&&Value> = mine.iter().filter(|e| e["enforced_by"] == "hold" && e["decision"] == "hold").collect();
    assert_eq!(held.len(), 2, "both data-directory commands were held: {}", show());
    for e in &held {
        assert_eq!(e["mode"], "enforce");
        assert_eq!(e["rule"], "recursive-permission-change:confirm", "{e:#}");
        assert_eq!(e["class"], "permission_change", "{e:#}");
    }
    let signal: Vec<&&Value> = mine.iter().filter(|e| e["enforced_by"] == "signal" || e["enforced_by"] == "lsm").collect();
    assert_eq!(signal.len(), 1, "the plain signature match was the kernel's alone: {}", show());
    assert_eq!(signal[0]["rule"], "recursive-permission-change");
    let verdicts = verdicts(&events);
    let of = |e: &Value| verdicts.iter().find(|v| v["pid"] == e["pid"]).copied().unwrap_or_else(|| panic!("a verdict for {e:#}: {verdicts:#?}"));
    // In the order they ran: the data directory alone, then with the protected path.
    let (first, second) = (held[0], held[1]);
    assert_eq!((of(first)["decision"].as_str(), of(first)["outcome"].as_str()), (Some("allow"), Some("resumed")));
    assert_eq!((of(second)["decision"].as_str(), of(second)["outcome"].as_str()), (Some("deny"), Some("killed")));
    unload();
}
