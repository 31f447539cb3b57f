//! Kubernetes: `deploy/kubernetes/guard.yaml` passes `kubernetes-validate --strict`
//! (Kubernetes 1.37, the validator's newest, and 1.30, the chart's `kubeVersion` floor),
//! and a copy with one misspelt field does not; it agrees with the Helm chart
//! `deploy/helm/guard` (helm cannot be installed here, so the manifests are written by
//! hand): every value in `values.yaml` is what the DaemonSet carries, the literal parts
//! of the templates (mounts, host paths, probe commands, args, RBAC rules) are the same,
//! the policy in the ConfigMap is the chart's file, which is the agent's built-in policy
//! and validates; the RBAC is read-only; the Containerfile's base can run the binary and
//! its entrypoint is what the DaemonSet and the probes call.

use serde_json::{Value, json};

use deploy_test::{agent_binary, read, repo_path, run, yaml_docs};

const MANIFESTS: &str = "deploy/kubernetes/guard.yaml";
const CHART: &str = "deploy/helm/guard";

fn manifests() -> Vec<Value> {
    yaml_docs(&read(MANIFESTS))
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}");
    found[0]
}

fn values() -> Value {
    yaml_docs(&read(&format!("{CHART}/values.yaml"))).remove(0)
}

/// A template with every line that holds a template action removed: what is left is
/// the template's literal YAML.
fn template_literal(name: &str) -> Vec<Value> {
    let text = read(&format!("{CHART}/templates/{name}"));
    let literal: String = text.lines().filter(|l| !l.contains("{{")).map(|l| format!("{l}\n")).collect();
    yaml_docs(&literal)
}

fn validate(path: &str, version: &str) -> deploy_test::Output {
    run("kubernetes-validate", &["--strict", "--quiet", "-k", version, path])
}

#[test]
fn manifests_validate_strictly() {
    let path = repo_path(MANIFESTS);
    for version in ["1.37.0", "1.30.0"] {
        let out = validate(path.to_str().unwrap(), version);
        assert_eq!(out.code, 0, "kubernetes-validate --strict -k {version}:\n{}", out.all());
        assert!(!out.all().contains("ERROR"), "{}", out.all());
    }
    let docs = manifests();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    for want in ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet"] {
        assert!(kinds.contains(&want), "{want} missing: {kinds:?}");
    }
}

#[test]
fn validator_rejects_a_misspelt_field() {
    let bad = read(MANIFESTS).replace("hostPID: true", "hostPID: true\n      hostPIDD: true");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, bad).unwrap();
    let out = validate(path.to_str().unwrap(), "1.37.0");
    assert_ne!(out.code, 0, "a misspelt field passed:\n{}", out.all());
    assert!(out.all().contains("hostPIDD"), "{}", out.all());
}

