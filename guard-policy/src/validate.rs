//! Checks for single values of the policy file: exact keyword spellings, absolute and
//! normalised paths, well-formed globs, names. Each returns the typed or normalised value,
//! or a one-line message; `compile.rs` attaches the location.

use guard_classify::IntentClass;
use guard_classify::path::normalize;

use crate::de::suggest;
use crate::pattern::check_path_glob;
use crate::policy::{Action, FailMode, Mode};

/// `audit`, `enforce` or `strict`, exactly.
pub(crate) fn mode(s: &str) -> Result<Mode, String> {
    match s {
        "audit" => Ok(Mode::Audit),
        "enforce" => Ok(Mode::Enforce),
        "strict" => Ok(Mode::Strict),
        _ => Err(format!("unknown mode {s:?} (expected audit, enforce or strict)")),
    }
}

/// `deny`, `hold` or `audit`, exactly.
pub(crate) fn action(s: &str) -> Result<Action, String> {
    match s {
        "deny" => Ok(Action::Deny),
        "hold" => Ok(Action::Hold),
        "audit" => Ok(Action::Audit),
        _ => Err(format!("unknown action {s:?} (expected deny, hold or audit)")),
    }
}

/// `closed` or `open`, exactly.
pub(crate) fn fail(s: &str) -> Result<FailMode, String> {
    match s {
        "closed" => Ok(FailMode::Closed),
        "open" => Ok(FailMode::Open),
        _ => Err(format!("unknown fail mode {s:?} (expected closed or open)")),
    }
}

/// One of the eight snake_case class names.
pub(crate) fn intent_class(s: &str) -> Result<IntentClass, String> {
    s.parse().map_err(|_| {
        let names: Vec<&str> = IntentClass::ALL.iter().map(|c| c.as_str()).collect();
        let mut m = format!("unknown intent class {s:?} (expected one of: {}", names.join(", "));
        if let Some(n) = suggest(s, names.iter().copied()) {
            m.push_str(&format!("; did you mean {n:?}?"));
        }
        m + ")"
    })
}

/// A policy or identity name: 1 to 128 characters, no control characters, not blank.
pub(crate) fn name(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if s.chars().count() > 128 {
        return Err("longer than 128 characters".into());
    }
    if s.chars().any(char::is_control) {
        return Err(format!("{s:?} contains control characters"));
    }
    Ok(s.to_owned())
}

/// A user or group name (or a number): no whitespace, `:`, `/` or control characters.
pub(crate) fn account(s: &str) -> Result<String, String> {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control() || c == ':' || c == '/') {
        return Err(format!("invalid user or group name {s:?}"));
    }
    Ok(s.to_owned())
}

/// An absolute (or `~`-anchored) path or path glob, normalised: `//`, `/./`, trailing
/// slashes collapsed, `..` resolved.
pub(crate) fn path(s: &str) -> Result<String, String> {
    plain(s)?;
    if !(s.starts_with('/') || s == "~" || s.starts_with("~/")) {
        return Err(format!("relative path {s:?} (paths must be absolute or start with ~/)"));
    }
    check_path_glob(s)?;
    Ok(normalize(s, None))
}

/// A `sensitive_files` entry: an optional `!` (exclusion), then an absolute path, a `~/`
/// path (any home) or a `**/` glob (any directory).
pub(crate) fn file_pattern(s: &str) -> Result<String, String> {
    let (neg, body) = s.strip_prefix('!').map_or(("", s), |b| ("!", b));
    if body.starts_with("**/") {
        plain(body)?;
        check_path_glob(body)?;
        let n = normalize(body, None);
        return if n.starts_with("**/") {
            Ok(format!("{neg}{n}"))
        } else {
            Err(format!("relative path {s:?} (`..` climbs out of `**/`)"))
        };
    }
    match path(body) {
        Ok(p) => Ok(format!("{neg}{p}")),
        Err(e) if e.starts_with("relative") => Err(format!(
            "relative path {s:?} (use an absolute path, ~/ for any home, or **/ for any directory)"
        )),
        Err(e) => Err(e),
    }
}

/// A host, host glob or URL prefix: no whitespace or control characters.
pub(crate) fn destination(s: &str) -> Result<String, String> {
    plain(s)?;
    if s.contains(char::is_whitespace) {
        return Err(format!("destination {s:?} contains whitespace"));
    }
    check_path_glob(s)?;
    Ok(s.to_owned())
}

