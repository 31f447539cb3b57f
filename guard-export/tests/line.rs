//! The agent's JSON line read back byte-exact, then mapped.

use guard_export::{Decision, EnforcedBy, Redactor, parse_event_line, to_ocsf};

const LINE: &str = r#"{"kind":"exec","result":"failed","errno":1,"time":"2026-11-25T16:00:00.123456Z","ts_mono_ns":42,"host":"web-1","pid":10,"tid":11,"ppid":9,"uid":1000,"euid":0,"gid":1000,"egid":0,"loginuid":null,"sessionid":5,"sid":8,"cgroup_id":77,"tty":false,"comm":"bash","parent_comm":"sshd","syscall":"execveat","filename":"/tmp/x\udcffy\\udc80","interp":"","exe":"","argv":["rm","-rf","/\udcfe","PGPASSWORD=s3cret"],"argv_base64":["cm0=","LXJm","L/4=","UEdQQVNTV09SRD1zM2NyZXQ="],"argc":4,"args_size":30,"argv_truncated":false,"argc_lower_bound":false,"filename_truncated":false,"exe_truncated":false,"read_error":false,"decision":"deny","class":"bulk_delete","mode":"enforce","enforced_by":"lsm","rule":"rm-rf","policy_version":3735928559,"tampered":false,"scan_incomplete":false}"#;

#[test]
fn agent_line_is_read_byte_exact() {
    let e = parse_event_line(LINE, "prod").unwrap();
    assert_eq!(e.filename, b"/tmp/x\xffy\\udc80", "lone surrogate -> byte; escaped backslash stays text");
    assert_eq!(e.argv[2], b"/\xfe");
    assert_eq!(e.argv.len(), 4);
    assert!(!e.ok);
    assert_eq!(e.errno, Some(1));
    assert_eq!((e.decision, e.enforced_by), (Decision::Deny, EnforcedBy::Lsm));
    assert_eq!((e.loginuid, e.sessionid), (None, Some(5)));
    assert_eq!(e.policy_version, 0xdeadbeef);
    assert_eq!(e.policy_name, "prod");
    assert_eq!(e.class.as_deref(), Some("bulk_delete"));
    assert_eq!(e.time.as_millisecond(), 1_795_622_400_123);
    assert_eq!(e.id.get_version_num(), 7);
    let v = to_ocsf(&Redactor::new::<&str>(&[]).unwrap().apply(e));
    assert_eq!(v["unmapped"]["argv"][3], "PGPASSWORD=[REDACTED]");
    assert_eq!(v["unmapped"]["argv_base64"][3], "UEdQQVNTV09SRD1bUkVEQUNURURd", "the exact bytes are redacted too");
    assert!(!v.to_string().contains("s3cret") && !v.to_string().contains("UEdQQVNTV09SRD1zM2NyZXQ="));
    assert_eq!(v["process"]["file"]["path"], "/tmp/x\\xffy\\udc80");
    assert_eq!(v["unmapped"]["filename_base64"], "L3RtcC94/3lcdWRjODA=");
    assert_eq!(v["policy"]["uid"], "rm-rf");
}

/// The agent's `reason` reaches the OCSF message and `unmapped`, redacted like argv (a
/// classifier's explanation can quote the command).
#[test]
fn the_reason_is_carried_and_redacted() {
    let line = LINE.replace(r#""rule":"rm-rf","#, r#""rule":"rm-rf","reason":"recursive deletion of / (PGPASSWORD=s3cret set)","#);
    let e = parse_event_line(&line, "prod").unwrap();
    assert_eq!(e.reason.as_deref(), Some("recursive deletion of / (PGPASSWORD=s3cret set)"));
    let v = to_ocsf(&Redactor::new::<&str>(&[]).unwrap().apply(e));
    assert_eq!(v["unmapped"]["reason"], "recursive deletion of / (PGPASSWORD=[REDACTED] set)");
    let message = v["message"].as_str().unwrap();
    assert!(message.ends_with(": recursive deletion of / (PGPASSWORD=[REDACTED] set)"), "{message}");
    assert!(!v.to_string().contains("s3cret"));
    // An event without one maps it to null.
    let v = to_ocsf(&Redactor::new::<&str>(&[]).unwrap().apply(parse_event_line(LINE, "prod").unwrap()));
    assert!(v["unmapped"]["reason"].is_null());
}

#[test]
fn non_exec_lines_are_refused() {
    assert!(parse_event_line("not json", "p").is_err());
    assert!(parse_event_line(r#"{"kind":"other"}"#, "p").is_err());
    let bad = LINE.replace(r#""decision":"deny""#, r#""decision":"maybe""#);
    assert!(parse_event_line(&bad, "p").unwrap_err().to_string().contains("decision"));
}
