//! Helpers shared by the deployment tests under `tests/`: where the repository is,
//! where the agent binary is, and running external tools (`systemd-analyze`,
//! `dpkg-deb`, `kubernetes-validate`) with their whole output captured.
//!
//! Nothing here is skipped quietly: a missing tool or binary is a test failure that
//! says what to install or build.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// A path under the repository root.
pub fn repo_path(rel: &str) -> PathBuf {
    repo_root().join(rel)
}

/// Reads a repository file to a string, panicking with its path.
pub fn read(rel: &str) -> String {
    let path = repo_path(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The release agent binary: `$GUARD_AGENT_BIN`, else `release/guard-agent` under
/// `$CARGO_TARGET_DIR` or the repository's `target/` (built by `cargo xtask build`).
/// Panics with the build command when it is missing.
pub fn agent_binary() -> PathBuf {
    let path = std::env::var_os("GUARD_AGENT_BIN").map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| repo_path("target"), PathBuf::from)
            .join("release/guard-agent")
    });
    assert!(path.is_file(), "{} is missing: run `cargo xtask build` first (or set GUARD_AGENT_BIN)", path.display());
    path
}

/// What a command did.
#[derive(Debug)]
pub struct Output {
    /// Exit code (`-1` when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Standard output and standard error together, for "fail on any output" checks.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `program args...`, panicking if it cannot be started (tool not installed).
pub fn run(program: &str, args: &[&str]) -> Output {
    run_cmd(Command::new(program).args(args))
}

/// Runs a prepared command, panicking if it cannot be started.
pub fn run_cmd(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (is it installed? see docs/deploy.md)"));
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Parses every YAML document of `text` (empty documents dropped) into JSON values.
pub fn yaml_docs(text: &str) -> Vec<serde_json::Value> {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(text).expect("valid YAML");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// The value of every `Key=value` line of a unit file's `key` (comments skipped), in order.
pub fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

/// Runs `systemd-analyze verify --man=no --root=ROOT guard-agent.service` and returns
/// everything it printed (the check is "no output at all": it exits 0 on some errors).
///
/// `root` must hold `usr/lib/systemd/system/guard-agent.service` and an executable
/// `usr/bin/guard-agent` (a staged or extracted package, or a stand-in). This adds what
/// verify resolves beyond the unit: the host's own unit files (the targets the unit is
/// ordered against) and `/bin/kill` for `ExecReload=`, without overwriting anything.
pub fn systemd_verify(root: &Path) -> String {
    let units = root.join("usr/lib/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    for entry in std::fs::read_dir("/usr/lib/systemd/system").expect("host has /usr/lib/systemd/system") {
        let entry = entry.unwrap();
        let dest = units.join(entry.file_name());
        if dest.symlink_metadata().is_ok() {
            continue;
        }
        let ty = entry.file_type().unwrap();
        if ty.is_file() {
            std::fs::copy(entry.path(), &dest).unwrap();
        } else if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &dest).unwrap();
        }
    }
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    if root.join("bin").symlink_metadata().is_err() {
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
    }
    let kill = ["/usr/bin/kill", "/bin/kill"].into_iter().find(|p| Path::new(p).is_file()).expect("kill(1) on the host");
    if root.join("usr/bin/kill").symlink_metadata().is_err() {
        std::fs::copy(kill, root.join("usr/bin/kill")).unwrap();
    }
    let root_arg = format!("--root={}", root.display());
    run("systemd-analyze", &["verify", "--man=no", &root_arg, "guard-agent.service"]).all()
}
