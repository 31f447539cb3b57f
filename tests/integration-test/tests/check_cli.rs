//! The `guard-agent check` contract other tools rely on: one JSON object per judged
//! line, in order, with `decision`, `intents`, `rule` and the kernel's own verdict;
//! exit status 0 whatever the decisions.

use std::{
    io::Write as _,
    process::{Command, Stdio},
};

use integration_test::{agent_bin, parse_line};

fn check(args: &[&str], stdin: &str) -> (bool, Vec<serde_json::Value>, String) {
    let mut child = Command::new(agent_bin())
        .arg("check")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let json = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| parse_line(l).unwrap())
        .collect();
    (out.status.success(), json, text)
}

#[test]
fn batch_gives_one_result_per_line_in_order() {
    let input = "# a comment\n\nrm -rf /\nls -la /etc\necho \"rm -rf /\"\npsql -c 'DROP TABLE users'\nFOO=1 rm -rf /usr\n";
    let (ok, results, _) = check(&["--json", "--batch", "-"], input);
    assert!(ok);
    let got: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["decision"].as_str().unwrap(),
                r["kernel"]["decision"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("deny", "deny"),
            ("allow", "allow"),
            ("allow", "allow"),
            ("deny", "deny"),
            ("deny", "deny")
        ]
    );
    assert_eq!(results[0]["intents"][0]["class"], "bulk_delete");
    assert!(
        results[0]["intents"][0]["reason"].is_string()
            && results[0]["intents"][0]["evidence"].is_string()
    );
    assert!(results[0]["rule"].is_string() && results[1]["rule"].is_null());
    assert_eq!(results[3]["kernel"]["rule"], "sql-drop-truncate");
}

#[test]
fn argv_mode_and_audit_mode() {
    let (ok, r, _) = check(&["--json", "--", "rm", "-fr", "//etc/"], "");
    assert!(ok);
    assert_eq!(r[0]["decision"], "deny");
    let (ok, r, _) = check(&["--json", "--mode", "audit", "--", "rm", "-rf", "/"], "");
    assert!(ok);
    assert_eq!(
        r[0]["decision"], "allow",
        "audit mode records, never denies"
    );
    assert_eq!(r[0]["kernel"]["decision"], "audit");
}

#[test]
fn readable_output_has_one_line_with_the_reason() {
    let (ok, _, text) = check(&["--batch", "-"], "rm -rf /\n");
    assert!(ok);
    assert_eq!(text.lines().count(), 1);
    assert!(text.starts_with("deny\tbulk_delete: "), "{text}");
}
