//! The lab's lessons, measured: what a read costs the upstream, whether a
//! second instance shares the cache, what a stampede costs, conditional
//! requests, riding out a Redis outage, and whether the cache's own hit
//! counts add up.
//!
//! Every number here is a count made outside the service: calls the
//! test's own upstream answered, and answers read off the wire. The starter
//! fails them (it has no cache) and the solution passes them; an exercise
//! runs them with `cargo test -p exercise-caching -- --ignored`:
//!
//! ```ignore
//! lab_caching::lesson_tests!(exercise_caching::SERVICE, ignored);
//! ```

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, header};
use http_body_util::BodyExt;
use lab_support::{Req, Size};
use tower::ServiceExt;

use crate::Service;
use crate::api::CacheStats;
use crate::contract::{Bench, exchanges, runtime, send_in_time};
use crate::redis_proxy::Mode;
use crate::workload::{self, Workload};

/// An answer with its headers, as an HTTP cache sees it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// A header's value as text ("" when absent or not text).
    pub fn header(&self, name: header::HeaderName) -> &str {
        self.headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or_default()
    }
}

/// `GET uri`, with `If-None-Match` when an ETag is given.
pub async fn get_with(router: &Router, uri: &str, if_none_match: Option<&str>) -> Answer {
    let mut request = Request::builder().uri(uri);
    if let Some(etag) = if_none_match {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    let request = request.body(Body::empty()).expect("a valid request");
    let response = router.clone().oneshot(request).await.expect("axum routers are infallible");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.map(|c| c.to_bytes().to_vec()).unwrap_or_default();
    Answer { status, headers, body }
}

/// Reads of the eight most popular products, 200 of them, cost one upstream call per product at most.
pub fn repeated_reads_cost_one_upstream_call_per_product(service: Service) {
    runtime().block_on(async {
        let bench = Bench::new(11, Size::Tiny).await;
        let reqs = workload::requests(Workload::Hot, 11, &bench.catalog, 200);
        exchanges(&bench.app(&service), &reqs).await;
        let reads = bench.calls().await.reads;
        assert!(reads <= 8, "200 reads of 8 products cost {reads} upstream calls: nothing is cached");
    });
}

/// A second instance, on the same Redis, reads what the first one cached without calling the upstream.
pub fn a_second_instance_reads_from_the_shared_cache(service: Service) {
    runtime().block_on(async {
        let bench = Bench::new(12, Size::Tiny).await;
        let reqs: Vec<Req> = (1..=50).map(|id| Req::get(format!("/products/{id}"))).collect();
        exchanges(&bench.app(&service), &reqs).await;
        let before = bench.calls().await;
        exchanges(&bench.app(&service), &reqs).await;
        let cost = bench.calls().await.since(&before).total();
        assert_eq!(cost, 0, "a fresh instance paid {cost} upstream calls for 50 products the first had read");
    });
}

/// 100 concurrent reads of one product nobody has read yet cost one upstream call.
pub fn concurrent_cold_reads_cost_one_upstream_call(service: Service) {
    runtime().block_on(async {
        let bench = Bench::new(13, Size::Tiny).await;
        let router = bench.app(&service);
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(100));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let (router, barrier) = (router.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    send_in_time(&router, &Req::get("/products/42")).await.status
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.expect("no panic"), 200);
        }
        let reads = bench.calls().await.reads;
        assert_eq!(reads, 1, "100 concurrent reads of one cold product cost {reads} upstream calls");
    });
}

/// A read carries a strong ETag and a Cache-Control; asking again with the
/// ETag is a 304 with no body, until a change makes it a 200 with a new ETag.
pub fn a_repeated_read_with_its_etag_is_a_304(service: Service) {
    runtime().block_on(async {
        let bench = Bench::new(14, Size::Tiny).await;
        let router = bench.app(&service);
        let category = format!("/categories/{}", bench.catalog.get(5).expect("seeded").category);
        for uri in ["/products/5", category.as_str()] {
            let first = get_with(&router, uri, None).await;
            let etag = first.header(header::ETAG).to_string();
            assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2, "{uri}: no strong ETag: {etag:?}");
            assert!(!first.header(header::CACHE_CONTROL).is_empty(), "{uri}: no Cache-Control");
            let again = get_with(&router, uri, Some(&etag)).await;
            assert_eq!((again.status, again.body.len()), (304, 0), "{uri} with If-None-Match: {etag}");
            assert_eq!(again.header(header::ETAG), etag, "{uri}: a 304 names the ETag it confirms");
            let other = get_with(&router, uri, Some("\"something-else\"")).await;
            assert_eq!(other.status, 200, "{uri}: an ETag that does not match is a 200");
        }
        let before = get_with(&router, "/products/5", None).await;
        let etag = before.header(header::ETAG).to_string();
        send_in_time(&router, &Req::put("/products/5", serde_json::json!({"stock": 0}))).await;
        let after = get_with(&router, "/products/5", Some(&etag)).await;
        assert_eq!(after.status, 200, "after a change the old ETag must not match");
        assert_ne!(after.header(header::ETAG), etag, "a changed product keeps its ETag");
    });
}

