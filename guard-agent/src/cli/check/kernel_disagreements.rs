//! The classifier's labelled corpus through both judges `check` reports, under the
//! built-in policy in enforce mode: the classifier's decision and the kernel's own
//! verdict. Every line where they differ is listed in `tests/kernel_disagreements.tsv`
//! (line, classifier decision, kernel decision, reason) and the test compares the list
//! exactly, so a new disagreement, or one that went away, fails with the difference.
//!
//! Each reason is computed from the line's shape (the classifier's intent class names a
//! `signature-gap`; `unexpanded` is confirmed by judging a rough expansion of the line);
//! the reasons are documented in ARCHITECTURE.md ("What the kernel decides alone"). A
//! reason starting with `open:` is a kernel bug reported, not accepted: a false positive
//! (the kernel denies what the classifier allows) or a path form the kernel misreads.

use std::fmt::Write as _;

use guard_classify::check::Mode;

use super::{exec_chains, judge_line, refine, simple_commands};
use crate::enforce::{compile::compile, facts::facts};

const EXPECTED: &str = "tests/kernel_disagreements.tsv";
const CORPUS: &str = include_str!("../../../../guard-classify/corpus/labelled.tsv");

/// One disagreement.
struct Row {
    command: String,
    classifier: String,
    kernel: String,
    reason: String,
}

/// Interpreters whose inline code (`-c`, `-e`, `--eval`) the kernel does not read.
const INTERPRETERS: &[&str] = &["python", "perl", "ruby", "node", "php", "lua", "mongo", "mongosh", "awk"];
/// Shell builtins that act without an exec.
const BUILTINS: &[&str] = &["history", "unset", "export", "set", "declare", "typeset", ":", "eval"];
/// Clients that run what comes on their stdin.
const STDIN_CLIENTS: &[&str] = &["psql", "mysql", "mariadb", "sqlite3", "redis-cli", "fdisk", "sfdisk", "xargs"];
/// SQL clients, whose SQL text the kernel only keyword-matches.
const SQL_CLIENTS: &[&str] = &["psql", "mysql", "mariadb", "sqlite3", "clickhouse-client", "cqlsh"];

/// The commands the line execs (wrappers followed), as `check` judges them for the kernel.
fn execs(command: &str) -> Vec<Vec<String>> {
    exec_chains(simple_commands(command))
}

