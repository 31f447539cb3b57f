//! Property tests: spelling variations that do not change what a command does must not
//! change the decision (flag order and bundling, `//`, `/./`, trailing slashes, quoting,
//! wrapper stacking), and no input makes the classifier panic.

use guard_classify::{Context, classify_argv, classify_shell};
use proptest::prelude::*;

fn recursive_force_flags() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        Just(vec!["-rf".to_owned()]),
        Just(vec!["-fr".to_owned()]),
        Just(vec!["-r".to_owned(), "-f".to_owned()]),
        Just(vec!["-f".to_owned(), "-r".to_owned()]),
        Just(vec!["-R".to_owned(), "-f".to_owned()]),
        Just(vec!["--recursive".to_owned(), "--force".to_owned()]),
        Just(vec!["--force".to_owned(), "--recursive".to_owned()]),
        Just(vec!["-rfv".to_owned()]),
        Just(vec!["-vrf".to_owned(), "--one-file-system".to_owned()]),
    ]
}

/// A path spelled differently: doubled slashes, `/./`, trailing slash.
fn respell(path: &str, doubled: bool, dot: bool, trailing: bool) -> String {
    let mut p = path.to_owned();
    if doubled {
        p = p.replacen('/', "//", 1);
    }
    if dot && p.len() > 1 {
        let i = p.rfind('/').unwrap_or(0);
        p.insert_str(i, "/.");
    }
    if trailing && !p.ends_with('/') {
        p.push('/');
    }
    p
}

fn quote(word: &str, style: u8) -> String {
    match style % 4 {
        0 => word.to_owned(),
        1 => format!("'{word}'"),
        2 => format!("\"{word}\""),
        _ => word.chars().map(|c| if c == '/' { "\\/".to_owned() } else { c.to_string() }).collect(),
    }
}

fn wrappers() -> impl Strategy<Value = Vec<Vec<&'static str>>> {
    prop::collection::vec(
        prop_oneof![
            Just(vec!["sudo"]),
            Just(vec!["sudo", "-u", "root"]),
            Just(vec!["doas"]),
            Just(vec!["env", "FOO=1"]),
            Just(vec!["env", "-i"]),
            Just(vec!["nohup"]),
            Just(vec!["timeout", "30"]),
            Just(vec!["timeout", "-s", "KILL", "5m"]),
            Just(vec!["nice", "-n", "10"]),
            Just(vec!["ionice", "-c3"]),
            Just(vec!["stdbuf", "-oL"]),
            Just(vec!["command"]),
            Just(vec!["exec"]),
            Just(vec!["busybox"]),
            Just(vec!["/usr/bin/env"]),
        ],
        0..4,
    )
}

const PROTECTED: &[&str] = &["/", "/etc", "/usr", "/var", "/home", "/root", "/boot", "/var/lib/mysql", "/var/lib/postgresql"];
const ORDINARY: &[&str] = &["./build", "/tmp/cache", "target/debug", "/srv/app/releases/old", "node_modules"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn rm_decision_is_stable_under_respelling(
        flags in recursive_force_flags(),
        idx in 0..PROTECTED.len(),
        benign_idx in 0..ORDINARY.len(),
        doubled in any::<bool>(), dot in any::<bool>(), trailing in any::<bool>(),
        q in 0u8..4,
        wraps in wrappers(),
    ) {
        let ctx = Context::builtin();
        for (path, expect) in [(PROTECTED[idx], true), (ORDINARY[benign_idx], false)] {
            let spelled = respell(path, doubled, dot, trailing);
            let mut argv: Vec<String> = wraps.iter().flatten().map(|s| (*s).to_owned()).collect();
            argv.push("rm".to_owned());
            argv.extend(flags.iter().cloned());
            argv.push(spelled.clone());
            let v = classify_argv(&argv, &ctx);
            prop_assert_eq!(!v.is_benign(), expect, "argv {:?}", argv);
            let line = argv.iter().take(argv.len() - 1).cloned().collect::<Vec<_>>().join(" ") + " " + &quote(&spelled, q);
            let v = classify_shell(&line, &ctx);
            prop_assert_eq!(!v.is_benign(), expect, "line {}", line);
            let nested = format!("sh -c {}", quote(&line.replace('\'', "\"").replace('\\', ""), 1));
            prop_assert_eq!(!classify_shell(&nested, &ctx).is_benign(), expect, "nested {}", nested);
        }
    }

    #[test]
    fn chmod_decision_is_stable_under_respelling(
        recursive in prop_oneof![Just("-R"), Just("--recursive")],
        mode in prop_oneof![Just("777"), Just("0777"), Just("a+rwx"), Just("o+w")],
        idx in 0..4usize,
        doubled in any::<bool>(), dot in any::<bool>(), trailing in any::<bool>(),
        wraps in wrappers(),
    ) {
        let ctx = Context::builtin();
        let path = respell(["/", "/etc", "/usr", "/boot"][idx], doubled, dot, trailing);
        let mut argv: Vec<String> = wraps.iter().flatten().map(|s| (*s).to_owned()).collect();
        argv.extend(["chmod".to_owned(), recursive.to_owned(), mode.to_owned(), path]);
        prop_assert!(!classify_argv(&argv, &ctx).is_benign(), "argv {:?}", argv);
    }

    #[test]
    fn sql_decision_is_case_and_spacing_insensitive(
        kw in prop_oneof![Just("drop table users"), Just("truncate orders"), Just("delete from t"), Just("update t set a = 1")],
        upper in any::<bool>(),
        spaces in 1usize..4,
        client in prop_oneof![Just("psql -c"), Just("mysql -e"), Just("sqlite3 app.db")],
    ) {
        let ctx = Context::builtin();
        let sql = if upper { kw.to_uppercase() } else { kw.to_owned() }.replace(' ', &" ".repeat(spaces));
        let line = format!("{client} '{sql};'");
        prop_assert!(!classify_shell(&line, &ctx).is_benign(), "{}", line);
        let data = format!("echo '{client} {sql}'");
        prop_assert!(classify_shell(&data, &ctx).is_benign(), "{}", data);
    }

    #[test]
    fn never_panics_on_arbitrary_shell(s in "\\PC{0,200}") {
        let _ = classify_shell(&s, &Context::builtin());
    }

    #[test]
    fn never_panics_on_arbitrary_argv(argv in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..8)) {
        let _ = classify_argv(&argv, &Context::builtin());
    }
}

#[test]
fn hostile_input_is_bounded() {
    let ctx = Context::builtin();
    let deep = format!("{}rm -rf /{}", "(".repeat(5000), ")".repeat(5000));
    let v = classify_shell(&deep, &ctx);
    assert!(v.degraded);
    assert!(v.has(guard_classify::IntentClass::BulkDelete));
    let subst = format!("{}x{}", "$(".repeat(3000), ")".repeat(3000));
    assert!(classify_shell(&subst, &ctx).degraded);
    let long = format!("echo {} ; rm -rf /etc", "a".repeat(1 << 20));
    let start = std::time::Instant::now();
    let v = classify_shell(&long, &ctx);
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    assert!(v.has(guard_classify::IntentClass::BulkDelete));
    let nested_sh = (0..14).fold("rm -rf /".to_owned(), |acc, _| format!("sh -c {}", shell_quote(&acc)));
    let _ = classify_shell(&nested_sh, &ctx);
    let many = "true;".repeat(200_000);
    let _ = classify_shell(&many, &ctx);
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
