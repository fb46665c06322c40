//! Contract tests every implementation of the lab runs.
//!
//! A crate runs them with one line in `tests/contract.rs`:
//!
//! ```ignore
//! lab_profiling::contract_tests!(exercise_profiling::app, baseline_profiling::app);
//! ```
//!
//! They check behaviour, not speed: the slow starter passes them, and so must
//! every fix. The reference is the frozen baseline; report shapes are also
//! pinned by insta snapshots under `labs/profiling/src/snapshots/`.

use lab_support::exchange::{assert_json_4xx, send, send_any};
use lab_support::fuzz::{Route, Valid};
use lab_support::{Exchange, Req, Size, Workload};
use serde_json::{Value, json};

use crate::AppFn;
use crate::data::Dataset;
use crate::{receipt, workload};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

/// Sends `reqs` in order to a fresh service built from `data`.
pub fn exchanges(app: AppFn, data: Dataset, reqs: &[Req]) -> Vec<Exchange> {
    let router = app(data);
    runtime().block_on(async {
        let mut out = Vec::with_capacity(reqs.len());
        for req in reqs {
            out.push(send(&router, req).await);
        }
        out
    })
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

/// Every endpoint, writes and refusals included, on three fresh seeds.
pub fn answers_match_the_reference_on_fresh_seeds(target: AppFn, reference: AppFn) {
    for seed in [11, 23, 47] {
        for (kind, n) in [(Workload::Cpu, 80), (Workload::Leak, 24), (Workload::Load, 40)] {
            let data = Dataset::generate(seed, Size::Tiny);
            let reqs = workload::generate(kind, seed, &data, n);
            let want = exchanges(reference, data.clone(), &reqs);
            let got = exchanges(target, data, &reqs);
            assert_same_answers(&got, &want);
        }
    }
}

/// The shape and numbers of each report on a known seed.
pub fn report_bodies_match_the_snapshots(target: AppFn) {
    let reqs = [
        Req::get("/reports/top-products?limit=5"),
        Req::get("/reports/customers?from=2026-02-01&to=2026-05-31&region=north"),
        Req::get("/reports/daily?from=2026-03-01&to=2026-03-20&region=east"),
    ];
    let got = exchanges(target, Dataset::generate(1, Size::Tiny), &reqs);
    for exchange in &got {
        assert_eq!(exchange.status, 200, "{}: {}", exchange.req.label(), exchange.body);
    }
    insta::assert_json_snapshot!("top_products", got[0].body);
    insta::assert_json_snapshot!("customers", got[1].body);
    insta::assert_json_snapshot!("daily", got[2].body);
}

/// A product by sku, and a readable 404 for one that does not exist.
pub fn products_are_found_by_sku_and_unknown_ones_are_a_json_404(target: AppFn) {
    let data = Dataset::generate(1, Size::Tiny);
    let sku = data.products[0].sku.clone();
    let got = exchanges(target, data, &[Req::get(format!("/products/{sku}")), Req::get("/products/SKU-00000")]);
    assert_eq!(got[0].status, 200);
    assert_eq!(got[0].body["sku"], json!(sku));
    assert_eq!(got[1].status, 404);
    assert_eq!(got[1].body["error"], json!("not_found"));
    insta::assert_json_snapshot!("product", got[0].body);
}

/// Malformed parameters are a 400 with a JSON body that says what was wrong.
pub fn bad_report_parameters_are_a_json_400(target: AppFn) {
    let uris = [
        "/reports/top-products?from=2026-02-30",
        "/reports/top-products?from=yesterday",
        "/reports/customers?from=2025-12-31",
        "/reports/daily?from=2026-05-01&to=2026-04-01",
        "/reports/top-products?limit=0",
        "/reports/top-products?limit=101",
        "/reports/top-products?limit=ten",
        "/reports/customers?region=mars",
    ];
    let got =
        exchanges(target, Dataset::generate(1, Size::Tiny), &uris.iter().map(|uri| Req::get(*uri)).collect::<Vec<_>>());
    let mut errors = Vec::new();
    for exchange in &got {
        assert_eq!(exchange.status, 400, "{} gave {}", exchange.req.label(), exchange.body);
        assert_eq!(exchange.body["error"], json!("invalid_query"), "{}", exchange.req.label());
        errors.push(json!({ "request": exchange.req.label(), "body": exchange.body }));
    }
    insta::assert_json_snapshot!("bad_report_parameters", errors);
}

/// A batch with one bad line is refused whole: nothing of it is stored.
pub fn a_batch_with_a_bad_line_is_refused_whole(target: AppFn) {
    let data = Dataset::generate(1, Size::Tiny);
    let sku = data.products[0].sku.clone();
    let good = format!("2026-06-01T08:00:00Z;{sku};west;C000001;2;0");
    let reqs = [
        Req::get("/reports/daily?from=2026-06-01&to=2026-06-01"),
        Req::post("/sales", json!({ "lines": [good, good.replace("2026-06-01", "2026-06-31")] })),
        Req::post("/sales", json!({ "lines": [good, good.replace(&sku, "SKU-00000")] })),
        Req::post("/sales", json!({ "lines": [good, good.replace(";2;0", ";2;60")] })),
        Req::post("/sales", json!({ "lines": [] })),
        Req::post("/sales", json!({ "rows": [good] })),
        Req::get("/reports/daily?from=2026-06-01&to=2026-06-01"),
    ];
    let got = exchanges(target, data, &reqs);
    let refusals: Vec<Value> = got[1..6]
        .iter()
        .map(|exchange| json!({ "request": exchange.req.label(), "status": exchange.status, "body": exchange.body }))
        .collect();
    for exchange in &got[1..6] {
        assert!((400..500).contains(&exchange.status), "{} gave {}", exchange.req.label(), exchange.status);
        assert!(exchange.body["error"].is_string(), "{} body {}", exchange.req.label(), exchange.body);
    }
    assert_eq!(got[2].status, 422);
    assert_eq!(got[0].body, got[6].body, "a refused batch changed the daily report");
    insta::assert_json_snapshot!("refused_batches", refusals);
}

/// Accepted sales count in every report straight away.
pub fn ingested_sales_show_up_in_reports(target: AppFn) {
    let data = Dataset::generate(1, Size::Tiny);
    let product = data.products[0].clone();
    let day = "/reports/daily?from=2026-07-04&to=2026-07-04&region=central";
    let line = format!("2026-07-04T12:30:00Z;{};central;C999999;3;10", product.sku);
    let reqs = [
        Req::get(day),
        Req::post("/sales", json!({ "lines": [line.clone(), line] })),
        Req::get(day),
        Req::get("/reports/customers?from=2026-07-04&to=2026-07-04&region=central"),
    ];
    let got = exchanges(target, data.clone(), &reqs);
    assert_eq!(got[1].status, 201, "{}", got[1].body);
    assert_eq!(got[1].body["accepted"], json!(2));
    assert_eq!(got[1].body["total_sales"], json!(data.sales.len() + 2));
    assert!(got[1].body.get("receipt").is_none(), "a receipt nobody asked for: {}", got[1].body);
    let orders =
        |body: &Value| body["days"].as_array().and_then(|d| d.first()).map_or(0, |d| d["orders"].as_u64().unwrap_or(0));
    assert_eq!(orders(&got[2].body), orders(&got[0].body) + 2);
    let top = &got[3].body["top"][0];
    assert_eq!(top["customer"], json!("C999999"));
    assert_eq!(top["orders"], json!(2));
}

/// A batch sent with `"receipt": true` is signed with its place in the log,
/// so the same lines sent again get another receipt.
pub fn a_receipt_signs_the_batch_and_its_place_in_the_log(target: AppFn) {
    let data = Dataset::generate(1, Size::Tiny);
    let lines = vec![format!("2026-08-09T10:00:00Z;{};south;C000007;4;5", data.products[1].sku)];
    let batch = json!({ "lines": lines, "receipt": true });
    let reqs = [Req::post("/sales", batch.clone()), Req::post("/sales", batch)];
    let got = exchanges(target, data.clone(), &reqs);
    for (i, exchange) in got.iter().enumerate() {
        assert_eq!(exchange.status, 201, "{}", exchange.body);
        let total = data.sales.len() + i + 1;
        assert_eq!(exchange.body["total_sales"], json!(total));
        assert_eq!(exchange.body["receipt"], json!(receipt::sign(&lines, total, data.receipt_rounds)));
    }
    assert_ne!(got[0].body["receipt"], got[1].body["receipt"]);
    insta::assert_json_snapshot!("receipt", got[0].body);
}

/// `GET /reports/recent` lists the last ten reports served, newest first.
pub fn recent_lists_the_last_ten_reports_newest_first(target: AppFn) {
    let data = Dataset::generate(1, Size::Tiny);
    let mut reqs: Vec<Req> =
        (1..=12).map(|d| Req::get(format!("/reports/daily?from=2026-01-{d:02}&to=2026-01-{d:02}"))).collect();
    reqs.push(Req::get("/reports/recent"));
    let got = exchanges(target, data, &reqs);
    let listed: Vec<&str> = got[12].body["reports"]
        .as_array()
        .expect("reports is a list")
        .iter()
        .map(|r| r["path"].as_str().unwrap_or_default())
        .collect();
    let expected: Vec<String> =
        (3..=12).rev().map(|d| format!("/reports/daily?from=2026-01-{d:02}&to=2026-01-{d:02}")).collect();
    assert_eq!(listed, expected);
    let bytes = got[12].body["reports"][0]["bytes"].as_u64().unwrap_or_default();
    assert_eq!(bytes as usize, got[11].body.to_string().len());
}

/// Every route of the contract, as the property test fills it.
const ROUTES: &[Route] = &[
    Route { method: "GET", path: "/health", query: &[], fields: &[] },
    Route { method: "GET", path: "/products/{}", query: &[], fields: &[] },
    Route { method: "GET", path: "/reports/top-products", query: &["from", "to", "region", "limit"], fields: &[] },
    Route { method: "GET", path: "/reports/customers", query: &["from", "to", "region"], fields: &[] },
    Route { method: "GET", path: "/reports/daily", query: &["from", "to", "region"], fields: &[] },
    Route { method: "GET", path: "/reports/recent", query: &[], fields: &[] },
    Route { method: "POST", path: "/sales", query: &[], fields: &["lines", "receipt"] },
];

/// Whatever a client sends to any route (valid values mixed with edge
/// cases and hostile ones, see [`lab_support::fuzz`]), the answer comes in
/// time, is never a 5xx, and every 4xx is the JSON error shape.
pub fn no_request_gets_a_5xx(target: AppFn) {
    let data = Dataset::generate(2, Size::Tiny);
    let sku = data.products[0].sku.clone();
    let line = format!("2026-06-01T08:00:00Z;{sku};west;C000001;2;0");
    let text = [sku.as_str(), "2026-03-01", "2026-03-31", "north", "central", "1", "10", "100"];
    let valid = Valid {
        text: text.iter().map(|s| s.to_string()).collect(),
        json: vec![json!(line), json!(line.replace(";2;0", ";1;15")), json!(true), json!(false)],
    };
    let router = target(data);
    lab_support::fuzz::no_request_gets_a_5xx(&runtime(), &router, ROUTES, &valid, 256);
}

/// What a hostile client sends (NUL bytes, invalid UTF-8, unknown routes,
/// wrong methods, malformed queries and bodies) is a JSON 4xx, never a 500
/// or a text body, and stores nothing.
pub fn hostile_input_is_a_json_4xx_and_stores_nothing(target: AppFn) {
    let data = Dataset::generate(1, Size::Tiny);
    let sku = data.products[0].sku.clone();
    let line = format!("2026-06-01T08:00:00Z;{sku};west;C000001;2;0");
    let batch = json!({ "lines": [line] }).to_string();
    let nul_line = json!({ "lines": [format!("{line}\u{0}")] }).to_string();
    let json = Some("application/json");
    let day = "/reports/daily?from=2026-06-01&to=2026-06-01";
    let cases: Vec<(&str, String, Option<&str>, Option<&str>)> = vec![
        ("GET", "/products/%00".into(), None, None),
        ("GET", format!("/products/{sku}%00"), None, None),
        ("GET", "/products/%FF".into(), None, None),
        ("GET", "/".into(), None, None),
        ("GET", "/no/such/route".into(), None, None),
        ("GET", "/%FF".into(), None, None),
        ("GET", "/sales".into(), None, None),
        ("POST", "/health".into(), json, Some("{}")),
        ("PUT", "/reports/daily".into(), None, None),
        ("DELETE", "/products/%FF".into(), None, None),
        ("GET", "/reports/daily?from=%00".into(), None, None),
        ("GET", "/reports/daily?from=%FF".into(), None, None),
        ("GET", "/reports/top-products?limit=1&limit=2".into(), None, None),
        ("GET", "/reports/customers?region=%00".into(), None, None),
        ("POST", "/sales".into(), json, Some("{not json")),
        ("POST", "/sales".into(), json, Some("")),
        ("POST", "/sales".into(), json, Some(r#"{"lines": "not a list"}"#)),
        ("POST", "/sales".into(), json, Some(&nul_line)),
        ("POST", "/sales".into(), None, Some(&batch)),
        ("POST", "/sales".into(), Some("text/plain"), Some(&batch)),
    ];
    let router = target(data);
    runtime().block_on(async {
        let before = send(&router, &Req::get(day)).await;
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
        let after = send(&router, &Req::get(day)).await;
        assert_eq!(before.body, after.body, "a refused batch changed the daily report");
    });
}

/// The service answers real HTTP on loopback, as the load test sends it.
pub fn serves_real_http_on_loopback(target: AppFn) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local address");
        let router = target(Dataset::generate(1, Size::Tiny));
        let server = tokio::spawn(lab_support::serve::serve(listener, router, lab_support::serve::Limits::default()));
        let client = reqwest::Client::new();
        let health: Value =
            client.get(format!("http://{addr}/health")).send().await.expect("GET /health").json().await.expect("JSON");
        assert_eq!(health, json!({ "status": "ok" }));
        let response =
            client.get(format!("http://{addr}/reports/top-products?limit=3")).send().await.expect("GET top-products");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["products"].as_array().map(Vec::len), Some(3));
        let response = client
            .post(format!("http://{addr}/sales"))
            .body("{not json")
            .header("content-type", "application/json")
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.expect("a JSON error body");
        assert_eq!(body["error"], json!("invalid_body"));
        server.abort();
    });
}

