//! Exception patterns (`intents.<class>.except`): case-insensitive globs over normalised
//! command or statement text, anchored at both ends.
//!
//! - Text is normalised first, the pattern too: leading and trailing whitespace and
//!   trailing `;` removed, each run of spaces and tabs made one space, each run of
//!   whitespace holding a line break made one line break.
//! - `*` matches any run of characters within one word: no whitespace, no separator.
//! - `**` matches any run of characters across words, but no separator.
//! - `?` matches one character that is neither whitespace nor a separator.
//! - `[abc]`, `[a-z]`, `[!a-z]` match one character of (not of) the class.
//! - `\x` matches `x` literally (`\*`, `\?`, `\[`, `\\`).
//! - Separators are `;`, `&`, `|`, a line break and a backtick: a wildcard never reaches
//!   across a second statement or command. Written literally in a pattern, they match.
//!
//! Letters are compared after Unicode lower-casing.

/// Characters a wildcard never matches.
const SEPARATORS: [char; 5] = [';', '&', '|', '\n', '`'];

/// Longest pattern accepted, in characters.
pub const MAX_PATTERN: usize = 512;

/// Longest text an exception can match, in characters.
pub const MAX_TEXT: usize = 8 * 1024;

/// Normalises command or statement text for matching (see the module docs).
#[must_use]
pub fn normalize_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut gap: Option<bool> = None; // Some(has_newline) inside a whitespace run
    for ch in s.trim().trim_end_matches([';', ' ', '\t', '\r', '\n']).chars() {
        if ch.is_whitespace() {
            let nl = gap.unwrap_or(false) || ch == '\n';
            gap = Some(nl);
            continue;
        }
        if let Some(nl) = gap.take() {
            out.push(if nl { '\n' } else { ' ' });
        }
        out.extend(ch.to_lowercase());
    }
    out
}

/// Checks an exception pattern, returning it normalised.
///
/// # Errors
/// A message naming what is wrong: empty, too long, an unclosed `[`, a dangling `\`.
pub fn check_text_glob(raw: &str) -> Result<String, String> {
    let p = normalize_text(raw);
    if p.is_empty() {
        return Err("empty exception pattern".into());
    }
    if p.chars().count() > MAX_PATTERN {
        return Err(format!("exception pattern longer than {MAX_PATTERN} characters"));
    }
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 == chars.len() => return Err(format!("bad glob {raw:?}: dangling `\\` at the end")),
            '\\' => i += 2,
            '[' => i = class_end(&chars, i).ok_or_else(|| format!("bad glob {raw:?}: unclosed `[`"))?,
            _ => i += 1,
        }
    }
    if p.contains("***") {
        return Err(format!("bad glob {raw:?}: `***` (use `*` or `**`)"));
    }
    Ok(p)
}

/// Whether normalised `pat` matches all of normalised `text`.
#[must_use]
pub fn text_match(pat: &str, text: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Longer text never matches (the exception is refused); memo stays under 4 Mi entries.
    if p.len() > MAX_PATTERN || t.len() > MAX_TEXT {
        return false;
    }
    let mut memo = vec![None; (p.len() + 1) * (t.len() + 1)];
    Matcher { p: &p, t: &t, memo: &mut memo }.at(0, 0)
}

struct Matcher<'a> {
    p: &'a [char],
    t: &'a [char],
    memo: &'a mut [Option<bool>],
}

impl Matcher<'_> {
    fn at(&mut self, pi: usize, ti: usize) -> bool {
        let key = pi * (self.t.len() + 1) + ti;
        if let Some(r) = self.memo[key] {
            return r;
        }
        let r = self.step(pi, ti);
        self.memo[key] = Some(r);
        r
    }

    fn step(&mut self, pi: usize, ti: usize) -> bool {
        let (p, t) = (self.p, self.t);
        let Some(&pc) = p.get(pi) else { return ti == t.len() };
        if pc == '*' {
            let double = p.get(pi + 1) == Some(&'*');
            let next = if double { pi + 2 } else { pi + 1 };
            let mut k = ti;
            loop {
                if self.at(next, k) {
                    return true;
                }
                match t.get(k) {
                    Some(c) if !SEPARATORS.contains(c) && (double || *c != ' ') => k += 1,
                    _ => return false,
                }
            }
        }
        let Some(&tc) = t.get(ti) else { return false };
        match pc {
            '?' => tc != ' ' && !SEPARATORS.contains(&tc) && self.at(pi + 1, ti + 1),
            '\\' => p.get(pi + 1) == Some(&tc) && self.at(pi + 2, ti + 1),
            '[' => match class_end(p, pi) {
                Some(end) => class_has(&p[pi + 1..end - 1], tc) && self.at(end, ti + 1),
                None => false,
            },
            _ => pc == tc && self.at(pi + 1, ti + 1),
        }
    }
}

