//! [`Exporter`]: the one object the agent needs. It redacts each event once, appends it
//! to the audit log (when configured) and queues it on every sink; `close` seals the log
//! and drains the sinks.
//!
//! ```no_run
//! # use guard_export::{Exporter, ExporterConfig, parse_event_line};
//! # let line = std::io::stdin().lines().next().unwrap().unwrap();
//! let cfg = ExporterConfig { sinks: vec!["syslog+tcp://127.0.0.1:514".into()], ..Default::default() };
//! let mut exp = Exporter::start(&cfg).unwrap();
//! let event = parse_event_line(&line, "production").unwrap(); // a `guard-agent run` line
//! exp.export(event).unwrap();
//! for (name, c) in exp.counters() { println!("{name}: {c:?}"); }
//! exp.close().unwrap();
//! ```

use std::path::PathBuf;

use crate::audit::{AuditError, AuditLog, AuditOptions, load_or_create_key};
use crate::event::ExecEvent;
use crate::redact::{RedactError, Redactor};
use crate::sink::{Counters, CountersView, DeliveryOptions, SinkError, SinkHandle, start_sinks};

/// Everything [`Exporter::start`] needs (the agent fills it from flags and its config).
#[derive(Debug, Clone, Default)]
pub struct ExporterConfig {
    /// `--sink URL` values; empty means stdout (unless `no_default_sink`).
    pub sinks: Vec<String>,
    /// With no sink given, start none (the caller writes stdout itself, e.g. the agent's
    /// native JSON lines while only the audit log goes through the exporter).
    pub no_default_sink: bool,
    /// Queue, spool and retry settings shared by the sinks.
    pub delivery: DeliveryOptions,
    /// Extra redaction patterns.
    pub redact: Vec<String>,
    /// `--audit-log PATH`.
    pub audit_log: Option<PathBuf>,
    /// Private key file of the audit log (created 0600 on first use).
    pub audit_key: Option<PathBuf>,
    /// Checkpoint cadence.
    pub audit: AuditOptions,
}

/// Errors of [`Exporter`].
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A redaction pattern is invalid.
    #[error(transparent)]
    Redact(#[from] RedactError),
    /// A sink could not be configured or started.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The audit log failed.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// Redaction, audit log and sinks together.
#[derive(Debug)]
pub struct Exporter {
    redactor: Redactor,
    sinks: Vec<SinkHandle>,
    audit: Option<AuditLog>,
}

impl Exporter {
    /// Compiles the redaction rules, opens the audit log (key at `audit_key`, default
    /// `<audit_log>.key`) and starts the sinks.
    pub fn start(cfg: &ExporterConfig) -> Result<Self, ExportError> {
        let redactor = Redactor::new(&cfg.redact)?;
        let audit = match &cfg.audit_log {
            Some(path) => {
                let key_path = cfg.audit_key.clone().unwrap_or_else(|| {
                    let mut p = path.clone().into_os_string();
                    p.push(".key");
                    p.into()
                });
                let key = load_or_create_key(&key_path)?;
                Some(AuditLog::open(path, key, cfg.audit)?)
            }
            None => None,
        };
        let sinks = if cfg.sinks.is_empty() && cfg.no_default_sink { Vec::new() } else { start_sinks(&cfg.sinks, &cfg.delivery)? };
        Ok(Self { redactor, sinks, audit })
    }

    /// Redacts `event`, appends it to the audit log and queues it on every sink. Only an
    /// audit-log write error is returned; sinks never block or fail here.
    pub fn export(&mut self, event: ExecEvent) -> Result<(), ExportError> {
        let r = self.redactor.apply(event);
        if let Some(log) = &mut self.audit {
            log.append(&r)?;
        }
        for s in &self.sinks {
            s.submit(&r);
        }
        Ok(())
    }

    /// Counters per sink name.
    pub fn counters(&self) -> Vec<(String, Counters)> {
        self.sinks.iter().map(|s| (s.name().to_string(), s.counters())).collect()
    }

    /// Handles that read every sink's counters from another thread while the exporter
    /// runs (a metrics endpoint); they stay readable after [`Exporter::close`].
    pub fn counters_views(&self) -> Vec<CountersView> {
        self.sinks.iter().map(SinkHandle::view).collect()
    }

    /// Writes a periodic audit checkpoint now (for a timer).
    pub fn checkpoint(&mut self) -> Result<(), ExportError> {
        if let Some(log) = &mut self.audit {
            log.checkpoint()?;
        }
        Ok(())
    }

    /// Writes an audit checkpoint when `audit.every` has passed since the last one, even
    /// if no event came in since (call it often from a timer: an idle host still gets
    /// signed checkpoints at that period). Returns whether one was written.
    pub fn checkpoint_if_due(&mut self) -> Result<bool, ExportError> {
        match &mut self.audit {
            Some(log) if log.checkpoint_due() => {
                log.checkpoint()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Seals the audit log with its final checkpoint and drains the sinks (what cannot be
    /// delivered within their shutdown timeout is spooled). Returns the final counters.
    pub fn close(self) -> Result<Vec<(String, Counters)>, ExportError> {
        let counters = self.sinks.into_iter().map(|s| (s.name().to_string(), s.close())).collect();
        if let Some(log) = self.audit {
            log.close()?;
        }
        Ok(counters)
    }
}
