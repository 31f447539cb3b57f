//! One exec event as one JSON object on one line.
//!
//! Byte strings (paths, argv) are written losslessly: valid UTF-8 as is, and each byte
//! that is not part of valid UTF-8 as a lone low surrogate `\udcXX` (XX = the byte), the
//! PEP 383 "surrogateescape" scheme: Python's `s.encode("utf-8", "surrogateescape")`
//! returns the exact bytes, and valid UTF-8 can never produce such a code point, so the
//! mapping is unambiguous. Because some JSON parsers reject lone surrogates, an event
//! whose argv is not valid UTF-8 also carries `argv_base64`, every argument's exact
//! bytes in standard base64.

use std::{cell::RefCell, fmt::Write as _};

use base64::Engine as _;
use guard_common::{
    enforce::{decision, intent, mode, path},
    event::ExecEvent,
};

use super::decode::{Argv, ExecRecord};

/// Converts the kernel's monotonic timestamps to wall-clock time.
#[derive(Debug)]
pub struct Clock {
    /// `CLOCK_REALTIME - CLOCK_MONOTONIC`, in nanoseconds, measured at start-up.
    offset_ns: i128,
    /// The last second written and its text up to the seconds (`2026-12-06T00:25:59`):
    /// events come in thousands per second, and only the fraction changes among them.
    second: RefCell<Option<(i128, String)>>,
}

impl Clock {
    pub fn now() -> Self {
        let read = |id| {
            let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: valid clock id and out-pointer.
            unsafe { libc::clock_gettime(id, &mut ts) };
            i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
        };
        let mono = read(libc::CLOCK_MONOTONIC);
        let real = read(libc::CLOCK_REALTIME);
        Self::with_offset(real - mono)
    }

    fn with_offset(offset_ns: i128) -> Self {
        Self { offset_ns, second: RefCell::new(None) }
    }

    /// Appends the wall-clock time of a monotonic timestamp as RFC 3339 UTC, exactly as
    /// jiff displays a timestamp (nanoseconds without trailing zeros, none when zero);
    /// nothing past jiff's range.
    fn push_wall(&self, out: &mut String, mono_ns: u64) {
        const NS: i128 = 1_000_000_000;
        let ns = self.offset_ns + i128::from(mono_ns);
        let (second, fraction) = (ns.div_euclid(NS), ns.rem_euclid(NS));
        let mut cache = self.second.borrow_mut();
        if cache.as_ref().is_none_or(|(s, _)| *s != second) {
            let Some(t) = i64::try_from(second).ok().and_then(|s| jiff::Timestamp::from_second(s).ok()) else {
                return;
            };
            let mut text = t.to_string();
            text.pop(); // the `Z`
            *cache = Some((second, text));
        }
        if let Some((_, text)) = cache.as_ref() {
            out.push_str(text);
        }
        if fraction != 0 {
            let mut digits = [b'0'; 9];
            let mut rest = fraction;
            for d in digits.iter_mut().rev() {
                *d = b'0' + (rest % 10) as u8;
                rest /= 10;
            }
            let len = 9 - digits.iter().rev().take_while(|&&d| d == b'0').count();
            out.push('.');
            out.push_str(std::str::from_utf8(&digits[..len]).unwrap_or_default());
        }
        out.push('Z');
    }
}

/// Appends `bytes` as a JSON string (with quotes), lossless as described above.
pub fn push_bytes(out: &mut String, bytes: &[u8]) {
    out.push('"');
    // Nearly every string is valid UTF-8: checked in one pass (the standard library's
    // check runs word by word over ASCII), and escaped in one piece.
    match std::str::from_utf8(bytes) {
        Ok(s) => push_escaped(out, s),
        Err(_) => {
            for chunk in bytes.utf8_chunks() {
                push_escaped(out, chunk.valid());
                for &b in chunk.invalid() {
                    let _ = write!(out, "\\udc{b:02x}");
                }
            }
        }
    }
    out.push('"');
}

