//! Policy errors: every problem found in one file, each with line, column and field path,
//! printed one per line as `FILE:LINE:COLUMN: PATH: MESSAGE`.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::tree::Loc;

/// One thing wrong with a policy file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where, in the file (`0:0` when the policy had no source text).
    pub loc: Loc,
    /// The offending field, e.g. `identities[0].mode`; empty for a YAML syntax error.
    pub path: String,
    /// What is wrong, in one line.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(loc: Loc, path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { loc, path: path.into(), message: message.into() }
    }

    /// This problem as one line, with `file` in front.
    #[must_use]
    pub fn display_in<'a>(&'a self, file: &'a str) -> impl fmt::Display + 'a {
        InFile { file, problem: self }
    }
}

struct InFile<'a> {
    file: &'a str,
    problem: &'a Problem,
}

impl fmt::Display for InFile<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.problem;
        write!(f, "{}:{}:{}: ", self.file, p.loc.line, p.loc.column)?;
        if !p.path.is_empty() {
            write!(f, "{}: ", p.path)?;
        }
        f.write_str(&p.message)
    }
}

/// Why a policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("{}: cannot read policy: {source}", path.display())]
    Read {
        /// The file asked for.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// The file was read but is not a valid policy; `problems` lists every problem found,
    /// in file order.
    #[error("{}", Lines { file, problems })]
    Invalid {
        /// The file name used in messages.
        file: String,
        /// Every problem, sorted by line and column; never empty.
        problems: Vec<Problem>,
    },
}

impl PolicyError {
    pub(crate) fn invalid(file: &str, mut problems: Vec<Problem>) -> Self {
        problems.sort_by(|a, b| a.loc.cmp(&b.loc).then_with(|| a.path.cmp(&b.path)));
        problems.dedup();
        Self::Invalid { file: file.to_owned(), problems }
    }

    /// Every problem found (empty for a read error).
    #[must_use]
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Read { .. } => &[],
            Self::Invalid { problems, .. } => problems,
        }
    }
}

struct Lines<'a> {
    file: &'a str,
    problems: &'a [Problem],
}

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}", p.display_in(self.file))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_problem_per_line_in_file_order() {
        let at = |line, column| Loc { line, column };
        let e = PolicyError::invalid(
            "policy.yaml",
            vec![
                Problem::new(at(12, 9), "identities[0].mode", "unknown mode \"enforcing\""),
                Problem::new(at(3, 1), "", "YAML syntax error: x"),
            ],
        );
        assert_eq!(
            e.to_string(),
            "policy.yaml:3:1: YAML syntax error: x\npolicy.yaml:12:9: identities[0].mode: unknown mode \"enforcing\""
        );
        assert_eq!(e.problems().len(), 2);
    }

    #[test]
    fn read_error_names_the_file() {
        let e = PolicyError::Read { path: "/nope.yaml".into(), source: io::ErrorKind::NotFound.into() };
        assert!(e.to_string().starts_with("/nope.yaml: cannot read policy: "));
        assert!(e.problems().is_empty());
    }
}
