//! OCSF 1.8.0 Process Activity (class 1007, activity Launch) with the `security_control`
//! and `host` profiles: guard's native event format, one JSON object per exec.
//!
//! The field-by-field mapping is documented in `docs/events.md` ("OCSF, ECS and HEC"), and
//! `docs/ocsf-exec.schema.json` describes the output (a test validates mapped events).

use serde_json::{Map, Value, json};

use crate::event::{Decision, ExecEvent, all_utf8, lossless_text};
use crate::redact::Redacted;

/// The OCSF schema version written in `metadata.version`.
pub const OCSF_VERSION: &str = "1.8.0";
/// Process Activity.
pub const CLASS_UID: u32 = 1007;
/// System Activity.
pub const CATEGORY_UID: u32 = 1;
/// Launch.
pub const ACTIVITY_LAUNCH: u32 = 1;
/// class_uid * 100 + activity_id.
pub const TYPE_UID: u32 = CLASS_UID * 100 + ACTIVITY_LAUNCH;

/// Severity of an event: Informational (1) for allowed, Medium (3) for audit matches,
/// High (4) for denials, Critical (5) for tampering.
pub fn severity(ev: &ExecEvent) -> (u8, &'static str) {
    if ev.tampered {
        return (5, "Critical");
    }
    match ev.decision {
        Decision::Allow => (1, "Informational"),
        Decision::Audit | Decision::Hold => (3, "Medium"),
        Decision::Deny => (4, "High"),
    }
}

/// `(action_id, action, disposition_id, disposition)` of the security_control profile.
pub fn disposition(ev: &ExecEvent) -> (u8, &'static str, u8, &'static str) {
    match ev.decision {
        Decision::Deny => (2, "Denied", 2, "Blocked"),
        // OCSF 1.6+: Observed (3) = neither allowed nor denied by the control, as an IDS.
        Decision::Audit => (3, "Observed", 15, "Detected"),
        Decision::Allow => (1, "Allowed", 1, "Allowed"),
        // Parked for the agent's verdict: not yet allowed or denied.
        Decision::Hold => (99, "Other", 14, "Delayed"),
    }
}

/// Symbolic name of common exec errnos (for `status_detail`).
pub fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        1 => "EPERM",
        2 => "ENOENT",
        7 => "E2BIG",
        8 => "ENOEXEC",
        9 => "EBADF",
        12 => "ENOMEM",
        13 => "EACCES",
        14 => "EFAULT",
        20 => "ENOTDIR",
        21 => "EISDIR",
        22 => "EINVAL",
        26 => "ETXTBSY",
        36 => "ENAMETOOLONG",
        40 => "ELOOP",
        _ => return None,
    })
}

/// Last path component of a byte path.
pub(crate) fn basename(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

/// argv joined by spaces, arguments with spaces or quotes single-quoted (display only).
pub(crate) fn cmd_line(argv: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for (i, a) in argv.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let t = lossless_text(a);
        if t.is_empty() || t.contains(|c: char| c.is_whitespace() || "'\"\\$`;&|<>()*?".contains(c)) {
            out.push('\'');
            out.push_str(&t.replace('\'', r"'\''"));
            out.push('\'');
        } else {
            out.push_str(&t);
        }
    }
    out
}

/// The path the kernel ran, falling back to what the caller passed (failed execs).
pub(crate) fn exe_path(ev: &ExecEvent) -> &[u8] {
    if ev.exe.is_empty() { &ev.filename } else { &ev.exe }
}

/// A one-line human summary (`message`).
pub(crate) fn message(ev: &ExecEvent) -> String {
    let path = lossless_text(exe_path(ev));
    let what = match ev.decision {
        Decision::Allow => "allowed".to_string(),
        Decision::Deny => format!("denied ({})", ev.enforced_by.as_str()),
        Decision::Audit => "matched in audit mode".to_string(),
        Decision::Hold => "held for the agent's verdict".to_string(),
    };
    let mut m = format!("exec {path} {what}");
    if let Some(c) = &ev.class {
        m.push_str(&format!(", class {c}"));
    }
    if let Some(r) = &ev.rule {
        m.push_str(&format!(", rule {r}"));
    }
    if !ev.ok {
        let e = ev.errno.unwrap_or(0);
        m.push_str(&format!(", failed: {}", errno_name(e).unwrap_or("errno")));
        m.push_str(&format!(" ({e})"));
    }
    if let Some(r) = &ev.reason {
        m.push_str(&format!(": {r}"));
    }
    m
}

/// Policy version as 8 hex digits.
pub(crate) fn policy_version(ev: &ExecEvent) -> String {
    format!("{:08x}", ev.policy_version)
}

