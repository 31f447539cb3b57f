//! The policy file as written: serde structs mirroring the YAML schema, every field
//! optional and every string unchecked. Unknown fields are refused (`deny_unknown_fields`;
//! the located deserializer in `de.rs` reports all of them at once). `compile.rs` checks
//! values and turns this into a [`crate::Policy`].

use std::collections::BTreeMap;

use serde::Deserialize;

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// Schema version; required, must be 1.
    pub version: Option<u32>,
    /// Policy name; required.
    pub name: Option<String>,
    /// `audit`, `enforce` or `strict` for identities no entry matches.
    pub default_mode: Option<String>,
    /// `closed` or `open` for held commands of identities no entry matches.
    pub default_fail: Option<String>,
    /// Identity rules, first match wins.
    #[serde(default)]
    pub identities: Vec<RawIdentity>,
    /// Paths whose recursive deletion (at or above them) is destructive.
    pub protected_paths: Option<Vec<String>>,
    /// Directories in which any deletion is destructive.
    pub data_dirs: Option<Vec<String>>,
    /// Files that must not leave the host (globs).
    pub sensitive_files: Option<Vec<String>>,
    /// Logs, history and audit trails.
    pub log_paths: Option<Vec<String>>,
    /// Hosts or URL prefixes where sending data is expected.
    pub trusted_destinations: Option<Vec<String>>,
    /// Paste, file-drop and webhook services.
    pub exfil_destinations: Option<Vec<String>>,
    /// Services whose stop or disable is a disruption.
    pub critical_services: Option<Vec<String>>,
    /// Per intent class: action and exceptions.
    #[serde(default)]
    pub intents: BTreeMap<String, RawIntent>,
    /// Hold settings.
    pub hold: Option<RawHold>,
    /// When the agent quarantines a process tree by itself.
    pub quarantine: Option<RawQuarantine>,
}

/// One `identities` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentity {
    /// Unique name; required.
    pub name: Option<String>,
    /// `audit`, `enforce` or `strict`; required.
    pub mode: Option<String>,
    /// `closed` or `open`.
    pub fail: Option<String>,
    /// Selectors, all of which must hold; required, at least one.
    #[serde(rename = "match")]
    pub selector: Option<RawSelector>,
}

/// An identity's `match` block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSelector {
    /// User names (or numeric uids).
    pub users: Option<Vec<String>>,
    /// Numeric uids.
    pub uids: Option<Vec<u32>>,
    /// Group names (or numeric gids).
    pub groups: Option<Vec<String>>,
    /// Numeric gids.
    pub gids: Option<Vec<u32>>,
    /// systemd unit names or globs.
    pub systemd_units: Option<Vec<String>>,
    /// cgroup v2 paths, absolute under /sys/fs/cgroup or relative to the cgroup2 root.
    pub cgroup_paths: Option<Vec<String>>,
    /// `true`: no controlling TTY and no login session; `false`: the opposite.
    pub non_interactive: Option<bool>,
}

/// One `intents` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIntent {
    /// `deny`, `hold` or `audit`.
    pub action: Option<String>,
    /// Glob patterns for commands or statements this class does not apply to.
    pub except: Option<Vec<String>>,
}

/// The `hold` block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHold {
    /// How long a held command waits for the agent, in milliseconds.
    pub deadline_ms: Option<u64>,
}

/// The `quarantine` block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuarantine {
    /// Quarantine the tree that launched an exec whose argv was rewritten during it.
    pub on_tampering: Option<bool>,
    /// Quarantine the tree that launched this many denied commands of strict identities.
    pub after_denials: Option<u32>,
    /// Within this many seconds.
    pub within_s: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The structs are plain serde: they also read straight through serde-saphyr, which
    /// refuses unknown fields on its own.
    #[test]
    fn plain_serde_saphyr_reads_and_refuses_unknown_fields() {
        let text = "version: 1\nname: x\nidentities:\n  - {name: a, mode: strict, match: {uids: [1]}}\n\
                    intents:\n  bulk_delete: {action: hold, except: ['rm -rf /tmp/*']}\nhold: {deadline_ms: 5}\n";
        let raw: RawPolicy = serde_saphyr::from_str(text).unwrap();
        assert_eq!(raw.identities[0].selector.as_ref().unwrap().uids, Some(vec![1]));
        assert_eq!(raw.intents["bulk_delete"].action.as_deref(), Some("hold"));
        assert_eq!(raw.hold, Some(RawHold { deadline_ms: Some(5) }));
        let e = serde_saphyr::from_str::<RawPolicy>("version: 1\nmoed: x\n").unwrap_err();
        assert_eq!(e.location().map(|l| (l.line(), l.column())), Some((2, 1)));
    }
}
