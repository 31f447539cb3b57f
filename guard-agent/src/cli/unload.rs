//! `guard-agent unload`: remove everything the agent pinned.
//!
//! Programs, links and maps are held only by their pins (and a running agent), so once
//! the pins are gone nothing of guard stays in the kernel (the agent keeps no link of
//! its own once it has pinned it, so this detaches even under a running agent, which
//! then sees no more events: stop the agent first).

use std::process::ExitCode;

use crate::{kernel, loader};

pub fn unload() -> anyhow::Result<ExitCode> {
    loader::ensure_mounts()?;
    let removed = kernel::remove_pins()?;
    if removed.is_empty() {
        tracing::info!("nothing pinned under {}", guard_common::PIN_ROOT);
    }
    for path in removed {
        tracing::info!(%path, "unpinned");
    }
    if let Err(left) = kernel::wait_detached(std::time::Duration::from_secs(10)) {
        anyhow::bail!("{left} of guard's programs are still attached: a process other than guard holds their links");
    }
    Ok(ExitCode::SUCCESS)
}
