//! The agent-facing façade: one call per event reaches the audit log and every sink,
//! redacted.

mod common;

use std::time::Duration;

use guard_export::audit::{self, AuditOptions};
use guard_export::sink::DeliveryOptions;
use guard_export::{Decision, ExecEvent, Exporter, ExporterConfig};

#[test]
fn export_reaches_audit_log_and_sinks_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.json");
    let log = dir.path().join("audit.log");
    let cfg = ExporterConfig {
        sinks: vec![format!("file://{}", out.display())],
        no_default_sink: false,
        delivery: DeliveryOptions { spool_dir: dir.path().join("spool"), shutdown_timeout: Duration::from_secs(5), ..Default::default() },
        redact: vec![r"ghp_[A-Za-z0-9]+".into()],
        audit_log: Some(log.clone()),
        audit_key: None,
        audit: AuditOptions { every_records: 3, every: Duration::from_secs(3600) },
    };
    let mut exp = Exporter::start(&cfg).unwrap();
    let mut ids = Vec::new();
    for i in 0..10 {
        let mut e = common::sample(if i == 4 { Decision::Deny } else { Decision::Allow });
        e.id = ExecEvent::new_id();
        e.argv.push(b"ghp_abcdef123".to_vec());
        ids.push(e.id.to_string());
        exp.export(e).unwrap();
    }
    let counters = exp.close().unwrap();
    assert_eq!(counters.len(), 1);
    assert_eq!((counters[0].1.sent, counters[0].1.pending), (10, 0));
    let text = std::fs::read_to_string(&out).unwrap();
    let got: Vec<String> = text.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["metadata"]["uid"].as_str().unwrap().to_string()).collect();
    assert_eq!(got, ids);
    assert!(!text.contains("ghp_abcdef123") && text.contains("[REDACTED]"));
    let key_path = dir.path().join("audit.log.key");
    let key = audit::load_or_create_key(&key_path).unwrap();
    let rep = audit::verify(&log, Some(&key.verifying_key())).unwrap();
    assert!(rep.is_intact(), "{rep}");
    assert_eq!(rep.events, 10);
    assert!(!std::fs::read_to_string(&log).unwrap().contains("ghp_abcdef123"));
}

#[test]
fn bad_configuration_is_refused_at_start() {
    let cfg = ExporterConfig { sinks: vec!["syslog+tls://h".into()], ..Default::default() };
    assert!(Exporter::start(&cfg).is_err());
    let cfg = ExporterConfig { redact: vec!["(".into()], ..Default::default() };
    assert!(Exporter::start(&cfg).is_err());
}

#[test]
fn no_default_sink_starts_no_stdout_sink() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ExporterConfig { no_default_sink: true, audit_log: Some(dir.path().join("audit.log")), ..Default::default() };
    let exp = Exporter::start(&cfg).unwrap();
    assert!(exp.counters().is_empty(), "only the audit log, no sink");
    let cfg = ExporterConfig::default();
    let exp = Exporter::start(&cfg).unwrap();
    assert_eq!(exp.counters().len(), 1, "no sink given: stdout");
}

#[test]
fn counters_views_read_a_running_sink_from_another_thread() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.json");
    let cfg = ExporterConfig {
        sinks: vec![format!("file://{}", out.display())],
        delivery: DeliveryOptions { spool_dir: dir.path().join("spool"), ..Default::default() },
        ..Default::default()
    };
    let mut exp = Exporter::start(&cfg).unwrap();
    let views = exp.counters_views();
    assert_eq!(views.len(), 1);
    assert!(views[0].name().contains("events.json"), "{}", views[0].name());
    for _ in 0..5 {
        exp.export(common::sample(Decision::Allow)).unwrap();
    }
    let view = views[0].clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let sent = std::thread::spawn(move || loop {
        let c = view.read();
        if c.sent == 5 || std::time::Instant::now() > deadline {
            return (c.sent, c.pending);
        }
        std::thread::sleep(Duration::from_millis(10));
    })
    .join()
    .unwrap();
    assert_eq!(sent, (5, 0), "sent while running, nothing pending");
    exp.close().unwrap();
    assert_eq!(views[0].read().sent, 5, "still readable after close");
}

#[test]
fn checkpoint_if_due_writes_on_an_idle_log_at_its_period() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let cfg = ExporterConfig {
        no_default_sink: true,
        audit_log: Some(log.clone()),
        audit: AuditOptions { every_records: 1000, every: Duration::from_millis(200) },
        ..Default::default()
    };
    let mut exp = Exporter::start(&cfg).unwrap();
    assert!(!exp.checkpoint_if_due().unwrap(), "not due right after opening");
    std::thread::sleep(Duration::from_millis(250));
    assert!(exp.checkpoint_if_due().unwrap(), "due after the period, with no event");
    assert!(!exp.checkpoint_if_due().unwrap(), "the period starts again");
    exp.close().unwrap();
    let checkpoints = std::fs::read_to_string(&log).unwrap().lines().filter(|l| l.contains("\"checkpoint\"")).count();
    assert_eq!(checkpoints, 2, "the timer's and the final one");
    let key = audit::load_or_create_key(&dir.path().join("audit.log.key")).unwrap();
    let rep = audit::verify(&log, Some(&key.verifying_key())).unwrap();
    assert!(rep.is_intact(), "{rep}");
}
