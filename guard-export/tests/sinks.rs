//! Sink URLs, syslog formatting and framing, file rotation, and delivery: order, retries,
//! spool and the drop counter.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use guard_export::sink::{self, DeliveryOptions, Sink, SinkConfig, SinkError, SinkHandle, Transport};

#[test]
fn sink_urls_parse_into_configs() {
    assert_eq!(SinkConfig::parse("stdout").unwrap(), SinkConfig::Stdout);
    assert_eq!(
        SinkConfig::parse("file:///var/log/guard.json?max_bytes=1000&keep=3").unwrap(),
        SinkConfig::File { path: "/var/log/guard.json".into(), max_bytes: 1000, keep: 3 }
    );
    let SinkConfig::Syslog(c) = SinkConfig::parse("syslog+tcp://logs.example:1514?facility=local3").unwrap() else { panic!() };
    assert_eq!((c.transport, c.host.as_str(), c.port, c.facility), (Transport::Tcp, "logs.example", 1514, 19));
    let SinkConfig::Syslog(c) = SinkConfig::parse("syslog+udp://10.0.0.1").unwrap() else { panic!() };
    assert_eq!((c.transport, c.port, c.facility), (Transport::Udp, 514, 10));
    let SinkConfig::Syslog(c) = SinkConfig::parse("syslog+tls://[::1]?ca=/etc/ca.pem").unwrap() else { panic!() };
    assert_eq!((c.transport, c.host.as_str(), c.port, c.ca.as_deref()), (Transport::Tls, "::1", 6514, Some(std::path::Path::new("/etc/ca.pem"))));
    let SinkConfig::Http(c) = SinkConfig::parse("hec+https://splunk:8088?index=sec").unwrap() else { panic!() };
    assert_eq!((c.kind, c.endpoint.as_str(), c.token_env.as_deref()), (sink::HttpKind::Hec, "https://splunk:8088/services/collector/event", Some("GUARD_HEC_TOKEN")));
    assert_eq!(c.hec.index.as_deref(), Some("sec"));
    let SinkConfig::Http(c) = SinkConfig::parse("elastic+https://es:9200/prefix?index=x&token_env=K").unwrap() else { panic!() };
    assert_eq!((c.kind, c.endpoint.as_str(), c.index.as_str()), (sink::HttpKind::Elastic, "https://es:9200/prefix/_bulk", "x"));
    let SinkConfig::Http(c) = SinkConfig::parse("webhook+https://h/in/guard").unwrap() else { panic!() };
    assert_eq!((c.kind, c.endpoint.as_str(), c.token_env), (sink::HttpKind::Webhook, "https://h/in/guard", None));
    let SinkConfig::Kafka(c) = SinkConfig::parse("kafka://k1:9093,k2/guard-exec").unwrap() else { panic!() };
    assert_eq!((c.brokers, c.topic.as_str(), c.partition), (vec!["k1:9093".to_string(), "k2:9092".to_string()], "guard-exec", 0));
    for bad in ["syslog+tls://h", "file://relative", "ftp://x", "syslog+tcp://h:99999", "syslog+tcp://h?facility=nope", "syslog+tcp://h?bogus=1", "kafka://h:9092", "elastic+https://", "mqtt://h"] {
        let e = SinkConfig::parse(bad).unwrap_err();
        assert!(e.to_string().contains(bad), "{bad}: {e}");
    }
}

#[test]
fn rfc5424_message_and_octet_counting_frame() {
    let ev = br#"{"time":1795622400123,"severity_id":4,"device":{"hostname":"web 1"},"metadata":{"uid":"abc"},"unmapped":{"decision":"deny","class":"bulk_delete"},"policy":{"uid":"r\"]x"}}"#;
    let msg = sink::format_5424(ev, 10, "guard");
    let text = String::from_utf8(msg.clone()).unwrap();
    let pid = std::process::id();
    let expected_head = format!(
        "<84>1 2026-11-25T16:00:00.123Z web1 guard {pid} exec [guard@32473 id=\"abc\" decision=\"deny\" class=\"bulk_delete\" rule=\"r\\\"\\]x\"] {{"
    );
    assert!(text.starts_with(&expected_head), "{text}\n{expected_head}");
    assert!(text.ends_with(std::str::from_utf8(ev).unwrap()));
    let frame = sink::frame_octet_counted(&msg);
    let (len, rest) = std::str::from_utf8(&frame).unwrap().split_once(' ').unwrap();
    assert_eq!(len.parse::<usize>().unwrap(), rest.len());
}

