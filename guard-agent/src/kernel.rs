//! guard's programs in the kernel, and how they outlive the agent.
//!
//! Everything guard puts in the kernel is pinned under one directory per build of the
//! eBPF object, `/sys/fs/bpf/guard/<object id>/{maps,progs,links}`:
//!
//! - a fresh start loads the object, pins every map at once, lets the caller write the
//!   policy into the maps, then attaches and pins every link; only then does it remove
//!   the directories of other builds (an upgrade), so two builds overlap for a moment
//!   and there is never a gap;
//! - a start that finds the links of its own build pinned *adopts* them: it opens the
//!   pinned maps, attaches nothing, and writes its policy into the maps in force. Events
//!   the programs wrote while no agent ran are still in the pinned ring buffer (up to
//!   its size; beyond it, the pinned drop counter says how many were lost);
//! - a SIGKILLed agent leaves the pins, so enforcement stays in force; a clean stop
//!   removes them unless the agent runs with `--persist` (the service units do);
//! - `guard-agent unload` removes the whole tree, which detaches everything.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use aya::{
    Ebpf,
    maps::{Map, MapData},
    programs::{BtfTracePoint, Lsm, RawTracePoint, TracePoint, links::FdLink},
};
use guard_common::{PIN_ROOT, enforce::path};

use crate::loader::{self, LSM_PROGRAMS, LIFECYCLE_TRACEPOINTS, LoadConfig, LoadError, BTF_TRACEPOINTS, TRACEPOINTS, program};

/// The LSM program's name (its link's pin name too).
pub const LSM_PROGRAM: &str = "bprm_check_security";

/// The eBPF object's identity: FNV-1a 64 of its bytes, in hex. Two agents built from
/// the same object share it, so a restarted agent knows the pinned programs are its own.
pub fn object_id() -> String {
    format!("{:016x}", guard_common::matcher::fnv_bytes(guard_common::matcher::FNV_BASIS, loader::EBPF_OBJECT))
}

/// The maps of the programs in force, by name.
pub struct Maps(HashMap<String, Map>);

impl Maps {
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Map> {
        self.0.get_mut(name)
    }

    /// Takes a map out (for a reader that owns it).
    pub fn take(&mut self, name: &str) -> Option<Map> {
        self.0.remove(name)
    }
}

/// The programs in force: freshly loaded (attached by [`Kernel::attach`]) or adopted.
pub struct Kernel {
    /// The enforcement path (`guard_common::enforce::path`).
    pub path: u8,
    /// Why that path.
    pub reason: String,
    /// Whether the programs were adopted from pins rather than loaded.
    pub adopted: bool,
    pub maps: Maps,
    dir: PathBuf,
    /// The loaded object until its links are pinned (fresh starts only).
    ebpf: Option<Ebpf>,
}

impl Kernel {
    /// Adopts this build's pinned programs if they are attached, else loads the object
    /// (maps pinned, programs loaded, nothing attached yet).
    pub fn open(config: &LoadConfig) -> Result<Self, LoadError> {
        loader::ensure_mounts()?;
        let dir = Path::new(PIN_ROOT).join(object_id());
        if complete(&dir) {
            match Self::adopt(&dir) {
                Ok(k) => return Ok(k),
                Err(err) => {
                    tracing::warn!(error = %err, dir = %dir.display(), "pinned programs could not be adopted; loading afresh");
                }
            }
        }
        // A half-made directory of this build (an agent killed while starting) goes;
        // other builds stay in force until ours is attached.
        if dir.exists() {
            remove_tree(&dir)?;
        }
        let mut ebpf = loader::load(config)?;
        let (path, reason) = loader::choose_path(&mut ebpf);
        let maps_dir = dir.join("maps");
        mkdir(&maps_dir)?;
        let names: Vec<String> = ebpf.maps().map(|(n, _)| n.to_owned()).collect();
        let mut maps = HashMap::new();
        for name in names {
            let map = ebpf.take_map(&name).ok_or(LoadError::MissingMap("listed map"))?;
            // .rodata and friends: bpffs refuses dots in names, and only the programs,
            // which hold them, need them.
            if name.starts_with('.') {
                maps.insert(name, map);
                continue;
            }
            let pin = maps_dir.join(&name);
            map.pin(&pin).map_err(|source| LoadError::Pin { path: pin.display().to_string(), source })?;
            maps.insert(name, map);
        }
        Ok(Self { path, reason, adopted: false, maps: Maps(maps), dir, ebpf: Some(ebpf) })
    }

