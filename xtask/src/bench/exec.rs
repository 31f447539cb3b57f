//! The interleaved exec benchmark: every round runs each case without the agent and
//! with it, back to back (alternating which comes first), so each agent figure has a
//! baseline measured right next to it. The agent is started afresh for each case and
//! stopped after it, so no program stays attached during a baseline. Beside the
//! baseline the floor: the same storm with syscall tracepoints switched on and nothing
//! attached (see `crate::syscall_tracing`), the part of the cost no such tool can avoid.

use std::{collections::BTreeMap, path::Path, process::ExitCode, time::Duration};

use anyhow::Result;

use super::{
    Names,
    agent::{Agent, Snapshot},
    report,
    storm::{self, Shape, Spawn, Storm},
};
use crate::{syscall_tracing::SyscallTracing, util::note};

/// One benchmark case: what is spawned, by how many workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Case {
    pub shape: Shape,
    pub workers: usize,
}

/// The cases every round runs.
pub const CASES: [Case; 4] = [
    Case {
        shape: Shape::True,
        workers: 1,
    },
    Case {
        shape: Shape::True,
        workers: 2,
    },
    Case {
        shape: Shape::Args20,
        workers: 1,
    },
    Case {
        shape: Shape::Args20,
        workers: 2,
    },
];

/// What the agent did during one storm.
#[derive(Clone, Copy, Debug, Default)]
pub struct AgentCost {
    /// Storm execs the agent reported.
    pub captured: u64,
    /// Increase of the agent's drop counter.
    pub dropped: Option<u64>,
    /// Increase of the programs' summed BPF run time.
    pub bpf_ns: Option<u64>,
    /// The agent's CPU time: schedstat when available, else utime + stime.
    pub cpu_ns: u64,
    /// The agent's utime + stime (10 ms ticks: coarse over short storms).
    pub stat_cpu_ns: u64,
    /// The agent's threads' wake-ups (schedstat) over `secs`.
    pub wakes: Option<u64>,
    /// Time between the two snapshots.
    pub secs: f64,
}

/// One round of one case.
pub struct Pair {
    pub base: Storm,
    /// The storm with syscall tracepoints on and no program (`None`: not measurable).
    pub floor: Option<Storm>,
    pub agent: Storm,
    pub cost: AgentCost,
}

/// All rounds, by case.
pub type Results = BTreeMap<Case, Vec<Pair>>;

/// Runs the rounds and prints per-round lines and the summary.
pub fn run(agent_bin: &Path, opts: &super::ExecOptions) -> Result<ExitCode> {
    let names = Names::new()?;
    let duration = Duration::from_secs_f64(opts.case_secs);
    note(format_args!(
        "bench exec: {} rounds x {} cases x {:?}, agent log {}",
        opts.rounds,
        CASES.len(),
        duration,
        names.agent_log.display()
    ));
    let floor = match SyscallTracing::enable() {
        Ok(_) => true,
        Err(err) => {
            note(format_args!("bench exec: no floor runs: {err:#}"));
            false
        }
    };
    let mut results = Results::new();
    for round in 0..opts.rounds {
        for (i, case) in CASES.iter().enumerate() {
            let pair = pair(
                agent_bin,
                &names,
                *case,
                duration,
                (round + i) % 2 == 1,
                floor,
            )?;
            report::round_line(round + 1, *case, &pair);
            results.entry(*case).or_default().push(pair);
        }
    }
    report::summary(&results);
    Ok(ExitCode::SUCCESS)
}

/// One case without and with the agent, and the floor. The baseline runs next to the
/// agent's storm, with the floor on its other side: on these machines the rate drifts
/// over seconds, so two storms' ratio is steadier the closer they run. Whether the
/// agent or the baseline goes first alternates, so what an agent's start or stop leaves
/// behind (and drift) does not favour either side.
fn pair(
    bin: &Path,
    names: &Names,
    case: Case,
    duration: Duration,
    agent_first: bool,
    with_floor: bool,
) -> Result<Pair> {
    let baseline = || {
        storm::run(
            &Spawn::new(case.shape, &names.storm)?,
            case.workers,
            duration,
        )
    };
    let floor = || -> Result<Option<Storm>> {
        if !with_floor {
            return Ok(None);
        }
        let _tracing = SyscallTracing::enable()?;
        baseline().map(Some)
    };
    if agent_first {
        let (agent, cost) = with_agent(bin, names, case, duration)?;
        let base = baseline()?;
        Ok(Pair {
            base,
            floor: floor()?,
            agent,
            cost,
        })
    } else {
        let floor = floor()?;
        let base = baseline()?;
        let (agent, cost) = with_agent(bin, names, case, duration)?;
        Ok(Pair {
            base,
            floor,
            agent,
            cost,
        })
    }
}

/// Pause after the agent stops.
const SETTLE: Duration = Duration::from_millis(200);

/// One storm with a freshly started agent (stopped again afterwards).
fn with_agent(
    bin: &Path,
    names: &Names,
    case: Case,
    duration: Duration,
) -> Result<(Storm, AgentCost)> {
    let mut agent = Agent::start(bin, &names.agent_log, &names.storm, &names.ready)?;
    agent.wait_ready(&names.ready, Duration::from_secs(120))?;
    let run = measured(&agent, names, case, duration);
    agent.stop()?;
    // The kernel frees the unloaded programs and maps after a grace period: let that
    // pass before a baseline that follows.
    std::thread::sleep(SETTLE);
    run
}

/// One storm with the agent running, and what the agent spent on it.
pub fn measured(
    agent: &Agent,
    names: &Names,
    case: Case,
    duration: Duration,
) -> Result<(Storm, AgentCost)> {
    let pid = std::process::id();
    let before = agent.snapshot()?;
    let seen_before = agent.captured(&[pid])?;
    let storm = storm::run(
        &Spawn::new(case.shape, &names.storm)?,
        case.workers,
        duration,
    )?;
    let ppids: Vec<u32> = std::iter::once(pid)
        .chain(storm.worker_tids.iter().copied())
        .collect();
    let seen = agent.drain(&ppids, seen_before + storm.execs, Duration::from_secs(3))?;
    let after = agent.snapshot()?;
    Ok((storm, cost(&before, &after, seen - seen_before)))
}

/// The difference between two snapshots.
fn cost(before: &Snapshot, after: &Snapshot, captured: u64) -> AgentCost {
    let delta = |a: Option<u64>, b: Option<u64>| Some(b?.saturating_sub(a?));
    // SAFETY: sysconf has no preconditions.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .unwrap_or(100)
        .max(1);
    let stat_cpu_ns = after.cpu_ticks.saturating_sub(before.cpu_ticks) * (1_000_000_000 / hz);
    AgentCost {
        captured,
        dropped: delta(before.dropped, after.dropped),
        bpf_ns: delta(before.bpf_ns, after.bpf_ns),
        cpu_ns: delta(before.sched_ns, after.sched_ns).unwrap_or(stat_cpu_ns),
        stat_cpu_ns,
        wakes: delta(before.slices, after.slices),
        secs: after.at.duration_since(before.at).as_secs_f64(),
    }
}
