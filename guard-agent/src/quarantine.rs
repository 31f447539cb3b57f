//! The quarantine: processes (with their descendants) from which every exec is refused.
//!
//! The kernel keeps it in the `QUARANTINE` map (tgid → when), adds each child at fork
//! and drops a process's entry when it exits; the fork and exit programs are attached
//! at the first quarantine (`kernel::attach_lifecycle`), and entry
//! `table_used::QUARANTINE` of `TABLES_USED` tells them whether to look at all.
//! Flagging a process here also flags the descendants it already has (read from
//! /proc), so the whole tree is covered.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    path::Path,
    process::ExitCode,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use aya::maps::{Array, HashMap as BpfHashMap, Map, MapData};
use guard_common::enforce::table_used;

pub struct Quarantine {
    map: BpfHashMap<MapData, u32, u64>,
    used: Array<MapData, u32>,
    /// The build's pin directory (its fork and exit programs are attached on first use).
    build: std::path::PathBuf,
}

impl Quarantine {
    /// Opens the pinned maps of the build in force.
    pub fn open() -> anyhow::Result<Self> {
        let build = crate::kernel::builds().into_iter().next().context("nothing of guard is loaded: no pinned programs under /sys/fs/bpf/guard")?;
        Self::from_pins(&build)
    }

    pub fn from_pins(build: &Path) -> anyhow::Result<Self> {
        let open = |name: &str| -> anyhow::Result<Map> {
            let p = build.join("maps").join(name);
            Ok(Map::from_map_data(MapData::from_pin(&p).with_context(|| format!("opening {}", p.display()))?)?)
        };
        Ok(Self {
            map: BpfHashMap::try_from(open("QUARANTINE")?)?,
            used: Array::try_from(open("TABLES_USED")?)?,
            build: build.to_owned(),
        })
    }

    /// Quarantines `tgid` and every descendant it has now. Returns the tgids flagged.
    pub fn add(&mut self, tgid: u32) -> anyhow::Result<Vec<u32>> {
        // Attach the fork and exit programs and switch them on before the first entry,
        // so no child slips through.
        crate::kernel::attach_lifecycle(&self.build).context("attaching the fork and exit programs")?;
        self.used.set(table_used::QUARANTINE, 1, 0)?;
        let now = crate::hold::monotonic_ns();
        let mut tree = vec![tgid];
        tree.extend(descendants(tgid));
        for t in &tree {
            self.map.insert(t, now, 0).with_context(|| format!("quarantining {t}"))?;
        }
        Ok(tree)
    }

    /// Whether `tgid` is quarantined.
    pub fn contains(&self, tgid: u32) -> bool {
        self.map.get(&tgid, 0).is_ok()
    }

    /// Releases `tgid` (not its descendants). Returns whether it was quarantined.
    pub fn remove(&mut self, tgid: u32) -> bool {
        self.map.remove(&tgid).is_ok()
    }

    pub fn list(&self) -> Vec<(u32, u64)> {
        let mut all: Vec<(u32, u64)> = self.map.iter().filter_map(Result::ok).collect();
        all.sort_unstable();
        all
    }
}

/// The agent's own quarantine decisions, by the policy's `quarantine` block.
///
/// A trigger names an offending exec; what is quarantined is the tree that launched it:
/// the exec's parent, or, when the parent is only a wrapper (`sudo`, `env`, `timeout`,
/// ...) or a shell running a `-c` string, the first ancestor that is not. The walk
/// stops, and nothing is quarantined, at pid 1, at the agent or any of its ancestors
/// (whoever started the agent), and where the ancestor is in another cgroup than the
/// offending exec (a supervisor: systemd, a container runtime, a CI runner's daemon).
pub struct Auto {
    quarantine: Quarantine,
    /// Denials per launching tree, newest last.
    denials: HashMap<u32, VecDeque<Instant>>,
    /// The agent and its ancestors: never quarantined.
    protected: HashSet<u32>,
    cgroup_root: std::path::PathBuf,
}

/// Wrappers that exec their command: the tree that launched them is the one to stop.
const PASS_THROUGH: &[&str] = &[
    "sudo", "doas", "su", "runuser", "setpriv", "env", "nohup", "timeout", "nice", "ionice", "chrt", "taskset",
    "setsid", "stdbuf", "time", "xargs", "chroot", "unshare", "nsenter", "flock", "sg", "newgrp", "watch",
];
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox", "fish"];