/// `GET /cache/stats` adds up: the first layer saw every read, each next
/// layer saw the misses of the one before, and the last layer's misses are
/// the reads the upstream answered.
pub fn the_cache_counts_its_hits_and_misses(service: Service) {
    runtime().block_on(async {
        let bench = Bench::new(15, Size::Tiny).await;
        let router = bench.app(&service);
        let reqs: Vec<Req> = workload::requests(Workload::Mixed, 15, &bench.catalog, 300)
            .into_iter()
            .filter(|req| req.method == "GET" && reads_something_that_exists(&bench, &req.uri))
            .collect();
        let answers = exchanges(&router, &reqs).await;
        assert!(answers.iter().all(|a| a.status == 200), "every read here is of something that exists");
        let stats: CacheStats =
            serde_json::from_value(send_in_time(&router, &Req::get("/cache/stats")).await.body).expect("a CacheStats");
        assert!(!stats.layers.is_empty(), "no cache layer reports its hits and misses");
        let mut expected = reqs.len() as u64;
        for layer in &stats.layers {
            assert_eq!(layer.hits + layer.misses, expected, "{}: lookups do not add up: {stats:?}", layer.layer);
            expected = layer.misses;
        }
        let calls = bench.calls().await;
        assert_eq!(
            expected,
            calls.reads + calls.lists,
            "the last layer's misses are not the upstream's reads: {stats:?}"
        );
    });
}

/// Redis hangs, then is down, then comes back: every answer stays what the
/// upstream holds, a hung Redis is given up on after a few calls (a circuit
/// breaker) instead of once per request, and once Redis is back a repeated
/// read costs the upstream nothing again, within seconds and without a restart.
pub fn the_service_rides_out_a_redis_outage(service: Service) {
    runtime().block_on(async {
        let bench = Bench::new(16, Size::Tiny).await;
        let router = bench.app(&service);
        let reads: Vec<Req> = (1..=10).map(|id| Req::get(format!("/products/{id}"))).collect();
        exchanges(&router, &reads).await;
        exchanges(&router, &reads).await;

        for (mode, what) in [(Mode::Silent, "hangs"), (Mode::Refuse, "is down")] {
            bench.set_redis(mode);
            let started = std::time::Instant::now();
            let before = bench.redis_commands();
            for round in 0..5_u32 {
                let id = 1 + round;
                let change = Req::put(format!("/products/{id}"), serde_json::json!({"stock": 100 + round}));
                let answer = send_in_time(&router, &change).await;
                assert_eq!(answer.status, 200, "a change while Redis {what}: {}", answer.body);
                matches_the_upstream(&bench, exchanges(&router, &reads).await).await;
            }
            if mode == Mode::Silent {
                // 55 requests would make over a hundred Redis calls; a breaker lets a few through, then about
                // one a second while it stays open (the bound grows with however long a loaded machine took).
                let trials = started.elapsed().as_secs() + 1;
                let sent = bench.redis_commands() - before;
                assert!(sent <= 10 + 5 * trials, "{sent} Redis commands went to a Redis that hangs, in {trials} s");
            }
        }

        bench.set_redis(Mode::Pass);
        let back = std::time::Instant::now();
        loop {
            // A pass to fill the cache again, then one that should cost the upstream nothing.
            matches_the_upstream(&bench, exchanges(&router, &reads).await).await;
            let before = bench.calls().await.reads;
            let answers = exchanges(&router, &reads).await;
            let cost = bench.calls().await.reads - before;
            matches_the_upstream(&bench, answers).await;
            if cost == 0 {
                break;
            }
            assert!(
                back.elapsed() < std::time::Duration::from_secs(10),
                "10 s after Redis came back, repeated reads still reach the upstream"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
}

/// Panics unless every product read in `answers` is what the upstream holds now.
async fn matches_the_upstream(bench: &Bench, answers: Vec<lab_support::Exchange>) {
    for answer in answers {
        let id: u32 = answer.req.uri.rsplit('/').next().and_then(|id| id.parse().ok()).expect("a product uri");
        let truth = bench.upstream.client.item(id).await.expect("the upstream answers").expect("seeded");
        let want = serde_json::to_value(crate::api::Product::from(truth)).expect("a product is JSON");
        assert_eq!(answer.body, want, "GET /products/{id} is not what the upstream holds");
    }
}

/// Whether `uri` reads a product or category of the bench's catalogue (deletes aside).
fn reads_something_that_exists(bench: &Bench, uri: &str) -> bool {
    match (uri.strip_prefix("/products/"), uri.strip_prefix("/categories/")) {
        (Some(id), _) => id.parse().is_ok_and(|id| bench.catalog.get(id).is_some()),
        (_, Some(name)) => crate::data::CATEGORIES.contains(&name),
        _ => false,
    }
}

/// Runs the lab's lesson checks against `$target` (`ignored` to skip them
/// until asked for, as the exercise does).
#[macro_export]
macro_rules! lesson_tests {
    ($target:expr) => {
        $crate::lesson_tests!(@tests $target, );
    };
    ($target:expr, ignored) => {
        $crate::lesson_tests!(@tests $target, #[ignore = "a lesson check: passes once the lab is done"]);
    };
    (@tests $target:expr, $(#[$attr:meta])?) => {
        #[test] $(#[$attr])?
        fn repeated_reads_cost_one_upstream_call_per_product() {
            $crate::lessons::repeated_reads_cost_one_upstream_call_per_product($target);
        }
        #[test] $(#[$attr])?
        fn a_second_instance_reads_from_the_shared_cache() {
            $crate::lessons::a_second_instance_reads_from_the_shared_cache($target);
        }
        #[test] $(#[$attr])?
        fn concurrent_cold_reads_cost_one_upstream_call() {
            $crate::lessons::concurrent_cold_reads_cost_one_upstream_call($target);
        }
        #[test] $(#[$attr])?
        fn a_repeated_read_with_its_etag_is_a_304() {
            $crate::lessons::a_repeated_read_with_its_etag_is_a_304($target);
        }
        #[test] $(#[$attr])?
        fn the_service_rides_out_a_redis_outage() {
            $crate::lessons::the_service_rides_out_a_redis_outage($target);
        }
        #[test] $(#[$attr])?
        fn the_cache_counts_its_hits_and_misses() {
            $crate::lessons::the_cache_counts_its_hits_and_misses($target);
        }
    };
}
