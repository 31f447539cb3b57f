//! HTTP sinks (reqwest, blocking, rustls with the ring provider): Splunk HEC, Elasticsearch
//! `_bulk` and a generic NDJSON webhook.
//!
//! - HEC: `POST /services/collector/event`, `Authorization: Splunk TOKEN`, the envelopes
//!   of a batch concatenated. Any non-2xx answer (429 and 503 included) is retried.
//! - `_bulk`: `POST /_bulk` (`application/x-ndjson`), `create` actions whose `_id` is the
//!   event id. With `"errors":true`, items answered 409 already exist (a retried batch) and
//!   count as delivered; 429 and 5xx items make the batch fail and be retried (indexed
//!   items then answer 409); other item errors (mapping errors, 400) are permanent and
//!   counted as rejected, never silently.
//! - webhook: `POST` of NDJSON (one OCSF object per line); non-2xx is retried.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{Encoder, Sink, SinkError};
use crate::ecs::to_bulk_lines;
use crate::hec::{HecOptions, to_hec};
use crate::ocsf::to_ocsf;

/// Which HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpKind {
    /// Splunk HTTP Event Collector (`hec+https://`).
    Hec,
    /// Elasticsearch `_bulk` (`elastic+https://`).
    Elastic,
    /// NDJSON webhook (`webhook+https://`).
    Webhook,
}

/// An HTTP sink's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// The API.
    pub kind: HttpKind,
    /// Full endpoint URL (`https://host:port/path`).
    pub endpoint: String,
    /// Environment variable holding the token / API key.
    pub token_env: Option<String>,
    /// File holding the token / API key (first line).
    pub token_file: Option<PathBuf>,
    /// PEM CA bundle to trust instead of the system roots.
    pub ca: Option<PathBuf>,
    /// HEC envelope options (HEC only).
    pub hec: HecOptions,
    /// Index for `_bulk` (default `guard-exec`).
    pub index: String,
    /// Request timeout (default 10 s).
    pub timeout: Duration,
}

/// An HTTP sink.
pub struct HttpSink {
    cfg: HttpConfig,
    client: reqwest::blocking::Client,
    auth: Option<String>,
}

impl HttpSink {
    /// Builds the client and reads the token (an HEC sink without a token is refused).
    pub fn new(cfg: HttpConfig) -> Result<Self, SinkError> {
        let token = match (&cfg.token_env, &cfg.token_file) {
            (_, Some(f)) => Some(
                std::fs::read_to_string(f)
                    .map_err(|e| SinkError::Config(format!("token file {}: {e}", f.display())))?
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string(),
            ),
            (Some(v), None) => Some(std::env::var(v).map_err(|_| SinkError::Config(format!("environment variable {v} is not set")))?),
            (None, None) => None,
        };
        let auth = match (cfg.kind, token) {
            (HttpKind::Hec, None) => return Err(SinkError::Config("hec sink needs token_env=VAR or token_file=PATH".into())),
            (HttpKind::Hec, Some(t)) => Some(format!("Splunk {t}")),
            (HttpKind::Elastic, Some(t)) => Some(format!("ApiKey {t}")),
            (HttpKind::Webhook, Some(t)) => Some(format!("Bearer {t}")),
            (_, None) => None,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = &cfg.ca {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject as _;
            for c in CertificateDer::pem_file_iter(ca).map_err(|e| SinkError::Config(format!("{}: {e}", ca.display())))? {
                roots.add(c.map_err(|e| SinkError::Config(format!("{}: {e}", ca.display())))?).map_err(|e| SinkError::Config(e.to_string()))?;
            }
        } else {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let mut builder = reqwest::blocking::Client::builder().timeout(cfg.timeout).user_agent(concat!("guard/", env!("CARGO_PKG_VERSION")));
        if cfg.ca.is_some() {
            let tls = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| SinkError::Config(e.to_string()))?
                .with_root_certificates(roots)
                .with_no_client_auth();
            builder = builder.tls_backend_preconfigured(tls);
        }
        let client = builder.build().map_err(|e| SinkError::Config(format!("http client: {e}")))?;
        Ok(Self { cfg, client, auth })
    }

    fn post(&self, body: Vec<u8>, content_type: &str) -> Result<reqwest::blocking::Response, SinkError> {
        let mut req = self.client.post(&self.cfg.endpoint).header("content-type", content_type).body(body);
        if let Some(a) = &self.auth {
            req = req.header("authorization", a);
        }
        req.send().map_err(|e| SinkError::Send(format!("{}: {e}", self.name())))
    }
}

fn status_error(resp: reqwest::blocking::Response) -> SinkError {
    let code = resp.status();
    let text: String = resp.text().unwrap_or_default().chars().take(200).collect();
    SinkError::Send(format!("HTTP {code}: {text}"))
}

impl Sink for HttpSink {
    fn name(&self) -> String {
        let scheme = match self.cfg.kind {
            HttpKind::Hec => "hec",
            HttpKind::Elastic => "elastic",
            HttpKind::Webhook => "webhook",
        };
        format!("{scheme}+{}", self.cfg.endpoint)
    }

    fn encoder(&self) -> Encoder {
        match self.cfg.kind {
            HttpKind::Hec => {
                let opts = self.cfg.hec.clone();
                Arc::new(move |e| to_hec(e, &opts).to_string().into_bytes())
            }
            HttpKind::Elastic => {
                let index = self.cfg.index.clone();
                Arc::new(move |e| to_bulk_lines(e, &index).into_bytes())
            }
            HttpKind::Webhook => Arc::new(|e| to_ocsf(e).to_string().into_bytes()),
        }
    }

    fn send(&mut self, batch: &[Vec<u8>]) -> Result<(), SinkError> {
        match self.cfg.kind {
            HttpKind::Hec => {
                let resp = self.post(batch.join(&b"\n"[..]), "application/json")?;
                if resp.status().is_success() { Ok(()) } else { Err(status_error(resp)) }
            }
            HttpKind::Webhook => {
                let mut body = batch.join(&b"\n"[..]);
                body.push(b'\n');
                let resp = self.post(body, "application/x-ndjson")?;
                if resp.status().is_success() { Ok(()) } else { Err(status_error(resp)) }
            }
            HttpKind::Elastic => {
                let resp = self.post(batch.concat(), "application/x-ndjson")?;
                if !resp.status().is_success() {
                    return Err(status_error(resp));
                }
                let body = resp.bytes().map_err(|e| SinkError::Send(format!("_bulk answer: {e}")))?;
                let v: Value = serde_json::from_slice(&body).map_err(|e| SinkError::Send(format!("_bulk answer: {e}")))?;
                if v["errors"] != Value::Bool(true) {
                    return Ok(());
                }
                let items = v["items"].as_array().cloned().unwrap_or_default();
                let mut retry = 0;
                let mut rejected = Vec::new();
                for it in &items {
                    let r = it.as_object().and_then(|o| o.values().next()).cloned().unwrap_or(Value::Null);
                    let status = r["status"].as_u64().unwrap_or(0);
                    match status {
                        200..=299 | 409 => {}
                        429 | 500..=599 => retry += 1,
                        _ => rejected.push(format!("{}: {}", r["_id"].as_str().unwrap_or("?"), r["error"]["type"].as_str().unwrap_or("error"))),
                    }
                }
                if retry > 0 {
                    Err(SinkError::Send(format!("_bulk: {retry} items to retry")))
                } else if !rejected.is_empty() {
                    Err(SinkError::Rejected { count: rejected.len() as u64, reason: rejected.join(", ") })
                } else {
                    Ok(())
                }
            }
        }
    }
}
