//! Shared helpers: running commands, well-known paths, privilege checks.

use std::{
    ffi::OsString,
    io::{BufRead as _, BufReader, Write as _},
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
    time::Instant,
};

use anyhow::{Context as _, Result, bail};

/// Runs `cmd` to completion with inherited stdio; fails unless it exits with 0.
pub fn exec(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("failed to start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// Runs `cmd` and returns its stdout (stderr is inherited); fails unless it exits with 0.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("failed to start {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", out.status);
    }
    String::from_utf8(out.stdout).with_context(|| format!("{cmd:?} printed invalid UTF-8"))
}

/// Runs `cmd`, copying its stdout to ours line by line while also capturing it.
/// Returns the exit status and the captured text; only a failure to start is an error.
pub fn tee(cmd: &mut Command) -> Result<(ExitStatus, String)> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("failed to start {cmd:?}"))?;
    let mut captured = String::new();
    let reader = BufReader::new(child.stdout.take().context("child stdout")?);
    let mut out = std::io::stdout().lock();
    for line in reader.split(b'\n') {
        let line = String::from_utf8_lossy(&line?).into_owned();
        writeln!(out, "{line}")?;
        out.flush()?;
        captured.push_str(&line);
        captured.push('\n');
    }
    drop(out);
    Ok((child.wait()?, captured))
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Cargo's target directory, honouring `CARGO_TARGET_DIR`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// The release agent binary produced by `cargo xtask build`.
pub fn agent_bin() -> PathBuf {
    target_dir().join("release/guard-agent")
}

/// `$XDG_CACHE_HOME/guard` or `~/.cache/guard`: outside the repository, so a fresh
/// clone on the same machine reuses bpf-linker and the kernels.
pub fn cache_dir() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME").context("neither XDG_CACHE_HOME nor HOME set")?;
            PathBuf::from(home).join(".cache")
        }
    };
    let dir = base.join("guard");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Takes an exclusive `flock` on `path` (created if needed), waiting for other holders:
/// two set-ups on one machine must not build bpf-linker into the same directory at once.
/// The lock is released when the returned file is dropped.
pub fn lock_file(path: &Path) -> Result<std::fs::File> {
    use std::os::fd::AsRawFd as _;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    // SAFETY: flock on a valid, open descriptor.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        bail!(
            "locking {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(file)
}

/// True when this process runs with effective uid 0.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A command that runs `program` as root: directly when we are root, else via sudo.
pub fn as_root(program: impl AsRef<Path>) -> Command {
    if is_root() {
        Command::new(program.as_ref())
    } else {
        let mut cmd = Command::new("sudo");
        cmd.arg("--preserve-env").arg(program.as_ref());
        cmd
    }
}

/// `PATH` with `dir` in front.
pub fn path_with(dir: &Path) -> Result<OsString> {
    let current = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&current));
    std::env::join_paths(dirs).context("joining PATH")
}

/// Prints how long a named step took, on stderr, prefixed so it stands out in CI logs.
pub fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let value = f();
    eprintln!("[xtask] {what}: {:.1}s", start.elapsed().as_secs_f64());
    value
}

/// Prints a progress note on stderr.
pub fn note(msg: impl std::fmt::Display) {
    eprintln!("[xtask] {msg}");
}

/// Bytes free to an unprivileged writer on the filesystem holding `path` (its nearest
/// existing ancestor), or None when statvfs fails.
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt as _;
    let existing = path.ancestors().find(|p| p.exists())?;
    let c = std::ffi::CString::new(existing.as_os_str().as_bytes()).ok()?;
    // SAFETY: zeroed statvfs is a valid out-parameter; c is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Free space on the target directory's filesystem, in GiB, for the step log; with a
/// loud warning below `need_gib`, so a full disk reads as what it is and not as a
/// compiler error in the middle of a build.
pub fn report_disk(when: &str, need_gib: f64) {
    let dir = target_dir();
    let Some(free) = free_bytes(&dir) else { return };
    let gib = free as f64 / (1u64 << 30) as f64;
    note(format_args!(
        "disk {when}: {gib:.1} GiB free for {}",
        dir.display()
    ));
    if gib < need_gib {
        note(format_args!(
            "WARNING: a whole `cargo xtask test` needs about {need_gib:.0} GiB for the \
             target directory; builds below may fail with ENOSPC (os error 28)"
        ));
    }
}
