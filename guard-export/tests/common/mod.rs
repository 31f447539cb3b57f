//! Sample events shared by the integration tests.
#![allow(dead_code)]

use guard_export::{Decision, EnforcedBy, ExecEvent};

/// A completed exec of `rm -rf /srv/data` with the given decision, fixed id and time.
pub fn sample(decision: Decision) -> ExecEvent {
    let (class, rule, enforced_by, mode) = match decision {
        Decision::Allow => (None, None, EnforcedBy::None, "enforce"),
        Decision::Deny => (Some("bulk_delete".to_string()), Some("rm-recursive-root".to_string()), EnforcedBy::Lsm, "enforce"),
        Decision::Audit => (Some("bulk_delete".to_string()), Some("rm-recursive-root".to_string()), EnforcedBy::None, "audit"),
        Decision::Hold => (None, Some("hold/interesting-token".to_string()), EnforcedBy::Hold, "strict"),
    };
    ExecEvent {
        id: "0190d4b8-6a4e-7c3a-9b1e-2f4a5c6d7e8f".parse().unwrap(),
        time: "2026-11-25T16:00:00.123Z".parse().unwrap(),
        ts_mono_ns: 123_456_789,
        host: "web-1".into(),
        ok: decision != Decision::Deny,
        errno: (decision == Decision::Deny).then_some(1),
        pid: 4242,
        tid: 4242,
        ppid: 4000,
        uid: 1000,
        euid: 1000,
        gid: 1000,
        egid: 1000,
        loginuid: Some(1000),
        sessionid: Some(7),
        sid: 3999,
        cgroup_id: 9876,
        tty: true,
        comm: "rm".into(),
        parent_comm: "bash".into(),
        syscall: "execve".into(),
        filename: b"/usr/bin/rm".to_vec(),
        interp: if decision == Decision::Deny { vec![] } else { b"/usr/bin/rm".to_vec() },
        exe: if decision == Decision::Deny { vec![] } else { b"/usr/bin/rm".to_vec() },
        argv: vec![b"rm".to_vec(), b"-rf".to_vec(), b"/srv/data".to_vec()],
        argc: 3,
        args_size: 17,
        argv_truncated: false,
        argc_lower_bound: false,
        filename_truncated: false,
        exe_truncated: false,
        read_error: false,
        decision,
        mode: mode.into(),
        enforced_by,
        class: class.clone(),
        reason: class.as_ref().map(|_| "recursive deletion of /srv/data, a data directory".to_string()),
        rule,
        policy_name: "prod".into(),
        policy_version: 0xdeadbeef,
        tampered: false,
        scan_incomplete: false,
        extra: Default::default(),
    }
}

/// `sample(Allow)` with the given argv.
pub fn with_argv(argv: &[&[u8]]) -> ExecEvent {
    let mut e = sample(Decision::Allow);
    e.argv = argv.iter().map(|a| a.to_vec()).collect();
    e.argc = argv.len() as u32;
    e
}
