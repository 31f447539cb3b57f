//! The VM's initramfs: busybox, the agent, the test executables, their shared libraries
//! and a generated `/init` that runs everything and powers off.
//!
//! Guest layout: `/guard/guard-agent`, `/guard/tests/<name>`, this xtask's own executable
//! at `/guard/xtask` (for `guest-syscall-tracing`), busybox applets as
//! symlinks (`/bin/sh`, `/usr/bin/env`, …), libraries at the paths `ldd` reports.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::{initramfs::Archive, syscall_tracing::HOLDING, test_bins::TestExe, util::output};

/// Where the agent lives in the guest.
pub const GUEST_AGENT: &str = "/guard/guard-agent";
/// Where this xtask's own executable lives in the guest.
const GUEST_XTASK: &str = "/guard/xtask";

/// A command run in the guest whose stdout is captured for the host.
#[derive(Clone, Debug)]
pub struct Probe {
    /// Marker name (`[A-Za-z0-9_-]`).
    pub name: String,
    /// A shell command line, run by busybox `sh -c`.
    pub command: String,
}

/// What goes into the image.
pub struct Payload<'a> {
    /// The release agent, if built.
    pub agent: Option<&'a Path>,
    /// Test executables to run, in order.
    pub tests: &'a [TestExe],
    /// Commands to capture before the tests.
    pub probes: &'a [Probe],
    /// Per-executable timeout inside the guest, in seconds.
    pub test_timeout_secs: u64,
    /// Extra host executables, copied to the same path (with their libraries).
    pub host_bins: &'a [PathBuf],
    /// Kernel modules: (guest path, module bytes), loaded by `/init` for the running
    /// kernel (`/lib/modules/<release>/<name>.ko`).
    pub modules: &'a [(String, Vec<u8>)],
}

/// Host programs that replace busybox applets in the guest, so tests exec the same tools
/// as on a Debian host: busybox picks the applet from `argv[0]` (a busybox `true` run as
/// `true-by-fd` fails) and every applet's executable is `/bin/busybox`, which a policy
/// keyed on the executable would see. Those missing on the host are skipped.
const HOST_TOOLS: &[&str] = &[
    "/usr/bin/true",
    "/usr/bin/false",
    "/usr/bin/rm",
    "/usr/bin/ls",
    "/usr/bin/cat",
    "/usr/bin/dd",
    "/usr/bin/cp",
    "/usr/bin/mv",
    "/usr/bin/mkdir",
    "/usr/bin/touch",
    "/usr/bin/env",
    "/usr/bin/sleep",
    "/usr/bin/id",
    "/usr/bin/setpriv",
    "/usr/bin/curl",
];

/// Writes the gzip'd initramfs for `payload` to `out`.
pub fn build(payload: &Payload<'_>, out: &Path) -> Result<()> {
    let mut archive = Archive::default();
    base_layout(&mut archive)?;
    let xtask = std::env::current_exe().context("this xtask's executable")?;
    archive.host_file(GUEST_XTASK, &xtask, 0o755);
    let mut binaries: Vec<PathBuf> = vec![xtask];
    if let Some(agent) = payload.agent {
        archive.host_file(GUEST_AGENT, agent, 0o755);
        binaries.push(agent.to_path_buf());
    }
    for exe in payload.tests {
        archive.host_file(format!("/guard/tests/{}", exe.name), &exe.path, 0o755);
        binaries.push(exe.path.clone());
    }
    binaries.extend(host_tools(&mut archive, payload.host_bins)?);
    for lib in shared_libraries(&binaries)? {
        archive.host_file(&lib, std::fs::canonicalize(&lib)?, 0o755);
    }
    for (path, data) in payload.modules {
        archive.bytes(path, data.clone(), 0o644);
    }
    archive.bytes("/init", init_script(payload), 0o755);
    archive.write_gz(out)
}

