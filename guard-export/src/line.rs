//! Reading the agent's JSON event line (`docs/events.md`, "Fields") back into an
//! [`ExecEvent`], byte-exact: for `guard-agent replay`, for recorded events, and so the
//! agent can hand its existing line to guard-export unchanged.
//!
//! The line writes bytes that are not UTF-8 as lone surrogates `\udcXX`, which serde_json
//! rejects; they are rewritten before parsing to code points of the last private-use plane
//! (U+10FF80..U+10FFFF) and turned back into the bytes 0x80..0xFF afterwards. (A real
//! U+10FF80..U+10FFFF in a path would be read as such bytes; nothing legitimate uses them.)
//! `argv_base64`, when present, is authoritative for argv.

use base64::Engine as _;
use serde_json::Value;

use crate::event::{Decision, EnforcedBy, ExecEvent};

/// A line that is not an exec event.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// Not JSON.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A field is missing or has the wrong type or value.
    #[error("field {0}: missing or invalid")]
    Field(&'static str),
}

const BASE: u32 = 0x10_FF00;

/// Rewrites `\udcXX` escapes (outside escaped backslashes) as `\u{10FFXX}` literally.
fn unsurrogate(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            if b[i + 1] == b'u' && i + 6 <= b.len() {
                let hex = &line[i + 2..i + 6];
                if let Ok(cp) = u32::from_str_radix(hex, 16)
                    && (0xDC80..=0xDCFF).contains(&cp)
                {
                    out.push(char::from_u32(BASE + (cp - 0xDC00)).expect("valid plane-16 code point"));
                    i += 6;
                    continue;
                }
            }
            out.push_str(&line[i..i + 2]);
            i += 2;
            continue;
        }
        let ch = line[i..].chars().next().expect("in bounds");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn bytes_of(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        let cp = c as u32;
        if (BASE + 0x80..=BASE + 0xFF).contains(&cp) {
            out.push((cp - BASE) as u8);
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    out
}

fn u64f(v: &Value, k: &'static str) -> Result<u64, LineError> {
    v[k].as_u64().ok_or(LineError::Field(k))
}

fn u32f(v: &Value, k: &'static str) -> Result<u32, LineError> {
    u64f(v, k)?.try_into().map_err(|_| LineError::Field(k))
}

fn opt_u32(v: &Value, k: &'static str) -> Result<Option<u32>, LineError> {
    match &v[k] {
        Value::Null => Ok(None),
        x => x.as_u64().and_then(|n| u32::try_from(n).ok()).map(Some).ok_or(LineError::Field(k)),
    }
}

fn strf<'a>(v: &'a Value, k: &'static str) -> Result<&'a str, LineError> {
    v[k].as_str().ok_or(LineError::Field(k))
}

fn boolf(v: &Value, k: &'static str) -> bool {
    v[k].as_bool().unwrap_or(false)
}

fn opt_str(v: &Value, k: &'static str) -> Option<String> {
    v[k].as_str().map(str::to_string)
}

/// Fields of guard's line that go to the mappings as they are ([`ExecEvent::extra`]).
const PASSED_THROUGH: [&str; 5] = ["hold", "k8s", "verdict_cached", "quarantined", "hold_offline"];

/// Parses one event line. The event gets a fresh UUIDv7 id (the line has none) and
/// `policy_name` (the line carries only the version).
pub fn parse_event_line(line: &str, policy_name: &str) -> Result<ExecEvent, LineError> {
    let v: Value = serde_json::from_str(&unsurrogate(line))?;
    if v["kind"] != "exec" {
        return Err(LineError::Field("kind"));
    }
    let argv = match v["argv_base64"].as_array() {
        Some(a) => a
            .iter()
            .map(|x| x.as_str().and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok()))
            .collect::<Option<Vec<_>>>()
            .ok_or(LineError::Field("argv_base64"))?,
        None => v["argv"]
            .as_array()
            .ok_or(LineError::Field("argv"))?
            .iter()
            .map(|x| x.as_str().map(bytes_of))
            .collect::<Option<Vec<_>>>()
            .ok_or(LineError::Field("argv"))?,
    };
    let decision = match strf(&v, "decision")? {
        "allow" => Decision::Allow,
        "deny" => Decision::Deny,
        "audit" => Decision::Audit,
        "hold" => Decision::Hold,
        _ => return Err(LineError::Field("decision")),
    };
    let enforced_by = match v["enforced_by"].as_str().unwrap_or("none") {
        "lsm" => EnforcedBy::Lsm,
        "signal" => EnforcedBy::Signal,
        "none" => EnforcedBy::None,
        "hold" => EnforcedBy::Hold,
        _ => return Err(LineError::Field("enforced_by")),
    };
    let ok = match strf(&v, "result")? {
        "ok" => true,
        "failed" => false,
        _ => return Err(LineError::Field("result")),
    };
    Ok(ExecEvent {
        id: ExecEvent::new_id(),
        time: strf(&v, "time")?.parse().map_err(|_| LineError::Field("time"))?,
        ts_mono_ns: u64f(&v, "ts_mono_ns").unwrap_or(0),
        host: strf(&v, "host")?.to_string(),
        ok,
        errno: v["errno"].as_i64().and_then(|e| i32::try_from(e).ok()),
        pid: u32f(&v, "pid")?,
        tid: u32f(&v, "tid")?,
        ppid: u32f(&v, "ppid")?,
        uid: u32f(&v, "uid")?,
        euid: u32f(&v, "euid")?,
        gid: u32f(&v, "gid")?,
        egid: u32f(&v, "egid")?,
        loginuid: opt_u32(&v, "loginuid")?,
        sessionid: opt_u32(&v, "sessionid")?,
        sid: u32f(&v, "sid").unwrap_or(0),
        cgroup_id: u64f(&v, "cgroup_id").unwrap_or(0),
        tty: boolf(&v, "tty"),
        comm: bytes_to_string(strf(&v, "comm")?),
        parent_comm: bytes_to_string(v["parent_comm"].as_str().unwrap_or("")),
        syscall: v["syscall"].as_str().unwrap_or("execve").to_string(),
        filename: bytes_of(strf(&v, "filename")?),
        interp: bytes_of(v["interp"].as_str().unwrap_or("")),
        exe: bytes_of(v["exe"].as_str().unwrap_or("")),
        argc: u32f(&v, "argc").unwrap_or(argv.len() as u32),
        argv,
        args_size: u64f(&v, "args_size").unwrap_or(0),
        argv_truncated: boolf(&v, "argv_truncated"),
        argc_lower_bound: boolf(&v, "argc_lower_bound"),
        filename_truncated: boolf(&v, "filename_truncated"),
        exe_truncated: boolf(&v, "exe_truncated"),
        read_error: boolf(&v, "read_error"),
        decision,
        class: opt_str(&v, "class"),
        mode: v["mode"].as_str().unwrap_or("unset").to_string(),
        enforced_by,
        rule: opt_str(&v, "rule"),
        reason: opt_str(&v, "reason"),
        policy_name: policy_name.to_string(),
        policy_version: u32f(&v, "policy_version").unwrap_or(0),
        tampered: boolf(&v, "tampered"),
        scan_incomplete: boolf(&v, "scan_incomplete"),
        extra: PASSED_THROUGH
            .iter()
            .filter_map(|k| v.get(*k).filter(|x| !x.is_null()).map(|x| ((*k).to_owned(), x.clone())))
            .collect(),
    })
}

/// Task names are text in [`ExecEvent`]; invalid bytes become U+FFFD.
fn bytes_to_string(s: &str) -> String {
    String::from_utf8_lossy(&bytes_of(s)).into_owned()
}