#[test]
fn daemonset_carries_the_chart_defaults() {
    let docs = manifests();
    let v = values();
    let chart = yaml_docs(&read(&format!("{CHART}/Chart.yaml"))).remove(0);
    let ds = kind(&docs, "DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(pod["containers"].as_array().unwrap().len(), 1);
    assert_eq!(
        c["image"].as_str().unwrap(),
        format!("{}:{}", v["image"]["repository"].as_str().unwrap(), v["image"]["tag"].as_str().unwrap())
    );
    assert_eq!(v["image"]["tag"], chart["appVersion"], "image tag is the chart's appVersion");
    let cargo = read("Cargo.toml");
    assert!(cargo.contains(&format!("version = \"{}\"", chart["appVersion"].as_str().unwrap())), "appVersion is the workspace version");
    assert_eq!(c["imagePullPolicy"], v["image"]["pullPolicy"]);
    assert_eq!(c["securityContext"], v["securityContext"]);
    assert_eq!(c["resources"], v["resources"]);
    assert_eq!(pod["tolerations"], v["tolerations"]);
    assert_eq!(pod["tolerations"], json!([{"operator": "Exists"}]), "tolerate every taint");
    assert_eq!(pod["nodeSelector"], v["nodeSelector"]);
    assert_eq!(pod["hostNetwork"], v["hostNetwork"]);
    assert_eq!(pod["hostPID"], json!(true));
    assert_eq!(pod["priorityClassName"], v["priorityClassName"]);
    assert_eq!(pod["terminationGracePeriodSeconds"], v["terminationGracePeriodSeconds"]);
    assert_eq!(pod["serviceAccountName"], v["serviceAccount"]["name"]);
    assert_eq!(ds["spec"]["updateStrategy"], v["updateStrategy"]);
    // Probes ask /healthz where the agent listens: with hostNetwork and no
    // ServiceMonitor, the node's loopback, which is where kubelet's probe connects.
    assert_eq!(v["hostNetwork"], json!(true));
    for (probe, key) in [("livenessProbe", "liveness"), ("readinessProbe", "readiness")] {
        let mut want = v["probes"][key].clone();
        want["httpGet"] = json!({"path": "/healthz", "port": v["http"]["port"], "host": "127.0.0.1"});
        assert_eq!(c[probe], want, "{probe}");
    }
    let cm = kind(&docs, "ConfigMap");
    let agent_yaml = yaml_docs(cm["data"]["agent.yaml"].as_str().expect("the ConfigMap carries agent.yaml")).remove(0);
    assert_eq!(agent_yaml["listen"], json!(format!("127.0.0.1:{}", v["http"]["port"])), "the agent listens where the probes look");
    assert!(c["volumeMounts"].as_array().unwrap().iter().any(|m| m["mountPath"] == "/etc/guard"), "agent.yaml is at /etc/guard/agent.yaml");
    assert!(c.get("ports").is_none(), "no port while serviceMonitor is off");
    assert_eq!(v["serviceMonitor"]["enabled"], json!(false), "ServiceMonitor off by default");
    // Capabilities: exactly the three the agent needs, everything else dropped.
    assert_eq!(c["securityContext"]["capabilities"], json!({"drop": ["ALL"], "add": ["BPF", "PERFMON", "SYS_ADMIN"]}));
    assert_eq!(c["securityContext"]["privileged"], json!(false));
}

#[test]
fn templates_literal_parts_match_the_manifests() {
    let docs = manifests();
    let ds = kind(&docs, "DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let t = template_literal("daemonset.yaml").remove(0);
    let tpod = &t["spec"]["template"]["spec"];
    let tc = &tpod["containers"][0];
    for key in ["args", "env", "volumeMounts"] {
        assert_eq!(c[key], tc[key], "container {key}");
    }
    assert_eq!(pod["hostPID"], tpod["hostPID"]);
    // Volumes: identical except the ConfigMap's name, which the template computes.
    let strip = |vols: &Value| -> Vec<Value> {
        vols.as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let mut v = v.clone();
                if let Some(cm) = v.get_mut("configMap") {
                    *cm = json!("(name computed by the template)");
                }
                v
            })
            .collect()
    };
    assert_eq!(strip(&pod["volumes"]), strip(&tpod["volumes"]), "volumes");
    let host_paths: Vec<&str> = pod["volumes"].as_array().unwrap().iter().filter_map(|v| v["hostPath"]["path"].as_str()).collect();
    for need in ["/sys/fs/bpf", "/sys/kernel/btf", "/sys/kernel/security", "/sys/kernel/tracing", "/sys/fs/cgroup"] {
        assert!(host_paths.contains(&need), "host mount {need} missing");
    }
    assert_eq!(pod["volumes"][0]["configMap"]["name"], kind(&docs, "ConfigMap")["metadata"]["name"]);
    // RBAC: same rules in the template and the manifest, read-only, exactly what the
    // agent's watch (guard-kube: kube-rs reflectors) does: list and watch of pods,
    // ServiceAccounts and namespaces.
    let trbac = template_literal("rbac.yaml");
    let role = kind(&docs, "ClusterRole");
    assert_eq!(role["rules"], trbac[0]["rules"]);
    assert_eq!(role["rules"], json!([{"apiGroups": [""], "resources": ["pods", "serviceaccounts", "namespaces"], "verbs": ["list", "watch"]}]));
    let binding = kind(&docs, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    let sa = kind(&docs, "ServiceAccount");
    assert_eq!(binding["subjects"], json!([{"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": sa["metadata"]["namespace"]}]));
    // Selector labels select the pod template.
    let sel = ds["spec"]["selector"]["matchLabels"].as_object().unwrap();
    for (k, val) in sel {
        assert_eq!(&ds["spec"]["template"]["metadata"]["labels"][k], val, "selector label {k}");
    }
}

#[test]
fn configmap_policy_is_the_builtin_policy_and_validates() {
    let docs = manifests();
    let cm = kind(&docs, "ConfigMap");
    let policy = cm["data"]["policy.yaml"].as_str().unwrap();
    let builtin = read("guard-policy/builtin.yaml");
    assert_eq!(policy, builtin, "ConfigMap policy differs from guard-policy/builtin.yaml");
    assert_eq!(read(&format!("{CHART}/files/policy.yaml")), builtin, "chart files/policy.yaml differs from the built-in policy");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.yaml");
    std::fs::write(&path, policy).unwrap();
    let out = run(agent_binary().to_str().unwrap(), &["policy", "validate", path.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());
}

#[test]
fn containerfile_base_runs_the_binary_and_entrypoint_matches() {
    let cf = read("deploy/Containerfile");
    let instr = |name: &str| -> Vec<String> {
        cf.lines().filter(|l| l.starts_with(name)).map(|l| l[name.len()..].trim().to_owned()).collect()
    };
    assert_eq!(instr("FROM "), ["docker.io/library/debian:bookworm-slim"]);
    for copy in instr("COPY ") {
        let src = copy.split_whitespace().next().unwrap();
        assert!(repo_path(src).exists() || src == "target/release/guard-agent", "COPY source {src} missing");
    }
    assert!(instr("COPY ").iter().any(|c| c == "target/release/guard-agent /usr/bin/guard-agent"));
    let entry: Value = serde_json::from_str(&instr("ENTRYPOINT ")[0]).unwrap();
    let cmd: Value = serde_json::from_str(&instr("CMD ")[0]).unwrap();
    assert_eq!(entry, json!(["/usr/bin/guard-agent"]));
    let docs = manifests();
    let c = &kind(&docs, "DaemonSet")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["args"], cmd, "DaemonSet args are the image's CMD");
    assert!(c.get("command").is_none(), "the DaemonSet keeps the image's ENTRYPOINT");
    // bookworm has glibc 2.36: the binary must need no newer symbol version.
    let out = run("objdump", &["-T", agent_binary().to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.all());
    let newest = out
        .stdout
        .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '.'))
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
        })
        .max()
        .expect("GLIBC symbol versions");
    assert!(newest <= (2, 36), "binary needs GLIBC_{}.{}, bookworm has 2.36", newest.0, newest.1);
}

