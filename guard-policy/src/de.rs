//! A serde `Deserializer` over the located tree that keeps going after a problem, so one
//! pass reports every unknown field and every type mismatch, each at its own line, column
//! and field path. A mismatched value is recorded and replaced by an empty one (`""`, `[]`,
//! `{}`, `0`, `false`); the caller discards the result whenever any problem was recorded.

use std::cell::RefCell;
use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

use crate::error::Problem;
use crate::tree::{Kind, Node, join};

/// Deserializes `T` from `node`. The value comes back whenever deserialization could
/// continue (mismatched values replaced by empty ones), together with every problem found,
/// so later stages can check the rest of the file too.
pub(crate) fn from_node<T: DeserializeOwned>(node: &Node) -> (Option<T>, Vec<Problem>) {
    let sink = RefCell::new(Vec::new());
    let r = T::deserialize(NodeDe { node, path: String::new(), sink: &sink });
    let mut problems = sink.into_inner();
    if r.is_err() && problems.is_empty() {
        problems.push(Problem::new(node.loc, "", "invalid policy"));
    }
    (r.ok(), problems)
}

/// Error passed up through serde; the problem itself is already in the sink when
/// `reported` is set.
#[derive(Debug)]
pub(crate) struct DeError {
    msg: String,
    reported: bool,
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self { msg: msg.to_string(), reported: false }
    }
}

type Sink = RefCell<Vec<Problem>>;

struct NodeDe<'a> {
    node: &'a Node,
    path: String,
    sink: &'a Sink,
}

impl<'a> NodeDe<'a> {
    fn child(&self, node: &'a Node, path: String) -> Self {
        Self { node, path, sink: self.sink }
    }

    fn report(&self, message: String) {
        self.sink.borrow_mut().push(Problem::new(self.node.loc, self.path.clone(), message));
    }

    fn mismatch(&self, expected: &str) {
        self.report(format!("expected {expected}, found {}", self.node.kind.describe()));
    }

    /// Records an error a visitor raised here (unless already recorded deeper down).
    fn seal<T>(&self, r: Result<T, DeError>) -> Result<T, DeError> {
        r.map_err(|e| {
            if !e.reported {
                self.report(e.msg.clone());
            }
            DeError { msg: e.msg, reported: true }
        })
    }

    fn unsigned<V: Visitor<'a>>(self, max: u64, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            Kind::Int(i) if (0..=i128::from(max)).contains(i) => visitor.visit_u64(u64::try_from(*i).unwrap_or(0)),
            Kind::Int(i) => {
                self.report(format!("integer {i} out of range (0 to {max})"));
                visitor.visit_u64(0)
            }
            _ => {
                self.mismatch("an unsigned integer");
                visitor.visit_u64(0)
            }
        };
        self.seal(r)
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            Kind::Null => visitor.visit_unit(),
            Kind::Bool(b) => visitor.visit_bool(*b),
            Kind::Int(i) => visitor.visit_i128(*i),
            Kind::Float(x) => visitor.visit_f64(*x),
            Kind::Str(s) => visitor.visit_str(s),
            Kind::Seq(_) => return self.deserialize_seq(visitor),
            Kind::Map(_) => return self.deserialize_map(visitor),
        };
        self.seal(r)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = if let Kind::Bool(b) = self.node.kind {
            visitor.visit_bool(b)
        } else {
            self.mismatch("true or false");
            visitor.visit_bool(false)
        };
        self.seal(r)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.unsigned(u32::MAX.into(), visitor)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.unsigned(u64::MAX, visitor)
    }

    /// Strings accept any scalar (`uids: [1001]` in a names list reads as `"1001"`).
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = match &self.node.kind {
            Kind::Str(s) => visitor.visit_str(s),
            Kind::Int(i) => visitor.visit_string(i.to_string()),
            Kind::Float(x) => visitor.visit_string(x.to_string()),
            Kind::Bool(b) => visitor.visit_string(b.to_string()),
            _ => {
                self.mismatch("a string");
                visitor.visit_str("")
            }
        };
        self.seal(r)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = if self.node.kind == Kind::Null { visitor.visit_none() } else { visitor.visit_some(self.child(self.node, self.path.clone())) };
        self.seal(r)
    }

    /// A null list (`users:` with nothing after it) reads as empty.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let items: &[Node] = match &self.node.kind {
            Kind::Seq(items) => items,
            Kind::Null => &[],
            _ => {
                self.mismatch("a list");
                &[]
            }
        };
        let seq = Seq { de: &self, items: items.iter().enumerate() };
        let r = visitor.visit_seq(seq);
        self.seal(r)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let r = visitor.visit_map(Map { de: &self, entries: self.entries("a mapping"), fields: None, value: None });
        self.seal(r)
    }

    /// Unknown keys are recorded and skipped, so all of them are reported, not just the first.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let entries = self.entries("a mapping");
        let r = visitor.visit_map(Map { de: &self, entries, fields: Some(fields), value: None });
        self.seal(r)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let r = if let Kind::Str(s) = &self.node.kind {
            let d: StrDeserializer<'_, DeError> = s.as_str().into_deserializer();
            visitor.visit_enum(d)
        } else {
            self.mismatch("a string");
            Err(DeError { msg: String::new(), reported: true })
        };
        self.seal(r)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u128 f32 f64 char bytes byte_buf unit unit_struct
        newtype_struct tuple tuple_struct
    }
}

impl<'a> NodeDe<'a> {
    /// The entries of a mapping node; null reads as empty, anything else is a mismatch.
    fn entries(&self, expected: &str) -> std::slice::Iter<'a, (Node, Node)> {
        match &self.node.kind {
            Kind::Map(entries) => entries.iter(),
            Kind::Null => [].iter(),
            _ => {
                self.mismatch(expected);
                [].iter()
            }
        }
    }
}

