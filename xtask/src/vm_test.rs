//! `cargo xtask vm-test [--kernel 6.1|6.12]`: the tests on real Debian kernels under qemu.
//!
//! Builds the release agent and the integration test executables, packs them into an
//! initramfs (`vm_image`), boots each kernel (`qemu`), and turns the console log into
//! totals (`vm_report`). `guard-agent doctor --json` runs first in the guest; the check
//! that it reports `lsm.usable == true` counts as one test.

use std::{path::PathBuf, time::Duration};

use anyhow::{Context as _, Result};
use serde_json::Value;

use crate::{
    build,
    kernels::{self, Kernel},
    qemu,
    setup::Setup,
    test_bins::{self, TestExe},
    totals::Totals,
    util,
    vm_image::{self, GUEST_AGENT, Payload, Probe},
    vm_report::Report,
};

/// Options of `cargo xtask vm-test`.
#[derive(clap::Args, Debug, Clone)]
pub struct Options {
    /// Kernel series to boot (default: every series).
    #[arg(long, value_parser = ["6.1", "6.12"])]
    pub kernel: Option<String>,
    /// Kill a guest that has not powered off after this many seconds.
    #[arg(long, default_value_t = 1500)]
    pub timeout: u64,
    /// Per test executable timeout inside the guest, in seconds.
    #[arg(long, default_value_t = 900)]
    pub test_timeout: u64,
    /// Also run this shell command in the guest and print its output (repeatable).
    #[arg(long = "exec", value_name = "CMD")]
    pub exec: Vec<String>,
    /// Package whose test executables run in the guest.
    #[arg(long, default_value = "integration-test")]
    pub tests_package: String,
    /// Also copy this host executable (and its libraries) into the guest (repeatable).
    #[arg(long = "host-bin", value_name = "PATH")]
    pub host_bins: Vec<PathBuf>,
    /// Boot without the agent (no doctor check): for working on the VM path itself.
    #[arg(long)]
    pub no_agent: bool,
}

/// Builds everything the guest needs, then boots each selected kernel.
pub fn run(setup: &Setup, opts: &Options) -> Result<Totals> {
    let agent = if opts.no_agent {
        None
    } else {
        Some(build::agent(setup)?)
    };
    let tests = test_bins::build(setup, &opts.tests_package)?;
    run_with(setup, opts, agent, &tests)
}

/// Boots each selected kernel with `agent` and `tests` already built.
pub fn run_with(
    setup: &Setup,
    opts: &Options,
    agent: Option<PathBuf>,
    tests: &[TestExe],
) -> Result<Totals> {
    let dir = util::target_dir().join("guard-vm");
    std::fs::create_dir_all(&dir)?;
    let probes = probes(agent.is_some(), &opts.exec);
    // Per process: other runs may share this target directory.
    let initrd = dir.join(format!("initramfs-{}.gz", std::process::id()));
    let selected = kernels::select(&setup.kernels, opts.kernel.as_deref())?;
    let modules: Vec<(String, Vec<u8>)> =
        selected.iter().filter_map(|k| ram_disk_module(k)).collect();
    let payload = Payload {
        agent: agent.as_deref(),
        tests,
        probes: &probes,
        test_timeout_secs: opts.test_timeout,
        host_bins: &opts.host_bins,
        modules: &modules,
    };
    util::timed("vm: initramfs", || vm_image::build(&payload, &initrd))?;
    let guest = Guest {
        dir,
        initrd,
        names: tests.iter().map(|t| t.name.clone()).collect(),
        with_agent: agent.is_some(),
        opts,
    };
    let mut totals = Totals::default();
    for kernel in selected {
        let result = guest.boot(kernel);
        totals +=
            result.unwrap_or_else(|e| test_bins::failed(&format!("vm {}", kernel.series), &e));
    }
    // Keep the last image at a stable path for booting it by hand.
    let _ = std::fs::rename(&guest.initrd, guest.dir.join("initramfs.gz"));
    Ok(totals)
}

