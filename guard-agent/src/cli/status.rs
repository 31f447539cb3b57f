//! `guard-agent status`: whether an agent runs, the enforcement path, default mode and
//! policy version in force, the counters (read from the pinned maps), and the run-time
//! statistics of the programs.

use std::process::ExitCode;

use anyhow::Context as _;
use aya::{
    maps::{Array, Map, MapData, PerCpuArray},
    programs::loaded_programs,
};
use guard_common::{
    enforce::{EnforceConfig, mode, path},
    event::counter,
};

use crate::{events::json::ObjectWriter, kernel, loader};

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    loader::ensure_mounts()?;
    let build = kernel::builds().into_iter().next().context("nothing of guard is loaded: no pinned programs under /sys/fs/bpf/guard")?;
    let pin = build.join("maps").join("COUNTERS");
    let data = MapData::from_pin(&pin).with_context(|| format!("cannot open {}", pin.display()))?;
    let counters: PerCpuArray<MapData, u64> = PerCpuArray::try_from(Map::PerCpuArray(data))?;
    let totals = loader::read_counters(&counters)?;
    let config = read_config(&build.join("maps").join("CONFIG"))?;
    let agent = crate::cli::run::agent_running();
    let path = path::name(kernel::pinned_path(&build));
    let policy_version = format!("{:08x}", config.policy_version);
    let default_mode = mode::name(config.default_mode);
    let enforcing = config.enabled != 0;
    let stats_enabled = std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled")
        .is_ok_and(|s| s.trim() == "1");
    let programs = program_stats();
    if args.json {
        let mut w = ObjectWriter::new();
        w.bool("running", agent)
            .bool("enforcing", enforcing)
            .bytes("path", path.as_bytes())
            .bytes("default_mode", default_mode.as_bytes())
            .bytes("policy_version", policy_version.as_bytes())
            .bytes("pins", build.display().to_string().as_bytes())
            .num("links", kernel::attached_links())
            .num("emitted", totals[counter::EMITTED as usize])
            .num("dropped", totals[counter::RINGBUF_DROPPED as usize])
            .num("stash_full", totals[counter::STASH_FULL as usize])
            .num("read_errors", totals[counter::READ_ERRORS as usize])
            .bool("bpf_stats_enabled", stats_enabled)
            .raw("programs", &programs_json(&programs));
        println!("{}", w.finish());
    } else {
        println!(
            "agent: {}; programs pinned at {}",
            if agent { "running" } else { "NOT running (the pinned programs still enforce; events wait in the ring buffer)" },
            build.display()
        );
        println!(
            "enforcement: {} via {path}; default mode {default_mode}; policy version {policy_version}",
            if enforcing { "on" } else { "off (capture only)" }
        );
        println!(
            "events emitted: {}  dropped (ring buffer full): {}  stash full: {}  read errors: {}",
            totals[counter::EMITTED as usize],
            totals[counter::RINGBUF_DROPPED as usize],
            totals[counter::STASH_FULL as usize],
            totals[counter::READ_ERRORS as usize],
        );
        for p in &programs {
            println!("program {:<16} runs {:>10}  run time {:>12} ns", p.name, p.run_count, p.run_time_ns);
        }
        if !stats_enabled {
            println!("(program run times need sysctl kernel.bpf_stats_enabled=1)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_config(pin: &std::path::Path) -> anyhow::Result<EnforceConfig> {
    let data = MapData::from_pin(pin).with_context(|| format!("cannot open {}", pin.display()))?;
    let array: Array<MapData, EnforceConfig> = Array::try_from(Map::Array(data))?;
    Ok(array.get(&0, 0)?)
}

pub struct ProgramStat {
    pub name: String,
    pub run_count: u64,
    pub run_time_ns: u64,
}

/// Statistics of the loaded programs whose names are guard's capture programs.
fn program_stats() -> Vec<ProgramStat> {
    let ours: Vec<String> = loader::program_names().map(|n| n.chars().take(15).collect()).collect();
    loaded_programs()
        .filter_map(Result::ok)
        .filter_map(|info| {
            let name = info.name_as_str()?.to_owned();
            ours.contains(&name).then(|| ProgramStat {
                name,
                run_count: info.run_count(),
                run_time_ns: info.run_time().as_nanos() as u64,
            })
        })
        .collect()
}

fn programs_json(programs: &[ProgramStat]) -> String {
    let items: Vec<String> = programs
        .iter()
        .map(|p| {
            let mut w = ObjectWriter::new();
            w.bytes("name", p.name.as_bytes()).num("run_count", p.run_count).num("run_time_ns", p.run_time_ns);
            w.finish()
        })
        .collect();
    format!("[{}]", items.join(","))
}
