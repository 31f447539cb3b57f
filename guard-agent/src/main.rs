//! `guard-agent`: guard's daemon and command-line tool.
//!
//! `main` only parses arguments, sets up logging and maps errors to exit codes; each
//! verb lives in `cli/<verb>.rs`.

mod btf;
mod cli;
mod config;
mod events;
mod enforce;
mod hold;
mod kernel;
mod loader;
mod quarantine;
mod metrics;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "guard-agent", version, about = "eBPF execution guardrail agent")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Load the programs and stream every exec as one JSON object per line on stdout.
    Run(Box<cli::run::RunArgs>),
    /// Remove every program, link, map and pin the agent created.
    Unload,
    /// Report what this kernel offers and which enforcement path the agent would use.
    Doctor(cli::doctor::DoctorArgs),
    /// Show the running agent's counters and program statistics.
    Status(cli::status::StatusArgs),
    /// Judge commands offline: `-- ARGV...` or `--batch FILE` (lines as `sh -c LINE`).
    Check(guard_classify::check::CheckArgs),
    /// Validate or show policies.
    #[command(subcommand)]
    Policy(cli::policy::PolicyCommand),
    /// Verify and report on the audit trail.
    #[command(subcommand)]
    Audit(cli::audit::AuditCommand),
    /// Judge recorded events against a candidate policy: what would change.
    Replay(cli::replay::ReplayArgs),
    /// Refuse every exec from a process tree, or lift that.
    #[command(subcommand)]
    Quarantine(quarantine::QuarantineCommand),
    /// Internal: end holds whose deadline passed (started by `run`; outlives it).
    #[command(hide = true)]
    HoldReaper(hold::ReaperArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GUARD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let result = match cli.command {
        Command::Run(args) => cli::run::run(&args),
        Command::Unload => cli::unload::unload(),
        Command::Doctor(args) => cli::doctor::doctor(&args),
        Command::Status(args) => cli::status::status(&args),
        Command::Check(args) => cli::check::check(&args),
        Command::Policy(cmd) => cli::policy::policy(&cmd),
        Command::Audit(cmd) => cli::audit::audit(&cmd),
        Command::Replay(args) => cli::replay::replay(&args),
        Command::HoldReaper(args) => hold::reaper(&args),
        Command::Quarantine(cmd) => quarantine::command(&cmd),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("guard-agent: error: {err:#}");
            ExitCode::from(1)
        }
    }
}
