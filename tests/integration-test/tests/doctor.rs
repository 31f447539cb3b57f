//! `guard-agent doctor` tells the truth about the kernel it runs on: BPF LSM usable on
//! the Debian kernels booted with `lsm=...,bpf` under qemu, refused on the build host
//! (whose kernel refuses LSM program loads; see shared/PLATFORM.md), and the signal
//! path chosen where LSM is not usable.
//!
//! Which answer is right depends on the machine, so the harness says what it expects:
//! `GUARD_EXPECT_LSM=1|0`, defaulting to 1 inside the VM (`GUARD_IN_VM=1`) and 0 elsewhere.

use std::process::Command;

use integration_test::{agent_bin, parse_line, require_root};

fn expect_lsm() -> bool {
    match std::env::var("GUARD_EXPECT_LSM") {
        Ok(v) => v == "1",
        Err(_) => std::env::var("GUARD_IN_VM").is_ok_and(|v| v == "1"),
    }
}

#[test]
fn doctor_reports_the_enforcement_path_this_kernel_allows() {
    require_root();
    let out = Command::new(agent_bin())
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = parse_line(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    assert_eq!(report["btf"]["usable"], true, "{report}");
    assert_eq!(report["ring_buffer"]["usable"], true, "{report}");
    assert_eq!(report["tracepoints"]["usable"], true, "{report}");
    assert_eq!(report["send_signal"]["usable"], true, "{report}");
    if expect_lsm() {
        assert_eq!(
            report["lsm"]["usable"], true,
            "BPF LSM should be usable here: {report}"
        );
        assert_eq!(report["enforcement_path"], "lsm");
    } else {
        assert_eq!(
            report["lsm"]["usable"], false,
            "this host refuses LSM programs: {report}"
        );
        assert_eq!(report["enforcement_path"], "signal");
        assert!(
            !report["lsm"]["detail"].as_str().unwrap().is_empty(),
            "a reason is given"
        );
    }
}
