//! The agent's config file: `run --config FILE`, else `/etc/guard/agent.yaml` when it
//! exists. YAML read with guard-policy's located reader, so every problem is reported as
//! `FILE:LINE:COLUMN: FIELD: MESSAGE` like a policy's, and the agent refuses to start.
//! Flags override the file's values; `--sink` and `--redact` add to the file's lists.
//! The format is documented in docs/config.md.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use serde::{Deserialize, Deserializer, de::Error as _};

use crate::cli::export::OutputArgs;

/// Where the agent looks for its config file when `--config` is not given.
pub const DEFAULT_PATH: &str = "/etc/guard/agent.yaml";

/// Config flags of `guard-agent run`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// Agent config file (YAML, see docs/config.md); default /etc/guard/agent.yaml when it
    /// exists. Flags override its values; --sink and --redact add to its lists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Serve Prometheus metrics at /metrics and readiness at /healthz on ADDR (HOST:PORT,
    /// e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

/// The file as written. Every field is optional.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Policy file (absolute path).
    pub policy: Option<Absolute>,
    /// Address of /metrics and /healthz.
    pub listen: Option<Addr>,
    /// Sink URLs.
    #[serde(default)]
    pub sinks: Vec<SinkUrl>,
    /// The hash-chained audit log.
    pub audit_log: Option<Absolute>,
    /// The audit log's private key (default `<audit_log>.key`).
    pub audit_key: Option<Absolute>,
    /// Extra redaction patterns (regular expressions).
    #[serde(default)]
    pub redact: Vec<Pattern>,
    /// Directory of the sinks' disk spools.
    pub spool_dir: Option<Absolute>,
    /// Cap of each sink's spool file, in bytes.
    pub spool_max_bytes: Option<NonZero>,
    /// Seconds between signed audit checkpoints, also on an idle host.
    pub checkpoint_interval: Option<Seconds>,
}

/// What `run` uses: the file merged with the flags.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The config file read, if any.
    pub file: Option<PathBuf>,
    pub policy: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub output: OutputArgs,
}

/// Reads the config file (`--config`, else the default when it exists) and merges the
/// flags into it.
pub fn resolve(args: &ConfigArgs, policy: Option<&Path>, output: &OutputArgs) -> anyhow::Result<Settings> {
    let path = args.config.clone().or_else(|| Some(PathBuf::from(DEFAULT_PATH)).filter(|p| p.exists()));
    let file = match &path {
        Some(p) => load(p)?,
        None => FileConfig::default(),
    };
    let mut s = merge(file, args, policy, output);
    s.file = path;
    Ok(s)
}

/// Reads and checks a config file.
pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read(path).with_context(|| format!("{}: cannot read the config file", path.display()))?;
    let name = path.display().to_string();
    let text = String::from_utf8(text).map_err(|_| anyhow::anyhow!("{name}: the config file is not valid UTF-8"))?;
    Ok(parse(&text, &name)?)
}

/// Parses config text; `file` names it in messages.
pub fn parse(text: &str, file: &str) -> Result<FileConfig, guard_policy::PolicyError> {
    guard_policy::from_yaml(text, file)
}

/// Flags over the file: single values from a flag win, lists are the file's then the flags'.
pub fn merge(file: FileConfig, args: &ConfigArgs, policy: Option<&Path>, flags: &OutputArgs) -> Settings {
    let path = |v: Option<Absolute>| v.map(|a| a.0);
    let mut sinks: Vec<String> = file.sinks.into_iter().map(|s| s.0).collect();
    sinks.extend(flags.sinks.iter().cloned());
    let mut redact: Vec<String> = file.redact.into_iter().map(|s| s.0).collect();
    redact.extend(flags.redact.iter().cloned());
    Settings {
        file: None,
        policy: policy.map(Path::to_path_buf).or(path(file.policy)),
        listen: args.listen.or(file.listen.map(|a| a.0)),
        output: OutputArgs {
            sinks,
            redact,
            audit_log: flags.audit_log.clone().or(path(file.audit_log)),
            audit_key: flags.audit_key.clone().or(path(file.audit_key)),
            spool_dir: flags.spool_dir.clone().or(path(file.spool_dir)),
            spool_max_bytes: flags.spool_max_bytes.or(file.spool_max_bytes.map(|n| n.0)),
            checkpoint_interval: flags.checkpoint_interval.or(file.checkpoint_interval.map(|n| n.0)),
        },
    }
}

