//! The agent under benchmark: started with `guard-agent run` writing its JSON lines to
//! a file on tmpfs, which is counted outside the timed window (a reader parsing the
//! lines while the storm runs would bill its own CPU to the agent); its BPF statistics
//! read with `guard-agent status --json` and its CPU time from `/proc`.

use std::{
    cell::RefCell,
    collections::HashMap,
    fs::File,
    io::{Read as _, Seek as _, SeekFrom},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::storm::{Shape, Spawn};
use crate::util::output;

/// Counts of the agent's events so far, read from its output file on demand.
struct Counts {
    /// The agent's stdout.
    file: File,
    /// Bytes of the file already counted.
    offset: u64,
    /// An incomplete last line, kept for the next read.
    partial: Vec<u8>,
    storm_marker: Vec<u8>,
    ready_marker: Vec<u8>,
    /// Events whose argv[0] is the storm marker, by the event's `ppid`.
    storm_by_ppid: HashMap<u32, u64>,
    /// Events whose argv[0] is the readiness marker.
    ready: u64,
}

impl Counts {
    /// Counts the lines written since the last call.
    fn update(&mut self) -> Result<()> {
        self.file.seek(SeekFrom::Start(self.offset))?;
        let mut fresh = Vec::new();
        self.offset += self.file.read_to_end(&mut fresh)? as u64;
        self.partial.extend_from_slice(&fresh);
        let complete = match self.partial.iter().rposition(|b| *b == b'\n') {
            Some(end) => end + 1,
            None => return Ok(()),
        };
        for line in self.partial[..complete].split(|b| *b == b'\n') {
            if contains(line, &self.storm_marker) {
                let ppid = json_u32(line, b"\"ppid\":").unwrap_or(0);
                *self.storm_by_ppid.entry(ppid).or_default() += 1;
            } else if contains(line, &self.ready_marker) {
                self.ready += 1;
            }
        }
        self.partial.drain(..complete);
        Ok(())
    }
}

/// A running agent.
pub struct Agent {
    bin: PathBuf,
    child: Child,
    out_path: PathBuf,
    counts: RefCell<Counts>,
}

/// BPF statistics and drops at one moment.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot {
    /// Sum of every program's `run_time_ns` (None when `status` did not report it).
    pub bpf_ns: Option<u64>,
    /// The agent's `dropped` counter.
    pub dropped: Option<u64>,
    /// The agent's utime + stime from /proc/PID/stat, in clock ticks.
    pub cpu_ticks: u64,
    /// The agent's threads' on-CPU time from /proc/PID/task/*/schedstat, in ns
    /// (precise where the ticks are 10 ms coarse; None without CONFIG_SCHEDSTATS).
    pub sched_ns: Option<u64>,
    /// How many times the agent's threads were put on a CPU (the third schedstat field,
    /// summed): its wake-ups, about. Each costs a busy machine more than its CPU time.
    pub slices: Option<u64>,
    /// When the snapshot was taken.
    pub at: Instant,
}

impl Agent {
    /// Starts `bin run` with stdout to a file on tmpfs and stderr appended to `log`.
    pub fn start(bin: &Path, log: &Path, storm_marker: &str, ready_marker: &str) -> Result<Self> {
        let stderr = File::options().create(true).append(true).open(log)?;
        let out_path = output_path();
        let stdout =
            File::create(&out_path).with_context(|| format!("creating {}", out_path.display()))?;
        let counts = Counts {
            file: File::open(&out_path)?,
            offset: 0,
            partial: Vec::new(),
            storm_marker: format!("\"{storm_marker}\"").into_bytes(),
            ready_marker: format!("\"{ready_marker}\"").into_bytes(),
            storm_by_ppid: HashMap::new(),
            ready: 0,
        };
        let child = Command::new(bin)
            .arg("run")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {} run", bin.display()))?;
        Ok(Self {
            bin: bin.to_path_buf(),
            child,
            out_path,
            counts: RefCell::new(counts),
        })
    }

    /// Counts what the agent wrote since the last look.
    fn update(&self) -> Result<()> {
        self.counts
            .borrow_mut()
            .update()
            .context("reading the agent's output")
    }

