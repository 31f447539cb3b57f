//! The evaluation engine: shell state (cwd, variables), work budgets, wrapper unwrapping
//! and dispatch of one simple command to the per-tool modules.

use std::collections::HashMap;

use crate::context::Context;
use crate::path::Mount;
use crate::intent::{IntentClass, Verdict};
use crate::tools;

/// Hard limits that keep hostile input bounded.
pub(crate) const MAX_DEPTH: usize = 12;
/// Total simple commands and words examined for one top-level input.
pub(crate) const MAX_WORK: usize = 100_000;
/// Scripts larger than this are scanned linearly instead of parsed.
pub(crate) const MAX_PARSE_BYTES: usize = 64 * 1024;
/// Deepest bracket nesting handed to the real shell parser.
pub(crate) const MAX_NESTING: usize = 24;

/// What a shell knows while it runs a script.
#[derive(Clone, Debug, Default)]
pub(crate) struct ShellState {
    /// Current directory if known (`cd /x`), normalised.
    pub cwd: Option<String>,
    /// Variables assigned earlier in the script.
    pub vars: HashMap<String, String>,
    /// Inside a container or chroot: what its paths are on the host (None: the host).
    pub mounts: Option<Vec<Mount>>,
}

impl ShellState {
    /// A path word as the host sees it: normalised against the cwd, then translated
    /// through the view's mounts when the command runs in a container or chroot.
    pub fn resolve(&self, raw: &str) -> String {
        host_path(crate::path::normalize(raw, self.cwd.as_deref()), self.mounts.as_deref())
    }

    /// The state of a command run in another file-system view (a container or chroot):
    /// its cwd is the view's, its paths are translated through `mounts`.
    pub fn in_view(&self, mounts: Vec<Mount>, cwd: &str) -> Self {
        Self { cwd: Some(crate::path::normalize(cwd, Some("/"))), vars: self.vars.clone(), mounts: Some(mounts) }
    }
}

fn host_path(p: String, mounts: Option<&[Mount]>) -> String {
    match mounts {
        Some(m) => crate::path::through_mounts(p, m),
        None => p,
    }
}

/// What flows into a command's standard input.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stdin {
    /// Literal text when known (here-doc, here-string, `echo ... |`).
    pub text: Option<String>,
    /// Evidence when the data is sensitive (`cat /etc/shadow |`, `< ~/.ssh/id_rsa`).
    pub sensitive: Option<String>,
    /// argv of the producer on the left of a pipe.
    pub producer: Option<Vec<String>>,
}

/// What a command writes to standard output, for the next pipeline stage.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stdout {
    pub text: Option<String>,
    pub sensitive: Option<String>,
}

/// One simple command after wrapper unwrapping: the tool name (basename, lower-case),
/// its arguments, where it runs, and its input.
#[derive(Debug)]
pub(crate) struct Cmd<'a> {
    pub name: String,
    pub args: &'a [String],
    pub cwd: Option<&'a str>,
    /// The container's or chroot's mounts when the command runs in one.
    pub mounts: Option<&'a [Mount]>,
    pub stdin: &'a Stdin,
    /// The whole argv, wrappers included, for the evidence.
    argv: &'a [String],
    evidence: std::cell::OnceCell<String>,
}

impl Cmd<'_> {
    /// A path argument normalised against the command's cwd.
    pub fn path(&self, raw: &str) -> String {
        host_path(crate::path::normalize(raw, self.cwd), self.mounts)
    }

    /// The argv as shown in an intent's evidence (built when first needed: most commands
    /// are benign and never show it).
    pub fn evidence(&self) -> &str {
        self.evidence.get_or_init(|| evidence_of(self.argv))
    }
}

/// Accumulates the verdict and enforces the budgets.
pub(crate) struct Engine<'c> {
    pub ctx: &'c Context,
    pub verdict: Verdict,
    pub depth: usize,
    work: usize,
}

impl<'c> Engine<'c> {
    pub fn new(ctx: &'c Context) -> Self {
        Self { ctx, verdict: Verdict::default(), depth: 0, work: 0 }
    }

    /// Charges `n` units of work; false (and a degraded verdict) once over budget.
    pub fn charge(&mut self, n: usize) -> bool {
        self.work = self.work.saturating_add(n);
        if self.work > MAX_WORK {
            self.verdict.degraded = true;
            return false;
        }
        true
    }

