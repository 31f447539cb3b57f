//! Lexical path handling: `~`/`$HOME`, cwd joining, `//`, `/./`, `..`, trailing slashes, and
//! a small glob matcher. Never touches the file system.

use std::borrow::Cow;

/// Normalises `raw` lexically. `~` stays as the `~` prefix (some user's home). A relative
/// path is joined to `cwd` when known, else returned relative (still normalised).
#[must_use]
pub fn normalize(raw: &str, cwd: Option<&str>) -> String {
    if let Some(done) = already_normal(raw, cwd) {
        return done;
    }
    let joined = if raw == "~" || raw.starts_with("~/") || raw.starts_with('/') {
        raw.to_owned()
    } else if let Some(base) = cwd {
        format!("{base}/{raw}")
    } else {
        raw.to_owned()
    };
    let (prefix, rest) = if let Some(r) = joined.strip_prefix('~') {
        ("~", r)
    } else if joined.starts_with('/') {
        ("/", joined.as_str())
    } else {
        ("", joined.as_str())
    };
    let mut parts: Vec<&str> = Vec::new();
    for comp in rest.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if prefix.is_empty() {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    match prefix {
        "~" if parts.is_empty() => "~".to_owned(),
        "~" => format!("~/{}", parts.join("/")),
        "/" => format!("/{}", parts.join("/")),
        _ if parts.is_empty() => ".".to_owned(),
        _ => parts.join("/"),
    }
}

/// [`normalize`]'s result when `raw` needs no rewriting (the common case): anchored or
/// relative with no cwd, or joined to an anchored cwd, with no empty, `.` or `..` component.
fn already_normal(raw: &str, cwd: Option<&str>) -> Option<String> {
    if raw == "/" || raw == "~" {
        return Some(raw.to_owned());
    }
    if let Some(rest) = raw.strip_prefix("~/").or_else(|| raw.strip_prefix('/')) {
        return clean(rest).then(|| raw.to_owned());
    }
    if raw.starts_with('~') || !clean(raw) {
        return None;
    }
    match cwd {
        None => Some(raw.to_owned()),
        Some("/") => Some(format!("/{raw}")),
        Some("~") => Some(format!("~/{raw}")),
        Some(base) => {
            let rest = base.strip_prefix("~/").or_else(|| base.strip_prefix('/'))?;
            clean(rest).then(|| format!("{base}/{raw}"))
        }
    }
}

/// No empty, `.` or `..` component.
fn clean(s: &str) -> bool {
    s.as_bytes().split(|b| *b == b'/').all(|c| !c.is_empty() && c != b"." && c != b"..")
}

/// `normalize(raw, None)`, borrowing `raw` when it is already normal.
pub(crate) fn normalize_cow(raw: &str) -> Cow<'_, str> {
    let as_is = raw == "/"
        || raw == "~"
        || match raw.strip_prefix("~/").or_else(|| raw.strip_prefix('/')) {
            Some(rest) => clean(rest),
            None => !raw.starts_with('~') && clean(raw),
        };
    if as_is { Cow::Borrowed(raw) } else { Cow::Owned(normalize(raw, None)) }
}

/// [`glob_split`], borrowing `p` when it has no glob.
pub(crate) fn glob_split_cow(p: &str) -> (Cow<'_, str>, bool) {
    if has_glob(p) {
        let (base, everything) = glob_split(p);
        (Cow::Owned(base), everything)
    } else {
        (Cow::Borrowed(p), false)
    }
}

/// Whether the path is absolute or home-anchored after normalisation.
#[must_use]
pub fn is_anchored(p: &str) -> bool {
    p.starts_with('/') || p == "~" || p.starts_with("~/")
}

/// Whether `anc` is `p` itself or a directory above it (both normalised).
#[must_use]
pub fn is_ancestor_or_self(anc: &str, p: &str) -> bool {
    if anc == p || anc == "/" {
        return anc == p || p.starts_with('/');
    }
    p.strip_prefix(anc).is_some_and(|r| r.starts_with('/'))
}

