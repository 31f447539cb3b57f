//! The running agent's policy: loading it, compiling it into the maps, reloading it.

use std::{
    cell::RefCell,
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, RwLock},
    time::SystemTime,
};

use guard_policy::Policy;

use crate::kernel::Maps;
use crate::enforce::{
    apply::{apply, apply_cgroup_modes},
    compile::compile,
    facts::{cgroup2_root, facts},
};

/// Rule names by rule id, shared with the event reader.
pub type RuleNames = Arc<RwLock<Vec<String>>>;

/// Where the policy comes from.
pub struct PolicySource {
    file: Option<PathBuf>,
    seen: std::cell::Cell<Option<SystemTime>>,
}

impl PolicySource {
    pub fn new(file: Option<PathBuf>) -> Self {
        Self { file, seen: std::cell::Cell::new(None) }
    }

    /// Loads (and validates) the policy: the file, else the built-in one.
    pub fn load(&self) -> anyhow::Result<Policy> {
        match &self.file {
            Some(f) => {
                self.seen.set(mtime(f));
                Ok(guard_policy::load_file(f)?)
            }
            None => Ok(guard_policy::builtin()),
        }
    }

    /// Whether the file changed since it was last loaded.
    fn changed(&self) -> bool {
        self.file.as_ref().is_some_and(|f| mtime(f) != self.seen.get())
    }
}

fn mtime(f: &PathBuf) -> Option<SystemTime> {
    std::fs::metadata(f).and_then(|m| m.modified()).ok()
}

/// Compiles policies into the kernel's maps for one enforcement path.
pub struct Enforcer {
    path: u8,
    source: PolicySource,
    /// The policy's own cgroup modes, as last compiled.
    policy_cgroups: RefCell<HashMap<u64, u8>>,
    /// Cgroup modes from Kubernetes labels (`run --kube-node`); the policy's win.
    label_cgroups: RefCell<HashMap<u64, u8>>,
    /// The policy in force, for the hold resolver.
    current: crate::hold::CurrentPolicy,
}

impl Enforcer {
    pub fn new(path: u8, source: PolicySource) -> Self {
        Self {
            path,
            source,
            policy_cgroups: RefCell::default(),
            label_cgroups: RefCell::default(),
            current: Arc::new(RwLock::new(Arc::new(guard_policy::builtin()))),
        }
    }

    /// The policy in force (swapped on every successful reload).
    pub fn current(&self) -> crate::hold::CurrentPolicy {
        self.current.clone()
    }

    /// Sets the cgroup modes the Kubernetes labels ask for and writes the merged
    /// `MODES_CGROUP` table (the policy's own cgroup modes win for the same cgroup).
    pub fn set_label_cgroup_modes(&self, maps: &mut Maps, modes: HashMap<u64, u8>) {
        *self.label_cgroups.borrow_mut() = modes;
        let merged = super::kube::merge(&self.label_cgroups.borrow(), &self.policy_cgroups.borrow());
        match apply_cgroup_modes(maps, &merged) {
            Ok(()) => tracing::info!(labelled = self.label_cgroups.borrow().len(), total = merged.len(), "kubernetes: cgroup modes in force"),
            Err(err) => tracing::error!(error = %format!("{err:#}"), "kubernetes: cgroup modes not applied"),
        }
    }

    /// Compiles `policy` and writes it to the maps. Returns the rule names.
    pub fn install(&self, maps: &mut Maps, policy: &Policy) -> anyhow::Result<RuleNames> {
        let names = Arc::new(RwLock::new(Vec::new()));
        self.install_into(maps, policy, &names)?;
        Ok(names)
    }

    fn install_into(&self, maps: &mut Maps, policy: &Policy, names: &RuleNames) -> anyhow::Result<()> {
        let (facts, notes) = facts(policy, &cgroup2_root());
        for note in notes {
            tracing::warn!(%note, "policy");
        }
        let mut compiled = compile(&facts, self.path, std::process::id())?;
        let policy_cgroups = compiled.cgroup_modes.clone();
        compiled.cgroup_modes = super::kube::merge(&self.label_cgroups.borrow(), &policy_cgroups);
        apply(maps, &compiled)?;
        *self.policy_cgroups.borrow_mut() = policy_cgroups;
        if let Ok(mut n) = names.write() {
            n.clone_from(&compiled.rule_names);
        }
        if let Ok(mut c) = self.current.write() {
            *c = Arc::new(policy.clone());
        }
        tracing::info!(policy = policy.name(), version = %policy.version_hash(), "policy in force");
        crate::metrics::global().set_policy(policy.name(), &policy.version_hash());
        Ok(())
    }

    /// Reloads when asked (`forced`, SIGHUP) or when the file changed. A policy that
    /// does not validate is refused and the one in force stays.
    pub fn reload(&self, maps: &mut Maps, names: &RuleNames, forced: bool) {
        if !forced && !self.source.changed() {
            return;
        }
        match self.source.load() {
            Ok(policy) => {
                if let Err(err) = self.install_into(maps, &policy, names) {
                    tracing::error!(error = %format!("{err:#}"), "policy not applied; the previous one stays in force");
                }
            }
            Err(err) => tracing::error!(error = %format!("{err:#}"), "policy refused; the previous one stays in force"),
        }
    }
}
