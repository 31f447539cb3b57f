//! Enforcement on the real kernel: a test policy protects paths this test created, and
//! test uids in enforce, strict and audit mode run destructive commands against them.
//! On this host the signal path stops them (SIGKILL before the first instruction);
//! under qemu with BPF LSM they are refused with EPERM. Nothing outside the test's own
//! directory is ever a target: where a real tool could do harm if guard failed (dd, curl)
//! it is aimed at something that cannot be harmed (a /dev name a test uid cannot create,
//! a closed loopback port).

use std::{
    os::unix::{
        fs::PermissionsExt as _,
        process::{CommandExt as _, ExitStatusExt as _},
    },
    path::{Path, PathBuf},
    process::{Command, ExitStatus},
    time::Duration,
};

use integration_test::{Agent, Events, cgroup2_root, exec_in_cgroup, lsm, require_root, token};
use serde_json::Value;

const ENFORCED: u32 = 4242;
const AUDITED: u32 = 4243;
const STRICT: u32 = 4244;

/// A test's own directory with a protected tree, a data dir, a secret and fake tools.
struct Sandbox {
    dir: PathBuf,
}

const FAKE_TOOLS: &[&str] = &[
    "aws",
    "terraform",
    "kubectl",
    "redis-cli",
    "psql",
    "gsutil",
    "mkfs.ext4",
    "wipefs",
];

impl Sandbox {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(token(tag));
        for sub in ["protected/keep", "data/db", "scratch/build", "bin"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::write(dir.join("protected/keep/file"), "precious").unwrap();
        std::fs::write(dir.join("data/db/table"), "rows").unwrap();
        std::fs::write(dir.join("secret.key"), "-----BEGIN KEY-----").unwrap();
        for tool in FAKE_TOOLS {
            let marker = dir.join(format!("ran-{tool}"));
            let script = format!("#!/bin/sh\ntouch '{}'\n", marker.display());
            std::fs::write(dir.join("bin").join(tool), script).unwrap();
        }
        let s = Self { dir };
        s.open_up(&s.dir);
        s
    }

    /// Everything readable and writable by the test uids.
    fn open_up(&self, p: &Path) {
        let mode = if p.is_dir() || p.starts_with(self.dir.join("bin")) {
            0o777
        } else {
            0o666
        };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        if p.is_dir() {
            for e in std::fs::read_dir(p).unwrap() {
                self.open_up(&e.unwrap().path());
            }
        }
    }

    fn path(&self, rel: &str) -> String {
        self.dir.join(rel).display().to_string()
    }

    fn policy(&self, enforced_mode: &str) -> PathBuf {
        let yaml = format!(
            "version: 1\nname: enforcement-test\ndefault_mode: audit\nidentities:\n  - name: enforced\n    mode: {enforced_mode}\n    match: {{ uids: [{ENFORCED}] }}\n  - name: strict\n    mode: strict\n    match: {{ uids: [{STRICT}] }}\n  - name: audited\n    mode: audit\n    match: {{ uids: [{AUDITED}] }}\nprotected_paths: [{p}]\ndata_dirs: [{d}]\nsensitive_files: [{s}]\n",
            p = self.path("protected"),
            d = self.path("data"),
            s = self.path("secret.key"),
        );
        let file = self.dir.join("policy.yaml");
        std::fs::write(&file, yaml).unwrap();
        file
    }

    fn intact(&self) -> bool {
        self.dir.join("protected/keep/file").exists() && self.dir.join("data/db/table").exists()
    }