/// Whether the string contains glob metacharacters.
#[must_use]
pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The literal directory prefix before the first glob component, and whether the remaining
/// components select "everything" (`*`, `.*`, `*.*`, `?*`...).
#[must_use]
pub fn glob_split(p: &str) -> (String, bool) {
    if !has_glob(p) {
        return (p.to_owned(), false);
    }
    let comps: Vec<&str> = p.split('/').collect();
    let Some(first_glob) = comps.iter().position(|c| has_glob(c)) else {
        return (p.to_owned(), false);
    };
    let base = comps[..first_glob].join("/");
    let base = if base.is_empty() && p.starts_with('/') { "/".to_owned() } else { base };
    let everything = comps[first_glob..]
        .iter()
        .all(|c| c.chars().all(|ch| matches!(ch, '*' | '?' | '.' | '[' | ']' | '!' | '^')));
    (base, everything)
}

/// Glob match on paths: `*` and `?` stay within one component, `**` crosses components,
/// `[...]` is a character class. Bounded: backtracking limited to input length squared.
#[must_use]
pub fn glob_match(pat: &str, text: &str) -> bool {
    // Fast paths: a literal pattern, or a literal prefix the text does not share.
    let meta = pat.find(['*', '?', '[']).unwrap_or(pat.len());
    if meta == pat.len() {
        return pat == text;
    }
    if !text.starts_with(&pat[..meta]) {
        return false;
    }
    if &pat[meta..] == "*" {
        return !text[meta..].contains('/');
    }
    let p: Vec<char> = pat.chars().collect();
    let t: Vec<char> = text.chars().collect();
    if p.len() > 512 || t.len() > 4096 {
        return false;
    }
    let mut memo = vec![None; (p.len() + 1) * (t.len() + 1)];
    glob_rec(&p, &t, 0, 0, &mut memo)
}

fn glob_rec(p: &[char], t: &[char], pi: usize, ti: usize, memo: &mut Vec<Option<bool>>) -> bool {
    let key = pi * (t.len() + 1) + ti;
    if let Some(r) = memo[key] {
        return r;
    }
    let r = if pi == p.len() {
        ti == t.len()
    } else if p[pi] == '*' {
        let double = p.get(pi + 1) == Some(&'*');
        let next = if double { pi + 2 } else { pi + 1 };
        let mut ok = glob_rec(p, t, next, ti, memo);
        let mut k = ti;
        while !ok && k < t.len() && (double || t[k] != '/') {
            k += 1;
            ok = glob_rec(p, t, next, k, memo);
        }
        ok
    } else if ti == t.len() {
        false
    } else if p[pi] == '?' {
        t[ti] != '/' && glob_rec(p, t, pi + 1, ti + 1, memo)
    } else if p[pi] == '[' {
        match class_match(p, pi, t[ti]) {
            Some((true, end)) => glob_rec(p, t, end, ti + 1, memo),
            Some((false, _)) => false,
            None => p[pi] == t[ti] && glob_rec(p, t, pi + 1, ti + 1, memo),
        }
    } else {
        p[pi] == t[ti] && glob_rec(p, t, pi + 1, ti + 1, memo)
    };
    memo[key] = Some(r);
    r
}