    fn adopt(dir: &Path) -> Result<Self, LoadError> {
        let mut maps = HashMap::new();
        let maps_dir = dir.join("maps");
        for entry in read_dir(&maps_dir)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let data = MapData::from_pin(entry.path()).map_err(|e| io_error(format!("opening pinned map {name}: {e}")))?;
            let map = Map::from_map_data(data).map_err(|e| io_error(format!("pinned map {name}: {e}")))?;
            maps.insert(name, map);
        }
        for need in ["EVENTS", "COUNTERS", "CONFIG"] {
            if !maps.contains_key(need) {
                return Err(LoadError::MissingMap(need));
            }
        }
        let lsm = dir.join("links").join(LSM_PROGRAM).exists();
        let (path, reason) = if lsm {
            (path::LSM, "adopted: the pinned programs deny through BPF LSM".to_owned())
        } else {
            (path::SIGNAL, "adopted: the pinned programs deny with SIGKILL at sched_process_exec".to_owned())
        };
        Ok(Self { path, reason, adopted: true, maps: Maps(maps), dir: dir.to_owned(), ebpf: None })
    }

    /// This build's pin directory.
    pub fn pin_dir(&self) -> &Path {
        &self.dir
    }

    /// Attaches and pins every program (a no-op for adopted programs), then removes the
    /// pins of other builds: they were in force until this point.
    pub fn attach(&mut self) -> Result<(), LoadError> {
        let Some(ebpf) = self.ebpf.as_mut() else {
            return Ok(());
        };
        let links = self.dir.join("links");
        let progs = self.dir.join("progs");
        mkdir(&links)?;
        mkdir(&progs)?;
        for (name, category) in TRACEPOINTS {
            let prog: &mut TracePoint = program(ebpf, name)?;
            loader::load_logged(name, || prog.load())?;
            let id = prog.attach(category, name).map_err(|source| LoadError::Program { name, action: "attach", source })?;
            let link = prog.take_link(id).map_err(|source| LoadError::Program { name, action: "take link", source })?;
            let fd = FdLink::try_from(link).map_err(|e| io_error(format!("{name}: the kernel has no BPF perf links ({e})")))?;
            pin_link(fd, &links, name)?;
            prog.pin(progs.join(name)).map_err(|source| LoadError::Pin { path: format!("program {name}"), source })?;
        }
        let btf = loader::kernel_btf()?;
        for (name, tp) in BTF_TRACEPOINTS {
            let prog: &mut BtfTracePoint = program(ebpf, name)?;
            loader::load_logged(name, || prog.load(tp, &btf))?;
            let id = prog.attach().map_err(|source| LoadError::Program { name, action: "attach", source })?;
            let link = prog.take_link(id).map_err(|source| LoadError::Program { name, action: "take link", source })?;
            pin_link(link.into(), &links, name)?;
            prog.pin(progs.join(name)).map_err(|source| LoadError::Pin { path: format!("program {name}"), source })?;
        }
        // Loaded and pinned, attached at the first quarantine (`attach_lifecycle`).
        for (name, _) in LIFECYCLE_TRACEPOINTS {
            let prog: &mut RawTracePoint = program(ebpf, name)?;
            loader::load_logged(name, || prog.load())?;
            prog.pin(progs.join(name)).map_err(|source| LoadError::Pin { path: format!("program {name}"), source })?;
        }
        if self.path == path::LSM {
            for name in LSM_PROGRAMS {
                let prog: &mut Lsm = program(ebpf, name)?;
                if prog.fd().is_err() {
                    continue; // not loaded (see loader::load_lsm)
                }
                let id = prog.attach().map_err(|source| LoadError::Program { name, action: "attach", source })?;
                let link = prog.take_link(id).map_err(|source| LoadError::Program { name, action: "take link", source })?;
                pin_link(link.into(), &links, name)?;
                prog.pin(progs.join(name)).map_err(|source| LoadError::Pin { path: format!("program {name}"), source })?;
            }
        }
        // Only complete once the marker exists: a directory without it is half-made.
        mkdir(&self.dir.join("attached"))?;
        for old in other_builds(&self.dir)? {
            tracing::info!(dir = %old.display(), "removing the programs of an earlier build");
            remove_tree(&old)?;
        }
        Ok(())
    }

    /// Ends the agent's hold on the programs: with `persist` they stay in force (and
    /// the next agent adopts them), else everything is removed.
    pub fn release(self, persist: bool) -> Result<(), LoadError> {
        drop(self.maps);
        drop(self.ebpf);
        if persist {
            tracing::info!(dir = %self.dir.display(), "programs stay pinned and in force");
            Ok(())
        } else {
            remove_pins()?;
            if let Err(left) = wait_detached(std::time::Duration::from_secs(5)) {
                tracing::warn!(left, "links still attached after removing the pins");
            }
            Ok(())
        }
    }
}

/// Whether `dir` holds a build that finished attaching.
fn complete(dir: &Path) -> bool {
    dir.join("attached").is_dir() && dir.join("links").is_dir()
}

/// Attaches the lifecycle programs of the build pinned at `dir` (the quarantine follows
/// forks and ends at exit), pinned, unless they are attached already. Until something is
/// quarantined they have nothing to do, yet attached they would cost every fork and
/// every exit on the machine a program run (~0.1 µs each), so the first quarantine
/// attaches them and they stay until guard is unloaded. Two processes racing here
/// both attach; the one whose pin loses drops its link, which detaches it.
pub fn attach_lifecycle(dir: &Path) -> Result<(), LoadError> {
    let links = dir.join("links");
    for (name, tp) in LIFECYCLE_TRACEPOINTS {
        let pin = links.join(name);
        if pin.exists() {
            continue;
        }
        let mut prog = RawTracePoint::from_pin(dir.join("progs").join(name))
            .map_err(|source| LoadError::Program { name, action: "open pinned", source })?;
        let id = prog.attach(tp).map_err(|source| LoadError::Program { name, action: "attach", source })?;
        let link = prog.take_link(id).map_err(|source| LoadError::Program { name, action: "take link", source })?;
        match FdLink::from(link).pin(&pin) {
            Ok(pinned) => drop(pinned),
            Err(_) if pin.exists() => {}
            Err(source) => return Err(LoadError::Pin { path: pin.display().to_string(), source }),
        }
        tracing::info!(program = name, "attached: the quarantine follows forks and exits from now on");
    }
    Ok(())
}

