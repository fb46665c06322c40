//! Contract tests every implementation runs.
//!
//! A crate runs them with one line in `tests/contract.rs`:
//!
//! ```ignore
//! lab_caching::contract_tests!(exercise_caching::SERVICE, baseline_caching::SERVICE);
//! ```
//!
//! They check behaviour, not speed: the baseline, which has no cache,
//! passes them, and so must every cache. Each test starts its own upstream
//! in-process (so its call counts are the test's own) and gives the service
//! a Redis key prefix of its own, removed at the end. Expected answers are
//! computed here from the generated catalogue; the reference implementation
//! (the frozen baseline) is compared on whole workloads.

use std::time::Duration;

use axum::Router;
use lab_support::exchange::{assert_json_4xx, send, send_any};
use lab_support::fuzz::{HANG, Route, Valid};
use lab_support::{Exchange, Req, Size};
use serde_json::{Value, json};

use crate::api::{CacheStats, CategoryListing, Product};
use crate::data::{CATEGORIES, Catalog};
use crate::redis_proxy::{Mode, RedisProxy};
use crate::upstream::{Running, UpstreamCalls};
use crate::workload::{self, Workload};
use crate::{Config, RedisConfig, Service, store};

/// A multi-threaded runtime like the one the driver serves on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

/// Latency of a test's upstream: enough to matter, little enough to keep tests quick.
pub const TEST_LATENCY: Duration = Duration::from_millis(2);

/// What one test builds services on: an upstream of its own, and a Redis
/// prefix of its own behind a proxy of its own that counts the commands
/// and can take Redis away. The prefix's keys are removed when it is dropped.
#[derive(Debug)]
pub struct Bench {
    pub catalog: Catalog,
    pub upstream: Running,
    /// What the services are given: the proxy's URL, when there is one.
    pub redis: RedisConfig,
    /// The Redis behind the proxy.
    pub real_redis: String,
    pub proxy: Option<RedisProxy>,
}

impl Bench {
    /// An upstream serving the catalogue of `seed` and `size`, and a fresh
    /// prefix on the Redis at `REDIS_URL`, reached through a counting
    /// proxy; panics with one line saying how to start Redis when it is not
    /// reachable.
    pub async fn new(seed: u64, size: Size) -> Bench {
        let url = store::url();
        if let Err(err) = store::connect(&url).await {
            panic!("{err:#}");
        }
        let proxy = RedisProxy::start(&url).await.unwrap_or_else(|err| panic!("{err:#}"));
        let mut bench = Bench::with_redis_url(seed, size, proxy.url().to_string()).await;
        bench.real_redis = url;
        bench.proxy = Some(proxy);
        bench
    }

    /// The same with Redis at `url`, reachable or not, and no proxy.
    pub async fn with_redis_url(seed: u64, size: Size, url: String) -> Bench {
        let catalog = Catalog::generate(seed, size);
        let upstream = Running::start(catalog.clone(), TEST_LATENCY).await.expect("an in-process upstream starts");
        let redis = RedisConfig { url: url.clone(), prefix: store::unique_prefix("test") };
        Bench { catalog, upstream, redis, real_redis: url, proxy: None }
    }

    /// Commands the bench's services sent Redis so far (0 without a proxy).
    pub fn redis_commands(&self) -> u64 {
        self.proxy.as_ref().map_or(0, RedisProxy::commands)
    }

    /// Takes Redis away (refused or hung) or brings it back.
    pub fn set_redis(&self, mode: Mode) {
        self.proxy.as_ref().expect("a bench made with Bench::new has a proxy").set_mode(mode);
    }

    /// The config an instance of a service gets: every instance of one bench shares the upstream and the prefix.
    pub fn config(&self) -> Config {
        Config { upstream: self.upstream.client.clone(), redis: self.redis.clone() }
    }

    /// One instance of `service` on this bench.
    pub fn app(&self, service: &Service) -> Router {
        (service.app)(self.config())
    }

