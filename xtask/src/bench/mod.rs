//! `cargo xtask bench …`: benchmarks, not part of `cargo xtask test`.
//!
//! `bench exec` is the exec storm of issue 2's "Performance" section: `posix_spawn` of
//! `/bin/true` and of a 20-argument command, at 1 and 2 workers, with and without the
//! agent, interleaved over rounds in one run (see `exec`). `bench exec --seconds N`
//! instead runs the agent for N seconds at the machine's ceiling (see `ceiling`). Each
//! round also runs the storm with syscall tracepoints on and no program: the floor any
//! syscall-tracepoint tool pays on this kernel (see `crate::syscall_tracing`).
//! `bench hold` measures what holding costs a strict identity's command (see `hold`).

mod agent;
mod ceiling;
mod exec;
mod hold;
mod report;
mod stats;
mod storm;

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Result, bail};

use crate::{build, setup::Setup, util};

/// Which benchmark to run.
#[derive(clap::Subcommand, Debug)]
pub enum Which {
    /// Exec storm with and without the agent (needs root).
    Exec(ExecOptions),
    /// Hold latency of a strict identity's command against an unheld one (needs root).
    Hold(hold::HoldOptions),
}

/// Options of `bench exec`.
#[derive(clap::Args, Debug, Clone)]
pub struct ExecOptions {
    /// Rounds; each runs every case without and with the agent.
    #[arg(long, default_value_t = 8)]
    pub rounds: usize,
    /// Seconds each case storms per round.
    #[arg(long, default_value_t = 2.0)]
    pub case_secs: f64,
    /// Instead: one N-second storm with the agent at the ceiling (every CPU spawning).
    #[arg(long, value_name = "N")]
    pub seconds: Option<u64>,
    /// Workers for the `--seconds` run (default: the number of CPUs).
    #[arg(long)]
    pub workers: Option<usize>,
}

/// Runs a benchmark.
pub fn run(setup: &Setup, which: &Which) -> Result<ExitCode> {
    if !util::is_root() {
        bail!(
            "the exec benchmark loads BPF programs and sets kernel.bpf_stats_enabled: run it as root"
        );
    }
    let agent = build::agent(setup)?;
    let opts = match which {
        Which::Exec(opts) => opts,
        Which::Hold(opts) => return hold::run(&agent, opts),
    };
    let _stats = BpfStats::enable()?;
    match opts.seconds {
        Some(secs) => ceiling::run(&agent, secs, opts.workers),
        None => exec::run(&agent, opts),
    }
}

/// Markers and file names shared by the benchmark modes.
struct Names {
    storm: String,
    ready: String,
    agent_log: PathBuf,
}

impl Names {
    fn new() -> Result<Self> {
        let pid = std::process::id();
        let dir = util::target_dir().join("guard-bench");
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            storm: format!("guard-bench-storm-{pid}"),
            ready: format!("guard-bench-ready-{pid}"),
            agent_log: dir.join("agent.log"),
        })
    }
}

/// `kernel.bpf_stats_enabled` set to 1 while alive, restored on drop.
struct BpfStats {
    previous: String,
}

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl BpfStats {
    fn enable() -> Result<Self> {
        let previous = std::fs::read_to_string(BPF_STATS)?.trim().to_owned();
        std::fs::write(BPF_STATS, "1")?;
        Ok(Self { previous })
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write(BPF_STATS, &self.previous);
    }
}
