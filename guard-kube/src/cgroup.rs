//! From a container id to its cgroup id: the inode number of the container's cgroup v2
//! directory, which is what `bpf_get_current_cgroup_id` reports for its processes.
//!
//! Where the directory is depends on the kubelet's cgroup driver and the runtime:
//!
//! | driver | directory |
//! |---|---|
//! | systemd, containerd | `kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid>.slice/cri-containerd-<id>.scope` |
//! | systemd, CRI-O | `.../kubepods-<qos>-pod<uid>.slice/crio-<id>.scope` |
//! | systemd, Docker (cri-dockerd) | `.../kubepods-<qos>-pod<uid>.slice/docker-<id>.scope` |
//! | cgroupfs | `kubepods/<qos>/pod<uid>/<id>` (guaranteed pods: `kubepods/pod<uid>/<id>`) |
//!
//! and the whole tree may sit deeper (kind and other nested set-ups put it under
//! `kubelet.slice/kubelet-kubepods.slice` or a node container's own cgroup). So the
//! search does not build paths: it walks the first two levels under the cgroup2 root
//! and everything below a directory whose name contains `kubepods`, and matches each
//! directory name, stripped of those prefixes and the `.scope` suffix, against the
//! container ids exactly (CRI-O's `crio-conmon-<id>.scope`, the monitor process's
//! cgroup, does not match). Found directories are cached by container id and checked
//! (same inode) on every use.

use std::{
    collections::{HashMap, HashSet},
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

/// How deep the walk goes below the cgroup2 root.
const MAX_DEPTH: usize = 10;

/// The container id a cgroup directory name stands for, if it looks like one.
pub fn id_of_dir_name(name: &str) -> &str {
    let name = name.strip_suffix(".scope").unwrap_or(name);
    for prefix in ["cri-containerd-", "crio-", "docker-"] {
        if let Some(id) = name.strip_prefix(prefix) {
            return id;
        }
    }
    name
}

/// Finds and caches container cgroups under one cgroup2 root.
#[derive(Debug)]
pub struct CgroupFinder {
    root: PathBuf,
    cache: HashMap<String, (PathBuf, u64)>,
    /// Walks done so far (for tests and logs).
    walks: u64,
}

impl CgroupFinder {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into(), cache: HashMap::new(), walks: 0 }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How many times the tree was walked.
    pub fn walks(&self) -> u64 {
        self.walks
    }

    /// The cgroup ids of those of `ids` whose directory exists now. Cached directories
    /// are checked with one `stat` each; the rest are searched with one walk. Ids not
    /// asked for are dropped from the cache.
    pub fn resolve<'a>(&mut self, ids: impl IntoIterator<Item = &'a str>) -> HashMap<String, u64> {
        let wanted: HashSet<&str> = ids.into_iter().collect();
        self.cache.retain(|id, _| wanted.contains(id.as_str()));
        let mut out = HashMap::new();
        let mut missing = HashSet::new();
        for id in &wanted {
            match self.cache.get(*id) {
                Some((path, ino)) if inode(path) == Some(*ino) => {
                    out.insert((*id).to_owned(), *ino);
                }
                _ => {
                    self.cache.remove(*id);
                    missing.insert(*id);
                }
            }
        }
        if !missing.is_empty() {
            self.walks += 1;
            let mut found = HashMap::new();
            walk(&self.root, 0, false, &missing, &mut found);
            for (id, (path, ino)) in found {
                out.insert(id.clone(), ino);
                self.cache.insert(id, (path, ino));
            }
        }
        out
    }
}

fn inode(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().filter(|m| m.is_dir()).map(|m| m.ino())
}