    /// The calls the upstream has answered so far.
    pub async fn calls(&self) -> UpstreamCalls {
        self.upstream.calls().await
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        // Best effort: with Redis down there is nothing to remove.
        let _ = store::forget_blocking(&self.real_redis, &self.redis.prefix);
    }
}

/// `req`, failing the test if it takes longer than [`HANG`].
pub async fn send_in_time(router: &Router, req: &Req) -> Exchange {
    match tokio::time::timeout(HANG, send(router, req)).await {
        Ok(answer) => answer,
        Err(_) => panic!("{} {} hung for {} s", req.method, req.uri, HANG.as_secs()),
    }
}

/// Sends `reqs` in order and records every answer.
pub async fn exchanges(router: &Router, reqs: &[Req]) -> Vec<Exchange> {
    let mut out = Vec::with_capacity(reqs.len());
    for req in reqs {
        out.push(send_in_time(router, req).await);
    }
    out
}

/// Panics at the first answer of `target` that differs from `reference`'s.
pub fn assert_same_answers(context: &str, target: &[Exchange], reference: &[Exchange]) {
    assert_eq!(target.len(), reference.len(), "{context}: different numbers of answers");
    for (got, want) in target.iter().zip(reference) {
        assert_eq!(
            (got.status, &got.body),
            (want.status, &want.body),
            "{context}: {} {} answered differently from the reference",
            got.req.method,
            got.req.uri
        );
    }
}

fn product_of(answer: &Exchange) -> Product {
    serde_json::from_value(answer.body.clone()).unwrap_or_else(|err| {
        panic!("{} {}: not a product ({err}): {}", answer.req.method, answer.req.uri, answer.body)
    })
}

fn listing_of(answer: &Exchange) -> CategoryListing {
    serde_json::from_value(answer.body.clone())
        .unwrap_or_else(|err| panic!("{}: not a category listing ({err}): {}", answer.req.uri, answer.body))
}

/// The seeds a run compares on: two fixed ones and one that changes every run.
fn fresh_seeds() -> [u64; 3] {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    [1, 25, 1_000 + now % 1_000_000]
}

/// Every workload answers as the reference does, on fixed and fresh seeds,
/// each side on an upstream and a prefix of its own.
pub fn answers_match_the_reference_on_fresh_seeds(target: Service, reference: Service) {
    runtime().block_on(async {
        for seed in fresh_seeds() {
            for (kind, n) in [(Workload::Mixed, 400), (Workload::Writes, 90), (Workload::Hot, 40)] {
                let reqs = {
                    let catalog = Catalog::generate(seed, Size::Tiny);
                    workload::requests(kind, seed, &catalog, n)
                };
                let target_bench = Bench::new(seed, Size::Tiny).await;
                let got = exchanges(&target_bench.app(&target), &reqs).await;
                let reference_bench = Bench::new(seed, Size::Tiny).await;
                let want = exchanges(&reference_bench.app(&reference), &reqs).await;
                assert_same_answers(&format!("seed {seed}, {kind:?}"), &got, &want);
            }
        }
    });
}

/// A product is the upstream's item; an id it does not have is a JSON 404.
pub fn a_product_is_the_upstream_item(service: Service) {
    runtime().block_on(async {
        let bench = Bench::new(3, Size::Tiny).await;
        let app = bench.app(&service);
        for id in [1, 2, 120, 240] {
            let answer = send_in_time(&app, &Req::get(format!("/products/{id}"))).await;
            assert_eq!(answer.status, 200, "GET /products/{id}: {}", answer.body);
            let item = bench.catalog.get(id).expect("seeded").clone();
            assert_eq!(product_of(&answer), Product::from(item));
        }
        let missing = send_in_time(&app, &Req::get("/products/241")).await;
        assert_eq!((missing.status, &missing.body["error"]), (404, &json!("not_found")), "{}", missing.body);
    });
}

