//! ECS 9 mapping of an exec event, for Elasticsearch `_bulk` (see `docs/events.md`).

use serde_json::{Value, json};

use crate::event::{Decision, lossless_text};
use crate::ocsf::{self, basename, cmd_line, exe_path, message, policy_version, unmapped};
use crate::redact::Redacted;

/// The ECS version written in `ecs.version`.
pub const ECS_VERSION: &str = "9.0.0";

/// Maps a redacted event to an ECS 9 document.
pub fn to_ecs(r: &Redacted) -> Value {
    let ev = r.event();
    let path = exe_path(ev);
    let (sev, _) = ocsf::severity(ev);
    let mut types = vec!["start"];
    match ev.decision {
        Decision::Deny => types.push("denied"),
        Decision::Allow | Decision::Audit => types.push("allowed"),
        Decision::Hold => types.push("info"),
    }
    let mut doc = json!({
        "@timestamp": ev.time.to_string(),
        "ecs": { "version": ECS_VERSION },
        "message": message(ev),
        "event": {
            "id": ev.id.to_string(),
            "kind": if ev.decision == Decision::Allow && !ev.tampered { "event" } else { "alert" },
            "category": ["process"],
            "type": types,
            "action": match ev.decision { Decision::Allow => "exec", Decision::Deny => "exec-denied", Decision::Audit => "exec-audited", Decision::Hold => "exec-held" },
            "outcome": if ev.ok { "success" } else { "failure" },
            "severity": sev,
            "module": "guard",
            "dataset": "guard.exec",
            "created": ev.time.to_string(),
        },
        "host": { "name": ev.host, "hostname": ev.host },
        "process": {
            "pid": ev.pid,
            "thread": { "id": ev.tid },
            "name": if path.is_empty() { ev.comm.clone() } else { lossless_text(basename(path)) },
            "executable": lossless_text(path),
            "args": ev.argv.iter().map(|a| lossless_text(a)).collect::<Vec<_>>(),
            "args_count": ev.argc,
            "command_line": cmd_line(&ev.argv),
            "interactive": ev.tty,
            "user": { "id": ev.euid.to_string() },
            "group": { "id": ev.egid.to_string() },
            "real_user": { "id": ev.uid.to_string() },
            "real_group": { "id": ev.gid.to_string() },
            "session_leader": { "pid": ev.sid },
            "parent": { "pid": ev.ppid, "name": ev.parent_comm },
        },
        "user": { "id": ev.loginuid.unwrap_or(ev.uid).to_string() },
        "guard": unmapped(r),
    });
    if let Some(rule) = &ev.rule {
        doc["rule"] = json!({ "name": rule, "ruleset": ev.policy_name, "version": policy_version(ev) });
    }
    if let Some(reason) = ev.reason.as_ref().or(ev.class.as_ref()) {
        doc["event"]["reason"] = json!(reason);
    }
    if !ev.ok {
        let e = ev.errno.unwrap_or(0);
        doc["error"] = json!({ "code": e.to_string(), "type": ocsf::errno_name(e).unwrap_or("errno") });
    }
    doc
}

/// The two `_bulk` NDJSON lines (`create` action with `_id` = event id, then the
/// document), each ending in `\n`. The event id as `_id` makes a retried batch idempotent.
pub fn to_bulk_lines(r: &Redacted, index: &str) -> String {
    let action = json!({ "create": { "_index": index, "_id": r.event().id.to_string() } });
    format!("{action}\n{}\n", to_ecs(r))
}
