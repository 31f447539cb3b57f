//! `cargo xtask test`: unit tests, host integration tests, the host doctor check and the
//! VM tests on every kernel, then the .deb under systemd in a VM (`vm_systemd`), ending
//! with exactly one line `N passed, N failed`.
//!
//! A step that cannot run (a build failure, a crash, a guest that hangs) counts as one
//! failure, so the final line is always printed and the exit status is non-zero.

use std::{path::Path, process::ExitCode};

use crate::{
    build,
    setup::Setup,
    test_bins::{self, TestExe, failed},
    totals::Totals,
    util::{self, output},
    vm_systemd, vm_test,
};

/// What one whole run's target directory needs: 3.3 GiB measured on a fresh clone
/// after the host stage (dev and release builds, every test binary), plus the VM
/// images and a margin. Below it the run warns before it starts.
const NEED_GIB: f64 = 6.0;

/// Runs every test and prints the totals line.
pub fn run(setup: &Setup, vm: &vm_test::Options) -> ExitCode {
    util::report_disk("before tests", NEED_GIB);
    let mut totals = util::timed("test: unit tests", || unit_tests(setup));
    let agent = build::agent(setup)
        .map_err(|e| totals += failed("build guard-agent", &e))
        .ok();
    let tests: Vec<TestExe> = test_bins::build(setup, &vm.tests_package).unwrap_or_else(|e| {
        totals += failed("build integration tests", &e);
        Vec::new()
    });
    totals += util::timed("test: host integration tests", || {
        test_bins::run_on_host(&tests)
    });
    if let Some(agent) = &agent {
        totals += host_doctor(agent);
        totals += util::timed("test: deploy tests", || deploy_tests(setup, agent));
    }
    let systemd_agent = agent.clone();
    totals += util::timed("test: vm tests", || {
        vm_test::run_with(setup, vm, agent, &tests).unwrap_or_else(|e| failed("vm tests", &e))
    });
    // The .deb under systemd on 6.12: with the whole run, or when 6.12 is asked for.
    if let Some(agent) = systemd_agent.filter(|_| vm.kernel.as_deref().is_none_or(|k| k == "6.12"))
    {
        totals += util::timed("test: systemd vm", || {
            vm_systemd::run(setup, &agent).unwrap_or_else(|e| failed("systemd vm", &e))
        });
    }
    util::report_disk("after tests", 0.0);
    println!("{totals}");
    if totals.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `cargo test --no-fail-fast` over the default members (guard-ebpf and the
/// integration tests are not among them on purpose). A compile error anywhere stops
/// that whole run before any test, so then each member is run on its own: one broken
/// crate costs one failure, not every other crate's tests.
fn unit_tests(setup: &Setup) -> Totals {
    let step = "unit tests";
    let whole = match util::tee(setup.cargo().args(["test", "--no-fail-fast"])) {
        Ok((status, text)) => (status.success(), text),
        Err(e) => return failed(step, &e),
    };
    if whole.0 || Totals::parse_libtest(&whole.1).is_some() {
        return Totals::of_step(step, whole.0, &whole.1);
    }
    eprintln!("[xtask] unit tests did not build: running each default member alone");
    match default_members(setup) {
        Ok(members) => members.iter().map(|p| package_tests(setup, p)).sum(),
        Err(e) => failed(step, &e),
    }
}

/// `cargo test --no-fail-fast -p PACKAGE`.
fn package_tests(setup: &Setup, package: &str) -> Totals {
    let step = format!("unit tests of {package}");
    match util::tee(
        setup
            .cargo()
            .args(["test", "--no-fail-fast", "-p", package]),
    ) {
        Ok((status, text)) => Totals::of_step(&step, status.success(), &text),
        Err(e) => failed(&step, &e),
    }
}

/// Names of the workspace's default members, from `cargo metadata`.
fn default_members(setup: &Setup) -> anyhow::Result<Vec<String>> {
    let text = output(
        setup
            .cargo()
            .args(["metadata", "--no-deps", "--format-version", "1"]),
    )?;
    let meta: serde_json::Value = serde_json::from_str(&text)?;
    let ids = meta["workspace_default_members"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let packages = meta["packages"].as_array().cloned().unwrap_or_default();
    let name_of = |id: &serde_json::Value| {
        let package = packages.iter().find(|p| p["id"] == *id)?;
        package["name"].as_str().map(str::to_owned)
    };
    Ok(ids.iter().filter_map(name_of).collect())
}

/// The deployment artefacts (systemd unit, .deb, man page, Kubernetes manifests),
/// checked against the release agent just built.
fn deploy_tests(setup: &Setup, agent: &Path) -> Totals {
    let step = "deploy tests";
    let mut cmd = setup.cargo();
    cmd.args(["test", "--release", "--no-fail-fast", "-p", "deploy-test"])
        .env("GUARD_AGENT_BIN", agent);
    match util::tee(&mut cmd) {
        Ok((status, text)) => Totals::of_step(step, status.success(), &text),
        Err(e) => failed(step, &e),
    }
}

/// On this host BPF LSM is not loadable: `guard-agent doctor --json` must say so.
fn host_doctor(agent: &Path) -> Totals {
    let step = "host doctor reports BPF LSM not usable";
    let verdict = output(util::as_root(agent).args(["doctor", "--json"]))
        .and_then(|text| vm_test::lsm_usable(&text));
    match verdict {
        Ok(false) => {
            util::note(format_args!("{step}: ok"));
            Totals::PASS
        }
        Ok(true) => failed(
            step,
            &anyhow::anyhow!("doctor says BPF LSM is usable on the host"),
        ),
        Err(e) => failed(step, &e),
    }
}