/// A service name or glob (`postgresql*`), without `.service`.
pub(crate) fn service(s: &str) -> Result<String, String> {
    plain(s)?;
    if s.contains(|c: char| c.is_whitespace() || c == '/') {
        return Err(format!("invalid service name {s:?}"));
    }
    check_path_glob(s)?;
    Ok(s.to_owned())
}

const UNIT_TYPES: [&str; 11] =
    ["service", "socket", "target", "timer", "mount", "automount", "scope", "slice", "path", "swap", "device"];

/// A systemd unit name or glob; `.service` is added when no unit type is given.
pub(crate) fn unit(s: &str) -> Result<String, String> {
    let u = service(s).map_err(|_| format!("invalid systemd unit {s:?}"))?;
    let typed = u.rsplit_once('.').is_some_and(|(_, t)| UNIT_TYPES.contains(&t));
    Ok(if typed { u } else { format!("{u}.service") })
}

/// A cgroup v2 path: under `/sys/fs/cgroup`, or relative to the cgroup2 root (with or
/// without a leading `/`). Returned root-relative with a leading `/`.
pub(crate) fn cgroup(s: &str) -> Result<String, String> {
    plain(s)?;
    check_path_glob(s)?;
    let rel = crate::matching::cgroup_relative(s);
    if rel == "/" {
        return Err("the cgroup2 root matches every process; use non_interactive or another selector".into());
    }
    Ok(rel)
}

fn plain(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.chars().any(char::is_control) {
        return Err(format!("{s:?} contains control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_exact() {
        assert_eq!(mode("strict"), Ok(Mode::Strict));
        assert_eq!(mode("enforcing").unwrap_err(), "unknown mode \"enforcing\" (expected audit, enforce or strict)");
        assert!(mode("Enforce").is_err());
        assert!(mode(" enforce").is_err());
        assert_eq!(action("hold"), Ok(Action::Hold));
        assert!(action("allow").is_err());
        assert_eq!(fail("closed"), Ok(FailMode::Closed));
        assert!(fail("shut").is_err());
        assert_eq!(intent_class("disk_wipe"), Ok(IntentClass::DiskWipe));
        assert!(intent_class("bulk_delte").unwrap_err().ends_with("did you mean \"bulk_delete\"?)"));
    }

    #[test]
    fn paths_are_normalised_and_absolute() {
        assert_eq!(path("//var/./lib//mysql/"), Ok("/var/lib/mysql".into()));
        assert_eq!(path("/var/log/../lib"), Ok("/var/lib".into()));
        assert_eq!(path("/.."), Ok("/".into()));
        assert_eq!(path("~/.ssh/"), Ok("~/.ssh".into()));
        assert!(path("var/lib").unwrap_err().starts_with("relative path \"var/lib\""));
        assert!(path("./x").is_err());
        assert!(path("").is_err());
        assert!(path("/etc/[x").is_err());
    }

    #[test]
    fn sensitive_patterns() {
        assert_eq!(file_pattern("!**/*.pub"), Ok("!**/*.pub".into()));
        assert_eq!(file_pattern("~/.ssh/id_*"), Ok("~/.ssh/id_*".into()));
        assert_eq!(file_pattern("/etc//shadow"), Ok("/etc/shadow".into()));
        assert!(file_pattern("*.pem").unwrap_err().contains("**/"));
        assert!(file_pattern("**/../x").is_err());
    }

    #[test]
    fn units_cgroups_and_names() {
        assert_eq!(unit("deploy"), Ok("deploy.service".into()));
        assert_eq!(unit("ci.slice"), Ok("ci.slice".into()));
        assert_eq!(unit("deploy@*"), Ok("deploy@*.service".into()));
        assert!(unit("a b").is_err());
        assert_eq!(cgroup("/sys/fs/cgroup/ci.slice/"), Ok("/ci.slice".into()));
        assert_eq!(cgroup("ci.slice"), Ok("/ci.slice".into()));
        assert!(cgroup("/sys/fs/cgroup").is_err());
        assert!(name(" ").is_err());
        assert!(name("a\u{7}").is_err());
        assert!(account("ci bots").is_err());
        assert!(destination("a b").is_err());
        assert_eq!(destination("*.s3.amazonaws.com"), Ok("*.s3.amazonaws.com".into()));
    }
}