/// Whether the command's program is one of `names` (by basename, with or without a
/// version suffix: `python3.11` is `python`).
fn is(argv: &[String], names: &[&str]) -> bool {
    let n = argv.first().map_or("", |w| w.rsplit('/').next().unwrap_or(w));
    names.contains(&n) || names.contains(&n.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.'))
}

/// The line with quoted text removed, to look at its own shell syntax.
fn unquoted(command: &str) -> String {
    let (mut s, mut q) = (String::new(), None);
    for c in command.chars() {
        match q {
            Some(x) if c == x => q = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => q = Some(c),
            None => s.push(c),
        }
    }
    s
}

/// A rough expansion of the line as a shell would run it as root: `~` and `$HOME` are
/// `/root`, variables assigned on the line (and a `for` loop's first value) are
/// substituted, `$(echo X)` is `X`, `{a,b}` is `a`, and `/*` is `/bin`.
fn expand_roughly(command: &str) -> String {
    let mut line = command.to_owned();
    let mut vars: Vec<(String, String)> = vec![("HOME".into(), "/root".into())];
    if let Some(rest) = line.strip_prefix("for ")
        && let Some((head, body)) = rest.split_once("; do ")
        && let Some((var, values)) = head.split_once(" in ")
    {
        vars.push((var.trim().to_owned(), values.split_whitespace().next().unwrap_or("").to_owned()));
        line = body.trim_end_matches("done").trim_end_matches([';', ' ']).to_owned();
    }
    for part in line.clone().split([';', '&', '\n']) {
        if let Some((n, v)) = part.trim().split_once('=')
            && !n.is_empty()
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !v.contains(' ')
        {
            vars.push((n.to_owned(), v.to_owned()));
        }
    }
    for (n, v) in &vars {
        line = line.replace(&format!("\"${n}\""), v).replace(&format!("${{{n}}}"), v).replace(&format!("${n}"), v);
    }
    while let Some(i) = line.find("$(echo ") {
        let Some(j) = line[i..].find(')') else { break };
        let inner = line[i + 7..i + j].to_owned();
        line.replace_range(i..=i + j, &inner);
    }
    while let Some(i) = line.find('{') {
        let Some(j) = line[i..].find('}') else { break };
        let first = line[i + 1..i + j].split(',').next().unwrap_or("").to_owned();
        line.replace_range(i..=i + j, &first);
    }
    let words: Vec<String> = line
        .split(' ')
        .map(|w| {
            let w = if w == "~" || w.starts_with("~/") { format!("/root{}", &w[1..]) } else { w.to_owned() };
            if w == "/*" { "/bin".to_owned() } else { w }
        })
        .collect();
    words.join(" ")
}

/// Why the kernel alone decides differently from the classifier on `command`.
fn reason(command: &str, classifier: &str, v: &serde_json::Value, kernel_on: &dyn Fn(&str) -> String, ctx: &guard_classify::Context) -> String {
    let protected_globs: Vec<&str> = ctx.protected_paths.iter().filter_map(|p| p.strip_suffix("/*")).collect();
    let cmds = execs(command);
    // The line's own shell syntax, and that of the scripts its shells are given (`sh -c S`).
    let mut bare = unquoted(command);
    for a in &cmds {
        if let guard_classify::Wrapped::Script(s) = guard_classify::wrapped(a) {
            bare.push('\n');
            bare.push_str(&unquoted(&s));
        }
    }
    let class = v["intents"][0]["class"].as_str().unwrap_or("none");
    let exfil = v["intents"].as_array().is_some_and(|i| i.iter().any(|i| i["class"] == "data_exfiltration"));
    let words = || cmds.iter().flat_map(|a| a.iter().skip(1));
    if classifier == "allow" {
        return format!("open: kernel false positive ({})", v["kernel"]["rule"].as_str().unwrap_or("?"));
    }
    // Path forms the kernel's argument scan does not read (reported, not accepted);
    // `~` and `$HOME` ones are judged expanded below, as the shell would pass them.
    if words().any(|w| w.split_once("=@").is_some_and(|(k, p)| !k.is_empty() && !k.contains('/') && p.starts_with('/'))) {
        return "open: kernel does not read name=@file".into();
    }
    if words().any(|w| w.to_ascii_lowercase().starts_with("file:/")) {
        return "open: kernel does not read FILE:path".into();
    }
    let recursive = words().any(|w| w == "--recursive" || (w.starts_with('-') && !w.starts_with("--") && w.contains(['r', 'R'])));
    if recursive
        && matches!(class, "bulk_delete" | "permission_change")
        && words().any(|w| {
            let w = w.trim_end_matches('/');
            w.rsplit_once('/').is_some_and(|(dir, name)| !name.is_empty() && !name.contains('*') && protected_globs.contains(&dir))
        })
    {
        return "open: kernel does not match protected DIR/*".into();
    }
    if cmds.iter().any(|a| is(a, INTERPRETERS) && a.iter().any(|w| matches!(w.as_str(), "-c" | "-e" | "-E" | "--eval" | "-r"))) {
        return "inline-code".into();
    }
    if exfil && (command.contains('|') || command.contains("$(") || command.contains('`')) && !bare.contains("/dev/tcp/") {
        return "pipeline".into();
    }
    if cmds.iter().any(|a| is(a, &["ssh"]) || (is(a, &["kubectl", "docker", "podman"]) && a.iter().any(|w| w == "exec"))) {
        return "remote".into();
    }
    if cmds.iter().any(|a| is(a, &["docker", "podman", "nerdctl"]) && a.iter().any(|w| w == "run")) {
        return "container".into();
    }
    if bare.contains("<<<") || (bare.contains('|') && cmds.iter().skip(1).any(|a| is(a, STDIN_CLIENTS))) {
        return "stdin".into();
    }
    if bare.contains('>') || bare.contains('<') {
        return "redirection".into();
    }
    if bare.contains("(){") || bare.contains("() {") || cmds.iter().all(|a| a.is_empty() || is(a, BUILTINS)) {
        return "no-exec".into();
    }
    if bare.split([';', '&', '(', ' ', '\n']).any(|w| w == "cd") {
        return "relative-path".into();
    }
    let expanded = expand_roughly(command);
    if expanded != command && kernel_on(&expanded) == classifier {
        return "unexpanded".into();
    }
    if class == "bulk_delete" && expanded.split(' ').any(|w| w.trim_matches('"').strip_suffix("/*").is_some_and(|d| !d.is_empty() && ctx.deletes_protected(d))) {
        return "glob-contents".into();
    }
    if cmds.iter().any(|a| is(a, SQL_CLIENTS)) {
        return "sql".into();
    }
    format!("signature-gap:{class}")
}

/// The kernel's decision as the exec ends up with it: a hold (a confirm rule asking the
/// agent) is what the agent's classifier says of the held exec's own argv.
fn resolved(kernel: &serde_json::Value, policy: &guard_policy::Policy) -> String {
    let decision = kernel["decision"].as_str().unwrap_or("?");
    if decision != "hold" {
        return decision.to_owned();
    }
    let argv: Vec<&str> = kernel["argv"].as_array().map(|a| a.iter().filter_map(|w| w.as_str()).collect()).unwrap_or_default();
    let line = shlex::try_join(argv).unwrap_or_default();
    let j = judge_line(&line, policy.context(), Mode::Enforce);
    if super::apply_policy(&j, policy).deny { "deny" } else { "allow" }.to_owned()
}

fn disagreements() -> Vec<Row> {
    let policy = guard_policy::builtin();
    let (f, _) = facts(&policy, std::path::Path::new("/sys/fs/cgroup"));
    let kernel = compile(&f, guard_common::enforce::path::SIGNAL, 0).expect("built-in policy compiles");
    let corpus = guard_classify::eval::parse_labelled(CORPUS).expect("labelled corpus parses");
    let mut rows = Vec::new();
    for l in &corpus {
        let j = judge_line(&l.command, policy.context(), Mode::Enforce);
        let v = refine(j, &policy, &kernel, &execs(&l.command));
        let classifier = v["decision"].as_str().unwrap_or("?").to_owned();
        let kernel_decision = resolved(&v["kernel"], &policy);
        if classifier != kernel_decision {
            let kernel_on = |text: &str| {
                let j = judge_line(text, policy.context(), Mode::Enforce);
                resolved(&refine(j, &policy, &kernel, &execs(text))["kernel"], &policy)
            };
            let reason = reason(&l.command, &classifier, &v, &kernel_on, policy.context());
            rows.push(Row { command: l.command.clone(), classifier, kernel: kernel_decision, reason });
        }
    }
    rows
}

fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "# guard-agent check on guard-classify/corpus/labelled.tsv, built-in policy, enforce mode:\n\
         # every line where the classifier's decision and the kernel's own verdict differ.\n\
         # Generated by the test cli::check::kernel_disagreements; reasons in ARCHITECTURE.md.\n\
         # command\tclassifier\tkernel\treason\n",
    );
    for r in rows {
        let _ = writeln!(out, "{}\t{}\t{}\t{}", r.command, r.classifier, r.kernel, r.reason);
    }
    out
}

