//! Pure decisions from a compiled policy: which identity (and so which mode) a process
//! has, what an intent class does in that mode, and whether an exception lets it through.

use guard_classify::path::{glob_match, is_ancestor_or_self};
use guard_classify::{Intent, IntentClass};

use crate::policy::{Action, FailMode, Identity, Mode, Policy, Selector};

/// What is known about the process an exec comes from. The caller collects it (from the
/// kernel event, `/proc/PID/cgroup`, the session); matching itself does no I/O.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Subject<'a> {
    /// Real uid.
    pub uid: u32,
    /// Primary and supplementary gids.
    pub gids: &'a [u32],
    /// cgroup v2 path as in `/proc/PID/cgroup` (`/system.slice/x.service`); a path under
    /// `/sys/fs/cgroup` is accepted too.
    pub cgroup: Option<&'a str>,
    /// The systemd unit the process runs in (`deploy.service`), if any.
    pub systemd_unit: Option<&'a str>,
    /// It has a controlling terminal.
    pub has_tty: bool,
    /// It belongs to a login session (logind session or audit session id set).
    pub has_login_session: bool,
}

impl Subject<'_> {
    /// No controlling TTY and no login session.
    #[must_use]
    pub fn non_interactive(&self) -> bool {
        !self.has_tty && !self.has_login_session
    }
}

impl Selector {
    /// The uids `users` stands for: numeric entries, plus names once
    /// [`Policy::resolve_names`] ran.
    #[must_use]
    pub fn user_ids(&self) -> &[u32] {
        &self.user_ids
    }

    /// The gids `groups` stands for: numeric entries, plus names once resolved.
    #[must_use]
    pub fn group_ids(&self) -> &[u32] {
        &self.group_ids
    }

    /// Whether every condition holds for `s`.
    #[must_use]
    pub fn matches(&self, s: &Subject<'_>) -> bool {
        let ids = |list: &[u32], wanted: &[u32]| wanted.iter().any(|w| list.contains(w));
        (self.users.is_empty() || self.user_ids.contains(&s.uid))
            && (self.uids.is_empty() || self.uids.contains(&s.uid))
            && (self.groups.is_empty() || ids(s.gids, &self.group_ids))
            && (self.gids.is_empty() || ids(s.gids, &self.gids))
            && (self.systemd_units.is_empty() || s.systemd_unit.is_some_and(|u| self.unit_matches(u)))
            && (self.cgroup_paths.is_empty() || s.cgroup.is_some_and(|c| self.cgroup_matches(c)))
            && self.non_interactive.is_none_or(|want| s.non_interactive() == want)
    }

    fn unit_matches(&self, unit: &str) -> bool {
        self.systemd_units.iter().any(|p| glob_match(p, unit))
    }

    fn cgroup_matches(&self, cgroup: &str) -> bool {
        let c = cgroup_relative(cgroup);
        self.cgroup_paths.iter().any(|p| {
            if guard_classify::path::has_glob(p) {
                ancestors(&c).any(|a| glob_match(p, a))
            } else {
                is_ancestor_or_self(p, &c)
            }
        })
    }
}

/// A cgroup path relative to the cgroup2 root, starting with `/`, normalised.
pub(crate) fn cgroup_relative(p: &str) -> String {
    let n = guard_classify::path::normalize(p, Some("/"));
    match n.strip_prefix("/sys/fs/cgroup") {
        Some("") => "/".to_owned(),
        Some(rest) if rest.starts_with('/') => rest.to_owned(),
        _ => n,
    }
}

/// `/a/b/c`, `/a/b`, `/a`, `/`.
fn ancestors(p: &str) -> impl Iterator<Item = &str> {
    let mut cur = Some(p);
    std::iter::from_fn(move || {
        let out = cur?;
        cur = match out.rfind('/') {
            Some(0) if out != "/" => Some("/"),
            Some(i) if i > 0 => Some(&out[..i]),
            _ => None,
        };
        Some(out)
    })
}

impl Policy {
    /// The first identity whose selector holds for `s`, in file order.
    #[must_use]
    pub fn identity_for(&self, s: &Subject<'_>) -> Option<&Identity> {
        self.identities.iter().find(|i| i.selector.matches(s))
    }

    /// The mode for `s` and the name of the identity that gave it (`None`: `default_mode`).
    #[must_use]
    pub fn mode_for(&self, s: &Subject<'_>) -> (Mode, Option<&str>) {
        match self.identity_for(s) {
            Some(i) => (i.mode, Some(&i.name)),
            None => (self.default_mode, None),
        }
    }

    /// What a held command of `s` gets when the agent misses the deadline.
    #[must_use]
    pub fn fail_for(&self, s: &Subject<'_>) -> FailMode {
        self.identity_for(s).map_or(self.default_fail, |i| i.fail)
    }

    /// The action that applies to `class` in `mode`: `audit` mode audits everything,
    /// `enforce` turns `hold` into `deny` (it has no hold path), `strict` takes the rule as
    /// written.
    #[must_use]
    pub fn action_for(&self, mode: Mode, class: IntentClass) -> Action {
        match (mode, self.rule(class).action) {
            (Mode::Audit, _) => Action::Audit,
            (Mode::Enforce, Action::Hold) => Action::Deny,
            (_, a) => a,
        }
    }

