//! Best-effort word expansion over brush-parser's word pieces: quotes removed, `~` and
//! `$HOME` kept as the home marker `~`, known variables substituted, command
//! substitutions classified as nested scripts, unknown values left as `${NAME}` so they
//! never look like a protected path.

use brush_parser::ParserOptions;
use brush_parser::word::{Parameter, ParameterExpr, WordPiece, WordPieceWithSource, TildeExpr};

use crate::engine::{Engine, ShellState};

/// Prefix of the placeholder for `$(pgrep NAME)` / `$(pidof NAME)`.
pub(crate) const PID_OF: &str = "%pid-of:";

/// Expands one shell word (raw source text) to the string the command would most likely see.
pub(crate) fn expand(eng: &mut Engine<'_>, raw: &str, st: &mut ShellState) -> String {
    if !raw.bytes().any(|b| matches!(b, b'\'' | b'"' | b'\\' | b'$' | b'`' | b'~')) {
        return raw.to_owned();
    }
    if let Some(text) = single_quoted_only(raw) {
        return text;
    }
    expand_parsed(eng, raw, st)
}

/// A word of literal text and `'...'` only (no other quote, escape, `$`, backquote or
/// leading `~`): its text without the quotes, what brush-parser's word parser makes of it.
fn single_quoted_only(raw: &str) -> Option<String> {
    if raw.starts_with('~') {
        return None;
    }
    let mut out = String::with_capacity(raw.len());
    let mut quoted = false;
    let mut from = 0;
    for (i, b) in raw.bytes().enumerate() {
        match b {
            b'\'' => {
                out.push_str(&raw[from..i]);
                from = i + 1;
                quoted = !quoted;
            }
            b'"' | b'\\' | b'$' | b'`' if !quoted => return None,
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    out.push_str(&raw[from..]);
    Some(out)
}

/// [`expand`] through brush-parser's word parser.
fn expand_parsed(eng: &mut Engine<'_>, raw: &str, st: &mut ShellState) -> String {
    let opts = ParserOptions::default();
    match brush_parser::word::parse(raw, &opts) {
        Ok(pieces) => {
            let mut out = String::new();
            pieces_to_string(eng, &pieces, st, &mut out, true);
            out
        }
        Err(_) => strip_quotes(raw),
    }
}

/// Expands one shell word into the words brace expansion makes of it (`/{etc,usr}` →
/// `/etc /usr`), appended to `out`. Words with quotes or `${` are expanded as one word.
pub(crate) fn expand_words(eng: &mut Engine<'_>, raw: &str, st: &mut ShellState, out: &mut Vec<String>) {
    let one = expand(eng, raw, st);
    if !raw.contains('{') || raw.contains(['\'', '"', '\\']) || raw.contains("${") || !(raw.contains(',') || raw.contains("..")) {
        out.push(one);
        return;
    }
    let mut words = Vec::new();
    braces(&one, &mut words, 0);
    if words.is_empty() {
        out.push(one);
    } else {
        out.append(&mut words);
    }
}

/// Expands the first `{a,b}` group, recursively; bounded to 64 results and depth 4.
fn braces(s: &str, out: &mut Vec<String>, depth: usize) {
    if out.len() >= 64 {
        return;
    }
    let Some(open) = s.find('{') else {
        out.push(s.to_owned());
        return;
    };
    let mut level = 0;
    let mut close = None;
    for (i, c) in s[open..].char_indices() {
        match c {
            '{' => level += 1,
            '}' => {
                level -= 1;
                if level == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            _ => {}
        }
    }
    let Some(close) = close else {
        out.push(s.to_owned());
        return;
    };
    let inner = &s[open + 1..close];
    let (pre, post) = (&s[..open], &s[close + 1..]);
    let mut alts: Vec<String> = Vec::new();
    let mut level = 0;
    let mut cur = String::new();
    for c in inner.chars() {
        match c {
            '{' => level += 1,
            '}' => level -= 1,
            ',' if level == 0 => {
                alts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    alts.push(cur);
    if alts.len() < 2 || depth > 4 {
        out.push(s.to_owned());
        return;
    }
    for a in alts {
        braces(&format!("{pre}{a}{post}"), out, depth + 1);
    }
}

/// Removes quote characters (fallback when the word parser refuses the word).
pub(crate) fn strip_quotes(raw: &str) -> String {
    raw.chars().filter(|c| !matches!(c, '\'' | '"' | '\\')).collect()
}

fn pieces_to_string(
    eng: &mut Engine<'_>,
    pieces: &[WordPieceWithSource],
    st: &mut ShellState,
    out: &mut String,
    at_start: bool,
) {
    for (i, p) in pieces.iter().enumerate() {
        piece_to_string(eng, &p.piece, st, out, at_start && i == 0);
    }
}

fn piece_to_string(eng: &mut Engine<'_>, piece: &WordPiece, st: &mut ShellState, out: &mut String, first: bool) {
    match piece {
        WordPiece::Text(s) | WordPiece::SingleQuotedText(s) => out.push_str(s),
        WordPiece::AnsiCQuotedText(s) => out.push_str(&ansi_c(s)),
        WordPiece::EscapeSequence(s) => out.push_str(s.strip_prefix('\\').unwrap_or(s)),
        WordPiece::DoubleQuotedSequence(inner) | WordPiece::GettextDoubleQuotedSequence(inner) => {
            pieces_to_string(eng, inner, st, out, false);
        }
        WordPiece::TildeExpansion(t) => match t {
            TildeExpr::Home => out.push('~'),
            TildeExpr::UserHome(u) if u == "root" => out.push_str("/root"),
            TildeExpr::UserHome(u) => {
                out.push_str("/home/");
                out.push_str(u);
            }
            _ => out.push_str(st.cwd.as_deref().unwrap_or("${PWD}")),
        },
        WordPiece::ParameterExpansion(expr) => out.push_str(&param(expr, st, first)),
        WordPiece::CommandSubstitution(s) | WordPiece::BackquotedCommandSubstitution(s) => {
            let script = s.trim();
            if script == "pwd" {
                out.push_str(st.cwd.as_deref().unwrap_or("${PWD}"));
                return;
            }
            let mut inner = st.clone();
            eng.nested_script(script, &mut inner);
            if let Some(name) = script.strip_prefix("pgrep ").or_else(|| script.strip_prefix("pidof ")).filter(|n| !n.contains(' ')) {
                out.push_str(PID_OF);
                out.push_str(name);
            } else if let Some(v) = simple_echo(script) {
                out.push_str(&v);
            } else if let Some(p) = reads_sensitive(eng, script, st) {
                out.push_str(crate::tools::net::SENSITIVE_MARK);
                out.push_str(&p);
                out.push('\u{27eb}');
            } else {
                out.push_str("$(...)");
            }
        }
        WordPiece::ArithmeticExpression(_) => out.push('0'),
    }
}

/// `$(cat /etc/shadow | base64)`: the substitution prints a sensitive file.
fn reads_sensitive(eng: &Engine<'_>, script: &str, st: &ShellState) -> Option<String> {
    let first = crate::engine::tool_name(script.split_whitespace().next()?);
    if !crate::tools::is_reader(&first) {
        return None;
    }
    script
        .split(|c: char| c.is_whitespace() || c == '|' || c == ';')
        .skip(1)
        .map(|t| st.resolve(&strip_quotes(t).replace("$HOME", "~")))
        .find(|p| crate::path::is_anchored(p) && p.len() > 1 && eng.ctx.is_sensitive(p))
}

/// `$(echo x)` → `x`, for evasions like `rm -rf $(echo /)`.
fn simple_echo(script: &str) -> Option<String> {
    let rest = script.strip_prefix("echo ")?;
    if rest.contains(['$', '`', '|', ';', '&', '(']) {
        return None;
    }
    Some(strip_quotes(rest.trim()))
}

fn param(expr: &ParameterExpr, st: &ShellState, _first: bool) -> String {
    let name = match expr {
        ParameterExpr::Parameter { parameter, .. }
        | ParameterExpr::UseDefaultValues { parameter, .. }
        | ParameterExpr::AssignDefaultValues { parameter, .. } => parameter,
        _ => return "${...}".to_owned(),
    };
    let Parameter::Named(n) = name else {
        return "${...}".to_owned();
    };
    if n == "HOME" {
        return "~".to_owned();
    }
    if n == "PWD" {
        return st.cwd.clone().unwrap_or_else(|| "${PWD}".to_owned());
    }
    if let Some(v) = st.vars.get(n.as_str()) {
        return v.clone();
    }
    if let ParameterExpr::UseDefaultValues { default_value: Some(d), .. }
    | ParameterExpr::AssignDefaultValues { default_value: Some(d), .. } = expr
    {
        return strip_quotes(d);
    }
    format!("${{{n}}}")
}

fn ansi_c(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('x') => {
                let mut hex = String::new();
                while hex.len() < 2 && it.peek().is_some_and(char::is_ascii_hexdigit) {
                    hex.extend(it.next());
                }
                if let Ok(v) = u8::from_str_radix(&hex, 16) {
                    out.push(char::from(v));
                }
            }
            Some(d @ '0'..='7') => {
                let mut oct = String::from(d);
                while oct.len() < 3 && it.peek().is_some_and(|c| ('0'..='7').contains(c)) {
                    oct.extend(it.next());
                }
                if let Ok(v) = u8::from_str_radix(&oct, 8) {
                    out.push(char::from(v));
                }
            }
            Some(o) => out.push(o),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Context;

    fn ex(raw: &str) -> String {
        let ctx = Context::builtin();
        let mut eng = Engine::new(&ctx);
        let mut st = ShellState::default();
        st.vars.insert("D".into(), "/etc".into());
        expand(&mut eng, raw, &mut st)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 4096, .. Default::default() })]
        /// The single-quote shortcut agrees with brush-parser's word parser.
        #[test]
        fn single_quoted_words_expand_like_the_parser(raw in "[a'~$\"\\\\`*:/ {}()=.-]{0,10}|[a'~*?:/ {}()\\[\\]@!+=.-]{0,12}") {
            if let Some(quick) = single_quoted_only(&raw) {
                let ctx = Context::builtin();
                let mut eng = Engine::new(&ctx);
                proptest::prop_assert_eq!(quick, expand_parsed(&mut eng, &raw, &mut ShellState::default()), "{:?}", raw);
            }
        }
    }

    #[test]
    fn expansion() {
        assert_eq!(ex("'/'"), "/");
        assert_eq!(ex("\"$HOME\"/x"), "~/x");
        assert_eq!(ex("~/.ssh"), "~/.ssh");
        assert_eq!(ex("$D/"), "/etc/");
        assert_eq!(ex("${UNSET}/"), "${UNSET}/");
        assert_eq!(ex("${X:-/var}"), "/var");
        assert_eq!(ex("$'\\x2f'"), "/");
        assert_eq!(ex("\\/e\\tc"), "/etc");
        assert_eq!(ex("$(echo /)"), "/");
        let ctx = Context::builtin();
        let mut eng = Engine::new(&ctx);
        let mut words = vec!["rm".to_owned()];
        expand_words(&mut eng, "/{etc,usr/{lib,bin}}", &mut ShellState::default(), &mut words);
        assert_eq!(words, ["rm", "/etc", "/usr/lib", "/usr/bin"]);
    }
}
