//! The watch against the fake API server (real list/watch protocol over HTTP, kube-rs's
//! own client and watcher), with real directories as container cgroups under a
//! temporary "cgroup root", so the cgroup ids are real inode numbers.

use std::{
    os::unix::fs::MetadataExt as _,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use guard_kube::{
    Desired, Mode, ModeSource, WatchConfig,
    fake::{self, FakeApi, Kind},
};
use tokio::sync::watch;

const NODE: &str = "node-a";

fn hex_id(n: u8) -> String {
    format!("{n:02x}{}", "9e8d7c6b5a4f3e2d1c0b".repeat(4).get(..62).unwrap())
}

/// A running watch on a fake API server and a temporary cgroup root.
struct Harness {
    api: FakeApi,
    root: tempfile::TempDir,
    rx: watch::Receiver<Arc<Desired>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Harness {
    /// The server with `objects`, then the watch started against it.
    async fn start(objects: Vec<serde_json::Value>) -> Self {
        let api = FakeApi::start().await.unwrap();
        for o in objects {
            api.apply(o);
        }
        let client = kube::Client::try_from(kube::Config::new(api.url().parse().unwrap())).unwrap();
        let root = tempfile::tempdir().unwrap();
        let config = WatchConfig { node: NODE.into(), cgroup_root: root.path().into(), retry: Duration::from_millis(100) };
        let (rx, task) = guard_kube::spawn(client, config);
        Self { api, root, rx, task }
    }

    /// Creates the container's cgroup directory (systemd driver, containerd) and
    /// returns its inode number: the cgroup id.
    fn cgroup(&self, pod: &str, id: &str) -> u64 {
        let dir = self
            .root
            .path()
            .join(format!("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{pod}.slice/cri-containerd-{id}.scope"));
        mkdir(&dir)
    }

    /// Waits until the published table satisfies `pred`.
    async fn until(&mut self, what: &str, pred: impl Fn(&Desired) -> bool) -> Arc<Desired> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let current = self.rx.borrow_and_update().clone();
            if pred(&current) {
                return current;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, self.rx.changed()).await.is_err() {
                panic!("timed out waiting for {what}; table: {current:#?}\nrequests: {:#?}", self.api.requests());
            }
        }
    }

    fn lists(&self, resource: &str) -> usize {
        self.api.requests().iter().filter(|r| r.resource() == resource && !r.is_watch()).count()
    }

    fn watches(&self, resource: &str) -> Vec<fake::Request> {
        self.api.requests().into_iter().filter(|r| r.resource() == resource && r.is_watch()).collect()
    }
}

fn mkdir(dir: &Path) -> u64 {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::metadata(dir).unwrap().ino()
}

fn mode_of(d: &Desired, cgroup: u64) -> Option<Mode> {
    d.get(&cgroup).and_then(|e| e.mode)
}