/// A category lists its products in id order, with whether each is in stock.
pub fn a_category_lists_its_products_in_id_order(service: Service) {
    runtime().block_on(async {
        let bench = Bench::new(4, Size::Tiny).await;
        let app = bench.app(&service);
        for category in CATEGORIES {
            let answer = send_in_time(&app, &Req::get(format!("/categories/{category}"))).await;
            assert_eq!(answer.status, 200, "GET /categories/{category}: {}", answer.body);
            let items: Vec<_> = bench.catalog.items.iter().filter(|item| item.category == category).cloned().collect();
            assert_eq!(listing_of(&answer), CategoryListing::new(category.to_string(), &items));
        }
        let unknown = send_in_time(&app, &Req::get("/categories/furniture")).await;
        assert_eq!((unknown.status, &unknown.body["error"]), (404, &json!("not_found")), "{}", unknown.body);
    });
}

/// A change is answered with the changed product, and every read after it,
/// of the product or of its category, shows it; so does a second instance.
pub fn a_change_is_seen_by_every_later_read(service: Service) {
    runtime().block_on(async {
        let bench = Bench::new(5, Size::Tiny).await;
        let (first, second) = (bench.app(&service), bench.app(&service));
        let item = bench.catalog.get(7).expect("seeded").clone();
        let product = Req::get("/products/7");
        let category = Req::get(format!("/categories/{}", item.category));
        // Both instances read first, so a cache would hold the old answers.
        for app in [&first, &second] {
            for _ in 0..2 {
                assert_eq!(product_of(&send_in_time(app, &product).await).version, 1);
                send_in_time(app, &category).await;
            }
        }
        for (round, (writer, reader)) in
            [(&first, &second), (&second, &first), (&first, &first)].into_iter().enumerate()
        {
            let price = 1_000 + round as u64;
            let change =
                Req::put("/products/7", json!({"price_cents": price, "stock": 0, "name": format!("renamed {round}")}));
            let answer = send_in_time(writer, &change).await;
            assert_eq!(answer.status, 200, "PUT /products/7: {}", answer.body);
            let changed = product_of(&answer);
            assert_eq!((changed.price_cents, changed.stock, changed.version), (price, 0, 2 + round as u64));
            for app in [reader, writer] {
                assert_eq!(product_of(&send_in_time(app, &product).await), changed, "a read after the change");
                let listing = listing_of(&send_in_time(app, &category).await);
                let entry = listing.products.iter().find(|p| p.id == 7).expect("still listed");
                assert_eq!(
                    (entry.price_cents, entry.in_stock, entry.name.as_str()),
                    (price, false, changed.name.as_str()),
                    "the category after the change"
                );
            }
        }
    });
}

/// A deleted product is a 404 everywhere afterwards, and gone from its category.
pub fn a_deleted_product_is_gone_everywhere(service: Service) {
    runtime().block_on(async {
        let bench = Bench::new(6, Size::Tiny).await;
        let (first, second) = (bench.app(&service), bench.app(&service));
        let item = bench.catalog.get(9).expect("seeded").clone();
        let category = Req::get(format!("/categories/{}", item.category));
        for app in [&first, &second] {
            assert_eq!(send_in_time(app, &Req::get("/products/9")).await.status, 200);
            send_in_time(app, &category).await;
        }
        let deleted = send_any(&first, "DELETE", "/products/9", None, None).await;
        assert_eq!((deleted.status, &deleted.body), (204, &json!("")), "DELETE answers 204 with no body");
        for app in [&second, &first] {
            let gone = send_in_time(app, &Req::get("/products/9")).await;
            assert_eq!((gone.status, &gone.body["error"]), (404, &json!("not_found")), "{}", gone.body);
            let listing = listing_of(&send_in_time(app, &category).await);
            assert!(listing.products.iter().all(|p| p.id != 9), "the deleted product is still listed");
            assert_eq!(listing.count, listing.products.len());
        }
        let again = send_in_time(&second, &Req::delete("/products/9")).await;
        assert_eq!((again.status, &again.body["error"]), (404, &json!("not_found")), "{}", again.body);
    });
}

