//! guard's Kubernetes watch: which mode every container on this node runs in.
//!
//! A ServiceAccount labelled `guard.dev/mode=strict|enforce|audit` puts every pod that
//! runs as it into that mode; a namespace labelled the same way is the default for pods
//! whose ServiceAccount has no (valid) label; otherwise the pod gets no mode of its own
//! and the policy's rules apply. The watch ([`watch`]) lists and watches the pods on one
//! node (field selector `spec.nodeName`), the labelled ServiceAccounts and the labelled
//! namespaces with kube-rs reflectors, maps each running container to its cgroup id
//! ([`cgroup`]) and publishes the whole desired table, cgroup id → [`Entry`], on a
//! `tokio::sync::watch` channel whenever it changes. The agent writes the modes into
//! the kernel's `MODES_CGROUP` map and enriches events with the [`PodInfo`].
//!
//! Mode resolution ([`resolve`]) and the cgroup search ([`cgroup`]) are plain functions;
//! the `fake-api` feature adds [`fake`], an in-process API server that speaks the real
//! list/watch protocol, for tests.

pub mod cgroup;
pub mod resolve;
pub mod watch;

#[cfg(feature = "fake-api")]
pub mod fake;

use std::{collections::BTreeMap, collections::HashMap, sync::Arc};

pub use watch::{WatchConfig, client, spawn};

/// The label on ServiceAccounts and namespaces.
pub const MODE_LABEL: &str = "guard.dev/mode";

/// A mode set by a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    Audit,
    Enforce,
    Strict,
}

impl Mode {
    /// The mode a label value names: exactly `audit`, `enforce` or `strict`.
    pub fn from_label(value: &str) -> Option<Self> {
        match value {
            "audit" => Some(Self::Audit),
            "enforce" => Some(Self::Enforce),
            "strict" => Some(Self::Strict),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audit => "audit",
            Self::Enforce => "enforce",
            Self::Strict => "strict",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a pod's mode came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeSource {
    ServiceAccount,
    Namespace,
}

/// What events say about the container a process runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInfo {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub service_account: String,
    /// The pod's labels.
    pub labels: BTreeMap<String, String>,
}

/// One container's cgroup in the desired table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `None`: no label applies; the policy decides (its cgroup, uid or default modes).
    pub mode: Option<Mode>,
    pub source: Option<ModeSource>,
    pub info: Arc<PodInfo>,
}

/// cgroup id (the inode number of the container's cgroup v2 directory) → entry.
pub type Desired = HashMap<u64, Entry>;
