//! Cloud, infrastructure and cluster CLIs: aws, gcloud, gsutil, az, rclone, s3cmd, doctl,
//! openstack, terraform/tofu, pulumi, kubectl/oc, helm, docker/podman, virsh, eksctl.

use super::{has_flag, words_lower};
use crate::engine::{Cmd, Engine, ShellState, Stdin, tool_name};
use crate::intent::IntentClass::{AuditTamper, CloudDestroy, DataExfiltration};

pub(crate) const TOOLS: &[&str] = &[
    "aws", "gcloud", "gsutil", "az", "rclone", "s3cmd", "doctl", "openstack", "terraform", "tofu",
    "terragrunt", "pulumi", "kubectl", "oc", "k", "helm", "docker", "podman", "nerdctl",
    "docker-compose", "virsh", "eksctl", "linode-cli", "hcloud", "oci", "ibmcloud", "flyctl",
    "heroku", "vercel", "nomad", "consul", "vault", "etcdctl",
];

/// AWS operations that are routine despite their verb.
const AWS_BENIGN: &[&str] = &[
    "delete-tags", "delete-message", "delete-message-batch", "delete-object", "delete-objects-tagging",
    "delete-object-tagging", "delete-alarms", "delete-login-profile", "delete-access-key",
    "delete-launch-template-versions", "delete-network-interface", "delete-key-pair",
    "delete-change-set", "delete-parameter", "delete-item", "delete-image", "deregister-image",
];

pub(crate) fn check(eng: &mut Engine<'_>, cmd: &Cmd<'_>, st: &mut ShellState) {
    let a = cmd.args;
    let w = words_lower(a);
    let w0 = w.first().map_or("", String::as_str);
    let w1 = w.get(1).map_or("", String::as_str);
    let has_w = |x: &str| w.iter().any(|y| y == x);
    let destroy = |eng: &mut Engine<'_>, why: String| eng.flag(CloudDestroy, why, cmd.evidence());
    match cmd.name.as_str() {
        "aws" => {
            let audit = match w0 {
                "cloudtrail" => matches!(w1, "delete-trail" | "stop-logging" | "put-event-selectors" | "update-trail"),
                "logs" => w1.starts_with("delete-") || w1 == "put-retention-policy",
                "guardduty" => w1.starts_with("delete-") || w1.starts_with("disassociate") || (w1 == "update-detector" && a.iter().any(|x| x == "--no-enable")),
                "config" | "configservice" => w1.starts_with("delete-") || w1.starts_with("stop-"),
                "securityhub" => w1.starts_with("disable") || w1.starts_with("delete-"),
                "cloudwatch" => w1 == "delete-alarms" || w1 == "disable-alarm-actions",
                _ => false,
            };
            if audit {
                eng.flag(AuditTamper, format!("aws {w0} {w1} disables or erases cloud audit logging"), cmd.evidence());
            } else if w0 == "s3" && (w1 == "rb" || (w1 == "rm" && has_flag(a, '\0', &["recursive"]))) {
                destroy(eng, format!("aws s3 {w1} deletes a bucket or all its objects"));
            } else if (w1.starts_with("delete-") || w1.starts_with("terminate-") || w1.starts_with("remove-") || w1 == "schedule-key-deletion")
                && !AWS_BENIGN.contains(&w1)
            {
                destroy(eng, format!("aws {w0} {w1} deletes cloud resources"));
            }
            if w0 == "s3" && matches!(w1, "cp" | "mv" | "sync") {
                upload(eng, cmd, &w[2..], |d| d.starts_with("s3://"));
            }
        }
        "gcloud" => {
            if w0 == "logging" && has_w("delete") {
                eng.flag(AuditTamper, "gcloud logging delete removes audit logs or sinks", cmd.evidence());
            } else if has_w("delete") || (w0 == "storage" && w1 == "rm" && has_flag(a, 'r', &["recursive"])) {
                destroy(eng, format!("gcloud {} deletes cloud resources", w.iter().take(3).cloned().collect::<Vec<_>>().join(" ")));
            }
            if w0 == "storage" && matches!(w1, "cp" | "mv" | "rsync") {
                upload(eng, cmd, &w[2..], |d| d.starts_with("gs://"));
            }
        }
        "gsutil" => {
            if w0 == "rb" || (w0 == "rm" && (has_flag(a, 'r', &[]) || has_flag(a, 'a', &[]) || w.iter().any(|x| x.ends_with("/**") || x.ends_with("/*")))) {
                destroy(eng, format!("gsutil {w0} deletes a bucket or all its objects"));
            }
            if matches!(w0, "cp" | "mv" | "rsync") {
                upload(eng, cmd, &w[1..], |d| d.starts_with("gs://"));
            }
        }
        "az" => {
            if w0 == "monitor" && has_w("delete") {
                eng.flag(AuditTamper, "az monitor delete removes diagnostic/audit settings", cmd.evidence());
            } else if has_w("delete") || has_w("purge") {
                destroy(eng, format!("az {w0} {w1} delete removes cloud resources"));
            }
        }
        "rclone" => {
            if w0 == "purge" || (w0 == "delete" && w.get(1).is_some_and(|r| r.contains(':'))) {
                destroy(eng, format!("rclone {w0} deletes remote data"));
            }
            if matches!(w0, "copy" | "copyto" | "move" | "moveto" | "sync") {
                upload(eng, cmd, &w[1..], |d| d.contains(':'));
            }
        }
        "s3cmd" => {
            if w0 == "rb" || (matches!(w0, "del" | "rm") && has_flag(a, 'r', &["recursive"])) {
                destroy(eng, format!("s3cmd {w0} deletes buckets or objects"));
            }
            if w0 == "put" || w0 == "sync" {
                upload(eng, cmd, &w[1..], |d| d.starts_with("s3://"));
            }
        }
        "doctl" | "openstack" | "linode-cli" | "hcloud" | "oci" | "ibmcloud" | "eksctl" | "heroku" => {
            if has_w("delete") || has_w("destroy") || has_w("terminate") || has_w("rm") && cmd.name == "doctl" {
                destroy(eng, format!("{} delete removes cloud resources", cmd.name));
            }
        }
        "terraform" | "tofu" | "terragrunt" => {
            if w0 == "destroy" || (w0 == "apply" && has_flag(a, '\0', &["destroy"])) || a.iter().any(|x| x == "-destroy") || w0 == "run-all" && w1 == "destroy" {
                destroy(eng, format!("{} destroy tears down managed infrastructure", cmd.name));
            }
        }
        "pulumi" => {
            if w0 == "destroy" || w0 == "down" {
                destroy(eng, "pulumi destroy tears down the stack's resources".to_owned());
            }
        }
        "kubectl" | "oc" | "k" => kubectl(eng, cmd, st, &w),
        "helm" => {
            if matches!(w0, "uninstall" | "delete" | "del" | "un") {
                destroy(eng, "helm uninstall removes a release and its resources".to_owned());
            }
        }
        "docker" | "podman" | "nerdctl" | "docker-compose" => docker(eng, cmd, st, &w),
        "virsh" => {
            if matches!(w0, "undefine" | "vol-delete" | "pool-delete" | "vol-wipe" | "pool-undefine") {
                destroy(eng, format!("virsh {w0} deletes a VM or storage"));
            }
        }
        "etcdctl" => {
            if w0 == "del" && (has_flag(a, '\0', &["prefix", "from-key"])) {
                destroy(eng, "etcdctl del --prefix deletes cluster state".to_owned());
            }
        }
        "vault" => {
            if (w0 == "secrets" && w1 == "disable") || (w0 == "kv" && w1 == "destroy") || (w0 == "audit" && w1 == "disable") {
                let class = if w0 == "audit" { AuditTamper } else { CloudDestroy };
                eng.flag(class, format!("vault {w0} {w1}"), cmd.evidence());
            }
        }
        _ => {}
    }
}

