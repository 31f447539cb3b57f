//! Modes from Kubernetes labels, end to end: the real agent (`run --kube-node`) watches a
//! fake API server (guard-kube's, the real list/watch protocol over plain HTTP, given
//! with `--kubeconfig`) that has two pods on this "node", one running as a ServiceAccount
//! labelled `guard.dev/mode=enforce`, one as an unlabelled one. Each pod's container is a
//! real cgroup this test creates under the cgroup2 root, named as the systemd cgroup
//! driver and containerd name them. The policy's default is audit and it protects a
//! directory this test created; `rm -rf` of it, run as test uid 4242 inside the labelled
//! pod's cgroup, is stopped and its event names the pod; inside the unlabelled pod's
//! cgroup it runs. Relabelling the second ServiceAccount then stops it there too.
//! Nothing outside the test's own directory and cgroups is touched.

use std::{
    os::unix::fs::{MetadataExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    time::Duration,
};

use guard_kube::fake::{self, FakeApi};
use integration_test::{Agent, cgroup2_root, lsm, require_root, token};
use serde_json::Value;

const UID: u32 = 4242;
const NODE: &str = "guard-test-node";

/// The test's directory: a protected tree the test uid may delete, and the policy.
struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(token("kube"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let s = Self { dir };
        s.fill();
        s
    }

    fn fill(&self) {
        std::fs::create_dir_all(self.dir.join("protected/keep")).unwrap();
        std::fs::write(self.dir.join("protected/keep/file"), "precious").unwrap();
        for p in [self.dir.join("protected"), self.dir.join("protected/keep")] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
    }

    fn protected(&self) -> String {
        self.dir.join("protected").display().to_string()
    }

    fn intact(&self) -> bool {
        self.dir.join("protected/keep/file").exists()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A pod-like cgroup tree of the test's own under the cgroup2 root, removed on drop.
struct PodCgroups {
    slice: PathBuf,
    scopes: Vec<PathBuf>,
}

impl PodCgroups {
    fn new() -> Self {
        let slice = Path::new(&cgroup2_root()).join(format!("kubepods-{}.slice", token("guardtest")));
        std::fs::create_dir(&slice).unwrap();
        Self { slice, scopes: Vec::new() }
    }

    /// A container's cgroup as the systemd driver and containerd name it; its id.
    fn container(&mut self, pod: &str, id: &str) -> (PathBuf, u64) {
        let pod_slice = self.slice.join(format!("kubepods-besteffort-pod{pod}.slice"));
        let scope = pod_slice.join(format!("cri-containerd-{id}.scope"));
        std::fs::create_dir_all(&scope).unwrap();
        self.scopes.push(scope.clone());
        self.scopes.push(pod_slice);
        let ino = std::fs::metadata(&scope).unwrap().ino();
        (scope, ino)
    }
}

impl Drop for PodCgroups {
    fn drop(&mut self) {
        for d in &self.scopes {
            let _ = std::fs::remove_dir(d);
        }
        let _ = std::fs::remove_dir(&self.slice);
    }
}

/// `exec_in_cgroup_as` for a cgroup path; returns the raw wait status (127 << 8 when
/// the exec itself failed).
fn exec_in_cgroup_as(cgroup: &Path, uid: u32, argv: &[&str]) -> i32 {
    integration_test::exec_in_cgroup_as(&cgroup.display().to_string(), Some(uid), argv).1
}

fn assert_stopped(status: i32, sb: &Sandbox, what: &str) {
    assert!(sb.intact(), "{what}: nothing deleted (status {status:#x})");
    if lsm() {
        assert_eq!(status, 127 << 8, "{what}: exec refused (EPERM), the child exits 127: status {status:#x}");
    } else {
        assert_eq!(status & 0x7f, libc::SIGKILL, "{what}: killed by SIGKILL, status {status:#x}");
    }
}

fn container_id(n: u8) -> String {
    format!("{n:02x}{}", "6775617264".repeat(7).get(..62).unwrap())
}

#[test]
fn a_service_account_labelled_enforce_stops_its_pods_and_events_name_the_pod() {
    require_root();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let api = rt.block_on(FakeApi::start()).unwrap();
    let sb = Sandbox::new();
    let mut cgroups = PodCgroups::new();
    let (id_a, id_b) = (container_id(1), container_id(2));
    let (cg_a, ino_a) = cgroups.container("a1", &id_a);
    let (cg_b, ino_b) = cgroups.container("b2", &id_b);
    for obj in [
        fake::namespace("ci", None),
        fake::service_account("ci", "runner", Some("enforce")),
        fake::service_account("ci", "plain", None),
        fake::pod("ci", "runner-1", NODE, "runner", &[("build", &format!("containerd://{id_a}"))]),
        fake::pod("ci", "plain-1", NODE, "plain", &[("build", &format!("containerd://{id_b}"))]),
    ] {
        api.apply(obj);
    }
    let kubeconfig = sb.dir.join("kubeconfig");
    std::fs::write(&kubeconfig, api.kubeconfig()).unwrap();
    let policy = sb.dir.join("policy.yaml");
    std::fs::write(&policy, format!("version: 1\nname: kube-test\ndefault_mode: audit\nprotected_paths: [{}]\n", sb.protected())).unwrap();

    let agent = Agent::start(&[
        "--policy",
        policy.to_str().unwrap(),
        "--kube-node",
        NODE,
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
    ])
    .unwrap();
    for ino in [ino_a, ino_b] {
        assert!(
            agent.wait_log(&format!("cgroup_id={ino} "), Duration::from_secs(30)),
            "the agent mapped cgroup {ino}: {}",
            agent.log()
        );
    }
    // The mode is in the kernel's map once the agent says so.
    assert!(agent.wait_log("kubernetes: cgroup modes in force", Duration::from_secs(10)), "{}", agent.log());

    let rm = ["/bin/rm", "-rf", &sb.protected()];
    let status = exec_in_cgroup_as(&cg_a, UID, &rm);
    assert_stopped(status, &sb, "pod of the ServiceAccount labelled enforce");

    let status = exec_in_cgroup_as(&cg_b, UID, &rm);
    assert_eq!(status, 0, "unlabelled ServiceAccount: the policy's default (audit) applies, rm runs");
    assert!(!sb.intact());

    // The label arrives on the second ServiceAccount: its pod is stopped too.
    sb.fill();
    let modes_before = agent.log().matches("kubernetes: cgroup modes in force").count();
    api.apply(fake::service_account("ci", "plain", Some("enforce")));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while agent.log().matches("kubernetes: cgroup modes in force").count() == modes_before {
        assert!(std::time::Instant::now() < deadline, "relabel not applied: {}", agent.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = exec_in_cgroup_as(&cg_b, UID, &rm);
    assert_stopped(status, &sb, "pod of the ServiceAccount relabelled enforce");

    let events = agent.stop().unwrap();
    let rms: Vec<&Value> = events
        .events
        .iter()
        .filter(|e| e["filename"] == "/bin/rm" && e["argv"][2] == sb.protected().as_str())
        .collect();
    let summary: Vec<(u64, &str, &str, &str)> = rms
        .iter()
        .map(|e| {
            (
                e["cgroup_id"].as_u64().unwrap_or(0),
                e["k8s"]["pod"].as_str().unwrap_or(""),
                e["mode"].as_str().unwrap_or(""),
                e["decision"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(summary.contains(&(ino_a, "runner-1", "enforce", "deny")), "{summary:?}");
    assert!(summary.contains(&(ino_b, "plain-1", "audit", "audit")), "{summary:?}");
    assert!(summary.contains(&(ino_b, "plain-1", "enforce", "deny")), "{summary:?}");
    let denied = rms.iter().find(|e| e["cgroup_id"] == ino_a).unwrap();
    let k8s = &denied["k8s"];
    assert_eq!(k8s["namespace"], "ci");
    assert_eq!(k8s["pod"], "runner-1");
    assert_eq!(k8s["container"], "build");
    assert_eq!(k8s["service_account"], "runner");
    assert_eq!(k8s["labels"]["app.kubernetes.io/name"], "runner");
    assert_eq!(denied["uid"], UID);
    // The agent asked for this node's pods only.
    let pods: Vec<_> = api.requests().into_iter().filter(|r| r.resource() == "pods").collect();
    assert!(!pods.is_empty() && pods.iter().all(|r| r.param("fieldSelector") == Some(&format!("spec.nodeName={NODE}"))), "{pods:?}");
    drop(cgroups);
    drop(api);
}