/// Directories, device nodes, /etc files and busybox with its applet links.
fn base_layout(archive: &mut Archive) -> Result<()> {
    for dir in [
        "/proc", "/sys", "/dev", "/tmp", "/run", "/root", "/mnt", "/var/tmp",
    ] {
        archive.dir(dir);
    }
    archive.char_dev("/dev/console", 5, 1);
    archive.char_dev("/dev/null", 1, 3);
    archive.bytes("/etc/passwd", PASSWD, 0o644);
    // The host's CA bundle: TLS clients in the agent (the Kubernetes client, HTTPS
    // sinks) refuse to start without system roots, as on any real host.
    let cas = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if cas.exists() {
        archive.host_file(cas, cas, 0o644);
    }
    archive.bytes("/etc/group", GROUP, 0o644);
    archive.bytes(
        "/etc/hosts",
        "127.0.0.1 localhost guard-vm\n::1 localhost\n",
        0o644,
    );
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() {
        bail!(
            "{} missing (apt-get install busybox-static)",
            busybox.display()
        );
    }
    archive.host_file("/bin/busybox", busybox, 0o755);
    let applets = output(Command::new(busybox).arg("--list-full"))?;
    for applet in applets.lines().filter(|l| !l.is_empty()) {
        archive.symlink(format!("/{applet}"), "/bin/busybox");
    }
    Ok(())
}

/// Copies [`HOST_TOOLS`] present on the host and every `extra` (which must exist) into
/// the guest, `/usr/bin/x` also as `/bin/x`; returns them for the library scan.
fn host_tools(archive: &mut Archive, extra: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut copied = Vec::new();
    let present = HOST_TOOLS.iter().map(PathBuf::from).filter(|t| t.exists());
    for tool in present.chain(extra.iter().cloned()) {
        let real = std::fs::canonicalize(&tool)
            .with_context(|| format!("host tool {}", tool.display()))?;
        archive.host_file(&tool, &real, 0o755);
        if let Ok(rest) = tool.strip_prefix("/usr") {
            archive.host_file(rest, &real, 0o755);
        }
        copied.push(real);
    }
    Ok(copied)
}

const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";

/// The shared libraries (and dynamic loader) of `binaries`, as `ldd` reports them.
fn shared_libraries(binaries: &[PathBuf]) -> Result<BTreeSet<PathBuf>> {
    let mut libs = BTreeSet::new();
    for bin in binaries {
        let out = Command::new("ldd")
            .arg(bin)
            .output()
            .context("running ldd")?;
        // Static executables make ldd fail: they need nothing.
        libs.extend(parse_ldd(&String::from_utf8_lossy(&out.stdout)));
    }
    Ok(libs)
}

/// Absolute paths in `ldd` output: `libc.so.6 => /lib/…/libc.so.6 (0x…)` and
/// `/lib64/ld-linux-x86-64.so.2 (0x…)`.
fn parse_ldd(text: &str) -> impl Iterator<Item = PathBuf> + '_ {
    text.lines().filter_map(|line| {
        let right = line.split_once("=>").map_or(line, |(_, r)| r);
        let path = right.split_whitespace().next()?;
        path.starts_with('/').then(|| PathBuf::from(path))
    })
}

/// The guest's `/init`: mount everything, capture the probes, run each test executable,
/// print one result line per step and `GUARD-VM-DONE`, then power off.
fn init_script(payload: &Payload<'_>) -> String {
    let mut s = String::from(INIT_PRELUDE);
    s.push_str(&hold_syscall_tracing());
    for probe in payload.probes {
        s.push_str(&format!(
            "probe {} sh -c {}\n",
            probe.name,
            shell_quote(&probe.command)
        ));
    }
    s.push_str(&format!("T={}\n", payload.test_timeout_secs));
    for exe in payload.tests {
        s.push_str(&format!("run_test {}\n", exe.name));
    }
    s.push_str("echo GUARD-VM-DONE\npoweroff -f\n");
    s
}

