//! The slow source of truth: the upstream catalogue API, and the client a
//! service calls it with.
//!
//! The upstream is trusted code. Every call it answers (but `GET /calls`)
//! waits a fixed latency first, as a remote system would, and is counted by
//! the upstream itself, so what a service costs its source is measured
//! outside the service: by the grader from the `cache-upstream` process, or
//! by a test from an upstream it spawned in-process.
//!
//! | route | answer |
//! |---|---|
//! | `GET /items/{id}` | the [`Item`], or 404 |
//! | `GET /categories/{name}/items` | every [`Item`] of the category in id order, or 404 |
//! | `PUT /items/{id}` with an [`ItemPatch`] | the changed [`Item`] (its `version` raised by one), or 404 |
//! | `DELETE /items/{id}` | 204, or 404 |
//! | `GET /calls` | [`UpstreamCalls`] so far (no latency, not counted) |
//!
//! A write is applied after the latency, just before its answer is sent:
//! once a caller has the answer, every read that starts later sees it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
pub use lab_protocol::UpstreamCalls;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::data::{CATEGORIES, Catalog, Item};

/// The latency of every counted call when none is given.
pub const DEFAULT_LATENCY: Duration = Duration::from_millis(3);

/// What a write may change; absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_cents: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock: Option<u32>,
}

#[derive(Debug, Default)]
struct Counters {
    reads: AtomicU64,
    lists: AtomicU64,
    writes: AtomicU64,
    deletes: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> UpstreamCalls {
        UpstreamCalls {
            reads: self.reads.load(Ordering::SeqCst),
            lists: self.lists.load(Ordering::SeqCst),
            writes: self.writes.load(Ordering::SeqCst),
            deletes: self.deletes.load(Ordering::SeqCst),
        }
    }
}

#[derive(Debug)]
struct Shared {
    items: Mutex<BTreeMap<u32, Item>>,
    latency: Duration,
    calls: Counters,
}

impl Shared {
    /// Counts a call, then waits as a remote system would.
    async fn call(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.latency).await;
    }
}

fn not_found(what: String) -> Response {
    (StatusCode::NOT_FOUND, Json(serde_json::json!({"error": "not_found", "message": what}))).into_response()
}

/// The upstream's router over `catalog`, each counted call waiting `latency`.
pub fn router(catalog: Catalog, latency: Duration) -> Router {
    let items = catalog.items.into_iter().map(|item| (item.id, item)).collect();
    let shared = Arc::new(Shared { items: Mutex::new(items), latency, calls: Counters::default() });
    Router::new()
        .route("/items/{id}", get(read_item).put(write_item).delete(delete_item))
        .route("/categories/{name}/items", get(list_category))
        .route("/calls", get(calls))
        .with_state(shared)
}

async fn read_item(State(shared): State<Arc<Shared>>, Path(id): Path<u32>) -> Response {
    shared.call(&shared.calls.reads).await;
    match shared.items.lock().get(&id).cloned() {
        Some(item) => Json(item).into_response(),
        None => not_found(format!("no item {id}")),
    }
}

async fn list_category(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    shared.call(&shared.calls.lists).await;
    if !CATEGORIES.contains(&name.as_str()) {
        return not_found(format!("no category {name:?}"));
    }
    let items: Vec<Item> = shared.items.lock().values().filter(|item| item.category == name).cloned().collect();
    Json(items).into_response()
}

async fn write_item(State(shared): State<Arc<Shared>>, Path(id): Path<u32>, Json(patch): Json<ItemPatch>) -> Response {
    shared.call(&shared.calls.writes).await;
    let mut items = shared.items.lock();
    let Some(item) = items.get_mut(&id) else {
        return not_found(format!("no item {id}"));
    };
    if let Some(name) = patch.name {
        item.name = name;
    }
    if let Some(price_cents) = patch.price_cents {
        item.price_cents = price_cents;
    }
    if let Some(stock) = patch.stock {
        item.stock = stock;
    }
    item.version += 1;
    Json(item.clone()).into_response()
}

async fn delete_item(State(shared): State<Arc<Shared>>, Path(id): Path<u32>) -> Response {
    shared.call(&shared.calls.deletes).await;
    match shared.items.lock().remove(&id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => not_found(format!("no item {id}")),
    }
}

async fn calls(State(shared): State<Arc<Shared>>) -> Json<UpstreamCalls> {
    Json(shared.calls.snapshot())
}

/// Where an upstream listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl std::str::FromStr for Address {
    type Err = String;

    /// `127.0.0.1:7025`, or `unix:/path/of/socket`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text.strip_prefix("unix:") {
            Some(path) if !path.is_empty() => Ok(Address::Unix(path.into())),
            _ => text
                .parse()
                .map(Address::Tcp)
                .map_err(|_| format!("{text:?} is not an upstream address (host:port, or unix:/path/of/socket)")),
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Tcp(addr) => write!(f, "{addr}"),
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// An upstream answered with something other than what its API promises,
/// or could not be reached in time.
#[derive(Clone, Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Nothing answered, or not within the client's timeout.
    #[error("the upstream could not be reached: {0}")]
    Unreachable(String),
    /// The upstream answered, but not as its API says it does.
    #[error("the upstream answered {status}: {message}")]
    Unexpected { status: u16, message: String },
}

impl From<reqwest::Error> for UpstreamError {
    fn from(err: reqwest::Error) -> Self {
        match err.status() {
            Some(status) => UpstreamError::Unexpected { status: status.as_u16(), message: err.to_string() },
            None => UpstreamError::Unreachable(err.to_string()),
        }
    }
}

