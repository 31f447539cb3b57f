//! guard's policy: one YAML file naming identities and their modes, protected paths, data
//! directories, sensitive files, trusted destinations and per-intent-class actions with
//! exceptions. The format is documented in `docs/policy.md`.
//!
//! Loading runs in stages, each collecting every problem it can before giving up:
//! 1. `tree`: YAML (serde-saphyr) to a tree where each node knows its line and column;
//!    YAML syntax errors stop here.
//! 2. `raw`: the tree to serde structs ([`raw::RawPolicy`]), through a deserializer (`de`)
//!    that reports every unknown field and type mismatch with its field path.
//! 3. `compile`/`validate`: values checked and typed into a [`Policy`].
//!
//! Everything is pure except [`load_file`]. The built-in policy ([`builtin`]) is
//! `guard-policy/builtin.yaml`, embedded.

mod compile;
mod de;
mod error;
mod matching;
pub mod pattern;
mod policy;
pub mod raw;
mod render;
mod resolve;
mod tree;
mod validate;

use std::path::Path;

use guard_classify::Context;

pub use compile::{DEADLINE_RANGE_MS, DEFAULT_DEADLINE_MS};
pub use error::{PolicyError, Problem};
pub use guard_classify::IntentClass;
pub use matching::{Subject, exception_subjects};
pub use policy::{Action, FailMode, Hold, Identity, IntentRule, Mode, Policy, Quarantine, Selector, mode_str};
pub use render::render;
pub use resolve::{NameKind, Unresolved, parse_id_file};
pub use tree::Loc;

/// The built-in policy's source, `guard-policy/builtin.yaml`.
pub const BUILTIN_YAML: &str = include_str!("../builtin.yaml");

/// The file name the built-in policy's messages use.
pub const BUILTIN_FILE: &str = "builtin.yaml";

/// Largest policy text accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 4 << 20;

/// The built-in default policy (see `builtin.yaml` and `docs/policy.md`).
///
/// # Panics
/// Never in a tested build: a test loads `builtin.yaml`, which is compiled in.
#[must_use]
pub fn builtin() -> Policy {
    match load_with(BUILTIN_YAML, BUILTIN_FILE, &Context::builtin()) {
        Ok(p) => p,
        Err(e) => panic!("built-in policy is invalid:\n{e}"),
    }
}

/// Loads a policy from `text`; `file` names it in messages. Lists the file leaves out take
/// the built-in policy's values.
///
/// # Errors
/// [`PolicyError::Invalid`] listing every problem found.
pub fn load_str(text: &str, file: &str) -> Result<Policy, PolicyError> {
    load_with(text, file, builtin().context())
}

/// Reads and loads the policy file at `path` (the only I/O in this crate).
///
/// # Errors
/// [`PolicyError::Read`] when it cannot be read, [`PolicyError::Invalid`] otherwise.
pub fn load_file(path: &Path) -> Result<Policy, PolicyError> {
    let bytes = std::fs::read(path).map_err(|source| PolicyError::Read { path: path.to_owned(), source })?;
    let file = path.display().to_string();
    match String::from_utf8(bytes) {
        Ok(text) => load_str(&text, &file),
        Err(e) => {
            let loc = line_col(&e.as_bytes()[..e.utf8_error().valid_up_to()]);
            Err(PolicyError::invalid(&file, vec![Problem::new(loc, "", "file is not valid UTF-8")]))
        }
    }
}

/// Reads any serde type from YAML `text` with the policy file's located reader, so other
/// guard files (the agent's config) report problems the way a policy does: every unknown
/// field and type mismatch as `FILE:LINE:COLUMN: FIELD: MESSAGE`. An error a type's own
/// `Deserialize` raises (a value that parses but is invalid) is reported at its value and
/// stops there. Only the first problem at each value is kept.
///
/// # Errors
/// [`PolicyError::Invalid`] listing the problems found.
pub fn from_yaml<T: serde::de::DeserializeOwned>(text: &str, file: &str) -> Result<T, PolicyError> {
    if text.len() > MAX_POLICY_BYTES {
        let msg = format!("file larger than {MAX_POLICY_BYTES} bytes");
        return Err(PolicyError::invalid(file, vec![Problem::new(Loc { line: 1, column: 1 }, "", msg)]));
    }
    let node = tree::parse(text).map_err(|p| PolicyError::invalid(file, vec![p]))?;
    let (value, problems) = de::from_node::<T>(&node);
    let mut first: Vec<Problem> = Vec::with_capacity(problems.len());
    for p in problems {
        if !first.iter().any(|q| q.loc == p.loc && q.path == p.path) {
            first.push(p);
        }
    }
    match value {
        Some(v) if first.is_empty() => Ok(v),
        _ => Err(PolicyError::invalid(file, first)),
    }
}

fn load_with(text: &str, file: &str, defaults: &Context) -> Result<Policy, PolicyError> {
    if text.len() > MAX_POLICY_BYTES {
        let msg = format!("policy larger than {MAX_POLICY_BYTES} bytes");
        return Err(PolicyError::invalid(file, vec![Problem::new(Loc { line: 1, column: 1 }, "", msg)]));
    }
    let node = tree::parse(text).map_err(|p| PolicyError::invalid(file, vec![p]))?;
    let (raw, mut problems) = de::from_node::<raw::RawPolicy>(&node);
    let Some(raw) = raw else { return Err(PolicyError::invalid(file, problems)) };
    match compile::compile(&raw, &tree::Locator::new(&node), defaults) {
        Ok(p) if problems.is_empty() => Ok(p),
        Ok(_) => Err(PolicyError::invalid(file, problems)),
        Err(later) => {
            // A value the first stage already refused was replaced by an empty one: what
            // the second stage says about it (or inside it) repeats the first complaint.
            let repeats = |p: &Problem| problems.iter().any(|q| within(&p.path, &q.path));
            let fresh: Vec<Problem> = later.into_iter().filter(|p| !repeats(p)).collect();
            problems.extend(fresh);
            Err(PolicyError::invalid(file, problems))
        }
    }
}