#[test]
fn file_sink_rotates_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.json");
    let cfg = SinkConfig::parse(&format!("file://{}?max_bytes=100&keep=2", path.display())).unwrap();
    let mut s = cfg.build().unwrap();
    let lines: Vec<Vec<u8>> = (0..10).map(|i| format!("{{\"n\":{i:020}}}").into_bytes()).collect(); // 27 bytes + \n
    s.send(&lines).unwrap();
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
    // 3 lines (84 bytes) per file; 10 lines: .2 lost (oldest, keep=2), .1 and current.
    assert_eq!(read(&path).lines().count(), 1);
    assert_eq!(read(&dir.path().join("events.json.1")).lines().count(), 3);
    assert_eq!(read(&dir.path().join("events.json.2")).lines().count(), 3);
    assert!(!dir.path().join("events.json.3").exists());
    assert!(read(&path).contains("00000000000000000009"));
    assert!(std::fs::metadata(dir.path().join("events.json.1")).unwrap().len() <= 100);
}

/// A sink that collects what it is sent and can be switched down.
#[derive(Clone)]
struct Collect {
    got: Arc<Mutex<Vec<Vec<u8>>>>,
    down: Arc<AtomicBool>,
}

impl Sink for Collect {
    fn name(&self) -> String {
        "collect".into()
    }
    fn send(&mut self, batch: &[Vec<u8>]) -> Result<(), SinkError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(SinkError::Send("down".into()));
        }
        self.got.lock().unwrap().extend(batch.iter().cloned());
        Ok(())
    }
}

fn collect(down: bool) -> Collect {
    Collect { got: Arc::default(), down: Arc::new(AtomicBool::new(down)) }
}

fn opts(dir: &std::path::Path, queue: usize, spool_max: u64) -> DeliveryOptions {
    DeliveryOptions {
        queue_capacity: queue,
        batch_max: 7,
        spool_dir: dir.to_path_buf(),
        spool_max_bytes: spool_max,
        backoff_min: Duration::from_millis(5),
        backoff_max: Duration::from_millis(40),
        shutdown_timeout: Duration::from_millis(300),
    }
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

fn item(i: u32) -> Vec<u8> {
    format!("event-{i:06}").into_bytes() // 12 bytes, 16 in the spool
}

#[test]
fn outage_is_bridged_by_memory_and_spool_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let sink = collect(true);
    let h = SinkHandle::spawn(Box::new(sink.clone()), opts(dir.path(), 20, 1 << 20)).unwrap();
    for i in 0..500 {
        h.submit_encoded(item(i));
    }
    let c = h.counters();
    assert_eq!((c.sent, c.dropped, c.spooled, c.pending), (0, 0, 480, 500));
    assert!(wait_until(Duration::from_secs(5), || h.counters().retried > 0));
    sink.down.store(false, Ordering::SeqCst);
    for i in 500..600 {
        h.submit_encoded(item(i));
    }
    assert!(wait_until(Duration::from_secs(20), || h.counters().sent == 600), "{:?}", h.counters());
    let c = h.close();
    assert_eq!((c.dropped, c.pending), (0, 0));
    let got = sink.got.lock().unwrap().clone();
    assert_eq!(got, (0..600).map(item).collect::<Vec<_>>(), "every event once, in order");
}

#[test]
fn full_spool_drops_are_counted_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let down = collect(true);
    // Memory 10, spool 10 records (160 bytes).
    let h = SinkHandle::spawn(Box::new(down.clone()), opts(dir.path(), 10, 160)).unwrap();
    for i in 0..100 {
        h.submit_encoded(item(i));
    }
    let c = h.counters();
    assert_eq!((c.spooled, c.dropped), (10, 80));
    let c = h.close(); // the sink stays down: memory goes to the full spool, so is dropped
    assert_eq!(c.sent, 0);
    // Restart with the sink up: the spool is delivered first.
    let up = collect(false);
    let h = SinkHandle::spawn(Box::new(up.clone()), opts(dir.path(), 10, 160)).unwrap();
    assert!(wait_until(Duration::from_secs(10), || h.counters().pending == 0));
    h.close();
    let got = up.got.lock().unwrap().clone();
    assert_eq!(c.dropped, 100 - got.len() as u64, "dropped equals what was lost");
    assert_eq!(got.len(), 10);
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(got, sorted, "spooled events are delivered in order");
}
