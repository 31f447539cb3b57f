//! bpf-linker built against the nightly toolchain's own LLVM (PLATFORM.md).
//!
//! No LLVM 22 can be downloaded here, but the nightly ships `libLLVM.so`. We make a prefix
//! `llvm-prefix-<ver>` with a dummy `bin/llvm-config` and `lib/libLLVM.so` (plus a link
//! named like the library) pointing at it, then `cargo install bpf-linker` with
//! `LLVM_PREFIX` set. The binary keeps an rpath to the prefix, so both live in the cache,
//! keyed by the nightly's LLVM version: `bpf-linker-<ver>/bin/bpf-linker`.

use std::{
    fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::util::{exec, note, output};

/// The bpf-linker release we build.
const VERSION: &str = "0.13.0";

/// Returns the directory holding a working `bpf-linker`, building it when needed.
pub fn ensure(cache: &Path) -> Result<PathBuf> {
    let llvm = nightly_llvm_version()?;
    let root = cache.join(format!("bpf-linker-{llvm}"));
    let bin_dir = root.join("bin");
    let prefix = cache.join(format!("llvm-prefix-{llvm}"));
    make_prefix(&prefix)?;
    if works(&bin_dir.join("bpf-linker")) {
        return Ok(bin_dir);
    }
    let major = llvm.split('.').next().context("empty LLVM version")?;
    note(format_args!(
        "building bpf-linker {VERSION} against LLVM {llvm} (about 2 minutes)"
    ));
    exec(
        Command::new("cargo")
            .args(["install", "bpf-linker", "--force", "--version", VERSION])
            .args([
                "--no-default-features",
                "--features",
                &format!("llvm-{major}"),
            ])
            .arg("--root")
            .arg(&root)
            .env("LLVM_PREFIX", &prefix)
            .current_dir(cache),
    )?;
    if !works(&bin_dir.join("bpf-linker")) {
        bail!(
            "{} was built but does not run",
            bin_dir.join("bpf-linker").display()
        );
    }
    Ok(bin_dir)
}

/// True when `bin --version` runs and reports the version we build.
fn works(bin: &Path) -> bool {
    Command::new(bin)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(VERSION))
}

/// The nightly's LLVM version, from the `LLVM version: X.Y.Z` line of `rustc -vV`.
fn nightly_llvm_version() -> Result<String> {
    let text = output(Command::new("rustc").args(["+nightly", "-vV"]))?;
    parse_llvm_version(&text).context("no `LLVM version:` line in `rustc +nightly -vV`")
}

/// Extracts `X.Y.Z` from `rustc -vV` output.
fn parse_llvm_version(text: &str) -> Option<String> {
    let line = text.lines().find_map(|l| l.strip_prefix("LLVM version:"))?;
    Some(line.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Creates (or refreshes) the fake LLVM prefix pointing at the nightly's libLLVM.
fn make_prefix(prefix: &Path) -> Result<()> {
    let lib = nightly_libllvm()?;
    let name = lib.file_name().context("libLLVM has no file name")?;
    fs::create_dir_all(prefix.join("bin"))?;
    fs::create_dir_all(prefix.join("lib"))?;
    let config = prefix.join("bin/llvm-config");
    if !config.exists() {
        fs::write(&config, "#!/bin/sh\nexit 0\n")?;
        set_executable(&config)?;
    }
    replace_symlink(&lib, &prefix.join("lib/libLLVM.so"))?;
    replace_symlink(&lib, &prefix.join("lib").join(name))
}

/// The nightly sysroot's `lib/libLLVM.so.*` (its name carries the rustc version).
fn nightly_libllvm() -> Result<PathBuf> {
    let sysroot = output(Command::new("rustc").args(["+nightly", "--print", "sysroot"]))?;
    let lib_dir = Path::new(sysroot.trim()).join("lib");
    let entries =
        fs::read_dir(&lib_dir).with_context(|| format!("reading {}", lib_dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("libLLVM.so.") || name.starts_with("libLLVM-") {
            return Ok(path);
        }
    }
    bail!("no libLLVM.so.* in {}", lib_dir.display())
}

/// Points `link` at `target`, replacing whatever was there.
fn replace_symlink(target: &Path, link: &Path) -> Result<()> {
    if fs::read_link(link).is_ok_and(|t| t == target) {
        return Ok(());
    }
    let _ = fs::remove_file(link);
    symlink(target, link).with_context(|| format!("linking {}", link.display()))
}

/// Adds execute permission for everyone.
fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llvm_version_from_rustc() {
        let text = "rustc 1.97.0-nightly\nhost: x86_64-unknown-linux-gnu\nLLVM version: 22.1.4\n";
        assert_eq!(parse_llvm_version(text).as_deref(), Some("22.1.4"));
        assert_eq!(parse_llvm_version("rustc 1.0\n"), None);
    }
}
