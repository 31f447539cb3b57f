//! Sinks: where events go. Every sink implements [`Sink`] and runs behind a
//! [`SinkHandle`] (bounded memory queue, disk spool, retries, counters).
//!
//! Sink URLs (`--sink URL`, parsed by [`SinkConfig::parse`]):
//! - `stdout`
//! - `file:///path[?max_bytes=N&keep=K]` (rotation at N bytes, default 100 MiB, 5 kept)
//! - `syslog+udp://host[:514][?facility=F&app=NAME]`
//! - `syslog+tcp://host[:514][?facility=F&app=NAME&replay_ms=MS]`
//! - `syslog+tls://host[:6514]?ca=/path/ca.pem[&server_name=NAME&facility=F&app=NAME&replay_ms=MS]`
//!
//! - `hec+https://host:8088[/path]?token_env=VAR|token_file=PATH[&index=I&source=S&sourcetype=T&ca=PEM]`
//!   (token from `GUARD_HEC_TOKEN` by default)
//! - `elastic+https://host:9200[/prefix]?[index=guard-exec&token_env=VAR|token_file=PATH&ca=PEM]`
//!   (API key, sent as `Authorization: ApiKey`)
//! - `webhook+https://host/path[?token_env=VAR|token_file=PATH&ca=PEM]` (Bearer token)
//!
//! - `kafka://broker:port[,broker:port]/topic[?partition=N&timeout_ms=MS]`
//!
//! `facility` is a number (0–23) or a name (`auth`, `authpriv`, `daemon`, `local0`…`local7`, …).

mod delivery;
mod file;
mod http;
mod kafka;
mod spool;
mod syslog;

pub use delivery::{Counters, CountersView, DeliveryOptions, Encoder, SinkHandle};
pub use file::{FileSink, StdoutSink};
pub use http::{HttpConfig, HttpKind, HttpSink};
pub use kafka::{KafkaConfig, KafkaSink};
pub use syslog::{SD_ID, SyslogConfig, SyslogSink, Transport, format_5424, frame_octet_counted};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::ocsf::to_ocsf;

/// Errors of sinks and sink configuration.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A sink URL or option is invalid.
    #[error("sink configuration: {0}")]
    Config(String),
    /// I/O with the destination failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The destination refused or failed a send.
    #[error("send failed: {0}")]
    Send(String),
    /// The batch was delivered except `count` events the destination refuses for good
    /// (not retried; counted as `rejected`).
    #[error("{count} events rejected: {reason}")]
    Rejected {
        /// How many.
        count: u64,
        /// The destination's reasons.
        reason: String,
    },
}

/// A destination. `send` either accepts the whole batch or fails (the batch is retried).
pub trait Sink: Send + 'static {
    /// A name for logs, counters and the spool file (no secrets).
    fn name(&self) -> String;

    /// Sends one batch of encoded events, in order.
    fn send(&mut self, batch: &[Vec<u8>]) -> Result<(), SinkError>;

    /// How events are encoded for this sink (default: OCSF JSON, one object).
    fn encoder(&self) -> Encoder {
        Arc::new(|e| to_ocsf(e).to_string().into_bytes())
    }
}

/// A parsed sink URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkConfig {
    /// `stdout`
    Stdout,
    /// `file:///path`
    File {
        /// The file.
        path: PathBuf,
        /// Rotate when the file would pass this size.
        max_bytes: u64,
        /// Rotated files kept.
        keep: u32,
    },
    /// `syslog+udp://`, `syslog+tcp://`, `syslog+tls://`
    Syslog(SyslogConfig),
    /// `hec+https://`, `elastic+https://`, `webhook+https://` (and `+http` for tests)
    Http(HttpConfig),
    /// `kafka://broker:port[,broker:port]/topic`
    Kafka(KafkaConfig),
}

fn facility(s: &str) -> Option<u8> {
    if let Ok(n) = s.parse::<u8>() {
        return (n <= 23).then_some(n);
    }
    const NAMES: [&str; 24] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "ntp",
        "security", "console", "solaris-cron", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
        "local7",
    ];
    NAMES.iter().position(|n| *n == s).map(|p| p as u8)
}

