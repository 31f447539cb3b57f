//! The real agent's `/metrics` and `/healthz` (`run --listen`), its config file
//! (`run --config`) and the audit checkpoints it writes on a timer.

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    os::unix::process::CommandExt as _,
    process::Command,
    sync::{Arc, Mutex, atomic::{AtomicBool, Ordering}},
    time::{Duration, Instant},
};

use integration_test::{Agent, agent_bin, require_root, token};

/// One agent at a time: `cargo test` runs this file's tests in parallel threads.
static ONE_AGENT: Mutex<()> = Mutex::new(());

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET path` over plain HTTP/1.1: status and body, or None when nothing listens.
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: guard\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

/// The value of the sample whose name and labels are exactly `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn agent_out(args: &[&str]) -> (bool, String) {
    let out = Command::new(agent_bin()).args(args).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Writes the test policy: uid 4242 enforced, `protected` protected.
fn policy(dir: &std::path::Path, name: &str, protected: &str) -> (String, String) {
    let file = dir.join("policy.yaml");
    std::fs::write(&file, format!("version: 1\nname: {name}\ndefault_mode: audit\nidentities:\n  - name: enforced\n    mode: enforce\n    match: {{ uids: [4242] }}\nprotected_paths: [{protected}]\n")).unwrap();
    let (ok, out) = agent_out(&["policy", "validate", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    let version = out.trim().rsplit("version ").next().unwrap().trim_end_matches(')').to_owned();
    assert_eq!(version.len(), 64, "a sha-256 hex: {out}");
    (file.display().to_string(), version)
}

#[test]
fn metrics_and_health_of_the_real_agent() {
    require_root();
    let _one = ONE_AGENT.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(token("metrics"));
    std::fs::create_dir_all(dir.join("protected/keep")).unwrap();
    let protected = dir.join("protected").display().to_string();
    let (policy, version) = policy(&dir, "metrics-test", &protected);
    let ocsf = dir.join("events.ocsf.jsonl");
    let sink = format!("file://{}", ocsf.display());
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();

    // Watch /healthz from before the agent starts: every answer, in order.
    let seen = Arc::new(Mutex::new(Vec::<u16>::new()));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (seen, done) = (seen.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some((code, _)) = get(addr, "/healthz") {
                    seen.lock().unwrap().push(code);
                    if code == 200 {
                        return;
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let spool = dir.join("spool");
    let a = Agent::start(&[
        "--policy", &policy, "--sink", &sink, "--spool-dir", spool.to_str().unwrap(),
        "--listen", &addr.to_string(), "--report-interval", "1",
    ])
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(addr, "/healthz").map(|r| r.0) != Some(200) {
        assert!(Instant::now() < deadline, "/healthz never said ready: {}", a.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    done.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(get(addr, "/healthz").unwrap().1, "ready\n");
    // The server is up before the programs are loaded, and loading runs the verifier for
    // a while (about a second here): the watcher sees "not ready" first, then 200, never
    // the other way round. Adopting pins a killed agent left is too quick to observe.
    if !a.log().contains("adopted=true") {
        assert_eq!(seen.first(), Some(&503), "not ready while loading; answers seen: {seen:?}");
    }
    assert!(seen.iter().all(|&c| c == 503 || c == 200), "{seen:?}");
    let ready_at = seen.iter().position(|&c| c == 200).unwrap_or(seen.len());
    assert!(seen[ready_at..].iter().all(|&c| c == 200), "never 503 again once ready: {seen:?}");

    let tok = token("ok");
    assert!(Command::new("/bin/true").arg(&tok).status().unwrap().success());
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let denied = Command::new("/bin/rm").args(["-rf", &protected]).uid(4242).gid(4242).status();
    assert!(dir.join("protected/keep").exists(), "denied: {denied:?}");

    let deny = r#"guard_events_total{decision="deny",class="bulk_delete"}"#;
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let (code, text) = get(addr, "/metrics").expect("/metrics answers");
        assert_eq!(code, 200);
        if sample(&text, deny).is_some_and(|n| n >= 1.0) {
            break text;
        }
        assert!(Instant::now() < deadline, "no deny counted:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(sample(&text, &format!(r#"guard_policy_info{{name="metrics-test",version="{version}"}}"#)), Some(1.0), "{text}");
    assert_eq!(sample(&text, "guard_kernel_ringbuf_dropped_total"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "guard_decode_errors_total"), Some(0.0), "{text}");
    assert_eq!(sample(&text, "guard_ready"), Some(1.0), "{text}");
    let allowed = sample(&text, r#"guard_events_total{decision="allow",class="none"}"#).unwrap();
    assert!(allowed >= 1.0, "our /bin/true at least: {text}");
    for h in ["guard_classification_duration_seconds", "guard_hold_duration_seconds"] {
        assert!(text.contains(&format!("# TYPE {h} histogram")), "{h} registered:\n{text}");
    }

    // The file sink's counter is the number of lines in its file. The host keeps
    // exec'ing, so compare when two scrapes around the file read agree.
    let series = format!(r#"guard_sink_sent_total{{sink="{sink}"}}"#);
    let pending = format!(r#"guard_sink_pending{{sink="{sink}"}}"#);
    let deadline = Instant::now() + Duration::from_secs(20);
    let (sent, lines) = loop {
        let before = get(addr, "/metrics").unwrap().1;
        let lines = std::fs::read_to_string(&ocsf).unwrap_or_default().lines().count() as f64;
        let after = get(addr, "/metrics").unwrap().1;
        let (b, a2) = (sample(&before, &series), sample(&after, &series));
        if let Some(b) = b
            && Some(b) == a2
            && sample(&after, &pending) == Some(0.0)
        {
            break (b, lines);
        }
        assert!(Instant::now() < deadline, "the sink never settled:\n{after}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(sent, lines, "sent counter = events in the sink's file");
    assert!(sent >= 2.0, "at least our two execs: {sent}");
    for c in ["retried", "spooled", "dropped", "rejected"] {
        assert_eq!(sample(&text, &format!(r#"guard_sink_{c}_total{{sink="{sink}"}}"#)), Some(0.0), "{c}:\n{text}");
    }
    a.stop().unwrap();
    assert!(get(addr, "/healthz").is_none(), "the endpoint goes away with the agent");
    let ocsf_text = std::fs::read_to_string(&ocsf).unwrap();
    assert!(ocsf_text.contains(&tok), "our exec reached the sink");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn config_file_sinks_and_periodic_audit_checkpoints() {
    require_root();
    let _one = ONE_AGENT.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(token("config"));
    std::fs::create_dir_all(&dir).unwrap();
    let (policy, _) = policy(&dir, "config-test", &dir.join("nothing").display().to_string());
    let ocsf = dir.join("events.ocsf.jsonl");
    let log = dir.join("audit.log");
    let cfg = dir.join("agent.yaml");
    std::fs::write(
        &cfg,
        format!(
            "policy: {policy}\nsinks:\n  - file://{}\naudit_log: {}\nspool_dir: {}\ncheckpoint_interval: 1\n",
            ocsf.display(),
            log.display(),
            dir.join("spool").display()
        ),
    )
    .unwrap();
    let a = Agent::start(&["--config", cfg.to_str().unwrap()]).unwrap();
    let tok = token("cfg");
    assert!(Command::new("/bin/true").arg(&tok).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(3500));
    let events = a.stop().unwrap();
    assert!(events.events.is_empty(), "with a sink from the file, nothing goes to stdout");
    assert!(events.log.contains("config-test"), "the file's policy is in force: {}", events.log);
    assert!(std::fs::read_to_string(&ocsf).unwrap().contains(&tok), "the file's sink got our exec");

    let text = std::fs::read_to_string(&log).unwrap();
    let checkpoints: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|v| v.get("checkpoint").cloned())
        .collect();
    let periodic = checkpoints.iter().filter(|c| c["final"] == false).count();
    // 3.5 s at one per second: 3 (the default interval, 60 s, would give none).
    assert!((2..=5).contains(&periodic), "periodic checkpoints in 3.5 s: {periodic}\n{checkpoints:?}");
    assert_eq!(checkpoints.last().unwrap()["final"], true, "sealed at stop");
    let times: Vec<i64> = checkpoints.iter().map(|c| c["time"].as_i64().unwrap()).collect();
    for w in times.windows(2).take(periodic.saturating_sub(1)) {
        assert!(w[1] - w[0] >= 900, "checkpoints about 1 s apart: {times:?}");
    }
    let (ok, out) = agent_out(&["audit", "verify", log.to_str().unwrap()]);
    assert!(ok, "the log verifies: {out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_config_file_is_refused_with_its_location() {
    let dir = std::env::temp_dir().join(token("badconfig"));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("agent.yaml");
    std::fs::write(&cfg, "listen: 127.0.0.1:9464\nsinks:\n  - stdout\ncheckpoint_intervall: 5\n").unwrap();
    let (ok, out) = agent_out(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        out.contains(&format!("{}:4:1: checkpoint_intervall: unknown field", cfg.display())) && out.contains("did you mean \"checkpoint_interval\""),
        "{out}"
    );
    std::fs::write(&cfg, "sinks:\n  - stdout\n  - syslog+tls://siem:6514\n").unwrap();
    let (ok, out) = agent_out(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(!ok && out.contains(&format!("{}:3:5: sinks[1]: ", cfg.display())) && out.contains("ca="), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}
