//! A pod's mode and its running containers, from the objects alone.
//!
//! The ServiceAccount's label wins, else the namespace's, else none. A label whose value
//! is not `audit`, `enforce` or `strict` is reported once (per object and value) and
//! treated as absent.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

use crate::{MODE_LABEL, Mode, ModeSource};

/// Remembers which invalid labels were already reported, so each is logged once.
#[derive(Debug, Default)]
pub struct Warned(HashSet<String>);

/// The mode a labelled object asks for; `what` names the object in the warning.
pub fn label_mode(labels: Option<&BTreeMap<String, String>>, what: &str, warned: &mut Warned) -> Option<Mode> {
    let value = labels?.get(MODE_LABEL)?;
    match Mode::from_label(value) {
        Some(mode) => Some(mode),
        None => {
            if warned.0.insert(format!("{what}\0{value}")) {
                tracing::warn!(object = what, label = MODE_LABEL, value = %value, "invalid mode label ignored (audit, enforce or strict)");
            }
            None
        }
    }
}

/// The pod's mode: its ServiceAccount's, else its namespace's.
pub fn pod_mode(sa_mode: Option<Mode>, ns_mode: Option<Mode>) -> Option<(Mode, ModeSource)> {
    sa_mode.map(|m| (m, ModeSource::ServiceAccount)).or(ns_mode.map(|m| (m, ModeSource::Namespace)))
}

/// The ServiceAccount a pod runs as (`default` when the spec names none).
pub fn service_account(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.service_account_name.clone().or_else(|| s.service_account.clone()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// The container id without its runtime prefix: `containerd://ID`, `cri-o://ID`,
/// `docker://ID` → `ID`. `None` for an empty or malformed id.
pub fn container_id(raw: &str) -> Option<&str> {
    let id = raw.split_once("://").map_or(raw, |(_, id)| id);
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')).then_some(id)
}

/// `(container name, container id)` of every running container of the pod: regular,
/// init and ephemeral containers whose status is `running`.
pub fn running_containers(pod: &Pod) -> Vec<(String, String)> {
    let Some(status) = &pod.status else { return Vec::new() };
    let all = [&status.container_statuses, &status.init_container_statuses, &status.ephemeral_container_statuses];
    all.into_iter()
        .flatten()
        .flatten()
        .filter(|c: &&ContainerStatus| c.state.as_ref().is_some_and(|s| s.running.is_some()))
        .filter_map(|c| Some((c.name.clone(), container_id(c.container_id.as_deref()?)?.to_owned())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(v: &str) -> BTreeMap<String, String> {
        [(MODE_LABEL.to_owned(), v.to_owned())].into()
    }

    #[test]
    fn label_values() {
        let mut w = Warned::default();
        assert_eq!(label_mode(Some(&labels("strict")), "sa", &mut w), Some(Mode::Strict));
        assert_eq!(label_mode(Some(&labels("enforce")), "sa", &mut w), Some(Mode::Enforce));
        assert_eq!(label_mode(Some(&labels("audit")), "sa", &mut w), Some(Mode::Audit));
        assert_eq!(label_mode(Some(&labels("Strict")), "sa", &mut w), None);
        assert_eq!(label_mode(Some(&labels("")), "sa", &mut w), None);
        assert_eq!(label_mode(Some(&BTreeMap::new()), "sa", &mut w), None);
        assert_eq!(label_mode(None, "sa", &mut w), None);
        assert_eq!(w.0.len(), 2, "each invalid value remembered once");
        label_mode(Some(&labels("Strict")), "sa", &mut w);
        assert_eq!(w.0.len(), 2);
    }

    #[test]
    fn service_account_label_wins_over_namespace() {
        assert_eq!(pod_mode(Some(Mode::Audit), Some(Mode::Strict)), Some((Mode::Audit, ModeSource::ServiceAccount)));
        assert_eq!(pod_mode(None, Some(Mode::Strict)), Some((Mode::Strict, ModeSource::Namespace)));
        assert_eq!(pod_mode(None, None), None);
    }

    #[test]
    fn container_ids() {
        let hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(container_id(&format!("containerd://{hex}")), Some(hex));
        assert_eq!(container_id(&format!("cri-o://{hex}")), Some(hex));
        assert_eq!(container_id(&format!("docker://{hex}")), Some(hex));
        assert_eq!(container_id("containerd://"), None);
        assert_eq!(container_id("containerd://../../etc"), None);
    }

    #[test]
    fn only_running_containers_with_an_id() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "n"},
            "spec": {"containers": [], "serviceAccountName": "runner"},
            "status": {
                "containerStatuses": [
                    {"name": "a", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
                     "containerID": "containerd://aaaa", "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}},
                    {"name": "b", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                     "state": {"waiting": {"reason": "ContainerCreating"}}},
                    {"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 1,
                     "containerID": "containerd://cccc", "state": {"terminated": {"exitCode": 0}}}
                ],
                "initContainerStatuses": [
                    {"name": "init", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                     "containerID": "cri-o://dddd", "state": {"running": {}}}
                ]
            }
        }))
        .unwrap();
        assert_eq!(running_containers(&pod), [("a".into(), "aaaa".into()), ("init".into(), "dddd".into())]);
        assert_eq!(service_account(&pod), "runner");
        let bare: Pod = serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}})).unwrap();
        assert_eq!(service_account(&bare), "default");
        assert!(running_containers(&bare).is_empty());
    }
}