/// Why a tree was quarantined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    Tampering,
    Denials(u32),
}

impl Auto {
    pub fn new(quarantine: Quarantine) -> Self {
        let mut protected = HashSet::new();
        let mut pid = std::process::id();
        while pid > 0 && protected.insert(pid) {
            pid = parent_of(pid).unwrap_or(0);
        }
        Self { quarantine, denials: HashMap::new(), protected, cgroup_root: crate::enforce::facts::cgroup2_root() }
    }

    /// Looks at one exec event: `denied` says whether it was finally denied (by the kernel
    /// or by the agent's verdict on a hold). Returns the quarantine's JSON line when this
    /// event made the agent quarantine a tree.
    pub fn observe(&mut self, record: &crate::events::decode::ExecRecord, denied: bool, settings: &guard_policy::Quarantine) -> Option<String> {
        use guard_common::enforce::mode;
        let e = &record.event;
        let m = mode::of(e.mode);
        if record.quarantined() || !(m == mode::ENFORCE || m == mode::STRICT) {
            return None;
        }
        let tampering = settings.on_tampering && record.tampered();
        let counts = denied && m == mode::STRICT && settings.after_denials > 0;
        if !tampering && !counts {
            return None;
        }
        let target = self.launcher(e.ppid, e.cgroup_id);
        let Some(target) = target else {
            tracing::info!(pid = e.pid, ppid = e.ppid, "no tree to quarantine: the launcher is pid 1, the agent's own ancestry or in another cgroup");
            return None;
        };
        let trigger = if tampering {
            Trigger::Tampering
        } else {
            let n = note_denial(&mut self.denials, target, Instant::now(), Duration::from_secs(u64::from(settings.within_s)));
            if n < settings.after_denials {
                return None;
            }
            Trigger::Denials(n)
        };
        self.denials.remove(&target);
        if self.quarantine.contains(target) {
            return None;
        }
        let comm = std::fs::read_to_string(format!("/proc/{target}/comm")).unwrap_or_default().trim().to_owned();
        match self.quarantine.add(target) {
            Ok(tree) => {
                let (name, count) = match trigger {
                    Trigger::Tampering => ("tampering", None),
                    Trigger::Denials(n) => ("denials", Some(n)),
                };
                tracing::warn!(pid = target, %comm, trigger = name, offender = e.pid, processes = tree.len(), "quarantined a process tree: every further exec from it is refused (guard-agent quarantine remove {target} lifts it)");
                Some(
                    serde_json::json!({
                        "event": "quarantine",
                        "pid": target,
                        "comm": comm,
                        "trigger": name,
                        "denials": count,
                        "within_s": count.map(|_| settings.within_s),
                        "offender": {"pid": e.pid, "uid": e.uid, "argv": record.argv.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>()},
                        "tree": tree,
                    })
                    .to_string(),
                )
            }
            Err(err) => {
                tracing::error!(pid = target, error = %format!("{err:#}"), "quarantining");
                None
            }
        }
    }

    /// The process that launched an exec whose parent is `ppid` (see [`Auto`]).
    fn launcher(&self, ppid: u32, cgroup_id: u64) -> Option<u32> {
        let mut pid = ppid;
        for _ in 0..32 {
            if pid <= 1 || self.protected.contains(&pid) || self.cgroup_of(pid)? != cgroup_id {
                return None;
            }
            if !passes_through(pid) {
                return Some(pid);
            }
            pid = parent_of(pid)?;
        }
        None
    }

    fn cgroup_of(&self, pid: u32) -> Option<u64> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
        crate::enforce::facts::cgroup_id(&self.cgroup_root, path)
    }
}

/// Counts a denial of the tree `target` at `now`; returns its denials within `window`.
/// Trees that went quiet are forgotten, so the table stays small.
fn note_denial(denials: &mut HashMap<u32, VecDeque<Instant>>, target: u32, now: Instant, window: Duration) -> u32 {
    let seen = denials.entry(target).or_default();
    seen.push_back(now);
    while seen.front().is_some_and(|t| now.duration_since(*t) > window) {
        seen.pop_front();
    }
    let n = seen.len() as u32;
    denials.retain(|_, v| v.back().is_some_and(|t| now.duration_since(*t) <= window));
    n
}

