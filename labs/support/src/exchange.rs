//! Sending a workload request in-process and recording the exchange.
//!
//! Requests are plain data ([`Req`], from `lab-protocol`) so the same list
//! can be sent in-process (through `tower::ServiceExt::oneshot`, no socket)
//! by the driver, or over loopback HTTP by the grader's load test.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub use lab_protocol::{Exchange, Req};

/// Builds the `http::Request` for an in-process call.
pub fn to_http(req: &Req) -> Request<Body> {
    let method = Method::from_bytes(req.method.as_bytes()).unwrap_or(Method::GET);
    let builder = Request::builder().method(method).uri(&req.uri);
    match &req.body {
        Some(body) => builder.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("a workload request is a valid HTTP request")
}

/// Parses a response body: JSON when it is JSON, else the text as a string.
pub fn body_value(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Sends `req` to `router` in-process and records the exchange.
pub async fn send(router: &Router, req: &Req) -> Exchange {
    let response = router.clone().oneshot(to_http(req)).await.expect("axum routers are infallible");
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.map(|collected| collected.to_bytes()).unwrap_or_default();
    Exchange { req: req.clone(), status, body: body_value(&bytes) }
}

/// An answer as a hostile client sees it: status, `content-type` and body.
#[derive(Debug)]
pub struct RawAnswer {
    pub request: String,
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Value,
}

/// Sends any request, body and `content-type` as given, and keeps the answer's `content-type`.
pub async fn send_any(
    router: &Router,
    method: &str,
    uri: &str,
    content_type: Option<&str>,
    body: Option<&str>,
) -> RawAnswer {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let request = request.body(Body::from(body.unwrap_or_default().to_string())).expect("a valid request");
    let response = router.clone().oneshot(request).await.expect("axum routers are infallible");
    let status = response.status().as_u16();
    let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(String::from);
    let bytes = response.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let request = match body {
        Some(body) => format!("{method} {uri} {body}"),
        None => format!("{method} {uri}"),
    };
    RawAnswer { request, status, content_type, body: body_value(&bytes) }
}

/// Panics unless `answer` is a 4xx with a JSON `{"error", "message"}` body
/// (the error shape every lab's API uses), both non-empty strings.
pub fn assert_json_4xx(answer: &RawAnswer) {
    let RawAnswer { request, status, content_type, body } = answer;
    assert!((400..500).contains(status), "{request} gave {status} {body}");
    assert_eq!(content_type.as_deref(), Some("application/json"), "{request} gave {status} {body}");
    let field = |name: &str| {
        body[name].as_str().unwrap_or_else(|| panic!("{request} gave a body that is not the error shape: {body}"))
    };
    assert!(!field("error").is_empty() && !field("message").is_empty(), "{request} gave {body}");
}
