//! `cargo xtask run [-- ARGS]`: build, then become `guard-agent run ARGS` as root.
//!
//! The xtask process is replaced by the agent (`exec`), so signals reach the agent
//! directly and its exit status is the command's exit status.

use std::os::unix::process::CommandExt as _;

use anyhow::{Context as _, Result};

use crate::{build, setup::Setup, util};

/// Builds the agent and execs it with `run ARGS`; returns only on failure.
pub fn run(setup: &Setup, args: &[String]) -> Result<()> {
    let agent = build::agent(setup)?;
    let mut cmd = util::as_root(&agent);
    cmd.arg("run").args(args);
    let err = cmd.exec();
    Err(err).with_context(|| format!("failed to exec {cmd:?}"))
}
