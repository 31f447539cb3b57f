//! `cargo xtask vm-systemd` (and the last step of `cargo xtask test`): the `.deb` under
//! systemd, on a real Debian system booted under qemu.
//!
//! A Debian bookworm root file system made by `debootstrap` (minbase plus systemd, cached
//! under `~/.cache/guard/rootfs/` as a cpio archive) boots the newest Debian 6.12 kernel
//! with BPF LSM, systemd as init, entirely from the initramfs. An overlay adds the `.deb`
//! built from the release agent and `tests/systemd-vm/guard-systemd-test.sh`, run as a
//! service once `multi-user.target` is reached. The script installs the package and
//! reports one `GUARD-SYSTEMD-RESULT name=... ok=0|1` line per check; every check named
//! in [`CHECKS`] must be reported passed.

use std::{
    fs::File,
    io::{self, Write as _},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use anyhow::{Context as _, Result, bail};

use crate::{
    initramfs::Archive,
    kernels,
    qemu::{self, Machine},
    setup::Setup,
    totals::Totals,
    util::{self, output},
};

/// The guest script, from the repository.
const SCRIPT: &str = include_str!("../../tests/systemd-vm/guard-systemd-test.sh");

/// Every check the script reports, in order: a missing one is a failure.
pub const CHECKS: &[&str] = &[
    "install",
    "installed_not_started",
    "enable_now",
    "active",
    "lsm_path",
    "enforces",
    "event_in_journal",
    "restarted_after_sigkill",
    "no_gap_during_restart",
    "enforces_after_restart",
    "reload",
    "reload_applied",
    "reloaded_policy_enforces",
    "bad_reload_sent",
    "bad_policy_refused_with_position",
    "old_policy_stays",
    "still_enforces",
    "stop",
    "stopped_service_still_enforces",
    "unload",
    "unloaded_allows",
];

/// Debian release and packages of the root file system. Bump [`ROOTFS_VERSION`] when
/// either changes, so cached images are rebuilt.
const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";
const INCLUDE: &str = "systemd,systemd-sysv,dbus,procps";
const ROOTFS_VERSION: u32 = 1;

/// The initramfs' `/init`: copies the root file system into a tmpfs and switches to it,
/// so that `/` is a real mount as on an installed host (systemd's per-service mount
/// namespaces, `ProtectSystem=` and friends, cannot be set up on the initial rootfs).
const INIT: &str = "\
#!/bin/sh
set -e
mount -t tmpfs -o size=1536m,mode=0755 tmpfs /mnt
for d in /*; do
    case $d in /mnt|/proc|/sys|/dev|/run|/tmp|/init) ;; *) cp -a \"$d\" /mnt/ ;; esac
done
mkdir -p /mnt/proc /mnt/sys /mnt/dev /mnt/run /mnt/tmp /mnt/mnt
chmod 1777 /mnt/tmp
exec switch_root /mnt /sbin/init
";

/// The unit that runs the script once the system is up.
const TEST_UNIT: &str = "\
[Unit]
Description=guard: the .deb under systemd (cargo xtask vm-systemd)
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/guard/guard-systemd-test.sh
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
";

/// Builds the `.deb` from `agent`, boots, and judges the report.
pub fn run(setup: &Setup, agent: &Path) -> Result<Totals> {
    let cache = util::cache_dir()?;
    let rootfs = util::timed("vm-systemd: root file system", || {
        ensure_rootfs(&cache.join("rootfs"))
    })?;
    let dir = util::target_dir().join("guard-vm-systemd");
    std::fs::create_dir_all(&dir)?;
    let deb = util::timed("vm-systemd: .deb", || build_deb(agent, &dir.join("debian")))?;
    let initrd = dir.join(format!("initramfs-{}.gz", std::process::id()));
    util::timed("vm-systemd: initramfs", || {
        write_initrd(&rootfs, &deb, &initrd)
    })?;
    let kernel = kernels::select(&setup.kernels, Some("6.12"))?[0];
    let log = dir.join("console.log");
    util::note(format_args!(
        "booting {} with systemd; console log: {}",
        kernel.package,
        log.display()
    ));
    // The root file system unpacks into RAM; systemd's start under TCG takes a minute.
    // GUARD_VM_DIAG=1: the script first runs the unit's options one left out at a time
    // (for working on the unit itself).
    let append = if std::env::var_os("GUARD_VM_DIAG").is_some() {
        "systemd.show_status=0 guard.diag"
    } else {
        "systemd.show_status=0"
    };
    let machine = Machine {
        memory_mb: 2048,
        append,
    };
    let boot = qemu::boot_machine(
        &kernel.vmlinuz,
        &initrd,
        &log,
        Duration::from_secs(900),
        "GUARD-SYSTEMD-BEGIN",
        machine,
    );
    let _ = std::fs::remove_file(&initrd);
    let boot = boot?;
    util::note(format_args!(
        "vm-systemd: guest ran {:.0}s",
        boot.elapsed.as_secs_f64()
    ));
    Ok(judge(&boot.log, boot.timed_out))
}

/// One result per expected check; a check reported twice counts once (its last line).
fn judge(log: &str, timed_out: bool) -> Totals {
    let mut totals = Totals::default();
    for name in CHECKS {
        let needle = format!("GUARD-SYSTEMD-RESULT name={name} ok=");
        let ok = log.lines().rev().find_map(|l| {
            l.split_once(&needle)
                .map(|(_, v)| v.trim_start().starts_with('1'))
        });
        match ok {
            Some(true) => totals += Totals::PASS,
            Some(false) => {
                util::note(format_args!("FAILED: vm-systemd {name}"));
                totals += Totals::FAIL;
            }
            None => {
                util::note(format_args!("FAILED: vm-systemd {name}: not reported"));
                totals += Totals::FAIL;
            }
        }
    }
    if !log.contains("GUARD-SYSTEMD-DONE") {
        util::note(format_args!(
            "FAILED: vm-systemd: the guest script did not finish{}",
            if timed_out { " (timed out)" } else { "" }
        ));
        totals += Totals::FAIL;
    }
    util::note(format_args!(
        "vm-systemd: {} passed, {} failed",
        totals.passed, totals.failed
    ));
    totals
}

/// The cached root file system (an uncompressed newc cpio archive), made once.
fn ensure_rootfs(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let archive = dir.join(format!("{SUITE}-systemd-v{ROOTFS_VERSION}.cpio"));
    let _lock = util::lock_file(&dir.join(".lock"))?;
    if archive.exists() {
        return Ok(archive);
    }
    if !util::is_root() {
        bail!("debootstrap needs root: run cargo xtask vm-systemd as root");
    }
    let tree = dir.join("tree.partial");
    if tree.exists() {
        std::fs::remove_dir_all(&tree).with_context(|| format!("removing {}", tree.display()))?;
    }
    util::note(format_args!(
        "debootstrap {SUITE} ({INCLUDE}) into {} (about a minute)",
        tree.display()
    ));
    let out = Command::new("debootstrap")
        .args(["--variant=minbase", &format!("--include={INCLUDE}"), SUITE])
        .arg(&tree)
        .arg(MIRROR)
        .output()
        .context("running debootstrap (apt install debootstrap)")?;
    if !out.status.success() {
        bail!(
            "debootstrap failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    trim(&tree)?;
    let partial = archive.with_extension("cpio.partial");
    let file = File::create(&partial)?;
    // `find | cpio` keeps hard links, modes, owners and device nodes as debootstrap made them.
    let status = Command::new("sh")
        .arg("-c")
        .arg("find . -print0 | LC_ALL=C sort -z | cpio --null --quiet -o -H newc")
        .current_dir(&tree)
        .stdout(file)
        .status()
        .context("running cpio")?;
    if !status.success() {
        bail!("cpio failed archiving {}", tree.display());
    }
    std::fs::rename(&partial, &archive)?;
    std::fs::remove_dir_all(&tree)?;
    Ok(archive)
}

/// Drops what a test boot does not need, and what would only slow it down or fail.
fn trim(tree: &Path) -> Result<()> {
    for dir in [
        "usr/share/doc",
        "usr/share/man",
        "usr/share/locale",
        "usr/share/info",
        "var/cache/apt",
        "var/lib/apt/lists",
    ] {
        let d = tree.join(dir);
        if d.exists() {
            std::fs::remove_dir_all(&d)?;
            std::fs::create_dir_all(&d)?;
        }
    }
    // No udev in minbase: a getty waiting for its tty device would only time out.
    let mask = tree.join("etc/systemd/system/serial-getty@ttyS0.service");
    let _ = std::fs::remove_file(&mask);
    std::os::unix::fs::symlink("/dev/null", &mask)?;
    std::fs::write(tree.join("etc/hostname"), "guard-vm\n")?;
    Ok(())
}

/// `deploy/debian/build-deb.sh AGENT OUT`: the path it prints last.
fn build_deb(agent: &Path, out: &Path) -> Result<PathBuf> {
    let script = util::workspace_root().join("deploy/debian/build-deb.sh");
    let text = output(Command::new(&script).arg(agent).arg(out))?;
    let path = text
        .lines()
        .last()
        .map(PathBuf::from)
        .context("build-deb.sh printed nothing")?;
    if !path.exists() {
        bail!("build-deb.sh said {} but it does not exist", path.display());
    }
    Ok(path)
}

/// The root file system followed by the overlay, gzip'd: the kernel unpacks
/// concatenated archives in order, later members replacing earlier ones.
fn write_initrd(rootfs: &Path, deb: &Path, out: &Path) -> Result<()> {
    let mut overlay = Archive::default();
    overlay.host_file("/guard/guard-agent.deb", deb, 0o644);
    overlay.bytes("/init", INIT, 0o755);
    overlay.bytes("/guard/guard-systemd-test.sh", SCRIPT, 0o755);
    overlay.bytes(
        "/etc/systemd/system/guard-vm-test.service",
        TEST_UNIT,
        0o644,
    );
    overlay.symlink(
        "/etc/systemd/system/multi-user.target.wants/guard-vm-test.service",
        "../guard-vm-test.service",
    );
    let file = File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut gzip = Command::new("gzip")
        .args(["-1", "-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(file)
        .spawn()
        .context("starting gzip")?;
    {
        let mut stdin = io::BufWriter::new(gzip.stdin.take().context("gzip stdin")?);
        io::copy(&mut File::open(rootfs)?, &mut stdin)?;
        overlay.write_newc(&mut stdin)?;
        stdin.flush()?;
    }
    if !gzip.wait()?.success() {
        bail!("gzip failed writing {}", out.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_the_script_makes_is_expected_and_the_other_way_round() {
        let made: Vec<&str> = SCRIPT
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("check "))
            .filter_map(|rest| rest.split_whitespace().next())
            .collect();
        assert_eq!(made, CHECKS);
    }

    #[test]
    fn judging_counts_missing_failed_and_unfinished() {
        let all: String = CHECKS
            .iter()
            .map(|c| format!("GUARD-SYSTEMD-RESULT name={c} ok=1\n"))
            .collect();
        let done = format!("{all}GUARD-SYSTEMD-DONE\n");
        assert_eq!(
            judge(&done, false),
            Totals {
                passed: CHECKS.len() as u64,
                failed: 0
            }
        );
        let one_failed = done.replace("name=unload ok=1", "name=unload ok=0");
        assert_eq!(
            judge(&one_failed, false),
            Totals {
                passed: CHECKS.len() as u64 - 1,
                failed: 1
            }
        );
        let missing = done.replace("GUARD-SYSTEMD-RESULT name=stop ok=1\n", "");
        assert_eq!(
            judge(&missing, false),
            Totals {
                passed: CHECKS.len() as u64 - 1,
                failed: 1
            }
        );
        assert_eq!(
            judge(&all, true),
            Totals {
                passed: CHECKS.len() as u64,
                failed: 1
            },
            "no DONE line"
        );
    }
}