/// Whether JSON strings must escape `b`: control characters, `"`, `\\`, and DEL
/// (escaped too, so no raw control byte reaches a log viewer). Branch-free, so that a
/// fold over a buffer with it vectorises.
#[inline(always)]
const fn needs_escape(b: u8) -> bool {
    (b < 0x20) | (b == b'"') | (b == b'\\') | (b == 0x7f)
}

/// `needs_escape` as a table, for finding the next such byte.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = needs_escape(b as u8);
        b += 1;
    }
    t
};

/// Appends `s` with JSON escapes. Only ASCII bytes ever need one, so the runs between
/// them are copied whole (this is the agent's hottest loop: every argv byte of every
/// exec goes through it).
fn push_escaped(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    // Most strings need no escape at all: a branch-free test the compiler vectorises
    // finds those, and they are copied in one go.
    let any = bytes.iter().fold(false, |any, &b| any | needs_escape(b));
    if !any {
        out.push_str(s);
        return;
    }
    let mut start = 0;
    while let Some(skip) = bytes[start..].iter().position(|&b| NEEDS_ESCAPE[b as usize]) {
        let i = start + skip;
        // `i` is an ASCII byte, so a char boundary.
        out.push_str(&s[start..i]);
        let b = bytes[i];
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Appends argv as a JSON array of strings; returns whether every argument is valid
/// UTF-8. When the joined arguments are valid UTF-8 and nothing but their NUL
/// separators needs escaping (nearly every command line), two passes over the whole
/// buffer find that out and each argument is copied as it is: checking argument by
/// argument costs several times more, as most are short.
fn push_argv(out: &mut String, argv: &Argv) -> bool {
    let Some(joined) = argv.joined() else {
        out.push_str("[]");
        return true;
    };
    let text = std::str::from_utf8(joined).ok();
    // The NUL separators aside.
    let escapes = joined.iter().fold(false, |any, &b| any | (needs_escape(b) & (b != 0)));
    out.push('[');
    match text {
        Some(text) if !escapes => {
            out.reserve(text.len() + 8);
            out.push('"');
            let mut start = 0;
            for nul in memchr::memchr_iter(0, joined) {
                // A NUL is a whole character: `start..nul` lies on character boundaries.
                out.push_str(&text[start..nul]);
                out.push_str("\",\"");
                start = nul + 1;
            }
            out.push_str(&text[start..]);
            out.push('"');
        }
        _ => {
            for (i, item) in argv.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_bytes(out, item);
            }
        }
    }
    out.push(']');
    text.is_some()
}

/// A JSON object written field by field. Keys given as `&'static str` are the event
/// schema's names, which need no escaping (checked in debug builds): with the writer's
/// methods inlined, each becomes a few fixed-size copies. This is the agent's hottest
/// code after argv escaping: an exec event has 45 keys.
pub struct ObjectWriter {
    out: String,
    first: bool,
}

impl ObjectWriter {
    pub fn new() -> Self {
        Self::with_buffer(String::with_capacity(2048))
    }
    /// Writes into `buf`, cleared first: a caller that writes one object after another
    /// reuses one allocation.
    pub fn with_buffer(mut buf: String) -> Self {
        buf.clear();
        Self { out: buf, first: true }
    }
    /// The opening brace or the comma, and the key's opening quote.
    #[inline(always)]
    fn open_key(&mut self) {
        self.out.push_str(if self.first { "{\"" } else { ",\"" });
        self.first = false;
    }
    /// Writes a schema key and its colon.
    #[inline(always)]
    fn key(&mut self, key: &'static str) {
        debug_assert!(!key.bytes().any(|b| NEEDS_ESCAPE[b as usize]), "key {key:?} needs escaping");
        self.open_key();
        self.out.push_str(key);
        self.out.push_str("\":");
    }
    #[inline]
    pub fn num(&mut self, key: &'static str, value: impl itoa::Integer) -> &mut Self {
        self.key(key);
        self.out.push_str(itoa::Buffer::new().format(value));
        self
    }
    #[inline]
    pub fn opt_num(&mut self, key: &'static str, value: Option<u64>) -> &mut Self {
        match value {
            Some(v) => self.num(key, v),
            None => self.raw(key, "null"),
        }
    }
    /// The wall-clock time of a monotonic timestamp, as a JSON string.
    pub fn time(&mut self, key: &'static str, clock: &Clock, mono_ns: u64) -> &mut Self {
        self.key(key);
        self.out.push('"');
        clock.push_wall(&mut self.out, mono_ns);
        self.out.push('"');
        self
    }
    /// A string, or `null`.
    #[inline]
    pub fn opt_bytes(&mut self, key: &'static str, value: Option<&[u8]>) -> &mut Self {
        match value {
            Some(v) => self.bytes(key, v),
            None => self.raw(key, "null"),
        }
    }
    #[inline]
    pub fn bool(&mut self, key: &'static str, value: bool) -> &mut Self {
        self.raw(key, if value { "true" } else { "false" })
    }
    #[inline]
    pub fn raw(&mut self, key: &'static str, json: &str) -> &mut Self {
        self.key(key);
        self.out.push_str(json);
        self
    }
    #[inline]
    pub fn bytes(&mut self, key: &'static str, value: &[u8]) -> &mut Self {
        self.key(key);
        push_bytes(&mut self.out, value);
        self
    }
    /// A string under a key that comes from data (a Kubernetes label), escaped as needed.
    pub fn entry(&mut self, key: &str, value: &[u8]) -> &mut Self {
        self.open_key();
        push_escaped(&mut self.out, key);
        self.out.push_str("\":");
        push_bytes(&mut self.out, value);
        self
    }
    /// argv as an array of strings; returns whether it is valid UTF-8 (see `push_argv`).
    pub fn argv(&mut self, key: &'static str, argv: &Argv) -> bool {
        self.key(key);
        push_argv(&mut self.out, argv)
    }
    pub fn bytes_array<'a>(&mut self, key: &'static str, items: impl Iterator<Item = &'a [u8]>) -> &mut Self {
        self.key(key);
        self.out.push('[');
        for (i, item) in items.enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            push_bytes(&mut self.out, item);
        }
        self.out.push(']');
        self
    }
    pub fn finish(mut self) -> String {
        if self.first {
            self.out.push('{');
        }
        self.out.push('}');
        self.out
    }
}

