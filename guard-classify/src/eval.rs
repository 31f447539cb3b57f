//! Evaluation helpers (pure): the labelled corpus format and its scoring, Atomic Red Team
//! YAML parsing with placeholder filling. The `guard-eval` binary does the file I/O.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::{Context, IntentClass, UnknownClass, classify_shell};

/// One labelled line: the expected classes (empty = benign) and the command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Labelled {
    /// 1-based line number in the file.
    pub line: usize,
    /// Expected classes.
    pub expected: BTreeSet<IntentClass>,
    /// The shell line.
    pub command: String,
}

/// Errors reading evaluation inputs.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A labelled line is malformed.
    #[error("labelled corpus line {line}: {what}")]
    Labelled {
        /// Line number.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// A label is not an intent class.
    #[error("labelled corpus line {line}")]
    Class {
        /// Line number.
        line: usize,
        /// The bad label.
        #[source]
        source: UnknownClass,
    },
    /// An atomics file is not valid YAML of the expected shape.
    #[error("atomics YAML: {0}")]
    Yaml(String),
}

/// Parses `label<TAB>command` lines; `#` lines and blank lines are skipped.
///
/// # Errors
/// A line without a tab, or with an unknown class.
pub fn parse_labelled(text: &str) -> Result<Vec<Labelled>, EvalError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        let (label, command) = raw.split_once('\t').ok_or_else(|| EvalError::Labelled { line, what: "no TAB".into() })?;
        let mut expected = BTreeSet::new();
        if label != "-" {
            for l in label.split(',') {
                expected.insert(l.trim().parse().map_err(|source| EvalError::Class { line, source })?);
            }
        }
        out.push(Labelled { line, expected, command: command.to_owned() });
    }
    Ok(out)
}

/// True/false positives and false negatives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Predicted and expected.
    pub tp: usize,
    /// Predicted, not expected.
    pub fp: usize,
    /// Expected, not predicted.
    pub fn_: usize,
}

impl Counts {
    /// tp / (tp + fp); 1 when nothing was predicted.
    #[must_use]
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// tp / (tp + fn); 1 when nothing was expected.
    #[must_use]
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    fn add(&mut self, o: Self) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
    }
}

#[expect(clippy::cast_precision_loss, reason = "corpus counts are far below 2^52")]
fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// Scores of a labelled run.
#[derive(Clone, Debug, Default)]
pub struct Scores {
    /// Per class.
    pub per_class: BTreeMap<IntentClass, Counts>,
    /// Summed over classes.
    pub micro: Counts,
    /// Destructive-or-not decision (any class vs none).
    pub decision: Counts,
    /// Lines whose predicted classes differ from the expected ones.
    pub mistakes: Vec<(Labelled, BTreeSet<IntentClass>)>,
}

/// Classifies every line and compares with its labels.
#[must_use]
pub fn score(corpus: &[Labelled], ctx: &Context) -> Scores {
    let mut s = Scores::default();
    for c in IntentClass::ALL {
        s.per_class.insert(c, Counts::default());
    }
    for l in corpus {
        let got: BTreeSet<IntentClass> = classify_shell(&l.command, ctx).classes().into_iter().collect();
        for c in IntentClass::ALL {
            let e = l.expected.contains(&c);
            let g = got.contains(&c);
            let counts = Counts { tp: usize::from(e && g), fp: usize::from(g && !e), fn_: usize::from(e && !g) };
            if let Some(x) = s.per_class.get_mut(&c) {
                x.add(counts);
            }
            s.micro.add(counts);
        }
        let (e, g) = (!l.expected.is_empty(), !got.is_empty());
        s.decision.add(Counts { tp: usize::from(e && g), fp: usize::from(g && !e), fn_: usize::from(e && !g) });
        if got != l.expected {
            s.mistakes.push((l.clone(), got));
        }
    }
    s
}

#[derive(Debug, Deserialize)]
struct AtomicFile {
    attack_technique: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    atomic_tests: Vec<AtomicTest>,
}

#[derive(Debug, Deserialize)]
struct AtomicTest {
    name: String,
    #[serde(default)]
    supported_platforms: Vec<String>,
    #[serde(default)]
    input_arguments: BTreeMap<String, InputArg>,
    executor: Executor,
}

#[derive(Debug, Deserialize)]
struct InputArg {
    #[serde(default)]
    default: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Executor {
    name: String,
    #[serde(default)]
    command: Option<String>,
}

/// One runnable Linux sh/bash atomic test with placeholders filled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AtomicCase {
    /// `T1485`...
    pub technique: String,
    /// Upstream display name of the technique.
    pub technique_name: String,
    /// Test name.
    pub name: String,
    /// The command script.
    pub command: String,
}

/// Linux `sh`/`bash` tests of one atomics YAML file, `#{x}` filled from defaults.
///
/// # Errors
/// The YAML does not parse into the atomics shape.
pub fn parse_atomics(yaml: &str) -> Result<Vec<AtomicCase>, EvalError> {
    let file: AtomicFile = serde_saphyr::from_str(yaml).map_err(|e| EvalError::Yaml(e.to_string()))?;
    Ok(file
        .atomic_tests
        .into_iter()
        .filter(|t| t.supported_platforms.iter().any(|p| p == "linux") && matches!(t.executor.name.as_str(), "sh" | "bash"))
        .filter_map(|t| {
            let cmd = t.executor.command?;
            let args: BTreeMap<String, String> = t
                .input_arguments
                .into_iter()
                .map(|(k, v)| {
                    let d = match v.default {
                        Some(serde_json::Value::String(s)) => s,
                        Some(other) => other.to_string(),
                        None => String::new(),
                    };
                    (k, d)
                })
                .collect();
            Some(AtomicCase {
                technique: file.attack_technique.clone(),
                technique_name: file.display_name.clone(),
                name: t.name,
                command: fill_placeholders(&cmd, &args),
            })
        })
        .collect())
}

/// Replaces every `#{name}` with its value (unknown names are left as they are).
#[must_use]
pub fn fill_placeholders(cmd: &str, args: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(cmd.len());
    let mut rest = cmd;
    while let Some(start) = rest.find("#{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) if args.contains_key(&after[..end]) => {
                out.push_str(&args[&after[..end]]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("#{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelled_format() {
        let c = parse_labelled("# c\n-\tls\nbulk_delete,audit_tamper\trm -rf /var/log\n").unwrap();
        assert_eq!(c.len(), 2);
        assert!(c[0].expected.is_empty());
        assert_eq!(c[1].expected.len(), 2);
        assert!(parse_labelled("nope\tls").is_err());
        assert!(parse_labelled("ls").is_err());
    }

    #[test]
    fn placeholders() {
        let mut a = BTreeMap::new();
        a.insert("file".to_owned(), "/tmp/x".to_owned());
        assert_eq!(fill_placeholders("rm #{file} #{other}", &a), "rm /tmp/x #{other}");
    }

    #[test]
    fn atomics_yaml() {
        let y = "attack_technique: T1\ndisplay_name: D\natomic_tests:\n- name: a\n  supported_platforms: [linux]\n  input_arguments:\n    n:\n      description: x\n      type: integer\n      default: 3\n  executor:\n    name: sh\n    command: |\n      echo #{n}\n- name: b\n  supported_platforms: [windows]\n  executor:\n    name: powershell\n    command: x\n";
        let cases = parse_atomics(y).unwrap();
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].command.trim(), "echo 3");
    }
}
