//! Second stage: [`RawPolicy`] to a validated [`Policy`]. Every value is checked; every
//! problem is collected with its field path and the line and column the [`Locator`] finds
//! for it, so one run reports them all. Lists left out take the defaults given (the
//! built-in policy's); every intent class left out gets `deny`.

use std::collections::BTreeMap;

use guard_classify::{Context, IntentClass};

use crate::error::Problem;
use crate::policy::{Action, FailMode, Hold, Identity, IntentRule, Mode, Policy, Quarantine, Selector};
use crate::raw::{RawHold, RawIdentity, RawIntent, RawPolicy, RawQuarantine, RawSelector};
use crate::tree::Locator;
use crate::validate;

/// Default `hold.deadline_ms`.
pub const DEFAULT_DEADLINE_MS: u64 = 2000;
/// Bounds of `hold.deadline_ms`.
pub const DEADLINE_RANGE_MS: std::ops::RangeInclusive<u64> = 10..=60_000;
/// Default `quarantine.within_s`.
pub const DEFAULT_QUARANTINE_WINDOW_S: u32 = 60;
/// Bounds of `quarantine.within_s` (a day at most).
pub const QUARANTINE_WINDOW_RANGE_S: std::ops::RangeInclusive<u32> = 1..=86_400;
/// Bound of `quarantine.after_denials`.
pub const MAX_QUARANTINE_DENIALS: u32 = 1000;

/// Problems found so far, located through the tree.
struct Report<'a> {
    loc: &'a Locator,
    problems: Vec<Problem>,
}

impl Report<'_> {
    /// A problem with the value at `path`.
    fn value(&mut self, path: &str, msg: impl Into<String>) {
        self.problems.push(Problem::new(self.loc.value(path), path, msg));
    }

    /// A problem with the key naming `path`.
    fn key(&mut self, path: &str, msg: impl Into<String>) {
        self.problems.push(Problem::new(self.loc.key(path), path, msg));
    }

    /// The checked value, or `None` with the problem recorded at `path`.
    fn check<T>(&mut self, path: &str, r: Result<T, String>) -> Option<T> {
        r.map_err(|m| self.value(path, m)).ok()
    }

    /// A required field: `None` with a problem at the parent when absent.
    fn required<'v>(&mut self, parent: &str, field: &str, v: Option<&'v String>) -> Option<&'v String> {
        if v.is_none() {
            let msg = format!("missing field {field:?}");
            self.problems.push(Problem::new(self.loc.value(parent), crate::tree::join(parent, field), msg));
        }
        v
    }
}

/// Validates `raw`; lists it leaves out take their values from `defaults`.
pub(crate) fn compile(raw: &RawPolicy, loc: &Locator, defaults: &Context) -> Result<Policy, Vec<Problem>> {
    let mut r = Report { loc, problems: Vec::new() };
    let version = version(&mut r, raw.version);
    let name = r.required("", "name", raw.name.as_ref()).and_then(|n| r.check("name", validate::name(n)));
    let default_mode = raw.default_mode.as_ref().map_or(Some(Mode::Enforce), |m| r.check("default_mode", validate::mode(m)));
    let default_fail = match &raw.default_fail {
        Some(f) => r.check("default_fail", validate::fail(f)),
        None => default_mode.map(FailMode::default_for),
    };
    let identities = identities(&mut r, &raw.identities);
    let context = context(&mut r, raw, defaults);
    let intents = intents(&mut r, &raw.intents);
    let hold = hold(&mut r, raw.hold.as_ref());
    let quarantine = quarantine(&mut r, raw.quarantine.as_ref());
    match (name, default_mode, default_fail) {
        (Some(name), Some(default_mode), Some(default_fail)) if r.problems.is_empty() => {
            Ok(Policy { version, name, default_mode, default_fail, identities, context, intents, hold, quarantine })
        }
        _ => Err(r.problems),
    }
}

fn version(r: &mut Report<'_>, v: Option<u32>) -> u32 {
    match v {
        Some(1) => {}
        Some(n) => r.value("version", format!("unsupported version {n} (expected 1)")),
        None => r.value("version", "missing field \"version\" (expected version: 1)"),
    }
    1
}

