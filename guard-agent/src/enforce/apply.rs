//! Writing compiled tables into the kernel's maps.
//!
//! Order matters while enforcement runs: new entries are added first, then the config
//! switches to the new policy version, then stale entries are removed. In between, a
//! lookup may see a mix of old and new entries, never an empty table.

use std::{borrow::BorrowMut, collections::HashMap, hash::Hash};

use aya::{
    Pod,
    maps::{Array, HashMap as BpfHashMap, MapData, MapError},
};
use guard_common::{
    enforce::{EnforceConfig, table_used},
    matcher::RuleFilter,
};

use super::compile::Compiled;
use crate::kernel::Maps;

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
pub fn apply(maps: &mut Maps, c: &Compiled) -> Result<(), ApplyError> {
    // The presence filter covers the old and the new keys while the table changes,
    // and only the new ones after (a key is never in the table with its bit clear).
    let filter = c.rule_filter();
    let mut both = read_filter(maps)?;
    for (w, n) in both.words.iter_mut().zip(filter.words) {
        *w |= n;
    }
    write_filter(maps, &both)?;
    sync(maps, "RULES", &c.rules)?;
    write_filter(maps, &filter)?;
    sync(maps, "KEYWORDS", &c.keywords)?;
    sync(maps, "PATHS", &c.paths)?;
    sync_mode_table(maps, "MODES_UID", table_used::UID, &c.uid_modes)?;
    sync_mode_table(maps, "MODES_CGROUP", table_used::CGROUP, &c.cgroup_modes)?;
    let cfg = c.config.unwrap_or(EnforceConfig::DISABLED);
    let map = maps.get_mut("CONFIG").ok_or(ApplyError::MissingMap("CONFIG"))?;
    let mut array: Array<&mut MapData, EnforceConfig> =
        Array::try_from(map).map_err(|source| ApplyError::Map { map: "CONFIG", source })?;
    array.set(0, cfg, 0).map_err(|source| ApplyError::Map { map: "CONFIG", source })
}

const FILTER: &str = "RULE_FILTER";

fn filter_array(maps: &mut Maps) -> Result<Array<&mut MapData, RuleFilter>, ApplyError> {
    let map = maps.get_mut(FILTER).ok_or(ApplyError::MissingMap(FILTER))?;
    Array::try_from(map).map_err(|source| ApplyError::Map { map: FILTER, source })
}

fn read_filter(maps: &mut Maps) -> Result<RuleFilter, ApplyError> {
    filter_array(maps)?.get(&0, 0).map_err(|source| ApplyError::Map { map: FILTER, source })
}

/// One update of the whole filter. The kernel copies it in place, so a program may read
/// a word half old and half new: harmless, since every write here only adds bits (before
/// the table gains keys) or only removes them (after it lost them).
fn write_filter(maps: &mut Maps, filter: &RuleFilter) -> Result<(), ApplyError> {
    filter_array(maps)?.set(0, *filter, 0).map_err(|source| ApplyError::Map { map: FILTER, source })
}

/// Writes only the cgroup mode table (the Kubernetes watch's modes merged with the
/// policy's, as pods come and go between policy loads).
pub fn apply_cgroup_modes(maps: &mut Maps, modes: &HashMap<u64, u8>) -> Result<(), ApplyError> {
    sync_mode_table(maps, "MODES_CGROUP", table_used::CGROUP, modes)
}

/// Syncs a mode table and its `TABLES_USED` entry, which the programs read to
/// skip an empty table: marked used before the first entry goes in, unmarked only
/// after the last one is gone, so no entry is ever skipped.
fn sync_mode_table<K: Pod + Eq + Hash>(maps: &mut Maps, name: &'static str, table: u32, want: &HashMap<K, u8>) -> Result<(), ApplyError> {
    if !want.is_empty() {
        mark_used(maps, table, true)?;
    }
    sync(maps, name, want)?;
    if want.is_empty() {
        mark_used(maps, table, false)?;
    }
    Ok(())
}

fn mark_used(maps: &mut Maps, table: u32, used: bool) -> Result<(), ApplyError> {
    const NAME: &str = "TABLES_USED";
    let err = |source| ApplyError::Map { map: NAME, source };
    let map = maps.get_mut(NAME).ok_or(ApplyError::MissingMap(NAME))?;
    let mut array: Array<&mut MapData, u32> = Array::try_from(map).map_err(err)?;
    array.set(table, u32::from(used), 0).map_err(err)
}

/// Makes a kernel hash map hold exactly `want`: insert/update first, then remove.
fn sync<K: Pod + Eq + Hash, V: Pod>(maps: &mut Maps, name: &'static str, want: &HashMap<K, V>) -> Result<(), ApplyError> {
    let err = |source| ApplyError::Map { map: name, source };
    let map = maps.get_mut(name).ok_or(ApplyError::MissingMap(name))?;
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
