//! `cargo xtask build`: the release agent at `target/release/guard-agent`.

use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::{
    setup::Setup,
    util::{self, exec},
};

/// Builds the agent in release (its build.rs builds guard-ebpf with bpf-linker).
pub fn agent(setup: &Setup) -> Result<PathBuf> {
    util::timed("build: guard-agent (release)", || {
        exec(
            setup
                .cargo()
                .args(["build", "--release", "-p", "guard-agent"]),
        )
    })?;
    let bin = util::agent_bin();
    if !bin.exists() {
        bail!("the build succeeded but {} does not exist", bin.display());
    }
    Ok(bin)
}
