//! guard-export: everything that leaves the agent.
//!
//! An [`ExecEvent`] is redacted by a [`Redactor`] into a [`Redacted`] event, the only
//! input the mappings accept: [`to_ocsf`] (OCSF 1.8.0 Process Activity, the native
//! format), [`to_ecs`] / [`to_bulk_lines`] (ECS 9 for Elastic `_bulk`) and [`to_hec`]
//! (Splunk HEC envelope). [`audit`] is the signed, hash-chained audit log;
//! [`sink`] delivers events (stdout, file, syslog, HEC, `_bulk`, webhook, Kafka) with
//! queues, spool and retries. [`Exporter`] ties them together for the agent.

pub mod audit;
pub mod ecs;
pub mod event;
pub mod exporter;
pub mod hec;
pub mod line;
pub mod ocsf;
pub mod redact;
pub mod sink;

pub use ecs::{to_bulk_lines, to_ecs};
pub use event::{Decision, EnforcedBy, ExecEvent};
pub use exporter::{ExportError, Exporter, ExporterConfig};
pub use hec::{HecOptions, to_hec};
pub use line::{LineError, parse_event_line};
pub use ocsf::to_ocsf;
pub use redact::{Redacted, RedactError, Redactor};
