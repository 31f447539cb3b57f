//! Parses the guest's console log: the marker lines printed by the generated `/init`,
//! the libtest summaries between them, and the captured probe outputs.
//!
//! Markers (one per line, possibly preceded by console noise):
//! `GUARD-VM-BOOTED …`, `GUARD-VM-PROBE-BEGIN name=N`, `GUARD-VM-PROBE-END name=N rc=R`,
//! `GUARD-VM-TEST-BEGIN name=N`, `GUARD-VM-RESULT name=N rc=R`, `GUARD-VM-DONE`.

use std::collections::BTreeMap;

use crate::totals::Totals;

/// One test executable's outcome in the guest.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExeResult {
    /// Exit code, when the result line was printed.
    pub rc: Option<i32>,
    /// The libtest summaries printed between its markers.
    pub totals: Option<Totals>,
}

/// One captured command.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ProbeOutput {
    /// Its stdout.
    pub stdout: String,
    /// Its exit code, when the end marker was printed.
    pub rc: Option<i32>,
}

/// Everything the host learns from one boot.
#[derive(Debug, Default)]
pub struct Report {
    /// The `GUARD-VM-BOOTED` line, once /init ran.
    pub booted: Option<String>,
    /// True once `GUARD-VM-DONE` was printed.
    pub done: bool,
    /// Results by test name.
    pub tests: BTreeMap<String, ExeResult>,
    /// Probe outputs by name.
    pub probes: BTreeMap<String, ProbeOutput>,
}

/// What the parser is inside of.
enum Section {
    None,
    Test(String, String),
    Probe(String, String),
}

impl Report {
    /// Parses a console log.
    pub fn parse(log: &str) -> Self {
        let mut report = Self::default();
        let mut section = Section::None;
        for line in log.lines() {
            section = report.line(line, section);
        }
        report
    }

    fn line(&mut self, line: &str, section: Section) -> Section {
        let Some(at) = line.find("GUARD-VM-") else {
            return append(section, line);
        };
        let marker = &line[at..];
        let word = |key: &str| field(marker, key);
        if marker.starts_with("GUARD-VM-BOOTED") {
            self.booted = Some(marker.to_owned());
        } else if marker.starts_with("GUARD-VM-DONE") {
            self.done = true;
        } else if marker.starts_with("GUARD-VM-TEST-BEGIN") {
            let name = word("name").unwrap_or_default();
            self.tests.insert(name.clone(), ExeResult::default());
            return Section::Test(name, String::new());
        } else if marker.starts_with("GUARD-VM-RESULT") {
            self.end_test(word("name"), word("rc"), section);
            return Section::None;
        } else if marker.starts_with("GUARD-VM-PROBE-BEGIN") {
            return Section::Probe(word("name").unwrap_or_default(), String::new());
        } else if marker.starts_with("GUARD-VM-PROBE-END") {
            if let Section::Probe(name, stdout) = section {
                let rc = word("rc").and_then(|r| r.parse().ok());
                self.probes.insert(name, ProbeOutput { stdout, rc });
            }
            return Section::None;
        } else {
            return append(section, line);
        }
        section
    }

    fn end_test(&mut self, name: Option<String>, rc: Option<String>, section: Section) {
        let text = match section {
            Section::Test(_, text) => text,
            _ => String::new(),
        };
        let result = self.tests.entry(name.unwrap_or_default()).or_default();
        result.rc = rc.and_then(|r| r.parse().ok());
        result.totals = Totals::parse_libtest(&text);
    }

    /// Totals for the expected executables: each one's summaries, plus one failure for
    /// every executable that crashed, timed out or never ran.
    pub fn totals(&self, expected: &[String]) -> Totals {
        let mut totals = Totals::default();
        for name in expected {
            let (success, text) = match self.tests.get(name) {
                Some(r) => (r.rc == Some(0), summary_text(r.totals)),
                None => (false, String::new()),
            };
            totals += Totals::of_step(&format!("vm test {name}"), success, &text);
        }
        totals
    }
}

/// Re-renders parsed totals as a summary line so `Totals::of_step` can judge them.
fn summary_text(totals: Option<Totals>) -> String {
    totals.map_or_else(String::new, |t| {
        format!("test result: x. {} passed; {} failed;", t.passed, t.failed)
    })
}

/// Adds `line` to the current section's captured text.
fn append(section: Section, line: &str) -> Section {
    match section {
        Section::Test(name, mut text) => {
            text.push_str(line);
            text.push('\n');
            Section::Test(name, text)
        }
        Section::Probe(name, mut text) => {
            text.push_str(line);
            text.push('\n');
            Section::Probe(name, text)
        }
        Section::None => Section::None,
    }
}

/// The value of `key=value` in a marker line.
fn field(marker: &str, key: &str) -> Option<String> {
    let prefix = format!("{key}=");
    marker
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&prefix))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "SeaBIOS noise\n\
        GUARD-VM-BOOTED kernel=6.1.0-56-cloud-amd64 lsm=lockdown,capability,bpf\n\
        GUARD-VM-PROBE-BEGIN name=doctor\n\
        {\"lsm\": {\"usable\": true}}\n\
        \n\
        GUARD-VM-PROBE-END name=doctor rc=0\n\
        GUARD-VM-TEST-BEGIN name=capture\n\
        running 2 tests\n\
        test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n\
        GUARD-VM-RESULT name=capture rc=0\n\
        GUARD-VM-TEST-BEGIN name=crashes\n\
        [   3.1] some kernel line GUARD-VM-RESULT name=crashes rc=139\n\
        GUARD-VM-DONE\n";

    #[test]
    fn parses_markers_probes_and_summaries() {
        let report = Report::parse(LOG);
        assert!(
            report.done
                && report
                    .booted
                    .unwrap()
                    .contains("lsm=lockdown,capability,bpf")
        );
        let doctor = &report.probes["doctor"];
        assert_eq!(doctor.rc, Some(0));
        assert_eq!(doctor.stdout.trim(), "{\"lsm\": {\"usable\": true}}");
        assert_eq!(
            report.tests["capture"].totals,
            Some(Totals {
                passed: 2,
                failed: 0
            })
        );
        assert_eq!(report.tests["crashes"].rc, Some(139));
    }

    #[test]
    fn crashed_and_missing_executables_fail() {
        let report = Report::parse(LOG);
        let expected = [
            "capture".to_owned(),
            "crashes".to_owned(),
            "never-ran".to_owned(),
        ];
        assert_eq!(
            report.totals(&expected),
            Totals {
                passed: 2,
                failed: 2
            }
        );
    }
}
