//! First stage of parsing: YAML text to a generic tree whose every node (and every mapping
//! key) carries its line and column, read with serde-saphyr's `Spanned`. Syntax errors,
//! duplicate keys and YAML bombs (serde-saphyr's budgets) stop here with a location.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{DefaultMessageFormatter, MessageFormatter, Spanned};

use crate::error::Problem;

/// A 1-based line and column (in characters) in the policy file; `0:0` when unknown
/// (a policy built without source text).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
}

impl Loc {
    fn of(l: serde_saphyr::Location) -> Self {
        let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        Self { line: clamp(l.line()), column: clamp(l.column()) }
    }
}

/// One YAML node with its location.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub kind: Kind,
    pub loc: Loc,
}

/// What a node holds. Plain scalars are typed the YAML 1.2 core-schema way by serde-saphyr.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Kind {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in file order; each key is a node too, so it has a location.
    Map(Vec<(Node, Node)>),
}

impl Kind {
    /// How an error message names this kind of node.
    pub fn describe(&self) -> String {
        match self {
            Self::Null => "null".into(),
            Self::Bool(b) => format!("boolean {b}"),
            Self::Int(i) => format!("integer {i}"),
            Self::Float(f) => format!("number {f}"),
            Self::Str(s) => format!("string {s:?}"),
            Self::Seq(_) => "a list".into(),
            Self::Map(_) => "a mapping".into(),
        }
    }
}

/// Parses one YAML document. The error is a single problem at the offending position
/// (YAML syntax cannot be recovered from).
pub(crate) fn parse(text: &str) -> Result<Node, Problem> {
    // YAML 1.2 booleans only (`on`, `no`, `y` stay strings); `0755` stays a string.
    let options = serde_saphyr::options! { strict_booleans: true, leading_zero_numbers_as_strings: true };
    match serde_saphyr::from_str_with_options::<Option<Spanned<Kind>>>(text, options) {
        Ok(Some(s)) => Ok(Node { kind: s.value, loc: Loc::of(s.referenced) }),
        Ok(None) => Ok(Node { kind: Kind::Null, loc: Loc { line: 1, column: 1 } }),
        Err(e) => Err(syntax_problem(&e)),
    }
}

fn syntax_problem(e: &serde_saphyr::Error) -> Problem {
    let inner = e.without_snippet();
    let loc = inner.location().map(Loc::of).unwrap_or(Loc { line: 1, column: 1 });
    let message = match inner {
        serde_saphyr::Error::DuplicateMappingKey { key: Some(k), .. } => format!("duplicate key {k:?}"),
        serde_saphyr::Error::DuplicateMappingKey { key: None, .. } => "duplicate key".into(),
        other => {
            let m = one_line(&DefaultMessageFormatter.format_message(other));
            if m.starts_with("budget breached") || m.starts_with("recursion limit") {
                format!("YAML document over the parser's limits (nesting, aliases or size): {m}")
            } else {
                format!("YAML syntax error: {m}")
            }
        }
    };
    Problem::new(loc, "", message)
}

