//! `guard-agent check`: judge commands offline with the classifier and the policy, and
//! say what the kernel alone would decide (`"kernel"`).
//!
//! The classifier's verdict is refined by the policy: an intent whose exception pattern
//! matches is dropped, and each class's action applies (audit lets it run). The kernel's
//! verdict is computed with the same tables and matcher the eBPF programs use. For a
//! batch line the kernel never sees the shell text, only the commands the shell execs:
//! the line is split into its simple commands (at `|`, `;`, `&&`, `||`) and each is
//! judged as an exec, and so is what a wrapper among them execs in turn (`sudo rm ...`
//! is also `rm ...`; `sh -c S` also runs the commands of `S`); words are not expanded
//! (`$X`, `~`, globs, substitutions) and redirections are not execs, so this is an
//! approximation of what the shell would run. The test `kernel_disagreements` lists,
//! with a reason, every labelled-corpus line where the two verdicts differ.

use std::{
    io::{BufRead as _, Write as _},
    process::ExitCode,
};

use anyhow::Context as _;
use guard_classify::check::{CheckArgs, Judgement, judge_argv, judge_line};
use guard_common::enforce::{decision, intent};
use guard_policy::{Action, Policy};
use serde_json::{Value, json};

use crate::enforce::{
    compile::{Compiled, compile},
    facts::{cgroup2_root, facts, mode_code},
};

pub fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let policy = match &args.policy {
        Some(p) => guard_policy::load_file(p).with_context(|| format!("policy {}", p.display()))?,
        None => guard_policy::builtin(),
    };
    let (f, _) = facts(&policy, &cgroup2_root());
    let kernel = compile(&f, guard_common::enforce::path::SIGNAL, 0)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let judge = |j: Judgement, argvs: Vec<Vec<String>>| refine(j, &policy, &kernel, &argvs);
    if let Some(batch) = &args.batch {
        let reader: Box<dyn std::io::BufRead> = if batch.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(std::io::BufReader::new(std::fs::File::open(batch).with_context(|| format!("opening {}", batch.display()))?))
        };
        for line in reader.split(b'\n') {
            let line = line?;
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches('\r');
            let t = text.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let result = judge(judge_line(text, policy.context(), args.mode), exec_chains(simple_commands(text)));
            emit(&mut out, &result, args.json)?;
        }
    } else if args.argv.is_empty() {
        anyhow::bail!("nothing to check: give --batch FILE or -- ARGV...");
    } else {
        let argv: Vec<String> = args.argv.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let result = judge(judge_argv(&args.argv, policy.context(), args.mode), exec_chains(vec![argv]));
        emit(&mut out, &result, args.json)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The policy's word on a judgement: exceptions and per-class actions applied.
pub struct PolicyVerdict {
    pub deny: bool,
    /// `policy/class` of the first intent the policy acts on.
    pub rule: Option<String>,
    pub excepted: Vec<Value>,
}

/// Applies `policy` to the classifier's judgement `j`.
pub fn apply_policy(j: &Judgement, policy: &Policy) -> PolicyVerdict {
    let mut out = PolicyVerdict { deny: false, rule: None, excepted: Vec::new() };
    for i in &j.intents {
        if let Some(pattern) = policy.exception_for(i) {
            out.excepted.push(json!({"class": i.class.to_string(), "exception": pattern}));
            continue;
        }
        let action = policy.action_for(j.mode, i.class);
        if out.rule.is_none() {
            out.rule = Some(format!("{}/{}", policy.name(), i.class));
        }
        out.deny |= matches!(action, Action::Deny | Action::Hold);
    }
    let suspicious_degraded = j.degraded && j.mode == guard_classify::check::Mode::Strict;
    out.deny |= suspicious_degraded && j.intents.is_empty();
    out
}

/// The classifier's judgement with the policy applied, plus the kernel's verdict.
fn refine(j: Judgement, policy: &Policy, kernel: &Compiled, argvs: &[Vec<String>]) -> Value {
    let mut v = serde_json::to_value(&j).unwrap_or(Value::Null);
    let p = apply_policy(&j, policy);
    v["decision"] = json!(if p.deny { "deny" } else { "allow" });
    v["rule"] = json!(p.rule);
    v["excepted"] = json!(p.excepted);
    v["policy"] = json!({"name": policy.name(), "version": policy.version_hash()});
    v["kernel"] = kernel_verdict(kernel, argvs, mode_code(j.mode));
    v
}

fn kernel_verdict(kernel: &Compiled, argvs: &[Vec<String>], mode: u8) -> Value {
    for argv in argvs.iter().filter(|a| !a.is_empty()) {
        let bytes: Vec<Vec<u8>> = argv.iter().map(|a| a.clone().into_bytes()).collect();
        if let Some(k) = kernel.verdict(&bytes[0], &bytes, mode) {
            return json!({
                "decision": decision::name(k.decision),
                "class": intent::NAMES.get(k.class as usize),
                "rule": k.rule,
                "argv": argv,
            });
        }
    }
    json!({"decision": "allow", "class": null, "rule": null})
}

/// The simple commands of a shell line, split at `|`, `;`, `&` and words split like the
/// shell does (quotes honoured).
fn simple_commands(line: &str) -> Vec<Vec<String>> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let (mut single, mut double, mut escaped) = (false, false, false);
    for c in line.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if !single => escaped = true,
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '|' | ';' | '&' | '\n' if !single && !double => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    parts.iter().filter_map(|p| shlex::split(p.trim())).filter(|w| !w.is_empty()).map(skip_assignments).collect()
}