fn identities(r: &mut Report<'_>, raw: &[RawIdentity]) -> Vec<Identity> {
    let mut out: Vec<Identity> = Vec::new();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (i, ri) in raw.iter().enumerate() {
        let path = format!("identities[{i}]");
        if let Some(n) = &ri.name
            && let Some((_, first)) = seen.iter().find(|(s, _)| s == n)
        {
            let line = r.loc.value(&format!("identities[{first}].name")).line;
            r.value(&format!("{path}.name"), format!("duplicate identity name {n:?} (first defined at line {line})"));
        }
        if let Some(n) = &ri.name {
            seen.push((n.clone(), i));
        }
        if let Some(id) = identity(r, &path, ri) {
            out.push(id);
        }
    }
    out
}

fn identity(r: &mut Report<'_>, path: &str, ri: &RawIdentity) -> Option<Identity> {
    let name = r.required(path, "name", ri.name.as_ref()).and_then(|n| r.check(&format!("{path}.name"), validate::name(n)));
    let mode = r.required(path, "mode", ri.mode.as_ref()).and_then(|m| r.check(&format!("{path}.mode"), validate::mode(m)));
    let fail = match &ri.fail {
        Some(f) => r.check(&format!("{path}.fail"), validate::fail(f)),
        None => mode.map(FailMode::default_for),
    };
    let selector = match &ri.selector {
        Some(s) => selector(r, &format!("{path}.match"), s),
        None => {
            r.value(&format!("{path}.match"), "missing field \"match\" (an identity needs at least one selector)");
            None
        }
    };
    Some(Identity { name: name?, mode: mode?, fail: fail?, selector: selector? })
}

fn selector(r: &mut Report<'_>, path: &str, rs: &RawSelector) -> Option<Selector> {
    let given = [
        rs.users.is_some(),
        rs.uids.is_some(),
        rs.groups.is_some(),
        rs.gids.is_some(),
        rs.systemd_units.is_some(),
        rs.cgroup_paths.is_some(),
        rs.non_interactive.is_some(),
    ];
    if !given.contains(&true) {
        r.value(path, "empty match: give at least one of users, uids, groups, gids, systemd_units, cgroup_paths, non_interactive");
        return None;
    }
    let before = r.problems.len();
    let users = id_list(r, &format!("{path}.users"), rs.users.as_deref(), |s| validate::account(s));
    let uids = id_list(r, &format!("{path}.uids"), rs.uids.as_deref(), |u| Ok(*u));
    let groups = id_list(r, &format!("{path}.groups"), rs.groups.as_deref(), |s| validate::account(s));
    let gids = id_list(r, &format!("{path}.gids"), rs.gids.as_deref(), |g| Ok(*g));
    let systemd_units = id_list(r, &format!("{path}.systemd_units"), rs.systemd_units.as_deref(), |s| validate::unit(s));
    let cgroup_paths = id_list(r, &format!("{path}.cgroup_paths"), rs.cgroup_paths.as_deref(), |s| validate::cgroup(s));
    let user_ids = users.iter().filter_map(|u| u.parse().ok()).collect();
    let group_ids = groups.iter().filter_map(|g| g.parse().ok()).collect();
    let s = Selector { users, uids, groups, gids, systemd_units, cgroup_paths, non_interactive: rs.non_interactive, user_ids, group_ids };
    (r.problems.len() == before).then_some(s)
}

/// A selector list: given means non-empty; entries checked, duplicates dropped, order kept.
fn id_list<T, U: PartialEq>(
    r: &mut Report<'_>,
    path: &str,
    items: Option<&[T]>,
    check: impl Fn(&T) -> Result<U, String>,
) -> Vec<U> {
    let Some(items) = items else { return Vec::new() };
    if items.is_empty() {
        r.value(path, "empty list matches nobody (leave the selector out instead)");
    }
    let mut out: Vec<U> = Vec::new();
    for (i, it) in items.iter().enumerate() {
        if let Some(v) = r.check(&format!("{path}[{i}]"), check(it))
            && !out.contains(&v)
        {
            out.push(v);
        }
    }
    out
}

/// A context list: checked, normalised, sorted and deduplicated (order carries no meaning).
fn list(r: &mut Report<'_>, path: &str, items: Option<&Vec<String>>, default: &[String], check: fn(&str) -> Result<String, String>) -> Vec<String> {
    let Some(items) = items else { return default.to_vec() };
    let mut out: Vec<String> = items.iter().enumerate().filter_map(|(i, s)| r.check(&format!("{path}[{i}]"), check(s))).collect();
    out.sort();
    out.dedup();
    out
}