    fn ran(&self, tool: &str) -> bool {
        self.dir.join(format!("ran-{tool}")).exists()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run_as(uid: u32, argv: &[&str]) -> ExitStatus {
    Command::new(argv[0])
        .args(&argv[1..])
        .uid(uid)
        .gid(uid)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("spawning {argv:?}: {e}"))
}

/// Stopped: killed by SIGKILL (signal path), or refused with EPERM (LSM path: the
/// exec fails, so the spawn itself errors or a wrapper reports 126).
fn stopped(status: ExitStatus) -> bool {
    status.signal() == Some(libc::SIGKILL)
        || status.code() == Some(137)
        || status.code() == Some(126)
}

fn run_or_refused(uid: u32, argv: &[&str]) -> Result<ExitStatus, std::io::Error> {
    Command::new(argv[0])
        .args(&argv[1..])
        .uid(uid)
        .gid(uid)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
}

/// The stop as the caller sees it, on either path.
fn is_stopped(r: &Result<ExitStatus, std::io::Error>) -> bool {
    match r {
        Ok(status) => stopped(*status),
        Err(e) => e.raw_os_error() == Some(libc::EPERM),
    }
}

fn denials<'a>(events: &'a Events, uid: u32, needle: &str) -> Vec<&'a Value> {
    events
        .events
        .iter()
        .filter(|e| e["uid"] == uid && e["decision"] == "deny")
        .filter(|e| {
            e["argv"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x.as_str().is_some_and(|s| s.contains(needle)))
            })
        })
        .collect()
}

#[test]
fn enforce_and_strict_stop_a_recursive_delete_audit_records_it() {
    require_root();
    let sb = Sandbox::new("rm");
    let agent = Agent::start(&["--policy", sb.policy("enforce").to_str().unwrap()]).unwrap();
    let target = sb.path("protected");
    for uid in [ENFORCED, STRICT] {
        let r = run_or_refused(uid, &["/bin/rm", "-rf", &target]);
        assert!(is_stopped(&r), "uid {uid}: {r:?}");
        assert!(sb.intact(), "uid {uid}: nothing may be deleted");
    }
    let audited = run_as(AUDITED, &["/bin/rm", "-rf", &target]);
    assert!(audited.success(), "audit mode lets it run");
    assert!(!Path::new(&target).exists(), "and it did run");
    let events = agent.stop().unwrap();
    let expected_path = if lsm() { "lsm" } else { "signal" };
    for (uid, mode) in [(ENFORCED, "enforce"), (STRICT, "strict")] {
        let d = denials(&events, uid, &target);
        assert!(!d.is_empty(), "a denial event for uid {uid}");
        let e = d[0];
        assert_eq!(
            (
                e["class"].as_str(),
                e["mode"].as_str(),
                e["enforced_by"].as_str()
            ),
            (Some("bulk_delete"), Some(mode), Some(expected_path)),
            "{e}"
        );
        assert_eq!(e["rule"], "rm-recursive-protected");
    }
    let audit = events
        .events
        .iter()
        .find(|e| e["uid"] == AUDITED && e["decision"] == "audit")
        .expect("an audit event");
    assert_eq!(audit["class"], "bulk_delete");
    assert_eq!(audit["enforced_by"], "none");
}

#[test]
fn ordinary_commands_run_unharmed_in_every_mode() {
    require_root();
    let sb = Sandbox::new("ordinary");
    let agent = Agent::start(&["--policy", sb.policy("enforce").to_str().unwrap()]).unwrap();
    for uid in [ENFORCED, STRICT, AUDITED] {
        let build = sb.path("scratch/build");
        std::fs::create_dir_all(&build).unwrap();
        sb.open_up(Path::new(&sb.path("scratch")));
        for argv in [
            vec!["/bin/ls", "-la", &sb.path("protected")],
            vec!["/bin/cat", &sb.path("protected/keep/file")],
            vec!["/bin/rm", "-rf", &build],
            vec!["/bin/sh", "-c", "true && echo ok | cat"],
        ] {
            let status = run_as(uid, &argv);
            assert!(status.success(), "uid {uid} {argv:?}: {status}");
        }
        assert!(
            run_as(
                uid,
                &[
                    &sb.path("bin/aws"),
                    "s3",
                    "cp",
                    "build.tar",
                    "s3://artifacts/"
                ]
            )
            .success()
        );
        assert!(sb.ran("aws"), "a benign aws call runs");
        std::fs::remove_file(sb.dir.join("ran-aws")).unwrap();
    }
    assert!(sb.intact());
    let events = agent.stop().unwrap();
    let wrongly = events
        .events
        .iter()
        .filter(|e| {
            [ENFORCED, STRICT, AUDITED]
                .contains(&e["uid"].as_u64().unwrap_or(0).try_into().unwrap_or(0))
                && e["decision"] != "allow"
        })
        .count();
    assert_eq!(wrongly, 0, "no ordinary command matched a signature");
}

