//! OCSF, ECS and HEC mappings: schema validation of real mapped events and snapshots.

mod common;

use common::{sample, with_argv};
use guard_export::{Decision, HecOptions, Redactor, to_bulk_lines, to_ecs, to_hec, to_ocsf};
use serde_json::Value;

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/ocsf-exec.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid(v: &Value) {
    let errs: Vec<String> = schema().iter_errors(v).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errs.is_empty(), "schema errors: {errs:#?}\n{v:#}");
}

#[test]
fn every_decision_validates_against_the_schema() {
    let red = Redactor::new::<&str>(&[]).unwrap();
    for d in [Decision::Allow, Decision::Deny, Decision::Audit, Decision::Hold] {
        assert_valid(&to_ocsf(&red.apply(sample(d))));
    }
    // A hold's verdict: guard's extra fields pass through under `unmapped`.
    let mut verdict = sample(Decision::Deny);
    verdict.enforced_by = guard_export::EnforcedBy::Hold;
    verdict.extra.insert("hold".into(), serde_json::json!({"outcome": "killed", "held_us": 812, "classify_us": 40, "cached": true, "intents": ["bulk_delete"]}));
    let v = to_ocsf(&red.apply(verdict));
    assert_valid(&v);
    assert_eq!(v["unmapped"]["hold"]["outcome"], "killed");
    assert_eq!(v["disposition_id"], 2);
    let mut bin = with_argv(&[b"cat", b"\xff\xfe name"]);
    bin.exe = b"/bin/\xffcat".to_vec();
    let v = to_ocsf(&red.apply(bin));
    assert_valid(&v);
    assert_eq!(v["unmapped"]["argv_base64"][1], "//4gbmFtZQ==");
    assert_eq!(v["unmapped"]["argv"][1], "\\xff\\xfe name");
}

#[test]
fn schema_rejects_a_broken_event() {
    let red = Redactor::new::<&str>(&[]).unwrap();
    let mut v = to_ocsf(&red.apply(sample(Decision::Deny)));
    v["action_id"] = 1.into();
    assert!(!schema().is_valid(&v), "Blocked with action Allowed must not validate");
    let mut v = to_ocsf(&red.apply(sample(Decision::Deny)));
    v.as_object_mut().unwrap().remove("status_code");
    assert!(!schema().is_valid(&v), "a failed exec without status_code must not validate");
    let mut v = to_ocsf(&red.apply(sample(Decision::Allow)));
    v["metadata"]["uid"] = "not-a-uuid".into();
    assert!(!schema().is_valid(&v));
}

#[test]
fn security_control_fields_follow_the_decision() {
    let red = Redactor::new::<&str>(&[]).unwrap();
    let deny = to_ocsf(&red.apply(sample(Decision::Deny)));
    assert_eq!((deny["action_id"].as_u64(), deny["disposition_id"].as_u64()), (Some(2), Some(2)));
    assert_eq!(deny["is_alert"], true);
    assert_eq!(deny["status_id"], 2);
    assert_eq!(deny["status_code"], "1");
    assert_eq!(deny["status_detail"], "EPERM");
    assert_eq!(deny["policy"]["uid"], "rm-recursive-root");
    assert_eq!(deny["policy"]["name"], "prod");
    assert_eq!(deny["policy"]["version"], "deadbeef");
    assert_eq!(deny["process"]["file"]["path"], "/usr/bin/rm", "failed exec falls back to filename");
    let audit = to_ocsf(&red.apply(sample(Decision::Audit)));
    assert_eq!((audit["action_id"].as_u64(), audit["disposition_id"].as_u64()), (Some(3), Some(15)));
    assert_eq!(audit["action"], "Observed");
    assert_eq!(audit["is_alert"], true);
    let allow = to_ocsf(&red.apply(sample(Decision::Allow)));
    assert_eq!((allow["action_id"].as_u64(), allow["disposition_id"].as_u64()), (Some(1), Some(1)));
    assert_eq!(allow["is_alert"], false);
    assert_eq!(allow["status_id"], 1);
    assert_eq!(allow["metadata"]["uid"], "0190d4b8-6a4e-7c3a-9b1e-2f4a5c6d7e8f");
    assert_eq!(allow["device"]["hostname"], "web-1");
    assert_eq!(allow["type_uid"], 100701);
}

#[test]
fn fresh_ids_are_uuid_v7_and_unique() {
    let a = guard_export::ExecEvent::new_id();
    let b = guard_export::ExecEvent::new_id();
    assert_eq!(a.get_version_num(), 7);
    assert_ne!(a, b);
}

#[test]
fn snapshot_ocsf() {
    let red = Redactor::new::<&str>(&[]).unwrap();
    insta::assert_json_snapshot!("ocsf_deny", to_ocsf(&red.apply(sample(Decision::Deny))), {".metadata.product.version" => "[version]"});
    insta::assert_json_snapshot!("ocsf_audit", to_ocsf(&red.apply(sample(Decision::Audit))), {".metadata.product.version" => "[version]"});
}

#[test]
fn snapshot_ecs_and_bulk() {
    let red = Redactor::new::<&str>(&[]).unwrap();
    let r = red.apply(sample(Decision::Deny));
    insta::assert_json_snapshot!("ecs_deny", to_ecs(&r));
    let bulk = to_bulk_lines(&r, "guard-exec");
    let lines: Vec<Value> = bulk.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["create"]["_id"], "0190d4b8-6a4e-7c3a-9b1e-2f4a5c6d7e8f");
    assert_eq!(lines[1], to_ecs(&r));
}

#[test]
fn snapshot_hec() {
    let red = Redactor::new::<&str>(&[]).unwrap();
    let opts = HecOptions { index: Some("security".into()), ..HecOptions::default() };
    let v = to_hec(&red.apply(sample(Decision::Audit)), &opts);
    assert_eq!(v["time"], 1_795_622_400.123);
    insta::assert_json_snapshot!("hec_audit", v, {".event.metadata.product.version" => "[version]"});
}
