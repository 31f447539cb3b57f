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
const APT_PACKAGES: &[&str] = &["qemu-system-x86", "busybox-static", "cpio"];

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
