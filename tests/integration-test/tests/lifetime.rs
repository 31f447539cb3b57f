//! Enforcement outlives the agent. Programs, links and maps are pinned under
//! /sys/fs/bpf/guard: a SIGKILLed agent leaves its policy enforcing; the next agent adopts
//! the pinned programs (no second attachment) and reads what they recorded meanwhile; a
//! clean stop removes everything unless `--persist`; `guard-agent unload` removes
//! everything. The destructive command is `rm -rf` of a directory this test created and
//! declared protected, run as test uid 4242.

use std::{
    os::unix::{fs::PermissionsExt as _, process::{CommandExt as _, ExitStatusExt as _}},
    path::{Path, PathBuf},
    process::{Command, ExitStatus},
};

use integration_test::{Agent, agent_bin, lsm, require_root, token, unload};
use serde_json::Value;

const ENFORCED: u32 = 4242;
const PIN_ROOT: &str = "/sys/fs/bpf/guard";

/// A directory of the test's own with a protected tree, and a policy protecting it.
fn sandbox(tag: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(token(tag));
    std::fs::create_dir_all(dir.join("protected/keep")).unwrap();
    std::fs::write(dir.join("protected/keep/file"), "precious").unwrap();
    for p in [dir.clone(), dir.join("protected"), dir.join("protected/keep")] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let policy = dir.join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "version: 1\nname: lifetime-test\ndefault_mode: audit\nidentities:\n  - name: enforced\n    mode: enforce\n    match: {{ uids: [{ENFORCED}] }}\nprotected_paths: [{}]\n",
            dir.join("protected").display()
        ),
    )
    .unwrap();
    (dir, policy)
}

/// `rm -rf` of the protected tree as the enforced uid: its exit status, or the error of
/// an exec the kernel refused.
fn rm_as_enforced(dir: &Path) -> std::io::Result<ExitStatus> {
    Command::new("/bin/rm").arg("-rf").arg(dir.join("protected")).uid(ENFORCED).gid(ENFORCED).status()
}

/// Stopped the way this kernel stops: EPERM under BPF LSM, SIGKILL otherwise.
fn assert_stopped(result: std::io::Result<ExitStatus>, dir: &Path, when: &str) {
    if lsm() {
        let err = result.expect_err(&format!("{when}: the exec is refused"));
        assert_eq!(err.raw_os_error(), Some(libc::EPERM), "{when}: {err}");
    } else {
        let status = result.unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{when}: rm was killed before its first instruction: {status:?}");
    }
    assert!(dir.join("protected/keep/file").exists(), "{when}: nothing was deleted");
}

fn status_json() -> Option<Value> {
    let out = Command::new(agent_bin()).args(["status", "--json"]).output().unwrap();
    out.status.success().then(|| serde_json::from_slice(&out.stdout).unwrap())
}

/// How many programs named like guard's exec program are loaded in the kernel.
fn exec_programs_loaded(status: &Value) -> usize {
    status["programs"].as_array().unwrap().iter().filter(|p| p["name"] == "sched_process_e").count()
}