    /// Spawns the readiness command until the agent reports it (its programs are attached).
    pub fn wait_ready(&mut self, ready_marker: &str, timeout: Duration) -> Result<()> {
        let probe = Spawn::new(Shape::True, ready_marker)?;
        let deadline = Instant::now() + timeout;
        loop {
            self.update()?;
            if self.counts.borrow().ready != 0 {
                break;
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("the agent exited before it was ready: {status}");
            }
            if Instant::now() > deadline {
                bail!("the agent reported no exec within {timeout:?}");
            }
            probe.once()?;
            thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Storm events written so far whose ppid is one of `ppids` (read now: call it
    /// outside the timed window).
    pub fn captured(&self, ppids: &[u32]) -> Result<u64> {
        self.update()?;
        let counts = self.counts.borrow();
        Ok(ppids
            .iter()
            .filter_map(|p| counts.storm_by_ppid.get(p))
            .sum())
    }

    /// Waits until `captured(ppids)` reaches `target`, or stops growing for `quiet`.
    pub fn drain(&self, ppids: &[u32], target: u64, quiet: Duration) -> Result<u64> {
        let (mut last, mut since) = (self.captured(ppids)?, Instant::now());
        while last < target && since.elapsed() < quiet {
            thread::sleep(Duration::from_millis(20));
            let now = self.captured(ppids)?;
            if now != last {
                (last, since) = (now, Instant::now());
            }
        }
        Ok(last)
    }

    /// BPF run time, drops (from `guard-agent status --json`) and CPU ticks, now.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let cpu_ticks = cpu_ticks(self.child.id())?;
        let (sched_ns, slices) = sched_stats(self.child.id()).map_or((None, None), |(ns, n)| (Some(ns), Some(n)));
        let status = output(Command::new(&self.bin).args(["status", "--json"]))
            .and_then(|t| serde_json::from_str::<Value>(&t).context("status --json is not JSON"));
        let (bpf_ns, dropped) = match status {
            Ok(v) => (sum_field(&v, "run_time_ns"), find_u64(&v, "dropped")),
            Err(e) => {
                eprintln!("[xtask] bench: guard-agent status --json: {e:#}");
                (None, None)
            }
        };
        Ok(Snapshot {
            bpf_ns,
            dropped,
            cpu_ticks,
            sched_ns,
            slices,
            at: Instant::now(),
        })
    }

    /// Stops the agent with SIGINT (SIGKILL after 10 s) and waits for it.
    pub fn stop(mut self) -> Result<()> {
        let pid = libc::pid_t::try_from(self.child.id())?;
        // SAFETY: pid is our live child.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                eprintln!("[xtask] bench: the agent ignored SIGINT; killing it");
                self.child.kill()?;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(&self.out_path);
        Ok(())
    }
}

/// Where the agent's stdout goes: tmpfs when there is one, so the writes cost what a
/// pipe would and nothing waits for a disk.
fn output_path() -> PathBuf {
    let name = format!("guard-bench-{}.jsonl", std::process::id());
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.join(name)
    } else {
        std::env::temp_dir().join(name)
    }
}

/// True when `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The unsigned number after `key` (e.g. `"ppid":`) in a compact JSON line.
fn json_u32(line: &[u8], key: &[u8]) -> Option<u32> {
    let at = line.windows(key.len()).position(|w| w == key)? + key.len();
    let rest = &line[at..];
    let rest = &rest[rest.iter().take_while(|b| **b == b' ').count()..];
    let digits = &rest[..rest.iter().take_while(|b| b.is_ascii_digit()).count()];
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u32, |n, d| {
        n.checked_mul(10)?.checked_add(u32::from(d - b'0'))
    })
}

/// utime + stime of `pid` in clock ticks (fields 14 and 15 of /proc/PID/stat).
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_comm = stat.rsplit_once(')').context("malformed /proc/PID/stat")?.1;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // after_comm starts at field 3 (state): utime is field 14, stime 15.
    let tick = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok());
    Ok(tick(14).context("utime")? + tick(15).context("stime")?)
}