fn class_match(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let first = i;
    while i < p.len() && (p[i] != ']' || i == first) {
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|e| *e != ']') {
            hit |= p[i] <= c && c <= p[i + 2];
            i += 3;
        } else {
            hit |= p[i] == c;
            i += 1;
        }
    }
    (i < p.len()).then_some((hit != negate, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_slashes_dots_and_home() {
        assert_eq!(normalize("//etc/./ssh/", None), "/etc/ssh");
        assert_eq!(normalize("/var/log/../lib//", None), "/var/lib");
        assert_eq!(normalize("/..", None), "/");
        assert_eq!(normalize("~/", None), "~");
        assert_eq!(normalize("build/../x", Some("/srv/app")), "/srv/app/x");
        assert_eq!(normalize("./build", None), "build");
        assert_eq!(normalize("*", Some("/")), "/*");
    }

    #[test]
    fn the_fast_path_normalizes_like_the_full_one() {
        // The full algorithm, with the fast path bypassed: joins "./" so it never applies.
        fn slow(raw: &str, cwd: Option<&str>) -> String {
            let r = normalize(&format!("{raw}/."), cwd);
            // "x/." normalises like "x", except where the trailing "." is the whole path.
            if raw.is_empty() { normalize("./", cwd) } else { r }
        }
        let words = ["", "/", "~", "~/", "~x", ".", "..", "a", "b.c", "/etc", "~/.ssh", "a/b", "a//b", "a/./b", "a/../b", "../a", "/..", "x/"];
        for raw in words {
            for cwd in [None, Some("/"), Some("~"), Some("/srv/app"), Some("~/w"), Some("build"), Some("."), Some("/a/../b")] {
                for suffix in ["", "/d", "/../e"] {
                    let raw = format!("{raw}{suffix}");
                    assert_eq!(normalize(&raw, cwd), slow(&raw, cwd), "{raw:?} in {cwd:?}");
                }
            }
        }
    }

    #[test]
    fn borrowing_variants_agree() {
        for p in ["", "/", "~", "~/", "~x", ".", "..", "a", "/etc", "~/.ssh", "a//b", "a/./b", "/a/../b", "x/", "/etc/*", "/*", "*.bak", "/var/log/**"] {
            assert_eq!(normalize_cow(p), normalize(p, None), "{p:?}");
            let (b, e) = glob_split_cow(p);
            assert_eq!((b.into_owned(), e), glob_split(p), "{p:?}");
        }
    }

    #[test]
    fn ancestry() {
        assert!(is_ancestor_or_self("/", "/etc"));
        assert!(is_ancestor_or_self("/etc", "/etc/ssh"));
        assert!(!is_ancestor_or_self("/et", "/etc"));
        assert!(is_ancestor_or_self("~", "~/.ssh"));
    }

    #[test]
    fn globs() {
        assert!(glob_match("~/.ssh/id_*", "~/.ssh/id_rsa"));
        assert!(!glob_match("/home/*/.ssh/id_*", "/home/a/b/.ssh/id_rsa"));
        assert!(glob_match("/home/**/id_*", "/home/a/b/.ssh/id_rsa"));
        assert!(glob_match("*.pe[mx]", "key.pem"));
        assert!(!glob_match("*.pe[!m]", "key.pem"));
        assert_eq!(glob_split("/etc/*"), ("/etc".into(), true));
        assert_eq!(glob_split("/*"), ("/".into(), true));
        assert_eq!(glob_split("/etc/*.bak"), ("/etc".into(), false));
    }
}

/// A directory of another file-system view (a container's or a chroot's) and the host
/// path it shows: a bind mount's source, a named volume's data directory, the chroot
/// directory for `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mount {
    /// Where it appears inside the view (normalised, absolute).
    pub inside: String,
    /// What it is on the host (normalised; unanchored when not a host path).
    pub host: String,
}

/// Prefix of a path that exists only inside a container: no host rule can match it.
pub(crate) const CONTAINER_ONLY: &str = "container:";

/// The host path behind `p` (normalised, in the view's coordinates) when the command
/// runs in a view with these mounts: the innermost mount covering `p` translates it;
/// anything else is the view's own file (a container's image layer) and is returned
/// unanchored, so no protected-path rule matches it. `~` is root's home in a view.
pub(crate) fn through_mounts(p: String, mounts: &[Mount]) -> String {
    let p = match p.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("/root{rest}"),
        _ => p,
    };
    if !p.starts_with('/') {
        return p;
    }
    let best = mounts.iter().filter(|m| is_ancestor_or_self(&m.inside, &p)).max_by_key(|m| m.inside.len());
    match best {
        Some(m) => {
            let rest = if m.inside == "/" { &p[1..] } else { p[m.inside.len()..].trim_start_matches('/') };
            if rest.is_empty() {
                m.host.clone()
            } else if m.host.ends_with('/') {
                format!("{}{rest}", m.host)
            } else {
                format!("{}/{rest}", m.host)
            }
        }
        None => format!("{CONTAINER_ONLY}{p}"),
    }
}