/// Maps a redacted event to an OCSF 1.8.0 Process Activity: Launch object.
pub fn to_ocsf(r: &Redacted) -> Value {
    let ev = r.event();
    let (sev_id, sev) = severity(ev);
    let (action_id, action, disp_id, disp) = disposition(ev);
    let path = exe_path(ev);
    let name = if path.is_empty() { ev.comm.clone() } else { lossless_text(basename(path)) };

    let mut process = json!({
        "pid": ev.pid,
        "tid": ev.tid,
        "name": name,
        "cmd_line": cmd_line(&ev.argv),
        "file": {
            "path": lossless_text(path),
            "name": lossless_text(basename(path)),
            "type_id": 1,
            "type": "Regular File",
        },
        "user": { "uid": ev.euid.to_string() },
        "parent_process": { "pid": ev.ppid, "name": ev.parent_comm },
    });
    if let Some(s) = ev.sessionid {
        process["session"] = json!({ "uid": s.to_string() });
    }

    let actor_uid = ev.loginuid.unwrap_or(ev.uid);
    let mut actor_user = json!({ "uid": actor_uid.to_string() });
    if ev.loginuid.is_some() {
        actor_user["type_id"] = json!(1);
        actor_user["type"] = json!("User");
    }

    let mut out = json!({
        "activity_id": ACTIVITY_LAUNCH,
        "activity_name": "Launch",
        "category_uid": CATEGORY_UID,
        "category_name": "System Activity",
        "class_uid": CLASS_UID,
        "class_name": "Process Activity",
        "type_uid": TYPE_UID,
        "type_name": "Process Activity: Launch",
        "severity_id": sev_id,
        "severity": sev,
        "time": ev.time.as_millisecond(),
        "message": message(ev),
        "status_id": if ev.ok { 1 } else { 2 },
        "status": if ev.ok { "Success" } else { "Failure" },
        "metadata": {
            "uid": ev.id.to_string(),
            "version": OCSF_VERSION,
            "profiles": ["security_control", "host"],
            "product": {
                "name": "guard",
                "vendor_name": "guard",
                "version": env!("CARGO_PKG_VERSION"),
            },
            "log_name": "exec",
        },
        "device": {
            "hostname": ev.host,
            "type_id": 0,
            "type": "Unknown",
        },
        "process": process,
        "actor": {
            "user": actor_user,
            "process": { "pid": ev.ppid, "name": ev.parent_comm },
        },
        "action_id": action_id,
        "action": action,
        "disposition_id": disp_id,
        "disposition": disp,
        "is_alert": ev.decision != Decision::Allow || ev.tampered,
        "unmapped": unmapped(r),
    });
    if !ev.ok {
        let e = ev.errno.unwrap_or(0);
        out["status_code"] = json!(e.to_string());
        if let Some(n) = errno_name(e) {
            out["status_detail"] = json!(n);
        }
    }
    if !ev.policy_name.is_empty() || ev.rule.is_some() {
        let mut policy = Map::new();
        policy.insert("name".into(), json!(ev.policy_name));
        policy.insert("version".into(), json!(policy_version(ev)));
        if let Some(rule) = &ev.rule {
            policy.insert("uid".into(), json!(rule));
        }
        out["policy"] = Value::Object(policy);
    }
    out
}

/// guard-specific fields that OCSF has no attribute for (`unmapped` in OCSF, `guard` in ECS).
pub(crate) fn unmapped(r: &Redacted) -> Value {
    let ev = r.event();
    let mut u = json!({
        "decision": ev.decision.as_str(),
        "class": ev.class,
        "mode": ev.mode,
        "enforced_by": ev.enforced_by.as_str(),
        "rule": ev.rule,
        "reason": ev.reason,
        "policy_version": policy_version(ev),
        "tampered": ev.tampered,
        "scan_incomplete": ev.scan_incomplete,
        "syscall": ev.syscall,
        "filename": lossless_text(&ev.filename),
        "interp": lossless_text(&ev.interp),
        "argv": ev.argv.iter().map(|a| lossless_text(a)).collect::<Vec<_>>(),
        "argc": ev.argc,
        "args_size": ev.args_size,
        "argv_truncated": ev.argv_truncated,
        "argc_lower_bound": ev.argc_lower_bound,
        "filename_truncated": ev.filename_truncated,
        "exe_truncated": ev.exe_truncated,
        "read_error": ev.read_error,
        "uid": ev.uid,
        "euid": ev.euid,
        "gid": ev.gid,
        "egid": ev.egid,
        "loginuid": ev.loginuid,
        "sessionid": ev.sessionid,
        "sid": ev.sid,
        "cgroup_id": ev.cgroup_id,
        "tty": ev.tty,
        "comm": ev.comm,
        "ts_mono_ns": ev.ts_mono_ns,
        "redactions": r.redactions(),
    });
    for (k, v) in &ev.extra {
        u[k] = v.clone();
    }
    let bytes_fields = ev.argv.iter().chain([&ev.filename, &ev.exe, &ev.interp]);
    if !all_utf8(bytes_fields) {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        u["argv_base64"] = json!(ev.argv.iter().map(|a| b64.encode(a)).collect::<Vec<_>>());
        u["filename_base64"] = json!(b64.encode(&ev.filename));
        u["exe_base64"] = json!(b64.encode(&ev.exe));
    }
    u
}
