//! `run --kube-node NAME`: modes from Kubernetes labels (guard-kube) into the kernel's
//! `MODES_CGROUP` map, and the pod of each event's cgroup into its `k8s` field.
//!
//! The watch starts after the policy is installed and the programs are attached, and
//! never holds the agent up: until the API server answers, the policy alone applies.
//! The policy's own cgroup modes win over a label for the same cgroup (the policy file
//! is the node's root-owned configuration; labels can be set by whoever may edit the
//! ServiceAccounts of a namespace), see [`merge`].

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use guard_common::enforce::mode;
use guard_kube::{Desired, Mode, WatchConfig};
use tokio::sync::watch;

use crate::enforce::facts::cgroup2_root;

#[derive(clap::Args, Debug, Clone)]
pub struct KubeArgs {
    /// Kubernetes: watch the pods scheduled to this node and the ServiceAccounts and
    /// namespaces labelled guard.dev/mode=strict|enforce|audit; put each container into
    /// its label's mode and add its pod to events (`k8s`). Default: $NODE_NAME when set
    /// (the DaemonSet sets it from spec.nodeName).
    #[arg(long = "kube-node", value_name = "NAME", env = "NODE_NAME")]
    pub node: Option<String>,
    /// Kubeconfig for the watch. Default: the in-cluster service account, else
    /// $KUBECONFIG or ~/.kube/config.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
}

/// The published table of the watch: cgroup id → mode and pod.
pub type PodTable = watch::Receiver<Arc<Desired>>;

/// Starts the watch when a node is named; `None` otherwise.
pub async fn start(args: &KubeArgs) -> anyhow::Result<Option<PodTable>> {
    let Some(node) = args.node.as_deref().filter(|n| !n.is_empty()) else {
        anyhow::ensure!(args.kubeconfig.is_none(), "--kubeconfig needs --kube-node (or NODE_NAME)");
        return Ok(None);
    };
    let client = guard_kube::client(args.kubeconfig.as_deref()).await.context("connecting to Kubernetes")?;
    let config = WatchConfig { node: node.to_owned(), cgroup_root: cgroup2_root(), retry: Duration::from_secs(1) };
    tracing::info!(node, cgroup_root = %config.cgroup_root.display(), "kubernetes: watching pods on this node and guard.dev/mode labels");
    let (table, _task) = guard_kube::spawn(client, config);
    Ok(Some(table))
}

/// Waits until the table changes; never, without a watch (or once it ended).
pub async fn changed(table: &mut Option<PodTable>) {
    if let Some(t) = table
        && t.changed().await.is_ok()
    {
        return;
    }
    std::future::pending().await
}

/// The kernel's mode code of a label's mode.
pub fn mode_code(m: Mode) -> u8 {
    match m {
        Mode::Audit => mode::AUDIT,
        Mode::Enforce => mode::ENFORCE,
        Mode::Strict => mode::STRICT,
    }
}

/// The cgroup modes the labels ask for (containers without a label are left out).
pub fn label_modes(table: &Desired) -> HashMap<u64, u8> {
    table.iter().filter_map(|(id, e)| Some((*id, mode_code(e.mode?)))).collect()
}

/// The `MODES_CGROUP` table: the labels' modes, overridden by the policy's own cgroup
/// modes where both name the same cgroup.
pub fn merge(labels: &HashMap<u64, u8>, policy: &HashMap<u64, u8>) -> HashMap<u64, u8> {
    let mut out = labels.clone();
    out.extend(policy.iter().map(|(k, v)| (*k, *v)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_wins_for_the_same_cgroup() {
        let labels = HashMap::from([(1, mode::STRICT), (2, mode::ENFORCE)]);
        let policy = HashMap::from([(2, mode::AUDIT), (3, mode::ENFORCE)]);
        assert_eq!(merge(&labels, &policy), HashMap::from([(1, mode::STRICT), (2, mode::AUDIT), (3, mode::ENFORCE)]));
    }

    #[test]
    fn containers_without_a_mode_stay_out_of_the_kernel_table() {
        let info = Arc::new(guard_kube::PodInfo {
            namespace: "ci".into(),
            pod: "p".into(),
            container: "c".into(),
            service_account: "default".into(),
            labels: Default::default(),
        });
        let table = Desired::from([
            (7, guard_kube::Entry { mode: Some(Mode::Strict), source: Some(guard_kube::ModeSource::Namespace), info: info.clone() }),
            (8, guard_kube::Entry { mode: None, source: None, info }),
        ]);
        assert_eq!(label_modes(&table), HashMap::from([(7, mode::STRICT)]));
    }
}
