//! The agent's Prometheus metrics and readiness, served by `cli/serve.rs` at `/metrics`
//! and `/healthz` (`run --listen ADDR`). Names and meanings: docs/config.md.
//!
//! [`Metrics`] is an `Arc` (cheap to clone): the reader thread counts events, `run`
//! sets the policy, kernel counters and readiness, and the server encodes everything on
//! each scrape. Values that live elsewhere (the sinks' counters) are read at scrape time.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use guard_common::enforce::{decision, intent};
use guard_export::sink::CountersView;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric as _},
    metrics::{
        counter::{ConstCounter, Counter},
        family::Family,
        gauge::{ConstGauge, Gauge},
        histogram::Histogram,
    },
    registry::{Registry, Unit},
};

/// Labels of `guard_events_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    decision: &'static str,
    class: &'static str,
}

/// Labels of `guard_policy_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabels {
    name: String,
    version: String,
}

/// The class label of an event that matched no class.
pub const NO_CLASS: &str = "none";

/// Classification latency buckets, seconds: the classifier takes tens of µs; a slow shell
/// or SQL parse shows up in the upper ones.
const CLASSIFICATION_BUCKETS: [f64; 13] =
    [0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 1.0];

/// Hold latency buckets, seconds: from a cached verdict to the policy's longest deadline.
const HOLD_BUCKETS: [f64; 14] = [0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Decisions that have their own series from the start.
const DECISIONS: [u8; 4] = [decision::ALLOW, decision::DENY, decision::AUDIT, decision::HOLD];

/// Every metric of the agent, and its readiness.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    events: Family<EventLabels, Counter>,
    /// `events` by `[decision][class]` (class `intent::COUNT` = none), resolved once so
    /// counting an event takes no lock.
    event_counters: Vec<Vec<Counter>>,
    #[allow(dead_code)]
    classification: Histogram,
    #[allow(dead_code)]
    hold: Histogram,
    policy: Family<PolicyLabels, Gauge>,
    policy_name: Mutex<String>,
    live: Arc<Live>,
}

/// Values set from outside and read at scrape time.
#[derive(Debug, Default)]
struct Live {
    kernel_drops: AtomicU64,
    decode_errors: AtomicU64,
    attached: AtomicBool,
    policy_loaded: AtomicBool,
    sinks: Mutex<Vec<CountersView>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("live", &self.inner.live).finish_non_exhaustive()
    }
}

/// The agent's metrics, one per process: `run` serves them, and the code that installs a
/// policy (`cli/enforcer.rs`, at start and on every reload) reports the version here.
pub fn global() -> Metrics {
    static GLOBAL: std::sync::OnceLock<Metrics> = std::sync::OnceLock::new();
    GLOBAL.get_or_init(Metrics::new).clone()
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("guard");
        let events = Family::<EventLabels, Counter>::default();
        registry.register("events", "Exec events read from the kernel, by decision and intent class", events.clone());
        let event_counters = DECISIONS
            .iter()
            .map(|&d| {
                (0..=intent::COUNT)
                    .map(|c| events.get_or_create(&EventLabels { decision: decision::name(d), class: class_name(c as u8) }).clone())
                    .collect()
            })
            .collect();
        let classification = Histogram::new(CLASSIFICATION_BUCKETS);
        registry.register_with_unit(
            "classification_duration",
            "Time the intent classifier took for one command",
            Unit::Seconds,
            classification.clone(),
        );
        let hold = Histogram::new(HOLD_BUCKETS);
        registry.register_with_unit("hold_duration", "Time a held exec waited for its verdict", Unit::Seconds, hold.clone());
        let policy = Family::<PolicyLabels, Gauge>::default();
        registry.register("policy_info", "The policy in force (value 1): its name and version hash", policy.clone());
        let live = Arc::new(Live::default());
        registry.register_collector(Box::new(LiveCollector(live.clone())));
        Self {
            inner: Arc::new(Inner { registry, events, event_counters, classification, hold, policy, policy_name: Mutex::default(), live }),
        }
    }

    /// Counts one event by its ABI decision and class codes (`ExecEvent::decision`,
    /// `ExecEvent::class`).
    pub fn event(&self, decision: u8, class: u8) {
        let c = if (class as usize) < intent::COUNT { class as usize } else { intent::COUNT };
        match DECISIONS.iter().position(|&d| d == decision) {
            Some(d) => {
                self.inner.event_counters[d][c].inc();
            }
            None => {
                let labels = EventLabels { decision: decision::name(decision), class: class_name(class) };
                self.inner.events.get_or_create(&labels).inc();
            }
        }
    }

    /// One classification took `d`.
    // Fed by the agent-side judgement of held execs (strict mode), being written.
    #[allow(dead_code)]
    pub fn observe_classification(&self, d: Duration) {
        self.inner.classification.observe(d.as_secs_f64());
    }

    /// One held exec waited `d` for its verdict.
    #[allow(dead_code)]
    pub fn observe_hold(&self, d: Duration) {
        self.inner.hold.observe(d.as_secs_f64());
    }

    /// The policy now in force; also marks the policy as loaded.
    pub fn set_policy(&self, name: &str, version: &str) {
        let mut current = self.inner.policy_name.lock().unwrap_or_else(|e| e.into_inner());
        name.clone_into(&mut current);
        self.inner.policy.clear();
        self.inner.policy.get_or_create(&PolicyLabels { name: name.to_owned(), version: version.to_owned() }).set(1);
        drop(current);
        self.set_policy_loaded(true);
    }

    /// The version hash of the policy in force (keeping the name last set).
    #[allow(dead_code)]
    pub fn set_policy_version(&self, version: &str) {
        let name = self.inner.policy_name.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.set_policy(&name, version);
    }

    /// The kernel's `RINGBUF_DROPPED` total (events lost because the ring buffer was full).
    pub fn set_kernel_drops(&self, total: u64) {
        self.inner.live.kernel_drops.store(total, Ordering::Relaxed);
    }

    /// One record the agent could not decode.
    pub fn decode_error(&self) {
        self.inner.live.decode_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The sinks whose counters `/metrics` reports.
    pub fn watch_sinks(&self, views: Vec<CountersView>) {
        *self.inner.live.sinks.lock().unwrap_or_else(|e| e.into_inner()) = views;
    }

    /// Whether the programs are attached.
    pub fn set_attached(&self, on: bool) {
        self.inner.live.attached.store(on, Ordering::Release);
    }

    /// Whether a policy is loaded into the maps.
    pub fn set_policy_loaded(&self, on: bool) {
        self.inner.live.policy_loaded.store(on, Ordering::Release);
    }

    /// Ready: programs attached and a policy loaded (`/healthz` answers 200).
    pub fn ready(&self) -> bool {
        let l = &self.inner.live;
        l.attached.load(Ordering::Acquire) && l.policy_loaded.load(Ordering::Acquire)
    }

    /// Everything in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(err) = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry) {
            tracing::warn!(%err, "encoding metrics");
        }
        out
    }
}