    /// The exception pattern of `intent`'s class that matches it, if any: tried against
    /// each of [`exception_subjects`].
    #[must_use]
    pub fn exception_for(&self, intent: &Intent) -> Option<&str> {
        let rule = self.rule(intent.class);
        exception_subjects(intent).into_iter().find_map(|s| rule.exception(s))
    }
}

/// The texts an exception is matched against for one classifier intent: the intent's
/// evidence (the destructive command's words, `rm -rf /srv/tmp/x`) and, for SQL, the single
/// statement the classifier appends after `': ` (`DROP TABLE tmp_x`). The statement is
/// taken only when it contains none of `' " ` $ [ ] \ ;`, so a literal or quoted identifier
/// that itself holds `': ` cannot forge one. A truncated evidence (ending in `…`) is never a
/// subject: what was cut off might not match.
#[must_use]
pub fn exception_subjects(intent: &Intent) -> Vec<&str> {
    let ev = intent.evidence.as_str();
    if ev.ends_with('…') {
        return Vec::new();
    }
    let mut out = vec![ev];
    if let Some((_, stmt)) = ev.rsplit_once("': ")
        && !stmt.contains(['\'', '"', '`', '$', '[', ']', '\\', ';'])
    {
        out.push(stmt);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel() -> Selector {
        Selector::default()
    }

    #[test]
    fn selectors_are_anded_entries_ored() {
        let s = Selector { uids: vec![1001, 1002], gids: vec![50], ..sel() };
        let me = Subject { uid: 1002, gids: &[10, 50], ..Subject::default() };
        assert!(s.matches(&me));
        assert!(!s.matches(&Subject { gids: &[10], ..me }));
        assert!(!s.matches(&Subject { uid: 7, ..me }));
    }

    #[test]
    fn names_count_only_once_resolved() {
        let mut s = Selector { users: vec!["deploy".into()], ..sel() };
        let me = Subject { uid: 1001, ..Subject::default() };
        assert!(!s.matches(&me));
        s.user_ids = vec![1001];
        assert!(s.matches(&me));
        assert_eq!(s.user_ids(), [1001]);
        let g = Selector { groups: vec!["ci".into()], group_ids: vec![300], ..sel() };
        assert!(g.matches(&Subject { gids: &[1, 300], ..me }));
    }

    #[test]
    fn units_cgroups_and_interactivity() {
        let s = Selector { systemd_units: vec!["deploy@*.service".into()], ..sel() };
        assert!(s.matches(&Subject { systemd_unit: Some("deploy@blue.service"), ..Subject::default() }));
        assert!(!s.matches(&Subject::default()));
        let c = Selector { cgroup_paths: vec!["/ci.slice".into()], ..sel() };
        assert!(c.matches(&Subject { cgroup: Some("/ci.slice/job-1.scope"), ..Subject::default() }));
        assert!(c.matches(&Subject { cgroup: Some("/sys/fs/cgroup/ci.slice"), ..Subject::default() }));
        assert!(!c.matches(&Subject { cgroup: Some("/ci.slice2"), ..Subject::default() }));
        let g = Selector { cgroup_paths: vec!["/kubepods.slice/*/ci-*".into()], ..sel() };
        assert!(g.matches(&Subject { cgroup: Some("/kubepods.slice/pod1/ci-7/x"), ..Subject::default() }));
        let n = Selector { non_interactive: Some(true), ..sel() };
        assert!(n.matches(&Subject::default()));
        assert!(!n.matches(&Subject { has_tty: true, ..Subject::default() }));
        assert!(!n.matches(&Subject { has_login_session: true, ..Subject::default() }));
        let i = Selector { non_interactive: Some(false), ..sel() };
        assert!(i.matches(&Subject { has_login_session: true, ..Subject::default() }));
    }

    #[test]
    fn cgroup_paths_are_root_relative() {
        assert_eq!(cgroup_relative("/sys/fs/cgroup/ci.slice/"), "/ci.slice");
        assert_eq!(cgroup_relative("/sys/fs/cgroup"), "/");
        assert_eq!(cgroup_relative("ci.slice"), "/ci.slice");
        assert_eq!(cgroup_relative("/sys/fs/cgroupx"), "/sys/fs/cgroupx");
        assert_eq!(ancestors("/a/b").collect::<Vec<_>>(), ["/a/b", "/a", "/"]);
        assert_eq!(ancestors("/").collect::<Vec<_>>(), ["/"]);
    }

    #[test]
    fn subjects_of_an_intent() {
        let i = |ev: &str| Intent { class: IntentClass::SchemaDestroy, reason: String::new(), evidence: ev.into() };
        let sql = i("psql -c 'DROP TABLE tmp_x; drop table users;': DROP TABLE tmp_x");
        assert_eq!(exception_subjects(&sql)[1], "DROP TABLE tmp_x");
        let forged = i("psql -c '...': DELETE FROM t WHERE a = 'x'': DROP TABLE tmp_1'");
        assert_eq!(exception_subjects(&forged).len(), 1);
        assert_eq!(exception_subjects(&i("rm -rf /srv/x")), ["rm -rf /srv/x"]);
        assert!(exception_subjects(&i("rm -rf /tmp/aaaa…")).is_empty());
    }
}