/// Mounts, environment and the helpers `probe` and `run_test`.
const INIT_PRELUDE: &str = r#"#!/bin/sh
# Generated by `cargo xtask vm-test`: runs guard's tests in the guest and powers off.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
m() { mkdir -p "$3"; mount -t "$1" "$2" "$3" || echo "GUARD-VM-WARN mount $1 on $3 failed"; }
m proc proc /proc
m sysfs sysfs /sys
m devtmpfs devtmpfs /dev
m devpts devpts /dev/pts
m tmpfs tmpfs /dev/shm
m tmpfs tmpfs /tmp
m tmpfs tmpfs /run
m securityfs securityfs /sys/kernel/security
m bpf bpf /sys/fs/bpf
m tracefs tracefs /sys/kernel/tracing
m cgroup2 cgroup2 /sys/fs/cgroup
hostname guard-vm
ip link set lo up || echo "GUARD-VM-WARN loopback not up"
# A RAM disk (/dev/ram0): the virtual disk the destructive demonstrations aim dd at.
insmod "/lib/modules/$(uname -r)/brd.ko" rd_nr=1 rd_size=8192 || echo "GUARD-VM-WARN no brd module: no /dev/ram0"
echo "GUARD-VM-BOOTED kernel=$(uname -r) lsm=$(cat /sys/kernel/security/lsm 2>/dev/null)"
export GUARD_AGENT_BIN=/guard/guard-agent GUARD_IN_VM=1 RUST_BACKTRACE=1
probe() {
  name=$1; shift
  "$@" >/tmp/probe.out; rc=$?
  echo "GUARD-VM-PROBE-BEGIN name=$name"
  cat /tmp/probe.out; echo
  echo "GUARD-VM-PROBE-END name=$name rc=$rc"
}
run_test() {
  echo "GUARD-VM-TEST-BEGIN name=$1"
  # --include-ignored: the destructive demonstrations are #[ignore]d on the host and
  # run only here, where the machine at risk is this disposable VM.
  timeout "$T" "/guard/tests/$1" --test-threads=1 --include-ignored; rc=$?
  echo "GUARD-VM-RESULT name=$1 rc=$rc"
}
"#;

/// Starts `xtask guest-syscall-tracing` in the background and waits (up to 10 s) until it
/// holds the syscall tracepoints. With their probes registered once for the whole run,
/// the agents the tests start and stop attach to and detach from the syscall
/// tracepoints without the kernel live-patching its syscall entry code each time (a
/// static key and a static call, patched through `int3`): in the guest, with this on,
/// an agent's start and stop make 2 such patches instead of 6 of each kind (kprobes on
/// `arch_jump_label_transform_queue` and `__static_call_update`, Debian 6.12).
/// Multi-threaded TCG now and then runs a stale translation of the patched code: the
/// `int3` Oops in `syscall_trace_enter` that `vm_test::Guest::boot` retries. Hardware has
/// no such race, and the host tests still cover an attach that flips those keys.
fn hold_syscall_tracing() -> String {
    format!(
        r#"{GUEST_XTASK} guest-syscall-tracing >/tmp/syscall-tracing.out 2>&1 &
i=0
until grep -q '{HOLDING}' /tmp/syscall-tracing.out || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done
grep -q '{HOLDING}' /tmp/syscall-tracing.out || echo "GUARD-VM-WARN syscall tracepoints not held: $(cat /tmp/syscall-tracing.out)"
"#
    )
}

/// Quotes `s` as one word for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_paths() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        let libs: Vec<PathBuf> = parse_ldd(text).collect();
        assert_eq!(
            libs,
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("echo 'hi' $X"), r"'echo '\''hi'\'' $X'");
    }

    #[test]
    fn init_runs_probes_then_tests() {
        let probes = [Probe {
            name: "doctor".into(),
            command: "/guard/guard-agent doctor --json".into(),
        }];
        let tests = [TestExe {
            name: "cap".into(),
            path: "/x".into(),
            package_dir: "/".into(),
        }];
        let payload = Payload {
            agent: None,
            tests: &tests,
            probes: &probes,
            test_timeout_secs: 9,
            host_bins: &[],
            modules: &[],
        };
        let script = init_script(&payload);
        let (holder, probe, test) = (
            script.find("/guard/xtask guest-syscall-tracing").unwrap(),
            script.find("probe doctor sh -c").unwrap(),
            script.find("run_test cap").unwrap(),
        );
        assert!(holder < probe && probe < test && script.ends_with("echo GUARD-VM-DONE\npoweroff -f\n"));
    }
}
