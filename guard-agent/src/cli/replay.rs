//! `guard-agent replay --policy FILE EVENTS`: judge recorded exec events against a
//! candidate policy with the kernel's own matcher, and list what it would deny that
//! was not denied, and the reverse, before anyone enforces it.

use std::{io::BufRead as _, path::PathBuf, process::ExitCode};

use anyhow::Context as _;
use guard_common::{
    enforce::{decision, intent},
    matcher::{basename, hash_name},
};
use guard_export::{Decision, parse_event_line};
use guard_policy::Subject;
use serde_json::json;

use crate::enforce::{
    compile::compile,
    facts::{cgroup2_root, facts, mode_code},
};

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The candidate policy.
    #[arg(long)]
    pub policy: PathBuf,
    /// Recorded events: guard's JSON lines (`guard-agent run` output), `-` for stdin.
    pub events: PathBuf,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn replay(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let policy = guard_policy::load_file(&args.policy)?;
    let (f, _) = facts(&policy, &cgroup2_root());
    let kernel = compile(&f, guard_common::enforce::path::SIGNAL, 0)?;
    let input: Box<dyn std::io::BufRead> = if args.events.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(std::fs::File::open(&args.events).with_context(|| format!("opening {}", args.events.display()))?))
    };
    let (mut total, mut unreadable) = (0u64, 0u64);
    let (mut newly_denied, mut newly_allowed) = (Vec::new(), Vec::new());
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let Ok(e) = parse_event_line(&line, "") else {
            unreadable += 1;
            continue;
        };
        total += 1;
        let subject = Subject { uid: e.uid, gids: &[e.gid], cgroup: None, systemd_unit: None, has_tty: e.tty, has_login_session: e.loginuid.is_some() };
        let (mode, _) = policy.mode_for(&subject);
        let skip = if e.interp.is_empty() || e.interp == e.filename { 0 } else { hash_name(&e.filename) };
        let verdict = kernel.verdict_skipping(basename(&e.filename), &e.argv, mode_code(mode), skip);
        let now_denied = verdict.as_ref().is_some_and(|v| v.decision == decision::DENY);
        let was_denied = e.decision == Decision::Deny;
        let entry = || {
            json!({
                "time": e.time.to_string(), "uid": e.uid, "argv": e.argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>(),
                "was": format!("{:?}", e.decision).to_lowercase(),
                "now": verdict.as_ref().map_or("allow", |v| decision::name(v.decision)),
                "class": verdict.as_ref().and_then(|v| intent::NAMES.get(v.class as usize)),
                "rule": verdict.as_ref().map(|v| v.rule.clone()),
            })
        };
        if now_denied && !was_denied {
            newly_denied.push(entry());
        } else if was_denied && !now_denied {
            newly_allowed.push(entry());
        }
    }
    if args.json {
        println!("{}", json!({"events": total, "unreadable": unreadable, "newly_denied": newly_denied, "newly_allowed": newly_allowed}));
    } else {
        println!("{total} events replayed against {} ({unreadable} unreadable lines)", policy.name());
        println!("would now deny {} that were not denied:", newly_denied.len());
        for d in &newly_denied {
            println!("  + {} {} {}", d["class"].as_str().unwrap_or(""), d["uid"], d["argv"]);
        }
        println!("would now allow {} that were denied:", newly_allowed.len());
        for d in &newly_allowed {
            println!("  - {} {}", d["uid"], d["argv"]);
        }
    }
    Ok(ExitCode::SUCCESS)
}
