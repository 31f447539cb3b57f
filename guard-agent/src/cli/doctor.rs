//! `guard-agent doctor`: what this kernel offers, and which enforcement path the agent
//! picks, with the reason for each answer. Every capability is tried for real (a
//! program load), not inferred from version numbers.

use std::process::ExitCode;

use aya::programs::{Lsm, TracePoint};

use crate::{
    btf::{KernelBtf, kernel_offsets},
    events::json::ObjectWriter,
    loader::{self, LoadConfig},
};

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One finding: whether a capability is usable, and why (or why not).
struct Check {
    usable: bool,
    detail: String,
}

impl Check {
    fn from_result<T, E: std::fmt::Display>(r: Result<T, E>, ok: &str) -> Self {
        match r {
            Ok(_) => Self { usable: true, detail: ok.into() },
            Err(e) => Self { usable: false, detail: format!("{e:#}") },
        }
    }
    fn json(&self, extra: &[(&'static str, String)]) -> String {
        let mut w = ObjectWriter::new();
        w.bool("usable", self.usable).bytes("detail", self.detail.as_bytes());
        for (k, v) in extra {
            w.raw(k, v);
        }
        w.finish()
    }
}

struct Report {
    kernel: String,
    btf: Check,
    ring_buffer: Check,
    tracepoints: Check,
    send_signal: Check,
    lsm_active_list: String,
    lsm_loadable: Check,
    lsm: Check,
}

pub fn doctor(args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let report = examine();
    let path = if report.lsm.usable {
        "lsm"
    } else if report.send_signal.usable && report.tracepoints.usable {
        "signal"
    } else {
        "none"
    };
    if args.json {
        println!("{}", to_json(&report, path));
    } else {
        print_text(&report, path);
    }
    Ok(ExitCode::SUCCESS)
}

fn examine() -> Report {
    let mounts = loader::ensure_mounts();
    let btf = Check::from_result(
        KernelBtf::load().and_then(|b| kernel_offsets(&b)),
        "kernel BTF present; every struct offset the programs need resolved",
    );
    let lsm_active_list = std::fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
    let lsm_active_list = lsm_active_list.trim().to_owned();
    let loaded = mounts.and_then(|()| loader::load(&LoadConfig::default()));
    let (ring_buffer, tracepoints, send_signal, lsm_loadable) = match loaded {
        Ok(mut ebpf) => (
            Check { usable: true, detail: "ring buffer map created".into() },
            Check::from_result(loader::attach_capture(&mut ebpf).map_err(anyhow::Error::from), "exec tracepoints loaded and attached"),
            Check::from_result(load_send_signal(&mut ebpf), "a tracepoint program calling bpf_send_signal loads"),
            Check::from_result(load_lsm(&mut ebpf), "guard's lsm/bprm_check_security program loads and attaches"),
        ),
        Err(e) => {
            let failed = || Check { usable: false, detail: format!("eBPF object did not load: {e:#}") };
            (failed(), failed(), failed(), failed())
        }
    };
    let bpf_active = lsm_active_list.split(',').any(|l| l == "bpf");
    let lsm = match (bpf_active, lsm_loadable.usable) {
        (true, true) => Check { usable: true, detail: "bpf is an active LSM and LSM programs load".into() },
        (false, _) => Check {
            usable: false,
            detail: format!("bpf is not in the active LSM list ({lsm_active_list:?}); boot with lsm=...,bpf"),
        },
        (true, false) => Check { usable: false, detail: format!("LSM program refused: {}", lsm_loadable.detail) },
    };
    Report {
        kernel: kernel_release(),
        btf,
        ring_buffer,
        tracepoints,
        send_signal,
        lsm_active_list,
        lsm_loadable,
        lsm,
    }
}

fn load_send_signal(ebpf: &mut aya::Ebpf) -> anyhow::Result<()> {
    let prog: &mut TracePoint = ebpf
        .program_mut("probe_send_signal")
        .ok_or_else(|| anyhow::anyhow!("probe_send_signal missing"))?
        .try_into()?;
    prog.load()?;
    Ok(())
}

/// Loads guard's own `bprm_check_security` program (not a trivial stand-in: the
/// verifier must accept the real one on this kernel), attaches it and detaches it.
fn load_lsm(ebpf: &mut aya::Ebpf) -> anyhow::Result<()> {
    let btf = aya::Btf::from_sys_fs()?;
    let started = std::time::Instant::now();
    let prog: &mut Lsm = ebpf
        .program_mut("bprm_check_security")
        .ok_or_else(|| anyhow::anyhow!("bprm_check_security missing"))?
        .try_into()?;
    prog.load("bprm_check_security", &btf)?;
    let insns = prog.info().ok().and_then(|i| i.verified_instruction_count());
    tracing::debug!(program = "bprm_check_security", load_ms = started.elapsed().as_millis() as u64, verified_insns = ?insns, "loaded");
    let link = prog.attach()?;
    prog.detach(link)?;
    Ok(())
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned()
}

fn to_json(r: &Report, path: &str) -> String {
    let list = format!("\"{}\"", r.lsm_active_list.replace('"', ""));
    let mut w = ObjectWriter::new();
    w.bytes("kernel", r.kernel.as_bytes())
        .raw("btf", &r.btf.json(&[]))
        .raw("ring_buffer", &r.ring_buffer.json(&[]))
        .raw("tracepoints", &r.tracepoints.json(&[]))
        .raw("send_signal", &r.send_signal.json(&[]))
        .raw(
            "lsm",
            &r.lsm.json(&[
                ("active_list", list),
                ("loadable", r.lsm_loadable.usable.to_string()),
                ("load_detail", json_str(&r.lsm_loadable.detail)),
            ]),
        )
        .bytes("enforcement_path", path.as_bytes())
        .bytes("enforcement_reason", path_reason(r, path).as_bytes());
    w.finish()
}

fn json_str(s: &str) -> String {
    let mut out = String::new();
    crate::events::json::push_bytes(&mut out, s.as_bytes());
    out
}

fn path_reason(r: &Report, path: &str) -> String {
    match path {
        "lsm" => "BPF LSM is active: execs are refused with EPERM before they happen".into(),
        "signal" => format!(
            "BPF LSM not usable ({}); sched_process_exec + bpf_send_signal(SIGKILL) stops a command before its first instruction",
            r.lsm.detail
        ),
        _ => "neither BPF LSM nor bpf_send_signal is usable: audit only".into(),
    }
}

fn print_text(r: &Report, path: &str) {
    let line = |name: &str, c: &Check| {
        println!("{:<12} {:<4} {}", name, if c.usable { "yes" } else { "no" }, c.detail);
    };
    println!("kernel       {}", r.kernel);
    line("btf", &r.btf);
    line("ring buffer", &r.ring_buffer);
    line("tracepoints", &r.tracepoints);
    line("send_signal", &r.send_signal);
    line("lsm", &r.lsm);
    println!("enforcement  {path}: {}", path_reason(r, path));
}