#[test]
fn flag_spellings_paths_and_wrappers_do_not_evade() {
    require_root();
    let sb = Sandbox::new("evasion");
    let agent = Agent::start(&["--policy", sb.policy("enforce").to_str().unwrap()]).unwrap();
    let p = sb.path("protected");
    let dir = sb.dir.display().to_string();
    let script = sb.dir.join("bin/cleanup.sh");
    std::fs::write(&script, format!("#!/bin/sh\nrm -rf '{p}'\n")).unwrap();
    sb.open_up(&script);
    let variants: Vec<Vec<String>> = vec![
        vec!["rm".into(), "-fr".into(), p.clone()],
        vec!["rm".into(), "-r".into(), "-f".into(), p.clone()],
        vec![
            "rm".into(),
            "--recursive".into(),
            "--force".into(),
            p.clone(),
        ],
        vec!["rm".into(), "-rf".into(), format!("{dir}//protected/")],
        vec!["rm".into(), "-rf".into(), format!("{dir}/./protected/.")],
        vec![
            "rm".into(),
            "-rf".into(),
            format!("{dir}/scratch/../protected"),
        ],
    ];
    let mut variants = variants;
    // Wrappers exec the command they wrap, and that exec is judged. A busybox applet
    // wrapper (the VM's env, nohup, ...) runs the wrapped applet in-process, with no
    // exec to see: a stated limit, so those are only tried where the wrapper is real.
    let wrappers: [&[&str]; 4] = [
        &["env", "FOO=1"],
        &["nohup"],
        &["timeout", "5"],
        &["nice", "-n", "5"],
    ];
    for w in wrappers {
        if let Some(real) = real_binary(w[0]) {
            let mut v: Vec<String> = std::iter::once(real)
                .chain(w[1..].iter().map(|s| (*s).to_owned()))
                .collect();
            v.extend(["rm".into(), "-rf".into(), p.clone()]);
            variants.push(v);
        }
    }
    // Shells exec the commands of a script; busybox's ash runs applets such as rm
    // in-process instead (another stated limit), so these need a real /bin/sh.
    if real_binary("sh").is_some() {
        let shell_variants: Vec<Vec<String>> = vec![
            vec!["/bin/sh".into(), "-c".into(), format!("FOO=1 rm -rf '{p}'")],
            // Not here: `cd DIR && rm -rf ./protected`. The kernel matcher does not know the
            // cwd, so relative paths are not resolved in the kernel (a stated limit).
            vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("cd /tmp && rm -rf '{dir}/scratch/../protected' && true"),
            ],
            vec![script.display().to_string()],
        ];
        variants.extend(shell_variants);
    }
    if Path::new("/bin/busybox").exists() {
        variants.push(vec![
            "/bin/busybox".into(),
            "rm".into(),
            "-rf".into(),
            p.clone(),
        ]);
    }
    for v in &variants {
        let argv: Vec<&str> = v.iter().map(String::as_str).collect();
        let r = run_or_refused(ENFORCED, &argv);
        assert!(sb.intact(), "{argv:?} deleted the protected tree ({r:?})");
        assert!(
            r.as_ref().map_or(true, |s| !s.success()),
            "{argv:?} reported success"
        );
    }
    let events = agent.stop().unwrap();
    let denied = denials(&events, ENFORCED, "protected").len();
    assert!(
        denied >= variants.len() - 1,
        "a denial per variant: {denied} of {}",
        variants.len()
    );
}

