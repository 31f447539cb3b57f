//! Helpers for the integration tests: run the real agent against the running kernel and
//! collect the events it prints.
//!
//! Every test scopes what it looks at to execs it made itself: each carries a unique
//! token in argv, and tests assert on the events that contain it.

use std::{
    io::{BufRead as _, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use serde_json::Value;

/// The agent binary: `GUARD_AGENT_BIN`, else the workspace's release build.
pub fn agent_bin() -> PathBuf {
    std::env::var_os("GUARD_AGENT_BIN").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/release/guard-agent"
            ))
        },
        PathBuf::from,
    )
}

/// Fails clearly when the tests cannot load programs.
pub fn require_root() {
    // SAFETY: plain syscall.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "integration tests load eBPF programs: run them as root"
    );
}

/// Whether the LSM path is in force: inside the qemu VM with BPF LSM, unless
/// GUARD_EXPECT_LSM says otherwise.
pub fn lsm() -> bool {
    std::env::var("GUARD_EXPECT_LSM").map_or_else(|_| std::env::var("GUARD_IN_VM").is_ok_and(|v| v == "1"), |v| v == "1")
}

/// Whether guard's `lsm/task_kill` program (SIGCONT to a held process refused) is
/// attached (under BPF LSM it must be, on 6.1 and 6.12 alike; a kernel whose verifier
/// refused it would leave the LSM path without it, and the agent would say so).
pub fn task_kill_attached() -> bool {
    std::fs::read_dir("/sys/fs/bpf/guard")
        .into_iter()
        .flatten()
        .flatten()
        .any(|build| build.path().join("links/task_kill").exists())
}

/// `guard-agent unload`, which must succeed: a test starts from no pinned programs.
pub fn unload() {
    assert!(Command::new(agent_bin()).arg("unload").status().unwrap().success());
}

/// A running `guard-agent run`, with its stdout collected line by line.
pub struct Agent {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stdout: Option<JoinHandle<()>>,
    stderr: Arc<Mutex<String>>,
}

impl Agent {
    /// Starts the agent and waits until it reports that capture is attached.
    pub fn start(extra_args: &[&str]) -> anyhow::Result<Self> {
        Self::start_with_env(extra_args, &[])
    }

    /// [`Agent::start`] with extra environment variables.
    pub fn start_with_env(extra_args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut child = Command::new(agent_bin())
            .arg("run")
            .args(extra_args)
            .envs(env.iter().copied())
            .env("GUARD_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("spawning {}", agent_bin().display()))?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = BufReader::new(child.stdout.take().context("stdout")?);
        let sink = lines.clone();
        let stdout = std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let err = BufReader::new(child.stderr.take().context("stderr")?);
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                if line.contains("capture attached") {
                    let _ = ready_tx.send(());
                }
                log.lock().unwrap().push_str(&line);
                log.lock().unwrap().push('\n');
            }
        });
        let mut agent = Self {
            child,
            lines,
            stdout: Some(stdout),
            stderr,
        };
        // Loading runs the verifier; under qemu's software emulation that takes far longer.
        let attach_timeout = if std::env::var("GUARD_IN_VM").is_ok_and(|v| v == "1") {
            600
        } else {
            60
        };
        if ready_rx
            .recv_timeout(Duration::from_secs(attach_timeout))
            .is_err()
        {
            let _ = agent.child.kill();
            bail!("agent did not attach: {}", agent.stderr.lock().unwrap());
        }
        Ok(agent)
    }

    /// The agent's pid (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the agent logged so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The agent's own `status --json` while it runs.
    pub fn status(&self) -> anyhow::Result<Value> {
        let out = Command::new(agent_bin())
            .args(["status", "--json"])
            .output()?;
        if !out.status.success() {
            bail!("status failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        parse_line(std::str::from_utf8(&out.stdout)?.trim())
    }

    /// Kills the agent with SIGKILL (nothing runs on its way out) and returns the events
    /// it had printed.
    pub fn kill9(mut self) -> anyhow::Result<Events> {
        self.child.kill()?;
        self.child.wait()?;
        if let Some(h) = self.stdout.take() {
            let _ = h.join();
        }
        let log = self.stderr.lock().unwrap().clone();
        let lines = std::mem::take(&mut *self.lines.lock().unwrap());
        let events = lines.iter().map(|l| parse_line(l)).collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Events { events, log })
    }

    /// Stops the agent with SIGINT (it drains the ring buffer first) and returns every
    /// event it printed.
    pub fn stop(mut self) -> anyhow::Result<Events> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("agent did not stop on SIGINT");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(h) = self.stdout.take() {
            let _ = h.join();
        }
        let log = self.stderr.lock().unwrap().clone();
        if !status.success() {
            bail!("agent exited with {status}: {log}");
        }
        let lines = std::mem::take(&mut *self.lines.lock().unwrap());
        let events = lines
            .iter()
            .map(|l| parse_line(l))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Events { events, log })
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the agent printed.
pub struct Events {
    pub events: Vec<Value>,
    /// The agent's log (stderr).
    pub log: String,
}

