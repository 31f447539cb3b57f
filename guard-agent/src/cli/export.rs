//! Where events go: guard's native JSON lines on stdout by default, or through
//! guard-export (OCSF/ECS/HEC to the `--sink` URLs, and the hash-chained audit log).

use std::{
    fs::File,
    io::{BufWriter, Write as _},
    os::fd::AsFd as _,
    path::PathBuf,
    time::Duration,
};

use guard_export::{
    Exporter, ExporterConfig,
    audit::AuditOptions,
    parse_event_line,
    sink::{CountersView, DeliveryOptions},
};

/// Output flags of `guard-agent run`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct OutputArgs {
    /// Send events to a sink (repeatable): stdout, file:///path, syslog+udp://host:port,
    /// syslog+tcp://host:port, syslog+tls://host:port?ca=FILE, hec+https://...,
    /// elastic+https://..., webhook+https://..., kafka://broker:port/topic (see
    /// docs/events.md). Without --sink, guard's own JSON lines go to stdout.
    #[arg(long = "sink", value_name = "URL")]
    pub sinks: Vec<String>,
    /// Append every event to a hash-chained, signed audit log at PATH.
    #[arg(long, value_name = "PATH")]
    pub audit_log: Option<PathBuf>,
    /// Ed25519 private key of the audit log (default PATH.key, created 0600).
    #[arg(long, value_name = "FILE")]
    pub audit_key: Option<PathBuf>,
    /// Extra regular expression whose matches in argv are redacted before any sink or
    /// the audit log sees them (repeatable).
    #[arg(long = "redact", value_name = "REGEX")]
    pub redact: Vec<String>,
    /// Directory of the sinks' disk spools (default /var/lib/guard/spool).
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Cap of each sink's spool file in bytes (default 64 MiB); past it events are
    /// dropped and counted.
    #[arg(long, value_name = "BYTES")]
    pub spool_max_bytes: Option<u64>,
    /// Seconds between signed audit-log checkpoints, written also when no event came in
    /// (default 60).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub checkpoint_interval: Option<u64>,
}

/// Default of `--checkpoint-interval`.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

/// The reader's output.
pub struct Output {
    /// Standard output, written through a duplicate of its descriptor: `std::io::Stdout`
    /// would take its lock and copy each full buffer through its own line buffer again.
    stdout: Option<BufWriter<File>>,
    exporter: Option<Exporter>,
    policy_name: String,
    export_errors: u64,
}

impl Output {
    pub fn start(args: &OutputArgs, policy_name: &str) -> anyhow::Result<Self> {
        let native = args.sinks.is_empty();
        let exporter = if args.sinks.is_empty() && args.audit_log.is_none() {
            None
        } else {
            let defaults = DeliveryOptions::default();
            let delivery = DeliveryOptions {
                spool_dir: args.spool_dir.clone().unwrap_or(defaults.spool_dir.clone()),
                spool_max_bytes: args.spool_max_bytes.unwrap_or(defaults.spool_max_bytes),
                ..defaults
            };
            let every = args.checkpoint_interval.map_or(CHECKPOINT_INTERVAL, Duration::from_secs);
            Some(Exporter::start(&ExporterConfig {
                sinks: args.sinks.clone(),
                no_default_sink: true,
                delivery,
                redact: args.redact.clone(),
                audit_log: args.audit_log.clone(),
                audit_key: args.audit_key.clone(),
                audit: AuditOptions { every, ..AuditOptions::default() },
            })?)
        };
        let stdout = if native {
            let fd = std::io::stdout().as_fd().try_clone_to_owned().map_err(|e| anyhow::anyhow!("duplicating standard output: {e}"))?;
            Some(BufWriter::with_capacity(1 << 16, File::from(fd)))
        } else {
            None
        };
        Ok(Self {
            stdout,
            exporter,
            policy_name: policy_name.to_owned(),
            export_errors: 0,
        })
    }

    /// One event as guard's JSON line (without newline).
    pub fn event(&mut self, line: &str) {
        if let Some(out) = &mut self.stdout {
            let _ = out.write_all(line.as_bytes());
            let _ = out.write_all(b"\n");
        }
        self.export(line);
    }

    /// An event line for the sinks and the audit log only.
    pub fn export(&mut self, line: &str) {
        if let Some(exp) = &mut self.exporter {
            let result = parse_event_line(line, &self.policy_name).map_err(anyhow::Error::from).and_then(|e| Ok(exp.export(e)?));
            if let Err(err) = result {
                self.export_errors += 1;
                tracing::error!(error = %format!("{err:#}"), "event not exported");
            }
        }
    }

    /// A line for guard's native stdout only (a hold verdict line; the sinks get the
    /// verdict as an exec event, see `run::verdict_event`).
    pub fn native(&mut self, line: &str) {
        if let Some(out) = &mut self.stdout {
            let _ = out.write_all(line.as_bytes());
            let _ = out.write_all(b"\n");
        }
    }

    /// Flushes stdout and writes the periodic audit checkpoint when it is due; the reader
    /// calls it after every batch and every poll, so an idle host gets checkpoints too.
    pub fn flush(&mut self) {
        if let Some(out) = &mut self.stdout {
            let _ = out.flush();
        }
        if let Some(exp) = &mut self.exporter
            && let Err(err) = exp.checkpoint_if_due()
        {
            self.export_errors += 1;
            tracing::error!(error = %format!("{err:#}"), "audit checkpoint not written");
        }
    }

    /// Views of every sink's counters, for `/metrics`.
    pub fn sink_views(&self) -> Vec<CountersView> {
        self.exporter.as_ref().map(Exporter::counters_views).unwrap_or_default()
    }

    /// Seals the audit log and drains the sinks; logs the final counters.
    pub fn close(mut self) {
        self.flush();
        if let Some(exp) = self.exporter.take() {
            match exp.close() {
                Ok(counters) => {
                    for (sink, c) in counters {
                        tracing::info!(%sink, ?c, "sink closed");
                    }
                }
                Err(err) => tracing::error!(error = %format!("{err:#}"), "closing the exporter"),
            }
        }
        if self.export_errors > 0 {
            tracing::warn!(errors = self.export_errors, "events not exported");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With no event at all, the reader's periodic `flush` writes the checkpoints.
    #[test]
    fn an_idle_output_writes_checkpoints_at_the_interval() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.log");
        let args = OutputArgs { audit_log: Some(log.clone()), checkpoint_interval: Some(1), ..OutputArgs::default() };
        let mut out = Output::start(&args, "p").unwrap();
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(2500) {
            out.flush();
            std::thread::sleep(Duration::from_millis(10));
        }
        out.close();
        let text = std::fs::read_to_string(&log).unwrap();
        let finals: Vec<bool> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["checkpoint"]["final"].as_bool().unwrap())
            .collect();
        assert_eq!(finals, [false, false, true], "two timed checkpoints in 2.5 s, then the final one");
    }
}