/// How long one upstream call may take before the client gives up.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The upstream's client: one connection pool, cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    address: Address,
}

impl Client {
    /// A client of the upstream at `address`.
    pub fn new(address: &Address) -> Client {
        let builder = reqwest::Client::builder().timeout(CLIENT_TIMEOUT).no_proxy();
        let (builder, base) = match address {
            Address::Tcp(addr) => (builder, format!("http://{addr}")),
            // The host is ignored on a Unix socket; the path is what counts.
            Address::Unix(path) => (builder.unix_socket(path.clone()), "http://upstream".to_string()),
        };
        let http = builder.build().expect("a client with no TLS and no proxy always builds");
        Client { http, base, address: address.clone() }
    }

    /// Where this client's upstream listens.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The item with `id`, or `None` when the upstream has none.
    pub async fn item(&self, id: u32) -> Result<Option<Item>, UpstreamError> {
        let response = self.http.get(format!("{}/items/{id}", self.base)).send().await?;
        optional(response).await
    }

    /// Every item of `category` in id order, or `None` when there is no such category.
    pub async fn category(&self, category: &str) -> Result<Option<Vec<Item>>, UpstreamError> {
        if !category.bytes().all(|b| b.is_ascii_lowercase()) {
            return Ok(None);
        }
        let response = self.http.get(format!("{}/categories/{category}/items", self.base)).send().await?;
        optional(response).await
    }

    /// Applies `patch` to item `id`; the item as changed, or `None` when there is no such item.
    pub async fn update(&self, id: u32, patch: &ItemPatch) -> Result<Option<Item>, UpstreamError> {
        let response = self.http.put(format!("{}/items/{id}", self.base)).json(patch).send().await?;
        optional(response).await
    }

    /// Deletes item `id`; `false` when there was no such item.
    pub async fn delete(&self, id: u32) -> Result<bool, UpstreamError> {
        let response = self.http.delete(format!("{}/items/{id}", self.base)).send().await?;
        match response.status() {
            StatusCode::NO_CONTENT => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => Err(unexpected(status, response).await),
        }
    }

    /// The calls the upstream has answered since it started.
    pub async fn calls(&self) -> Result<UpstreamCalls, UpstreamError> {
        let response = self.http.get(format!("{}/calls", self.base)).send().await?;
        optional(response).await?.ok_or(UpstreamError::Unexpected { status: 404, message: "no /calls route".into() })
    }
}

async fn unexpected(status: StatusCode, response: reqwest::Response) -> UpstreamError {
    let message = response.text().await.unwrap_or_default();
    UpstreamError::Unexpected { status: status.as_u16(), message }
}

async fn optional<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> Result<Option<T>, UpstreamError> {
    match response.status() {
        StatusCode::OK => Ok(Some(response.json().await?)),
        StatusCode::NOT_FOUND => Ok(None),
        status => Err(unexpected(status, response).await),
    }
}

/// An upstream serving in this process on loopback (tests, and the driver
/// when no `--upstream` is given); it stops when dropped.
#[derive(Debug)]
pub struct Running {
    pub client: Client,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Serves `catalog` on a free loopback port, each call waiting `latency`.
    pub async fn start(catalog: Catalog, latency: Duration) -> anyhow::Result<Running> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the upstream")?;
        let addr = listener.local_addr()?;
        let app = router(catalog, latency);
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                eprintln!("upstream stopped: {err}");
            }
        });
        Ok(Running { client: Client::new(&Address::Tcp(addr)), task })
    }

    /// The calls the upstream has answered so far.
    pub async fn calls(&self) -> UpstreamCalls {
        self.client.calls().await.expect("the in-process upstream answers /calls")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use lab_support::Size;

    use super::*;

    #[tokio::test]
    async fn the_upstream_counts_every_call_and_applies_writes_in_order() {
        let catalog = Catalog::generate(3, Size::Tiny);
        let first = catalog.items[0].clone();
        let upstream = Running::start(catalog, Duration::from_millis(1)).await.unwrap();
        let client = &upstream.client;
        assert_eq!(client.item(first.id).await.unwrap(), Some(first.clone()));
        assert_eq!(client.item(9_999).await.unwrap(), None);
        let listed = client.category(&first.category).await.unwrap().unwrap();
        assert!(listed.contains(&first) && listed.windows(2).all(|w| w[0].id < w[1].id));
        assert_eq!(client.category("nothing").await.unwrap(), None);
        assert_eq!(client.category("../calls").await.unwrap(), None);
        let patch = ItemPatch { price_cents: Some(123), ..ItemPatch::default() };
        let changed = client.update(first.id, &patch).await.unwrap().unwrap();
        assert_eq!((changed.price_cents, changed.version, changed.name.clone()), (123, 2, first.name.clone()));
        assert_eq!(client.item(first.id).await.unwrap(), Some(changed));
        assert!(client.delete(first.id).await.unwrap());
        assert!(!client.delete(first.id).await.unwrap());
        assert_eq!(client.item(first.id).await.unwrap(), None);
        let calls = upstream.calls().await;
        assert_eq!(calls, UpstreamCalls { reads: 4, lists: 2, writes: 1, deletes: 2 });
        assert_eq!(calls.total(), 9);
    }

    #[test]
    fn addresses_parse_and_print_back() {
        for text in ["127.0.0.1:7025", "unix:/run/lab/upstream.sock"] {
            assert_eq!(text.parse::<Address>().unwrap().to_string(), text);
        }
        assert!("unix:".parse::<Address>().is_err());
        assert!("localhost".parse::<Address>().unwrap_err().contains("not an upstream address"));
    }
}