/// A wrapper, or a shell running a `-c` string.
fn passes_through(pid: u32) -> bool {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    let name = exe.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
    if PASS_THROUGH.contains(&name.as_str()) {
        return true;
    }
    if !SHELLS.contains(&name.as_str()) {
        return false;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    shell_runs_string(cmdline.split(|b| *b == 0).skip(1))
}

/// Whether a shell's arguments (after argv[0]) carry `-c` among its leading options.
fn shell_runs_string<'a>(args: impl Iterator<Item = &'a [u8]>) -> bool {
    let mut args = args;
    while let Some(a) = args.next() {
        match a {
            b"--" => return false,
            // `-o pipefail`, `+O extglob`: an option with a value.
            b"-o" | b"+o" | b"-O" | b"+O" => {
                args.next();
            }
            [b'-', b'-', ..] => {}
            [b'-', rest @ ..] | [b'+', rest @ ..] if !rest.is_empty() => {
                if rest.contains(&b'c') {
                    return true;
                }
            }
            _ => return false,
        }
    }
    false
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().nth(1)).and_then(|p| p.parse().ok())
}

/// Every live descendant of `root`, from the parent links in /proc.
fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if let Some(ppid) = parent_of(pid) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        for &c in children.get(&p).map_or(&[][..], Vec::as_slice) {
            out.push(c);
            stack.push(c);
        }
    }
    out
}

/// `guard-agent quarantine`.
#[derive(clap::Subcommand, Debug)]
pub enum QuarantineCommand {
    /// Refuse every further exec from these processes and their descendants.
    Add { pids: Vec<u32> },
    /// Lift the quarantine of these processes (descendants stay quarantined).
    Remove { pids: Vec<u32> },
    /// List quarantined processes.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub fn command(cmd: &QuarantineCommand) -> anyhow::Result<ExitCode> {
    crate::loader::ensure_mounts()?;
    let mut q = Quarantine::open()?;
    match cmd {
        QuarantineCommand::Add { pids } => {
            for pid in pids {
                let tree = q.add(*pid)?;
                println!("quarantined {pid} ({} processes with its descendants)", tree.len());
            }
        }
        QuarantineCommand::Remove { pids } => {
            for pid in pids {
                println!("{pid}: {}", if q.remove(*pid) { "released" } else { "was not quarantined" });
            }
        }
        QuarantineCommand::List { json } => {
            let now = crate::hold::monotonic_ns();
            for (tgid, since) in q.list() {
                let secs = now.saturating_sub(since) as f64 / 1e9;
                if *json {
                    println!("{}", serde_json::json!({"pid": tgid, "since_secs": secs}));
                } else {
                    println!("{tgid}\tquarantined {secs:.1} s ago");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shell_passes_through_only_when_it_runs_a_string() {
        fn args(s: &str) -> Vec<&[u8]> {
            s.split(' ').filter(|a| !a.is_empty()).map(str::as_bytes).collect()
        }
        for yes in ["-c rm", "-ec rm", "-e -c rm", "--norc -c rm", "-xc x", "-o pipefail -c x"] {
            assert!(shell_runs_string(args(yes).into_iter()), "{yes}");
        }
        for no in ["", "script.sh", "-e script.sh", "-s", "-i", "-- -c", "script.sh -c"] {
            assert!(!shell_runs_string(args(no).into_iter()), "{no}");
        }
    }

    #[test]
    fn denials_count_per_tree_within_the_window() {
        let mut d = HashMap::new();
        let t0 = Instant::now();
        let w = Duration::from_secs(60);
        assert_eq!(note_denial(&mut d, 10, t0, w), 1);
        assert_eq!(note_denial(&mut d, 11, t0, w), 1, "another tree counts apart");
        assert_eq!(note_denial(&mut d, 10, t0 + Duration::from_secs(30), w), 2);
        // 61 s after the first: it left the window, the second is still in it.
        assert_eq!(note_denial(&mut d, 10, t0 + Duration::from_secs(61), w), 2);
        // Tree 11 went quiet for longer than the window: forgotten.
        assert!(!d.contains_key(&11));
        assert_eq!(note_denial(&mut d, 10, t0 + Duration::from_secs(200), w), 1);
    }

    #[test]
    fn parent_links_come_from_proc() {
        let me = std::process::id();
        let child = std::process::Command::new("/bin/sleep").arg("5").spawn().unwrap();
        assert_eq!(parent_of(child.id()), Some(me));
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
    }
}
