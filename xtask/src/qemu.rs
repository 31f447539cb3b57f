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

/// The kernel command line: serial console, quiet, BPF LSM enabled, reboot on panic
/// (qemu exits), and a soft lockup is a panic: a guest whose vCPUs stop making progress
/// (seen once on 6.1 under multi-threaded TCG: both vCPUs "stuck" for 20 minutes) then
/// ends at once as a crash instead of running into the timeout, and the runner boots it
/// once more.
const APPEND: &str = "console=ttyS0 quiet lsm=lockdown,capability,bpf panic=-1 softlockup_panic=1";

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

/// The guest machine: memory and what the kernel command line adds to [`APPEND`].
#[derive(Clone, Copy, Debug)]
pub struct Machine<'a> {
    pub memory_mb: u32,
    pub append: &'a str,
}

/// The machine of the test guests: 1 GiB, the command line as it is.
pub const DEFAULT_MACHINE: Machine<'static> = Machine {
    memory_mb: 1024,
    append: "",
};

/// Boots `kernel` with `initrd`, copying the console to stdout and `log_path` (written
/// under a per-process name first, so concurrent runs in one target dir do not mix).
pub fn boot(
    kernel: &Path,
    initrd: &Path,
    log_path: &Path,
    timeout: Duration,
    first_marker: &str,
) -> Result<Boot> {
    boot_machine(
        kernel,
        initrd,
        log_path,
        timeout,
        first_marker,
        DEFAULT_MACHINE,
    )
}

/// [`boot`] on a given [`Machine`].
pub fn boot_machine(
    kernel: &Path,
    initrd: &Path,
    log_path: &Path,
    timeout: Duration,
    first_marker: &str,
    machine: Machine<'_>,
) -> Result<Boot> {
    let partial = log_path.with_extension(format!("{}.partial", std::process::id()));
    if let Some(dir) = log_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut console = Console::create(&partial, first_marker)?;
    let mut child = command(kernel, initrd, machine)
        .spawn()
        .context("starting qemu-system-x86_64")?;
    let lines = spawn_reader(&mut child)?;
    let timed_out = loop {
        match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => console.line(&line)?,
            Err(mpsc::RecvTimeoutError::Disconnected) => break false,
            Err(mpsc::RecvTimeoutError::Timeout) if console.start.elapsed() > timeout => {
                break true;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    };
    if timed_out {
        let _ = child.kill();
        writeln!(
            console.file,
            "GUARD-VM-TIMEOUT after {}s",
            timeout.as_secs()
        )?;
    }
    let status = child.wait()?;
    writeln!(console.file, "qemu exited: {status}")?;
    if let Err(e) = std::fs::rename(&partial, log_path) {
        // The results are in memory; losing the log file must not lose them.
        eprintln!(
            "[xtask] warning: could not move the console log to {}: {e}",
            log_path.display()
        );
    }
    Ok(Boot {
        elapsed: console.start.elapsed(),
        log: console.log,
        timed_out,
        first_marker_secs: console.first_marker_secs,
    })
}

/// Where console lines go: the terminal, the log file and memory.
struct Console<'a> {
    file: File,
    log: String,
    start: Instant,
    first_marker: &'a str,
    first_marker_secs: Option<f64>,
}

impl<'a> Console<'a> {
    fn create(path: &Path, first_marker: &'a str) -> Result<Self> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let start = Instant::now();
        Ok(Self {
            file,
            log: String::new(),
            start,
            first_marker,
            first_marker_secs: None,
        })
    }

    fn line(&mut self, line: &str) -> Result<()> {
        if self.first_marker_secs.is_none() && line.contains(self.first_marker) {
            self.first_marker_secs = Some(self.start.elapsed().as_secs_f64());
        }
        writeln!(std::io::stdout(), "{line}")?;
        writeln!(self.file, "{line}")?;
        self.log.push_str(line);
        self.log.push('\n');
        Ok(())
    }
}

/// The qemu command line. Stdin is /dev/null so the terminal is left alone.
fn command(kernel: &Path, initrd: &Path, machine: Machine<'_>) -> Command {
    let mut cmd = Command::new("qemu-system-x86_64");
    let mem = machine.memory_mb.to_string();
    cmd.args([
        "-accel",
        "tcg,thread=multi",
        "-cpu",
        "max",
        "-m",
        mem.as_str(),
        "-smp",
        "2",
    ])
    .args(["-nographic", "-no-reboot", "-kernel"])
    .arg(kernel)
    .arg("-initrd")
    .arg(initrd)
    .arg("-append")
    .arg(format!("{APPEND} {}", machine.append).trim_end())
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