/// The path of `name` on PATH when it is a program of its own (not a busybox applet).
fn real_binary(name: &str) -> Option<String> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|d| format!("{d}/{name}"))
        .find(|p| std::fs::canonicalize(p).is_ok_and(|r| !r.ends_with("busybox")))
}

#[test]
fn every_kernel_signature_class_is_stopped() {
    require_root();
    let sb = Sandbox::new("classes");
    let agent = Agent::start(&["--policy", sb.policy("enforce").to_str().unwrap()]).unwrap();
    let bin = |t: &str| sb.path(&format!("bin/{t}"));
    let cases: Vec<(Vec<String>, &str, Option<&str>)> = vec![
        (
            vec![
                bin("aws"),
                "s3".into(),
                "rm".into(),
                "s3://prod".into(),
                "--recursive".into(),
            ],
            "cloud_destroy",
            Some("aws"),
        ),
        (
            vec![bin("terraform"), "destroy".into(), "-auto-approve".into()],
            "cloud_destroy",
            Some("terraform"),
        ),
        (
            vec![
                bin("kubectl"),
                "delete".into(),
                "namespace".into(),
                "prod".into(),
            ],
            "cloud_destroy",
            Some("kubectl"),
        ),
        (
            vec![
                bin("gsutil"),
                "-m".into(),
                "rm".into(),
                "-r".into(),
                "gs://prod".into(),
            ],
            "cloud_destroy",
            Some("gsutil"),
        ),
        (
            vec![bin("redis-cli"), "FLUSHALL".into()],
            "schema_destroy",
            Some("redis-cli"),
        ),
        (
            vec![bin("psql"), "-c".into(), "DROP TABLE users".into()],
            "schema_destroy",
            Some("psql"),
        ),
        (
            vec![bin("mkfs.ext4"), "/dev/guard-test-disk".into()],
            "disk_wipe",
            Some("mkfs.ext4"),
        ),
        (
            vec![bin("wipefs"), "-a".into(), "/dev/guard-test-disk".into()],
            "disk_wipe",
            Some("wipefs"),
        ),
        (
            vec![
                "/bin/dd".into(),
                "if=/dev/zero".into(),
                "of=/dev/guard-test-disk".into(),
                "count=1".into(),
            ],
            "disk_wipe",
            None,
        ),
        (
            vec![
                "/usr/bin/curl".into(),
                "-s".into(),
                "--data-binary".into(),
                format!("@{}", sb.path("secret.key")),
                "http://127.0.0.1:9/".into(),
            ],
            "data_exfiltration",
            None,
        ),
        (
            vec!["/bin/rm".into(), "-rf".into(), sb.path("data/db")],
            "bulk_delete",
            None,
        ),
    ];
    for (argv, class, marker) in &cases {
        if !Path::new(&argv[0]).exists() {
            continue;
        }
        let a: Vec<&str> = argv.iter().map(String::as_str).collect();
        let r = run_or_refused(ENFORCED, &a);
        assert!(is_stopped(&r), "{a:?} ({class}) was not stopped: {r:?}");
        if let Some(tool) = marker {
            assert!(!sb.ran(tool), "{tool} ran before it was stopped");
        }
    }
    assert!(sb.intact());
    let events = agent.stop().unwrap();
    for (argv, class, _) in &cases {
        if !Path::new(&argv[0]).exists() {
            continue;
        }
        let last = argv.last().unwrap();
        let found = events.events.iter().any(|e| {
            e["uid"] == ENFORCED
                && e["decision"] == "deny"
                && e["class"] == *class
                && e["argv"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == last.as_str()))
        });
        assert!(found, "a {class} denial for {argv:?}");
    }
}

