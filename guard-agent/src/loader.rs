//! Loading guard's eBPF object into the running kernel (pinning and adoption: kernel.rs).

use std::io;

use aya::{
    Ebpf, EbpfError, EbpfLoader,
    maps::{MapData, PerCpuArray},
    programs::{BtfTracePoint, ProgramError, TracePoint},
};
use guard_common::{config::KernelOffsets, event::counter};

use crate::btf::{BtfError, KernelBtf, kernel_offsets};

/// The eBPF object built by build.rs.
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/guard-ebpf"));

/// Tracepoint programs: (program name, category).
pub const TRACEPOINTS: [(&str, &str); 3] = [
    ("sys_enter_execveat", "syscalls"),
    ("sys_exit_execve", "syscalls"),
    ("sys_exit_execveat", "syscalls"),
];
/// BTF tracepoint programs (typed arguments): (program name, tracepoint).
pub const BTF_TRACEPOINTS: [(&str, &str); 1] = [("sched_process_exec", "sched_process_exec")];
/// Lifecycle raw tracepoints (the quarantine follows forks and ends at exit). Loaded
/// and pinned at start, attached (pinned) at the first quarantine by
/// `kernel::attach_lifecycle`. Never attached unpinned: `doctor`'s test attachment
/// leaves them out, since on 6.1 a process exiting with a link on `sched_process_exit`
/// still open locked up the VM (soft lockup in the tracepoint's unregistration during
/// that exit).
pub const LIFECYCLE_TRACEPOINTS: [(&str, &str); 2] =
    [("sched_process_fork", "sched_process_fork"), ("sched_process_exit", "sched_process_exit")];
/// LSM programs (BPF LSM path only): the exec decision, and the guard on held processes.
pub const LSM_PROGRAMS: [&str; 2] = ["bprm_check_security", "task_kill"];

/// Programs earlier builds attached and this one does not (`sys_enter_execve` stashed
/// the caller's pointers until the syscall's own registers were read instead): still
/// recognised as guard's, so `unload` after an upgrade waits for them too.
pub const RETIRED_PROGRAMS: [&str; 1] = ["sys_enter_execve"];