    pub fn flag(&mut self, class: IntentClass, reason: impl Into<String>, evidence: impl Into<String>) {
        self.verdict.push(class, reason, evidence);
    }

    /// Runs a nested script (`sh -c`, `eval`, `ssh host cmd`, piped into a shell).
    pub fn nested_script(&mut self, script: &str, st: &mut ShellState) {
        if self.depth >= MAX_DEPTH {
            self.verdict.degraded = true;
            return;
        }
        self.depth += 1;
        crate::shell::run_script(self, script, st);
        self.depth -= 1;
    }

    /// Judges one exec: `argv` after expansion, `env` assignments that prefixed it.
    pub fn run_argv(&mut self, argv: &[String], st: &mut ShellState, stdin: &Stdin) -> Stdout {
        if argv.is_empty() || !self.charge(argv.len() + 1) {
            return Stdout::default();
        }
        let mut i = 0;
        let mut guard = 0;
        loop {
            guard += 1;
            if i >= argv.len() || guard > 64 {
                return Stdout::default();
            }
            let name = tool_name(&argv[i]);
            let rest = &argv[i + 1..];
            match unwrap_wrapper(&name, rest) {
                Unwrap::Skip(n) => i += 1 + n,
                Unwrap::Xargs(n) => {
                    let opts = &argv[i + 1..(i + 1 + n).min(argv.len())];
                    let inner = &argv[(i + 1 + n).min(argv.len())..];
                    return self.xargs(opts, inner, st, stdin);
                }
                Unwrap::Chroot(n) => {
                    // chroot DIR CMD...: CMD runs with DIR as its `/`.
                    let at = i + 1 + n;
                    let (Some(dir), Some(_)) = (argv.get(at), argv.get(at + 1)) else {
                        return Stdout::default();
                    };
                    let root = st.resolve(dir);
                    let mut view = st.in_view(vec![Mount { inside: "/".to_owned(), host: root }], "/");
                    return self.run_argv(&argv[at + 1..], &mut view, stdin);
                }
                Unwrap::Script(script) => {
                    let mut inner = st.clone();
                    self.nested_script(&script, &mut inner);
                    return Stdout::default();
                }
                Unwrap::ScriptFromStdin => {
                    if let Some(text) = stdin.text.clone() {
                        let mut inner = st.clone();
                        self.nested_script(&text, &mut inner);
                    } else if stdin.producer.as_ref().is_some_and(|p| is_fetcher(p)) {
                        // `curl ... | sh`: code from the network runs unseen; not an intent
                        // class of its own, so nothing is flagged here.
                    }
                    return Stdout::default();
                }
                Unwrap::NotWrapper => {
                    let cwd = st.cwd.clone();
                    let mounts = st.mounts.clone();
                    let cmd = Cmd {
                        name,
                        args: rest,
                        cwd: cwd.as_deref(),
                        mounts: mounts.as_deref(),
                        stdin,
                        argv,
                        evidence: std::cell::OnceCell::new(),
                    };
                    return tools::dispatch(self, &cmd, st);
                }
            }
        }
    }
}

impl Engine<'_> {
    /// `xargs [OPTS] CMD ARGS...`: the items on stdin become more arguments of CMD.
    /// Known stdin text gives the items themselves; a `find` on the left of the pipe
    /// gives its matches, so `find R TESTS | xargs CMD` is judged as
    /// `find R TESTS -exec CMD {} +`.
    fn xargs(&mut self, opts: &[String], inner: &[String], st: &mut ShellState, stdin: &Stdin) -> Stdout {
        let mut inner = inner.to_vec();
        if inner.is_empty() {
            inner.push("echo".to_owned());
        }
        let replace = opts
            .iter()
            .enumerate()
            .find_map(|(k, o)| match o.as_str() {
                "-I" => opts.get(k + 1).cloned(),
                "-i" => Some("{}".to_owned()),
                _ => o
                    .strip_prefix("--replace=")
                    .or_else(|| o.strip_prefix("-I"))
                    .or_else(|| o.strip_prefix("-i"))
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned),
            });
        if stdin.text.is_none()
            && let Some(find) = stdin.producer.as_deref().and_then(find_selection)
        {
            let mut argv = find;
            argv.push("-exec".to_owned());
            match &replace {
                Some(r) => argv.extend(inner.iter().map(|x| x.replace(r.as_str(), "{}"))),
                None => {
                    argv.extend(inner);
                    argv.push("{}".to_owned());
                }
            }
            argv.push("+".to_owned());
            return self.run_argv(&argv, st, &Stdin::default());
        }
        let items: Vec<String> =
            stdin.text.as_deref().map(|t| t.split_whitespace().take(256).map(str::to_owned).collect()).unwrap_or_default();
        if let Some(r) = replace {
            for item in items.iter().take(16) {
                let sub: Vec<String> = inner.iter().map(|x| x.replace(&r, item)).collect();
                self.run_argv(&sub, st, &Stdin::default());
            }
            return Stdout::default();
        }
        inner.extend(items);
        self.run_argv(&inner, st, &Stdin::default())
    }
}