#[test]
fn a_bad_policy_is_refused_and_the_old_one_keeps_enforcing_then_a_good_one_applies() {
    require_root();
    let sb = Sandbox::new("reload");
    let policy = sb.policy("enforce");
    let agent = Agent::start(&["--policy", policy.to_str().unwrap()]).unwrap();
    let good = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(
        &policy,
        good.replace("default_mode: audit", "default_mode: [audit"),
    )
    .unwrap();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(agent.pid() as i32, libc::SIGHUP) };
    assert!(
        agent.wait_log("policy refused", Duration::from_secs(10)),
        "{}",
        agent.log()
    );
    assert!(
        agent.log().contains("policy.yaml:4:"),
        "the error names the line: {}",
        agent.log()
    );
    let r = run_or_refused(ENFORCED, &["/bin/rm", "-rf", &sb.path("protected")]);
    assert!(
        is_stopped(&r) && sb.intact(),
        "the old policy still enforces: {r:?}"
    );
    std::fs::write(
        &policy,
        good.replace(
            &format!("mode: enforce\n    match: {{ uids: [{ENFORCED}] }}"),
            &format!("mode: audit\n    match: {{ uids: [{ENFORCED}] }}"),
        ),
    )
    .unwrap();
    // SAFETY: as above.
    unsafe { libc::kill(agent.pid() as i32, libc::SIGHUP) };
    let before = agent.log().matches("policy in force").count();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while agent.log().matches("policy in force").count() == before
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = run_as(ENFORCED, &["/bin/rm", "-rf", &sb.path("protected")]);
    assert!(
        status.success(),
        "the new policy (audit for this uid) applies: {status}"
    );
    agent.stop().unwrap();
}

/// A thread rewrites the argv string while another thread execs with it. On the signal
/// path the kernel decides on its own copy of argv, so whatever version it copied is
/// what is judged: the protected tree survives, and every completed `rm` whose argv
/// names it was killed. On the LSM path a denial that only the second look catches is
/// reported as tampering.
#[test]
fn argv_rewritten_during_exec_is_judged_on_what_the_kernel_copied() {
    require_root();
    let sb = Sandbox::new("toctou");
    let agent = Agent::start(&["--policy", sb.policy("enforce").to_str().unwrap()]).unwrap();
    let protected = sb.path("protected");
    let decoy = sb.path("decoydirx");
    assert_eq!(
        protected.len(),
        decoy.len(),
        "both versions have the same length"
    );
    let attempts = 300;
    for _ in 0..attempts {
        std::fs::create_dir_all(&decoy).unwrap();
        sb.open_up(Path::new(&decoy));
        race_exec(&protected, &decoy);
        assert!(sb.intact(), "the protected tree survived every race");
    }
    let events = agent.stop().unwrap();
    // A refused exec (LSM) never became rm: its event carries the caller's comm.
    let rm_events: Vec<&Value> = events
        .events
        .iter()
        .filter(|e| e["uid"] == ENFORCED && e["filename"] == "/bin/rm")
        .collect();
    let mut denied = 0;
    for e in &rm_events {
        let target = e["argv"][2].as_str().unwrap_or_default();
        if e["result"] == "ok" && target == protected {
            assert_eq!(
                e["decision"], "deny",
                "a completed exec naming the protected tree was stopped: {e}"
            );
            denied += 1;
        }
        if e["result"] == "ok" && target == decoy {
            assert_eq!(e["decision"], "allow", "{e}");
        }
    }
    let tampered = rm_events.iter().filter(|e| e["tampered"] == true).count();
    eprintln!(
        "{attempts} races: {} rm events, {denied} denied on the kernel's copy, {tampered} reported as tampering",
        rm_events.len()
    );
    assert!(rm_events.len() >= attempts, "every attempt was reported");
    assert!(
        denied + tampered > 0 || lsm(),
        "the race produced at least one protected copy"
    );
}