/// Expands to one `#[test]` per contract check for `$target`, compared with `$reference`.
#[macro_export]
macro_rules! contract_tests {
    ($target:path, $reference:path) => {
        #[test]
        fn answers_match_the_reference_on_fresh_seeds() {
            $crate::contract::answers_match_the_reference_on_fresh_seeds($target, $reference);
        }
        #[test]
        fn report_bodies_match_the_snapshots() {
            $crate::contract::report_bodies_match_the_snapshots($target);
        }
        #[test]
        fn products_are_found_by_sku_and_unknown_ones_are_a_json_404() {
            $crate::contract::products_are_found_by_sku_and_unknown_ones_are_a_json_404($target);
        }
        #[test]
        fn bad_report_parameters_are_a_json_400() {
            $crate::contract::bad_report_parameters_are_a_json_400($target);
        }
        #[test]
        fn a_batch_with_a_bad_line_is_refused_whole() {
            $crate::contract::a_batch_with_a_bad_line_is_refused_whole($target);
        }
        #[test]
        fn ingested_sales_show_up_in_reports() {
            $crate::contract::ingested_sales_show_up_in_reports($target);
        }
        #[test]
        fn a_receipt_signs_the_batch_and_its_place_in_the_log() {
            $crate::contract::a_receipt_signs_the_batch_and_its_place_in_the_log($target);
        }
        #[test]
        fn recent_lists_the_last_ten_reports_newest_first() {
            $crate::contract::recent_lists_the_last_ten_reports_newest_first($target);
        }
        #[test]
        fn hostile_input_is_a_json_4xx_and_stores_nothing() {
            $crate::contract::hostile_input_is_a_json_4xx_and_stores_nothing($target);
        }
        #[test]
        fn serves_real_http_on_loopback() {
            $crate::contract::serves_real_http_on_loopback($target);
        }
        #[test]
        fn no_request_gets_a_5xx() {
            $crate::contract::no_request_gets_a_5xx($target);
        }
    };
}