#[test]
fn a_killed_agent_leaves_enforcement_in_force_and_the_next_one_adopts_it() {
    require_root();
    unload();
    let (dir, policy) = sandbox("lifetime");
    let first = Agent::start(&["--policy", policy.to_str().unwrap()]).unwrap();
    assert!(first.log().contains("adopted=false"), "a first start loads afresh: {}", first.log());
    first.kill9().unwrap();

    let st = status_json().expect("status reads the pins with no agent running");
    assert_eq!(st["running"], false, "{st}");
    assert_eq!(st["enforcing"], true, "{st}");
    assert_stopped(rm_as_enforced(&dir), &dir, "with the agent killed");

    let second = Agent::start(&["--policy", policy.to_str().unwrap()]).unwrap();
    assert!(second.log().contains("adopted=true"), "the restarted agent adopts the pins: {}", second.log());
    let st = second.status().unwrap();
    assert_eq!(st["running"], true, "{st}");
    // sched_process_exec and sched_process_exit share the kernel's 15-byte name.
    assert_eq!(exec_programs_loaded(&st), 2, "adopting loads nothing a second time: {st}");
    // Three syscall tracepoints (execveat's entry, both exits) and sched_process_exec
    // (fork and exit are attached at the first quarantine); under BPF LSM also
    // bprm_check_security and task_kill.
    let expected = 4 + 2 * usize::from(lsm());
    assert_eq!(st["links"], expected, "adopting attaches nothing a second time: {st}");
    assert_stopped(rm_as_enforced(&dir), &dir, "under the adopting agent");
    let events = second.stop().unwrap();
    let target = dir.join("protected").display().to_string();
    let denials: Vec<&Value> = events.with_token(&target).into_iter().filter(|e| e["decision"] == "deny").collect();
    assert_eq!(denials.len(), 2, "the denial made while no agent ran waited in the pinned ring buffer, and the new one: {:#?}", events.with_token(&target));

    // A clean stop without --persist removes everything.
    assert!(!Path::new(PIN_ROOT).exists(), "pins removed on a clean stop");
    assert!(rm_as_enforced(&dir).unwrap().success(), "nothing enforces once guard is unloaded");
    assert!(!dir.join("protected").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn persist_keeps_enforcing_after_a_clean_stop_until_unload() {
    require_root();
    unload();
    let (dir, policy) = sandbox("persist");
    let agent = Agent::start(&["--policy", policy.to_str().unwrap(), "--persist"]).unwrap();
    agent.stop().unwrap();
    assert!(Path::new(PIN_ROOT).exists(), "--persist leaves the pins");
    assert_stopped(rm_as_enforced(&dir), &dir, "after a clean stop with --persist");

    unload();
    assert!(!Path::new(PIN_ROOT).exists(), "unload removes every pin");
    assert!(status_json().is_none(), "nothing left for status to read");
    assert!(rm_as_enforced(&dir).unwrap().success(), "nothing enforces after unload");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The agent speaks systemd's notify protocol (`Type=notify` with `WatchdogSec=` in the
/// unit): READY=1 once attached, WATCHDOG=1 at half the watchdog timeout, RELOADING=1
/// then READY=1 around a SIGHUP reload, STOPPING=1 on the way out. The test plays the
/// service manager: a datagram socket in NOTIFY_SOCKET, the timeout in WATCHDOG_USEC.
#[test]
fn the_agent_notifies_readiness_and_feeds_the_watchdog() {
    use std::{os::unix::net::UnixDatagram, time::{Duration, Instant}};
    require_root();
    unload();
    let (dir, policy) = sandbox("notify");
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let agent = Agent::start_with_env(
        &["--policy", policy.to_str().unwrap()],
        &[("NOTIFY_SOCKET", socket_path.to_str().unwrap()), ("WATCHDOG_USEC", "400000")],
    )
    .unwrap();
    let mut seen: Vec<String> = Vec::new();
    let collect = |until: Duration, seen: &mut Vec<String>| {
        let end = Instant::now() + until;
        let mut buf = [0u8; 512];
        while Instant::now() < end {
            if let Ok(n) = socket.recv(&mut buf) {
                seen.extend(String::from_utf8_lossy(&buf[..n]).lines().map(str::to_owned));
            }
        }
    };
    collect(Duration::from_millis(1500), &mut seen);
    assert_eq!(seen.first().map(String::as_str), Some("READY=1"), "{seen:?}");
    let pings = seen.iter().filter(|l| *l == "WATCHDOG=1").count();
    assert!(pings >= 4, "about one WATCHDOG=1 every 200 ms over 1.5 s: {seen:?}");

    seen.clear();
    // SAFETY: signalling the agent we started.
    unsafe { libc::kill(agent.pid() as i32, libc::SIGHUP) };
    collect(Duration::from_millis(600), &mut seen);
    let reload = seen.iter().position(|l| l == "RELOADING=1").expect("RELOADING=1 on SIGHUP");
    assert!(seen[reload..].iter().any(|l| l == "READY=1"), "READY=1 after the reload: {seen:?}");

    // SAFETY: as above.
    unsafe { libc::kill(agent.pid() as i32, libc::SIGTERM) };
    seen.clear();
    collect(Duration::from_millis(600), &mut seen);
    assert!(seen.iter().any(|l| l == "STOPPING=1"), "{seen:?}");
    drop(agent);
    unload();
    std::fs::remove_dir_all(&dir).unwrap();
}
