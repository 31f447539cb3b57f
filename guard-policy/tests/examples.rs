//! Every policy under `examples/policies/` loads and validates, and behaves as its
//! comments say.

use std::path::{Path, PathBuf};

use guard_classify::{IntentClass, classify_argv};
use guard_policy::{Action, FailMode, Mode, Subject, load_file};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_validates() {
    let files = examples();
    assert!(files.len() >= 4, "expected at least 4 examples, found {files:?}");
    let mut failures = Vec::new();
    for f in &files {
        if let Err(e) = load_file(f) {
            failures.push(e.to_string());
        }
    }
    assert!(failures.is_empty(), "invalid examples:\n{}", failures.join("\n"));
}

fn example(name: &str) -> guard_policy::Policy {
    load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies").join(name)).unwrap()
}

#[test]
fn ci_runners_are_strict_and_fail_closed() {
    let mut p = example("ci-runners-strict.yaml");
    let job = Subject { uid: 5000, cgroup: Some("/ci.slice/job-42.scope"), ..Subject::default() };
    assert_eq!(p.mode_for(&job), (Mode::Strict, Some("ci-jobs")));
    assert_eq!(p.fail_for(&job), FailMode::Closed);
    let human = Subject { uid: 1000, has_tty: true, has_login_session: true, ..Subject::default() };
    assert_eq!(p.mode_for(&human), (Mode::Enforce, Some("debugging-humans")));
    p.resolve_names(|u| (u == "runner").then_some(1500), |_| None);
    let runner = Subject { uid: 1500, has_tty: true, ..Subject::default() };
    assert_eq!(p.mode_for(&runner), (Mode::Enforce, Some("debugging-humans")), "users AND uids: 1500 is not in uids");
    let both = Subject { uid: 1001, has_tty: true, ..Subject::default() };
    assert_eq!(p.mode_for(&both).1, Some("debugging-humans"), "1001 is in uids but not a resolved user");
    assert_eq!(p.action_for(Mode::Strict, IntentClass::SchemaDestroy), Action::Hold);
    assert_eq!(p.action_for(Mode::Enforce, IntentClass::SchemaDestroy), Action::Deny);
}

#[test]
fn database_exceptions_apply_per_statement() {
    let p = example("database-host.yaml");
    let ctx = p.context();
    let v = classify_argv(&["psql", "-c", "drop table tmp_2024; DROP TABLE users"], ctx);
    let excepted: Vec<bool> = v.intents.iter().map(|i| p.exception_for(i).is_some()).collect();
    assert_eq!(excepted, [true, false], "{:?}", v.intents);
    let v = classify_argv(&["psql", "-c", "TRUNCATE TABLE staging_orders"], ctx);
    assert_eq!(p.exception_for(&v.intents[0]), Some("truncate table staging_*"));
    assert!(classify_argv(&["rm", "-rf", "/var/lib/postgresql/16/main"], ctx).has(IntentClass::BulkDelete));
}

#[test]
fn audit_rollout_audits_everyone_but_the_canary() {
    let mut p = example("audit-rollout.yaml");
    let root = Subject { uid: 0, has_tty: true, ..Subject::default() };
    assert_eq!(p.mode_for(&root), (Mode::Audit, None));
    assert_eq!(p.action_for(Mode::Audit, IntentClass::BulkDelete), Action::Audit);
    p.resolve_names(|_| None, |g| (g == "guard-canary").then_some(4242));
    let canary = Subject { uid: 1000, gids: &[100, 4242], ..Subject::default() };
    assert_eq!(p.mode_for(&canary), (Mode::Enforce, Some("canary-enforced")));
    assert_eq!(p.context().protected_paths, guard_policy::builtin().context().protected_paths);
}

#[test]
fn production_web_holds_the_deploy_unit() {
    let p = example("production-web.yaml");
    let unit = Subject { uid: 33, systemd_unit: Some("app-deploy@blue.service"), ..Subject::default() };
    assert_eq!(p.mode_for(&unit), (Mode::Strict, Some("deploy-unit")));
    assert_eq!(p.fail_for(&unit), FailMode::Closed);
    assert_eq!(p.action_for(Mode::Enforce, IntentClass::ServiceDisruption), Action::Audit);
    assert_eq!(p.hold().deadline_ms, 1500);
}
