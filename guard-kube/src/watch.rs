//! The watch: three kube-rs reflectors (this node's pods, labelled ServiceAccounts,
//! labelled namespaces) and a loop that recomputes the desired table whenever one of
//! them changes, and every `retry` while a running container's cgroup is not found yet.
//!
//! kube-rs's watcher does the protocol work: an initial list, then a watch from the
//! list's `resourceVersion`; when a watch ends it watches again from the last
//! `resourceVersion` it saw (bookmarks included), and when the server answers `410
//! Gone` (that version is too old) it lists again. The reflector's store swaps in a new
//! list only once it is complete, so a relist never shows an empty table. The first
//! table is published only when all three initial lists are in: a pod seen before its
//! ServiceAccount would get the namespace's mode for a moment.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{Stream, StreamExt as _};
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::{
    Api, Client, ResourceExt as _,
    runtime::{
        WatchStreamExt as _,
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use tokio::sync::{Notify, watch};

use crate::{
    Desired, Entry, MODE_LABEL, PodInfo,
    cgroup::CgroupFinder,
    resolve::{Warned, label_mode, pod_mode, running_containers, service_account},
};

/// What to watch and where the cgroups are.
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// This node's name (`spec.nodeName` of its pods).
    pub node: String,
    /// The cgroup2 mount point.
    pub cgroup_root: PathBuf,
    /// How often to look again for running containers whose cgroup is not there yet.
    pub retry: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading the kubeconfig")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    #[error("finding the cluster (in-cluster service account or ~/.kube/config)")]
    Infer(#[from] kube::config::InferConfigError),
    #[error("building the Kubernetes client")]
    Client(#[from] kube::Error),
}

/// A client from `kubeconfig`, else inferred (in-cluster service account, then
/// `$KUBECONFIG` or `~/.kube/config`).
pub async fn client(kubeconfig: Option<&Path>) -> Result<Client, Error> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(Client::try_from(config)?)
}

/// Starts the watch on the current runtime. The receiver holds the desired table (empty
/// until the initial lists are in); the task ends when every receiver is dropped.
pub fn spawn(client: Client, config: WatchConfig) -> (watch::Receiver<Arc<Desired>>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(Arc::new(Desired::new()));
    let task = tokio::spawn(run(client, config, tx));
    (rx, task)
}

/// Runs the watch, publishing on `tx`, until every receiver is dropped.
pub async fn run(client: Client, config: WatchConfig, tx: watch::Sender<Arc<Desired>>) {
    let changed = Arc::new(Notify::new());
    let mut streams = tokio::task::JoinSet::new();
    let node_pods = watcher::Config::default().fields(&format!("spec.nodeName={}", config.node));
    let labelled = watcher::Config::default().labels(MODE_LABEL);
    let pods = reflect(&mut streams, "pods", Api::<Pod>::all(client.clone()), node_pods, &changed);
    let sas = reflect(&mut streams, "serviceaccounts", Api::<ServiceAccount>::all(client.clone()), labelled.clone(), &changed);
    let nss = reflect(&mut streams, "namespaces", Api::<Namespace>::all(client), labelled, &changed);

    let ready = async {
        let _ = tokio::join!(pods.wait_until_ready(), sas.wait_until_ready(), nss.wait_until_ready());
    };
    tokio::select! {
        () = ready => {}
        () = tx.closed() => return,
    }
    tracing::info!(node = %config.node, "kubernetes: pods, ServiceAccounts and namespaces listed; watching");
    let mut table = Table { finder: CgroupFinder::new(&config.cgroup_root), warned: Warned::default(), missing_since: HashMap::new() };
    loop {
        let (desired, missing) = table.compute(&config.node, &pods, &sas, &nss);
        tx.send_if_modified(|current| {
            if **current == desired {
                return false;
            }
            log_changes(current, &desired);
            *current = Arc::new(desired);
            true
        });
        let retry = async {
            if missing {
                tokio::time::sleep(config.retry).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = changed.notified() => {}
            () = retry => {}
            () = tx.closed() => break,
        }
    }
}

/// Starts a reflector for `api` on `streams`; its events wake `changed`.
fn reflect<K>(
    streams: &mut tokio::task::JoinSet<()>,
    what: &'static str,
    api: Api<K>,
    config: watcher::Config,
    changed: &Arc<Notify>,
) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, config).default_backoff());
    streams.spawn(drive(what, stream, changed.clone()));
    store
}