impl Events {
    /// Events whose argv contains `token` as a whole argument.
    pub fn with_token(&self, token: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| {
                e["argv"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(token)))
            })
            .collect()
    }

    /// The single event carrying `token`; fails when there are none or several.
    pub fn one(&self, token: &str) -> anyhow::Result<&Value> {
        match self.with_token(token).as_slice() {
            [one] => Ok(one),
            many => bail!(
                "expected exactly one event with {token}, found {}: {many:?}",
                many.len()
            ),
        }
    }
}

/// Parses one event line. Lone-surrogate escapes (`\udcXX`, the agent's lossless form
/// of bytes that are not UTF-8) are mapped to private-use U+F7XX first, because
/// serde_json rejects lone surrogates; [`bytes_of`] maps them back.
pub fn parse_line(line: &str) -> anyhow::Result<Value> {
    let fixed = line.replace("\\udc", "\\uf7");
    serde_json::from_str(&fixed).with_context(|| format!("bad event line: {line}"))
}

/// The exact bytes of a string field parsed by [`parse_line`].
pub fn bytes_of(v: &Value) -> Vec<u8> {
    let s = v.as_str().unwrap_or_default();
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        let cp = c as u32;
        if (0xf780..=0xf7ff).contains(&cp) {
            out.push((cp - 0xf700) as u8);
        } else {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    out
}

/// argv of an event as exact bytes, cross-checked against `argv_base64` when present.
pub fn argv_of(event: &Value) -> Vec<Vec<u8>> {
    let argv: Vec<Vec<u8>> = event["argv"]
        .as_array()
        .map(|a| a.iter().map(bytes_of).collect())
        .unwrap_or_default();
    if let Some(b64) = event["argv_base64"].as_array() {
        let exact: Vec<Vec<u8>> = b64
            .iter()
            .map(|s| {
                base64::engine::general_purpose::STANDARD
                    .decode(s.as_str().unwrap_or_default())
                    .unwrap()
            })
            .collect();
        assert_eq!(argv, exact, "argv and argv_base64 disagree in {event}");
    }
    argv
}

/// A token unique to this process and call, to find a test's own execs.
pub fn token(tag: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "guard-test-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The comm of the calling thread (what the kernel reports as a child's parent comm).
pub fn thread_comm() -> String {
    std::fs::read_to_string("/proc/thread-self/comm")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Real path of a program as the kernel resolves it (symlinks followed).
pub fn real_path(p: &str) -> String {
    std::fs::canonicalize(p)
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// The mount point of the cgroup2 (unified) hierarchy, whose ids
/// `bpf_get_current_cgroup_id` reports.
pub fn cgroup2_root() -> String {
    std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .find(|f| f.get(2) == Some(&"cgroup2"))
        .map(|f| f[1].to_owned())
        .expect("a cgroup2 hierarchy is mounted")
}

/// Forks a child that moves itself into the cgroup directory `cgroup` and execs
/// `argv` (argv[0] is the program's path, no environment). Returns the child's pid and
/// its raw wait status.
pub fn exec_in_cgroup(cgroup: &str, argv: &[&str]) -> (i32, i32) {
    exec_in_cgroup_as(cgroup, None, argv)
}

/// [`exec_in_cgroup`], becoming `uid` (group and gid too, no supplementary groups)
/// after the move when given. The child exits 126 when it cannot join the cgroup, 125
/// when it cannot change identity and 127 when the exec itself fails.
pub fn exec_in_cgroup_as(cgroup: &str, uid: Option<u32>, argv: &[&str]) -> (i32, i32) {
    use std::ffi::CString;
    let procs = CString::new(format!("{cgroup}/cgroup.procs")).unwrap();
    let owned: Vec<CString> = argv.iter().map(|a| CString::new(*a).unwrap()).collect();
    let mut ptrs: Vec<*const libc::c_char> = owned.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let envp = [std::ptr::null::<libc::c_char>()];
    // SAFETY: fork; the child only makes async-signal-safe calls before exec or _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        unsafe {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                libc::_exit(126);
            }
            libc::close(fd);
            if let Some(uid) = uid
                && (libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(uid) != 0 || libc::setuid(uid) != 0)
            {
                libc::_exit(125);
            }
            libc::execve(ptrs[0], ptrs.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    (pid, status)
}
