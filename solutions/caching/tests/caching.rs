//! What the cache promises, checked on real Redis (`REDIS_URL`, each test
//! under a prefix of its own) and an in-process upstream that counts its
//! own calls: repeated reads cost one upstream call, a write on one instance
//! is seen by the next read on another, concurrent misses share one load,
//! `If-None-Match` gets a 304, and Redis down, restarted or unreachable for a
//! while never costs a wrong or a slow answer.
//!
//! Requests go over real HTTP/1.1 (reqwest), so the router, its layers and
//! its headers are all part of what is tested. Nothing is timed: a breaker
//! is checked by the Redis calls it lets through, counted by the server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use lab_caching::api::{CacheStats, CategoryListing, Product};
use lab_caching::data::Item;
use lab_caching::redis_proxy::{Mode, RedisProxy};
use lab_caching::upstream::{ItemPatch, Running};
use lab_caching::{Catalog, Config, RedisConfig, store};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// Four products in two categories.
fn catalog() -> Catalog {
    let item = |id: u32, category: &str| Item {
        id,
        name: format!("item {id}"),
        category: category.into(),
        price_cents: 100 * u64::from(id),
        stock: id,
        version: 1,
    };
    Catalog { items: vec![item(1, "audio"), item(2, "audio"), item(3, "books"), item(4, "books")] }
}

/// An upstream of the test's own and a Redis prefix of its own, removed when dropped.
struct Bench {
    upstream: Running,
    redis: RedisConfig,
}

impl Bench {
    async fn new(latency: Duration) -> Bench {
        Bench::with_url(store::url(), latency).await
    }

    async fn with_url(url: String, latency: Duration) -> Bench {
        let upstream = Running::start(catalog(), latency).await.expect("the upstream starts");
        Bench { upstream, redis: RedisConfig { url, prefix: store::unique_prefix("solution") } }
    }

    /// One instance of the solution, served on a loopback port; every instance shares the upstream and prefix.
    async fn instance(&self) -> SocketAddr {
        self.instance_on(&self.redis.url).await
    }

    /// The same, reaching the bench's Redis at `url` (a proxy, say).
    async fn instance_on(&self, url: &str) -> SocketAddr {
        let redis = RedisConfig { url: url.to_string(), prefix: self.redis.prefix.clone() };
        serve(solution_caching::app(Config { upstream: self.upstream.client.clone(), redis })).await
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        // Best effort: with Redis down there is nothing to remove.
        let _ = store::forget_blocking(&self.redis.url, &self.redis.prefix);
    }
}

async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// One HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    fn product(&self) -> Product {
        assert_eq!(self.status, 200, "{}", self.body);
        serde_json::from_str(&self.body).unwrap_or_else(|err| panic!("not a product ({err}): {}", self.body))
    }

    fn listing(&self) -> CategoryListing {
        assert_eq!(self.status, 200, "{}", self.body);
        serde_json::from_str(&self.body).unwrap_or_else(|err| panic!("not a listing ({err}): {}", self.body))
    }
}

/// `method path` with `headers` and an optional JSON body.
async fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Answer {
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().expect("a client");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = client.request(method.clone(), format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_string());
    }
    let response = request.send().await.unwrap_or_else(|err| panic!("{method} {path}: {err}"));
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or_default().to_string()))
        .collect();
    let body = response.text().await.unwrap_or_else(|err| panic!("{method} {path}: {err}"));
    Answer { status, headers, body }
}

async fn get(addr: SocketAddr, path: &str) -> Answer {
    send(addr, "GET", path, &[], None).await
}

async fn put(addr: SocketAddr, path: &str, body: &str) -> Answer {
    send(addr, "PUT", path, &[], Some(body)).await
}

async fn stats(addr: SocketAddr) -> Vec<(String, u64, u64)> {
    let answer = get(addr, "/cache/stats").await;
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let stats: CacheStats = serde_json::from_str(&answer.body).expect("cache stats");
    stats.layers.into_iter().map(|layer| (layer.layer, layer.hits, layer.misses)).collect()
}

