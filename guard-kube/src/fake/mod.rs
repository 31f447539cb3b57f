//! A fake Kubernetes API server for tests (feature `fake-api`): pods, ServiceAccounts and
//! namespaces over plain HTTP, with the list/watch protocol of the real one.
//!
//! - `GET /api/v1/{pods,serviceaccounts,namespaces}` and
//!   `/api/v1/namespaces/NS/{pods,serviceaccounts}`: a list (`PodList`, ...) whose
//!   `metadata.resourceVersion` is the store's current version; items carry their own
//!   `metadata.resourceVersion` (no `kind`/`apiVersion`, as the real server's lists).
//! - the same with `watch=true` (or `1`) and `resourceVersion=RV`: a stream of
//!   newline-delimited `{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...}`,
//!   first every change after `RV` (from the server's change log), then live ones.
//!   Bookmarks only with `allowWatchBookmarks=true`. A version older than the last
//!   [`FakeApi::compact`] gets what the real server sends: HTTP 200 and one `ERROR` event
//!   with a `Status` of code 410 (`Expired`, "too old resource version"), then the end of
//!   the stream. `resourceVersion` absent or `0`: `ADDED` for every current object first.
//! - `fieldSelector` (`metadata.name`, `metadata.namespace`, `spec.nodeName`,
//!   `status.phase`, `spec.serviceAccountName`; `=`, `==`, `!=`; other fields are a 400
//!   like the real server's) and `labelSelector` (`k`, `!k`, `k=v`, `k==v`, `k!=v`,
//!   `k in (a,b)`, `k notin (a,b)`) filter lists and watches. On a watch an object that
//!   stops matching is sent as `DELETED` (its previous state with the new version) and
//!   one that starts matching as `ADDED`, as the real watch cache does.
//! - [`FakeApi::drop_watches`] ends every open watch stream mid-stream (a clean end of
//!   the chunked body, as when the API server restarts or a load balancer times out).
//!
//! Every request is recorded ([`FakeApi::requests`]) so tests can check what the client
//! asked for: selectors, the version a watch resumed from, whether it listed again.
//! Objects are the JSON of `kubectl get -o json` (see the fixtures next to this file).

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Query, State},
    http::{StatusCode, Uri, header},
    response::{IntoResponse as _, Response},
};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, watch};

const POD: &str = include_str!("pod.json");
const SERVICE_ACCOUNT: &str = include_str!("serviceaccount.json");
const NAMESPACE: &str = include_str!("namespace.json");

/// The resources the fake serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Pod,
    ServiceAccount,
    Namespace,
}

impl Kind {
    fn from_plural(p: &str) -> Option<Self> {
        match p {
            "pods" => Some(Self::Pod),
            "serviceaccounts" => Some(Self::ServiceAccount),
            "namespaces" => Some(Self::Namespace),
            _ => None,
        }
    }
    fn from_kind(k: &str) -> Option<Self> {
        match k {
            "Pod" => Some(Self::Pod),
            "ServiceAccount" => Some(Self::ServiceAccount),
            "Namespace" => Some(Self::Namespace),
            _ => None,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Self::Pod => "Pod",
            Self::ServiceAccount => "ServiceAccount",
            Self::Namespace => "Namespace",
        }
    }
}

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    pub query: Vec<(String, String)>,
}

impl Request {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    pub fn is_watch(&self) -> bool {
        matches!(self.param("watch"), Some("true" | "1"))
    }
    /// The resource's plural (`pods`, ...).
    pub fn resource(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }
}

/// One change in the store: `before` absent = created, `after` absent = deleted.
#[derive(Debug)]
struct Change {
    rv: u64,
    kind: Kind,
    before: Option<Value>,
    after: Option<Value>,
}

#[derive(Clone, Debug)]
enum Message {
    Change(Arc<Change>),
    Bookmark(u64),
}

type Key = (Kind, String, String);

#[derive(Default)]
struct Store {
    rv: u64,
    compacted: u64,
    objects: BTreeMap<Key, Value>,
    log: Vec<Arc<Change>>,
    requests: Vec<Request>,
    uids: u64,
}

struct Inner {
    store: Mutex<Store>,
    live: broadcast::Sender<Message>,
    drops: watch::Sender<u64>,
    paused: watch::Sender<bool>,
}

impl Inner {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A running fake API server on `127.0.0.1`, stopped when dropped.
pub struct FakeApi {
    inner: Arc<Inner>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.server.abort();
        self.drop_watches();
    }
}

