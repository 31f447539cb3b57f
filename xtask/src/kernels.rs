//! Debian bookworm cloud kernels for the VM tests, looked up by name and cached.
//!
//! For each series the newest `linux-image-…-cloud-amd64-unsigned` package is found with
//! `apt-cache search --names-only` (never hard-coded), fetched with `apt-get download`
//! and unpacked with `dpkg -x` into `<cache>/<package>/` (boot/ and lib/modules/).

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::{
    setup::apt_get,
    util::{exec, is_root, note, output},
};

/// A kernel series we test on: its short name and the apt-cache regex for its packages.
pub struct Series {
    /// What `--kernel` accepts, e.g. `6.1`.
    pub name: &'static str,
    /// Anchored regex for `apt-cache search --names-only`.
    pattern: &'static str,
}

/// The Debian bookworm series with BPF LSM and BTF.
pub const SERIES: &[Series] = &[
    Series {
        name: "6.1",
        pattern: r"^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$",
    },
    Series {
        name: "6.12",
        pattern: r"^linux-image-6\.12\.[0-9].*-cloud-amd64-unsigned$",
    },
];

/// A cached, unpacked kernel.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// Series name, e.g. `6.12`.
    pub series: &'static str,
    /// Debian package name it came from.
    pub package: String,
    /// The bootable image.
    pub vmlinuz: PathBuf,
}

/// Makes sure the newest kernel of every series is cached and returns them.
pub fn ensure(dir: &Path) -> Result<Vec<Kernel>> {
    fs::create_dir_all(dir)?;
    let mut refreshed = false;
    SERIES
        .iter()
        .map(|s| ensure_series(dir, s, &mut refreshed))
        .collect()
}

/// The newest kernel of one series, downloading it when not cached.
fn ensure_series(dir: &Path, series: &Series, refreshed: &mut bool) -> Result<Kernel> {
    let mut package = newest_package(series.pattern)?;
    if package.is_none() && !*refreshed {
        note("no kernel packages in the apt lists: running apt-get update");
        apt_get(&["update", "-q"])?;
        *refreshed = true;
        package = newest_package(series.pattern)?;
    }
    let Some(package) = package.or_else(|| newest_cached(dir, series)) else {
        bail!("no package matches {} and none is cached", series.pattern);
    };
    let unpacked = dir.join(&package);
    if !unpacked.join(".complete").exists() {
        download(dir, &package)?;
    }
    Ok(Kernel {
        series: series.name,
        vmlinuz: find_vmlinuz(&unpacked)?,
        package,
    })
}

/// The newest package name matching `pattern` in the local apt lists, if any.
fn newest_package(pattern: &str) -> Result<Option<String>> {
    let text = output(Command::new("apt-cache").args(["search", "--names-only", pattern]))?;
    let names = text.lines().filter_map(|l| l.split_whitespace().next());
    Ok(names
        .max_by(|a, b| version_key(a).cmp(&version_key(b)))
        .map(str::to_owned))
}

/// The newest already-unpacked kernel of `series` (used when the apt lists have none).
fn newest_cached(dir: &Path, series: &Series) -> Option<String> {
    let prefix = format!("linux-image-{}", series.name);
    let entries = fs::read_dir(dir).ok()?;
    let names = entries.filter_map(|e| e.ok()?.file_name().into_string().ok());
    let cached = names.filter(|n| n.starts_with(&prefix) && dir.join(n).join(".complete").exists());
    cached
        .filter(|n| n[prefix.len()..].starts_with(['.', '-']))
        .max_by(|a, b| version_key(a).cmp(&version_key(b)))
}

/// The numbers in a package name, in order: compares `6.1.0-9` below `6.1.0-56`.
fn version_key(name: &str) -> Vec<u64> {
    name.split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// Downloads and unpacks `package` into `<dir>/<package>/`.
fn download(dir: &Path, package: &str) -> Result<()> {
    note(format_args!("downloading kernel {package}"));
    let tmp = dir.join(format!(".tmp-{package}"));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    let mut get = Command::new("apt-get");
    if is_root() {
        // The _apt sandbox user cannot write into root's cache directory.
        get.args(["-o", "APT::Sandbox::User=root"]);
    }
    exec(get.args(["download", "-q", package]).current_dir(&tmp))?;
    let deb = find_file(&tmp, |n| n.ends_with(".deb"))?;
    exec(
        Command::new("dpkg")
            .arg("-x")
            .arg(&deb)
            .arg(tmp.join("root")),
    )?;
    let unpacked = dir.join(package);
    let _ = fs::remove_dir_all(&unpacked);
    fs::rename(tmp.join("root"), &unpacked)?;
    fs::remove_dir_all(&tmp)?;
    fs::write(unpacked.join(".complete"), package)?;
    Ok(())
}

/// `boot/vmlinuz-*` inside an unpacked kernel package.
fn find_vmlinuz(unpacked: &Path) -> Result<PathBuf> {
    find_file(&unpacked.join("boot"), |n| n.starts_with("vmlinuz-"))
}

/// The first entry of `dir` whose name satisfies `pred`.
fn find_file(dir: &Path, pred: impl Fn(&str) -> bool) -> Result<PathBuf> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.file_name().and_then(|n| n.to_str()).is_some_and(&pred) {
            return Ok(path);
        }
    }
    bail!("nothing matching in {}", dir.display())
}

/// Kernels of the requested series (all when `wanted` is `None`).
pub fn select<'k>(kernels: &'k [Kernel], wanted: Option<&str>) -> Result<Vec<&'k Kernel>> {
    let chosen: Vec<&Kernel> = kernels
        .iter()
        .filter(|k| wanted.is_none_or(|w| k.series == w))
        .collect();
    if chosen.is_empty() {
        let known: Vec<&str> = SERIES.iter().map(|s| s.name).collect();
        bail!("unknown kernel {wanted:?}; known: {}", known.join(", "));
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_key_orders_numerically() {
        let a = "linux-image-6.1.0-9-cloud-amd64-unsigned";
        let b = "linux-image-6.1.0-56-cloud-amd64-unsigned";
        assert!(version_key(a) < version_key(b));
        let c = "linux-image-6.12.107+deb12-cloud-amd64-unsigned";
        let d = "linux-image-6.12.117+deb12-cloud-amd64-unsigned";
        assert!(version_key(c) < version_key(d));
    }
}
