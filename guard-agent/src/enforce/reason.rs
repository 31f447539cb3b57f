//! Why an exec was decided as it was, in words, for its event (`reason`).
//!
//! The kernel sends a rule id and an intent class. The agent adds the classifier's
//! explanation of the same argv when the classifier finds the same class there
//! (`rm -rf /etc: recursive deletion of protected path /etc`), and otherwise describes
//! the kernel signature that matched, so a SIEM user reads why without knowing guard's
//! rule names. Only events with a decision worth explaining get one: anything matched
//! (deny, audit, hold), quarantined, tampered with or denied while the agent was away.

use guard_common::{
    enforce::{decision, intent},
    matcher::fact,
};

use super::{
    compile::{CONFIRM_SUFFIX, HOLD_RULE},
    signatures::SIGNATURES,
};
use crate::events::decode::ExecRecord;

/// What the event of `record` should say, or `None` for an ordinary allowed exec.
/// `rule`: the kernel rule's name; `policy` gives the classifier its lists.
pub fn for_record(record: &ExecRecord, rule: Option<&str>, policy: &guard_policy::Policy) -> Option<String> {
    let e = &record.event;
    if record.quarantined() {
        return Some("the process tree is quarantined: every exec from it is refused".into());
    }
    let explained = (e.class != intent::NONE).then(|| explain(&record.argv.to_vecs(), e.class, rule, policy));
    let mut reason = match (explained, rule) {
        (Some(text), _) => text,
        (None, Some(HOLD_RULE)) => {
            "held for the agent's verdict: a shell, interpreter or SQL client whose arguments carry a word the policy marks as interesting".into()
        }
        (None, _) if e.decision == decision::ALLOW => return None,
        (None, _) => "denied with no intent class".into(),
    };
    if record.tampered() {
        reason = format!("argv changed during the exec (tampering): the new image's own argv matched; {reason}");
    }
    if record.hold_offline() {
        reason.push_str("; held while the agent was away: the identity's fail mode decided");
    }
    if record.cached() {
        reason.push_str("; decided in the kernel from the agent's earlier verdict on the same command");
    }
    Some(reason)
}

/// The classifier's reason for `class` in `argv`, else the signature `rule` described.
fn explain(argv: &[Vec<u8>], class: u8, rule: Option<&str>, policy: &guard_policy::Policy) -> String {
    let verdict = guard_classify::classify_argv_in(argv, None, policy.context());
    let found = verdict.intents.iter().find(|i| super::facts::class_code(i.class) == class);
    match (found, rule) {
        (Some(i), _) => i.reason.clone(),
        (None, Some(rule)) => describe(rule).unwrap_or_else(|| format!("kernel rule {rule}")),
        (None, None) => format!("kernel match of class {}", intent::NAMES.get(class as usize).copied().unwrap_or("unknown")),
    }
}

/// The kernel signature called `rule` in words: binaries, the words it needs and the
/// path it needs (`None` for a name that is no signature).
pub fn describe(rule: &str) -> Option<String> {
    let (name, confirm) = match rule.strip_suffix(CONFIRM_SUFFIX) {
        Some(base) => (base, true),
        None => (rule, false),
    };
    let sig = SIGNATURES.iter().find(|s| s.name == name)?;
    let mut binaries = sig.binaries.iter().take(4).copied().collect::<Vec<_>>().join("/");
    if sig.binaries.len() > 4 {
        binaries.push_str("/...");
    }
    let mut text = format!("kernel signature {name}: {binaries}");
    for (i, clause) in sig.clauses.iter().enumerate() {
        text.push_str(if i == 0 { " with " } else { " and " });
        text.push_str(&clause.iter().map(|item| item_text(item)).collect::<Vec<_>>().join(" or "));
    }
    let path = facts_text(sig.path);
    if !path.is_empty() {
        text.push_str(" on ");
        text.push_str(&path);
    }
    if confirm {
        text.push_str(" (with a word that can make it harmless: the agent confirmed)");
    }
    Some(text)
}

/// `l:rR` is the short options `-r`/`-R`; anything else is a word.
fn item_text(item: &str) -> String {
    match item.strip_prefix("l:") {
        Some(letters) => letters.chars().map(|c| format!("-{c}")).collect::<Vec<_>>().join("/"),
        None => item.to_owned(),
    }
}

fn facts_text(facts: u32) -> String {
    const NAMES: [(u32, &str); 6] = [
        (fact::AT_OR_ABOVE_PROTECTED, "a path at or above a protected path"),
        (fact::IN_DATA_DIR, "a path in a data directory"),
        (fact::SENSITIVE, "a sensitive file"),
        (fact::IN_LOG, "a log or history file"),
        (fact::BLOCK_DEVICE, "a disk device"),
        (fact::BLOCK_DEVICE_OUT, "a disk device as output"),
    ];
    NAMES.iter().filter(|(bit, _)| facts & bit != 0).map(|(_, n)| *n).collect::<Vec<_>>().join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signature_is_described_with_its_words_and_path() {
        for sig in SIGNATURES {
            let text = describe(sig.name).unwrap();
            assert!(text.contains(sig.binaries[0]), "{text}");
            assert!(!text.contains(" l:"), "short options are written as options: {text}");
        }
        assert_eq!(
            describe("rm-recursive-protected").unwrap(),
            "kernel signature rm-recursive-protected: rm with -r/-R or --recursive on a path at or above a protected path or a path in a data directory"
        );
        assert!(describe(&format!("sql-drop-truncate{CONFIRM_SUFFIX}")).unwrap().contains("the agent confirmed"));
        assert_eq!(describe("no-such-rule"), None);
    }

    #[test]
    fn the_classifier_explains_when_it_finds_the_same_class() {
        let policy = guard_policy::builtin();
        let argv: Vec<Vec<u8>> = ["rm", "-rf", "/etc"].iter().map(|a| a.as_bytes().to_vec()).collect();
        let text = explain(&argv, intent::BULK_DELETE, Some("rm-recursive-protected"), &policy);
        assert!(text.contains("/etc") && !text.starts_with("kernel signature"), "{text}");
        // The classifier sees no such class: the signature speaks.
        let text = explain(&argv, intent::DISK_WIPE, Some("dd-to-disk"), &policy);
        assert!(text.starts_with("kernel signature dd-to-disk: dd on a disk device as output"), "{text}");
    }
}