impl FakeApi {
    /// Starts the server on an ephemeral port of 127.0.0.1 on the current runtime.
    pub async fn start() -> std::io::Result<Self> {
        let (live, _) = broadcast::channel(1024);
        let (drops, _) = watch::channel(0);
        let (paused, _) = watch::channel(false);
        // Start past 0: a version of 0 means "any" to the protocol.
        let store = Store { rv: 1000, ..Store::default() };
        let inner = Arc::new(Inner { store: Mutex::new(store), live, drops, paused });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { inner, addr, server })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig that points at this server (plain HTTP, no credentials).
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n  - name: fake\n    cluster:\n      server: {}\ncontexts:\n  - name: fake\n    context:\n      cluster: fake\n      user: fake\ncurrent-context: fake\nusers:\n  - name: fake\n    user: {{}}\n",
            self.url()
        )
    }

    /// The store's current resource version.
    pub fn resource_version(&self) -> u64 {
        self.inner.store().rv
    }

    /// Creates or replaces an object (by kind, namespace and name); sets its
    /// `resourceVersion` (and a `uid` for a new one). Returns the new version.
    pub fn apply(&self, mut obj: Value) -> u64 {
        let kind = obj["kind"].as_str().and_then(Kind::from_kind).expect("kind Pod, ServiceAccount or Namespace");
        let key = key_of(kind, &obj);
        let mut s = self.inner.store();
        s.rv += 1;
        let rv = s.rv;
        let before = s.objects.get(&key).cloned();
        let meta = &mut obj["metadata"];
        meta["resourceVersion"] = json!(rv.to_string());
        match &before {
            Some(b) => meta["uid"] = b["metadata"]["uid"].clone(),
            None => {
                s.uids += 1;
                meta["uid"] = json!(format!("00000000-0000-4000-8000-{:012x}", s.uids));
            }
        }
        s.objects.insert(key, obj.clone());
        self.record(&mut s, Change { rv, kind, before, after: Some(obj) });
        rv
    }

    /// Deletes an object; `None` when there was none.
    pub fn delete(&self, kind: Kind, namespace: &str, name: &str) -> Option<u64> {
        let mut s = self.inner.store();
        let before = s.objects.remove(&(kind, namespace.to_owned(), name.to_owned()))?;
        s.rv += 1;
        let rv = s.rv;
        self.record(&mut s, Change { rv, kind, before: Some(before), after: None });
        Some(rv)
    }

    /// The current state of an object.
    pub fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        self.inner.store().objects.get(&(kind, namespace.to_owned(), name.to_owned())).cloned()
    }

    fn record(&self, s: &mut Store, change: Change) {
        let change = Arc::new(change);
        s.log.push(change.clone());
        let _ = self.inner.live.send(Message::Change(change));
    }

    /// Ends every open watch stream now (clients see the body end, and watch again).
    pub fn drop_watches(&self) {
        self.inner.drops.send_modify(|g| *g += 1);
    }

    /// Holds new watch requests (they are answered, from the store as it is then, after
    /// [`FakeApi::resume_watches`]): with [`FakeApi::drop_watches`], changes made in
    /// between are certain to happen while the client has no watch open.
    pub fn pause_watches(&self) {
        self.inner.paused.send_replace(true);
    }

    pub fn resume_watches(&self) {
        self.inner.paused.send_replace(false);
    }

    /// Forgets the change log up to now: a watch from an older version gets 410 Gone.
    pub fn compact(&self) {
        let mut s = self.inner.store();
        s.compacted = s.rv;
        s.log.clear();
    }

    /// Sends a BOOKMARK with the current version to every watch that allows them.
    pub fn bookmark(&self) {
        let rv = self.inner.store().rv;
        let _ = self.inner.live.send(Message::Bookmark(rv));
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.inner.store().requests.clone()
    }

    /// How many watch streams are open now.
    pub fn open_watches(&self) -> usize {
        self.inner.drops.receiver_count()
    }
}

fn key_of(kind: Kind, obj: &Value) -> Key {
    let ns = if kind == Kind::Namespace { "" } else { obj["metadata"]["namespace"].as_str().unwrap_or("default") };
    let name = obj["metadata"]["name"].as_str().expect("metadata.name");
    (kind, ns.to_owned(), name.to_owned())
}