fn context(r: &mut Report<'_>, raw: &RawPolicy, d: &Context) -> Context {
    // Field by field on a fresh context (it keeps a private cache of compiled patterns).
    let mut c = Context::empty();
    c.protected_paths = list(r, "protected_paths", raw.protected_paths.as_ref(), &d.protected_paths, validate::path);
    c.data_dirs = list(r, "data_dirs", raw.data_dirs.as_ref(), &d.data_dirs, validate::path);
    c.sensitive_files = list(r, "sensitive_files", raw.sensitive_files.as_ref(), &d.sensitive_files, validate::file_pattern);
    c.log_paths = list(r, "log_paths", raw.log_paths.as_ref(), &d.log_paths, validate::path);
    c.trusted_destinations = list(r, "trusted_destinations", raw.trusted_destinations.as_ref(), &d.trusted_destinations, validate::destination);
    c.exfil_destinations = list(r, "exfil_destinations", raw.exfil_destinations.as_ref(), &d.exfil_destinations, validate::destination);
    c.critical_services = list(r, "critical_services", raw.critical_services.as_ref(), &d.critical_services, validate::service);
    c
}

fn intents(r: &mut Report<'_>, raw: &BTreeMap<String, RawIntent>) -> BTreeMap<IntentClass, IntentRule> {
    let mut out: BTreeMap<IntentClass, IntentRule> =
        IntentClass::ALL.iter().map(|c| (*c, IntentRule { action: Action::Deny, except: Vec::new() })).collect();
    for (key, ri) in raw {
        let path = format!("intents.{key}");
        let class = validate::intent_class(key).map_err(|m| r.key(&path, m)).ok();
        let action = ri.action.as_ref().map_or(Some(Action::Deny), |a| r.check(&format!("{path}.action"), validate::action(a)));
        let except = exceptions(r, &format!("{path}.except"), ri.except.as_deref());
        if let (Some(class), Some(action)) = (class, action) {
            out.insert(class, IntentRule { action, except });
        }
    }
    out
}

fn exceptions(r: &mut Report<'_>, path: &str, items: Option<&[String]>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, p) in items.unwrap_or_default().iter().enumerate() {
        if let Some(p) = r.check(&format!("{path}[{i}]"), crate::pattern::check_text_glob(p))
            && !out.contains(&p)
        {
            out.push(p);
        }
    }
    out
}

fn hold(r: &mut Report<'_>, raw: Option<&RawHold>) -> Hold {
    let deadline_ms = raw.and_then(|h| h.deadline_ms).unwrap_or(DEFAULT_DEADLINE_MS);
    if !DEADLINE_RANGE_MS.contains(&deadline_ms) {
        let (lo, hi) = (DEADLINE_RANGE_MS.start(), DEADLINE_RANGE_MS.end());
        r.value("hold.deadline_ms", format!("deadline {deadline_ms} ms out of range ({lo} to {hi})"));
    }
    Hold { deadline_ms }
}