/// The DaemonSet hands the node's name to the agent the way the agent reads it:
/// `run --kube-node` defaults to $NODE_NAME, which the pod gets from spec.nodeName.
#[test]
fn daemonset_passes_the_node_name_the_agent_watches_by() {
    let docs = manifests();
    let c = &kind(&docs, "DaemonSet")["spec"]["template"]["spec"]["containers"][0];
    let node_name = c["env"].as_array().unwrap().iter().find(|e| e["name"] == "NODE_NAME").expect("NODE_NAME in the env");
    assert_eq!(node_name["valueFrom"], json!({"fieldRef": {"fieldPath": "spec.nodeName"}}));
    let help = run(agent_binary().to_str().unwrap(), &["run", "--help"]);
    assert_eq!(help.code, 0, "{}", help.all());
    assert!(help.stdout.contains("--kube-node") && help.stdout.contains("env: NODE_NAME"), "{}", help.stdout);
    assert!(help.stdout.contains("--kubeconfig"), "{}", help.stdout);
    let man = read("deploy/man/guard-agent.8");
    for flag in [r"\-\-kube\-node", r"\-\-kubeconfig", "NODE_NAME"] {
        assert!(man.contains(flag), "the man page does not mention {flag}");
    }
}

#[test]
fn docs_explain_the_labels_and_their_rbac() {
    let doc = read("docs/deploy.md");
    let section = doc.split("## Labelling service accounts").nth(1).expect("labelling section in docs/deploy.md");
    let section = section.split("\n## ").next().unwrap();
    assert!(!section.contains("Not built yet"), "the label watch is built");
    for needle in ["guard.dev/mode=strict", "enforce", "audit", "--kube-node", "NODE_NAME", "list", "watch"] {
        assert!(section.contains(needle), "{needle} not documented in the labelling section");
    }
    for line in ["/healthz", "kubernetes-validate"] {
        assert!(doc.contains(line), "docs/deploy.md does not mention {line}");
    }
}