async fn handle(State(inner): State<Arc<Inner>>, uri: Uri, Query(query): Query<Vec<(String, String)>>) -> Response {
    let req = Request { path: uri.path().to_owned(), query };
    inner.store().requests.push(req.clone());
    let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let (kind, namespace) = match parts.as_slice() {
        ["api", "v1", plural] => (Kind::from_plural(plural), None),
        ["api", "v1", "namespaces", ns, plural] if *plural != "namespaces" => (Kind::from_plural(plural), Some((*ns).to_owned())),
        _ => (None, None),
    };
    let Some(kind) = kind else {
        return status(StatusCode::NOT_FOUND, "NotFound", "the server could not find the requested resource");
    };
    let filter = match Filter::parse(&req, namespace) {
        Ok(f) => f,
        Err(msg) => return status(StatusCode::BAD_REQUEST, "BadRequest", &msg),
    };
    if req.is_watch() {
        let mut paused = inner.paused.subscribe();
        let _ = paused.wait_for(|p| !*p).await;
        watch_response(&inner, kind, filter, &req)
    } else {
        list_response(&inner, kind, &filter)
    }
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = status_object(code.as_u16(), reason, message);
    (code, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn status_object(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code})
}

fn list_response(inner: &Inner, kind: Kind, filter: &Filter) -> Response {
    let s = inner.store();
    let items: Vec<Value> = s
        .objects
        .iter()
        .filter(|((k, _, _), o)| *k == kind && filter.matches(o))
        .map(|(_, o)| {
            let mut item = o.clone();
            if let Some(m) = item.as_object_mut() {
                m.remove("kind");
                m.remove("apiVersion");
            }
            item
        })
        .collect();
    let body = json!({
        "kind": format!("{}List", kind.name()),
        "apiVersion": "v1",
        "metadata": {"resourceVersion": s.rv.to_string()},
        "items": items,
    });
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut s = json!({"type": kind, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

fn with_rv(obj: &Value, rv: u64) -> Value {
    let mut o = obj.clone();
    o["metadata"]["resourceVersion"] = json!(rv.to_string());
    o
}

/// The watch event a change is for one watcher, if any.
fn event_for(change: &Change, filter: &Filter) -> Option<Bytes> {
    let before = change.before.as_ref().filter(|o| filter.matches(o));
    let after = change.after.as_ref().filter(|o| filter.matches(o));
    match (before, after, change.before.is_some()) {
        (_, Some(a), false) => Some(line("ADDED", a)),
        (Some(_), Some(a), true) => Some(line("MODIFIED", a)),
        (None, Some(a), true) => Some(line("ADDED", a)),
        (Some(b), None, _) => Some(line("DELETED", &with_rv(b, change.rv))),
        (None, None, _) => None,
    }
}

fn watch_response(inner: &Arc<Inner>, kind: Kind, filter: Filter, req: &Request) -> Response {
    let bookmarks = req.param("allowWatchBookmarks") == Some("true");
    let from: Option<u64> = req.param("resourceVersion").filter(|v| !v.is_empty() && *v != "0").map(|v| v.parse().unwrap_or(0));
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut first = Vec::new();
    let (live, drops) = {
        let s = inner.store();
        match from {
            Some(rv) if rv < s.compacted => {
                let msg = format!("too old resource version: {rv} ({})", s.compacted);
                first.push(line("ERROR", &status_object(410, "Expired", &msg)));
                (None, None)
            }
            Some(rv) => {
                first.extend(s.log.iter().filter(|c| c.kind == kind && c.rv > rv).filter_map(|c| event_for(c, &filter)));
                (Some(inner.live.subscribe()), Some(inner.drops.subscribe()))
            }
            None => {
                first.extend(s.objects.iter().filter(|((k, _, _), o)| *k == kind && filter.matches(o)).map(|(_, o)| line("ADDED", o)));
                (Some(inner.live.subscribe()), Some(inner.drops.subscribe()))
            }
        }
    };
    tokio::spawn(async move {
        for chunk in first {
            if tx.send(chunk).await.is_err() {
                return;
            }
        }
        let (Some(mut live), Some(mut drops)) = (live, drops) else { return };
        loop {
            let chunk = tokio::select! {
                // A drop wins over a change sent after it.
                biased;
                _ = drops.changed() => return,
                () = tx.closed() => return,
                msg = live.recv() => match msg {
                    Ok(Message::Change(c)) if c.kind == kind => event_for(&c, &filter),
                    Ok(Message::Change(_)) => None,
                    Ok(Message::Bookmark(rv)) if bookmarks => Some(line(
                        "BOOKMARK",
                        &json!({"kind": kind.name(), "apiVersion": "v1", "metadata": {"resourceVersion": rv.to_string()}}),
                    )),
                    Ok(Message::Bookmark(_)) => None,
                    // Lagged or closed: end the stream; the client resumes from its version.
                    Err(_) => return,
                },
            };
            if let Some(chunk) = chunk
                && tx.send(chunk).await.is_err()
            {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), rx)) });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::TRANSFER_ENCODING, "chunked")
        .body(Body::from_stream(stream))
        .expect("a valid response")
}

#[derive(Clone, Debug)]
enum LabelReq {
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A request's namespace, field and label selectors.
#[derive(Clone, Debug, Default)]
struct Filter {
    namespace: Option<String>,
    fields: Vec<(String, bool, String)>,
    labels: Vec<LabelReq>,
}

const FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "spec.nodeName", "status.phase", "spec.serviceAccountName"];

impl Filter {
    fn parse(req: &Request, namespace: Option<String>) -> Result<Self, String> {
        let mut f = Self { namespace, ..Self::default() };
        for term in req.param("fieldSelector").unwrap_or_default().split(',').filter(|t| !t.is_empty()) {
            let (field, eq, value) = if let Some((k, v)) = term.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (k, true, v)
            } else {
                return Err(format!("invalid field selector: {term}"));
            };
            if !FIELDS.contains(&field) {
                return Err(format!("field label not supported: {field}"));
            }
            f.fields.push((field.to_owned(), eq, value.to_owned()));
        }
        for term in split_outside_parens(req.param("labelSelector").unwrap_or_default()) {
            let term = term.trim();
            let set = |rest: &str| -> Result<Vec<String>, String> {
                let inner = rest.trim().strip_prefix('(').and_then(|r| r.strip_suffix(')')).ok_or(format!("invalid label selector: {term}"))?;
                Ok(inner.split(',').map(|v| v.trim().to_owned()).collect())
            };
            let r = if let Some(k) = term.strip_prefix('!') {
                LabelReq::NotExists(k.trim().to_owned())
            } else if let Some((k, v)) = term.split_once("!=") {
                LabelReq::NotIn(k.trim().to_owned(), vec![v.trim().to_owned()])
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                LabelReq::In(k.trim().to_owned(), vec![v.trim().to_owned()])
            } else if let Some((k, rest)) = term.split_once(" notin ") {
                LabelReq::NotIn(k.trim().to_owned(), set(rest)?)
            } else if let Some((k, rest)) = term.split_once(" in ") {
                LabelReq::In(k.trim().to_owned(), set(rest)?)
            } else if term.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) {
                LabelReq::Exists(term.to_owned())
            } else {
                return Err(format!("invalid label selector: {term}"));
            };
            f.labels.push(r);
        }
        Ok(f)
    }

    fn matches(&self, obj: &Value) -> bool {
        if let Some(ns) = &self.namespace
            && obj["metadata"]["namespace"].as_str() != Some(ns)
        {
            return false;
        }
        let field = |path: &str| -> String {
            let mut v = obj;
            for part in path.split('.') {
                v = &v[part];
            }
            v.as_str().unwrap_or_default().to_owned()
        };
        if !self.fields.iter().all(|(k, eq, want)| (field(k) == *want) == *eq) {
            return false;
        }
        let labels = &obj["metadata"]["labels"];
        self.labels.iter().all(|r| match r {
            LabelReq::Exists(k) => labels.get(k).is_some(),
            LabelReq::NotExists(k) => labels.get(k).is_none(),
            LabelReq::In(k, vs) => labels[k].as_str().is_some_and(|v| vs.iter().any(|w| w == v)),
            LabelReq::NotIn(k, vs) => labels[k].as_str().is_none_or(|v| !vs.iter().any(|w| w == v)),
        })
    }
}