/// `cp SRC... DEST` to a bucket or remote: exfiltration when a source is sensitive.
fn upload(eng: &mut Engine<'_>, cmd: &Cmd<'_>, words: &[String], remote: impl Fn(&str) -> bool) {
    let ops: Vec<&String> = cmd.args.iter().filter(|a| !a.starts_with('-')).filter(|a| words.iter().any(|w| w.eq_ignore_ascii_case(a))).collect();
    let Some((dest, srcs)) = ops.split_last() else { return };
    if !remote(dest) || eng.ctx.is_trusted(dest) {
        return;
    }
    for s in srcs {
        let p = cmd.path(s);
        if crate::path::is_anchored(&p) && eng.ctx.is_sensitive(&p) {
            eng.flag(DataExfiltration, format!("uploads sensitive {p} to {dest}"), cmd.evidence());
        }
    }
}

const K8S_CLUSTER_SCOPED: &[&str] = &[
    "ns", "namespace", "namespaces", "node", "nodes", "no", "pv", "persistentvolume",
    "persistentvolumes", "pvc", "persistentvolumeclaim", "persistentvolumeclaims", "crd", "crds",
    "customresourcedefinition", "customresourcedefinitions", "clusterrole", "clusterrolebinding",
    "storageclass", "sc", "validatingwebhookconfiguration", "mutatingwebhookconfiguration",
];

