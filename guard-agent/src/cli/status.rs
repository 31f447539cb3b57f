//! `guard-agent status`: the running agent's counters (read from the pinned map) and
//! the run-time statistics of its programs.

use std::process::ExitCode;

use anyhow::Context as _;
use aya::{
    maps::{Map, MapData, PerCpuArray},
    programs::loaded_programs,
};
use guard_common::event::counter;

use crate::{events::json::ObjectWriter, loader};

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    loader::ensure_mounts()?;
    let path = loader::map_pin_path("COUNTERS");
    let data = MapData::from_pin(&path).with_context(|| format!("no running agent: cannot open {path}"))?;
    let counters: PerCpuArray<MapData, u64> = PerCpuArray::try_from(Map::PerCpuArray(data))?;
    let totals = loader::read_counters(&counters)?;
    let stats_enabled = std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled")
        .is_ok_and(|s| s.trim() == "1");
    let programs = program_stats();
    if args.json {
        let mut w = ObjectWriter::new();
        w.raw("running", "true")
            .raw("path", "\"signal\"")
            .num("emitted", totals[counter::EMITTED as usize])
            .num("dropped", totals[counter::RINGBUF_DROPPED as usize])
            .num("stash_full", totals[counter::STASH_FULL as usize])
            .num("read_errors", totals[counter::READ_ERRORS as usize])
            .bool("bpf_stats_enabled", stats_enabled)
            .raw("programs", &programs_json(&programs));
        println!("{}", w.finish());
    } else {
        println!("agent: running (capture; enforcement path: signal)");
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