#[test]
fn every_disagreement_is_listed_with_its_reason() {
    let got = render(&disagreements());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(EXPECTED);
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if got != want {
        let new = path.with_extension("tsv.new");
        std::fs::write(&new, &got).expect("write the new list");
        let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
        let mut diff = String::new();
        for l in w.iter().filter(|l| !g.contains(l)) {
            let _ = writeln!(diff, "- {l}");
        }
        for l in g.iter().filter(|l| !w.contains(l)) {
            let _ = writeln!(diff, "+ {l}");
        }
        panic!(
            "the kernel/classifier disagreements changed (- listed, gone; + new):\n{diff}\nThe full new list is in {}; \
             review it and copy it over {} if every reason holds.",
            new.display(),
            path.display()
        );
    }
}

#[test]
fn every_reason_is_a_documented_one() {
    let documented = ["remote", "container", "inline-code", "no-exec", "redirection", "stdin", "pipeline", "relative-path", "unexpanded", "glob-contents", "sql"];
    for r in disagreements() {
        let ok = documented.contains(&r.reason.as_str()) || r.reason.starts_with("signature-gap:") || r.reason.starts_with("open: ");
        assert!(ok, "{}: undocumented reason {}", r.command, r.reason);
        // The kernel may only be stricter than the classifier where an issue is open.
        if r.classifier == "allow" {
            assert!(r.reason.starts_with("open: kernel false positive"), "{}: kernel false positive without an open issue", r.command);
        }
    }
}
