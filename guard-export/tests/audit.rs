//! The audit trail: clean logs verify, every tampering kind is named at its first bad
//! record, keys are created 0600, reports group denials and audit matches.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use common::sample;
use guard_export::audit::{self, AuditLog, AuditOptions, ProblemKind, ReportFormat};
use guard_export::{Decision, ExecEvent, Redactor};

fn event(i: u64) -> ExecEvent {
    let d = match i % 10 {
        3 => Decision::Deny,
        7 => Decision::Audit,
        _ => Decision::Allow,
    };
    let mut e = sample(d);
    e.id = ExecEvent::new_id();
    e.pid = 1000 + i as u32;
    e
}

/// Writes `n` events with a checkpoint every `every` records, sealed when `close`.
fn write_log(path: &Path, key: &ed25519_dalek::SigningKey, n: u64, every: u64, close: bool) {
    let red = Redactor::new::<&str>(&[]).unwrap();
    let opts = AuditOptions { every_records: every, every: std::time::Duration::from_secs(3600) };
    let mut log = AuditLog::open(path, key.clone(), opts).unwrap();
    // Ten distinct events, redacted once (redaction has its own tests), appended in turn.
    let events: Vec<_> = (0..10).map(|i| red.apply(event(i))).collect();
    for i in 0..n {
        log.append(&events[(i % 10) as usize]).unwrap();
    }
    if close {
        log.close().unwrap();
    }
}

fn setup(n: u64, every: u64) -> (tempfile::TempDir, std::path::PathBuf, ed25519_dalek::SigningKey) {
    // tmpfs when there is one: the writer fsyncs at every checkpoint, and on a disk
    // shared with parallel builds that, not hashing, would dominate the 100k test.
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap();
    let key = audit::load_or_create_key(&dir.path().join("audit.key")).unwrap();
    let path = dir.path().join("audit.log");
    write_log(&path, &key, n, every, true);
    (dir, path, key)
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_string).collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
}

fn problem(path: &Path, key: &ed25519_dalek::SigningKey) -> (ProblemKind, u64) {
    let rep = audit::verify(path, Some(&key.verifying_key())).unwrap();
    let p = rep.problem.expect("tampering must be reported");
    (p.kind, p.line)
}

#[test]
fn clean_log_verifies_with_pinned_and_embedded_key() {
    let (_d, path, key) = setup(95, 10);
    let rep = audit::verify(&path, Some(&key.verifying_key())).unwrap();
    assert!(rep.is_intact(), "{rep}");
    assert_eq!(rep.events, 95);
    assert_eq!(rep.checkpoints, 9 + 1, "one every 10 events and a final one");
    assert_eq!(rep.records, 95 + rep.checkpoints);
    assert!(rep.key_pinned);
    let rep = audit::verify(&path, None).unwrap();
    assert!(rep.is_intact());
    assert_eq!(rep.key.as_deref(), Some(audit::public_key_hex(&key).as_str()));
    assert!(!rep.key_pinned);
}

