//! Linear, quote-aware scanner used when the real shell parser cannot be used (oversized,
//! too deeply nested or unparseable input). Splits on command separators and judges each
//! segment's words as an argv. Never recursive over the input, so bounded in time.

use crate::engine::{Engine, ShellState, Stdin, is_assignment};

/// Longest word kept; longer words are cut (they are still scanned as data).
const MAX_WORD: usize = 8 * 1024;

/// Scans `script` segment by segment.
pub(crate) fn scan(eng: &mut Engine<'_>, script: &str, st: &mut ShellState) {
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            } else if c == '\\' && q == '"' {
                if let Some(n) = chars.next() {
                    push_char(&mut cur, n);
                }
            } else {
                push_char(&mut cur, c);
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                in_word = true;
            }
            '\\' => {
                if let Some(n) = chars.next() {
                    if n != '\n' {
                        push_char(&mut cur, n);
                        in_word = true;
                    }
                }
            }
            ' ' | '\t' => end_word(&mut words, &mut cur, &mut in_word),
            ';' | '&' | '|' | '\n' | '(' | ')' | '{' | '}' | '`' => {
                end_word(&mut words, &mut cur, &mut in_word);
                if !segment(eng, &mut words, st) {
                    return;
                }
            }
            '$' if chars.peek() == Some(&'(') => {
                end_word(&mut words, &mut cur, &mut in_word);
                if !segment(eng, &mut words, st) {
                    return;
                }
            }
            '<' | '>' => {
                end_word(&mut words, &mut cur, &mut in_word);
                let mut op = String::from(c);
                while let Some(&n) = chars.peek() {
                    if matches!(n, '<' | '>' | '&') {
                        op.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                words.push(op);
            }
            _ => {
                push_char(&mut cur, c);
                in_word = true;
            }
        }
    }
    end_word(&mut words, &mut cur, &mut in_word);
    segment(eng, &mut words, st);
}

fn push_char(cur: &mut String, c: char) {
    if cur.len() < MAX_WORD {
        cur.push(c);
    }
}

fn end_word(words: &mut Vec<String>, cur: &mut String, in_word: &mut bool) {
    if *in_word || !cur.is_empty() {
        words.push(std::mem::take(cur));
    }
    *in_word = false;
}

/// Judges one segment; false once the work budget is spent.
fn segment(eng: &mut Engine<'_>, words: &mut Vec<String>, st: &mut ShellState) -> bool {
    if words.is_empty() {
        return true;
    }
    if !eng.charge(words.len()) {
        words.clear();
        return false;
    }
    let mut argv: Vec<String> = Vec::new();
    let mut redirect_to_check: Vec<(String, String)> = Vec::new();
    let mut it = words.drain(..).skip_while(|w| is_assignment(w)).peekable();
    while let Some(w) = it.next() {
        if w.starts_with(['<', '>']) {
            if let Some(target) = it.next() {
                redirect_to_check.push((w, target));
            }
        } else {
            argv.push(w.replace("$HOME", "~"));
        }
    }
    if argv.first().is_some_and(|a| a == "cd") {
        st.cwd = argv.get(1).map(|p| crate::path::normalize(p, st.cwd.as_deref()));
        return true;
    }
    let out = eng.run_argv(&argv, st, &Stdin::default());
    if redirect_to_check.is_empty() {
        return true;
    }
    let what = crate::engine::evidence_of(&argv);
    for (op, target) in redirect_to_check {
        let p = st.resolve(&target);
        let kind = match op.as_str() {
            ">" | ">|" | "&>" => brush_parser::ast::IoFileRedirectKind::Write,
            ">>" | "&>>" => brush_parser::ast::IoFileRedirectKind::Append,
            _ => continue,
        };
        crate::tools::redirect::on_write(eng, &kind, &p, &out, &what);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Context, IntentClass};

    fn scan_classes(s: &str) -> Vec<IntentClass> {
        let ctx = Context::builtin();
        let mut eng = Engine::new(&ctx);
        scan(&mut eng, s, &mut ShellState::default());
        eng.verdict.classes()
    }

    #[test]
    fn scans_segments() {
        assert_eq!(scan_classes("echo hi; FOO=1 rm -rf / &"), [IntentClass::BulkDelete]);
        assert!(scan_classes("echo 'rm -rf /' | cat").is_empty());
        assert_eq!(scan_classes("cat x > /dev/sda"), [IntentClass::DiskWipe]);
    }
}
