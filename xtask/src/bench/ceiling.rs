//! `bench exec --seconds N`: one long storm with the agent at the machine's ceiling
//! (every CPU spawning `/bin/true`), checking that every exec is captured.

use std::{path::Path, process::ExitCode, time::Duration};

use anyhow::Result;

use super::{
    Names,
    agent::Agent,
    exec::{self, Case},
    report::{opt, per_exec_us, per_second, percent, verdict},
    stats::Latency,
    storm::Shape,
};
use crate::util::note;

/// Runs the ceiling storm and prints its figures; fails unless 100 % were captured.
pub fn run(agent_bin: &Path, secs: u64, workers: Option<usize>) -> Result<ExitCode> {
    let names = Names::new()?;
    let cpus = std::thread::available_parallelism().map_or(2, usize::from);
    let case = Case {
        shape: Shape::True,
        workers: workers.unwrap_or(cpus),
    };
    note(format_args!(
        "bench exec: {secs}s ceiling run, {} workers, agent log {}",
        case.workers,
        names.agent_log.display()
    ));
    let mut agent = Agent::start(agent_bin, &names.agent_log, &names.storm, &names.ready)?;
    agent.wait_ready(&names.ready, Duration::from_secs(120))?;
    let measured = exec::measured(&agent, &names, case, Duration::from_secs(secs));
    agent.stop()?;
    let (mut storm, cost) = measured?;
    let lat = Latency::of(&mut storm.latencies_ns);
    let complete = cost.captured == storm.execs && cost.dropped.unwrap_or(0) == 0;
    println!(
        "ceiling {secs}s w={}: {} execs, {:.0}/s, mean {:.1}us p50 {:.1}us p99 {:.1}us | captured {} {} | dropped {} | bpf {} | agent cpu {} (stat ticks: {}) | agent wake-ups {}",
        case.workers,
        storm.execs,
        storm.rate(),
        lat.mean_us,
        lat.p50_us,
        lat.p99_us,
        percent(cost.captured, storm.execs),
        verdict(complete),
        opt(cost.dropped),
        per_exec_us(cost.bpf_ns, storm.execs),
        per_exec_us(Some(cost.cpu_ns), storm.execs),
        per_exec_us(Some(cost.stat_cpu_ns), storm.execs),
        per_second(cost.wakes, cost.secs),
    );
    Ok(if complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
