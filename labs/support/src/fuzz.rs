//! Requests no well-behaved client sends, over every route of a service.
//!
//! A property test (proptest) builds requests from a service's routes: its
//! own valid values mixed with edge cases (zero, negative, huge, out of
//! range, NUL, invalid UTF-8, very long) in every path segment, query
//! parameter and body field; unknown parameters and fields; bodies that are
//! not JSON, or JSON of the wrong shape; wrong methods and content types.
//! Whatever arrives, the service must answer within [`HANG`], never with a
//! 5xx, and answer every 4xx with the JSON error shape
//! `{"error", "message"}`. The inputs come from a fixed seed, so a run is
//! the same every time and a failure names the smallest request found.

use std::time::Duration;

use axum::Router;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::{Map, Value, json};

use crate::exchange::{RawAnswer, send_any};

/// How long one request may take before the test calls it hung.
pub const HANG: Duration = Duration::from_secs(20);

/// One route of a service, as the fuzzer fills it.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// The path, with `{}` for each segment the fuzzer fills.
    pub path: &'static str,
    /// The query parameters the route reads.
    pub query: &'static [&'static str],
    /// The fields of the JSON object the route reads from its body (empty: no body).
    pub fields: &'static [&'static str],
}

/// Valid values of the service under test, mixed into the hostile ones so
/// that requests also reach past the first check.
#[derive(Debug, Clone, Default)]
pub struct Valid {
    /// For path segments and query parameters (ids, skus, dates, regions, limits).
    pub text: Vec<String>,
    /// For body fields (and the elements of array fields).
    pub json: Vec<Value>,
}

/// A request as sent: method, URI (already percent-encoded), content type and body.
#[derive(Debug, Clone)]
pub struct FuzzRequest {
    pub method: String,
    pub uri: String,
    pub content_type: Option<String>,
    pub body: Option<String>,
}

/// Sends `cases` requests built from `routes` and `valid` to `router`, on
/// `runtime`; panics with the smallest request that got a 5xx, a non-JSON
/// error, or no answer within [`HANG`].
pub fn no_request_gets_a_5xx(
    runtime: &tokio::runtime::Runtime,
    router: &Router,
    routes: &[Route],
    valid: &Valid,
    cases: u32,
) {
    let config = Config { cases, failure_persistence: None, max_shrink_iters: 200, ..Config::default() };
    let mut runner = TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let result = runner.run(&request(routes.to_vec(), valid.clone()), |req| {
        let sent = send_any(router, &req.method, &req.uri, req.content_type.as_deref(), req.body.as_deref());
        let answer = runtime
            .block_on(async { tokio::time::timeout(HANG, sent).await })
            .map_err(|_| TestCaseError::fail(format!("no answer in {} s", HANG.as_secs())))?;
        match problem(&answer) {
            Some(problem) => Err(TestCaseError::fail(problem)),
            None => Ok(()),
        }
    });
    if let Err(err) = result {
        panic!("{err}");
    }
}

/// What is wrong with `answer`, if anything.
fn problem(answer: &RawAnswer) -> Option<String> {
    let RawAnswer { status, content_type, body, .. } = answer;
    if *status >= 500 {
        return Some(format!("answered {status} {body}"));
    }
    if *status < 400 {
        return None;
    }
    let shaped = content_type.as_deref() == Some("application/json")
        && ["error", "message"].iter().all(|field| body[field].as_str().is_some_and(|text| !text.is_empty()));
    (!shaped).then(|| format!("answered {status} without the JSON error shape ({content_type:?}): {body}"))
}

/// Bytes a URI may carry as they are; everything else is `%XX`.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(byte as char),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Edge cases every segment and parameter gets, already encoded.
const EDGE: &[&str] = &[
    "",
    "0",
    "-1",
    "1",
    "2",
    "100",
    "101",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    "1.5",
    "1e400",
    "NaN",
    "null",
    "true",
    "2026-01-01",
    "2026-12-31",
    "2025-12-31",
    "2026-02-30",
    "2026-13-01",
    "0000-01-01",
    "%00",
    "a%00b",
    "%FF",
    "%C3%28",
    "..%2F..",
    "%2F",
    "%20",
    "%25",
    "%E2%80%AE",
    "%F0%9F%98%80",
];

/// A path segment or query value: valid, edge, arbitrary text, or long.
fn text(valid: &Valid) -> BoxedStrategy<String> {
    let mut choices: Vec<(u32, BoxedStrategy<String>)> = vec![
        (3, prop::sample::select(EDGE).prop_map(str::to_string).boxed()),
        (2, any::<String>().prop_map(|s| encode(&s)).boxed()),
        (1, Just("x".repeat(5_000)).boxed()),
    ];
    if !valid.text.is_empty() {
        choices.push((4, prop::sample::select(valid.text.clone()).prop_map(|s| encode(&s)).boxed()));
    }
    prop::strategy::Union::new_weighted(choices).boxed()
}