/// The RAM-disk driver (`brd`) of `kernel`, decompressed, at its guest path: a block
/// device for the destructive demonstrations to aim at (the cloud kernels build it as a
/// module with no dependencies).
fn ram_disk_module(kernel: &Kernel) -> Option<(String, Vec<u8>)> {
    let root = kernel.vmlinuz.parent()?.parent()?.join("lib/modules");
    let release_dir = std::fs::read_dir(&root).ok()?.flatten().next()?.path();
    let release = release_dir.file_name()?.to_str()?.to_owned();
    let dir = release_dir.join("kernel/drivers/block");
    let data = if dir.join("brd.ko").exists() {
        std::fs::read(dir.join("brd.ko")).ok()?
    } else {
        let out = std::process::Command::new("xz")
            .arg("-dc")
            .arg(dir.join("brd.ko.xz"))
            .output()
            .ok()?;
        out.status.success().then_some(out.stdout)?
    };
    Some((format!("/lib/modules/{release}/brd.ko"), data))
}

/// The commands captured before the tests: the doctor, then `--exec` commands.
fn probes(with_agent: bool, exec: &[String]) -> Vec<Probe> {
    let doctor = with_agent.then(|| Probe {
        name: "doctor".into(),
        command: format!("{GUEST_AGENT} doctor --json"),
    });
    let extra = exec.iter().enumerate().map(|(i, c)| Probe {
        name: format!("exec-{}", i + 1),
        command: c.clone(),
    });
    doctor.into_iter().chain(extra).collect()
}

/// A built initramfs and what to expect from it.
struct Guest<'a> {
    dir: PathBuf,
    initrd: PathBuf,
    names: Vec<String>,
    with_agent: bool,
    opts: &'a Options,
}

impl Guest<'_> {
    /// Boots one kernel and judges its log. A guest whose kernel crashed is booted once
    /// more (its log kept as `console-SERIES.crash.log`): Debian's 6.12 under
    /// multi-threaded TCG now and then takes an `int3` Oops in `syscall_trace_enter`
    /// while the tests attach and detach the syscall tracepoints (a static key being
    /// patched in while another vCPU runs the old code), an emulator race that real
    /// hardware does not have. Once Debian's 6.1 locked up the same way (both vCPUs
    /// "stuck" for 20 minutes while a test attached the programs and hammered syscalls
    /// from another thread); `softlockup_panic=1` makes that a panic too. Only a crash
    /// is retried, never a failed test; the retry is printed, and a second crash fails
    /// the run. The guest's `/init` keeps the syscall tracepoints on for the whole run,
    /// which leaves far fewer such patches (see `vm_image::hold_syscall_tracing`).
    fn boot(&self, kernel: &Kernel) -> Result<Totals> {
        let log = self.dir.join(format!("console-{}.log", kernel.series));
        let (totals, crashed) = self.boot_once(kernel, &log)?;
        if !crashed {
            return Ok(totals);
        }
        let kept = self
            .dir
            .join(format!("console-{}.crash.log", kernel.series));
        let _ = std::fs::rename(&log, &kept);
        eprintln!(
            "[xtask] vm {}: the guest kernel crashed (see {}); booting it again, once",
            kernel.series,
            kept.display()
        );
        Ok(self.boot_once(kernel, &log)?.0)
    }

    /// One boot: its totals, and whether the guest kernel crashed.
    fn boot_once(&self, kernel: &Kernel, log: &std::path::Path) -> Result<(Totals, bool)> {
        util::note(format_args!(
            "booting {} ({}); console log: {}",
            kernel.series,
            kernel.package,
            log.display()
        ));
        let timeout = Duration::from_secs(self.opts.timeout);
        let boot = qemu::boot(
            &kernel.vmlinuz,
            &self.initrd,
            log,
            timeout,
            "GUARD-VM-BOOTED",
        )?;
        let report = Report::parse(&boot.log);
        let to_init = boot
            .first_marker_secs
            .map_or("never".into(), |s| format!("{s:.1}s"));
        let total = boot.elapsed.as_secs_f64();
        util::note(format_args!(
            "vm {}: /init after {to_init}, powered off after {total:.1}s",
            kernel.series
        ));
        print_exec_outputs(&report, self.opts.exec.len());
        let mut totals = report.totals(&self.names);
        if self.with_agent {
            totals += Totals::check(doctor_ok(&report, kernel.series));
        }
        if boot.timed_out || !report.done {
            let why = if boot.timed_out {
                "timed out"
            } else {
                "stopped before GUARD-VM-DONE"
            };
            eprintln!("[xtask] FAILED: vm {}: the guest {why}", kernel.series);
            totals += Totals::FAIL;
        }
        util::note(format_args!("vm {}: {totals}", kernel.series));
        Ok((
            totals,
            kernel_crashed(&boot.log, boot.timed_out, report.done),
        ))
    }
}