#[tokio::test]
async fn repeated_reads_cost_one_upstream_call_and_show_in_the_stats() {
    let bench = Bench::new(Duration::from_millis(2)).await;
    let first = bench.instance().await;
    for _ in 0..10 {
        assert_eq!(get(first, "/products/1").await.product().name, "item 1");
    }
    for _ in 0..5 {
        assert_eq!(get(first, "/categories/audio").await.listing().count, 2);
    }
    for _ in 0..3 {
        assert_eq!(get(first, "/products/99").await.status, 404, "a 404 is cached too");
    }
    let calls = bench.upstream.calls().await;
    assert_eq!((calls.reads, calls.lists), (2, 1), "one upstream call per thing read");
    assert_eq!(stats(first).await, [("memory".into(), 15, 3), ("redis".into(), 0, 3)]);

    // A second instance finds what the first loaded in Redis.
    let second = bench.instance().await;
    assert_eq!(get(second, "/products/1").await.product().name, "item 1");
    assert_eq!(get(second, "/products/99").await.status, 404);
    assert_eq!(bench.upstream.calls().await.reads, 2, "the second instance read Redis, not the upstream");
    assert_eq!(stats(second).await, [("memory".into(), 0, 2), ("redis".into(), 2, 0)]);
}

#[tokio::test]
async fn a_write_on_one_instance_is_seen_by_the_next_read_on_another() {
    let bench = Bench::new(Duration::from_millis(2)).await;
    let (a, b) = (bench.instance().await, bench.instance().await);
    // Both instances hold the old answers in memory.
    for addr in [a, b] {
        for _ in 0..2 {
            assert_eq!(get(addr, "/products/1").await.product().version, 1);
            assert_eq!(get(addr, "/categories/audio").await.listing().count, 2);
        }
    }
    let written = put(a, "/products/1", r#"{"price_cents": 777, "stock": 0}"#).await;
    assert_eq!(written.header("cache-control"), Some("no-store"));
    let written = written.product();
    assert_eq!((written.price_cents, written.version), (777, 2));
    for addr in [b, a] {
        assert_eq!(get(addr, "/products/1").await.product(), written, "a read after the write");
        let listing = get(addr, "/categories/audio").await.listing();
        let entry = listing.products.iter().find(|p| p.id == 1).expect("still listed");
        assert_eq!((entry.price_cents, entry.in_stock), (777, false), "the listing after the write");
    }
    // A delete on the other instance: a 404 and a shorter listing everywhere.
    assert_eq!(send(b, "DELETE", "/products/2", &[], None).await.status, 204);
    for addr in [a, b] {
        assert_eq!(get(addr, "/products/2").await.status, 404);
        assert_eq!(get(addr, "/categories/audio").await.listing().count, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cold_reads_share_one_upstream_call() {
    // A slow upstream, so every request arrives while the first load is still running.
    let bench = Bench::new(Duration::from_millis(100)).await;
    let addr = bench.instance().await;
    for path in ["/products/3", "/categories/books"] {
        let tasks: Vec<_> = (0..100).map(|_| tokio::spawn(async move { get(addr, path).await })).collect();
        let mut bodies = std::collections::HashSet::new();
        for task in tasks {
            let answer = task.await.expect("the request task");
            assert_eq!(answer.status, 200, "{}", answer.body);
            bodies.insert(answer.body);
        }
        assert_eq!(bodies.len(), 1, "every request got the same answer");
    }
    let calls = bench.upstream.calls().await;
    assert_eq!((calls.reads, calls.lists), (1, 1), "100 concurrent misses of one key cost one upstream call");
}

#[tokio::test]
async fn a_matching_if_none_match_gets_a_304_without_a_body() {
    let bench = Bench::new(Duration::from_millis(2)).await;
    let (a, b) = (bench.instance().await, bench.instance().await);
    let first = get(a, "/products/4").await;
    assert_eq!(first.header("cache-control"), Some("no-cache"), "clients must revalidate");
    assert_eq!(first.header("content-type"), Some("application/json"));
    let etag = first.header("etag").expect("an ETag").to_string();
    assert!(etag.len() == 34 && etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert_eq!(get(b, "/products/4").await.header("etag"), Some(etag.as_str()), "same bytes, same tag, any instance");

    let list = format!("\"nope\", {etag}");
    for condition in [etag.as_str(), "*", list.as_str()] {
        let answer = send(a, "GET", "/products/4", &[("If-None-Match", condition)], None).await;
        assert_eq!((answer.status, answer.body.as_str()), (304, ""), "If-None-Match: {condition}");
        assert_eq!(answer.header("etag"), Some(etag.as_str()));
        assert_eq!(answer.header("cache-control"), Some("no-cache"));
    }
    let other = send(a, "GET", "/products/4", &[("If-None-Match", "\"nope\"")], None).await;
    assert_eq!(other.status, 200);

    // After a write the old tag no longer matches: the new body comes with a new tag.
    assert_eq!(put(b, "/products/4", r#"{"name": "renamed"}"#).await.status, 200);
    let changed = send(a, "GET", "/products/4", &[("If-None-Match", &etag)], None).await;
    assert_eq!(changed.product().name, "renamed");
    assert_ne!(changed.header("etag"), Some(etag.as_str()));

    // Listings have tags too; errors are never stored.
    let listing = get(a, "/categories/books").await;
    let tag = listing.header("etag").expect("a listing ETag").to_string();
    assert_eq!(send(a, "GET", "/categories/books", &[("If-None-Match", &tag)], None).await.status, 304);
    let missing = get(a, "/products/99").await;
    assert_eq!((missing.status, missing.header("cache-control")), (404, Some("no-store")));
    assert_eq!(missing.header("etag"), None);
    let bad = get(a, "/products/0").await;
    assert_eq!((bad.status, bad.header("cache-control")), (400, Some("no-store")));
}

#[tokio::test]
async fn every_key_is_under_the_prefix_and_has_a_ttl() {
    let bench = Bench::new(Duration::from_millis(1)).await;
    let addr = bench.instance().await;
    get(addr, "/products/1").await;
    get(addr, "/products/99").await;
    get(addr, "/categories/audio").await;
    put(addr, "/products/1", r#"{"stock": 3}"#).await;
    send(addr, "DELETE", "/products/3", &[], None).await;
    get(addr, "/products/1").await;
    let mut redis = store::connect(&bench.redis.url).await.expect("Redis");
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{}*", bench.redis.prefix)).query_async(&mut redis).await.unwrap();
    assert!(keys.len() >= 5, "{keys:?}");
    for key in &keys {
        let ttl: i64 = redis::cmd("TTL").arg(key).query_async(&mut redis).await.unwrap();
        assert!(ttl > 0, "{key} has no TTL ({ttl})");
    }
    let versions = format!("{}v1:versions", bench.redis.prefix);
    assert!(keys.contains(&versions), "{keys:?}");
}

#[tokio::test]
async fn with_nothing_where_redis_should_be_every_answer_is_right_and_quick() {
    for url in ["redis://127.0.0.1:1", "not a url"] {
        let bench = Bench::with_url(url.into(), Duration::from_millis(2)).await;
        let addr = bench.instance().await;
        for round in 0..10_u64 {
            let price = 1_000 + round;
            let answer = put(addr, "/products/2", &format!(r#"{{"price_cents": {price}}}"#)).await;
            assert_eq!(answer.product().price_cents, price, "{url}: the write reached the upstream");
            assert_eq!(get(addr, "/products/2").await.product().price_cents, price, "{url}: read after write");
            let listing = get(addr, "/categories/audio").await.listing();
            assert_eq!(listing.products.iter().find(|p| p.id == 2).map(|p| p.price_cents), Some(price));
        }
        assert_eq!(get(addr, "/products/99").await.status, 404);
        let calls = bench.upstream.calls().await;
        assert_eq!((calls.writes, calls.reads, calls.lists), (10, 11, 10), "{url}: every request reached the upstream");
        let layers = stats(addr).await;
        assert!(layers.iter().all(|(_, hits, _)| *hits == 0), "{url}: no hits without Redis: {layers:?}");
    }
}

#[tokio::test]
async fn a_redis_that_never_answers_costs_a_few_timeouts_not_one_per_request() {
    // Accepts connections and never says a word: a hung server, not a refused port.
    // It counts what it is sent, a call (one command or one pipeline) per read of its socket: the calls the breaker let through.
    let silent = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let url = format!("redis://{}", silent.local_addr().expect("bound"));
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = calls.clone();
    let held = tokio::spawn(async move {
        let mut readers = Vec::new();
        while let Ok((mut connection, _)) = silent.accept().await {
            let counted = counted.clone();
            readers.push(tokio::spawn(async move {
                let mut buffer = [0_u8; 4096];
                while let Ok(1..) = connection.read(&mut buffer).await {
                    counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }));
        }
    });
    let bench = Bench::with_url(url, Duration::from_millis(2)).await;
    let addr = bench.instance().await;
    let started = Instant::now();
    for round in 0..20_u32 {
        let stock = round + 10;
        assert_eq!(put(addr, "/products/1", &format!(r#"{{"stock": {stock}}}"#)).await.product().stock, stock);
        assert_eq!(get(addr, "/products/1").await.product().stock, stock);
    }
    // 40 requests make about 100 Redis calls. The breaker lets three through, then one trial per second
    // it stays open (so the bound grows with however long a loaded machine took).
    let trials = started.elapsed().as_secs() + 1;
    let sent = calls.load(std::sync::atomic::Ordering::SeqCst);
    assert!(sent <= 3 + 2 * trials, "{sent} Redis calls went to a Redis that never answers, in {trials} s");
    // Closed before the bench's clean-up, which would otherwise wait on the silent server.
    held.abort();
    let _ = held.await;
}

#[tokio::test]
async fn redis_losing_its_data_starts_a_new_epoch() {
    let bench = Bench::new(Duration::from_millis(2)).await;
    let addr = bench.instance().await;
    assert_eq!(get(addr, "/products/3").await.product().stock, 3);
    // A change the cache never heard of (as one made while Redis was down), then Redis loses every key.
    let patch = ItemPatch { stock: Some(0), ..ItemPatch::default() };
    bench.upstream.client.update(3, &patch).await.expect("upstream write").expect("product 3");
    store::forget(&bench.redis.url, &bench.redis.prefix).await.expect("keys removed");
    // The version read for the first GET is trusted for one lease; nothing the service was told changed
    // within it, so only a lease later does the service ask Redis again.
    tokio::time::sleep(solution_caching::cache::LEASE).await;
    // The memory copy was tagged with the lost epoch: it must not come back.
    assert_eq!(get(addr, "/products/3").await.product().stock, 0);
}

#[tokio::test]
async fn writes_during_an_outage_are_never_hidden_by_old_copies() {
    let bench = Bench::new(Duration::from_millis(2)).await;
    // A reaches Redis through a proxy that can refuse it, B directly: only A sees the outage.
    let proxy = RedisProxy::start(&bench.redis.url).await.expect("a proxy in front of Redis");
    let a = bench.instance_on(proxy.url()).await;
    let b = bench.instance().await;
    for addr in [a, b] {
        assert_eq!(get(addr, "/products/4").await.product().stock, 4);
        assert_eq!(get(addr, "/products/4").await.product().stock, 4);
    }

    proxy.set_mode(Mode::Refuse);
    assert_eq!(put(a, "/products/4", r#"{"stock": 40}"#).await.product().stock, 40, "writes go on");
    for _ in 0..5 {
        assert_eq!(get(a, "/products/4").await.product().stock, 40, "reads skip the cache they cannot check");
    }

    proxy.set_mode(Mode::Pass);
    // Past the breaker's pause: the next read tries Redis again, and starts a new epoch.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(get(a, "/products/4").await.product().stock, 40);
    assert_eq!(get(b, "/products/4").await.product().stock, 40, "B's memory copy was retired by the new epoch");
    assert_eq!(get(a, "/products/4").await.product().stock, 40);
}