/// Forks a child (as the enforced uid) whose second thread flips `buf` between `a` and
/// `b` while its first thread execs `rm -rf buf`.
fn race_exec(a: &str, b: &str) {
    let a = std::ffi::CString::new(a).unwrap();
    let b = std::ffi::CString::new(b).unwrap();
    let rm = std::ffi::CString::new("/bin/rm").unwrap();
    let argv0 = std::ffi::CString::new("rm").unwrap();
    let flag = std::ffi::CString::new("-rf").unwrap();
    // SAFETY: fork; the child only uses this memory and exits through exec or _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe {
            libc::setgid(ENFORCED);
            libc::setuid(ENFORCED);
        }
        let buf: &'static mut [u8] = Box::leak(a.as_bytes_with_nul().to_vec().into_boxed_slice());
        let ptr = buf.as_mut_ptr() as usize;
        let len = buf.len();
        let (a2, b2) = (
            a.as_bytes_with_nul().to_vec(),
            b.as_bytes_with_nul().to_vec(),
        );
        std::thread::spawn(move || {
            loop {
                for src in [&a2, &b2] {
                    // SAFETY: racing on purpose with the kernel's copy; same length, NUL kept.
                    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), ptr as *mut u8, len) };
                }
            }
        });
        let argv = [
            argv0.as_ptr(),
            flag.as_ptr(),
            ptr as *const libc::c_char,
            std::ptr::null(),
        ];
        let envp = [std::ptr::null::<libc::c_char>()];
        unsafe {
            libc::execve(rm.as_ptr(), argv.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
}

/// Modes by cgroup (pods, systemd units): a process in a cgroup the policy maps to
/// enforce is stopped, one in a sibling cgroup (default audit) is not.
#[test]
fn a_cgroup_mapped_to_enforce_is_stopped_its_sibling_is_not() {
    require_root();
    let sb = Sandbox::new("cgroup");
    let root = cgroup2_root();
    let (enforced, sibling) = (format!("/{}", token("cg-enforced")), format!("/{}", token("cg-sibling")));
    for cg in [&enforced, &sibling] {
        std::fs::create_dir(format!("{root}{cg}")).unwrap();
    }
    let policy = sb.dir.join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "version: 1\nname: cgroup-test\ndefault_mode: audit\nidentities:\n  - name: pod\n    mode: enforce\n    match: {{ cgroup_paths: [{enforced}] }}\nprotected_paths: [{}]\n",
            sb.path("protected")
        ),
    )
    .unwrap();
    let agent = Agent::start(&["--policy", policy.to_str().unwrap()]).unwrap();
    let in_enforced = rm_in_cgroup(&format!("{root}{enforced}"), &sb.path("protected"));
    assert!(sb.intact(), "stopped in the enforced cgroup ({in_enforced:#x})");
    if lsm() {
        assert_eq!(in_enforced, 127 << 8, "exec refused (EPERM), the child exits 127: status {in_enforced:#x}");
    } else {
        assert_eq!(in_enforced & 0x7f, libc::SIGKILL, "killed by SIGKILL, status {in_enforced:#x}");
    }
    let in_sibling = rm_in_cgroup(&format!("{root}{sibling}"), &sb.path("protected"));
    assert_eq!(in_sibling, 0, "the sibling cgroup is in audit mode: rm runs");
    assert!(!Path::new(&sb.path("protected")).exists());
    let events = agent.stop().unwrap();
    for cg in [&enforced, &sibling] {
        let _ = std::fs::remove_dir(format!("{root}{cg}"));
    }
    let modes: Vec<(&str, &str)> = events
        .events
        .iter()
        .filter(|e| e["filename"] == "/bin/rm" && e["argv"][2] == sb.path("protected").as_str())
        .map(|e| (e["mode"].as_str().unwrap_or(""), e["decision"].as_str().unwrap_or("")))
        .collect();
    assert!(modes.contains(&("enforce", "deny")) && modes.contains(&("audit", "audit")), "{modes:?}");
}

/// `rm -rf target` run inside `cgroup`; the raw wait status.
fn rm_in_cgroup(cgroup: &str, target: &str) -> i32 {
    exec_in_cgroup(cgroup, &["/bin/rm", "-rf", target]).1
}
