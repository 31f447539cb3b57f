//! HEC, `_bulk` and webhook sinks against local receivers (axum on 127.0.0.1) that answer
//! as the real services document: 503/429 while busy, `_bulk` partial failures (429 items
//! to retry, 409 for documents that already exist, 400 mapping errors that are final).

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use guard_export::sink::{DeliveryOptions, SinkConfig, SinkHandle};
use guard_export::{Decision, ExecEvent, Redactor};
use serde_json::{Value, json};

#[derive(Default)]
struct Recv {
    requests: u32,
    /// `_bulk`: ids answered 429 once, and whether one answer mixed 201 and 429.
    throttled: BTreeSet<String>,
    mixed: bool,
    ids: Vec<String>,
    auth: Vec<String>,
}

type Shared = Arc<Mutex<Recv>>;

/// Serves `app` on a loopback port from a background runtime; returns the port.
fn serve(app: Router) -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap().port()).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

fn auth(h: &HeaderMap) -> String {
    h.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

async fn hec(State(st): State<Shared>, h: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let mut st = st.lock().unwrap();
    st.requests += 1;
    st.auth.push(auth(&h));
    match st.requests {
        1 => return (StatusCode::SERVICE_UNAVAILABLE, json!({"text":"Server is busy","code":9}).to_string()),
        2 => return (StatusCode::TOO_MANY_REQUESTS, json!({"text":"Too many requests","code":9}).to_string()),
        _ => {}
    }
    // HEC accepts concatenated JSON objects.
    for v in serde_json::Deserializer::from_slice(&body).into_iter::<Value>() {
        let v = v.unwrap();
        assert_eq!(v["sourcetype"], "ocsf:process_activity");
        st.ids.push(v["event"]["metadata"]["uid"].as_str().unwrap().to_string());
    }
    (StatusCode::OK, json!({"text":"Success","code":0}).to_string())
}

async fn bulk(State(st): State<Shared>, h: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let mut st = st.lock().unwrap();
    st.requests += 1;
    st.auth.push(auth(&h));
    if st.requests == 1 {
        return (StatusCode::SERVICE_UNAVAILABLE, json!({"error":"unavailable","status":503}).to_string());
    }
    let lines: Vec<Value> = body.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
    let mut items = Vec::new();
    let mut errors = false;
    for (i, pair) in lines.chunks(2).enumerate() {
        let id = pair[0]["create"]["_id"].as_str().unwrap().to_string();
        let (status, err) = if st.ids.contains(&id) {
            (409, Some("version_conflict_engine_exception"))
        } else if pair[1]["process"]["args"].to_string().contains("POISON") {
            (400, Some("mapper_parsing_exception"))
        } else if i % 2 == 1 && st.throttled.insert(id.clone()) {
            (429, Some("es_rejected_execution_exception"))
        } else {
            st.ids.push(id.clone());
            (201, None)
        };
        errors |= status != 201;
        let mut item = json!({"_index": "guard-exec", "_id": id, "status": status});
        if let Some(e) = err {
            item["error"] = json!({"type": e, "reason": "test"});
        }
        items.push(json!({ "create": item }));
    }
    let statuses: BTreeSet<u64> = items.iter().map(|i| i["create"]["status"].as_u64().unwrap()).collect();
    st.mixed |= statuses.contains(&201) && statuses.contains(&429);
    (StatusCode::OK, json!({"took": 1, "errors": errors, "items": items}).to_string())
}

async fn webhook(State(st): State<Shared>, h: HeaderMap, body: Bytes) -> (StatusCode, String) {
    let mut st = st.lock().unwrap();
    st.requests += 1;
    st.auth.push(auth(&h));
    if st.requests == 1 {
        return (StatusCode::TOO_MANY_REQUESTS, String::new());
    }
    for l in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_slice(l).unwrap();
        st.ids.push(v["metadata"]["uid"].as_str().unwrap().to_string());
    }
    (StatusCode::NO_CONTENT, String::new())
}

fn opts(dir: &std::path::Path) -> DeliveryOptions {
    DeliveryOptions {
        queue_capacity: 1000,
        batch_max: 10,
        spool_dir: dir.to_path_buf(),
        spool_max_bytes: 16 << 20,
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        shutdown_timeout: Duration::from_secs(5),
    }
}

