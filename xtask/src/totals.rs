//! Pass/fail totals parsed from libtest's `test result:` summary lines.

use std::{fmt, ops::AddAssign};

/// Numbers of passed and failed tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed (including whole steps that failed without a summary).
    pub failed: u64,
}

impl Totals {
    /// One passed test.
    pub const PASS: Self = Self {
        passed: 1,
        failed: 0,
    };
    /// One failed test.
    pub const FAIL: Self = Self {
        passed: 0,
        failed: 1,
    };

    /// A single check's outcome.
    pub fn check(ok: bool) -> Self {
        if ok { Self::PASS } else { Self::FAIL }
    }

    /// Sums every libtest summary line in `text`; `None` when there is none.
    pub fn parse_libtest(text: &str) -> Option<Self> {
        let mut sum: Option<Self> = None;
        for line in text.lines() {
            if let Some(t) = parse_summary_line(line) {
                *sum.get_or_insert_default() += t;
            }
        }
        sum
    }

    /// Totals of one step that ran a test harness: its summaries, plus one failure when
    /// the step failed (non-zero exit, crash, timeout) without reporting a failed test.
    pub fn of_step(step: &str, success: bool, text: &str) -> Self {
        let mut totals = Self::parse_libtest(text).unwrap_or_default();
        if !success && totals.failed == 0 {
            eprintln!("[xtask] FAILED: {step} failed without a failing test summary");
            totals.failed += 1;
        }
        totals
    }
}

impl AddAssign for Totals {
    fn add_assign(&mut self, rhs: Self) {
        self.passed += rhs.passed;
        self.failed += rhs.failed;
    }
}

impl std::iter::Sum for Totals {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), |mut sum, t| {
            sum += t;
            sum
        })
    }
}

impl fmt::Display for Totals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)
    }
}

/// Parses `test result: ok. 3 passed; 1 failed; 0 ignored; …` anywhere in a line.
fn parse_summary_line(line: &str) -> Option<Totals> {
    let rest = &line[line.find("test result: ")? + "test result: ".len()..];
    let (_, counts) = rest.split_once(". ")?;
    let mut totals = Totals::default();
    for part in counts.split(';') {
        let mut words = part.split_whitespace();
        let (Some(n), Some(what)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        match what {
            "passed" => totals.passed = n,
            "failed" => totals.failed = n,
            _ => {}
        }
    }
    Some(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_summary_lines() {
        let text = "running 3 tests\n\
            test result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
            \r[  1.2] test result: FAILED. 4 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out\r\n";
        assert_eq!(
            Totals::parse_libtest(text),
            Some(Totals {
                passed: 7,
                failed: 2
            })
        );
    }

    #[test]
    fn no_summary_is_none() {
        assert_eq!(
            Totals::parse_libtest("error[E0308]: mismatched types\n"),
            None
        );
    }

    #[test]
    fn failed_step_counts_once() {
        assert_eq!(Totals::of_step("x", false, ""), Totals::FAIL);
        let text = "test result: FAILED. 1 passed; 3 failed; 0 ignored";
        assert_eq!(
            Totals::of_step("x", false, text),
            Totals {
                passed: 1,
                failed: 3
            }
        );
        assert_eq!(Totals::of_step("x", true, ""), Totals::default());
    }

    #[test]
    fn displays_final_line() {
        assert_eq!(
            Totals {
                passed: 5,
                failed: 0
            }
            .to_string(),
            "5 passed, 0 failed"
        );
    }
}
