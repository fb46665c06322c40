//! A request the workload sends, and the exchange it produced.
//!
//! Requests are plain data so the same list can be sent in-process (through
//! `tower::ServiceExt::oneshot`, no socket) by the driver, or over loopback
//! HTTP by the grader's load test.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

/// One HTTP request of a workload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Req {
    pub method: String,
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

impl Req {
    pub fn get(uri: impl Into<String>) -> Self {
        Req { method: "GET".into(), uri: uri.into(), body: None }
    }

    pub fn post(uri: impl Into<String>, body: serde_json::Value) -> Self {
        Req { method: "POST".into(), uri: uri.into(), body: Some(body) }
    }

    /// `GET /path?query`, as a person would write it in a report.
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.uri)
    }

    /// Builds the `http::Request` for an in-process call.
    pub fn to_http(&self) -> Request<Body> {
        let method = Method::from_bytes(self.method.as_bytes()).unwrap_or(Method::GET);
        let builder = Request::builder().method(method).uri(&self.uri);
        match &self.body {
            Some(body) => builder.header(header::CONTENT_TYPE, "application/json").body(Body::from(body.to_string())),
            None => builder.body(Body::empty()),
        }
        .expect("a workload request is a valid HTTP request")
    }
}

/// A request and the answer it got: what the correctness gate compares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    pub req: Req,
    pub status: u16,
    /// The JSON body, or the raw text wrapped in a JSON string when the body
    /// was not JSON.
    pub body: serde_json::Value,
}

/// Parses a response body: JSON when it is JSON, else the text as a string.
pub fn body_value(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Sends `req` to `router` in-process and records the exchange.
pub async fn send(router: &Router, req: &Req) -> Exchange {
    let response = router.clone().oneshot(req.to_http()).await.expect("axum routers are infallible");
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.map(|collected| collected.to_bytes()).unwrap_or_default();
    Exchange { req: req.clone(), status, body: body_value(&bytes) }
}