fn split_outside_parens(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out.into_iter().filter(|t| !t.trim().is_empty()).collect()
}

/// A Pod as `kubectl get -o json` shows it (the recorded fixture), running on `node` as
/// `service_account`, with one running container per `(name, containerID)`
/// (`containerd://<64 hex>`, `cri-o://...`, `docker://...`).
pub fn pod(namespace: &str, name: &str, node: &str, service_account: &str, containers: &[(&str, &str)]) -> Value {
    let mut p: Value = serde_json::from_str(POD).expect("pod fixture");
    p["metadata"]["namespace"] = json!(namespace);
    p["metadata"]["name"] = json!(name);
    p["spec"]["nodeName"] = json!(node);
    p["spec"]["serviceAccountName"] = json!(service_account);
    p["spec"]["serviceAccount"] = json!(service_account);
    let spec_template = p["spec"]["containers"][0].clone();
    let status_template = p["status"]["containerStatuses"][0].clone();
    p["spec"]["containers"] = containers
        .iter()
        .map(|(n, _)| {
            let mut c = spec_template.clone();
            c["name"] = json!(n);
            c
        })
        .collect();
    p["status"]["containerStatuses"] = containers
        .iter()
        .map(|(n, id)| {
            let mut c = status_template.clone();
            c["name"] = json!(n);
            c["containerID"] = json!(id);
            c
        })
        .collect();
    p
}