/// Names of the capture programs, as the kernel reports them (first 15 bytes).
pub fn program_names() -> impl Iterator<Item = &'static str> {
    TRACEPOINTS.iter().chain(&BTF_TRACEPOINTS).chain(&LIFECYCLE_TRACEPOINTS).map(|(n, _)| *n)
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Btf(#[from] BtfError),
    #[error("loading the eBPF object")]
    Object(#[from] EbpfError),
    #[error("program {name}: {action}")]
    Program {
        name: &'static str,
        action: &'static str,
        #[source]
        source: ProgramError,
    },
    #[error("map {0} missing from the eBPF object")]
    MissingMap(&'static str),
    #[error("mounting {fs} at {path}")]
    Mount {
        fs: &'static str,
        path: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("pinning {path}")]
    Pin { path: String, #[source] source: aya::pin::PinError },
    #[error("{what}")]
    Io { what: String, #[source] source: io::Error },
}

/// Load-time settings.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Ring buffer size in bytes (a power of two, multiple of the page size).
    pub ring_bytes: u32,
    /// Slots of the tid-indexed exec stash; `None`: one per possible tid
    /// (`kernel.pid_max`), at most `STASH_SLOTS_MAX`. Threads past it use a hash map.
    pub stash_slots: Option<u32>,
}

impl Default for LoadConfig {
    fn default() -> Self {
        // 16 MiB: at the machine's exec ceiling (~10k/s) with a typical 300-byte record
        // this holds several seconds of events should the reader stall.
        Self { ring_bytes: 16 * 1024 * 1024, stash_slots: None }
    }
}

/// Mounts bpffs, tracefs and securityfs where they are missing (they are not mounted
/// at boot on some hosts and in minimal VMs).
pub fn ensure_mounts() -> Result<(), LoadError> {
    mount_if_missing("bpf", "/sys/fs/bpf", "/sys/fs/bpf", 0xcafe_4a11)?;
    mount_if_missing("tracefs", "/sys/kernel/tracing", "/sys/kernel/tracing", 0x7472_6163)?;
    mount_if_missing("securityfs", "/sys/kernel/security", "/sys/kernel/security", 0x7363_6673)
}

fn mount_if_missing(fs: &'static str, path: &'static str, target: &str, magic: i64) -> Result<(), LoadError> {
    let c_path = std::ffi::CString::new(target).expect("no NUL in a constant path");
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and out-pointer.
    if unsafe { libc::statfs(c_path.as_ptr(), &mut st) } == 0 && st.f_type as i64 == magic {
        return Ok(());
    }
    let c_fs = std::ffi::CString::new(fs).expect("no NUL in a constant name");
    // SAFETY: valid C strings; no data argument.
    let rc = unsafe { libc::mount(c_fs.as_ptr(), c_path.as_ptr(), c_fs.as_ptr(), 0, std::ptr::null()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(LoadError::Mount { fs, path, source: io::Error::last_os_error() })
    }
}

/// Resolves offsets from the running kernel's BTF.
pub fn offsets() -> Result<KernelOffsets, LoadError> {
    Ok(kernel_offsets(&KernelBtf::load()?)?)
}

/// Slots of the tid-indexed stash (see `LoadConfig::stash_slots`).
fn stash_slots(config: &LoadConfig) -> u32 {
    let wanted = config.stash_slots.unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or(guard_common::config::STASH_SLOTS_MAX)
    });
    wanted.clamp(1, guard_common::config::STASH_SLOTS_MAX)
}

/// Creates the maps and programs (not yet attached).
pub fn load(config: &LoadConfig) -> Result<Ebpf, LoadError> {
    ensure_mounts()?;
    let offsets = offsets()?;
    let cpus = aya::util::nr_cpus().map_err(|(what, source)| LoadError::Io { what: what.into(), source })?;
    let slots = stash_slots(config);
    tracing::info!(slots, "exec stash slots indexed by tid");
    let ebpf = EbpfLoader::new()
        .override_global("OFFSETS", &offsets, true)
        .override_global("WAKE_AT", &u64::from(config.ring_bytes / 4), true)
        .map_max_entries("SCRATCH", cpus as u32)
        .map_max_entries("EVENTS", config.ring_bytes)
        .map_max_entries("STASH", slots)
        .load(EBPF_OBJECT)?;
    Ok(ebpf)
}

/// Loads and attaches the capture programs. The links live as long as `ebpf`.
pub fn attach_capture(ebpf: &mut Ebpf) -> Result<(), LoadError> {
    for (name, category) in TRACEPOINTS {
        let prog: &mut TracePoint = program(ebpf, name)?;
        let started = std::time::Instant::now();
        prog.load().map_err(|source| LoadError::Program { name, action: "load", source })?;
        log_load(name, started, prog.info().ok());
        prog.attach(category, name).map_err(|source| LoadError::Program { name, action: "attach", source })?;
    }
    let btf = kernel_btf()?;
    for (name, tp) in BTF_TRACEPOINTS {
        let prog: &mut BtfTracePoint = program(ebpf, name)?;
        let started = std::time::Instant::now();
        prog.load(tp, &btf).map_err(|source| LoadError::Program { name, action: "load", source })?;
        log_load(name, started, prog.info().ok());
        prog.attach().map_err(|source| LoadError::Program { name, action: "attach", source })?;
    }
    Ok(())
}

/// The running kernel's BTF, as aya needs it to load typed programs.
pub fn kernel_btf() -> Result<aya::Btf, LoadError> {
    aya::Btf::from_sys_fs().map_err(|e| LoadError::Io { what: format!("kernel BTF: {e}"), source: io::Error::other(e.to_string()) })
}

/// Loads one program, logging the time and the verifier's instruction count.
pub fn load_logged(name: &'static str, load: impl FnOnce() -> Result<(), ProgramError>) -> Result<(), LoadError> {
    let started = std::time::Instant::now();
    load().map_err(|source| LoadError::Program { name, action: "load", source })?;
    tracing::debug!(program = name, load_ms = started.elapsed().as_millis() as u64, "loaded");
    Ok(())
}

fn log_load(name: &str, started: std::time::Instant, info: Option<aya::programs::ProgramInfo>) {
    let insns = info.and_then(|i| i.verified_instruction_count());
    tracing::debug!(program = name, load_ms = started.elapsed().as_millis() as u64, verified_insns = ?insns, "loaded");
}

pub fn program<'a, T>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut T, LoadError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = ProgramError>,
{
    let prog = ebpf.program_mut(name).ok_or(LoadError::Program {
        name,
        action: "find",
        source: ProgramError::UnexpectedProgramType,
    })?;
    prog.try_into().map_err(|source| LoadError::Program { name, action: "type", source })
}

/// Totals of the per-CPU counters, indexed by `guard_common::event::counter`.
pub fn read_counters(map: &PerCpuArray<MapData, u64>) -> Result<[u64; counter::COUNT as usize], aya::maps::MapError> {
    let mut totals = [0u64; counter::COUNT as usize];
    for (i, total) in totals.iter_mut().enumerate() {
        *total = map.get(&(i as u32), 0)?.iter().sum();
    }
    Ok(totals)
}

/// Picks the enforcement path: BPF LSM when `bpf` is an active LSM and the kernel
/// accepts the `bprm_check_security` program, else the signal path. Returns the path
/// and the reason.
pub fn choose_path(ebpf: &mut Ebpf) -> (u8, String) {
    use guard_common::enforce::path;
    let active = std::fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
    if !active.trim().split(',').any(|l| l == "bpf") {
        return (path::SIGNAL, format!("bpf is not an active LSM ({})", active.trim()));
    }
    match load_lsm(ebpf) {
        Ok(()) => (path::LSM, "BPF LSM active and bprm_check_security loads".into()),
        Err(e) => (path::SIGNAL, format!("LSM program refused: {e}")),
    }
}

/// Loads the LSM programs: `bprm_check_security` decides the path; `task_kill` (the
/// guard on held processes) is an addition, and the path stays LSM without it.
fn load_lsm(ebpf: &mut Ebpf) -> Result<(), LoadError> {
    let btf = kernel_btf()?;
    for (i, name) in LSM_PROGRAMS.into_iter().enumerate() {
        let prog: &mut aya::programs::Lsm = program(ebpf, name)?;
        match prog.load(name, &btf) {
            Ok(()) => {}
            Err(source) if i == 0 => return Err(LoadError::Program { name, action: "load", source }),
            Err(err) => tracing::warn!(program = name, error = %err, "LSM program refused: held processes are not guarded against SIGCONT"),
        }
    }
    Ok(())
}
