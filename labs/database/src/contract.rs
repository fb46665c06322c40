//! Contract tests every implementation runs.
//!
//! A crate runs them with one line in `tests/contract.rs`:
//!
//! ```ignore
//! lab_database::contract_tests!(exercise_database::SERVICE, baseline_database::SERVICE);
//! ```
//!
//! They check behaviour, not speed: the slow baseline passes them, and so
//! must every fix. Each test makes its own database (`labdb_t_*`: base
//! schema, seeded rows, the implementation's migrations) and drops it at the
//! end, so tests run in parallel and leave nothing behind. Expected answers
//! are computed here from the generated rows; the reference implementation
//! (the frozen baseline) is compared on whole workloads, and shapes are
//! pinned by insta snapshots under `labs/database/src/snapshots/`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::Router;
use lab_support::exchange::{assert_json_4xx, send, send_any};
use lab_support::fuzz::{Route, Valid};
use lab_support::{Exchange, Req, Size};
use serde_json::{Value, json};

use crate::Service;
use crate::api::{self, CategoryReport, CategoryTotal, CustomerOrders, CustomerRef, DateRange, OrderSummary};
use crate::data::Dataset;
use crate::db::Scratch;
use crate::proxy::{Proxy, ProxyConfig};
use crate::workload::{self, Workload};

/// A multi-threaded runtime like the one the driver serves on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime")
}

/// A fresh seeded database for `service`; panics with one line saying how to start PostgreSQL when it is down.
pub async fn scratch(service: &Service, seed: u64, size: Size) -> Scratch {
    match Scratch::new(service, seed, size).await {
        Ok(scratch) => scratch,
        Err(err) => panic!("{err:#}"),
    }
}

/// The service built on `scratch`, connecting directly or through `via`.
pub fn app(service: &Service, scratch: &Scratch, via: Option<&str>) -> Router {
    (service.app)(scratch.service_options(via))
}

/// Sends `reqs` in order and records every answer.
pub async fn exchanges(router: &Router, reqs: &[Req]) -> Vec<Exchange> {
    let mut out = Vec::with_capacity(reqs.len());
    for req in reqs {
        out.push(send(router, req).await);
    }
    out
}

/// Sends a raw body (which need not be JSON) and records the answer.
pub async fn send_raw(router: &Router, method: &str, uri: &str, body: &str) -> Exchange {
    let answer = send_any(router, method, uri, Some("application/json"), Some(body)).await;
    Exchange {
        req: Req { method: method.into(), uri: uri.into(), body: Some(Value::String(body.into())) },
        status: answer.status,
        body: answer.body,
    }
}

/// Panics naming the first request whose answer differs.
pub fn assert_same_answers(target: &[Exchange], reference: &[Exchange]) {
    assert_eq!(target.len(), reference.len(), "different number of answers");
    for (got, want) in target.iter().zip(reference) {
        assert!(
            got.status == want.status && got.body == want.body,
            "{} answered differently\n  expected {} {}\n  got      {} {}",
            want.req.label(),
            want.status,
            want.body,
            got.status,
            got.body
        );
    }
}

fn customer_ref(data: &Dataset, id: i64) -> CustomerRef {
    let c = data.customer(id).expect("a seeded customer");
    CustomerRef { id: c.id, name: c.name.clone(), email: c.email.clone() }
}

fn ts(unix: i64) -> String {
    api::timestamp(time::OffsetDateTime::from_unix_timestamp(unix).expect("valid"))
}

/// `GET /orders/{id}` as the seeded rows say it should read.
pub fn expected_order(data: &Dataset, id: i64) -> api::Order {
    let o = data.order(id).expect("a seeded order");
    api::Order {
        id: o.id,
        placed_at: ts(o.placed_at),
        status: o.status.to_string(),
        customer: customer_ref(data, o.customer_id),
        lines: data
            .lines_of(id)
            .iter()
            .map(|l| {
                let p = data.product(l.product_id).expect("a seeded product");
                api::OrderLine {
                    sku: p.sku.clone(),
                    name: p.name.clone(),
                    quantity: l.quantity,
                    unit_price_cents: l.unit_price_cents,
                }
            })
            .collect(),
        total_cents: o.total_cents,
    }
}

/// `GET /customers/{id}/orders?limit` as the seeded rows say it should read.
pub fn expected_customer_orders(data: &Dataset, customer: i64, limit: usize) -> CustomerOrders {
    let orders = data
        .newest_first()
        .into_iter()
        .map(|i| &data.orders[i])
        .filter(|o| o.customer_id == customer)
        .take(limit)
        .map(|o| OrderSummary {
            id: o.id,
            placed_at: ts(o.placed_at),
            status: o.status.to_string(),
            total_cents: o.total_cents,
        })
        .collect();
    CustomerOrders { customer: customer_ref(data, customer), orders }
}