/// A ServiceAccount (the recorded fixture) with `guard.dev/mode=<mode>`, or no labels.
pub fn service_account(namespace: &str, name: &str, mode: Option<&str>) -> Value {
    let mut sa: Value = serde_json::from_str(SERVICE_ACCOUNT).expect("serviceaccount fixture");
    sa["metadata"]["namespace"] = json!(namespace);
    sa["metadata"]["name"] = json!(name);
    sa["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = json!(format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"ServiceAccount\",\"metadata\":{{\"annotations\":{{}},\"name\":\"{name}\",\"namespace\":\"{namespace}\"}}}}\n"
    ));
    sa["metadata"]["labels"] = mode.map_or_else(|| json!({}), |m| json!({crate::MODE_LABEL: m}));
    sa
}

/// A Namespace (the recorded fixture) with `guard.dev/mode=<mode>` or without it.
pub fn namespace(name: &str, mode: Option<&str>) -> Value {
    let mut ns: Value = serde_json::from_str(NAMESPACE).expect("namespace fixture");
    ns["metadata"]["name"] = json!(name);
    let mut labels = json!({"kubernetes.io/metadata.name": name});
    if let Some(m) = mode {
        labels[crate::MODE_LABEL] = json!(m);
    }
    ns["metadata"]["labels"] = labels;
    ns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(q: &[(&str, &str)]) -> Filter {
        let req = Request { path: "/api/v1/pods".into(), query: q.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect() };
        Filter::parse(&req, None).unwrap()
    }

    #[test]
    fn selectors() {
        let p = pod("ci", "p", "node-a", "runner", &[]);
        assert!(filter(&[("fieldSelector", "spec.nodeName=node-a")]).matches(&p));
        assert!(!filter(&[("fieldSelector", "spec.nodeName=node-b")]).matches(&p));
        assert!(filter(&[("fieldSelector", "spec.nodeName!=node-b,metadata.namespace==ci")]).matches(&p));
        let sa = service_account("ci", "runner", Some("strict"));
        assert!(filter(&[("labelSelector", "guard.dev/mode")]).matches(&sa));
        assert!(filter(&[("labelSelector", "guard.dev/mode in (strict,enforce)")]).matches(&sa));
        assert!(!filter(&[("labelSelector", "guard.dev/mode notin (strict)")]).matches(&sa));
        assert!(!filter(&[("labelSelector", "!guard.dev/mode")]).matches(&sa));
        assert!(!filter(&[("labelSelector", "guard.dev/mode")]).matches(&service_account("ci", "x", None)));
        let req = Request { path: "/api/v1/pods".into(), query: vec![("fieldSelector".into(), "spec.hostname=x".into())] };
        assert!(Filter::parse(&req, None).is_err(), "unsupported field");
    }

    #[test]
    fn fixtures_are_what_k8s_openapi_reads() {
        use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
        let p: Pod = serde_json::from_value(pod("ci", "p", "n", "sa", &[("c", "containerd://ab")])).unwrap();
        assert_eq!(p.status.unwrap().container_statuses.unwrap()[0].container_id.as_deref(), Some("containerd://ab"));
        let _: ServiceAccount = serde_json::from_value(service_account("ci", "sa", Some("audit"))).unwrap();
        let _: Namespace = serde_json::from_value(namespace("ci", None)).unwrap();
    }
}