/// Sums over `pid`'s threads of the first and third /proc/PID/task/TID/schedstat fields:
/// ns on CPU, and times put on a CPU.
fn sched_stats(pid: u32) -> Result<(u64, u64)> {
    let (mut total, mut slices) = (0, 0);
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        // A thread that exits while we look is skipped (its time is then lost: the
        // /proc/PID/stat figure keeps it).
        let Ok(text) = std::fs::read_to_string(task?.path().join("schedstat")) else {
            continue;
        };
        let mut fields = text.split_whitespace().map(str::parse::<u64>);
        let (Some(Ok(ns)), Some(Ok(_wait)), Some(Ok(n))) = (fields.next(), fields.next(), fields.next()) else {
            anyhow::bail!("schedstat: {text:?}");
        };
        total += ns;
        slices += n;
    }
    Ok((total, slices))
}

/// Sum of every numeric `key` anywhere in `v` (one per program); None when absent.
fn sum_field(v: &Value, key: &str) -> Option<u64> {
    let mut values = Vec::new();
    collect(v, key, &mut values);
    (!values.is_empty()).then(|| values.iter().sum())
}

/// The first numeric `key` found in `v` (top level first).
fn find_u64(v: &Value, key: &str) -> Option<u64> {
    let mut values = Vec::new();
    collect(v, key, &mut values);
    values.first().copied()
}

/// Collects numeric `key` values breadth-first-ish: an object's own key before children.
fn collect(v: &Value, key: &str, out: &mut Vec<u64>) {
    match v {
        Value::Object(map) => {
            out.extend(map.get(key).and_then(Value::as_u64));
            map.iter()
                .filter(|(k, _)| *k != key)
                .for_each(|(_, c)| collect(c, key, out));
        }
        Value::Array(items) => items.iter().for_each(|c| collect(c, key, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ppid_and_markers() {
        let line = br#"{"kind":"exec","pid":12,"ppid":4567,"argv":["guard-bench-storm-1","x"]}"#;
        assert_eq!(json_u32(line, b"\"ppid\":"), Some(4567));
        assert!(contains(line, b"\"guard-bench-storm-1\""));
        assert!(!contains(line, b"\"guard-bench-storm-12\""));
    }

    #[test]
    fn counts_lines_as_they_complete() {
        use std::io::Write as _;
        let path = std::env::temp_dir().join(format!("guard-bench-counts-{}", std::process::id()));
        let mut writer = File::create(&path).unwrap();
        let mut counts = Counts {
            file: File::open(&path).unwrap(),
            offset: 0,
            partial: Vec::new(),
            storm_marker: b"\"s\"".to_vec(),
            ready_marker: b"\"r\"".to_vec(),
            storm_by_ppid: HashMap::new(),
            ready: 0,
        };
        // A line cut in the middle is counted once it is whole, and only once.
        writer
            .write_all(b"{\"ppid\":7,\"argv\":[\"s\"]}\n{\"ppid\":7,\"ar")
            .unwrap();
        counts.update().unwrap();
        assert_eq!(counts.storm_by_ppid.get(&7), Some(&1));
        writer
            .write_all(b"gv\":[\"s\"]}\n{\"ppid\":9,\"argv\":[\"r\"]}\n")
            .unwrap();
        counts.update().unwrap();
        counts.update().unwrap();
        assert_eq!(counts.storm_by_ppid.get(&7), Some(&2));
        assert_eq!(counts.ready, 1);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn sums_program_stats() {
        let v: Value = serde_json::from_str(
            r#"{"dropped":3,"programs":[{"name":"a","run_time_ns":10,"run_count":2},{"name":"b","run_time_ns":5}]}"#,
        )
        .unwrap();
        assert_eq!(sum_field(&v, "run_time_ns"), Some(15));
        assert_eq!(find_u64(&v, "dropped"), Some(3));
        assert_eq!(find_u64(&v, "missing"), None);
    }

    #[test]
    fn reads_own_cpu_time() {
        assert!(cpu_ticks(std::process::id()).is_ok());
        let (ns, slices) = sched_stats(std::process::id()).unwrap();
        assert!(ns > 0 && slices > 0);
    }
}