async fn drive<K>(what: &'static str, stream: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>>, changed: Arc<Notify>) {
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        match event {
            // A relist's objects land in the store all at once, at InitDone.
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
            Ok(_) => changed.notify_one(),
            Err(err) => tracing::warn!(resource = what, error = %err, "kubernetes watch (retrying)"),
        }
    }
}

/// State kept between recomputations.
struct Table {
    finder: CgroupFinder,
    warned: Warned,
    /// Running containers whose cgroup was not found, since when.
    missing_since: HashMap<String, (Instant, bool)>,
}

impl Table {
    /// The desired table, and whether a running container's cgroup is missing.
    fn compute(&mut self, node: &str, pods: &Store<Pod>, sas: &Store<ServiceAccount>, nss: &Store<Namespace>) -> (Desired, bool) {
        let mut containers = Vec::new();
        for pod in pods.state() {
            // The server filters by node; this only guards against a server that does not.
            if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(node) {
                continue;
            }
            let ns = pod.namespace().unwrap_or_default();
            let sa = service_account(&pod);
            let sa_mode = sas
                .get(&ObjectRef::new(&sa).within(&ns))
                .and_then(|o| label_mode(o.metadata.labels.as_ref(), &format!("serviceaccount {ns}/{sa}"), &mut self.warned));
            let ns_mode = nss.get(&ObjectRef::new(&ns)).and_then(|o| label_mode(o.metadata.labels.as_ref(), &format!("namespace {ns}"), &mut self.warned));
            let mode = pod_mode(sa_mode, ns_mode);
            for (container, id) in running_containers(&pod) {
                let info = PodInfo {
                    namespace: ns.clone(),
                    pod: pod.name_any(),
                    container,
                    service_account: sa.clone(),
                    labels: pod.labels().clone(),
                };
                containers.push((id, Entry { mode: mode.map(|m| m.0), source: mode.map(|m| m.1), info: Arc::new(info) }));
            }
        }
        let ids = self.finder.resolve(containers.iter().map(|(id, _)| id.as_str()));
        let mut desired = Desired::new();
        let mut still_missing = HashMap::new();
        for (id, entry) in containers {
            match ids.get(&id) {
                Some(cgroup_id) => {
                    desired.insert(*cgroup_id, entry);
                }
                None => {
                    let (since, warned) = self.missing_since.remove(&id).unwrap_or((Instant::now(), false));
                    let warn = !warned && since.elapsed() > Duration::from_secs(30);
                    if warn {
                        tracing::warn!(
                            namespace = %entry.info.namespace, pod = %entry.info.pod, container = %entry.info.container,
                            container_id = %id, root = %self.finder.root().display(),
                            "running container's cgroup not found under the cgroup2 root (still looking)"
                        );
                    }
                    still_missing.insert(id, (since, warned || warn));
                }
            }
        }
        let missing = !still_missing.is_empty();
        self.missing_since = still_missing;
        (desired, missing)
    }
}

fn log_changes(old: &Desired, new: &Desired) {
    for (id, e) in new {
        if old.get(id) != Some(e) {
            tracing::info!(
                cgroup_id = id, namespace = %e.info.namespace, pod = %e.info.pod, container = %e.info.container,
                service_account = %e.info.service_account, mode = e.mode.map_or("(policy)", |m| m.as_str()),
                "kubernetes: container"
            );
        }
    }
    for (id, e) in old {
        if !new.contains_key(id) {
            tracing::info!(cgroup_id = id, namespace = %e.info.namespace, pod = %e.info.pod, container = %e.info.container, "kubernetes: container gone");
        }
    }
}