fn containerd(id: &str) -> String {
    format!("containerd://{id}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_gets_its_service_accounts_mode_and_loses_it_when_deleted() {
    let (a, b) = (hex_id(1), hex_id(2));
    let mut h = Harness::start(vec![
        fake::namespace("ci", None),
        fake::service_account("ci", "runner", Some("enforce")),
        fake::pod("ci", "runner-1", NODE, "runner", &[("build", &containerd(&a)), ("sidecar", &format!("cri-o://{b}"))]),
    ])
    .await;
    let cg_a = h.cgroup("1", &a);
    // CRI-O's layout, and its conmon cgroup next to it, which must not match.
    let cg_b = mkdir(&h.root.path().join(format!("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/crio-{b}.scope")));
    mkdir(&h.root.path().join(format!("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/crio-conmon-{b}.scope")));
    let d = h.until("both containers", |d| d.len() == 2).await;
    assert_eq!(mode_of(&d, cg_a), Some(Mode::Enforce));
    assert_eq!(mode_of(&d, cg_b), Some(Mode::Enforce));
    let e = &d[&cg_a];
    assert_eq!(e.source, Some(ModeSource::ServiceAccount));
    assert_eq!((e.info.namespace.as_str(), e.info.pod.as_str(), e.info.container.as_str()), ("ci", "runner-1", "build"));
    assert_eq!(e.info.service_account, "runner");
    assert_eq!(e.info.labels.get("app.kubernetes.io/name").map(String::as_str), Some("runner"));
    assert_eq!(d[&cg_b].info.container, "sidecar");

    // Label changed enforce → strict.
    h.api.apply(fake::service_account("ci", "runner", Some("strict")));
    h.until("strict", |d| mode_of(d, cg_a) == Some(Mode::Strict) && mode_of(d, cg_b) == Some(Mode::Strict)).await;

    // Pod deleted: its entries go.
    h.api.delete(Kind::Pod, "ci", "runner-1").unwrap();
    h.until("pod gone", Desired::is_empty).await;

    // What the client asked for: all pods of this node, only labelled accounts and namespaces.
    for r in h.api.requests() {
        match r.resource() {
            "pods" => assert_eq!(r.param("fieldSelector"), Some("spec.nodeName=node-a"), "{r:?}"),
            "serviceaccounts" | "namespaces" => assert_eq!(r.param("labelSelector"), Some("guard.dev/mode"), "{r:?}"),
            other => panic!("unexpected request for {other}: {r:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_namespace_label_is_the_default_and_an_invalid_label_is_ignored() {
    let (a, b, c) = (hex_id(3), hex_id(4), hex_id(5));
    let mut h = Harness::start(vec![
        fake::namespace("ci", Some("strict")),
        fake::namespace("web", None),
        // Unlabelled: not even listed (label selector).
        fake::service_account("ci", "builder", None),
        // Not a mode: reported and ignored, so the namespace's applies.
        fake::service_account("ci", "odd", Some("Strict")),
        fake::pod("ci", "build-1", NODE, "builder", &[("main", &containerd(&a))]),
        fake::pod("ci", "odd-1", NODE, "odd", &[("main", &containerd(&b))]),
        // Neither labelled: in the table (for events) with no mode.
        fake::pod("web", "web-1", NODE, "default", &[("nginx", &containerd(&c))]),
    ])
    .await;
    let (cg_a, cg_b, cg_c) = (h.cgroup("3", &a), h.cgroup("4", &b), h.cgroup("5", &c));
    let d = h.until("three containers", |d| d.len() == 3).await;
    assert_eq!((mode_of(&d, cg_a), d[&cg_a].source), (Some(Mode::Strict), Some(ModeSource::Namespace)));
    assert_eq!(mode_of(&d, cg_b), Some(Mode::Strict));
    assert_eq!((mode_of(&d, cg_c), d[&cg_c].source), (None, None));
    assert_eq!(d[&cg_c].info.service_account, "default");

    // The account gets a label: it wins over the namespace's.
    h.api.apply(fake::service_account("ci", "builder", Some("audit")));
    h.until("account's audit", |d| mode_of(d, cg_a) == Some(Mode::Audit)).await;
    // The label removed again: the account leaves the label-selected watch (DELETED),
    // the namespace's mode is back.
    h.api.apply(fake::service_account("ci", "builder", None));
    h.until("namespace's strict again", |d| mode_of(d, cg_a) == Some(Mode::Strict)).await;
    // The namespace label removed: no mode of its own.
    h.api.apply(fake::namespace("ci", None));
    h.until("no mode", |d| mode_of(d, cg_a).is_none() && mode_of(d, cg_b).is_none() && d.len() == 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_on_another_node_is_ignored() {
    let (a, b) = (hex_id(6), hex_id(7));
    let mut h = Harness::start(vec![
        fake::service_account("ci", "runner", Some("enforce")),
        fake::pod("ci", "here", NODE, "runner", &[("main", &containerd(&a))]),
        fake::pod("ci", "there", "node-b", "runner", &[("main", &containerd(&b))]),
    ])
    .await;
    let cg_a = h.cgroup("6", &a);
    // Even with a matching cgroup directory present (a shared test root).
    let cg_b = h.cgroup("7", &b);
    h.until("this node's pod", |d| d.contains_key(&cg_a)).await;
    h.api.apply(fake::pod("ci", "there-2", "node-b", "runner", &[("main", &containerd(&b))]));
    h.api.apply(fake::pod("ci", "here-2", NODE, "runner", &[]));
    // A later change on this node is seen, so the other node's were delivered-or-filtered by then.
    h.api.apply(fake::service_account("ci", "runner", Some("strict")));
    let d = h.until("strict", |d| mode_of(d, cg_a) == Some(Mode::Strict)).await;
    assert!(!d.contains_key(&cg_b), "{d:#?}");
    assert_eq!(d.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_whose_cgroup_appears_later_is_picked_up() {
    let a = hex_id(8);
    let mut h = Harness::start(vec![
        fake::service_account("ci", "runner", Some("enforce")),
        fake::pod("ci", "slow", NODE, "runner", &[("main", &containerd(&a))]),
    ])
    .await;
    // Listed, nothing to map yet.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(h.rx.borrow().is_empty());
    let cg = h.cgroup("8", &a);
    h.until("found on retry", |d| mode_of(d, cg) == Some(Mode::Enforce)).await;
}

/// The server ends every watch mid-stream while changes happen; the client watches
/// again from the last version it saw, gets the changes it missed, and never lists again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_watch_resumes_from_its_version_and_loses_no_change() {
    let (a, b) = (hex_id(9), hex_id(10));
    let mut h = Harness::start(vec![
        fake::service_account("ci", "runner", Some("enforce")),
        fake::service_account("ci", "other", Some("audit")),
        fake::pod("ci", "one", NODE, "runner", &[("main", &containerd(&a))]),
    ])
    .await;
    let cg_a = h.cgroup("9", &a);
    let cg_b = h.cgroup("10", &b);
    h.until("first pod", |d| d.contains_key(&cg_a)).await;
    // A live change through the first watch, and a bookmark, so the version moved.
    h.api.apply(fake::pod("ci", "two", NODE, "other", &[("main", &containerd(&b))]));
    h.until("second pod", |d| mode_of(d, cg_b) == Some(Mode::Audit)).await;
    h.api.bookmark();
    let before_drop = h.api.resource_version();
    let lists_before = (h.lists("pods"), h.lists("serviceaccounts"));
    tokio::time::sleep(Duration::from_millis(200)).await;

    h.api.pause_watches();
    h.api.drop_watches();
    // While no watch is open: an account relabelled, a pod deleted.
    h.api.apply(fake::service_account("ci", "runner", Some("strict")));
    h.api.delete(Kind::Pod, "ci", "two").unwrap();
    h.api.resume_watches();

    let d = h.until("changes made while disconnected", |d| mode_of(d, cg_a) == Some(Mode::Strict) && !d.contains_key(&cg_b)).await;
    assert_eq!(d.len(), 1);
    assert_eq!((h.lists("pods"), h.lists("serviceaccounts")), lists_before, "resumed, not relisted");
    // The pods watch after the drop resumed from the version it had seen last: the bookmark's.
    let resumed: Vec<_> = h.watches("pods").iter().filter_map(|r| r.param("resourceVersion").map(str::to_owned)).collect();
    assert!(resumed.len() >= 2, "{resumed:?}");
    assert!(resumed.contains(&before_drop.to_string()), "a pods watch resumed from {before_drop}: {resumed:?}");
}

/// The server forgot the client's version (compaction): the watch gets 410 Gone, the
/// client lists again and ends up with the server's state, deletions included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_version_makes_the_client_relist_and_converge() {
    let (a, b) = (hex_id(11), hex_id(12));
    let mut h = Harness::start(vec![
        fake::namespace("ci", Some("audit")),
        fake::service_account("ci", "runner", Some("enforce")),
        fake::pod("ci", "old", NODE, "runner", &[("main", &containerd(&a))]),
    ])
    .await;
    let cg_a = h.cgroup("11", &a);
    let cg_b = h.cgroup("12", &b);
    h.until("old pod", |d| mode_of(d, cg_a) == Some(Mode::Enforce)).await;
    let lists_before = h.lists("pods");

    h.api.pause_watches();
    h.api.drop_watches();
    h.api.delete(Kind::Pod, "ci", "old").unwrap();
    h.api.apply(fake::pod("ci", "new", NODE, "builder", &[("main", &containerd(&b))]));
    h.api.compact();
    h.api.resume_watches();

    let d = h.until("relisted state", |d| !d.contains_key(&cg_a) && mode_of(d, cg_b) == Some(Mode::Audit)).await;
    assert_eq!(d.len(), 1);
    assert_eq!(d[&cg_b].source, Some(ModeSource::Namespace));
    assert!(h.lists("pods") > lists_before, "listed again after 410");
}