/// Deserializes a string and checks it with `check`; the message lands at the value.
fn checked<'de, D: Deserializer<'de>, T>(d: D, check: impl FnOnce(String) -> Result<T, String>) -> Result<T, D::Error> {
    let s = String::deserialize(d)?;
    check(s).map_err(D::Error::custom)
}

/// An absolute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Absolute(pub PathBuf);

impl<'de> Deserialize<'de> for Absolute {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |s| {
            if s.starts_with('/') { Ok(Self(PathBuf::from(s))) } else { Err(format!("{s:?} is not an absolute path")) }
        })
    }
}

/// `HOST:PORT` with a numeric host (`127.0.0.1:9464`, `[::1]:9464`, `0.0.0.0:9464`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addr(pub SocketAddr);

impl<'de> Deserialize<'de> for Addr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |s| s.parse().map(Self).map_err(|_| format!("{s:?} is not an address (expected IP:PORT, e.g. 127.0.0.1:9464)")))
    }
}

/// A sink URL guard-export accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkUrl(pub String);

impl<'de> Deserialize<'de> for SinkUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |s| match guard_export::sink::SinkConfig::parse(&s) {
            Ok(_) => Ok(Self(s)),
            Err(e) => Err(e.to_string()),
        })
    }
}

/// A redaction pattern (a regular expression guard-export compiles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(pub String);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, |s| match guard_export::Redactor::new(std::slice::from_ref(&s)) {
            Ok(_) => Ok(Self(s)),
            Err(e) => Err(e.to_string().replace('\n', " ")),
        })
    }
}

/// A whole number of seconds, 1 to 86400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub u64);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u64::deserialize(d)?;
        if (1..=86_400).contains(&n) { Ok(Self(n)) } else { Err(D::Error::custom(format!("{n} seconds is out of range (1 to 86400)"))) }
    }
}

/// A number above zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonZero(pub u64);

