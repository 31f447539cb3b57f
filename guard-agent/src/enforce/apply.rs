//! Writing compiled tables into the kernel's maps.
//!
//! Order matters while enforcement runs: new entries are added first, then the config
//! switches to the new policy version, then stale entries are removed. In between, a
//! lookup may see a mix of old and new entries, never an empty table.

use std::{borrow::BorrowMut, collections::HashMap, hash::Hash};

use aya::{
    Ebpf, Pod,
    maps::{Array, HashMap as BpfHashMap, MapData, MapError},
};
use guard_common::enforce::EnforceConfig;

use super::compile::Compiled;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("map {0} missing from the eBPF object")]
    MissingMap(&'static str),
    #[error("updating map {map}")]
    Map {
        map: &'static str,
        #[source]
        source: MapError,
    },
}

/// Writes every table of `c` into the maps of `ebpf`.
pub fn apply(ebpf: &mut Ebpf, c: &Compiled) -> Result<(), ApplyError> {
    sync(ebpf, "RULES", &c.rules)?;
    sync(ebpf, "KEYWORDS", &c.keywords)?;
    sync(ebpf, "PATHS", &c.paths)?;
    sync(ebpf, "MODES_UID", &c.uid_modes)?;
    sync(ebpf, "MODES_CGROUP", &c.cgroup_modes)?;
    let cfg = c.config.unwrap_or(EnforceConfig::DISABLED);
    let map = ebpf.map_mut("CONFIG").ok_or(ApplyError::MissingMap("CONFIG"))?;
    let mut array: Array<&mut MapData, EnforceConfig> =
        Array::try_from(map).map_err(|source| ApplyError::Map { map: "CONFIG", source })?;
    array.set(0, cfg, 0).map_err(|source| ApplyError::Map { map: "CONFIG", source })
}

/// Makes a kernel hash map hold exactly `want`: insert/update first, then remove.
fn sync<K: Pod + Eq + Hash, V: Pod>(ebpf: &mut Ebpf, name: &'static str, want: &HashMap<K, V>) -> Result<(), ApplyError> {
    let err = |source| ApplyError::Map { map: name, source };
    let map = ebpf.map_mut(name).ok_or(ApplyError::MissingMap(name))?;
    let mut table: BpfHashMap<&mut MapData, K, V> = BpfHashMap::try_from(map).map_err(err)?;
    for (k, v) in want {
        table.insert(k, v, 0).map_err(err)?;
    }
    let stale: Vec<K> = table.keys().filter_map(Result::ok).filter(|k| !want.contains_key(k)).collect();
    for k in stale {
        table.borrow_mut().remove(&k).map_err(err)?;
    }
    Ok(())
}
