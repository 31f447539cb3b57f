//! One test per kind of error, each asserting the exact line, column, field path and
//! message reported, plus the one-line-per-problem format and that every problem in a
//! file is reported at once.

use guard_policy::{PolicyError, load_str};

/// `(line, column, path, message)` of every problem in `text`.
fn problems(text: &str) -> Vec<(u32, u32, String, String)> {
    let e = load_str(text, "policy.yaml").expect_err("policy should be refused");
    e.problems().iter().map(|p| (p.loc.line, p.loc.column, p.path.clone(), p.message.clone())).collect()
}

fn one(text: &str) -> (u32, u32, String, String) {
    let mut ps = problems(text);
    assert_eq!(ps.len(), 1, "{ps:#?}");
    ps.remove(0)
}

const HEAD: &str = "version: 1\nname: t\n";

#[test]
fn syntax_error() {
    let text = format!("{HEAD}identities:\n  - name: a\n    mode: [strict\n");
    let (line, column, path, msg) = one(&text);
    assert_eq!((line, column, path.as_str()), (5, 11, ""), "{msg}");
    assert_eq!(msg, "YAML syntax error: unclosed bracket '['");

    let (line, column, _, msg) = one("version: 1\nname: t\n  default_mode: audit\n");
    assert_eq!((line, column), (3, 15), "{msg}");

    let (line, column, _, msg) = one("version: 1\nname: \"t\n");
    assert_eq!((line, column), (2, 7), "{msg}");
    assert_eq!(msg, "YAML syntax error: unclosed quote");
}

#[test]
fn duplicate_key() {
    assert_eq!(one(&format!("{HEAD}default_mode: audit\ndefault_mode: strict\n")), (4, 1, String::new(), "duplicate key \"default_mode\"".into()));
}

#[test]
fn unknown_field() {
    let text = format!("{HEAD}identities:\n  - name: a\n    moed: strict\n    match: {{uids: [1]}}\n");
    assert_eq!(
        problems(&text),
        [
            (4, 5, "identities[0].mode".into(), "missing field \"mode\"".into()),
            (5, 5, "identities[0].moed".into(), "unknown field \"moed\" (expected one of: name, mode, fail, match; did you mean \"mode\"?)".into()),
        ]
    );
    let (line, column, path, msg) = one(&format!("{HEAD}hold: {{deadline: 5}}\n"));
    assert_eq!((line, column, path.as_str()), (3, 8, "hold.deadline"));
    assert_eq!(msg, "unknown field \"deadline\" (expected one of: deadline_ms; did you mean \"deadline_ms\"?)");
}

#[test]
fn unknown_intent_class() {
    let text = format!("{HEAD}intents:\n  bulk_delete: {{action: deny}}\n  bulk_delte:\n    action: deny\n");
    let (line, column, path, msg) = one(&text);
    assert_eq!((line, column, path.as_str()), (5, 3, "intents.bulk_delte"));
    assert_eq!(
        msg,
        "unknown intent class \"bulk_delte\" (expected one of: bulk_delete, disk_wipe, schema_destroy, cloud_destroy, \
         data_exfiltration, audit_tamper, service_disruption, permission_change; did you mean \"bulk_delete\"?)"
    );
}

#[test]
fn bad_mode() {
    let text = format!("{HEAD}identities:\n  - name: ci\n    mode: enforcing\n    match: {{uids: [1]}}\n");
    assert_eq!(one(&text), (5, 11, "identities[0].mode".into(), "unknown mode \"enforcing\" (expected audit, enforce or strict)".into()));
    assert_eq!(one(&format!("{HEAD}default_mode: Enforce\n")).0, 3);
    assert_eq!(one(&format!("{HEAD}default_mode: Enforce\n")).1, 15);
}

#[test]
fn relative_path() {
    let text = format!("{HEAD}protected_paths:\n  - /srv\n  - srv/app\n");
    assert_eq!(one(&text), (5, 5, "protected_paths[1]".into(), "relative path \"srv/app\" (paths must be absolute or start with ~/)".into()));
    let (line, column, path, _) = one(&format!("{HEAD}data_dirs: [/var/lib/x, ./db]\n"));
    assert_eq!((line, column, path.as_str()), (3, 25, "data_dirs[1]"));
}

#[test]
fn duplicate_identity() {
    let text = format!(
        "{HEAD}identities:\n  - name: ci\n    mode: strict\n    match: {{uids: [1]}}\n  - name: ci\n    mode: audit\n    match: {{uids: [2]}}\n"
    );
    assert_eq!(one(&text), (7, 11, "identities[1].name".into(), "duplicate identity name \"ci\" (first defined at line 4)".into()));
}

#[test]
fn other_kinds() {
    assert_eq!(one(&format!("{HEAD}identities:\n  - {{name: a, mode: audit, match: {{}}}}\n")).2, "identities[0].match");
    assert_eq!(one(&format!("{HEAD}intents: {{schema_destroy: {{except: ['DROP [x']}}}}\n")).2, "intents.schema_destroy.except[0]");
    assert_eq!(one("version: 2\nname: t\n"), (1, 10, "version".into(), "unsupported version 2 (expected 1)".into()));
    assert_eq!(one("name: t\n").2, "version");
    assert_eq!(one(&format!("{HEAD}identities: {{a: 1}}\n")), (3, 13, "identities".into(), "expected a list, found a mapping".into()));
    assert_eq!(one(&format!("{HEAD}hold: {{deadline_ms: soon}}\n")).3, "expected an unsigned integer, found string \"soon\"");
    assert_eq!(one(&format!("{HEAD}identities:\n  - {{name: a, mode: audit, match: {{non_interactive: yes}}}}\n")).3, "expected true or false, found string \"yes\"");
}

#[test]
fn every_problem_at_once_one_per_line() {
    let text = "version: 1\n\
                name: prod\n\
                default_mode: enforcing\n\
                identities:\n\
                \x20 - name: ci\n\
                \x20   mode: strict\n\
                \x20   colour: blue\n\
                \x20   match: {users: [deploy]}\n\
                \x20 - name: ci\n\
                \x20   mode: audit\n\
                \x20   match: {groups: [ops]}\n\
                protected_paths: [etc]\n\
                intents:\n\
                \x20 drop_everything: {action: deny}\n";
    let e = load_str(text, "policy.yaml").unwrap_err();
    assert!(matches!(e, PolicyError::Invalid { .. }));
    let want = "\
policy.yaml:3:15: default_mode: unknown mode \"enforcing\" (expected audit, enforce or strict)
policy.yaml:7:5: identities[0].colour: unknown field \"colour\" (expected one of: name, mode, fail, match)
policy.yaml:9:11: identities[1].name: duplicate identity name \"ci\" (first defined at line 5)
policy.yaml:12:19: protected_paths[0]: relative path \"etc\" (paths must be absolute or start with ~/)
policy.yaml:14:3: intents.drop_everything: unknown intent class \"drop_everything\" (expected one of: bulk_delete, disk_wipe, \
schema_destroy, cloud_destroy, data_exfiltration, audit_tamper, service_disruption, permission_change)";
    assert_eq!(e.to_string(), want);
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/policy.md")).unwrap();
    assert!(docs.contains(want), "docs/policy.md shows this output verbatim");
}