impl<'de> Deserialize<'de> for NonZero {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u64::deserialize(d)?;
        if n > 0 { Ok(Self(n)) } else { Err(D::Error::custom("must be above 0")) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = include_str!("../../deploy/config/agent.yaml");

    fn err(text: &str) -> String {
        parse(text, "agent.yaml").unwrap_err().to_string()
    }

    #[test]
    fn reads_a_full_file() {
        let text = "\
policy: /etc/guard/policy.yaml
listen: 127.0.0.1:9464
sinks:
  - file:///var/log/guard/events.ocsf.jsonl
  - syslog+udp://127.0.0.1:514
audit_log: /var/log/guard/audit.log
audit_key: /etc/guard/audit.key
redact: ['tok_[a-z0-9]+']
spool_dir: /var/lib/guard/spool
spool_max_bytes: 1048576
checkpoint_interval: 30
";
        let c = parse(text, "agent.yaml").unwrap();
        assert_eq!(c.policy, Some(Absolute("/etc/guard/policy.yaml".into())));
        assert_eq!(c.listen, Some(Addr("127.0.0.1:9464".parse().unwrap())));
        assert_eq!(c.sinks.len(), 2);
        assert_eq!(c.redact, [Pattern("tok_[a-z0-9]+".into())]);
        assert_eq!(c.spool_max_bytes, Some(NonZero(1 << 20)));
        assert_eq!(c.checkpoint_interval, Some(Seconds(30)));
        assert_eq!(parse("", "empty.yaml").unwrap(), FileConfig::default(), "an empty file is no settings");
        assert_eq!(parse("# only comments\n", "c.yaml").unwrap(), FileConfig::default());
    }

    #[test]
    fn the_shipped_example_is_valid() {
        parse(FULL, "deploy/config/agent.yaml").unwrap();
    }

    #[test]
    fn unknown_fields_and_bad_types_are_refused_with_line_and_column() {
        assert_eq!(
            err("listen: 127.0.0.1:9464\nsink:\n  - stdout\n"),
            "agent.yaml:2:1: sink: unknown field \"sink\" (expected one of: policy, listen, sinks, audit_log, audit_key, \
             redact, spool_dir, spool_max_bytes, checkpoint_interval; did you mean \"sinks\"?)"
        );
        assert_eq!(
            err("checkpoint_interval: soon\n"),
            "agent.yaml:1:22: checkpoint_interval: expected an unsigned integer, found string \"soon\""
        );
        assert_eq!(err("sinks: stdout\n"), "agent.yaml:1:8: sinks: expected a list, found string \"stdout\"");
        assert_eq!(err("spool_max_bytes: -1\n"), "agent.yaml:1:18: spool_max_bytes: integer -1 out of range (0 to 18446744073709551615)");
        assert!(err("listen: [1]\n").starts_with("agent.yaml:1:9: listen: expected a string, found a list"));
        assert!(err("listen: x\n  y: 1\n").starts_with("agent.yaml:"), "YAML syntax");
    }

    #[test]
    fn bad_values_are_refused_at_the_value() {
        assert_eq!(
            err("listen: localhost\n"),
            "agent.yaml:1:9: listen: \"localhost\" is not an address (expected IP:PORT, e.g. 127.0.0.1:9464)"
        );
        let e = err("sinks:\n  - stdout\n  - ftp://x/y\n");
        assert!(e.starts_with("agent.yaml:3:5: sinks[1]: sink configuration: \"ftp://x/y\": unknown sink scheme"), "{e}");
        assert_eq!(err("audit_log: audit.log\n"), "agent.yaml:1:12: audit_log: \"audit.log\" is not an absolute path");
        assert!(err("redact: ['(']\n").starts_with("agent.yaml:1:10: redact[0]: "), "{}", err("redact: ['(']\n"));
        assert_eq!(err("checkpoint_interval: 0\n"), "agent.yaml:1:22: checkpoint_interval: 0 seconds is out of range (1 to 86400)");
        assert_eq!(err("spool_max_bytes: 0\n"), "agent.yaml:1:18: spool_max_bytes: must be above 0");
    }

    #[test]
    fn flags_override_and_extend_the_file() {
        let file = parse(
            "policy: /etc/guard/p.yaml\nlisten: 127.0.0.1:1\nsinks: [stdout]\nredact: [a+]\naudit_log: /a.log\n\
             spool_dir: /spool\ncheckpoint_interval: 5\n",
            "c.yaml",
        )
        .unwrap();
        let flags = OutputArgs {
            sinks: vec!["file:///x.json".into()],
            redact: vec!["b+".into()],
            audit_log: Some("/b.log".into()),
            checkpoint_interval: Some(9),
            ..OutputArgs::default()
        };
        let args = ConfigArgs { config: None, listen: Some("127.0.0.1:2".parse().unwrap()) };
        let s = merge(file, &args, Some(Path::new("/flag.yaml")), &flags);
        assert_eq!(s.policy, Some(PathBuf::from("/flag.yaml")));
        assert_eq!(s.listen, Some("127.0.0.1:2".parse().unwrap()));
        assert_eq!(s.output.sinks, ["stdout", "file:///x.json"], "file's sinks, then the flags'");
        assert_eq!(s.output.redact, ["a+", "b+"]);
        assert_eq!(s.output.audit_log, Some(PathBuf::from("/b.log")));
        assert_eq!(s.output.spool_dir, Some(PathBuf::from("/spool")), "kept from the file");
        assert_eq!(s.output.checkpoint_interval, Some(9));
        assert_eq!(s.output.audit_key, None);

        let file = parse("policy: /etc/guard/p.yaml\nlisten: 127.0.0.1:1\n", "c.yaml").unwrap();
        let s = merge(file, &ConfigArgs::default(), None, &OutputArgs::default());
        assert_eq!(s.policy, Some(PathBuf::from("/etc/guard/p.yaml")), "no flag: the file's");
        assert_eq!(s.listen, Some("127.0.0.1:1".parse().unwrap()));
    }

    #[test]
    fn resolve_reads_the_named_file_and_reports_it() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("agent.yaml");
        std::fs::write(&f, "listen: 127.0.0.1:9464\nsinks: [stdout]\n").unwrap();
        let args = ConfigArgs { config: Some(f.clone()), listen: None };
        let s = resolve(&args, None, &OutputArgs::default()).unwrap();
        assert_eq!(s.file, Some(f.clone()));
        assert_eq!(s.output.sinks, ["stdout"]);
        std::fs::write(&f, "listen: 127.0.0.1:9464\nlisten: 127.0.0.1:1\n").unwrap();
        let e = format!("{:#}", resolve(&args, None, &OutputArgs::default()).unwrap_err());
        assert!(e.starts_with(&format!("{}:2:1: duplicate key", f.display())), "{e}");
        let missing = ConfigArgs { config: Some(dir.path().join("nope.yaml")), listen: None };
        let e = format!("{:#}", resolve(&missing, None, &OutputArgs::default()).unwrap_err());
        assert!(e.contains("nope.yaml: cannot read the config file"), "{e}");
    }
}