/// `GET /reports/categories` as the seeded rows say it should read.
pub fn expected_category_report(data: &Dataset, range: DateRange) -> CategoryReport {
    let (start, end) = (range.start().unix_timestamp(), range.end().unix_timestamp());
    let mut totals: BTreeMap<&str, (BTreeSet<i64>, i64, i64)> = BTreeMap::new();
    for order in data.orders.iter().filter(|o| o.placed_at >= start && o.placed_at < end && o.status != "cancelled") {
        for line in data.lines_of(order.id) {
            let category = data.product(line.product_id).expect("a seeded product").category;
            let entry = totals.entry(category).or_default();
            entry.0.insert(order.id);
            entry.1 += i64::from(line.quantity);
            entry.2 += i64::from(line.quantity) * line.unit_price_cents;
        }
    }
    let mut categories: Vec<CategoryTotal> = totals
        .into_iter()
        .map(|(category, (orders, units, revenue))| CategoryTotal {
            category: category.to_string(),
            orders: orders.len() as i64,
            units,
            revenue_cents: revenue,
        })
        .collect();
    categories.sort_by(|a, b| b.revenue_cents.cmp(&a.revenue_cents).then_with(|| a.category.cmp(&b.category)));
    CategoryReport { from: range.from.to_string(), to: range.to.to_string(), categories }
}

fn to_value<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("serializable")
}

/// The whole mixed workload, refusals and writes included, on two fresh seeds.
pub fn answers_match_the_reference_on_fresh_seeds(target: Service, reference: Service) {
    runtime().block_on(async {
        for seed in [11, 29] {
            let reference_db = scratch(&reference, seed, Size::Tiny).await;
            let target_db = scratch(&target, seed, Size::Tiny).await;
            let reqs = workload::generate(Workload::Mixed, seed, &reference_db.data, 168);
            let want = exchanges(&app(&reference, &reference_db, None), &reqs).await;
            let got = exchanges(&app(&target, &target_db, None), &reqs).await;
            assert_same_answers(&got, &want);
        }
    });
}