fn class_name(class: u8) -> &'static str {
    intent::NAMES.get(class as usize).copied().unwrap_or(NO_CLASS)
}

/// Encodes [`Live`] on each scrape.
#[derive(Debug)]
struct LiveCollector(Arc<Live>);

impl Collector for LiveCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let l = &self.0;
        let counter = |encoder: &mut DescriptorEncoder, name: &str, help: &str, v: u64| -> Result<(), std::fmt::Error> {
            let c = ConstCounter::new(v);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)
        };
        counter(
            &mut encoder,
            "kernel_ringbuf_dropped",
            "Events the kernel could not queue because the ring buffer was full",
            l.kernel_drops.load(Ordering::Relaxed),
        )?;
        counter(&mut encoder, "decode_errors", "Ring-buffer records the agent could not decode", l.decode_errors.load(Ordering::Relaxed))?;
        let ready = i64::from(l.attached.load(Ordering::Acquire) && l.policy_loaded.load(Ordering::Acquire));
        let g = ConstGauge::new(ready);
        g.encode(encoder.encode_descriptor("ready", "1 when the programs are attached and a policy is loaded", None, g.metric_type())?)?;

        let sinks: Vec<(String, guard_export::sink::Counters)> = {
            let views = l.sinks.lock().unwrap_or_else(|e| e.into_inner());
            views.iter().map(|v| (v.name().to_owned(), v.read())).collect()
        };
        type Field = fn(&guard_export::sink::Counters) -> u64;
        let counters: [(&str, &str, Field); 5] = [
            ("sink_sent", "Events a sink's destination accepted", |c| c.sent),
            ("sink_retried", "Event sends that failed and were retried (per attempt)", |c| c.retried),
            ("sink_spooled", "Events written to a sink's disk spool", |c| c.spooled),
            ("sink_dropped", "Events a sink lost (spool full or unwritable)", |c| c.dropped),
            ("sink_rejected", "Events a sink's destination refused for good", |c| c.rejected),
        ];
        for (name, help, field) in counters {
            let mut desc = encoder.encode_descriptor(name, help, None, prometheus_client::metrics::MetricType::Counter)?;
            for (sink, c) in &sinks {
                let labels = [("sink", sink.as_str())];
                ConstCounter::new(field(c)).encode(desc.encode_family(&labels)?)?;
            }
        }
        let mut desc = encoder.encode_descriptor(
            "sink_pending",
            "A sink's lag: events queued in memory or spooled on disk, not yet delivered",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        for (sink, c) in &sinks {
            let labels = [("sink", sink.as_str())];
            ConstGauge::new(i64::try_from(c.pending).unwrap_or(i64::MAX)).encode(desc.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line starting with `prefix` (name and labels).
    fn sample(text: &str, prefix: &str) -> Option<f64> {
        text.lines().find(|l| l.starts_with(prefix) && l[prefix.len()..].starts_with(' ')).and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    #[test]
    fn events_by_decision_and_class() {
        let m = Metrics::new();
        m.event(decision::DENY, intent::BULK_DELETE);
        m.event(decision::DENY, intent::BULK_DELETE);
        m.event(decision::ALLOW, intent::NONE);
        m.event(decision::AUDIT, intent::DISK_WIPE);
        m.event(9, intent::NONE);
        let t = m.clone().encode();
        assert_eq!(sample(&t, r#"guard_events_total{decision="deny",class="bulk_delete"}"#), Some(2.0), "{t}");
        assert_eq!(sample(&t, r#"guard_events_total{decision="allow",class="none"}"#), Some(1.0));
        assert_eq!(sample(&t, r#"guard_events_total{decision="audit",class="disk_wipe"}"#), Some(1.0));
        assert_eq!(sample(&t, r#"guard_events_total{decision="unknown",class="none"}"#), Some(1.0));
        assert_eq!(sample(&t, r#"guard_events_total{decision="allow",class="bulk_delete"}"#), Some(0.0), "series exist from the start");
        assert!(t.contains("# TYPE guard_events counter"), "{t}");
        assert!(t.ends_with("# EOF\n"));
    }

    #[test]
    fn histograms_policy_kernel_and_readiness() {
        let m = Metrics::new();
        m.observe_classification(Duration::from_micros(30));
        m.observe_hold(Duration::from_millis(300));
        m.observe_hold(Duration::from_millis(3));
        m.set_kernel_drops(7);
        assert!(!m.ready());
        m.set_policy("prod", "abc123");
        assert!(!m.ready(), "a policy but nothing attached");
        m.set_attached(true);
        assert!(m.ready());
        m.set_policy_version("def456");
        let t = m.encode();
        assert_eq!(sample(&t, "guard_classification_duration_seconds_count"), Some(1.0), "{t}");
        assert_eq!(sample(&t, r#"guard_classification_duration_seconds_bucket{le="0.00005"}"#), Some(1.0), "{t}");
        assert_eq!(sample(&t, r#"guard_classification_duration_seconds_bucket{le="0.000025"}"#), Some(0.0), "{t}");
        assert_eq!(sample(&t, "guard_hold_duration_seconds_count"), Some(2.0));
        assert_eq!(sample(&t, r#"guard_hold_duration_seconds_bucket{le="0.005"}"#), Some(1.0), "{t}");
        assert_eq!(sample(&t, r#"guard_hold_duration_seconds_bucket{le="0.25"}"#), Some(1.0), "{t}");
        assert_eq!(sample(&t, r#"guard_hold_duration_seconds_bucket{le="0.5"}"#), Some(2.0), "{t}");
        assert!(t.contains("# UNIT guard_hold_duration_seconds seconds"), "{t}");
        assert_eq!(sample(&t, r#"guard_policy_info{name="prod",version="def456"}"#), Some(1.0), "{t}");
        assert!(!t.contains("abc123"), "the old version is gone: {t}");
        assert_eq!(sample(&t, "guard_kernel_ringbuf_dropped_total"), Some(7.0), "{t}");
        assert_eq!(sample(&t, "guard_ready"), Some(1.0));
        m.set_attached(false);
        assert!(!m.ready());
        assert_eq!(sample(&m.encode(), "guard_ready"), Some(0.0));
    }

    #[test]
    fn sink_counters_are_read_at_scrape_time() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("events.json");
        let cfg = guard_export::ExporterConfig {
            sinks: vec![format!("file://{}", out.display())],
            delivery: guard_export::sink::DeliveryOptions { spool_dir: dir.path().join("spool"), ..Default::default() },
            ..Default::default()
        };
        let exp = guard_export::Exporter::start(&cfg).unwrap();
        let m = Metrics::new();
        m.watch_sinks(exp.counters_views());
        let name = exp.counters_views()[0].name().to_owned();
        let t = m.encode();
        assert_eq!(sample(&t, &format!(r#"guard_sink_sent_total{{sink="{name}"}}"#)), Some(0.0), "{t}");
        assert_eq!(sample(&t, &format!(r#"guard_sink_pending{{sink="{name}"}}"#)), Some(0.0), "{t}");
        for name in ["sink_retried", "sink_spooled", "sink_dropped", "sink_rejected"] {
            assert!(t.contains(&format!("# TYPE guard_{name} counter")), "{name}: {t}");
        }
        exp.close().unwrap();
    }
}
