//! `guard-agent unload`: remove everything the agent pinned.
//!
//! Programs and links live only as long as the agent (they are not pinned), so once
//! the pins are gone nothing of guard stays in the kernel.

use std::process::ExitCode;

use crate::loader;

pub fn unload() -> anyhow::Result<ExitCode> {
    loader::ensure_mounts()?;
    let removed = loader::remove_pins()?;
    if removed.is_empty() {
        tracing::info!("nothing pinned under {}", guard_common::PIN_ROOT);
    }
    for path in removed {
        tracing::info!(%path, "unpinned");
    }
    Ok(ExitCode::SUCCESS)
}
