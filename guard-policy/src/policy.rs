//! The validated, compiled policy: typed modes, actions and selectors, normalised paths,
//! one rule for each of the eight intent classes. Values of these types come only from
//! [`crate::load_str`], [`crate::load_file`] and [`crate::builtin`], so they always hold
//! what validation checked.

use std::collections::BTreeMap;

use guard_classify::{Context, IntentClass};
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

pub use guard_classify::check::Mode;

/// What happens to a command of an intent class, in a mode that enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Stop it before its first instruction.
    Deny,
    /// Strict identities: park it until the agent's verdict (or the deadline). In enforce
    /// mode there is no hold path and `hold` acts as `deny`.
    Hold,
    /// Let it run and report it.
    Audit,
}

impl Action {
    /// The policy-file spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Deny => "deny",
            Self::Hold => "hold",
            Self::Audit => "audit",
        }
    }
}

/// What a held command gets when the agent misses the deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// It is killed.
    Closed,
    /// It is resumed.
    Open,
}

impl FailMode {
    /// The default for a mode: `closed` for strict, `open` otherwise.
    #[must_use]
    pub const fn default_for(mode: Mode) -> Self {
        match mode {
            Mode::Strict => Self::Closed,
            Mode::Audit | Mode::Enforce => Self::Open,
        }
    }

    /// The policy-file spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
        }
    }
}

/// The policy-file spelling of a mode.
#[must_use]
pub const fn mode_str(mode: Mode) -> &'static str {
    match mode {
        Mode::Audit => "audit",
        Mode::Enforce => "enforce",
        Mode::Strict => "strict",
    }
}

/// One `identities` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Unique within the policy; reported in events.
    pub name: String,
    /// The mode for processes it matches.
    pub mode: Mode,
    /// What a held command gets on a missed deadline.
    pub fail: FailMode,
    /// The conditions, all of which must hold.
    #[serde(rename = "match")]
    pub selector: Selector,
}

/// An identity's conditions. Each non-empty list (and `non_interactive` when set) is one
/// condition, met when any entry matches; all conditions must be met.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Selector {
    /// User names or numeric uids; names count once [`crate::Policy::resolve_names`] ran.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Numeric uids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uids: Vec<u32>,
    /// Group names or numeric gids; names count once resolved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Numeric gids, matched against the primary and supplementary groups.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gids: Vec<u32>,
    /// Unit names or globs, each with its type suffix (`deploy.service`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub systemd_units: Vec<String>,
    /// cgroup v2 paths relative to the cgroup2 root, each starting with `/`; a process
    /// matches when it is in one of them or below.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cgroup_paths: Vec<String>,
    /// `true`: no controlling TTY and no login session; `false`: a TTY or a session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub non_interactive: Option<bool>,
    /// uids of `users` (numeric entries at once, names after resolution).
    #[serde(skip)]
    pub(crate) user_ids: Vec<u32>,
    /// gids of `groups` (numeric entries at once, names after resolution).
    #[serde(skip)]
    pub(crate) group_ids: Vec<u32>,
}

/// What to do with one intent class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IntentRule {
    /// The action when no exception matches.
    pub action: Action,
    /// Exception patterns (see [`crate::pattern`]), normalised, in file order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

impl IntentRule {
    /// The first exception pattern matching `subject`, if any.
    #[must_use]
    pub fn exception(&self, subject: &str) -> Option<&str> {
        let subject = crate::pattern::normalize_text(subject);
        self.except.iter().map(String::as_str).find(|p| crate::pattern::text_match(p, &subject))
    }
}

/// Hold settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hold {
    /// How long a held command waits for the agent's verdict, in milliseconds.
    pub deadline_ms: u64,
}

/// When the agent quarantines a process tree by itself (`quarantine` block).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Quarantine {
    /// The tree that launched an exec whose argv was rewritten during it (enforce and
    /// strict identities).
    pub on_tampering: bool,
    /// The tree that launched this many denied commands of strict identities within
    /// `within_s`; 0: never.
    pub after_denials: u32,
    /// The window of `after_denials`, in seconds.
    pub within_s: u32,
}

