//! The quarantine: processes (with their descendants) from which every exec is refused.
//!
//! The kernel keeps it in the `QUARANTINE` map (tgid → when), adds each child at fork
//! and drops a process's entry when it exits; `QUARANTINE_USED` tells the fork and exit
//! programs whether to look at all. Flagging a process here also flags the descendants
//! it already has (read from /proc), so the whole tree is covered.

use std::{collections::HashMap, path::Path, process::ExitCode};

use anyhow::Context as _;
use aya::maps::{Array, HashMap as BpfHashMap, Map, MapData};

pub struct Quarantine {
    map: BpfHashMap<MapData, u32, u64>,
    used: Array<MapData, u32>,
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
        Ok(Self { map: BpfHashMap::try_from(open("QUARANTINE")?)?, used: Array::try_from(open("QUARANTINE_USED")?)? })
    }

    /// Quarantines `tgid` and every descendant it has now. Returns the tgids flagged.
    pub fn add(&mut self, tgid: u32) -> anyhow::Result<Vec<u32>> {
        // Switch the fork program on before the first entry, so no child slips through.
        self.used.set(0, 1, 0)?;
        let now = crate::hold::monotonic_ns();
        let mut tree = vec![tgid];
        tree.extend(descendants(tgid));
        for t in &tree {
            self.map.insert(t, now, 0).with_context(|| format!("quarantining {t}"))?;
        }
        Ok(tree)
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

/// Every live descendant of `root`, from the parent links in /proc.
fn descendants(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let ppid = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().nth(1)).and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
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