/// A body field's value: valid, edge, arbitrary, or a small nested value.
fn json_value(valid: &Valid) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![0i64, -1, 1, 5, 6, i64::MAX, i64::MIN]).prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        any::<String>().prop_map(Value::from),
        prop::sample::select(vec!["", "\u{0}", "a\u{0}b", "\u{202e}", "😀"]).prop_map(Value::from),
        Just(Value::from("x".repeat(5_000))),
    ];
    let nested = leaf.clone().prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..3).prop_map(|m| json!(m)),
        ]
    });
    let mut choices: Vec<(u32, BoxedStrategy<Value>)> = vec![(4, leaf.boxed()), (1, nested.boxed())];
    if !valid.json.is_empty() {
        let valid = prop::sample::select(valid.json.clone());
        choices.push((4, valid.clone().boxed()));
        // Arrays of valid elements (a batch of lines, say), some very long.
        choices.push((2, prop::collection::vec(valid, 0..40).prop_map(Value::from).boxed()));
    }
    prop::strategy::Union::new_weighted(choices).boxed()
}

/// A body: a JSON object with some of the route's fields (and maybe one it
/// does not know), or text that is not the expected JSON.
fn body(fields: &'static [&'static str], valid: &Valid) -> BoxedStrategy<Option<String>> {
    let value = json_value(valid);
    let object = prop::collection::vec((prop::sample::select(fields.to_vec()), value.clone()), 0..=fields.len() + 1)
        .prop_flat_map(move |pairs| (Just(pairs), prop::option::of(("[a-z_]{1,8}", json_value(&Valid::default())))))
        .prop_map(|(pairs, extra)| {
            let mut object = Map::new();
            for (field, value) in pairs {
                object.insert(field.to_string(), value);
            }
            if let Some((field, value)) = extra {
                object.insert(field, value);
            }
            Some(Value::Object(object).to_string())
        });
    prop_oneof![
        6 => object,
        1 => value.prop_map(|v| Some(v.to_string())),
        1 => prop::sample::select(vec!["", "{", "{\"a\":", "[]", "null", "\u{0}", "{\"lines\": [1,}"]).prop_map(|s| Some(s.to_string())),
        1 => any::<String>().prop_map(Some),
        1 => Just(None),
    ]
    .boxed()
}

/// A whole request: usually the route's own method, content type and
/// fields; sometimes another method, content type or no body at all.
fn request(routes: Vec<Route>, valid: Valid) -> impl Strategy<Value = FuzzRequest> {
    prop::sample::select(routes).prop_flat_map(move |route| {
        let holes = route.path.matches("{}").count();
        let segments = prop::collection::vec(text(&valid), holes);
        let mut names: Vec<String> = route.query.iter().map(|name| name.to_string()).collect();
        names.push("unknown".into());
        let query = prop::collection::vec((prop::sample::select(names), text(&valid)), 0..=route.query.len() + 1);
        let method = prop_oneof![
            9 => Just(route.method.to_string()),
            1 => prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH"]).prop_map(str::to_string),
        ];
        let content_type = prop_oneof![
            8 => Just(Some("application/json".to_string())),
            1 => Just(Some("text/plain".to_string())),
            1 => Just(None),
        ];
        let body = match route.fields.is_empty() {
            true => Just(None).boxed(),
            false => body(route.fields, &valid),
        };
        (segments, query, method, content_type, body).prop_map(move |(segments, query, method, content_type, body)| {
            let mut path = route.path.to_string();
            for segment in segments {
                path = path.replacen("{}", &segment, 1);
            }
            let query: Vec<String> = query.into_iter().map(|(name, value)| format!("{name}={value}")).collect();
            let uri = match query.is_empty() {
                true => path,
                false => format!("{path}?{}", query.join("&")),
            };
            FuzzRequest { method, uri, content_type, body }
        })
    })
}

#[cfg(test)]
mod tests {
    use axum::routing::get;

    use super::*;

    #[test]
    fn encoding_leaves_only_bytes_a_uri_may_carry() {
        assert_eq!(encode("a b/\u{0}é"), "a%20b%2F%00%C3%A9");
        assert_eq!(encode("SKU-00001_x.y~"), "SKU-00001_x.y~");
    }

    #[test]
    fn a_5xx_a_text_error_and_a_bare_json_error_are_all_problems() {
        let answer = |status, content_type: Option<&str>, body| RawAnswer {
            request: "GET /".into(),
            status,
            content_type: content_type.map(String::from),
            body,
        };
        let json = Some("application/json");
        assert!(problem(&answer(500, json, json!({"error": "internal", "message": "x"}))).is_some());
        assert!(problem(&answer(404, Some("text/plain"), json!("not found"))).is_some());
        assert!(problem(&answer(400, json, json!({"error": "bad"}))).is_some());
        assert!(problem(&answer(400, json, json!({"error": "bad", "message": "why"}))).is_none());
        assert!(problem(&answer(200, Some("text/plain"), json!("fine"))).is_none());
    }

    /// The property test finds a route that panics on some input.
    #[test]
    #[should_panic(expected = "answered 500")]
    fn a_route_that_fails_on_a_long_segment_is_found() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let router = Router::new().route(
            "/items/{id}",
            get(|axum::extract::Path(id): axum::extract::Path<String>| async move {
                match id.len() > 100 {
                    true => Err((axum::http::StatusCode::INTERNAL_SERVER_ERROR, "boom")),
                    false => Ok("ok"),
                }
            }),
        );
        let routes = [Route { method: "GET", path: "/items/{}", query: &[], fields: &[] }];
        no_request_gets_a_5xx(&runtime, &router, &routes, &Valid::default(), 200);
    }
}