/// Index just past the `]` closing the class opened at `start`.
fn class_end(p: &[char], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if matches!(p.get(i), Some('!' | '^')) {
        i += 1;
    }
    if p.get(i) == Some(&']') {
        i += 1;
    }
    while i < p.len() {
        if p[i] == ']' {
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// Whether `c` is in the class body (between `[` and `]`).
fn class_has(body: &[char], c: char) -> bool {
    let (neg, body) = match body.first() {
        Some('!' | '^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if body.get(i + 1) == Some(&'-') && i + 2 < body.len() {
            hit |= body[i] <= c && c <= body[i + 2];
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    hit != neg
}

/// Checks a path glob as the classifier reads it (`*`, `?`, `**`, `[...]`): brackets closed.
///
/// # Errors
/// A message naming the problem.
pub fn check_path_glob(p: &str) -> Result<(), String> {
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '[' {
            i = class_end(&chars, i).ok_or_else(|| format!("bad glob {p:?}: unclosed `[`"))?;
        } else {
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pat: &str, text: &str) -> bool {
        text_match(&check_text_glob(pat).unwrap(), &normalize_text(text))
    }

    #[test]
    fn normalisation() {
        assert_eq!(normalize_text("  DROP\t TABLE  Tmp_X ;; "), "drop table tmp_x");
        assert_eq!(normalize_text("a \n\n  b  c"), "a\nb c");
    }

    #[test]
    fn star_stays_in_one_word_double_star_crosses_words() {
        assert!(m("DROP TABLE tmp_*", "drop table TMP_sessions;"));
        assert!(!m("DROP TABLE tmp_*", "DROP TABLE tmp_x, users"));
        assert!(!m("rm -rf /tmp/*", "rm -rf /tmp/x /etc"));
        assert!(m("rm -rf /tmp/**", "rm -rf /tmp/x /tmp/y"));
        assert!(m("DROP TABLE IF EXISTS tmp_?", "drop table if exists tmp_1"));
        assert!(!m("DROP TABLE tmp_?", "drop table tmp_12"));
    }

    #[test]
    fn wildcards_never_cross_separators() {
        assert!(!m("**", "rm -rf /tmp/x; rm -rf /etc"));
        assert!(!m("rm -rf /tmp/**", "rm -rf /tmp/x && rm -rf /"));
        assert!(!m("echo **", "echo a\nrm -rf /"));
        assert!(!m("echo *", "echo `rm`"));
        assert!(m("a; b", "a ; b".replace(" ;", ";").as_str()));
    }

    #[test]
    fn classes_and_escapes() {
        assert!(m("truncate table log_[0-9][0-9]", "TRUNCATE TABLE log_42"));
        assert!(!m("truncate table log_[!0-9]", "TRUNCATE TABLE log_4"));
        assert!(m(r"echo \*", "echo *"));
        assert!(!m(r"echo \*", "echo x"));
    }

    #[test]
    fn bad_patterns() {
        assert!(check_text_glob("  ").is_err());
        assert!(check_text_glob("DROP TABLE [tmp").unwrap_err().contains("unclosed `[`"));
        assert!(check_text_glob("x\\").unwrap_err().contains("dangling"));
        assert!(check_text_glob("a***").is_err());
        assert!(check_text_glob(&"x".repeat(600)).is_err());
        assert!(check_path_glob("/etc/[ab").is_err());
        assert!(check_path_glob("/home/*/.ssh/id_[rd]*").is_ok());
    }

    #[test]
    fn hostile_sizes_stay_bounded() {
        let text = "a".repeat(20_000);
        assert!(!m("*b", &text));
        assert!(!text_match("**", &"x".repeat(MAX_TEXT + 1)));
        assert!(text_match("**", &"x".repeat(MAX_TEXT)));
    }
}