impl SinkConfig {
    /// Parses a sink URL (see the module documentation).
    pub fn parse(url: &str) -> Result<Self, SinkError> {
        let bad = |why: &str| SinkError::Config(format!("{url:?}: {why}"));
        if url == "stdout" || url == "-" {
            return Ok(SinkConfig::Stdout);
        }
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("expected scheme://..."))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut params = std::collections::BTreeMap::new();
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = kv.split_once('=').ok_or_else(|| bad(&format!("parameter {kv:?} has no value")))?;
            params.insert(k.to_string(), v.to_string());
        }
        let mut take = |k: &str| params.remove(k);
        let num = |v: Option<String>, k: &str, default: u64| -> Result<u64, SinkError> {
            v.map_or(Ok(default), |s| s.parse().map_err(|_| bad(&format!("{k} must be a number"))))
        };
        let cfg = match scheme {
            "file" => {
                if !rest.starts_with('/') {
                    return Err(bad("file:// needs an absolute path (file:///var/log/guard.json)"));
                }
                SinkConfig::File {
                    path: PathBuf::from(rest),
                    max_bytes: num(take("max_bytes"), "max_bytes", 100 << 20)?,
                    keep: num(take("keep"), "keep", 5)? as u32,
                }
            }
            "syslog+udp" | "syslog+tcp" | "syslog+tls" => {
                let transport = match scheme {
                    "syslog+udp" => Transport::Udp,
                    "syslog+tcp" => Transport::Tcp,
                    _ => Transport::Tls,
                };
                let rest = rest.trim_end_matches('/');
                let (host, port) = if let Some(h) = rest.strip_prefix('[') {
                    let (h, p) = h.split_once(']').ok_or_else(|| bad("unclosed [ in host"))?;
                    (h.to_string(), p.strip_prefix(':'))
                } else {
                    match rest.rsplit_once(':') {
                        Some((h, p)) => (h.to_string(), Some(p)),
                        None => (rest.to_string(), None),
                    }
                };
                if host.is_empty() {
                    return Err(bad("missing host"));
                }
                let default_port = if transport == Transport::Tls { 6514 } else { 514 };
                let port = match port {
                    Some(p) => p.parse().map_err(|_| bad("bad port"))?,
                    None => default_port,
                };
                let fac = take("facility").map_or(Some(10), |f| facility(&f)).ok_or_else(|| bad("unknown facility"))?;
                let ca = take("ca").map(PathBuf::from);
                if transport == Transport::Tls && ca.is_none() {
                    return Err(bad("syslog+tls needs ca=/path/to/ca.pem"));
                }
                SinkConfig::Syslog(SyslogConfig {
                    transport,
                    host,
                    port,
                    facility: fac,
                    app_name: take("app").unwrap_or_else(|| "guard".into()),
                    ca,
                    server_name: take("server_name"),
                    replay: Duration::from_millis(num(take("replay_ms"), "replay_ms", 1000)?),
                })
            }
            "kafka" => {
                let (brokers, topic) = rest.split_once('/').ok_or_else(|| bad("kafka://broker:port/topic"))?;
                let brokers: Vec<String> = brokers.split(',').filter(|b| !b.is_empty()).map(|b| {
                    if b.contains(':') { b.to_string() } else { format!("{b}:9092") }
                }).collect();
                if brokers.is_empty() || topic.is_empty() || topic.contains('/') {
                    return Err(bad("kafka://broker:port/topic"));
                }
                SinkConfig::Kafka(KafkaConfig {
                    brokers,
                    topic: topic.to_string(),
                    partition: num(take("partition"), "partition", 0)? as i32,
                    timeout: Duration::from_millis(num(take("timeout_ms"), "timeout_ms", 10_000)?),
                })
            }
            "hec+https" | "hec+http" | "elastic+https" | "elastic+http" | "webhook+https" | "webhook+http" => {
                let (kind, proto) = scheme.split_once('+').expect("matched above");
                let kind = match kind {
                    "hec" => HttpKind::Hec,
                    "elastic" => HttpKind::Elastic,
                    _ => HttpKind::Webhook,
                };
                let (authority, path) = rest.split_once('/').map_or((rest, String::new()), |(a, p)| (a, format!("/{p}")));
                if authority.is_empty() {
                    return Err(bad("missing host"));
                }
                let path = match (kind, path.as_str()) {
                    (HttpKind::Hec, "" | "/") => "/services/collector/event".to_string(),
                    (HttpKind::Elastic, "" | "/") => "/_bulk".to_string(),
                    (HttpKind::Elastic, p) if !p.ends_with("/_bulk") => format!("{}/_bulk", p.trim_end_matches('/')),
                    _ => path,
                };
                let mut hec = crate::hec::HecOptions::default();
                if let Some(v) = take("source") {
                    hec.source = v;
                }
                if let Some(v) = take("sourcetype") {
                    hec.sourcetype = v;
                }
                hec.index = if kind == HttpKind::Hec { take("index") } else { None };
                let token_file = take("token_file").map(PathBuf::from);
                let token_env = take("token_env").or_else(|| {
                    (token_file.is_none() && kind == HttpKind::Hec).then(|| "GUARD_HEC_TOKEN".to_string())
                });
                SinkConfig::Http(HttpConfig {
                    kind,
                    endpoint: format!("{proto}://{authority}{path}"),
                    token_env,
                    token_file,
                    ca: take("ca").map(PathBuf::from),
                    index: if kind == HttpKind::Elastic { take("index").unwrap_or_else(|| "guard-exec".into()) } else { String::new() },
                    hec,
                    timeout: Duration::from_millis(num(take("timeout_ms"), "timeout_ms", 10_000)?),
                })
            }
            _ => return Err(bad("unknown sink scheme")),
        };
        if let Some(k) = params.keys().next() {
            return Err(bad(&format!("unknown parameter {k:?}")));
        }
        Ok(cfg)
    }

    /// Builds the sink this configuration describes.
    pub fn build(&self) -> Result<Box<dyn Sink>, SinkError> {
        Ok(match self {
            SinkConfig::Stdout => Box::new(StdoutSink),
            SinkConfig::File { path, max_bytes, keep } => Box::new(FileSink::new(path.clone(), *max_bytes, *keep)),
            SinkConfig::Syslog(c) => Box::new(SyslogSink::new(c.clone())?),
            SinkConfig::Http(c) => Box::new(HttpSink::new(c.clone())?),
            SinkConfig::Kafka(c) => Box::new(KafkaSink::new(c.clone())?),
        })
    }
}

impl std::str::FromStr for SinkConfig {
    type Err = SinkError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Parses and starts every `--sink URL` (stdout when none is given).
pub fn start_sinks(urls: &[String], opts: &DeliveryOptions) -> Result<Vec<SinkHandle>, SinkError> {
    let configs = if urls.is_empty() {
        vec![SinkConfig::Stdout]
    } else {
        urls.iter().map(|u| SinkConfig::parse(u)).collect::<Result<_, _>>()?
    };
    configs.iter().map(|c| SinkHandle::spawn(c.build()?, opts.clone())).collect()
}
