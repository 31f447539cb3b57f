//! From the kernel to the outputs a SIEM and a compliance reviewer use: the real agent
//! streams OCSF to a file sink and appends to the hash-chained audit log; `audit verify`
//! accepts the log and names the first bad record once it is altered; `audit report`
//! lists the denial; `replay` tells what a candidate policy would change.

use std::{os::unix::process::CommandExt as _, process::Command};

use integration_test::{Agent, agent_bin, require_root, token};

fn agent(args: &[&str]) -> (bool, String) {
    let out = Command::new(agent_bin()).args(args).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn events_reach_the_ocsf_sink_and_the_verifiable_audit_log() {
    require_root();
    let dir = std::env::temp_dir().join(token("export"));
    std::fs::create_dir_all(dir.join("protected/keep")).unwrap();
    let protected = dir.join("protected").display().to_string();
    let policy = dir.join("policy.yaml");
    std::fs::write(&policy, format!("version: 1\nname: export-test\ndefault_mode: audit\nidentities:\n  - name: enforced\n    mode: enforce\n    match: {{ uids: [4242] }}\nprotected_paths: [{protected}]\n")).unwrap();
    let ocsf = dir.join("events.ocsf.jsonl");
    let log = dir.join("audit.log");
    let sink = format!("file://{}", ocsf.display());
    let a = Agent::start(&["--policy", policy.to_str().unwrap(), "--sink", &sink, "--audit-log", log.to_str().unwrap()]).unwrap();
    let tok = token("ok");
    assert!(Command::new("/bin/true").arg(&tok).arg("--password=hunter2").status().unwrap().success());
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let denied = Command::new("/bin/rm").args(["-rf", &protected]).uid(4242).gid(4242).status();
    assert!(dir.join("protected/keep").exists(), "denied: {denied:?}");
    a.stop().unwrap();

    let text = std::fs::read_to_string(&ocsf).unwrap();
    let events: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let mine = events.iter().find(|e| e.to_string().contains(&tok)).expect("the exec reached the sink");
    assert_eq!(mine["class_uid"], 1007);
    assert!(!mine.to_string().contains("hunter2"), "secrets are redacted before any sink: {mine}");
    let block = events.iter().find(|e| e.to_string().contains(&protected) && e["disposition_id"] == 2).expect("the denial, as Blocked");
    assert_eq!(block["action_id"], 2);

    let (ok, out) = agent(&["audit", "verify", log.to_str().unwrap()]);
    assert!(ok, "a clean log verifies: {out}");
    let (ok, out) = agent(&["audit", "report", log.to_str().unwrap()]);
    assert!(ok && out.contains("bulk_delete"), "{out}");

    let mut lines: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(str::to_owned).collect();
    let victim = lines.iter().position(|l| l.contains(&tok)).unwrap();
    lines[victim] = lines[victim].replace(&tok, &token("forged"));
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let (ok, out) = agent(&["audit", "verify", log.to_str().unwrap()]);
    assert!(!ok, "an altered record is detected: {out}");
    assert!(out.contains(&format!("{}", victim + 1)), "the report names the bad record's line {}: {out}", victim + 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn replay_lists_what_a_candidate_policy_would_change() {
    let dir = std::env::temp_dir().join(token("replay"));
    std::fs::create_dir_all(&dir).unwrap();
    let events = dir.join("events.jsonl");
    let line = |argv: &str, decision: &str| format!(r#"{{"kind":"exec","result":"ok","errno":null,"time":"2026-11-25T10:00:00Z","ts_mono_ns":1,"host":"h","pid":10,"tid":10,"ppid":1,"uid":4242,"euid":4242,"gid":4242,"egid":4242,"loginuid":null,"sessionid":null,"sid":1,"cgroup_id":1,"tty":false,"comm":"rm","parent_comm":"sh","syscall":"execve","filename":"/bin/rm","interp":"/bin/rm","exe":"/usr/bin/rm","argv":{argv},"argc":3,"args_size":10,"argv_truncated":false,"argc_lower_bound":false,"filename_truncated":false,"exe_truncated":false,"read_error":false,"decision":"{decision}","class":null,"mode":"audit","enforced_by":"none","rule":null,"policy_version":1,"tampered":false,"scan_incomplete":false}}"#);
    std::fs::write(&events, [line(r#"["rm","-rf","/srv/data"]"#, "allow"), line(r#"["rm","-rf","/tmp/x"]"#, "allow")].join("\n")).unwrap();
    let candidate = dir.join("candidate.yaml");
    std::fs::write(&candidate, "version: 1\nname: candidate\ndefault_mode: enforce\nprotected_paths: [/srv/data]\n").unwrap();
    let (ok, out) = agent(&["replay", "--json", "--policy", candidate.to_str().unwrap(), events.to_str().unwrap()]);
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(v["events"], 2);
    assert_eq!(v["newly_denied"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["newly_denied"][0]["argv"][2], "/srv/data");
    assert_eq!(v["newly_allowed"].as_array().unwrap().len(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}
