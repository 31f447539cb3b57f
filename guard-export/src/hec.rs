//! Splunk HTTP Event Collector envelope around the OCSF event (see `docs/events.md`).

use serde_json::{Value, json};

use crate::ocsf::to_ocsf;
use crate::redact::Redacted;

/// Envelope metadata for HEC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HecOptions {
    /// `source` (default `guard`).
    pub source: String,
    /// `sourcetype` (default `ocsf:process_activity`).
    pub sourcetype: String,
    /// `index`; omitted when `None` so the token's default index applies.
    pub index: Option<String>,
}

impl Default for HecOptions {
    fn default() -> Self {
        Self { source: "guard".into(), sourcetype: "ocsf:process_activity".into(), index: None }
    }
}

/// The HEC `/services/collector/event` envelope: `time` in epoch seconds with
/// millisecond precision, `host`, `source`, `sourcetype`, optional `index`, the OCSF
/// object as `event`.
pub fn to_hec(r: &Redacted, opts: &HecOptions) -> Value {
    let ev = r.event();
    let ms = ev.time.as_millisecond();
    let mut v = json!({
        "time": (ms as f64) / 1000.0,
        "host": ev.host,
        "source": opts.source,
        "sourcetype": opts.sourcetype,
        "event": to_ocsf(r),
    });
    if let Some(i) = &opts.index {
        v["index"] = json!(i);
    }
    v
}
