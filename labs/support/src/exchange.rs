//! Sending a workload request in-process and recording the exchange.
//!
//! Requests are plain data ([`Req`], from `lab-protocol`) so the same list
//! can be sent in-process (through `tower::ServiceExt::oneshot`, no socket)
//! by the driver, or over loopback HTTP by the grader's load test.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use http_body_util::BodyExt;
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
