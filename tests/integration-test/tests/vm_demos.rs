//! The destructive demonstrations, run only inside the qemu VM (where the machine at
//! risk is a disposable initramfs): under the built-in policy, root runs
//! `rm -rf --no-preserve-root /` and `dd` over a virtual disk (the RAM disk /dev/ram0
//! the VM's init creates), and both are stopped with the VM's files and the disk's
//! contents shown intact afterwards.
//!
//! On the host these tests are ignored; `cargo xtask vm-test` passes `--include-ignored`
//! in the guest. Each also refuses to run unless GUARD_IN_VM=1, so an
//! `--include-ignored` on a real machine cannot wipe it.

use std::{
    io::{Read as _, Seek as _, SeekFrom, Write as _},
    path::Path,
    process::Command,
};

use integration_test::{Agent, agent_bin, lsm, require_root};

fn in_vm_or_refuse() {
    assert_eq!(
        std::env::var("GUARD_IN_VM").as_deref(),
        Ok("1"),
        "this destructive demonstration runs only inside guard's qemu VM (cargo xtask vm-test)"
    );
    require_root();
}

/// Stopped: refused with EPERM under BPF LSM, killed by SIGKILL otherwise.
fn assert_stopped(result: std::io::Result<std::process::ExitStatus>, what: &str) {
    use std::os::unix::process::ExitStatusExt as _;
    match result {
        Err(e) => assert!(lsm() && e.raw_os_error() == Some(libc::EPERM), "{what}: {e}"),
        Ok(status) => assert_eq!(status.signal(), Some(libc::SIGKILL), "{what} ran: {status:?}"),
    }
}

/// Names in `/` and a few files the VM cannot work without.
fn snapshot() -> (Vec<String>, Vec<bool>) {
    let mut names: Vec<String> = std::fs::read_dir("/").unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let vital = ["/bin/busybox", "/guard/guard-agent", "/etc/passwd", "/usr/bin/rm", "/init"].iter().map(|p| Path::new(p).exists()).collect();
    (names, vital)
}

#[test]
#[ignore = "destructive: runs only inside the qemu VM (cargo xtask vm-test passes --include-ignored there)"]
fn rm_rf_no_preserve_root_is_stopped_and_the_files_stay() {
    in_vm_or_refuse();
    let before = snapshot();
    assert!(before.1.iter().all(|&v| v), "the VM's vital files exist before: {before:?}");
    let _ = Command::new(agent_bin()).arg("unload").status();
    let agent = Agent::start(&[]).unwrap(); // the built-in policy: enforce for everyone, root included
    assert_stopped(Command::new("/usr/bin/rm").args(["-rf", "--no-preserve-root", "/"]).status(), "rm -rf --no-preserve-root /");
    assert_stopped(Command::new("/usr/bin/rm").args(["--no-preserve-root", "-r", "-f", "//"]).status(), "rm -r -f //");
    let events = agent.stop().unwrap();
    assert_eq!(snapshot(), before, "every name in / and every vital file is still there");
    let denials = events.events.iter().filter(|e| e["filename"] == "/usr/bin/rm" && e["decision"] == "deny").count();
    assert!(denials >= 2, "both denials are reported");
}

#[test]
#[ignore = "destructive: runs only inside the qemu VM (cargo xtask vm-test passes --include-ignored there)"]
fn dd_over_a_virtual_disk_is_stopped_and_the_disk_keeps_its_data() {
    in_vm_or_refuse();
    let disk = Path::new("/dev/ram0");
    assert!(disk.exists(), "the VM's init loads brd, which makes /dev/ram0");
    let pattern: Vec<u8> = (0..65536u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut f = std::fs::OpenOptions::new().read(true).write(true).open(disk).unwrap();
    f.write_all(&pattern).unwrap();
    f.sync_all().unwrap();
    let _ = Command::new(agent_bin()).arg("unload").status();
    let agent = Agent::start(&[]).unwrap();
    assert_stopped(Command::new("/usr/bin/dd").args(["if=/dev/zero", "of=/dev/ram0", "bs=64k", "count=1"]).status(), "dd of=/dev/ram0");
    assert_stopped(Command::new("/usr/bin/dd").args(["of=/dev/ram0", "if=/dev/urandom", "bs=4096", "count=16", "conv=notrunc"]).status(), "dd of= first");
    let events = agent.stop().unwrap();
    let mut back = vec![0u8; pattern.len()];
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_exact(&mut back).unwrap();
    assert!(back == pattern, "the disk's first 64 KiB are what was written before");
    let denials: Vec<_> = events.events.iter().filter(|e| e["filename"] == "/usr/bin/dd" && e["decision"] == "deny").collect();
    assert_eq!(denials.len(), 2, "{denials:#?}");
    assert_eq!(denials[0]["class"], "disk_wipe");
}