fn kubectl(eng: &mut Engine<'_>, cmd: &Cmd<'_>, st: &mut ShellState, w: &[String]) {
    let a = cmd.args;
    let w0 = w.first().map_or("", String::as_str);
    if w0 == "exec" {
        if let Some(pos) = a.iter().position(|x| x == "--") {
            eng.run_argv(&a[pos + 1..], st, &Stdin::default());
        }
        return;
    }
    if w0 != "delete" {
        return;
    }
    let kinds: Vec<&str> = w.get(1).map(|k| k.split(',').collect()).unwrap_or_default();
    let all = has_flag(a, 'A', &["all", "all-namespaces"]);
    let kind_of = |k: &str| k.split('/').next().unwrap_or(k).to_owned();
    let cluster = kinds.iter().map(|k| kind_of(k)).find(|k| K8S_CLUSTER_SCOPED.contains(&k.as_str()));
    let everything = kinds.iter().any(|k| *k == "all");
    let selector_everything = a.iter().any(|x| x == "--selector=" || x == "-l=");
    if let Some(k) = cluster {
        eng.flag(CloudDestroy, format!("kubectl delete {k} removes cluster-level resources or their data"), cmd.evidence());
    } else if all || everything || selector_everything {
        eng.flag(CloudDestroy, "kubectl delete --all removes every resource of a kind", cmd.evidence());
    }
}

fn docker(eng: &mut Engine<'_>, cmd: &Cmd<'_>, st: &mut ShellState, w: &[String]) {
    let a = cmd.args;
    let w0 = w.first().map_or("", String::as_str);
    let w1 = w.get(1).map_or("", String::as_str);
    let compose = cmd.name == "docker-compose" || w0 == "compose";
    let (v0, _) = if compose && cmd.name != "docker-compose" { (w1, ()) } else { (w0, ()) };
    if compose {
        if v0 == "down" && has_flag(a, 'v', &["volumes"]) {
            eng.flag(CloudDestroy, "compose down -v deletes the project's volumes", cmd.evidence());
        }
        return;
    }
    match (w0, w1) {
        ("volume", "rm" | "remove" | "prune") | ("volume", "delete") => {
            eng.flag(CloudDestroy, format!("docker volume {w1} deletes persistent volumes"), cmd.evidence());
        }
        ("system", "prune") if has_flag(a, '\0', &["volumes"]) => {
            eng.flag(CloudDestroy, "docker system prune --volumes deletes volumes", cmd.evidence());
        }
        ("run", _) | ("container", "run") => {
            let at = a.iter().position(|x| x == "run").map_or(a.len(), |k| k + 1);
            super::container::run(eng, st, &a[at..]);
        }
        ("exec", _) => {
            // docker exec [opts] CONTAINER CMD...: judge CMD.
            let mut i = 1;
            while i < a.len() && a[i].starts_with('-') {
                if matches!(a[i].as_str(), "-e" | "--env" | "-u" | "--user" | "-w" | "--workdir" | "--env-file") {
                    i += 1;
                }
                i += 1;
            }
            if i + 1 < a.len() {
                eng.run_argv(&a[i + 1..], st, &Stdin::default());
            }
        }
        _ => {}
    }
    let _ = tool_name;
}

#[cfg(test)]
mod tests {
    use crate::{Context, IntentClass, classify_shell};

    fn cd(s: &str) -> bool {
        classify_shell(s, &Context::builtin()).has(IntentClass::CloudDestroy)
    }

    #[test]
    fn cloud() {
        assert!(cd("aws s3 rb s3://prod-data --force"));
        assert!(cd("aws s3 rm s3://prod-data --recursive"));
        assert!(cd("aws ec2 terminate-instances --instance-ids i-123"));
        assert!(cd("aws rds delete-db-instance --db-instance-identifier prod"));
        assert!(!cd("aws s3 rm s3://bucket/tmp/file.txt"));
        assert!(!cd("aws sqs delete-message --queue-url q --receipt-handle h"));
        assert!(cd("gcloud compute instances delete web-1 --zone us-east1-b"));
        assert!(cd("gsutil -m rm -r gs://prod-backups"));
        assert!(cd("az group delete --name prod-rg --yes"));
        assert!(cd("terraform destroy -auto-approve"));
        assert!(cd("terraform apply -destroy"));
        assert!(!cd("terraform plan -out tf.plan"));
        assert!(cd("pulumi destroy --yes"));
    }

    #[test]
    fn clusters_and_containers() {
        assert!(cd("kubectl delete namespace production"));
        assert!(cd("kubectl delete pods --all -n prod"));
        assert!(cd("kubectl -n prod delete pvc data-postgres-0"));
        assert!(!cd("kubectl delete pod web-5d9f7 -n prod"));
        assert!(!cd("kubectl get ns"));
        assert!(cd("docker volume prune -f"));
        assert!(cd("docker compose down -v"));
        assert!(!cd("docker compose down"));
        assert!(!cd("docker rm -f web"));
        assert!(classify_shell("docker exec db psql -c 'DROP DATABASE app'", &Context::builtin()).has(IntentClass::SchemaDestroy));
    }
}
