//! User and group names to ids. The policy names accounts (`users: [deploy]`,
//! `groups: [ci]`); the kernel sees numbers. The caller supplies the lookups (from
//! `/etc/passwd` and `/etc/group`, or NSS), so this stays pure and testable.

use std::collections::HashMap;

use crate::policy::{Policy, Selector};

/// Whether a name is a user's or a group's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    /// From `users`.
    User,
    /// From `groups`.
    Group,
}

/// A name the lookup did not know: the identity can still match through its other
/// selectors' entries, but never through this one. Worth a warning, not a refusal (the
/// built-in policy names a `guard-strict` group most hosts do not have).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolved {
    /// The identity naming it.
    pub identity: String,
    /// User or group.
    pub kind: NameKind,
    /// The name.
    pub name: String,
}

impl Policy {
    /// Resolves every user and group name with `user` and `group` (name to id), replacing
    /// earlier results. Numeric entries need no lookup. Returns the names not found.
    pub fn resolve_names(
        &mut self,
        mut user: impl FnMut(&str) -> Option<u32>,
        mut group: impl FnMut(&str) -> Option<u32>,
    ) -> Vec<Unresolved> {
        let mut missing = Vec::new();
        for id in &mut self.identities {
            let s: &mut Selector = &mut id.selector;
            let (uids, mu) = lookup(&s.users, &mut user);
            let (gids, mg) = lookup(&s.groups, &mut group);
            s.user_ids = uids;
            s.group_ids = gids;
            let named = mu.into_iter().map(|n| (NameKind::User, n)).chain(mg.into_iter().map(|n| (NameKind::Group, n)));
            missing.extend(named.map(|(kind, name)| Unresolved { identity: id.name.clone(), kind, name }));
        }
        missing
    }
}

/// Ids for `names` (numbers taken as they are) and the names not found.
fn lookup(names: &[String], f: &mut impl FnMut(&str) -> Option<u32>) -> (Vec<u32>, Vec<String>) {
    let mut ids = Vec::new();
    let mut missing = Vec::new();
    for n in names {
        match n.parse::<u32>().ok().or_else(|| f(n)) {
            Some(id) if !ids.contains(&id) => ids.push(id),
            Some(_) => {}
            None => missing.push(n.clone()),
        }
    }
    (ids, missing)
}

/// Name to id from the text of `/etc/passwd` or `/etc/group` (`name:x:ID:...` lines;
/// comments, blank and malformed lines skipped; the first entry of a name wins).
#[must_use]
pub fn parse_id_file(text: &str) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let mut f = line.split(':');
        let (Some(name), Some(_), Some(id)) = (f.next(), f.next(), f.next()) else { continue };
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        if let Ok(id) = id.parse::<u32>() {
            out.entry(name.to_owned()).or_insert(id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::Subject;

    const YAML: &str = "version: 1\nname: r\nidentities:\n  - name: ci\n    mode: strict\n    match: {users: [deploy, ghost, '7']}\n  - name: ops\n    mode: audit\n    match: {groups: [wheel, nogroup]}\n";

    #[test]
    fn resolves_with_the_given_lookups() {
        let mut p = crate::load_str(YAML, "r.yaml").unwrap();
        let passwd = parse_id_file("root:x:0:0::/root:/bin/sh\n# c\ndeploy:x:1001:1001::/home/deploy:/bin/sh\nbad line\n");
        let group = parse_id_file("wheel:x:10:alice\n");
        let missing = p.resolve_names(|n| passwd.get(n).copied(), |n| group.get(n).copied());
        let names: Vec<(&str, NameKind, &str)> = missing.iter().map(|u| (u.identity.as_str(), u.kind, u.name.as_str())).collect();
        assert_eq!(names, [("ci", NameKind::User, "ghost"), ("ops", NameKind::Group, "nogroup")]);
        assert_eq!(p.mode_for(&Subject { uid: 1001, ..Subject::default() }).1, Some("ci"));
        assert_eq!(p.mode_for(&Subject { uid: 7, ..Subject::default() }).1, Some("ci"));
        assert_eq!(p.mode_for(&Subject { uid: 5, gids: &[10], ..Subject::default() }).1, Some("ops"));
        assert_eq!(p.mode_for(&Subject { uid: 5, ..Subject::default() }).1, None);
    }

    #[test]
    fn resolution_does_not_change_the_hash() {
        let mut p = crate::load_str(YAML, "r.yaml").unwrap();
        let h = p.version_hash();
        p.resolve_names(|_| Some(1), |_| Some(2));
        assert_eq!(p.version_hash(), h);
    }
}