fn walk(dir: &Path, depth: usize, in_kubepods: bool, wanted: &HashSet<&str>, found: &mut HashMap<String, (PathBuf, u64)>) {
    if depth >= MAX_DEPTH || found.len() == wanted.len() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        // cgroupfs: directories only (file_type does not follow symlinks).
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let path = entry.path();
        let id = id_of_dir_name(name);
        if wanted.contains(id) && !found.contains_key(id) {
            if let Ok(m) = entry.metadata() {
                found.insert(id.to_owned(), (path, m.ino()));
            }
            // A container's own cgroup holds no other container.
            continue;
        }
        let kubepods = in_kubepods || name.contains("kubepods");
        if kubepods || depth < 2 {
            walk(&path, depth + 1, kubepods, wanted, found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0aa1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f";
    const B: &str = "1bb1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f";
    const C: &str = "2cc1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f";
    const D: &str = "3dd1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f";

    fn mk(root: &Path, rel: &str) -> u64 {
        let p = root.join(rel);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::metadata(&p).unwrap().ino()
    }

    #[test]
    fn dir_names() {
        assert_eq!(id_of_dir_name(&format!("cri-containerd-{A}.scope")), A);
        assert_eq!(id_of_dir_name(&format!("crio-{A}.scope")), A);
        assert_eq!(id_of_dir_name(&format!("docker-{A}.scope")), A);
        assert_eq!(id_of_dir_name(A), A);
        assert_ne!(id_of_dir_name(&format!("crio-conmon-{A}.scope")), A);
    }

    #[test]
    fn finds_every_layout_and_caches() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let uid = "kubepods-burstable-pod1f2e3d4c_5b6a_7980_a1b2_c3d4e5f60718.slice";
        let a = mk(r, &format!("kubepods.slice/kubepods-burstable.slice/{uid}/cri-containerd-{A}.scope"));
        let b = mk(r, &format!("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podx.slice/crio-{B}.scope"));
        mk(r, &format!("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podx.slice/crio-conmon-{B}.scope"));
        let c = mk(r, &format!("kubepods/burstable/pod1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718/{C}"));
        let d = mk(r, &format!("kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod9.slice/docker-{D}.scope"));
        // Not under kubepods and deeper than two levels: not searched.
        mk(r, "system.slice/containerd.service/deep/elsewhere");
        let mut f = CgroupFinder::new(r);
        let got = f.resolve([A, B, C, D]);
        assert_eq!(got, HashMap::from([(A.into(), a), (B.into(), b), (C.into(), c), (D.into(), d)]));
        assert_eq!(f.walks(), 1);
        // Cached: no second walk.
        assert_eq!(f.resolve([A, B]).len(), 2);
        assert_eq!(f.walks(), 1);
    }

    #[test]
    fn a_missing_cgroup_is_found_once_it_appears_and_a_recreated_one_gets_its_new_inode() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let mut f = CgroupFinder::new(r);
        assert!(f.resolve([A]).is_empty());
        let rel = format!("kubepods.slice/kubepods-pod1.slice/cri-containerd-{A}.scope");
        let first = mk(r, &rel);
        assert_eq!(f.resolve([A]), HashMap::from([(A.into(), first)]));
        std::fs::remove_dir(r.join(&rel)).unwrap();
        assert!(f.resolve([A]).is_empty(), "gone");
        // A placeholder keeps the old inode number from being reused at once.
        let _hold = mk(r, "placeholder");
        let second = mk(r, &rel);
        assert_eq!(f.resolve([A]), HashMap::from([(A.into(), second)]));
    }

    /// On the real cgroup2 hierarchy (root only): a directory named like a container
    /// scope is found and its id is its inode number, the id the kernel reports.
    #[test]
    fn real_cgroup2_hierarchy() {
        // SAFETY: plain syscall.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: not root");
            return;
        }
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let Some(root) = mounts.lines().map(|l| l.split(' ').collect::<Vec<_>>()).find(|f| f.get(2) == Some(&"cgroup2")).map(|f| PathBuf::from(f[1])) else {
            eprintln!("skipped: no cgroup2 hierarchy");
            return;
        };
        let id = format!("{:064x}", u128::from(std::process::id()) << 64 | 0x6775617264);
        let slice = root.join(format!("kubepods-guardtest{}.slice", std::process::id()));
        let scope = slice.join(format!("cri-containerd-{id}.scope"));
        std::fs::create_dir_all(&scope).unwrap();
        let want = std::fs::metadata(&scope).unwrap().ino();
        // The kernel made it a cgroup (cgroup.procs appears by itself).
        let is_cgroup = scope.join("cgroup.procs").exists();
        let got = CgroupFinder::new(&root).resolve([id.as_str()]);
        std::fs::remove_dir(&scope).unwrap();
        std::fs::remove_dir(&slice).unwrap();
        assert!(is_cgroup);
        assert_eq!(got.get(&id), Some(&want));
    }
}
