//! Syslog sinks: an RFC 5424 formatter, RFC 6587 octet-counting framing over TCP, RFC
//! 5425 over TLS (rustls, optional CA file), and plain UDP (RFC 5426, one message per
//! datagram).
//!
//! TCP acknowledges nothing, so a receiver that stops loses what sat in socket buffers.
//! The stream sinks therefore keep the frames written in the last `replay` window and,
//! after a broken connection, send them again on the new one before anything else
//! (at least once; a receiver may see a few duplicates, each with its event id). Before
//! each batch a plain-TCP connection is probed for an orderly close by the peer.

use std::collections::VecDeque;
use std::io::Write as _;
use std::net::{TcpStream, ToSocketAddrs as _, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Sink, SinkError};

/// Transport of a syslog sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `syslog+udp://`
    Udp,
    /// `syslog+tcp://`
    Tcp,
    /// `syslog+tls://`
    Tls,
}

/// A syslog sink's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogConfig {
    /// Transport.
    pub transport: Transport,
    /// Receiver host name or address.
    pub host: String,
    /// Receiver port (default 514, 6514 for TLS).
    pub port: u16,
    /// Facility number (default 10, authpriv).
    pub facility: u8,
    /// APP-NAME (default `guard`).
    pub app_name: String,
    /// PEM CA bundle for TLS (default: none, and a TLS sink then needs one).
    pub ca: Option<PathBuf>,
    /// TLS server name if not `host`.
    pub server_name: Option<String>,
    /// How long written frames are kept for replay after a broken connection (default 1 s).
    pub replay: Duration,
}

/// Private enterprise number used in the SD-ID (RFC 5612 documentation number).
pub const SD_ID: &str = "guard@32473";

/// Syslog severity for an OCSF `severity_id`.
fn syslog_severity(severity_id: u64) -> u8 {
    match severity_id {
        0 | 1 | 2 => 6, // informational
        3 => 5,         // notice
        4 => 4,         // warning
        5 => 2,         // critical
        _ => 1,         // alert (Fatal)
    }
}

fn sd_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace(']', "\\]")
}

/// PRINTUSASCII, 1..=max characters, `-` when empty.
fn header_field(s: &str, max: usize) -> String {
    let t: String = s.chars().filter(|c| c.is_ascii_graphic()).take(max).collect();
    if t.is_empty() { "-".into() } else { t }
}

/// Formats one OCSF JSON event as an RFC 5424 message (no framing):
/// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID exec [guard@32473 id=".." decision=".."] JSON`.
pub fn format_5424(ocsf_json: &[u8], facility: u8, app_name: &str) -> Vec<u8> {
    let v: Value = serde_json::from_slice(ocsf_json).unwrap_or(Value::Null);
    let sev = syslog_severity(v["severity_id"].as_u64().unwrap_or(1));
    let pri = u16::from(facility.min(23)) * 8 + u16::from(sev);
    let ts = v["time"]
        .as_i64()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .unwrap_or_else(jiff::Timestamp::now);
    let ts = ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let host = header_field(v["device"]["hostname"].as_str().unwrap_or(""), 255);
    let mut sd = format!("[{SD_ID}");
    for (k, val) in [("id", &v["metadata"]["uid"]), ("decision", &v["unmapped"]["decision"]), ("class", &v["unmapped"]["class"]), ("rule", &v["policy"]["uid"])] {
        if let Some(s) = val.as_str() {
            sd.push_str(&format!(" {k}=\"{}\"", sd_escape(s)));
        }
    }
    sd.push(']');
    let mut out = format!("<{pri}>1 {ts} {host} {} {} exec {sd} ", header_field(app_name, 48), std::process::id()).into_bytes();
    out.extend_from_slice(ocsf_json);
    out
}

/// RFC 6587 octet-counting frame: `LEN SP MSG`.
pub fn frame_octet_counted(msg: &[u8]) -> Vec<u8> {
    let mut out = format!("{} ", msg.len()).into_bytes();
    out.extend_from_slice(msg);
    out
}

trait Stream: std::io::Write + Send {
    /// `true` when the peer has closed the connection (best effort, never blocks).
    fn peer_closed(&mut self) -> bool;
}

impl Stream for TcpStream {
    fn peer_closed(&mut self) -> bool {
        if self.set_nonblocking(true).is_err() {
            return true;
        }
        let mut b = [0u8; 1];
        let closed = match self.peek(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
        };
        let _ = self.set_nonblocking(false);
        closed
    }
}

impl Stream for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn peer_closed(&mut self) -> bool {
        self.sock.peer_closed()
    }
}

/// A syslog sink (UDP, TCP or TLS).
pub struct SyslogSink {
    cfg: SyslogConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    udp: Option<UdpSocket>,
    conn: Option<Box<dyn Stream>>,
    /// Frames written on the current connection, with when.
    window: VecDeque<(Instant, Vec<u8>)>,
    /// Frames to send first on the next connection.
    replay: Vec<Vec<u8>>,
}

const WINDOW_MAX: usize = 20_000;
const IO_TIMEOUT: Duration = Duration::from_secs(5);