/// A validated policy. Build one with [`crate::load_str`], [`crate::load_file`] or
/// [`crate::builtin`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub(crate) version: u32,
    pub(crate) name: String,
    pub(crate) default_mode: Mode,
    pub(crate) default_fail: FailMode,
    pub(crate) identities: Vec<Identity>,
    pub(crate) context: Context,
    pub(crate) intents: BTreeMap<IntentClass, IntentRule>,
    pub(crate) hold: Hold,
    pub(crate) quarantine: Quarantine,
}

impl Policy {
    /// Schema version (1).
    #[must_use]
    pub fn version(&self) -> u32 {
        self.version
    }
    /// The policy's `name`.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Mode of processes no identity matches.
    #[must_use]
    pub fn default_mode(&self) -> Mode {
        self.default_mode
    }
    /// Fail mode of processes no identity matches.
    #[must_use]
    pub fn default_fail(&self) -> FailMode {
        self.default_fail
    }
    /// Identity rules in file order (first match wins).
    #[must_use]
    pub fn identities(&self) -> &[Identity] {
        &self.identities
    }
    /// Paths, files, destinations and services, for the classifier.
    #[must_use]
    pub fn context(&self) -> &Context {
        &self.context
    }
    /// One rule per intent class, all eight present.
    #[must_use]
    pub fn intents(&self) -> &BTreeMap<IntentClass, IntentRule> {
        &self.intents
    }
    /// The rule for `class`.
    #[must_use]
    pub fn rule(&self, class: IntentClass) -> &IntentRule {
        &self.intents[&class]
    }
    /// Hold settings.
    #[must_use]
    pub fn hold(&self) -> &Hold {
        &self.hold
    }
    /// When the agent quarantines by itself.
    #[must_use]
    pub fn quarantine(&self) -> &Quarantine {
        &self.quarantine
    }
}

impl Serialize for Policy {
    /// The compiled form, field for field in the schema of the policy file, so the
    /// rendering loads back as the same policy.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = &self.context;
        let mut st = s.serialize_struct("Policy", 15)?;
        st.serialize_field("version", &self.version)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("default_mode", &self.default_mode)?;
        st.serialize_field("default_fail", &self.default_fail)?;
        st.serialize_field("identities", &self.identities)?;
        st.serialize_field("protected_paths", &c.protected_paths)?;
        st.serialize_field("data_dirs", &c.data_dirs)?;
        st.serialize_field("sensitive_files", &c.sensitive_files)?;
        st.serialize_field("log_paths", &c.log_paths)?;
        st.serialize_field("trusted_destinations", &c.trusted_destinations)?;
        st.serialize_field("exfil_destinations", &c.exfil_destinations)?;
        st.serialize_field("critical_services", &c.critical_services)?;
        st.serialize_field("intents", &self.intents)?;
        st.serialize_field("hold", &self.hold)?;
        st.serialize_field("quarantine", &self.quarantine)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_defaults_follow_the_mode() {
        assert_eq!(FailMode::default_for(Mode::Strict), FailMode::Closed);
        assert_eq!(FailMode::default_for(Mode::Enforce), FailMode::Open);
        assert_eq!(FailMode::default_for(Mode::Audit), FailMode::Open);
    }

    #[test]
    fn spellings_match_serde() {
        for a in [Action::Deny, Action::Hold, Action::Audit] {
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{}\"", a.as_str()));
        }
        for f in [FailMode::Closed, FailMode::Open] {
            assert_eq!(serde_json::to_string(&f).unwrap(), format!("\"{}\"", f.as_str()));
        }
        for m in [Mode::Audit, Mode::Enforce, Mode::Strict] {
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{}\"", mode_str(m)));
        }
    }

    #[test]
    fn exceptions_match_normalised_text() {
        let r = IntentRule { action: Action::Deny, except: vec!["drop table tmp_*".into()] };
        assert_eq!(r.exception("DROP  TABLE\tTMP_users;"), Some("drop table tmp_*"));
        assert_eq!(r.exception("DROP TABLE users"), None);
    }
}