/// `path` is `base` or a field or element inside it (everything is inside the root, `""`).
fn within(path: &str, base: &str) -> bool {
    base.is_empty() || path.strip_prefix(base).is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// Line and column just after `valid` (the bytes before a UTF-8 error).
fn line_col(valid: &[u8]) -> Loc {
    let text = String::from_utf8_lossy(valid);
    let line = text.matches('\n').count() + 1;
    let column = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Loc { line: u32::try_from(line).unwrap_or(u32::MAX), column: u32::try_from(column).unwrap_or(u32::MAX) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A policy using every field.
    pub(crate) const FULL: &str = include_str!("../../examples/policies/ci-runners-strict.yaml");

    #[test]
    fn builtin_is_the_embedded_file() {
        let from_file = load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("builtin.yaml")).unwrap();
        assert_eq!(builtin(), from_file);
        assert_eq!(builtin().version_hash(), from_file.version_hash());
    }

    #[test]
    fn load_file_reports_io_and_encoding() {
        let e = load_file(Path::new("/nonexistent/policy.yaml")).unwrap_err();
        assert!(matches!(e, PolicyError::Read { .. }), "{e}");
        let dir = std::env::temp_dir().join(format!("guard-policy-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("latin1.yaml");
        std::fs::write(&f, b"version: 1\nname: caf\xe9\n").unwrap();
        let e = load_file(&f).unwrap_err();
        assert_eq!(e.problems()[0].loc, Loc { line: 2, column: 10 });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn within_paths() {
        assert!(within("identities[0].mode", "identities[0]"));
        assert!(within("identities", "identities"));
        assert!(!within("identities[10]", "identities[1]"));
        assert!(within("a[1]", "a"));
        assert!(within("name", ""));
    }

    #[test]
    fn odd_documents() {
        let e = load_str("", "empty.yaml").unwrap_err();
        let paths: Vec<&str> = e.problems().iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["name", "version"]);
        let e = load_str("- 1\n", "list.yaml").unwrap_err();
        assert_eq!(e.to_string(), "list.yaml:1:1: expected a mapping, found a list");
        let deep = format!("version: 1\nname: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
        let e = load_str(&deep, "deep.yaml").unwrap_err().to_string();
        assert!(e.starts_with("deep.yaml:2:") && e.contains("over the parser's limits"), "{e}");
        let bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
        let e = load_str(bomb, "bomb.yaml").unwrap_err().to_string();
        assert!(e.starts_with("bomb.yaml:6:9: YAML document over the parser's limits") && e.lines().count() == 1, "{e}");
    }

    #[test]
    fn anchors_and_merge_keys() {
        let text = "version: 1\nname: m\nx-strict: &strict {mode: strict, fail: closed}\n";
        assert!(load_str(text, "m.yaml").unwrap_err().to_string().contains("unknown field \"x-strict\""));
        let text = "version: 1\nname: m\nidentities:\n  - &ci {name: ci, mode: strict, match: {uids: [1]}}\n  - <<: *ci\n    name: ci2\n";
        let p = load_str(text, "m.yaml").unwrap();
        assert_eq!(p.identities()[1].name, "ci2");
        assert_eq!(p.identities()[1].mode, Mode::Strict);
    }

    #[test]
    fn from_yaml_reads_other_files_with_locations() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Conf {
            n: Option<u64>,
            #[serde(default)]
            names: Vec<String>,
            port: Option<Port>,
        }
        #[derive(Debug)]
        struct Port(u16);
        impl<'de> serde::Deserialize<'de> for Port {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map(Port).map_err(|_| serde::de::Error::custom(format!("bad port {s:?}")))
            }
        }
        let c: Conf = from_yaml("n: 3\nnames: [a, b]\nport: '80'\n", "c.yaml").unwrap();
        assert_eq!((c.n, c.names.len(), c.port.map(|p| p.0)), (Some(3), 2, Some(80)));
        let e = from_yaml::<Conf>("n: x\nnmes: []\n", "c.yaml").unwrap_err().to_string();
        assert_eq!(
            e,
            "c.yaml:1:4: n: expected an unsigned integer, found string \"x\"\n\
             c.yaml:2:1: nmes: unknown field \"nmes\" (expected one of: n, names, port; did you mean \"names\"?)"
        );
        let e = from_yaml::<Conf>("port: [1]\n", "c.yaml").unwrap_err().to_string();
        assert_eq!(e, "c.yaml:1:7: port: expected a string, found a list", "one problem per value");
        let e = from_yaml::<Conf>("port: http\n", "c.yaml").unwrap_err().to_string();
        assert_eq!(e, "c.yaml:1:7: port: bad port \"http\"");
        #[derive(Debug, serde::Deserialize)]
        struct Ports {
            #[allow(dead_code)]
            ports: Vec<Port>,
        }
        let e = from_yaml::<Ports>("ports:\n  - '1'\n  - x\n", "c.yaml").unwrap_err().to_string();
        assert_eq!(e, "c.yaml:3:5: ports[1]: bad port \"x\"", "at the list element");
    }

    #[test]
    fn oversized_text_is_refused() {
        let text = format!("version: 1\nname: x\n#{}\n", "x".repeat(MAX_POLICY_BYTES));
        assert!(load_str(&text, "big.yaml").unwrap_err().to_string().contains("larger than"));
    }
}
