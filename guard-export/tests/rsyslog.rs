//! Syslog sinks against a real rsyslog (Debian's `rsyslogd`, started here on a loopback
//! port with its own configuration): TCP and TLS events arrive framed and parseable, UDP
//! events arrive, and stopping rsyslog during a burst loses nothing.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use guard_export::sink::{DeliveryOptions, SinkConfig, SinkHandle};
use guard_export::{Decision, ExecEvent, Redactor};

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

struct Rsyslog {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    tls: bool,
    udp: bool,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Rsyslog {
    fn new(dir: &Path, tls: bool, udp: bool) -> Self {
        assert!(Path::new(RSYSLOGD).exists(), "rsyslogd missing: apt-get install rsyslog rsyslog-gnutls");
        let port = if udp { std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port() } else { free_port() };
        let mut r = Self { dir: dir.to_path_buf(), port, child: None, tls, udp };
        r.start();
        r
    }

    fn out(&self) -> PathBuf {
        self.dir.join("out.log")
    }

    fn start(&mut self) {
        let d = self.dir.display();
        let tls_global = if self.tls {
            format!(
                " DefaultNetstreamDriver=\"gtls\" DefaultNetstreamDriverCAFile=\"{d}/ca.pem\" DefaultNetstreamDriverCertFile=\"{d}/server.pem\" DefaultNetstreamDriverKeyFile=\"{d}/server.key\""
            )
        } else {
            String::new()
        };
        let input = if self.udp {
            format!("module(load=\"imudp\")\ninput(type=\"imudp\" address=\"127.0.0.1\" port=\"{}\")", self.port)
        } else if self.tls {
            format!(
                "module(load=\"imtcp\" StreamDriver.Name=\"gtls\" StreamDriver.Mode=\"1\" StreamDriver.AuthMode=\"anon\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{}\")",
                self.port
            )
        } else {
            format!("module(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{}\")", self.port)
        };
        let conf = format!(
            "global(workDirectory=\"{d}\" maxMessageSize=\"64k\"{tls_global})\n{input}\n\
             if $app-name == \"guard\" then action(type=\"omfile\" file=\"{d}/out.log\" template=\"RSYSLOG_SyslogProtocol23Format\")\n"
        );
        std::fs::write(self.dir.join("rsyslog.conf"), conf).unwrap();
        let child = Command::new(RSYSLOGD)
            .args(["-n", "-f"])
            .arg(self.dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(self.dir.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.child = Some(child);
        if !self.udp {
            let end = Instant::now() + Duration::from_secs(15);
            while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                assert!(Instant::now() < end, "rsyslogd did not listen on {}", self.port);
                std::thread::sleep(Duration::from_millis(50));
            }
        } else {
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// SIGTERM and wait (rsyslog flushes its queue and closes connections).
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let end = Instant::now() + Duration::from_secs(10);
            while c.try_wait().unwrap().is_none() {
                if Instant::now() > end {
                    let _ = c.kill();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.wait();
        }
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A received line of `RSYSLOG_SyslogProtocol23Format`, checked field by field.
struct Received {
    id: String,
    json: serde_json::Value,
}

fn parse_line(line: &str) -> Received {
    let (pri, rest) = line.strip_prefix('<').and_then(|l| l.split_once(">1 ")).unwrap_or_else(|| panic!("no PRI: {line}"));
    let pri: u16 = pri.parse().unwrap();
    assert_eq!(pri / 8, 10, "facility authpriv: {line}");
    let f: Vec<&str> = rest.splitn(6, ' ').collect();
    let (ts, host, app, _procid, msgid, sd_msg) = (f[0], f[1], f[2], f[3], f[4], f[5]);
    let t: jiff::Timestamp = ts.parse().unwrap_or_else(|e| panic!("timestamp {ts}: {e}"));
    assert_eq!(t.as_millisecond(), 1_795_622_400_123, "the event's time, not the receiver's");
    assert_eq!((host, app, msgid), ("web-1", "guard", "exec"), "{line}");
    let sd_end = sd_msg.find("] ").unwrap_or_else(|| panic!("no SD: {line}"));
    let sd = &sd_msg[..=sd_end];
    assert!(sd.starts_with("[guard@32473 id=\""), "{sd}");
    let id = sd["[guard@32473 id=\"".len()..].split('"').next().unwrap().to_string();
    let json: serde_json::Value = serde_json::from_str(&sd_msg[sd_end + 2..]).unwrap_or_else(|e| panic!("MSG not JSON ({e}): {line}"));
    assert_eq!(json["metadata"]["uid"], id.as_str());
    Received { id, json }
}

fn received(path: &Path) -> Vec<Received> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(parse_line).collect()
}

fn delivery(dir: &Path) -> DeliveryOptions {
    DeliveryOptions {
        queue_capacity: 256,
        batch_max: 64,
        spool_dir: dir.join("spool"),
        spool_max_bytes: 64 << 20,
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        shutdown_timeout: Duration::from_secs(5),
    }
}

fn event(red: &Redactor, i: u32) -> (String, guard_export::Redacted) {
    let mut e = common::sample(if i % 5 == 0 { Decision::Deny } else { Decision::Allow });
    e.id = ExecEvent::new_id();
    e.pid = i;
    (e.id.to_string(), red.apply(e))
}

/// Waits until every id is in the output (bounded) and returns the received lines.
fn wait_for_all(path: &Path, ids: &BTreeSet<String>) -> Vec<Received> {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let got = received(path);
        let have: BTreeSet<_> = got.iter().map(|r| r.id.clone()).collect();
        if ids.is_subset(&have) || Instant::now() > end {
            return got;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn check_all_arrived(got: &[Received], ids: &BTreeSet<String>) {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for r in got {
        *count.entry(r.id.as_str()).or_default() += 1;
    }
    let missing: Vec<_> = ids.iter().filter(|i| !count.contains_key(i.as_str())).collect();
    assert!(missing.is_empty(), "{} of {} events missing, e.g. {:?}", missing.len(), ids.len(), &missing[..missing.len().min(3)]);
    let unknown = count.keys().filter(|k| !ids.contains(**k)).count();
    assert_eq!(unknown, 0, "events nobody sent");
}

fn send_and_check(url: &str, dir: &Path, out: &Path, n: u32) {
    let red = Redactor::new::<&str>(&[]).unwrap();
    let h = SinkHandle::spawn(SinkConfig::parse(url).unwrap().build().unwrap(), delivery(dir)).unwrap();
    let mut ids = BTreeSet::new();
    for i in 0..n {
        let (id, ev) = event(&red, i);
        ids.insert(id);
        h.submit(&ev);
    }
    let c = h.close();
    assert_eq!((c.sent, c.dropped, c.pending), (u64::from(n), 0, 0), "{c:?}");
    let got = wait_for_all(out, &ids);
    check_all_arrived(&got, &ids);
    assert_eq!(got.len(), n as usize, "no duplicates without an outage");
    let deny = got.iter().find(|r| r.json["unmapped"]["decision"] == "deny").expect("a deny");
    assert_eq!(deny.json["disposition_id"], 2);
}

#[test]
fn tcp_events_arrive_framed_and_parseable() {
    let dir = tempfile::tempdir().unwrap();
    let r = Rsyslog::new(dir.path(), false, false);
    send_and_check(&format!("syslog+tcp://127.0.0.1:{}", r.port), dir.path(), &r.out(), 300);
}

#[test]
fn udp_events_arrive_parseable() {
    let dir = tempfile::tempdir().unwrap();
    let r = Rsyslog::new(dir.path(), false, true);
    // UDP has no flow control; a small, paced batch on loopback.
    send_and_check(&format!("syslog+udp://127.0.0.1:{}", r.port), dir.path(), &r.out(), 20);
}

fn make_certs(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    run(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=guard test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    run(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n").unwrap();
    run(&["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf"]);
}

#[test]
fn tls_events_arrive_framed_and_parseable() {
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path());
    let r = Rsyslog::new(dir.path(), true, false);
    let ca = dir.path().join("ca.pem");
    send_and_check(&format!("syslog+tls://127.0.0.1:{}?ca={}", r.port, ca.display()), dir.path(), &r.out(), 300);
}

#[test]
fn tls_refuses_a_server_outside_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path());
    let r = Rsyslog::new(dir.path(), true, false);
    let other = tempfile::tempdir().unwrap();
    make_certs(other.path());
    let url = format!("syslog+tls://127.0.0.1:{}?ca={}", r.port, other.path().join("ca.pem").display());
    let mut sink = SinkConfig::parse(&url).unwrap().build().unwrap();
    let err = sink.send(&[b"{}".to_vec()]).unwrap_err();
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
}

fn outage(tls: bool) {
    let dir = tempfile::tempdir().unwrap();
    if tls {
        make_certs(dir.path());
    }
    let mut r = Rsyslog::new(dir.path(), tls, false);
    let url = if tls {
        format!("syslog+tls://127.0.0.1:{}?ca={}", r.port, dir.path().join("ca.pem").display())
    } else {
        format!("syslog+tcp://127.0.0.1:{}", r.port)
    };
    let red = Redactor::new::<&str>(&[]).unwrap();
    let h = SinkHandle::spawn(SinkConfig::parse(&url).unwrap().build().unwrap(), delivery(dir.path())).unwrap();
    let mut ids = BTreeSet::new();
    for i in 0..3000u32 {
        if i == 1000 {
            r.stop();
        }
        if i == 2000 {
            r.start();
        }
        let (id, ev) = event(&red, i);
        ids.insert(id);
        h.submit(&ev);
        if i % 10 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let end = Instant::now() + Duration::from_secs(60);
    while h.counters().pending > 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    let c = h.close();
    assert_eq!((c.dropped, c.pending), (0, 0), "{c:?}");
    assert!(c.retried > 0, "the outage was seen: {c:?}");
    let got = wait_for_all(&r.out(), &ids);
    check_all_arrived(&got, &ids);
    eprintln!("outage (tls={tls}): {} sent, {} received, {} duplicates, counters {c:?}", ids.len(), got.len(), got.len() - ids.len());
}

#[test]
fn tcp_outage_during_a_burst_loses_nothing() {
    outage(false);
}

#[test]
fn tls_outage_during_a_burst_loses_nothing() {
    outage(true);
}