impl SyslogSink {
    /// Builds the sink (loads the CA for TLS; connects lazily).
    pub fn new(cfg: SyslogConfig) -> Result<Self, SinkError> {
        let tls = if cfg.transport == Transport::Tls {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject as _;
            let ca = cfg.ca.as_ref().ok_or_else(|| SinkError::Config("syslog+tls needs ca=/path/to/ca.pem".into()))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca).map_err(|e| SinkError::Config(format!("{}: {e}", ca.display())))? {
                let cert = cert.map_err(|e| SinkError::Config(format!("{}: {e}", ca.display())))?;
                roots.add(cert).map_err(|e| SinkError::Config(format!("{}: {e}", ca.display())))?;
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| SinkError::Config(e.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Some(Arc::new(config))
        } else {
            None
        };
        Ok(Self { cfg, tls, udp: None, conn: None, window: VecDeque::new(), replay: Vec::new() })
    }

    fn connect(&mut self) -> Result<Box<dyn Stream>, SinkError> {
        let addrs: Vec<_> = (self.cfg.host.as_str(), self.cfg.port).to_socket_addrs().map_err(SinkError::Io)?.collect();
        let mut last = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, IO_TIMEOUT) {
                Ok(s) => {
                    s.set_write_timeout(Some(IO_TIMEOUT)).map_err(SinkError::Io)?;
                    s.set_read_timeout(Some(IO_TIMEOUT)).map_err(SinkError::Io)?;
                    s.set_nodelay(true).map_err(SinkError::Io)?;
                    let Some(tls) = &self.tls else { return Ok(Box::new(s)) };
                    let name = self.cfg.server_name.clone().unwrap_or_else(|| self.cfg.host.clone());
                    let name = rustls::pki_types::ServerName::try_from(name).map_err(|e| SinkError::Config(e.to_string()))?;
                    let conn = rustls::ClientConnection::new(tls.clone(), name).map_err(|e| SinkError::Send(e.to_string()))?;
                    let mut stream = rustls::StreamOwned::new(conn, s);
                    while stream.conn.is_handshaking() {
                        stream.conn.complete_io(&mut stream.sock).map_err(SinkError::Io)?;
                    }
                    return Ok(Box::new(stream));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(SinkError::Io(last.unwrap_or_else(|| std::io::Error::other("no address"))))
    }

    fn send_stream(&mut self, frames: Vec<Vec<u8>>) -> Result<(), SinkError> {
        if self.conn.as_mut().is_some_and(|c| c.peer_closed()) {
            self.broken();
        }
        if self.conn.is_none() {
            let c = self.connect()?;
            self.conn = Some(c);
            let replay = std::mem::take(&mut self.replay);
            if let Err(e) = self.write_frames(replay.clone()) {
                self.replay = replay;
                return Err(e);
            }
        }
        self.write_frames(frames)
    }

    fn write_frames(&mut self, frames: Vec<Vec<u8>>) -> Result<(), SinkError> {
        let Some(conn) = self.conn.as_mut() else { return Err(SinkError::Send("not connected".into())) };
        let buf: Vec<u8> = frames.concat();
        let res = conn.write_all(&buf).and_then(|()| conn.flush());
        let now = Instant::now();
        for f in frames {
            self.window.push_back((now, f));
        }
        while self.window.len() > WINDOW_MAX || self.window.front().is_some_and(|(t, _)| now.duration_since(*t) > self.cfg.replay) {
            self.window.pop_front();
        }
        if let Err(e) = res {
            // The batch is in the window; it goes again on the next connection (and the
            // worker retries it as well, so it may arrive twice).
            self.broken();
            return Err(SinkError::Io(e));
        }
        Ok(())
    }

    /// The connection is gone: what was written recently may be lost; replay it.
    fn broken(&mut self) {
        self.conn = None;
        let cut = Instant::now();
        self.replay.extend(self.window.drain(..).filter(|(t, _)| cut.duration_since(*t) <= self.cfg.replay).map(|(_, f)| f));
        if self.replay.len() > WINDOW_MAX {
            let extra = self.replay.len() - WINDOW_MAX;
            self.replay.drain(..extra);
        }
    }
}

impl Sink for SyslogSink {
    fn name(&self) -> String {
        let scheme = match self.cfg.transport {
            Transport::Udp => "syslog+udp",
            Transport::Tcp => "syslog+tcp",
            Transport::Tls => "syslog+tls",
        };
        format!("{scheme}://{}:{}", self.cfg.host, self.cfg.port)
    }

    fn send(&mut self, batch: &[Vec<u8>]) -> Result<(), SinkError> {
        let msgs = batch.iter().map(|e| format_5424(e, self.cfg.facility, &self.cfg.app_name));
        match self.cfg.transport {
            Transport::Udp => {
                if self.udp.is_none() {
                    let s = UdpSocket::bind(("0.0.0.0", 0)).map_err(SinkError::Io)?;
                    s.connect((self.cfg.host.as_str(), self.cfg.port)).map_err(SinkError::Io)?;
                    self.udp = Some(s);
                }
                let s = self.udp.as_ref().expect("bound above");
                for mut m in msgs {
                    m.truncate(65_000);
                    s.send(&m).map_err(SinkError::Io)?;
                }
                Ok(())
            }
            Transport::Tcp | Transport::Tls => {
                let frames = msgs.map(|m| frame_octet_counted(&m)).collect();
                self.send_stream(frames)
            }
        }
    }
}