/// Sends `n` events (event `poison`, if any, carries a POISON argument) and returns
/// their ids in order and the final counters.
fn run(url: &str, n: u32, poison: Option<u32>, dir: &std::path::Path) -> (Vec<String>, guard_export::sink::Counters) {
    let red = Redactor::new::<&str>(&[]).unwrap();
    let h = SinkHandle::spawn(SinkConfig::parse(url).unwrap().build().unwrap(), opts(dir)).unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        let mut e = common::sample(if i % 3 == 0 { Decision::Deny } else { Decision::Allow });
        e.id = ExecEvent::new_id();
        if Some(i) == poison {
            e.argv.push(b"POISON".to_vec());
        }
        ids.push(e.id.to_string());
        h.submit(&red.apply(e));
    }
    let end = Instant::now() + Duration::from_secs(30);
    while h.counters().pending > 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    (ids, h.close())
}

fn token_file(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("token");
    std::fs::write(&p, "test-token\n").unwrap();
    p
}

#[test]
fn hec_retries_busy_answers_and_delivers_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let st: Shared = Arc::default();
    let port = serve(Router::new().route("/services/collector/event", post(hec)).with_state(st.clone()));
    let url = format!("hec+http://127.0.0.1:{port}?token_file={}", token_file(dir.path()).display());
    let (ids, c) = run(&url, 50, None, dir.path());
    assert_eq!((c.sent, c.dropped, c.rejected, c.pending), (50, 0, 0, 0), "{c:?}");
    assert!(c.retried >= 2, "two refused requests: {c:?}");
    let st = st.lock().unwrap();
    assert_eq!(st.ids, ids, "every event once, in order");
    assert!(st.auth.iter().all(|a| a == "Splunk test-token"));
}

#[test]
fn hec_without_a_token_is_refused() {
    let url = "hec+https://splunk.example:8088?token_env=GUARD_TEST_UNSET_TOKEN_VAR";
    let err = SinkConfig::parse(url).unwrap().build().err().expect("no token");
    assert!(err.to_string().contains("GUARD_TEST_UNSET_TOKEN_VAR"), "{err}");
}

#[test]
fn bulk_retries_partial_failures_and_counts_rejections() {
    let dir = tempfile::tempdir().unwrap();
    let st: Shared = Arc::default();
    let port = serve(Router::new().route("/_bulk", post(bulk)).with_state(st.clone()));
    let url = format!("elastic+http://127.0.0.1:{port}?index=guard-exec&token_file={}", token_file(dir.path()).display());
    let (ids, c) = run(&url, 40, Some(13), dir.path());
    assert_eq!((c.sent, c.rejected, c.dropped, c.pending), (39, 1, 0, 0), "{c:?}");
    assert!(c.retried > 0);
    let st = st.lock().unwrap();
    let got: BTreeSet<_> = st.ids.iter().cloned().collect();
    assert_eq!(got.len(), st.ids.len(), "nothing indexed twice");
    let want: BTreeSet<_> = ids.iter().enumerate().filter(|(i, _)| *i != 13).map(|(_, id)| id.clone()).collect();
    assert_eq!(got, want, "every event indexed except the rejected one");
    assert!(st.auth.iter().all(|a| a == "ApiKey test-token"));
    assert!(st.mixed && !st.throttled.is_empty(), "a partial failure happened");
}

#[test]
fn webhook_gets_ndjson_in_order_after_429() {
    let dir = tempfile::tempdir().unwrap();
    let st: Shared = Arc::default();
    let port = serve(Router::new().route("/hook", post(webhook)).with_state(st.clone()));
    let url = format!("webhook+http://127.0.0.1:{port}/hook?token_file={}", token_file(dir.path()).display());
    let (ids, c) = run(&url, 30, None, dir.path());
    assert_eq!((c.sent, c.dropped, c.pending), (30, 0, 0), "{c:?}");
    assert!(c.retried >= 1, "the 429 was retried: {c:?}");
    let st = st.lock().unwrap();
    assert_eq!(st.ids, ids);
    assert!(st.auth.iter().all(|a| a == "Bearer test-token"));
}
