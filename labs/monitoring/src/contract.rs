//! Contract tests every implementation runs.
//!
//! A crate runs them with one line in `tests/contract.rs`:
//!
//! ```ignore
//! lab_monitoring::contract_tests!(exercise_monitoring::SERVICE, baseline_monitoring::SERVICE);
//! ```
//!
//! They check the shop's behaviour, which telemetry must never change: the
//! baseline passes them, and so must every instrumented service. Each test
//! seeds a database of its own, starts its own payment stub and gives the
//! service a Redis key prefix of its own, removed at the end.

use std::time::Duration;

use axum::Router;
use lab_support::exchange::{assert_json_4xx, send, send_any};
use lab_support::fuzz::{HANG, Route, Valid};
use lab_support::{Exchange, Req, Size};
use serde_json::{Value, json};

use crate::api::{Order, Product};
use crate::data::Shop;
use crate::db::ShopDb;
use crate::payments::Running;
use crate::telemetry::LogSink;
use crate::workload::{self, DECLINED_CARD, GOOD_CARD, Workload};
use crate::{Config, RedisConfig, Service};

/// A multi-threaded runtime like the one the driver serves on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

/// Latency of a test's payment stub.
pub const TEST_LATENCY: Duration = Duration::from_millis(1);

/// What one test builds services on: a seeded database, a payment stub and
/// a Redis prefix of its own; all of it goes when this value does.
#[derive(Debug)]
pub struct Bench {
    pub shop: Shop,
    pub db: ShopDb,
    pub payments: Running,
    pub redis: RedisConfig,
}

impl Bench {
    /// A bench on `seed` and `size`; panics with one line saying how to
    /// start PostgreSQL or Redis when either is not reachable.
    pub async fn new(seed: u64, size: Size) -> Bench {
        let url = lab_caching::store::url();
        if let Err(err) = lab_caching::store::connect(&url).await {
            panic!("{err:#}");
        }
        let db = ShopDb::fresh(seed, size).await.unwrap_or_else(|err| panic!("{err:#}"));
        let payments = Running::start(TEST_LATENCY).await.expect("the payment stub starts");
        let redis = RedisConfig { url, prefix: lab_caching::store::unique_prefix("mon") };
        Bench { shop: Shop::generate(seed, size), db, payments, redis }
    }

    pub fn config(&self) -> Config {
        Config {
            database: self.db.service_options(None).expect("the bench's database options"),
            redis: self.redis.clone(),
            payments: self.payments.client.clone(),
        }
    }

    /// `service` built on this bench, its logs going where `TEST_LOG` says.
    pub fn app(&self, service: &Service) -> Router {
        (service.telemetry)(&LogSink::for_tests());
        (service.app)(self.config())
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = lab_caching::store::forget_blocking(&self.redis.url, &self.redis.prefix);
    }
}

/// `req`, failing the test if it takes longer than [`HANG`].
pub async fn send_in_time(router: &Router, req: &Req) -> Exchange {
    match tokio::time::timeout(HANG, send(router, req)).await {
        Ok(answer) => answer,
        Err(_) => panic!("{} {} hung for {} s", req.method, req.uri, HANG.as_secs()),
    }
}