#[test]
fn clean_100k_record_log_verifies() {
    let t = std::time::Instant::now();
    let (_d, path, key) = setup(100_000, 1000);
    eprintln!("write: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let rep = audit::verify(&path, Some(&key.verifying_key())).unwrap();
    eprintln!("verify: {:?}", t.elapsed());
    assert!(rep.is_intact(), "{rep}");
    assert_eq!(rep.events, 100_000);
}

#[test]
fn altered_record_is_named() {
    let (_d, path, key) = setup(30, 10);
    let mut l = lines(&path);
    assert!(l[3].contains(r#""decision":"deny""#));
    l[3] = l[3].replace(r#""decision":"deny""#, r#""decision":"allow""#);
    write_lines(&path, &l);
    assert_eq!(problem(&path, &key), (ProblemKind::Altered, 4));
}

#[test]
fn altered_record_with_rehashed_chain_fails_at_the_checkpoint() {
    let (_d, path, key) = setup(30, 10);
    let mut vals: Vec<serde_json::Value> = lines(&path).iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    vals[3]["event"]["unmapped"]["decision"] = "allow".into();
    // The forger recomputes every link after the change.
    for i in 4..vals.len() {
        let h = blake3::hash(&serde_jcs::to_vec(&vals[i - 1]).unwrap()).to_hex().to_string();
        vals[i]["prev"] = h.into();
    }
    write_lines(&path, &vals.iter().map(|v| serde_jcs::to_string(v).unwrap()).collect::<Vec<_>>());
    let (kind, line) = problem(&path, &key);
    assert_eq!((kind, line), (ProblemKind::Altered, 11), "the first checkpoint after the change");
}

#[test]
fn removed_record_is_named() {
    let (_d, path, key) = setup(30, 10);
    let mut l = lines(&path);
    l.remove(6);
    write_lines(&path, &l);
    assert_eq!(problem(&path, &key), (ProblemKind::Removed, 7));
}

#[test]
fn reordered_records_are_named() {
    let (_d, path, key) = setup(30, 10);
    let mut l = lines(&path);
    l.swap(11, 12);
    write_lines(&path, &l);
    assert_eq!(problem(&path, &key), (ProblemKind::Reordered, 12));
}

#[test]
fn tail_cut_after_last_checkpoint_is_reported() {
    // 28 events, checkpoint every 10: events on lines 1-10, 12-21, 23-30; checkpoints on
    // lines 11 and 22; the final checkpoint on line 31.
    let (_d, path, key) = setup(28, 10);
    let l = lines(&path);
    assert_eq!(l.len(), 31);
    assert!(l[21].contains("checkpoint") && l[30].contains(r#""final":true"#));
    assert!(audit::verify(&path, Some(&key.verifying_key())).unwrap().is_intact());
    // Drop the final checkpoint and two events before it.
    write_lines(&path, &l[..28]);
    assert_eq!(problem(&path, &key), (ProblemKind::Truncated, 23));
    // Cut exactly at a periodic checkpoint.
    write_lines(&path, &l[..22]);
    assert_eq!(problem(&path, &key), (ProblemKind::Truncated, 22));
    // Cut in the middle of a record.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() - 40]).unwrap();
    assert_eq!(problem(&path, &key), (ProblemKind::Truncated, 22));
    // A log that was never checkpointed.
    write_lines(&path, &l[..5]);
    assert_eq!(problem(&path, &key), (ProblemKind::Truncated, 1));
}

#[test]
fn forged_final_checkpoint_and_wrong_key_are_rejected() {
    let (d, path, key) = setup(30, 10);
    let other = audit::load_or_create_key(&d.path().join("other.key")).unwrap();
    assert_eq!(problem(&path, &other).0, ProblemKind::WrongKey);
    // Cut the tail and seal it with another key: the pinned key exposes it.
    let l = lines(&path);
    write_lines(&path, &l[..25]);
    let log = AuditLog::open(&path, other.clone(), AuditOptions::default()).unwrap();
    log.close().unwrap();
    assert_eq!(problem(&path, &key), (ProblemKind::WrongKey, 26));
}

#[test]
fn reopened_log_continues_the_chain() {
    let (_d, path, key) = setup(15, 10);
    write_log(&path, &key, 7, 10, true);
    let rep = audit::verify(&path, Some(&key.verifying_key())).unwrap();
    assert!(rep.is_intact(), "{rep}");
    assert_eq!(rep.events, 22);
    // A torn tail is not silently extended.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() - 5]).unwrap();
    let err = AuditLog::open(&path, key, AuditOptions::default()).unwrap_err();
    assert!(err.to_string().contains("torn"), "{err}");
}

#[test]
fn key_is_created_0600_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("k");
    let k1 = audit::load_or_create_key(&p).unwrap();
    assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    let k2 = audit::load_or_create_key(&p).unwrap();
    assert_eq!(k1.to_bytes(), k2.to_bytes());
    let pubhex = audit::public_key_hex(&k1);
    assert_eq!(audit::parse_public_key(&pubhex).unwrap(), k1.verifying_key());
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(audit::load_or_create_key(&p), Err(audit::AuditError::KeyPermissions(_))));
    assert!(audit::parse_public_key("xyz").is_err());
}

#[test]
fn report_groups_denials_and_audit_matches() {
    let (_d, path, _key) = setup(50, 10);
    let json: serde_json::Value = serde_json::from_str(&audit::report(&path, None, ReportFormat::Json).unwrap()).unwrap();
    assert_eq!(json["events"], 50);
    assert_eq!(json["denied"], 5);
    assert_eq!(json["audited"], 5);
    assert_eq!(json["allowed"], 40);
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        assert_eq!(r["count"], 5);
        assert_eq!(r["intent"], "bulk_delete");
        assert_eq!(r["rule"], "rm-recursive-root");
        assert_eq!(r["identity"], "uid 1000 (login 1000)");
    }
    let md = audit::report(&path, None, ReportFormat::Markdown).unwrap();
    assert!(md.contains("| deny | uid 1000 (login 1000) | bulk_delete | rm-recursive-root | 5 |"), "{md}");
    let later: jiff::Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
    let json: serde_json::Value = serde_json::from_str(&audit::report(&path, Some(later), ReportFormat::Json).unwrap()).unwrap();
    assert_eq!(json["events"], 0, "--since excludes older events");
}