/// Each command followed by what it goes on to exec: through wrappers (`sudo`, `env`,
/// `nohup`, `timeout`, `xargs`...) the wrapped command, through a shell given a script
/// (`sh -c`, `su -c`, `eval`) the script's simple commands (nesting bounded).
fn exec_chains(argvs: Vec<Vec<String>>) -> Vec<Vec<String>> {
    fn follow(argv: Vec<String>, depth: usize, out: &mut Vec<Vec<String>>) {
        let next = guard_classify::wrapped(&argv);
        out.push(argv.clone());
        if depth >= 8 {
            return;
        }
        match next {
            guard_classify::Wrapped::Exec(i) => follow(skip_assignments(argv[i..].to_vec()), depth + 1, out),
            guard_classify::Wrapped::Script(s) => {
                for a in simple_commands(&s) {
                    follow(a, depth + 1, out);
                }
            }
            guard_classify::Wrapped::Nothing => {}
        }
    }
    let mut out = Vec::new();
    for a in argvs {
        follow(a, 0, &mut out);
    }
    out
}

/// `FOO=1 rm -rf /` execs rm: leading assignments are not the command.
fn skip_assignments(words: Vec<String>) -> Vec<String> {
    let n = words.iter().take_while(|w| w.split_once('=').is_some_and(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))).count();
    words[n..].to_vec()
}

fn emit(out: &mut impl std::io::Write, v: &Value, json: bool) -> std::io::Result<()> {
    if json {
        writeln!(out, "{v}")
    } else {
        let why: Vec<String> = v["intents"]
            .as_array()
            .map(|a| a.iter().map(|i| format!("{}: {}", i["class"].as_str().unwrap_or(""), i["reason"].as_str().unwrap_or(""))).collect())
            .unwrap_or_default();
        let why = if why.is_empty() { "no destructive intent".to_owned() } else { why.join("; ") };
        writeln!(out, "{}\t{}\t(kernel: {})\t<- {}", v["decision"].as_str().unwrap_or("?"), why, v["kernel"]["decision"].as_str().unwrap_or("?"), v["input"].as_str().unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_lines_split_into_the_commands_the_shell_execs() {
        assert_eq!(simple_commands("cd /tmp && FOO=1 rm -rf '/a b' | cat"), vec![vec!["cd", "/tmp"], vec!["rm", "-rf", "/a b"], vec!["cat"]]);
        assert_eq!(simple_commands("echo 'a;b'"), vec![vec!["echo", "a;b"]]);
        assert_eq!(simple_commands("find / -exec rm {} \\; ; ls"), vec![vec!["find", "/", "-exec", "rm", "{}", ";"], vec!["ls"]]);
    }

    #[test]
    fn wrappers_and_shell_scripts_exec_what_they_wrap() {
        let chains = exec_chains(simple_commands("sudo -u root nice -n 5 rm -rf / ; bash -c 'env A=1 dd of=/dev/sda'"));
        assert_eq!(
            chains,
            vec![
                vec!["sudo", "-u", "root", "nice", "-n", "5", "rm", "-rf", "/"],
                vec!["nice", "-n", "5", "rm", "-rf", "/"],
                vec!["rm", "-rf", "/"],
                vec!["bash", "-c", "env A=1 dd of=/dev/sda"],
                vec!["env", "A=1", "dd", "of=/dev/sda"],
                vec!["dd", "of=/dev/sda"],
            ]
        );
    }
}

#[cfg(test)]
mod kernel_disagreements;