struct Seq<'a, 'b> {
    de: &'b NodeDe<'a>,
    items: std::iter::Enumerate<std::slice::Iter<'a, Node>>,
}

impl<'de> de::SeqAccess<'de> for Seq<'de, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, DeError> {
        let Some((i, item)) = self.items.next() else { return Ok(None) };
        let path = format!("{}[{i}]", self.de.path);
        let r = seed.deserialize(self.de.child(item, path.clone()));
        self.de.child(item, path).seal(r).map(Some)
    }
}

struct Map<'a, 'b> {
    de: &'b NodeDe<'a>,
    entries: std::slice::Iter<'a, (Node, Node)>,
    /// A struct's field names: other keys are reported and skipped.
    fields: Option<&'static [&'static str]>,
    value: Option<(&'a Node, String)>,
}

impl<'a> Map<'a, '_> {
    /// The next entry whose key is acceptable, reporting the others.
    fn next_entry(&mut self) -> Option<(&'a Node, &'a Node, String)> {
        for (k, v) in self.entries.by_ref() {
            let Kind::Str(name) = &k.kind else {
                let msg = format!("keys must be strings, found {}", k.kind.describe());
                self.de.sink.borrow_mut().push(Problem::new(k.loc, self.de.path.clone(), msg));
                continue;
            };
            let path = join(&self.de.path, name);
            if let Some(fields) = self.fields.filter(|f| !f.contains(&name.as_str())) {
                self.de.sink.borrow_mut().push(Problem::new(k.loc, path, unknown_field(name, fields)));
                continue;
            }
            return Some((k, v, path));
        }
        None
    }
}

impl<'de> de::MapAccess<'de> for Map<'de, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        let Some((k, v, path)) = self.next_entry() else { return Ok(None) };
        self.value = Some((v, path.clone()));
        seed.deserialize(self.de.child(k, path)).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, DeError> {
        let (v, path) = self.value.take().ok_or_else(|| de::Error::custom("value before key"))?;
        let r = seed.deserialize(self.de.child(v, path.clone()));
        self.de.child(v, path).seal(r)
    }
}

/// `unknown field "moed" (expected one of: name, mode, fail, match; did you mean "mode"?)`.
pub(crate) fn unknown_field(name: &str, fields: &[&str]) -> String {
    let mut msg = format!("unknown field {name:?} (expected one of: {}", fields.join(", "));
    if let Some(s) = suggest(name, fields.iter().copied()) {
        msg.push_str(&format!("; did you mean {s:?}?"));
    }
    msg.push(')');
    msg
}

/// The candidate closest to `name` when it is a plausible typo (edit distance ≤ 2).
pub(crate) fn suggest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let prefix = |c: &str| name.chars().zip(c.chars()).take_while(|(a, b)| a == b).count();
    candidates
        .into_iter()
        .map(|c| (distance(name, c), c))
        .filter(|(d, c)| *d <= 2.min(c.len() / 2).max(1) || prefix(c) >= 5)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::tree::{Loc, parse};

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Item {
        name: Option<String>,
        n: Option<u32>,
        on: Option<bool>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[serde(default)]
        items: Vec<Item>,
    }

    fn problems(text: &str) -> Vec<(u32, u32, String, String)> {
        let (_, e) = from_node::<Doc>(&parse(text).unwrap());
        e.into_iter().map(|p| (p.loc.line, p.loc.column, p.path, p.message)).collect()
    }

    #[test]
    fn reads_a_clean_document() {
        let (d, e) = from_node::<Doc>(&parse("items:\n  - {name: a, n: 3, on: true}\n  - name: 7\n").unwrap());
        let d = d.unwrap();
        assert!(e.is_empty());
        assert_eq!(d.items[0], Item { name: Some("a".into()), n: Some(3), on: Some(true) });
        assert_eq!(d.items[1].name.as_deref(), Some("7"));
        let (d, e) = from_node::<Doc>(&parse("items:\n").unwrap());
        assert!(d.unwrap().items.is_empty() && e.is_empty());
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let got = problems("items:\n  - nme: a\n    n: -1\n  - n: [1]\n    on: yes\n    extra: 1\nbogus: 2\n");
        let want = [
            (2, 5, "items[0].nme", "unknown field \"nme\" (expected one of: name, n, on; did you mean \"name\"?)"),
            (3, 8, "items[0].n", "integer -1 out of range (0 to 4294967295)"),
            (4, 8, "items[1].n", "expected an unsigned integer, found a list"),
            (5, 9, "items[1].on", "expected true or false, found string \"yes\""),
            (6, 5, "items[1].extra", "unknown field \"extra\" (expected one of: name, n, on)"),
            (7, 1, "bogus", "unknown field \"bogus\" (expected one of: items)"),
        ];
        let want: Vec<_> = want.iter().map(|(l, c, p, m)| (*l, *c, (*p).to_owned(), (*m).to_owned())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn wrong_container_kinds() {
        let got = problems("items: {a: 1}\n");
        assert_eq!(got, vec![(1, 8, "items".into(), "expected a list, found a mapping".into())]);
        let got = problems("items: [3]\n");
        assert_eq!(got, vec![(1, 9, "items[0]".into(), "expected a mapping, found integer 3".into())]);
        let (_, e) = from_node::<Doc>(&parse("[1]").unwrap());
        assert_eq!(e[0].loc, Loc { line: 1, column: 1 });
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("enforcing", ["audit", "enforce", "strict"]), Some("enforce"));
        assert_eq!(suggest("bulk_delte", ["bulk_delete", "disk_wipe"]), Some("bulk_delete"));
        assert_eq!(suggest("zzz", ["audit", "enforce"]), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
