//! What the kernel can express of a policy ([`PolicyFacts`]), and what it cannot.
//!
//! The kernel looks a mode up by cgroup id, then by uid, then applies the
//! non-interactive selector, then the default. Identities whose selector is exactly one
//! of those map onto it; anything else (groups, combined conditions) is reported as
//! judged by the agent only.

use std::path::Path;

use guard_common::enforce::{action, intent, mode};
use guard_policy::{Action, FailMode, IntentClass, Mode, Policy};

use super::compile::PolicyFacts;

pub fn mode_code(m: Mode) -> u8 {
    match m {
        Mode::Audit => mode::AUDIT,
        Mode::Enforce => mode::ENFORCE,
        Mode::Strict => mode::STRICT,
    }
}

/// [`mode::FAIL_OPEN`] for an identity whose holds fail open.
fn fail_bit(f: FailMode) -> u8 {
    if f == FailMode::Open { mode::FAIL_OPEN } else { 0 }
}

fn action_code(a: Action) -> u8 {
    match a {
        Action::Deny => action::DENY,
        Action::Hold => action::HOLD,
        Action::Audit => action::AUDIT,
    }
}

/// The class of an intent as the kernel numbers it.
pub fn class_code(c: IntentClass) -> u8 {
    intent::NAMES.iter().position(|n| *n == c.to_string()).map_or(intent::NONE, |i| i as u8)
}

/// The facts, and a note for every identity the kernel cannot apply by itself.
pub fn facts(policy: &Policy, cgroup_root: &Path) -> (PolicyFacts, Vec<String>) {
    let mut notes = Vec::new();
    let mut f = PolicyFacts {
        default_mode: mode_code(policy.default_mode()) | fail_bit(policy.default_fail()),
        non_interactive_mode: mode::UNSET,
        uid_modes: Vec::new(),
        cgroup_modes: Vec::new(),
        protected_paths: policy.context().protected_paths.clone(),
        data_dirs: policy.context().data_dirs.clone(),
        sensitive_files: policy.context().sensitive_files.clone(),
        log_paths: policy.context().log_paths.clone(),
        actions: [action::DENY; intent::COUNT],
        excepted: [false; intent::COUNT],
        version: u32::from_str_radix(&policy.version_hash().chars().take(8).collect::<String>(), 16).unwrap_or(0),
    };
    for (class, rule) in policy.intents() {
        let c = class_code(*class) as usize;
        if c < intent::COUNT {
            f.actions[c] = action_code(rule.action);
            f.excepted[c] = !rule.except.is_empty();
        }
    }
    for id in policy.identities() {
        let s = &id.selector;
        let m = mode_code(id.mode) | fail_bit(id.fail);
        let only_uids = s.groups.is_empty() && s.gids.is_empty() && s.systemd_units.is_empty() && s.cgroup_paths.is_empty() && s.non_interactive.is_none();
        let numeric_users: Vec<u32> = s.users.iter().filter_map(|u| u.parse().ok()).collect();
        if only_uids && (!s.uids.is_empty() || !numeric_users.is_empty()) && numeric_users.len() == s.users.len() {
            for uid in s.uids.iter().chain(&numeric_users) {
                f.uid_modes.push((*uid, m));
            }
        } else if s.users.is_empty() && s.uids.is_empty() && s.groups.is_empty() && s.gids.is_empty() && s.non_interactive.is_none() {
            let paths = s.cgroup_paths.iter().cloned().chain(s.systemd_units.iter().map(|u| format!("/system.slice/{u}")));
            for p in paths {
                match cgroup_id(cgroup_root, &p) {
                    Some(id) => f.cgroup_modes.push((id, m)),
                    None => notes.push(format!("identity {}: cgroup {p} does not exist (yet); not applied in the kernel", id.name)),
                }
            }
        } else if s.non_interactive == Some(true) && only_uids && s.uids.is_empty() && s.users.is_empty() {
            f.non_interactive_mode = m;
        } else {
            notes.push(format!("identity {}: combined selectors are applied by the agent only, not in the kernel", id.name));
        }
    }
    (f, notes)
}

/// The cgroup id (the cgroup directory's inode number) of `path` under the cgroup2 root.
pub fn cgroup_id(root: &Path, path: &str) -> Option<u64> {
    let full = root.join(path.trim_start_matches('/'));
    std::fs::metadata(full).ok().map(|m| std::os::unix::fs::MetadataExt::ino(&m))
}

/// The mount point of the cgroup2 hierarchy.
pub fn cgroup2_root() -> std::path::PathBuf {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .find(|f| f.get(2) == Some(&"cgroup2"))
        .map_or_else(|| "/sys/fs/cgroup".into(), |f| f[1].into())
}