/// Every malformed request is a JSON 4xx that changes nothing upstream.
pub fn bad_input_is_a_json_4xx_and_changes_nothing(service: Service) {
    runtime().block_on(async {
        let bench = Bench::new(7, Size::Tiny).await;
        let app = bench.app(&service);
        let json = Some("application/json");
        // (method, uri, content type, body, status)
        type Case<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, u16);
        let cases: &[Case] = &[
            ("GET", "/products/0", None, None, 400),
            ("GET", "/products/-3", None, None, 400),
            ("GET", "/products/abc", None, None, 400),
            ("GET", "/products/99999999999", None, None, 400),
            ("GET", "/categories/Toys", None, None, 400),
            ("GET", "/categories/toys%2F..", None, None, 400),
            ("GET", "/categories/abcdefghijklmnopqrstuvwxyzabcdefg", None, None, 400),
            ("PUT", "/products/1", json, Some("{}"), 422),
            ("PUT", "/products/1", json, Some(r#"{"price_cents": 0}"#), 422),
            ("PUT", "/products/1", json, Some(r#"{"stock": 1000001}"#), 422),
            ("PUT", "/products/1", json, Some(r#"{"name": "   "}"#), 422),
            ("PUT", "/products/1", json, Some(r#"{"colour": "red"}"#), 422),
            ("PUT", "/products/1", json, Some(r#"{"stock": -1}"#), 422),
            ("PUT", "/products/1", json, Some("not json"), 400),
            ("PUT", "/products/1", Some("text/plain"), Some(r#"{"stock": 1}"#), 415),
            ("PUT", "/products/1", None, None, 415),
            ("POST", "/products/1", json, Some(r#"{"stock": 1}"#), 405),
            ("DELETE", "/categories/toys", None, None, 405),
            ("GET", "/nothing/here", None, None, 404),
        ];
        for &(method, uri, content_type, body, status) in cases {
            let answer = send_any(&app, method, uri, content_type, body).await;
            assert_json_4xx(&answer);
            assert_eq!(answer.status, status, "{method} {uri} {body:?}: {}", answer.body);
        }
        let calls = bench.calls().await;
        assert_eq!((calls.writes, calls.deletes), (0, 0), "a refused change reached the upstream");
        assert_eq!(product_of(&send_in_time(&app, &Req::get("/products/1")).await).version, 1);
    });
}

/// `GET /health` touches neither the upstream nor Redis; `GET /cache/stats`
/// is a [`CacheStats`] whose counts never go down.
pub fn health_and_stats_answer_without_the_upstream(service: Service) {
    runtime().block_on(async {
        let bench = Bench::new(8, Size::Tiny).await;
        let app = bench.app(&service);
        let health = send_in_time(&app, &Req::get("/health")).await;
        assert_eq!((health.status, &health.body), (200, &json!({"status": "ok"})));
        let stats = |answer: Exchange| -> CacheStats {
            assert_eq!(answer.status, 200, "{}", answer.body);
            serde_json::from_value(answer.body.clone()).unwrap_or_else(|err| panic!("{err}: {}", answer.body))
        };
        let before = stats(send_in_time(&app, &Req::get("/cache/stats")).await);
        assert_eq!(bench.calls().await.total(), 0, "/health or /cache/stats called the upstream");
        for _ in 0..3 {
            send_in_time(&app, &Req::get("/products/2")).await;
        }
        let after = stats(send_in_time(&app, &Req::get("/cache/stats")).await);
        assert_eq!(before.layers.len(), after.layers.len(), "the layers changed between two calls");
        for (b, a) in before.layers.iter().zip(&after.layers) {
            assert!(a.layer == b.layer && a.hits >= b.hits && a.misses >= b.misses, "{before:?} then {after:?}");
        }
    });
}

/// With nothing listening where Redis should be, every request is still
/// answered as the reference answers it, in time, and every change reaches the upstream.
pub fn redis_down_loses_no_write_and_fails_no_request(service: Service, reference: Service) {
    runtime().block_on(async {
        let seed = 9;
        let reqs = workload::requests(Workload::Writes, seed, &Catalog::generate(seed, Size::Tiny), 60);
        let writes = reqs.iter().filter(|req| req.method == "PUT").count() as u64;
        let down = Bench::with_redis_url(seed, Size::Tiny, "redis://127.0.0.1:1".into()).await;
        let got = exchanges(&down.app(&service), &reqs).await;
        assert_eq!(down.calls().await.writes, writes, "every change must reach the upstream");
        let reference_bench = Bench::new(seed, Size::Tiny).await;
        let want = exchanges(&reference_bench.app(&reference), &reqs).await;
        assert_same_answers("Redis down", &got, &want);
        let nonsense = Bench::with_redis_url(seed, Size::Tiny, "not a url".into()).await;
        let answer = send_in_time(&nonsense.app(&service), &Req::get("/products/3")).await;
        assert_eq!(answer.status, 200, "with an unusable REDIS url: {}", answer.body);
    });
}

/// The routes, for the fuzzer.
pub const ROUTES: &[Route] = &[
    Route { method: "GET", path: "/products/{}", query: &[], fields: &[] },
    Route { method: "PUT", path: "/products/{}", query: &[], fields: &["name", "price_cents", "stock"] },
    Route { method: "DELETE", path: "/products/{}", query: &[], fields: &[] },
    Route { method: "GET", path: "/categories/{}", query: &[], fields: &[] },
    Route { method: "GET", path: "/cache/stats", query: &[], fields: &[] },
    Route { method: "GET", path: "/health", query: &[], fields: &[] },
];

/// No request built from the routes, valid values and hostile ones, gets a 5xx, a hang or a non-JSON 4xx.
pub fn no_request_gets_a_5xx(service: Service) {
    let runtime = runtime();
    let (bench, router) = runtime.block_on(async {
        let bench = Bench::new(10, Size::Tiny).await;
        let router = bench.app(&service);
        (bench, router)
    });
    let valid = Valid {
        text: ["1", "17", "240", "toys", "books"].map(String::from).to_vec(),
        json: vec![json!(1), json!(500), json!("lamp"), json!(0), Value::Null],
    };
    lab_support::fuzz::no_request_gets_a_5xx(&runtime, &router, ROUTES, &valid, 256);
    drop(router);
    runtime.block_on(async move { drop(bench) });
}

/// Runs the lab's contract tests against `$target`, comparing whole
/// workloads with `$reference` (the frozen baseline).
#[macro_export]
macro_rules! contract_tests {
    ($target:expr, $reference:expr) => {
        #[test]
        fn answers_match_the_reference_on_fresh_seeds() {
            $crate::contract::answers_match_the_reference_on_fresh_seeds($target, $reference);
        }
        #[test]
        fn a_product_is_the_upstream_item() {
            $crate::contract::a_product_is_the_upstream_item($target);
        }
        #[test]
        fn a_category_lists_its_products_in_id_order() {
            $crate::contract::a_category_lists_its_products_in_id_order($target);
        }
        #[test]
        fn a_change_is_seen_by_every_later_read() {
            $crate::contract::a_change_is_seen_by_every_later_read($target);
        }
        #[test]
        fn a_deleted_product_is_gone_everywhere() {
            $crate::contract::a_deleted_product_is_gone_everywhere($target);
        }
        #[test]
        fn bad_input_is_a_json_4xx_and_changes_nothing() {
            $crate::contract::bad_input_is_a_json_4xx_and_changes_nothing($target);
        }
        #[test]
        fn health_and_stats_answer_without_the_upstream() {
            $crate::contract::health_and_stats_answer_without_the_upstream($target);
        }
        #[test]
        fn redis_down_loses_no_write_and_fails_no_request() {
            $crate::contract::redis_down_loses_no_write_and_fails_no_request($target, $reference);
        }
        #[test]
        fn no_request_gets_a_5xx() {
            $crate::contract::no_request_gets_a_5xx($target);
        }
    };
}