/// Whether the guest's own kernel died (an Oops or panic before the run finished).
fn kernel_crashed(log: &str, timed_out: bool, done: bool) -> bool {
    !done
        && !timed_out
        && log
            .lines()
            .any(|l| l.contains("Kernel panic - not syncing") || l.contains("Oops: "))
}

/// Checks that the guest's doctor found BPF LSM usable; prints why not otherwise.
fn doctor_ok(report: &Report, series: &str) -> bool {
    let verdict = report
        .probes
        .get("doctor")
        .context("the doctor probe did not run")
        .and_then(|p| {
            anyhow::ensure!(
                lsm_usable(&p.stdout)?,
                "doctor says BPF LSM is not usable: {}",
                p.stdout.trim()
            );
            Ok(())
        });
    match &verdict {
        Ok(()) => util::note(format_args!(
            "vm {series}: doctor reports BPF LSM usable: ok"
        )),
        Err(e) => eprintln!("[xtask] FAILED: vm {series}: doctor check: {e:#}"),
    }
    verdict.is_ok()
}

/// `lsm.usable` from `guard-agent doctor --json` output (the outermost `{…}` in `text`).
pub fn lsm_usable(text: &str) -> Result<bool> {
    let (start, end) = (text.find('{'), text.rfind('}'));
    let json = match (start, end) {
        (Some(s), Some(e)) if s < e => &text[s..=e],
        _ => anyhow::bail!("no JSON object in doctor output: {text:?}"),
    };
    let value: Value = serde_json::from_str(json).context("doctor output is not JSON")?;
    value["lsm"]["usable"]
        .as_bool()
        .context("doctor JSON has no boolean lsm.usable")
}

/// Prints what each `--exec` command wrote in the guest.
fn print_exec_outputs(report: &Report, count: usize) {
    for i in 1..=count {
        let name = format!("exec-{i}");
        match report.probes.get(&name) {
            Some(p) => println!("--- {name} (rc={:?}) ---\n{}", p.rc, p.stdout.trim_end()),
            None => println!("--- {name}: did not run ---"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lsm_usable() {
        let text = "warning: x\n{\n  \"lsm\": {\"usable\": true, \"reason\": \"ok\"}\n}\n";
        assert!(lsm_usable(text).unwrap());
        assert!(!lsm_usable(r#"{"lsm":{"usable":false}}"#).unwrap());
        assert!(lsm_usable(r#"{"btf":true}"#).is_err());
        assert!(lsm_usable("").is_err());
    }

    #[test]
    fn only_a_guest_kernel_crash_is_retried() {
        let oops = "test x ... [  153.650811] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI\n[  153.653735] Kernel panic - not syncing: Fatal exception\n";
        assert!(kernel_crashed(oops, false, false));
        assert!(
            !kernel_crashed(oops, true, false),
            "a timeout is a failure, not retried"
        );
        assert!(!kernel_crashed(oops, false, true), "a finished run stands");
        assert!(
            !kernel_crashed(
                "test x ... FAILED\nGUARD-VM-RESULT name=x rc=101\n",
                false,
                false
            ),
            "a failed test is not a crash"
        );
        // softlockup_panic=1 on the command line turns a lockup into a panic.
        let lockup = "test m ... [   52.572216] watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [guard-agent:170]\n[   52.6] Kernel panic - not syncing: softlockup: hung tasks\n";
        assert!(kernel_crashed(lockup, false, false));
    }
}