/// Following `next_cursor` visits every order exactly once, newest first, ties broken by id.
pub fn pages_walk_every_order_once_newest_first(target: Service) {
    runtime().block_on(async {
        let db = scratch(&target, 3, Size::Tiny).await;
        let router = app(&target, &db, None);
        let want: Vec<i64> = db.data.newest_first().into_iter().map(|i| db.data.orders[i].id).collect();
        let mut seen = Vec::new();
        let mut uri = "/orders?limit=37".to_string();
        for _ in 0..=want.len() / 37 + 1 {
            let exchange = send(&router, &Req::get(&uri)).await;
            assert_eq!(exchange.status, 200, "{uri}: {}", exchange.body);
            let page: api::OrderPage = serde_json::from_value(exchange.body).expect("an order page");
            assert!(page.orders.len() <= 37);
            seen.extend(page.orders.iter().map(|o| o.id));
            match page.next_cursor {
                Some(cursor) => uri = format!("/orders?limit=37&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), want.len(), "pages skipped or repeated orders");
        assert_eq!(seen, want, "pages are not newest first with ties broken by id descending");
        // The last full page says there is nothing more, not an empty page later.
        let last = workload::page_request(&db.data, &db.data.newest_first(), want.len() - 10, 10);
        let exchange = send(&router, &last).await;
        assert_eq!(exchange.body["orders"].as_array().map(Vec::len), Some(10));
        assert_eq!(exchange.body["next_cursor"], Value::Null);
        let default = send(&router, &Req::get("/orders")).await;
        assert_eq!(default.body["orders"].as_array().map(Vec::len), Some(api::DEFAULT_LIMIT as usize));
    });
}

/// An order carries its customer, its lines in line order, and its total.
pub fn an_order_carries_its_customer_and_lines(target: Service) {
    runtime().block_on(async {
        let db = scratch(&target, 1, Size::Tiny).await;
        let router = app(&target, &db, None);
        for id in [1, 2, 77, db.data.orders.len() as i64] {
            let exchange = send(&router, &Req::get(format!("/orders/{id}"))).await;
            assert_eq!(exchange.status, 200, "order {id}: {}", exchange.body);
            assert_eq!(exchange.body, to_value(&expected_order(&db.data, id)), "order {id}");
        }
        let page = send(&router, &Req::get("/orders?limit=5")).await;
        let first = db.data.newest_first()[0];
        assert_eq!(page.body["orders"][0], to_value(&expected_order(&db.data, db.data.orders[first].id)));
        let one = send(&router, &Req::get("/orders/1")).await;
        insta::assert_json_snapshot!("order_1", one.body);
    });
}

/// A customer's orders come newest first, at most `limit` of them.
pub fn customer_orders_are_newest_first_and_limited(target: Service) {
    runtime().block_on(async {
        let db = scratch(&target, 2, Size::Tiny).await;
        let router = app(&target, &db, None);
        for (customer, limit) in [(1, None), (2, Some(3)), (3, Some(100)), (41, None)] {
            let uri = match limit {
                Some(limit) => format!("/customers/{customer}/orders?limit={limit}"),
                None => format!("/customers/{customer}/orders"),
            };
            let exchange = send(&router, &Req::get(&uri)).await;
            assert_eq!(exchange.status, 200, "{uri}: {}", exchange.body);
            let want = expected_customer_orders(&db.data, customer, limit.unwrap_or(api::DEFAULT_LIMIT as usize));
            assert_eq!(exchange.body, to_value(&want), "{uri}");
        }
    });
}

/// The category report adds up the rows of the range, cancelled orders left out.
pub fn category_report_matches_the_rows(target: Service) {
    runtime().block_on(async {
        let db = scratch(&target, 4, Size::Tiny).await;
        let router = app(&target, &db, None);
        let day = |text: &str| {
            time::Date::parse(text, time::macros::format_description!("[year]-[month]-[day]")).expect("a day")
        };
        let ranges = [("2026-01-01", "2026-12-31"), ("2026-03-01", "2026-03-31"), ("2026-07-04", "2026-07-04")];
        for (from, to) in ranges {
            let uri = format!("/reports/categories?from={from}&to={to}");
            let exchange = send(&router, &Req::get(&uri)).await;
            assert_eq!(exchange.status, 200, "{uri}: {}", exchange.body);
            let want = expected_category_report(&db.data, DateRange { from: day(from), to: day(to) });
            assert_eq!(exchange.body, to_value(&want), "{uri}");
        }
        let whole = send(&router, &Req::get("/reports/categories")).await;
        assert_eq!(whole.body["from"], json!("2026-01-01"));
        insta::assert_json_snapshot!(
            "categories_march",
            send(&router, &Req::get("/reports/categories?from=2026-03-01&to=2026-03-31")).await.body
        );
    });
}

/// An accepted review is stored and moves the product's rating at once.
pub fn a_review_updates_the_product_rating(target: Service) {
    runtime().block_on(async {
        let db = scratch(&target, 5, Size::Tiny).await;
        let router = app(&target, &db, None);
        let product = &db.data.products[0];
        let before = send(&router, &Req::get(format!("/products/{}", product.sku))).await;
        assert_eq!(before.status, 200, "{}", before.body);
        assert_eq!(before.body["rating_count"], json!(product.rating_count));
        assert_eq!(before.body["average_rating"], json!(api::average_rating(product.rating_sum, product.rating_count)));
        let review = json!({ "customer_id": 7, "rating": 1, "title": "Stopped working", "body": "After two days." });
        let created = send(&router, &Req::post(format!("/products/{}/reviews", product.sku), review)).await;
        assert_eq!(created.status, 201, "{}", created.body);
        let count = product.rating_count + 1;
        let average = api::average_rating(product.rating_sum + 1, count).expect("a review exists");
        assert_eq!(
            created.body,
            json!({ "review_id": db.data.reviews.len() + 1, "sku": product.sku, "rating_count": count, "average_rating": average })
        );
        let after = send(&router, &Req::get(format!("/products/{}", product.sku))).await;
        assert_eq!(after.body["rating_count"], json!(count));
        assert_eq!(after.body["average_rating"], json!(average));
        let mut conn = db.connect().await.expect("a lab connection");
        let stored: (i64, i16, String) =
            sqlx::query_as("SELECT customer_id, rating, title FROM reviews WHERE id = $1")
                .bind(db.data.reviews.len() as i64 + 1)
                .fetch_one(&mut conn)
                .await
                .expect("the review row");
        assert_eq!(stored, (7, 1, "Stopped working".to_string()));
    });
}

/// Refused reviews leave no row behind and do not move the rating.
pub fn refused_reviews_change_nothing(target: Service) {
    runtime().block_on(async {
        let db = scratch(&target, 6, Size::Tiny).await;
        let router = app(&target, &db, None);
        let sku = db.data.products[1].sku.clone();
        let uri = format!("/products/{sku}/reviews");
        let before = send(&router, &Req::get(format!("/products/{sku}"))).await;
        let refusals = [
            json!({ "customer_id": 999_999, "rating": 5, "title": "Ghost" }),
            json!({ "customer_id": 1, "rating": 0, "title": "Zero" }),
            json!({ "customer_id": 1, "rating": 3, "title": "   " }),
            json!({ "customer_id": 1, "rating": 3, "title": "x".repeat(api::MAX_TITLE + 1) }),
            json!({ "customer_id": 1, "rating": 3, "title": "Long", "body": "y".repeat(api::MAX_BODY + 1) }),
        ];
        for body in refusals {
            let exchange = send(&router, &Req::post(&uri, body.clone())).await;
            assert_eq!(exchange.status, 422, "{body} gave {}", exchange.body);
        }
        let after = send(&router, &Req::get(format!("/products/{sku}"))).await;
        assert_eq!(before.body, after.body);
        let mut conn = db.connect().await.expect("a lab connection");
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM reviews").fetch_one(&mut conn).await.expect("count");
        assert_eq!(rows as usize, db.data.reviews.len());
    });
}

/// Bad input of every kind is a 4xx with a JSON body that says what was wrong.
pub fn bad_input_is_a_json_4xx(target: Service) {
    runtime().block_on(async {
        let db = scratch(&target, 1, Size::Tiny).await;
        let router = app(&target, &db, None);
        let sku = db.data.products[0].sku.clone();
        let review_uri = format!("/products/{sku}/reviews");
        let reqs = vec![
            Req::get("/orders?cursor=garbage!"),
            Req::get("/orders?cursor=bm90LWEtY3Vyc29y"),
            Req::get("/orders?limit=0"),
            Req::get("/orders?limit=101"),
            Req::get("/orders?limit=ten"),
            Req::get("/orders/0"),
            Req::get("/orders/first"),
            Req::get("/orders/999999"),
            Req::get("/customers/999999/orders"),
            Req::get("/customers/1/orders?limit=500"),
            Req::get("/reports/categories?from=2026-02-30"),
            Req::get("/reports/categories?from=2025-12-31"),
            Req::get("/reports/categories?from=2026-05-01&to=2026-04-01"),
            Req::get("/products/SKU-00000"),
            Req::post(&review_uri, json!({ "customer_id": 1, "rating": 6, "title": "Six" })),
            Req::post(&review_uri, json!({ "customer_id": 999_999, "rating": 4, "title": "Nobody" })),
            Req::post(&review_uri, json!({ "stars": 5 })),
            Req::post("/products/SKU-00000/reviews", json!({ "customer_id": 1, "rating": 4, "title": "Nothing" })),
            Req { method: "DELETE".into(), uri: "/orders/1".into(), body: None },
            Req::get("/no/such/route"),
        ];
        let mut got = exchanges(&router, &reqs).await;
        got.push(send_raw(&router, "POST", &review_uri, "{not json").await);
        got.push(send_raw(&router, "POST", &review_uri, "[1, 2").await);
        let mut bodies = Vec::new();
        for exchange in &got {
            assert!(
                (400..500).contains(&exchange.status),
                "{} gave {} {}",
                exchange.req.label(),
                exchange.status,
                exchange.body
            );
            assert!(
                exchange.body["error"].is_string(),
                "{} gave a body without an error code: {}",
                exchange.req.label(),
                exchange.body
            );
            assert!(
                exchange.body["message"].is_string(),
                "{} gave a body without a message: {}",
                exchange.req.label(),
                exchange.body
            );
            bodies.push(json!({ "request": exchange.req.label(), "status": exchange.status, "body": exchange.body }));
        }
        insta::assert_json_snapshot!("bad_input", bodies);
    });
}

/// A cursor built by hand: the checksum scheme is public, so anyone can forge one.
fn forged_cursor(position: i64, placed_at: time::OffsetDateTime, id: i64) -> String {
    api::Cursor { position, placed_at, id }.encode()
}

/// What a hostile client sends (NUL bytes, invalid UTF-8, forged cursors,
/// unknown routes, wrong methods, malformed queries and bodies) is a JSON
/// 4xx, never a 500 or a text body, and stores nothing.
pub fn hostile_input_is_a_json_4xx_and_stores_nothing(target: Service) {
    runtime().block_on(async {
        let db = scratch(&target, 2, Size::Tiny).await;
        let router = app(&target, &db, None);
        let sku = db.data.products[0].sku.clone();
        let review_uri = format!("/products/{sku}/reviews");
        let before = send(&router, &Req::get(format!("/products/{sku}"))).await;
        let march = time::macros::datetime!(2026-03-14 10:00 UTC);
        let early = time::macros::datetime!(-4800-01-01 0:00 UTC);
        let json = Some("application/json");
        let review = r#"{"customer_id": 1, "rating": 4, "title": "Fine"}"#;
        let cases: Vec<(&str, String, Option<&str>, Option<&str>)> = vec![
            ("GET", "/products/%00".into(), None, None),
            ("GET", format!("/products/{sku}%00"), None, None),
            ("GET", "/products/%FF".into(), None, None),
            ("POST", "/products/%00/reviews".into(), json, Some(review)),
            ("POST", "/products/%FF/reviews".into(), json, Some(review)),
            ("POST", review_uri.clone(), json, Some(r#"{"customer_id": 1, "rating": 4, "title": "A\u0000B"}"#)),
            (
                "POST",
                review_uri.clone(),
                json,
                Some(r#"{"customer_id": 1, "rating": 4, "title": "Fine", "body": "\u0000"}"#),
            ),
            ("GET", format!("/orders?cursor={}", forged_cursor(10, early, 5)), None, None),
            ("GET", format!("/orders?cursor={}", forged_cursor(i64::MAX, march, 5)), None, None),
            ("GET", format!("/orders?cursor={}", forged_cursor(api::MAX_POSITION + 1, march, 5)), None, None),
            ("GET", format!("/orders?cursor={}", forged_cursor(-1, march, 5)), None, None),
            ("GET", "/orders?cursor=%00".into(), None, None),
            ("GET", "/".into(), None, None),
            ("GET", "/no/such/route".into(), None, None),
            ("GET", "/%FF".into(), None, None),
            ("PUT", "/orders".into(), json, Some("{}")),
            ("POST", "/health".into(), None, None),
            ("GET", review_uri.clone(), None, None),
            ("DELETE", "/products/%FF".into(), None, None),
            ("GET", "/orders?limit=1&limit=2".into(), None, None),
            ("GET", "/orders?limit=%FF".into(), None, None),
            ("GET", "/orders?limit=%00".into(), None, None),
            ("GET", "/customers/1/orders?limit=1&limit=2".into(), None, None),
            ("GET", "/reports/categories?from=%00".into(), None, None),
            ("GET", "/reports/categories?from=2026-01-01&from=2026-01-02".into(), None, None),
            ("GET", "/orders/%FF".into(), None, None),
            ("GET", "/orders/%00".into(), None, None),
            ("GET", "/customers/%FF/orders".into(), None, None),
            ("POST", review_uri.clone(), json, Some("{not json")),
            ("POST", review_uri.clone(), json, Some("")),
            ("POST", review_uri.clone(), json, Some(r#"{"customer_id": "one", "rating": 4, "title": "Fine"}"#)),
            ("POST", review_uri.clone(), json, Some(r#"{"customer_id": 1, "rating": 4, "title": "Fine", "extra": 1}"#)),
            ("POST", review_uri.clone(), None, Some(review)),
            ("POST", review_uri.clone(), Some("text/plain"), Some(review)),
        ];
        let mut bodies = Vec::new();
        for (method, uri, content_type, body) in &cases {
            let answer = send_any(&router, method, uri, *content_type, *body).await;
            assert_json_4xx(&answer);
            bodies.push(json!({
                "request": answer.request,
                "content_type": content_type,
                "status": answer.status,
                "body": answer.body,
            }));
        }
        insta::assert_json_snapshot!("hostile_input", bodies);
        let after = send(&router, &Req::get(format!("/products/{sku}"))).await;
        assert_eq!(before.body, after.body, "a refused review moved the rating");
        let mut conn = db.connect().await.expect("a lab connection");
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM reviews").fetch_one(&mut conn).await.expect("count");
        assert_eq!(rows as usize, db.data.reviews.len(), "a refused review was stored");
    });
}

/// Every `next_cursor` the service issues is one it accepts, even after a
/// hand-made cursor at the largest position a cursor may carry.
pub fn every_cursor_issued_is_accepted(target: Service) {
    runtime().block_on(async {
        let db = scratch(&target, 4, Size::Tiny).await;
        let router = app(&target, &db, None);
        let first = send(&router, &Req::get("/orders?limit=5")).await;
        assert_eq!(first.status, 200, "{}", first.body);
        let issued = first.body["next_cursor"].as_str().expect("a first page with more after it");
        let key = api::Cursor::decode(issued).expect("the service's own cursor");
        for position in [api::MAX_POSITION - 3, api::MAX_POSITION] {
            let mut uri = format!("/orders?limit=5&cursor={}", forged_cursor(position, key.placed_at, key.id));
            for _ in 0..3 {
                let exchange = send(&router, &Req::get(&uri)).await;
                assert_eq!(exchange.status, 200, "{uri}: {}", exchange.body);
                match exchange.body["next_cursor"].as_str() {
                    Some(next) => uri = format!("/orders?limit=5&cursor={next}"),
                    None => break,
                }
            }
        }
    });
}

/// The service answers real HTTP on loopback, malformed JSON included.
pub fn serves_real_http_on_loopback(target: Service) {
    runtime().block_on(async {
        let db = scratch(&target, 1, Size::Tiny).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let router = app(&target, &db, None);
        let server = tokio::spawn(lab_support::serve::serve(listener, router, lab_support::serve::Limits::default()));
        let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client");
        let health: Value =
            client.get(format!("http://{addr}/health")).send().await.expect("GET /health").json().await.expect("JSON");
        assert_eq!(health, json!({ "status": "ok" }));
        let page: Value = client
            .get(format!("http://{addr}/orders?limit=3"))
            .send()
            .await
            .expect("GET /orders")
            .json()
            .await
            .expect("JSON");
        assert_eq!(page["orders"].as_array().map(Vec::len), Some(3));
        let sku = &db.data.products[0].sku;
        let response = client
            .post(format!("http://{addr}/products/{sku}/reviews"))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.expect("a JSON error body");
        assert_eq!(body["error"], json!("invalid_body"));
        server.abort();
    });
}

/// Many requests at once all get their answers.
pub fn concurrent_requests_all_get_answers(target: Service) {
    runtime().block_on(async {
        let db = scratch(&target, 8, Size::Tiny).await;
        let router = app(&target, &db, None);
        let mut tasks = Vec::new();
        for id in 1..=16i64 {
            let router = router.clone();
            tasks.push(tokio::spawn(async move { send(&router, &Req::get(format!("/orders/{id}"))).await }));
        }
        for (id, task) in (1..).zip(tasks) {
            let exchange = tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("a request hung for 30 s")
                .expect("the request task");
            assert_eq!(exchange.status, 200, "order {id}: {}", exchange.body);
            assert_eq!(exchange.body, to_value(&expected_order(&db.data, id)));
        }
    });
}

/// The loader's own check: seeding the same seed twice stores the same rows, all of them.
pub fn seeding_is_repeatable(target: Service) {
    runtime().block_on(async {
        let a = scratch(&target, 12, Size::Tiny).await;
        let b = scratch(&target, 12, Size::Tiny).await;
        let digest = "SELECT md5(string_agg(o.id || ':' || o.placed_at || ':' || o.total_cents || ':' || l.product_id, ',' ORDER BY l.id)) \
                      FROM orders o JOIN order_lines l ON l.order_id = o.id";
        let mut ca = a.connect().await.expect("connect");
        let mut cb = b.connect().await.expect("connect");
        let first: String = sqlx::query_scalar(digest).fetch_one(&mut ca).await.expect("digest");
        let second: String = sqlx::query_scalar(digest).fetch_one(&mut cb).await.expect("digest");
        assert_eq!(first, second, "the same seed stored different rows");
        let counts: (i64, i64) = sqlx::query_as("SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM order_lines)")
            .fetch_one(&mut ca)
            .await
            .expect("counts");
        assert_eq!((counts.0 as usize, counts.1 as usize), (a.data.orders.len(), a.data.lines.len()));
    });
}

/// Every route of the contract, as the property test fills it.
const ROUTES: &[Route] = &[
    Route { method: "GET", path: "/health", query: &[], fields: &[] },
    Route { method: "GET", path: "/orders", query: &["limit", "cursor"], fields: &[] },
    Route { method: "GET", path: "/orders/{}", query: &[], fields: &[] },
    Route { method: "GET", path: "/customers/{}/orders", query: &["limit"], fields: &[] },
    Route { method: "GET", path: "/reports/categories", query: &["from", "to"], fields: &[] },
    Route { method: "GET", path: "/products/{}", query: &[], fields: &[] },
    Route {
        method: "POST",
        path: "/products/{}/reviews",
        query: &[],
        fields: &["customer_id", "rating", "title", "body"],
    },
];

/// Whatever a client sends to any route (valid values mixed with edge
/// cases and hostile ones, see [`lab_support::fuzz`]), the answer comes in
/// time, is never a 5xx, and every 4xx is the JSON error shape.
pub fn no_request_gets_a_5xx(target: Service) {
    let runtime = runtime();
    let db = runtime.block_on(scratch(&target, 9, Size::Tiny));
    // A pool spawns its upkeep on the runtime it is made in.
    let _inside = runtime.enter();
    let router = app(&target, &db, None);
    let page = runtime.block_on(send(&router, &Req::get("/orders?limit=2")));
    let cursor = page.body["next_cursor"].as_str().expect("a first page of two has a next_cursor").to_string();
    let sku = db.data.products[0].sku.clone();
    let text = [sku.as_str(), cursor.as_str(), "1", "2", "20", "100", "2026-03-01", "2026-03-31"];
    let valid = Valid {
        text: text.iter().map(|s| s.to_string()).collect(),
        json: vec![json!(1), json!(2), json!(5), json!("Sturdy"), json!("Broke after a week.")],
    };
    lab_support::fuzz::no_request_gets_a_5xx(&runtime, &router, ROUTES, &valid, 256);
}

/// How long any one request may take in the fault tests before it counts as hung.
const HANG: Duration = Duration::from_secs(20);

/// Panics unless `answer` is a JSON 503 `unavailable` whose message says `why`.
fn assert_unavailable(answer: &Exchange, why: &str, context: &str) {
    assert_eq!(
        (answer.status, &answer.body["error"]),
        (503, &json!("unavailable")),
        "{context}: {} {} answered {} {}",
        answer.req.method,
        answer.req.uri,
        answer.status,
        answer.body
    );
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(message.contains(why), "{context}: the 503 should say `{why}`: {message}");
}

/// `req`, failing the test if it takes longer than [`HANG`].
async fn send_in_time(router: &Router, req: &Req, context: &str) -> Exchange {
    match tokio::time::timeout(HANG, send(router, req)).await {
        Ok(answer) => answer,
        Err(_) => panic!("{context}: {} {} hung for {} s", req.method, req.uri, HANG.as_secs()),
    }
}

/// Sends `req` until it answers 200 (at most `tries` times); every other
/// answer must be a JSON 503 saying `why`. Returns how many were 503s.
async fn until_ok(router: &Router, req: &Req, tries: usize, why: &str, context: &str) -> usize {
    for attempt in 0..tries {
        let answer = send_in_time(router, req, context).await;
        if answer.status == 200 {
            return attempt;
        }
        assert_unavailable(&answer, why, context);
    }
    panic!("{context}: no 200 in {tries} requests");
}

/// A fresh tiny database for `target`, the proxy in front of it, and the
/// service connecting through the proxy (which then plays the failing server).
async fn behind_proxy(target: &Service, seed: u64) -> (Scratch, Proxy, Router) {
    let db = scratch(target, seed, Size::Tiny).await;
    let proxy = Proxy::start(ProxyConfig::new(db.server.host_port())).await.expect("start the proxy");
    let router = app(target, &db, Some(&proxy.host_port()));
    (db, proxy, router)
}

/// A database restart mid-run (the proxy closes every open connection, so
/// a pool's idle connections are dead): each answer is a 200 or a JSON 503
/// saying the connection was lost, never a 500, and the service answers
/// 200 again within a few requests on fresh connections.
pub fn a_database_restart_is_a_503_at_worst_then_recovers(target: Service) {
    runtime().block_on(async {
        let (db, proxy, router) = behind_proxy(&target, 3).await;
        let req = Req::get("/orders/1");
        // Several at once, so a pooled service keeps several connections.
        let mut warm = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let (router, req) = (router.clone(), req.clone());
            warm.spawn(async move { send(&router, &req).await });
        }
        for answer in warm.join_all().await {
            assert_eq!(answer.status, 200, "before the restart: {}", answer.body);
        }
        proxy.sever();
        until_ok(&router, &req, 12, "connection to the database was lost", "after a restart").await;
        // The whole workload works again, with the same answers.
        let again = send_in_time(&router, &req, "after recovering").await;
        assert_eq!(again.body, to_value(&expected_order(&db.data, 1)));
    });
}

/// A database that is down: every request is a JSON 503 within the hang
/// limit (no 500, no wait without end), and once the server is back the
/// service answers 200 again without a restart of its own.
pub fn a_database_that_is_down_is_a_503_then_recovers(target: Service) {
    runtime().block_on(async {
        let (_db, proxy, router) = behind_proxy(&target, 5).await;
        let req = Req::get("/orders/2");
        assert_eq!(send_in_time(&router, &req, "before the outage").await.status, 200);
        proxy.set_down(true);
        proxy.sever();
        for _ in 0..3 {
            let answer = send_in_time(&router, &req, "while the database is down").await;
            assert_unavailable(&answer, "database", "while the database is down");
        }
        // A route that needs no database still answers.
        let health = send_in_time(&router, &Req::get("/health"), "while the database is down").await;
        assert_eq!(health.status, 200, "/health needs no database: {}", health.body);
        proxy.set_down(false);
        until_ok(&router, &req, 12, "database", "after the outage").await;
    });
}

/// A statement stuck behind a lock is cancelled by the service's
/// `statement_timeout` and answered as a JSON 503 that names the timeout,
/// while routes that need no database keep answering; after the lock goes,
/// the same request answers 200. (Only an implementation that sets a
/// statement timeout passes: without one, the request waits for the lock.)
pub fn a_statement_stuck_behind_a_lock_is_a_503_naming_the_timeout(target: Service) {
    runtime().block_on(async {
        let db = scratch(&target, 6, Size::Tiny).await;
        let router = app(&target, &db, None);
        let req = Req::get("/orders/3");
        assert_eq!(send_in_time(&router, &req, "before the lock").await.status, 200);
        let mut locker = db.connect().await.expect("connect");
        sqlx::raw_sql("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE").execute(&mut locker).await.expect("lock");
        let answer = send_in_time(&router, &req, "behind the lock").await;
        assert_unavailable(&answer, "statement timeout", "behind the lock");
        let health = send_in_time(&router, &Req::get("/health"), "behind the lock").await;
        assert_eq!(health.status, 200, "/health needs no database: {}", health.body);
        sqlx::raw_sql("ROLLBACK").execute(&mut locker).await.expect("unlock");
        assert_eq!(send_in_time(&router, &req, "after the lock").await.status, 200);
    });
}

/// Expands to one `#[test]` per contract check for `$target`, compared with `$reference`.
#[macro_export]
macro_rules! contract_tests {
    ($target:expr, $reference:expr) => {
        #[test]
        fn answers_match_the_reference_on_fresh_seeds() {
            $crate::contract::answers_match_the_reference_on_fresh_seeds($target, $reference);
        }
        #[test]
        fn pages_walk_every_order_once_newest_first() {
            $crate::contract::pages_walk_every_order_once_newest_first($target);
        }
        #[test]
        fn an_order_carries_its_customer_and_lines() {
            $crate::contract::an_order_carries_its_customer_and_lines($target);
        }
        #[test]
        fn customer_orders_are_newest_first_and_limited() {
            $crate::contract::customer_orders_are_newest_first_and_limited($target);
        }
        #[test]
        fn category_report_matches_the_rows() {
            $crate::contract::category_report_matches_the_rows($target);
        }
        #[test]
        fn a_review_updates_the_product_rating() {
            $crate::contract::a_review_updates_the_product_rating($target);
        }
        #[test]
        fn refused_reviews_change_nothing() {
            $crate::contract::refused_reviews_change_nothing($target);
        }
        #[test]
        fn bad_input_is_a_json_4xx() {
            $crate::contract::bad_input_is_a_json_4xx($target);
        }
        #[test]
        fn hostile_input_is_a_json_4xx_and_stores_nothing() {
            $crate::contract::hostile_input_is_a_json_4xx_and_stores_nothing($target);
        }
        #[test]
        fn every_cursor_issued_is_accepted() {
            $crate::contract::every_cursor_issued_is_accepted($target);
        }
        #[test]
        fn serves_real_http_on_loopback() {
            $crate::contract::serves_real_http_on_loopback($target);
        }
        #[test]
        fn concurrent_requests_all_get_answers() {
            $crate::contract::concurrent_requests_all_get_answers($target);
        }
        #[test]
        fn seeding_is_repeatable() {
            $crate::contract::seeding_is_repeatable($target);
        }
        #[test]
        fn a_database_restart_is_a_503_at_worst_then_recovers() {
            $crate::contract::a_database_restart_is_a_503_at_worst_then_recovers($target);
        }
        #[test]
        fn no_request_gets_a_5xx() {
            $crate::contract::no_request_gets_a_5xx($target);
        }
        #[test]
        fn a_database_that_is_down_is_a_503_then_recovers() {
            $crate::contract::a_database_that_is_down_is_a_503_then_recovers($target);
        }
    };
}