fn pin_link(link: FdLink, dir: &Path, name: &str) -> Result<(), LoadError> {
    let path = dir.join(name);
    let pinned = link.pin(&path).map_err(|source| LoadError::Pin { path: path.display().to_string(), source })?;
    // The pin holds the link now; closing our fd does not detach it.
    drop(pinned);
    Ok(())
}

/// The build directories under [`PIN_ROOT`] other than `ours`.
fn other_builds(ours: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let root = Path::new(PIN_ROOT);
    if !root.exists() {
        return Ok(Vec::new());
    }
    Ok(read_dir(root)?.into_iter().map(|e| e.path()).filter(|p| p != ours && p.is_dir()).collect())
}

/// Complete build directories, ours first.
pub fn builds() -> Vec<PathBuf> {
    let ours = Path::new(PIN_ROOT).join(object_id());
    let mut all: Vec<PathBuf> = read_dir(Path::new(PIN_ROOT))
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.path())
        .filter(|p| complete(p))
        .collect();
    all.sort_by_key(|p| *p != ours);
    all
}

/// The enforcement path of a pinned build.
pub fn pinned_path(build: &Path) -> u8 {
    if build.join("links").join(LSM_PROGRAM).exists() { path::LSM } else { path::SIGNAL }
}

/// The names (as the kernel keeps them, 15 bytes) of every program of any build.
fn guard_program_names() -> Vec<String> {
    loader::program_names()
        .chain(LSM_PROGRAMS)
        .chain(loader::RETIRED_PROGRAMS)
        .map(|n| n.chars().take(15).collect())
        .collect()
}

/// How many BPF links in the kernel attach one of guard's programs (any build).
pub fn attached_links() -> usize {
    use aya::programs::{loaded_links, loaded_programs};
    let ours = guard_program_names();
    let ids: Vec<u32> = loaded_programs()
        .filter_map(Result::ok)
        .filter(|p| p.name_as_str().is_some_and(|n| ours.iter().any(|o| o == n)))
        .map(|p| p.id())
        .collect();
    loaded_links().filter_map(Result::ok).filter(|l| ids.contains(&l.program_id())).count()
}

/// Waits until no link of guard's is left: the kernel releases a link when its last
/// reference goes, partly in deferred work, so "unpinned" is not yet "detached".
/// Returns how many are left at the deadline.
pub fn wait_detached(timeout: std::time::Duration) -> Result<(), usize> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match attached_links() {
            0 => break,
            left if std::time::Instant::now() > deadline => return Err(left),
            _ => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
    // A link leaves the kernel's list before its release work unhooks the program (an
    // LSM trampoline keeps calling it meanwhile): wait, briefly, for the programs to go
    // too. Not an error when they stay: a running agent may still hold them.
    let settle = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while loaded_programs_of_guard() > 0 && std::time::Instant::now() < settle {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(())
}

/// How many of guard's programs the kernel still has loaded.
fn loaded_programs_of_guard() -> usize {
    let ours = guard_program_names();
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter(|p| p.name_as_str().is_some_and(|n| ours.iter().any(|o| o == n)))
        .count()
}

/// Removes every pin under [`PIN_ROOT`], which detaches every program no process holds.
/// Returns what was removed.
pub fn remove_pins() -> Result<Vec<String>, LoadError> {
    let root = Path::new(PIN_ROOT);
    if !root.exists() {
        return Ok(Vec::new());
    }
    let mut removed = Vec::new();
    collect(root, &mut removed).map_err(|source| LoadError::Io { what: format!("listing {PIN_ROOT}"), source })?;
    remove_tree(root)?;
    Ok(removed)
}

fn collect(dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else {
            out.push(path.display().to_string());
        }
    }
    Ok(())
}

fn remove_tree(dir: &Path) -> Result<(), LoadError> {
    std::fs::remove_dir_all(dir).map_err(|source| LoadError::Io { what: format!("removing {}", dir.display()), source })
}

fn mkdir(dir: &Path) -> Result<(), LoadError> {
    std::fs::create_dir_all(dir).map_err(|source| LoadError::Io { what: format!("creating {}", dir.display()), source })
}

fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>, LoadError> {
    let io = |source| LoadError::Io { what: format!("listing {}", dir.display()), source };
    std::fs::read_dir(dir).map_err(io)?.collect::<Result<Vec<_>, _>>().map_err(io)
}

fn io_error(what: String) -> LoadError {
    LoadError::Io { source: std::io::Error::other(what.clone()), what }
}