/// A `find` producer's roots and tests without its actions (`-print0`, `-delete`,
/// `-exec ...`): what it selects. None when the producer is not `find`.
fn find_selection(producer: &[String]) -> Option<Vec<String>> {
    let (name, rest) = producer.split_first()?;
    if tool_name(name) != "find" {
        return None;
    }
    let mut out = vec![name.clone()];
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-print" | "-print0" | "-ls" | "-delete" | "-quit" => {}
            "-printf" | "-fprint" | "-fprint0" | "-fls" => {
                it.next();
            }
            "-fprintf" => {
                it.next();
                it.next();
            }
            "-exec" | "-execdir" | "-ok" | "-okdir" => {
                for b in it.by_ref() {
                    if b == ";" || b == "\\;" || b == "+" {
                        break;
                    }
                }
                // What reaches xargs is the command's output (`-exec grep -l x {} \;`
                // prints only the files that contain x): a narrowed selection.
                out.extend(["-name".to_owned(), "(filtered by -exec)".to_owned()]);
            }
            _ => out.push(a.clone()),
        }
    }
    Some(out)
}

fn is_fetcher(p: &[String]) -> bool {
    p.first().is_some_and(|n| matches!(tool_name(n).as_str(), "curl" | "wget"))
}

/// The argv joined for display, shell-quoted where needed.
pub(crate) fn evidence_of(argv: &[String]) -> String {
    let mut out = String::new();
    for a in argv {
        if out.len() > 240 {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$`;&|<>".contains(c)) {
            out.push('\'');
            out.push_str(&a.replace('\'', "'\\''"));
            out.push('\'');
        } else {
            out.push_str(a);
        }
    }
    out
}

/// The tool a word names: basename, lower-case, interpreter versions stripped
/// (`/usr/bin/python3.11` → `python`), `.exe`-less.
pub(crate) fn tool_name(word: &str) -> String {
    let base = word.rsplit('/').next().unwrap_or(word);
    let base = base.trim_start_matches('\\');
    let lower = base.to_ascii_lowercase();
    if !matches!(lower.as_bytes().first(), Some(b'p' | b'r' | b'n' | b'l')) {
        return lower;
    }
    for interp in ["python", "perl", "ruby", "php", "node", "pip", "lua"] {
        if let Some(rest) = lower.strip_prefix(interp)
            && rest.chars().all(|c| c.is_ascii_digit() || c == '.')
        {
            return interp.to_owned();
        }
    }
    lower
}

/// What an exec of an argv goes on to run, when it is a wrapper the classifier knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wrapped {
    /// The program execs the command that starts at this index of its argv (`sudo -u x
    /// rm ...`, `env A=1 rm ...`, `timeout 5 rm ...`, `xargs rm`).
    Exec(usize),
    /// A shell given a script string (`sh -c S`, `su -c S`, `eval S`, `env -S S`).
    Script(String),
    /// Not a wrapper (or a shell reading its script from stdin or a file).
    Nothing,
}

/// What `argv` (an exec's argv, `argv[0]` maybe a path) goes on to run.
#[must_use]
pub fn wrapped(argv: &[String]) -> Wrapped {
    let Some(first) = argv.first() else { return Wrapped::Nothing };
    let rest = &argv[1..];
    match unwrap_wrapper(&tool_name(first), rest) {
        Unwrap::Skip(n) | Unwrap::Xargs(n) if 1 + n < argv.len() => Wrapped::Exec(1 + n),
        Unwrap::Chroot(n) if 2 + n < argv.len() => Wrapped::Exec(2 + n),
        Unwrap::Script(s) => Wrapped::Script(s),
        _ => Wrapped::Nothing,
    }
}

enum Unwrap {
    /// A wrapper: skip it and this many of its own arguments.
    Skip(usize),
    /// `xargs` and this many of its own arguments.
    Xargs(usize),
    /// `chroot` and this many of its own options; the new root comes next.
    Chroot(usize),
    /// A shell given a script string.
    Script(String),
    /// A shell reading its script from stdin.
    ScriptFromStdin,
    NotWrapper,
}

const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "busybox-sh", "rbash"];

/// Counts leading options of a wrapper; `with_arg` lists short options that take a value.
fn skip_opts(rest: &[String], with_arg: &[&str], long_with_arg: &[&str]) -> usize {
    let mut n = 0;
    while let Some(a) = rest.get(n) {
        if a == "--" {
            return n + 1;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            n += 1;
            if !long.contains('=') && long_with_arg.contains(&long) {
                n += 1;
            }
            continue;
        }
        let flags = &a[1..];
        n += 1;
        if let Some(pos) = flags.char_indices().find(|(_, c)| with_arg.contains(&c.to_string().as_str())) {
            if pos.0 + 1 == flags.len() {
                n += 1;
            }
        }
    }
    n
}

fn unwrap_wrapper(name: &str, rest: &[String]) -> Unwrap {
    match name {
        "sudo" => {
            let n = skip_opts(rest, &["u", "g", "p", "C", "h", "U", "r", "t", "D", "R", "T"], &[
                "user", "group", "prompt", "close-from", "host", "other-user", "role", "type",
                "chdir", "chroot", "command-timeout",
            ]);
            Unwrap::Skip(n + skip_assignments(&rest[n.min(rest.len())..]))
        }
        "doas" => Unwrap::Skip(skip_opts(rest, &["u", "C"], &[])),
        "env" => {
            let n = skip_opts(rest, &["u", "C", "S"], &["unset", "chdir", "split-string"]);
            if let Some(pos) = rest[..n.min(rest.len())].iter().position(|a| a == "-S" || a.starts_with("--split-string")) {
                let s = rest.get(pos + 1).cloned().unwrap_or_default();
                let mut script = s;
                for a in &rest[n.min(rest.len())..] {
                    script.push(' ');
                    script.push_str(a);
                }
                return Unwrap::Script(script);
            }
            Unwrap::Skip(n + skip_assignments(&rest[n.min(rest.len())..]))
        }
        "nohup" | "setsid" | "time" | "builtin" | "chronic" | "unbuffer" | "caffeinate"
        | "catchsegv" | "nocache" | "eatmydata" | "fakeroot" | "proxychains" | "proxychains4"
        | "torsocks" | "tsocks" => Unwrap::Skip(skip_opts(rest, &[], &[])),
        "command" => {
            if rest.first().is_some_and(|a| a == "-v" || a == "-V") {
                return Unwrap::Skip(rest.len());
            }
            Unwrap::Skip(skip_opts(rest, &[], &[]))
        }
        "exec" => Unwrap::Skip(skip_opts(rest, &["a"], &[])),
        "timeout" => {
            let n = skip_opts(rest, &["s", "k"], &["signal", "kill-after"]);
            Unwrap::Skip(n + 1)
        }
        "nice" => {
            if rest.first().is_some_and(|a| a.len() > 1 && a.starts_with('-') && a[1..].chars().all(|c| c.is_ascii_digit())) {
                return Unwrap::Skip(1);
            }
            Unwrap::Skip(skip_opts(rest, &["n"], &["adjustment"]))
        }
        "ionice" => Unwrap::Skip(skip_opts(rest, &["c", "n", "p", "P", "u"], &["class", "classdata"])),
        "stdbuf" => Unwrap::Skip(skip_opts(rest, &["i", "o", "e"], &[])),
        "taskset" => {
            let n = skip_opts(rest, &[], &[]);
            Unwrap::Skip(n + 1)
        }
        "chrt" | "flock" => {
            let n = skip_opts(rest, &["w", "E"], &["timeout"]);
            Unwrap::Skip(n + 1)
        }
        "numactl" | "cgexec" | "systemd-run" | "strace" | "ltrace" | "valgrind" | "runuser" => {
            Unwrap::Skip(skip_opts(rest, &["u", "g", "o", "e", "p", "E", "N", "C", "m", "s"], &[
                "unit", "property", "uid", "gid", "user", "group", "setenv", "working-directory",
                "slice", "description",
            ]))
        }
        "watch" => Unwrap::Skip(skip_opts(rest, &["n", "d"], &["interval"])),
        "busybox" | "toybox" => Unwrap::Skip(skip_opts(rest, &[], &[])),
        "xargs" => Unwrap::Xargs(skip_opts(rest, &["n", "I", "P", "d", "L", "s", "a", "E", "e"], &[
            "max-args", "replace", "max-procs", "delimiter", "max-lines", "max-chars", "arg-file",
            "eof",
        ])),
        "chroot" => Unwrap::Chroot(skip_opts(rest, &[], &["userspec", "groups"])),
        "su" => su_script(rest).map_or(Unwrap::NotWrapper, Unwrap::Script),
        "eval" => Unwrap::Script(rest.join(" ")),
        n if SHELLS.contains(&n) => shell_script(rest),
        _ => Unwrap::NotWrapper,
    }
}

fn skip_assignments(rest: &[String]) -> usize {
    rest.iter().take_while(|a| is_assignment(a)).count()
}

/// `NAME=value` as a command-prefix assignment.
pub(crate) fn is_assignment(a: &str) -> bool {
    a.split_once('=').is_some_and(|(n, _)| {
        !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !n.starts_with(|c: char| c.is_ascii_digit())
    })
}

fn su_script(rest: &[String]) -> Option<String> {
    let mut i = 0;
    while i < rest.len() {
        let a = &rest[i];
        if a == "-c" || a == "--command" {
            return rest.get(i + 1).cloned();
        }
        if let Some(s) = a.strip_prefix("--command=") {
            return Some(s.to_owned());
        }
        i += 1;
    }
    None
}

fn shell_script(rest: &[String]) -> Unwrap {
    let mut i = 0;
    while i < rest.len() {
        let a = &rest[i];
        if a == "--" {
            break;
        }
        if a.starts_with('-') && a.len() > 1 && !a.starts_with("--") {
            if a[1..].contains('c') {
                return rest.get(i + 1).map_or(Unwrap::NotWrapper, |s| Unwrap::Script(s.clone()));
            }
            if a[1..].contains('o') || a == "-O" {
                i += 1;
            }
            i += 1;
            continue;
        }
        if a.starts_with("--") {
            i += 1;
            continue;
        }
        // A script file: its contents are unknown here.
        return Unwrap::NotWrapper;
    }
    Unwrap::ScriptFromStdin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names() {
        assert_eq!(tool_name("/usr/bin/python3.11"), "python");
        assert_eq!(tool_name("./RM"), "rm");
        assert_eq!(tool_name("\\rm"), "rm");
        assert_eq!(tool_name("pythonista"), "pythonista");
    }

    #[test]
    fn wrapped_commands() {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(wrapped(&v(&["sudo", "-u", "root", "--", "rm", "-rf", "/"])), Wrapped::Exec(4));
        assert_eq!(wrapped(&v(&["/usr/bin/env", "A=1", "rm", "x"])), Wrapped::Exec(2));
        assert_eq!(wrapped(&v(&["timeout", "60", "rm", "x"])), Wrapped::Exec(2));
        assert_eq!(wrapped(&v(&["bash", "-c", "rm -rf /"])), Wrapped::Script("rm -rf /".into()));
        assert_eq!(wrapped(&v(&["sudo"])), Wrapped::Nothing);
        assert_eq!(wrapped(&v(&["rm", "-rf", "/"])), Wrapped::Nothing);
        assert_eq!(wrapped(&v(&["bash", "script.sh"])), Wrapped::Nothing);
    }

    #[test]
    fn assignments() {
        assert!(is_assignment("FOO=1"));
        assert!(is_assignment("A_B="));
        assert!(!is_assignment("--x=1"));
        assert!(!is_assignment("1A=x"));
    }

    #[test]
    fn evidence_quotes() {
        let argv = vec!["sh".to_owned(), "-c".to_owned(), "rm -rf /".to_owned()];
        assert_eq!(evidence_of(&argv), "sh -c 'rm -rf /'");
    }
}