impl Default for ObjectWriter {
    fn default() -> Self {
        Self::new()
    }
}

fn comm(raw: &[u8; 16]) -> &[u8] {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    &raw[..end]
}

/// `u32::MAX` means "unset" for the audit ids.
fn audit_id(v: u32) -> Option<u64> {
    (v != u32::MAX).then_some(u64::from(v))
}

/// The intent class's name; `None` for no class (or a value outside the vocabulary).
fn class_name(class: u8) -> Option<&'static str> {
    intent::NAMES.get(class as usize).copied()
}

/// The matched rule's name; `None` when nothing matched.
fn rule_name<'a>(e: &ExecEvent, names: &'a [String]) -> Option<&'a str> {
    if e.class == intent::NONE {
        return None;
    }
    Some(names.get(e.rule_id as usize).map_or("unknown", String::as_str))
}

/// The Kubernetes container a process runs in, as the `k8s` object.
fn k8s_json(info: &guard_kube::PodInfo) -> String {
    let mut labels = ObjectWriter::new();
    for (k, v) in &info.labels {
        labels.entry(k, v.as_bytes());
    }
    let mut w = ObjectWriter::new();
    w.bytes("namespace", info.namespace.as_bytes())
        .bytes("pod", info.pod.as_bytes())
        .bytes("container", info.container.as_bytes())
        .bytes("service_account", info.service_account.as_bytes())
        .raw("labels", &labels.finish());
    w.finish()
}

