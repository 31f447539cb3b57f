//! Boots a kernel and initramfs under qemu (TCG), streaming the serial console to the
//! terminal and a log file, and killing the guest after a timeout.
//!
//! Flags are exactly those PLATFORM.md records as working here; KVM guests hang at boot
//! on these machines, so it is software emulation with multi-threaded TCG.

use std::{
    fs::File,
    io::{BufRead as _, BufReader, Write as _},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

/// The kernel command line: serial console, quiet, BPF LSM enabled, reboot on panic.
const APPEND: &str = "console=ttyS0 quiet lsm=lockdown,capability,bpf panic=-1";

/// How a boot ended.
pub struct Boot {
    /// Everything the guest printed, with `\r` removed.
    pub log: String,
    /// True when the guest was killed after the timeout.
    pub timed_out: bool,
    /// Wall time from starting qemu to its exit.
    pub elapsed: Duration,
    /// Seconds from starting qemu to the first line containing `first_marker`.
    pub first_marker_secs: Option<f64>,
}

/// Boots `kernel` with `initrd`, copying the console to stdout and `log_path` (written
/// under a per-process name first, so concurrent runs in one target dir do not mix).
pub fn boot(
    kernel: &Path,
    initrd: &Path,
    log_path: &Path,
    timeout: Duration,
    first_marker: &str,
) -> Result<Boot> {
    let partial = log_path.with_extension(format!("{}.partial", std::process::id()));
    let mut log_file =
        File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let start = Instant::now();
    let mut child = command(kernel, initrd)
        .spawn()
        .context("starting qemu-system-x86_64")?;
    let lines = spawn_reader(&mut child)?;
    let (mut log, mut first_marker_secs) = (String::new(), None);
    let mut stdout = std::io::stdout();
    let timed_out = loop {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                if first_marker_secs.is_none() && line.contains(first_marker) {
                    first_marker_secs = Some(start.elapsed().as_secs_f64());
                }
                writeln!(stdout, "{line}")?;
                writeln!(log_file, "{line}")?;
                log.push_str(&line);
                log.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break false,
            Err(mpsc::RecvTimeoutError::Timeout) if start.elapsed() > timeout => break true,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    };
    if timed_out {
        let _ = child.kill();
        writeln!(log_file, "GUARD-VM-TIMEOUT after {}s", timeout.as_secs())?;
    }
    let status = child.wait()?;
    writeln!(log_file, "qemu exited: {status}")?;
    drop(log_file);
    std::fs::rename(&partial, log_path)?;
    Ok(Boot {
        log,
        timed_out,
        elapsed: start.elapsed(),
        first_marker_secs,
    })
}

/// The qemu command line. Stdin is /dev/null so the terminal is left alone.
fn command(kernel: &Path, initrd: &Path) -> Command {
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-accel",
        "tcg,thread=multi",
        "-cpu",
        "max",
        "-m",
        "1024",
        "-smp",
        "2",
    ])
    .args(["-nographic", "-no-reboot", "-kernel"])
    .arg(kernel)
    .arg("-initrd")
    .arg(initrd)
    .args(["-append", APPEND])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    cmd
}

/// Reads the child's stdout on a thread and sends each line (without `\r`) to a channel
/// that disconnects when qemu closes its output.
fn spawn_reader(child: &mut Child) -> Result<mpsc::Receiver<String>> {
    let stdout = child.stdout.take().context("qemu stdout")?;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            let text = strip_escapes(&String::from_utf8_lossy(&line));
            if tx.send(text).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// Drops `\r` and terminal escape sequences (SeaBIOS resets the terminal with `ESC c`
/// and turns off line wrapping with `ESC [?7l`), keeping the rest of the line.
fn strip_escapes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {}
            '\x1b' => skip_escape(&mut chars),
            c => out.push(c),
        }
    }
    out
}

/// Skips the rest of an escape sequence: `ESC [ params final` or `ESC x`.
fn skip_escape(chars: &mut std::str::Chars<'_>) {
    if chars.next() == Some('[') {
        for c in chars.by_ref() {
            if ('@'..='~').contains(&c) {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_seabios_escapes() {
        assert_eq!(
            strip_escapes("\x1bc\x1b[?7l\x1b[2JGUARD-VM-BOOTED x\r"),
            "GUARD-VM-BOOTED x"
        );
        assert_eq!(strip_escapes("plain"), "plain");
    }
}
