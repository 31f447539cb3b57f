//! `cargo xtask bench exec`: exec storm with and without the agent.

use std::process::ExitCode;

use anyhow::Result;

use crate::setup::Setup;

/// Which benchmark to run.
#[derive(clap::Subcommand, Debug)]
pub enum Which {
    /// Exec storm.
    Exec,
}

/// Runs a benchmark.
pub fn run(_setup: &Setup, _which: &Which) -> Result<ExitCode> {
    anyhow::bail!("not yet")
}
