//! Secret redaction in argv before any mapping sees it.

mod common;

use common::with_argv;
use guard_export::{Redactor, to_ecs, to_ocsf};

fn redact(argv: &[&[u8]]) -> Vec<String> {
    let r = Redactor::new::<&str>(&[]).unwrap().apply(with_argv(argv));
    r.event().argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect()
}

#[test]
fn env_assignments_and_password_flags() {
    assert_eq!(redact(&[b"env", b"PGPASSWORD=hunter2", b"psql"]), ["env", "PGPASSWORD=[REDACTED]", "psql"]);
    assert_eq!(redact(&[b"tool", b"--password=hunter2"]), ["tool", "--password=[REDACTED]"]);
    assert_eq!(redact(&[b"tool", b"--password", b"hunter2", b"--user", b"bob"]), ["tool", "--password", "[REDACTED]", "--user", "bob"]);
    assert_eq!(redact(&[b"tool", b"--api-key=abc123"]), ["tool", "--api-key=[REDACTED]"]);
}

#[test]
fn mysql_short_password() {
    assert_eq!(redact(&[b"/usr/bin/mysql", b"-uroot", b"-phunter2", b"db"]), ["/usr/bin/mysql", "-uroot", "-p[REDACTED]", "db"]);
    // -p alone prompts; nothing to hide. Other programs' -p is not a password.
    assert_eq!(redact(&[b"mysql", b"-p", b"db"]), ["mysql", "-p", "db"]);
    assert_eq!(redact(&[b"mkdir", b"-pfoo"]), ["mkdir", "-pfoo"]);
    assert_eq!(
        redact(&[b"sh", b"-c", b"mysql -u root -phunter2 -e 'drop database x'"]),
        ["sh", "-c", "mysql -u root -p[REDACTED] -e 'drop database x'"]
    );
}

#[test]
fn bearer_tokens_aws_keys_and_url_passwords() {
    assert_eq!(
        redact(&[b"curl", b"-H", b"Authorization: Bearer eyJhbGciOi.abc.def", b"https://x"]),
        ["curl", "-H", "Authorization: Bearer [REDACTED]", "https://x"]
    );
    assert_eq!(
        redact(&[b"sh", b"-c", b"curl -H 'Authorization: Bearer tok123456' https://x && PGPASSWORD=s3cr3t psql"]),
        ["sh", "-c", "curl -H 'Authorization: Bearer [REDACTED]' https://x && PGPASSWORD=[REDACTED] psql"]
    );
    assert_eq!(redact(&[b"echo", b"key AKIAIOSFODNN7EXAMPLE!"]), ["echo", "key [REDACTED]!"]);
    assert_eq!(redact(&[b"psql", b"postgres://bob:hunter2@db/prod"]), ["psql", "postgres://bob:[REDACTED]@db/prod"]);
}

#[test]
fn harmless_arguments_are_untouched_and_counted() {
    let red = Redactor::new::<&str>(&[]).unwrap();
    let r = red.apply(with_argv(&[b"rm", b"-rf", b"/tmp/password-notes", b"--token-file=/etc/x"]));
    assert_eq!(r.redactions(), 0);
    assert_eq!(r.event().argv[2], b"/tmp/password-notes");
    let r = red.apply(with_argv(&[b"psql", b"PGPASSWORD=x", b"--password", b"y"]));
    assert_eq!(r.redactions(), 2);
}

#[test]
fn extra_patterns_with_and_without_secret_group() {
    let red = Redactor::new(&[r"x-api-key:\s*(?P<secret>\S+)", r"sk_live_[0-9a-z]+"]).unwrap();
    let r = red.apply(with_argv(&[b"curl", b"-H", b"x-api-key: abc", b"sk_live_123abc"]));
    assert_eq!(r.event().argv[2], b"x-api-key: [REDACTED]");
    assert_eq!(r.event().argv[3], b"[REDACTED]");
    let err = Redactor::new(&["(unclosed"]).unwrap_err();
    assert!(err.to_string().contains("(unclosed"));
}

#[test]
fn no_mapping_output_contains_the_secret() {
    let red = Redactor::new::<&str>(&[]).unwrap();
    let r = red.apply(with_argv(&[b"sh", b"-c", b"PGPASSWORD=hunter2 psql -c 'select 1'"]));
    for out in [to_ocsf(&r).to_string(), to_ecs(&r).to_string()] {
        assert!(!out.contains("hunter2"), "{out}");
        assert!(out.contains("PGPASSWORD=[REDACTED]"));
    }
}