/// The event as one JSON line (without the newline), written into `buf` (cleared
/// first; the reader hands the last line's buffer back). `k8s`: the container the
/// process's cgroup belongs to, when the agent watches Kubernetes and knows it.
/// `reason`: why it was decided so, in words (`enforce::reason`).
pub fn exec_to_json(
    buf: String,
    r: &ExecRecord,
    clock: &Clock,
    host: &str,
    rule_names: &[String],
    k8s: Option<&guard_kube::PodInfo>,
    reason: Option<&str>,
) -> String {
    let e: &ExecEvent = &r.event;
    let mut w = ObjectWriter::with_buffer(buf);
    w.raw("kind", "\"exec\"")
        .raw("result", if r.failed() { "\"failed\"" } else { "\"ok\"" })
        .opt_num("errno", r.failed().then_some(e.errno as u64))
        .time("time", clock, e.header.ts_ns)
        .num("ts_mono_ns", e.header.ts_ns)
        .bytes("host", host.as_bytes())
        .num("pid", e.pid)
        .num("tid", e.tid)
        .num("ppid", e.ppid)
        .num("uid", e.uid)
        .num("euid", e.euid)
        .num("gid", e.gid)
        .num("egid", e.egid)
        .opt_num("loginuid", audit_id(e.loginuid))
        .opt_num("sessionid", audit_id(e.sessionid))
        .num("sid", e.sid)
        .num("cgroup_id", e.cgroup_id)
        .bool("tty", r.tty())
        .bytes("comm", comm(&e.comm))
        .bytes("parent_comm", comm(&e.parent_comm))
        .raw("syscall", if r.execveat() { "\"execveat\"" } else { "\"execve\"" })
        .bytes("filename", &r.filename)
        .bytes("interp", &r.interp)
        .bytes("exe", &r.exe);
    let utf8 = w.argv("argv", &r.argv);
    w.num("argc", e.argc)
        .num("args_size", e.args_size)
        .bool("argv_truncated", r.argv_truncated())
        .bool("argc_lower_bound", r.argc_lower_bound())
        .bool("filename_truncated", r.filename_truncated())
        .bool("exe_truncated", r.exe_truncated())
        .bool("read_error", r.read_error())
        .bytes("decision", decision::name(e.decision).as_bytes())
        .opt_bytes("class", class_name(e.class).map(str::as_bytes))
        .bytes("mode", mode::name(e.mode).as_bytes())
        .bytes("enforced_by", path::name(e.enforced_by).as_bytes())
        .opt_bytes("rule", rule_name(e, rule_names).map(str::as_bytes))
        .opt_bytes("reason", reason.map(str::as_bytes))
        .num("policy_version", e.policy_version)
        .bool("tampered", r.tampered())
        .bool("scan_incomplete", r.scan_incomplete())
        .bool("hold_offline", r.hold_offline())
        .bool("quarantined", r.quarantined())
        .bool("verdict_cached", r.cached());
    if !utf8 {
        let b64 = base64::engine::general_purpose::STANDARD;
        let encoded: Vec<Vec<u8>> = r.argv.iter().map(|a| b64.encode(a).into_bytes()).collect();
        w.bytes_array("argv_base64", encoded.iter().map(Vec::as_slice));
    }
    if let Some(info) = k8s {
        w.raw("k8s", &k8s_json(info));
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(bytes: &[u8]) -> String {
        let mut out = String::new();
        push_bytes(&mut out, bytes);
        out
    }

    #[test]
    fn valid_utf8_is_plain_json() {
        assert_eq!(s("a \"b\"\\\n\té".as_bytes()), r#""a \"b\"\\\n\té""#);
        let parsed: String = serde_json::from_str(&s("x\u{1}y".as_bytes())).unwrap();
        assert_eq!(parsed, "x\u{1}y");
    }

    /// Every ASCII byte, alone and between multi-byte characters, parses back exactly.
    #[test]
    fn every_ascii_byte_round_trips() {
        for b in 0u8..0x80 {
            for text in [String::from(b as char), format!("é{}€x{}", b as char, b as char)] {
                let json = s(text.as_bytes());
                let parsed: String = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
                assert_eq!(parsed, text);
                assert!(!json[1..json.len() - 1].bytes().any(|c| c < 0x20 || c == 0x7f), "{json}: raw control byte");
            }
        }
    }

    #[test]
    fn invalid_bytes_become_lone_surrogates() {
        assert_eq!(s(b"a\xffb\xc3"), r#""a\udcffb\udcc3""#);
    }

    /// Decoding the escape scheme by hand gives back the exact bytes.
    #[test]
    fn surrogateescape_round_trips() {
        let original = b"\x80\xfe ok \xe2\x82 \xf0\x9f\x98\x80".to_vec();
        let json = s(&original);
        let mut back = Vec::new();
        let body = &json[1..json.len() - 1];
        let mut rest = body;
        while !rest.is_empty() {
            if let Some(hex) = rest.strip_prefix("\\udc") {
                back.push(u8::from_str_radix(&hex[..2], 16).unwrap());
                rest = &hex[2..];
            } else {
                let c = rest.chars().next().unwrap();
                let mut buf = [0; 4];
                back.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                rest = &rest[c.len_utf8()..];
            }
        }
        assert_eq!(back, original);
    }

    #[test]
    fn k8s_object() {
        let info = guard_kube::PodInfo {
            namespace: "ci".into(),
            pod: "runner-1".into(),
            container: "build".into(),
            service_account: "runner".into(),
            labels: [("app.kubernetes.io/name".to_owned(), "run\"ner".to_owned())].into(),
        };
        let v: serde_json::Value = serde_json::from_str(&k8s_json(&info)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"namespace": "ci", "pod": "runner-1", "container": "build", "service_account": "runner",
                "labels": {"app.kubernetes.io/name": "run\"ner"}})
        );
        let empty = guard_kube::PodInfo { labels: Default::default(), ..info };
        let v: serde_json::Value = serde_json::from_str(&k8s_json(&empty)).unwrap();
        assert_eq!(v["labels"], serde_json::json!({}));
    }

    /// The whole-buffer path writes exactly what escaping each argument writes.
    #[test]
    fn argv_fast_path_matches_each_argument() {
        let blobs: [&[u8]; 10] = [
            b"",
            b"\0",
            b"true\0",
            b"ls\0-la\0/tmp\0",
            b"a\0\0b\0\0",
            b"caf\xc3\xa9\0\xe2\x82\xac\0",
            b"q\"uote\0",
            b"tab\there\0back\\slash\0",
            b"bad\xff\0ok\0",
            b"no final nul",
        ];
        for blob in blobs {
            let argv = Argv::from_blob(blob);
            let mut fast = String::new();
            let utf8 = push_argv(&mut fast, &argv);
            let mut each = String::new();
            let mut w = ObjectWriter::with_buffer(String::new());
            w.bytes_array("a", argv.iter());
            each.push_str(&w.finish()["{\"a\":".len()..]);
            each.pop();
            assert_eq!(fast, each, "{blob:?}");
            assert_eq!(utf8, std::str::from_utf8(blob).is_ok(), "{blob:?}");
        }
    }

    #[test]
    fn writer_produces_valid_json() {
        let mut w = ObjectWriter::new();
        w.num("a", 1).bool("b", true).opt_num("c", None).bytes_array("d", [&b"x"[..], b""].into_iter());
        w.opt_bytes("e", None).opt_bytes("f", Some(b"g")).raw("h", "\"7\"").entry("k\"ey", b"v");
        let v: serde_json::Value = serde_json::from_str(&w.finish()).unwrap();
        assert_eq!(v, serde_json::json!({"a": 1, "b": true, "c": null, "d": ["x", ""], "e": null, "f": "g", "h": "7", "k\"ey": "v"}));
    }

    /// The cached second changes nothing: every time reads as jiff displays it, in
    /// order, backwards, across seconds, before 1970 and past jiff's range.
    #[test]
    fn wall_time_is_jiffs() {
        let jiff_text = |ns: i128| jiff::Timestamp::from_nanosecond(ns).map(|t| t.to_string()).unwrap_or_default();
        for offset in [0i128, 1_700_000_000_123_456_789, -3_000_000_000_000_000_000, -400_000_000_000_000_000_000, 1_764_979_200_000_000_000] {
            let clock = Clock::with_offset(offset);
            let mut monos: Vec<u64> = vec![0, 1, 10, 999_999_999, 1_000_000_000, 1_000_000_001, 1_500_000_000, 2_000_000_000, 120_000_000];
            monos.extend((0..2000u64).map(|i| 7_000_000_000 + i * 1_234_567));
            monos.extend([u64::MAX, 5]);
            for mono in monos {
                let mut out = String::new();
                clock.push_wall(&mut out, mono);
                assert_eq!(out, jiff_text(offset + i128::from(mono)), "offset {offset} mono {mono}");
            }
        }
    }

    fn exec_record(argv: &[u8]) -> ExecRecord {
        let event = ExecEvent { pid: 42, uid: 1000, loginuid: u32::MAX, header: guard_common::event::EventHeader { ts_ns: 5, ..Default::default() }, ..ExecEvent::default() };
        ExecRecord {
            event,
            filename: b"/bin/rm".to_vec(),
            interp: b"/bin/rm".to_vec(),
            exe: b"/usr/bin/rm".to_vec(),
            argv: Argv::from_blob(argv),
        }
    }

    /// The event line with every kind of argument: escapes, an empty one, a class, a
    /// rule and a reason; what a SIEM parses back is what ran.
    #[test]
    fn exec_event_parses_back() {
        let mut r = exec_record(b"rm\0-rf\0\0a \"b\"\\c\n\x01\x7f\0caf\xc3\xa9\0");
        r.event.class = intent::BULK_DELETE;
        r.event.rule_id = 1;
        let names = ["first".to_owned(), "rm_recursive".to_owned()];
        let clock = Clock::with_offset(1_700_000_000_000_000_000);
        let line = exec_to_json(String::new(), &r, &clock, "h\"ost", &names, None, Some("why \"so\""));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["argv"], serde_json::json!(["rm", "-rf", "", "a \"b\"\\c\n\u{1}\u{7f}", "café"]));
        assert_eq!(v["pid"], 42);
        assert_eq!(v["uid"], 1000);
        assert_eq!(v["loginuid"], serde_json::Value::Null);
        assert_eq!(v["errno"], serde_json::Value::Null);
        assert_eq!(v["host"], "h\"ost");
        assert_eq!(v["exe"], "/usr/bin/rm");
        assert_eq!(v["class"], "bulk_delete");
        assert_eq!(v["rule"], "rm_recursive");
        assert_eq!(v["reason"], "why \"so\"");
        assert_eq!(v["time"], "2023-11-14T22:13:20.000000005Z");
        assert!(v.get("argv_base64").is_none());

        r.event.class = intent::NONE;
        let v: serde_json::Value = serde_json::from_str(&exec_to_json(String::new(), &r, &clock, "h", &names, None, None)).unwrap();
        assert_eq!((&v["class"], &v["rule"], &v["reason"]), (&serde_json::Value::Null, &serde_json::Value::Null, &serde_json::Value::Null));
    }

    /// An argv that is not UTF-8 also comes as base64, every argument's exact bytes.
    #[test]
    fn non_utf8_argv_carries_base64() {
        let line = exec_to_json(String::new(), &exec_record(b"ok\0\xff\xfe"), &Clock::with_offset(0), "h", &[], None, None);
        assert!(line.contains(r#""argv":["ok","\udcff\udcfe"]"#), "{line}");
        assert!(line.contains(r#""argv_base64":["b2s=","//4="]"#), "{line}");
    }
}