/// Left out: quarantine after tampering only.
fn quarantine(r: &mut Report<'_>, raw: Option<&RawQuarantine>) -> Quarantine {
    let on_tampering = raw.and_then(|q| q.on_tampering).unwrap_or(true);
    let after_denials = raw.and_then(|q| q.after_denials).unwrap_or(0);
    let within_s = raw.and_then(|q| q.within_s).unwrap_or(DEFAULT_QUARANTINE_WINDOW_S);
    if after_denials > MAX_QUARANTINE_DENIALS {
        r.value("quarantine.after_denials", format!("{after_denials} denials out of range (0 to {MAX_QUARANTINE_DENIALS}; 0 = never)"));
    }
    if !QUARANTINE_WINDOW_RANGE_S.contains(&within_s) {
        let (lo, hi) = (QUARANTINE_WINDOW_RANGE_S.start(), QUARANTINE_WINDOW_RANGE_S.end());
        r.value("quarantine.within_s", format!("window {within_s} s out of range ({lo} to {hi})"));
    }
    Quarantine { on_tampering, after_denials, within_s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::parse;

    fn run(text: &str) -> Result<Policy, Vec<(u32, u32, String, String)>> {
        let node = parse(text).unwrap();
        let (raw, e) = crate::de::from_node::<RawPolicy>(&node);
        assert!(e.is_empty(), "{e:?}");
        let raw = raw.unwrap();
        compile(&raw, &Locator::new(&node), &Context::builtin())
            .map_err(|ps| ps.into_iter().map(|p| (p.loc.line, p.loc.column, p.path, p.message)).collect())
    }

    #[test]
    fn minimal_policy_gets_defaults() {
        let p = run("version: 1\nname: tiny\n").unwrap();
        assert_eq!((p.default_mode, p.default_fail), (Mode::Enforce, FailMode::Open));
        assert!(p.identities.is_empty());
        assert_eq!(p.intents.len(), 8);
        assert!(p.intents.values().all(|r| r.action == Action::Deny && r.except.is_empty()));
        assert_eq!(p.hold.deadline_ms, DEFAULT_DEADLINE_MS);
        assert_eq!(p.context.data_dirs, Context::builtin().data_dirs);
    }

    #[test]
    fn identity_fields_and_fail_defaults() {
        let p = run("version: 1\nname: x\nidentities:\n  - name: ci\n    mode: strict\n    match: {users: [deploy, '1001'], groups: [ci], non_interactive: true}\n  - {name: ops, mode: audit, fail: closed, match: {systemd_units: [backup]}}\n").unwrap();
        let ci = &p.identities[0];
        assert_eq!((ci.mode, ci.fail), (Mode::Strict, FailMode::Closed));
        assert_eq!(ci.selector.user_ids, vec![1001]);
        assert_eq!(p.identities[1].fail, FailMode::Closed);
        assert_eq!(p.identities[1].selector.systemd_units, vec!["backup.service"]);
    }

    #[test]
    fn quarantine_defaults_and_bounds() {
        let p = run("version: 1\nname: x\n").unwrap();
        assert_eq!(p.quarantine, Quarantine { on_tampering: true, after_denials: 0, within_s: DEFAULT_QUARANTINE_WINDOW_S });
        let p = run("version: 1\nname: x\nquarantine: {on_tampering: false, after_denials: 3, within_s: 300}\n").unwrap();
        assert_eq!(p.quarantine, Quarantine { on_tampering: false, after_denials: 3, within_s: 300 });
        let got = run("version: 1\nname: x\nquarantine:\n  after_denials: 5000\n  within_s: 0\n").unwrap_err();
        let paths: Vec<&str> = got.iter().map(|p| p.2.as_str()).collect();
        assert_eq!(paths, ["quarantine.after_denials", "quarantine.within_s"]);
        assert_eq!((got[0].0, got[1].0), (4, 5), "each problem on its own line: {got:?}");
    }

    #[test]
    fn lists_are_normalised_sorted_deduplicated() {
        let p = run("version: 1\nname: x\nprotected_paths: [/srv/app/, //etc, /srv/app]\nsensitive_files: []\n").unwrap();
        assert_eq!(p.context.protected_paths, vec!["/etc", "/srv/app"]);
        assert!(p.context.sensitive_files.is_empty());
    }

    #[test]
    fn all_problems_at_once() {
        let text = "version: 2\nidentities:\n  - name: a\n    mode: enforcing\n    match: {}\n  - name: a\n    mode: audit\n    match: {users: []}\n\
                    data_dirs: [var/lib]\nintents:\n  bulk_delte: {action: deny}\n  disk_wipe: {action: block, except: ['[x']}\nhold: {deadline_ms: 0}\n";
        let got = run(text).unwrap_err();
        let paths: Vec<&str> = got.iter().map(|p| p.2.as_str()).collect();
        assert_eq!(
            paths,
            [
                "version", "name", "identities[0].mode", "identities[0].match", "identities[1].name",
                "identities[1].match.users", "data_dirs[0]", "intents.bulk_delte", "intents.disk_wipe.action",
                "intents.disk_wipe.except[0]", "hold.deadline_ms"
            ]
        );
        assert_eq!(got[0].0, 1);
        assert_eq!(got[4].3, "duplicate identity name \"a\" (first defined at line 3)");
        assert_eq!((got[7].0, got[7].1), (11, 3));
    }
}