/// Sends `req` and checks it gets the JSON error shape with `status`.
pub async fn assert_error(router: &Router, req: &Req, status: u16) {
    let body = req.body.as_ref().map(Value::to_string);
    let content_type = body.as_ref().map(|_| "application/json");
    let sent = send_any(router, &req.method, &req.uri, content_type, body.as_deref());
    let answer = tokio::time::timeout(HANG, sent)
        .await
        .unwrap_or_else(|_| panic!("{} {} hung for {} s", req.method, req.uri, HANG.as_secs()));
    assert_eq!(answer.status, status, "{}: {}", answer.request, answer.body);
    assert_json_4xx(&answer);
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

/// The seeds a run compares on: a fixed one and one that changes every run.
fn fresh_seeds() -> [u64; 2] {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    [26, 1_000 + now % 1_000_000]
}

/// Every workload answers as the reference does, on a fixed and a fresh
/// seed, each side on a bench of its own.
pub fn answers_match_the_reference_on_fresh_seeds(target: Service, reference: Service) {
    runtime().block_on(async {
        for seed in fresh_seeds() {
            for (kind, n) in [(Workload::Mixed, 300), (Workload::Orders, 60), (Workload::Scatter, 30)] {
                let reqs = workload::requests(kind, seed, &Shop::generate(seed, Size::Tiny), n);
                let target_bench = Bench::new(seed, Size::Tiny).await;
                let got = exchanges(&target_bench.app(&target), &reqs).await;
                let reference_bench = Bench::new(seed, Size::Tiny).await;
                let want = exchanges(&reference_bench.app(&reference), &reqs).await;
                assert_same_answers(&format!("seed {seed}, {kind:?}"), &got, &want);
            }
        }
    });
}

/// An order charges the card once, lowers the stock and can be read back;
/// a declined card or too few units left change nothing.
pub fn an_order_charges_once_and_lowers_the_stock(service: Service) {
    runtime().block_on(async {
        let bench = Bench::new(4, Size::Tiny).await;
        let app = bench.app(&service);
        let seeded = bench.shop.products.iter().find(|p| p.stock >= 5).expect("a product in stock");
        let read = |app: Router, sku: String| async move {
            let answer = send_in_time(&app, &Req::get(format!("/products/{sku}"))).await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            serde_json::from_value::<Product>(answer.body).expect("a product")
        };
        assert_eq!(read(app.clone(), seeded.sku.clone()).await.stock, seeded.stock);

        let order = |card: &str, quantity: i32| {
            Req::post("/orders", json!({"sku": seeded.sku, "quantity": quantity, "card": card}))
        };
        let placed = send_in_time(&app, &order(GOOD_CARD, 2)).await;
        assert_eq!(placed.status, 201, "an order in stock: {}", placed.body);
        let placed: Order = serde_json::from_value(placed.body).expect("an order");
        assert_eq!((placed.quantity, placed.total_cents), (2, 2 * seeded.price_cents));
        assert_eq!(read(app.clone(), seeded.sku.clone()).await.stock, seeded.stock - 2, "a read after the order");

        assert_error(&app, &order(DECLINED_CARD, 1), 402).await;
        if seeded.stock - 2 < 20 {
            assert_error(&app, &order(GOOD_CARD, 20), 409).await;
        }
        assert_eq!(read(app.clone(), seeded.sku.clone()).await.stock, seeded.stock - 2, "nothing more was sold");

        let back = send_in_time(&app, &Req::get(format!("/orders/{}", placed.id))).await;
        assert_eq!(back.status, 200, "{}", back.body);
        assert_eq!(serde_json::from_value::<Order>(back.body).expect("an order"), placed);
        let calls = bench.payments.client.calls().await.expect("the stub's calls");
        assert_eq!(calls.charges, 2, "one charge for the order and one for the declined card");
    });
}

/// Bad input is a JSON 4xx, and an unknown product or order a JSON 404.
pub fn bad_input_is_a_json_4xx(service: Service) {
    runtime().block_on(async {
        let bench = Bench::new(5, Size::Tiny).await;
        let app = bench.app(&service);
        let cases = [
            (Req::get("/products/nope"), 400),
            (Req::get("/products/SKU-99999"), 404),
            (Req::get("/orders/0"), 400),
            (Req::get("/orders/999999"), 404),
            (Req::post("/orders", json!({"sku": "SKU-00001", "quantity": 0, "card": GOOD_CARD})), 422),
            (Req::post("/orders", json!({"sku": "SKU-00001", "quantity": 1})), 422),
            (Req::post("/orders", json!({"sku": "SKU-99999", "quantity": 1, "card": GOOD_CARD})), 404),
            (Req::get("/no/such/route"), 404),
            (Req::delete("/products/SKU-00001"), 405),
        ];
        for (req, status) in cases {
            assert_error(&app, &req, status).await;
        }
        assert_eq!(bench.payments.client.calls().await.expect("calls").charges, 0, "bad input charged a card");
    });
}

/// The routes, for the fuzzer.
pub const ROUTES: &[Route] = &[
    Route { method: "GET", path: "/products/{}", query: &[], fields: &[] },
    Route { method: "POST", path: "/orders", query: &[], fields: &["sku", "quantity", "card"] },
    Route { method: "GET", path: "/orders/{}", query: &[], fields: &[] },
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
        text: ["SKU-00001", "SKU-00007", "1", "2", GOOD_CARD].map(String::from).to_vec(),
        json: vec![json!("SKU-00003"), json!(1), json!(GOOD_CARD), json!(DECLINED_CARD), Value::Null],
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
        fn an_order_charges_once_and_lowers_the_stock() {
            $crate::contract::an_order_charges_once_and_lowers_the_stock($target);
        }
        #[test]
        fn bad_input_is_a_json_4xx() {
            $crate::contract::bad_input_is_a_json_4xx($target);
        }
        #[test]
        fn no_request_gets_a_5xx() {
            $crate::contract::no_request_gets_a_5xx($target);
        }
    };
}
