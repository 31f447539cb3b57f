//! `cargo xtask bench hold`: what holding costs a strict identity's command.
//!
//! With the agent running a policy where uid 4244 is strict and uid 4242 enforce, the
//! same script (`sh -c 'rm -f FILE'`, which carries the hold token `rm` and a relative
//! path the kernel cannot judge) runs alternately as each uid. The enforce run is the
//! baseline measured in the same run, seconds apart: the difference is the hold (SIGSTOP,
//! the reader's wake-up, classification, pidfd SIGCONT). Also reported: the time parked,
//! as the agent measured it from the kernel's timestamp (`held_us` of each verdict).

use std::{
    os::unix::{fs::PermissionsExt as _, process::CommandExt as _},
    path::Path,
    process::{Command, ExitCode, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::stats::Latency;
use crate::util::note;

const STRICT: u32 = 4244;
const ENFORCED: u32 = 4242;

/// Options of `bench hold`.
#[derive(clap::Args, Debug, Clone)]
pub struct HoldOptions {
    /// Commands per uid.
    #[arg(long, default_value_t = 400)]
    pub count: usize,
}

pub fn run(agent_bin: &Path, opts: &HoldOptions) -> Result<ExitCode> {
    let dir = crate::util::target_dir().join(format!("guard-bench-hold-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
    let policy = dir.join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "version: 1\nname: bench-hold\ndefault_mode: audit\nidentities:\n  - name: strict\n    mode: strict\n    match: {{ uids: [{STRICT}] }}\n  - name: enforced\n    mode: enforce\n    match: {{ uids: [{ENFORCED}] }}\nprotected_paths: [{}/protected]\n",
            dir.display()
        ),
    )?;
    let out = dir.join("events.jsonl");
    let log = dir.join("agent.log");
    let _ = Command::new(agent_bin)
        .arg("unload")
        .stderr(Stdio::null())
        .status();
    let mut agent = Command::new(agent_bin)
        .args(["run", "--policy"])
        .arg(&policy)
        .stdout(std::fs::File::create(&out)?)
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("starting the agent")?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !std::fs::read_to_string(&log)?.contains("capture attached") {
        if Instant::now() > deadline || agent.try_wait()?.is_some() {
            let _ = agent.kill();
            bail!(
                "the agent did not attach: {}",
                std::fs::read_to_string(&log)?
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let run_as = |uid: u32, i: usize| -> Result<u64> {
        let started = Instant::now();
        let status = Command::new("/bin/sh")
            .args(["-c", &format!("rm -f f{i}")])
            .current_dir(&dir)
            .uid(uid)
            .gid(uid)
            .status()?;
        let ns = started.elapsed().as_nanos() as u64;
        if !status.success() {
            bail!("uid {uid}: {status}");
        }
        Ok(ns)
    };
    let (mut held, mut base) = (Vec::new(), Vec::new());
    for i in 0..opts.count {
        // Alternate which goes first, so drift favours neither.
        if i % 2 == 0 {
            held.push(run_as(STRICT, i)?);
            base.push(run_as(ENFORCED, i)?);
        } else {
            base.push(run_as(ENFORCED, i)?);
            held.push(run_as(STRICT, i)?);
        }
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(agent.id() as i32, libc::SIGINT) };
    agent.wait()?;
    let mut parked: Vec<u64> = std::fs::read_to_string(&out)?
        .lines()
        .filter(|l| l.contains("\"hold_verdict\""))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["held_us"].as_u64().map(|us| us * 1000))
        .collect();
    let verdicts = parked.len();
    let h = Latency::of(&mut held);
    let b = Latency::of(&mut base);
    let p = Latency::of(&mut parked);
    println!("bench hold: {} commands per uid, interleaved", opts.count);
    println!(
        "  not held (enforce uid): p50 {:>8.0} us  p99 {:>8.0} us",
        b.p50_us, b.p99_us
    );
    println!(
        "  held (strict uid):      p50 {:>8.0} us  p99 {:>8.0} us",
        h.p50_us, h.p99_us
    );
    println!(
        "  ratio held/not held:    p50 {:>8.2}     p99 {:>8.2}",
        h.p50_us / b.p50_us,
        h.p99_us / b.p99_us
    );
    println!(
        "  time parked (agent):    p50 {:>8.0} us  p99 {:>8.0} us  ({verdicts} verdicts)",
        p.p50_us, p.p99_us
    );
    if verdicts != opts.count {
        note(format_args!(
            "expected {} hold verdicts, saw {verdicts}",
            opts.count
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}
