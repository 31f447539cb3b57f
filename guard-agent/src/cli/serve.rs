//! `run --listen ADDR`: the HTTP endpoint for Prometheus and probes, on the agent's tokio
//! runtime. `GET /metrics` answers the OpenMetrics text of [`Metrics`]; `GET /healthz`
//! answers 200 `ready` once the programs are attached and the policy is loaded, 503
//! otherwise (while starting, and while stopping).

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};

use crate::metrics::Metrics;

/// The media type of the OpenMetrics text format.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds `addr` now (a port in use fails the agent's start) and serves in the background
/// until the runtime stops. Returns the bound address (port 0 picks a free one).
pub async fn start(addr: SocketAddr, metrics: Metrics) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("--listen {addr}"))?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router(metrics)).await {
            tracing::error!(%err, "metrics endpoint stopped");
        }
    });
    tracing::info!(listen = %bound, "serving /metrics and /healthz");
    Ok(bound)
}

fn router(metrics: Metrics) -> Router {
    Router::new().route("/metrics", get(scrape)).route("/healthz", get(health)).with_state(metrics)
}

async fn scrape(State(m): State<Metrics>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, OPENMETRICS)], m.encode())
}

async fn health(State(m): State<Metrics>) -> impl IntoResponse {
    if m.ready() { (StatusCode::OK, "ready\n") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready\n") }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use super::*;

    fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, text)
    }

    #[test]
    fn healthz_follows_readiness_and_metrics_are_openmetrics() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let m = Metrics::new();
        let addr = rt.block_on(start("127.0.0.1:0".parse().unwrap(), m.clone())).unwrap();
        let (code, body) = get(addr, "/healthz");
        assert_eq!(code, 503, "{body}");
        m.set_policy("p", "v1");
        assert_eq!(get(addr, "/healthz").0, 503, "policy loaded, programs not attached");
        m.set_attached(true);
        let (code, body) = get(addr, "/healthz");
        assert_eq!(code, 200);
        assert!(body.ends_with("\r\n\r\nready\n"), "{body}");
        m.event(guard_common::enforce::decision::DENY, guard_common::enforce::intent::BULK_DELETE);
        let (code, body) = get(addr, "/metrics");
        assert_eq!(code, 200);
        assert!(body.to_ascii_lowercase().contains(&format!("content-type: {OPENMETRICS}")), "{body}");
        assert!(body.contains("guard_events_total{decision=\"deny\",class=\"bulk_delete\"} 1"), "{body}");
        assert_eq!(get(addr, "/nope").0, 404);
        let taken = rt.block_on(start(addr, m));
        assert!(taken.is_err(), "a port in use fails the start");
    }
}
