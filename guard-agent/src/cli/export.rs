//! Where events go: guard's native JSON lines on stdout by default, or through
//! guard-export (OCSF/ECS/HEC to the `--sink` URLs, and the hash-chained audit log).

use std::{
    io::{BufWriter, Stdout, Write as _},
    path::PathBuf,
};

use guard_export::{Exporter, ExporterConfig, parse_event_line};

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
}

/// The reader's output.
pub struct Output {
    stdout: Option<BufWriter<Stdout>>,
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
            Some(Exporter::start(&ExporterConfig {
                sinks: args.sinks.clone(),
                no_default_sink: true,
                redact: args.redact.clone(),
                audit_log: args.audit_log.clone(),
                audit_key: args.audit_key.clone(),
                ..ExporterConfig::default()
            })?)
        };
        Ok(Self {
            stdout: native.then(|| BufWriter::with_capacity(1 << 16, std::io::stdout())),
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
        if let Some(exp) = &mut self.exporter {
            let result = parse_event_line(line, &self.policy_name).map_err(anyhow::Error::from).and_then(|e| Ok(exp.export(e)?));
            if let Err(err) = result {
                self.export_errors += 1;
                tracing::error!(error = %format!("{err:#}"), "event not exported");
            }
        }
    }

    /// A line for guard's native stdout only (a hold verdict): the sinks get the exec
    /// events, which carry the decision.
    pub fn native(&mut self, line: &str) {
        if let Some(out) = &mut self.stdout {
            let _ = out.write_all(line.as_bytes());
            let _ = out.write_all(b"\n");
        }
    }

    pub fn flush(&mut self) {
        if let Some(out) = &mut self.stdout {
            let _ = out.flush();
        }
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