/// Control characters escaped, so a message stays on one line.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_none<E>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Kind, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Kind, E> {
        Ok(Kind::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Kind, E> {
        Ok(Kind::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Kind, E> {
        Ok(Kind::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Kind, E> {
        Ok(Kind::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Kind, E> {
        i128::try_from(v).map(Kind::Int).map_err(|_| E::custom("integer too large"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Kind, E> {
        Ok(Kind::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Kind, E> {
        Ok(Kind::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Kind, E> {
        Ok(Kind::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        let mut out = Vec::new();
        while let Some(s) = seq.next_element::<Spanned<Kind>>()? {
            out.push(Node { kind: s.value, loc: Loc::of(s.referenced) });
        }
        Ok(Kind::Seq(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = map.next_key::<Spanned<Kind>>()? {
            let v = map.next_value::<Spanned<Kind>>()?;
            out.push((
                Node { kind: k.value, loc: Loc::of(k.referenced) },
                Node { kind: v.value, loc: Loc::of(v.referenced) },
            ));
        }
        Ok(Kind::Map(out))
    }
}

/// Where each field path of the document is: built once from the tree so the compile
/// stage can attach a line and column to any problem it finds by path alone.
#[derive(Debug, Default)]
pub(crate) struct Locator {
    /// (path, location of the key, location of the value), in document order.
    entries: Vec<(String, Option<Loc>, Loc)>,
}

impl Locator {
    /// Indexes every node of `root` by its field path (`identities[0].match.users[1]`).
    pub fn new(root: &Node) -> Self {
        let mut me = Self::default();
        me.walk(root, String::new(), None);
        me
    }

    fn walk(&mut self, n: &Node, path: String, key: Option<Loc>) {
        self.entries.push((path.clone(), key, n.loc));
        match &n.kind {
            Kind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk(item, format!("{path}[{i}]"), None);
                }
            }
            Kind::Map(entries) => {
                for (k, v) in entries {
                    if let Kind::Str(name) = &k.kind {
                        self.walk(v, join(&path, name), Some(k.loc));
                    }
                }
            }
            _ => {}
        }
    }

    /// The location of the value at `path`, else of its nearest ancestor present in the file.
    pub fn value(&self, path: &str) -> Loc {
        self.find(path, false)
    }

    /// The location of the key naming `path` (for errors about the key itself, such as an
    /// unknown intent class); the value's location when it has no key.
    pub fn key(&self, path: &str) -> Loc {
        self.find(path, true)
    }

    fn find(&self, path: &str, key: bool) -> Loc {
        let mut p = path;
        loop {
            if let Some((_, k, v)) = self.entries.iter().find(|(q, _, _)| q == p) {
                return if key { k.unwrap_or(*v) } else { *v };
            }
            match parent(p) {
                Some(up) => p = up,
                None => return Loc::default(),
            }
        }
    }
}

/// `parent.key`, or `key` at the root.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_owned() } else { format!("{parent}.{key}") }
}

fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    Some(path.rfind(['.', '[']).map_or("", |i| &path[..i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_and_keys_have_locations() {
        let n = parse("a: 1\nb:\n  - x\n  - {c: true}\n").unwrap();
        let Kind::Map(m) = &n.kind else { panic!("{n:?}") };
        assert_eq!(m[0].0.loc, Loc { line: 1, column: 1 });
        assert_eq!(m[0].1.kind, Kind::Int(1));
        assert_eq!(m[0].1.loc, Loc { line: 1, column: 4 });
        let loc = Locator::new(&n);
        assert_eq!(loc.value("b[1].c"), Loc { line: 4, column: 9 });
        assert_eq!(loc.key("b[1].c"), Loc { line: 4, column: 6 });
        assert_eq!(loc.value("b[1].missing"), Loc { line: 4, column: 5 });
        assert_eq!(loc.key("b"), Loc { line: 2, column: 1 });
    }

    #[test]
    fn yaml_1_1_booleans_stay_strings() {
        let n = parse("[on, no, y, true, 0755]").unwrap();
        let Kind::Seq(items) = n.kind else { panic!() };
        let kinds: Vec<Kind> = items.into_iter().map(|i| i.kind).collect();
        assert_eq!(kinds, [Kind::Str("on".into()), Kind::Str("no".into()), Kind::Str("y".into()), Kind::Bool(true), Kind::Str("0755".into())]);
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(parse("").unwrap().kind, Kind::Null);
        assert_eq!(parse("# only a comment\n").unwrap().kind, Kind::Null);
    }

    #[test]
    fn syntax_errors_have_locations() {
        let p = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(p.message.starts_with("YAML syntax error"), "{p:?}");
        assert!(p.loc.line >= 1);
        let p = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(p.message, "duplicate key \"a\"");
        assert_eq!(p.loc, Loc { line: 3, column: 1 });
        assert!(parse("a: 1\n---\nb: 2\n").is_err(), "one document only");
    }

    #[test]
    fn parents() {
        assert_eq!(parent("a.b[2].c"), Some("a.b[2]"));
        assert_eq!(parent("a.b[2]"), Some("a.b"));
        assert_eq!(parent("a"), Some(""));
        assert_eq!(parent(""), None);
    }
}
