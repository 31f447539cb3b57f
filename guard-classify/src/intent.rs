//! The fixed intent vocabulary and the verdict the classifier returns.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a destructive command means. The snake_case names are the wire vocabulary used in
/// events, policy files and the CLI; they never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentClass {
    /// Recursive or wildcard deletion of protected paths, data directories or home.
    BulkDelete,
    /// Overwriting, formatting or discarding block devices, volumes and pools.
    DiskWipe,
    /// SQL/NoSQL destruction: DROP, TRUNCATE, unqualified DELETE/UPDATE, FLUSHALL...
    SchemaDestroy,
    /// Deleting cloud, infrastructure or cluster resources.
    CloudDestroy,
    /// Sending sensitive local data to another host.
    DataExfiltration,
    /// Erasing or disabling logs, shell history, audit and security agents.
    AuditTamper,
    /// Shutdown, reboot, mass kill, stopping critical services, firewall lock-out.
    ServiceDisruption,
    /// Recursive permission/ownership changes of system paths, setuid shells.
    PermissionChange,
}

impl IntentClass {
    /// Every class, in declaration order.
    pub const ALL: [Self; 8] = [
        Self::BulkDelete,
        Self::DiskWipe,
        Self::SchemaDestroy,
        Self::CloudDestroy,
        Self::DataExfiltration,
        Self::AuditTamper,
        Self::ServiceDisruption,
        Self::PermissionChange,
    ];

    /// The stable snake_case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BulkDelete => "bulk_delete",
            Self::DiskWipe => "disk_wipe",
            Self::SchemaDestroy => "schema_destroy",
            Self::CloudDestroy => "cloud_destroy",
            Self::DataExfiltration => "data_exfiltration",
            Self::AuditTamper => "audit_tamper",
            Self::ServiceDisruption => "service_disruption",
            Self::PermissionChange => "permission_change",
        }
    }
}

impl fmt::Display for IntentClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name given was not one of the eight intent classes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown intent class `{0}`")]
pub struct UnknownClass(pub String);

impl FromStr for IntentClass {
    type Err = UnknownClass;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownClass(s.to_owned()))
    }
}

/// One reason a command is destructive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// Which class.
    pub class: IntentClass,
    /// Human-readable explanation.
    pub reason: String,
    /// The part of the command that shows it (argv words, SQL statement...).
    pub evidence: String,
}

/// The classifier's answer for one command.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Every destructive intent found, at most one per (class, evidence).
    pub intents: Vec<Intent>,
    /// The input could not be fully analysed (over a size/depth/work budget or
    /// unparseable); the verdict came from a conservative fallback scan.
    pub degraded: bool,
}

impl Verdict {
    /// True when no intent was found.
    #[must_use]
    pub fn is_benign(&self) -> bool {
        self.intents.is_empty()
    }

    /// Whether `class` is among the intents.
    #[must_use]
    pub fn has(&self, class: IntentClass) -> bool {
        self.intents.iter().any(|i| i.class == class)
    }

    /// The distinct classes found, sorted.
    #[must_use]
    pub fn classes(&self) -> Vec<IntentClass> {
        let mut v: Vec<_> = self.intents.iter().map(|i| i.class).collect();
        v.sort();
        v.dedup();
        v
    }

    pub(crate) fn push(&mut self, class: IntentClass, reason: impl Into<String>, evidence: impl Into<String>) {
        let evidence = truncate(evidence.into(), 200);
        if self.intents.iter().any(|i| i.class == class && i.evidence == evidence) {
            return;
        }
        if self.intents.len() < 32 {
            self.intents.push(Intent { class, reason: reason.into(), evidence });
        }
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in IntentClass::ALL {
            assert_eq!(c.as_str().parse::<IntentClass>().unwrap(), c);
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{c}\""));
        }
        assert!("drop".parse::<IntentClass>().is_err());
    }

    #[test]
    fn push_dedups_and_truncates() {
        let mut v = Verdict::default();
        v.push(IntentClass::DiskWipe, "a", "x");
        v.push(IntentClass::DiskWipe, "b", "x");
        v.push(IntentClass::DiskWipe, "c", "é".repeat(300));
        assert_eq!(v.intents.len(), 2);
        assert!(v.intents[1].evidence.len() <= 204);
    }
}
