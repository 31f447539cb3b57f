//! Builds a package's test executables without running them, and runs them on the host.
//!
//! `cargo test --release -p PKG --no-run --message-format=json-render-diagnostics` prints
//! one JSON message per artifact; every artifact built with the test profile that has an
//! `executable` is a libtest binary we can run here or copy into the VM.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use crate::{
    setup::Setup,
    totals::Totals,
    util::{self, output},
};

/// One libtest executable.
#[derive(Clone, Debug)]
pub struct TestExe {
    /// A short unique name (the cargo target name, sanitized).
    pub name: String,
    /// The executable on the host.
    pub path: PathBuf,
    /// The package directory (cargo test runs tests from there).
    pub package_dir: PathBuf,
}

/// Builds the tests of `package` in release and returns their executables.
pub fn build(setup: &Setup, package: &str) -> Result<Vec<TestExe>> {
    let text = util::timed(&format!("build: {package} tests (release)"), || {
        output(
            setup
                .cargo()
                .args(["test", "--release", "-p", package, "--no-run"])
                .args(["--message-format=json-render-diagnostics"]),
        )
    })?;
    let mut exes = parse_artifacts(&text);
    dedup_names(&mut exes);
    Ok(exes)
}

/// Test executables from cargo's JSON messages.
fn parse_artifacts(text: &str) -> Vec<TestExe> {
    let messages = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok());
    messages.filter_map(|m| artifact(&m)).collect()
}

/// A `compiler-artifact` message for a test-profile executable, if `m` is one.
fn artifact(m: &Value) -> Option<TestExe> {
    if m["reason"] != "compiler-artifact" || m["profile"]["test"] != true {
        return None;
    }
    let path = PathBuf::from(m["executable"].as_str()?);
    let manifest = Path::new(m["manifest_path"].as_str()?);
    let name = sanitize(m["target"]["name"].as_str()?);
    Some(TestExe {
        name,
        path,
        package_dir: manifest.parent()?.to_path_buf(),
    })
}

/// Keeps `[A-Za-z0-9_-]`, replacing anything else with `_`.
fn sanitize(name: &str) -> String {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    name.chars().map(|c| if ok(c) { c } else { '_' }).collect()
}

/// Makes names unique (a lib and a test target may share one) by numbering repeats.
fn dedup_names(exes: &mut [TestExe]) {
    let mut seen = std::collections::HashSet::new();
    for exe in exes {
        let base = exe.name.clone();
        let mut n = 2;
        while !seen.insert(exe.name.clone()) {
            exe.name = format!("{base}-{n}");
            n += 1;
        }
    }
}

/// Runs each executable as root with `--test-threads=1`, as `cargo test` would (from the
/// package directory), with `GUARD_AGENT_BIN` pointing at the release agent.
pub fn run_on_host(exes: &[TestExe]) -> Totals {
    let mut totals = Totals::default();
    for exe in exes {
        let mut cmd = util::as_root(&exe.path);
        cmd.arg("--test-threads=1")
            .current_dir(&exe.package_dir)
            .env("CARGO_MANIFEST_DIR", &exe.package_dir)
            .env("GUARD_AGENT_BIN", util::agent_bin());
        let step = format!("host test {}", exe.name);
        totals += match util::timed(&step, || util::tee(&mut cmd)) {
            Ok((status, text)) => Totals::of_step(&step, status.success(), &text),
            Err(e) => failed(&step, &e),
        };
    }
    totals
}

/// Reports a step that could not run at all and counts it as one failure.
pub fn failed(step: &str, err: &anyhow::Error) -> Totals {
    eprintln!("[xtask] FAILED: {step}: {err:#}");
    Totals::FAIL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_test_executables() {
        let text = r#"{"reason":"compiler-artifact","profile":{"test":true},"executable":"/t/release/deps/exec_capture-abc","manifest_path":"/w/tests/integration-test/Cargo.toml","target":{"name":"exec-capture","kind":["test"]}}
{"reason":"compiler-artifact","profile":{"test":false},"executable":null,"manifest_path":"/w/x/Cargo.toml","target":{"name":"x"}}
{"reason":"compiler-artifact","profile":{"test":true},"executable":"/t/release/deps/integration_test-1","manifest_path":"/w/tests/integration-test/Cargo.toml","target":{"name":"exec-capture","kind":["lib"]}}
{"reason":"build-finished","success":true}"#;
        let mut exes = parse_artifacts(text);
        dedup_names(&mut exes);
        let names: Vec<&str> = exes.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["exec-capture", "exec-capture-2"]);
        assert_eq!(exes[0].package_dir, Path::new("/w/tests/integration-test"));
    }
}
