//! The monitoring contract: what the lab asks a service to show, under
//! which names, so tests and the grader can read it from outside.
//!
//! | route | answer |
//! |---|---|
//! | `GET /metrics` | the Prometheus text format ([`METRICS`] lists the series every service must have) |
//! | `GET /health/live` | `application/health+json` [`HealthReport`]: the process is up (touches no dependency) |
//! | `GET /health/ready` | [`HealthReport`] with a check per dependency; 200 for `pass` or `warn`, 503 for `fail` |
//! | `GET /dashboard` | an HTML page that shows the live numbers |
//! | `GET /dashboard/events` | server-sent events, one [`DashboardSnapshot`] each `data:` line |
//!
//! Every answer carries [`REQUEST_ID`]: the caller's, when it sent a
//! usable one, else one the service made. A caller's W3C [`TRACEPARENT`]
//! puts its trace id on every log line of the request and travels on to
//! the payment provider.
//!
//! **Logs.** One JSON object per line. The line a request ends with holds
//! the request id, method, route template, status and latency (in the line
//! or in one of its spans, under the names [`LOG_FIELDS`] gives), and the
//! trace id when there is one.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// The request id header, kept when the caller sent one and made up otherwise.
pub const REQUEST_ID: &str = "x-request-id";
/// The W3C trace context header.
pub const TRACEPARENT: &str = "traceparent";
/// The content type of both health routes.
pub const HEALTH_JSON: &str = "application/health+json";

/// The series `/metrics` must have, with their type and the labels the
/// grader reads (others may be added).
pub const METRICS: &[(&str, &str, &[&str])] = &[
    ("http_requests_total", "counter", &["method", "route", "status"]),
    ("http_request_duration_seconds", "histogram", &["method", "route", "status"]),
    ("http_requests_in_flight", "gauge", &[]),
    ("process_cpu_seconds_total", "counter", &[]),
    ("process_resident_memory_bytes", "gauge", &[]),
    ("db_pool_connections", "gauge", &["state"]),
    ("cache_requests_total", "counter", &["result"]),
    ("shop_orders_total", "counter", &["outcome"]),
    ("function_duration_seconds", "histogram", &["function"]),
];

/// The route label of a request that matched no route.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The fields the line that ends a request must carry.
pub const LOG_FIELDS: [&str; 5] = ["request_id", "method", "route", "status", "latency_ms"];
/// The field that carries the trace id of a request that came with a `traceparent`.
pub const TRACE_ID_FIELD: &str = "trace_id";

/// Where a service's log lines go, as the process that runs it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogSink {
    /// Standard error (`serve` without `--log-file`).
    Stderr,
    /// Appended to a file (`--log-file`; what tests and the grader read).
    File(PathBuf),
    /// Nowhere (in-process tests, unless `TEST_LOG=1`).
    Discard,
}

impl LogSink {
    /// The sink for tests run in-process: stderr with `TEST_LOG=1`, else nowhere.
    pub fn for_tests() -> LogSink {
        match std::env::var_os("TEST_LOG") {
            Some(_) => LogSink::Stderr,
            None => LogSink::Discard,
        }
    }

    /// The sink as one writer (to hand to a non-blocking writer's thread, say).
    pub fn writer(&self) -> std::io::Result<Box<dyn std::io::Write + Send>> {
        Ok(match self {
            LogSink::Stderr => Box::new(std::io::stderr()),
            LogSink::File(path) => Box::new(File::options().create(true).append(true).open(path)?),
            LogSink::Discard => Box::new(std::io::sink()),
        })
    }

    /// A `tracing-subscriber` writer for this sink.
    pub fn make_writer(&self) -> std::io::Result<BoxMakeWriter> {
        Ok(match self {
            LogSink::Stderr => BoxMakeWriter::new(std::io::stderr),
            LogSink::File(path) => {
                let file = File::options().create(true).append(true).open(path)?;
                BoxMakeWriter::new(std::sync::Mutex::new(file))
            }
            LogSink::Discard => BoxMakeWriter::new(std::io::sink),
        })
    }
}

/// The body of both health routes (the `application/health+json` draft's
/// shape: an overall status and, for readiness, a list per check).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    /// `pass`, `warn` or `fail`.
    pub status: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, Vec<HealthCheck>>,
}

/// One dependency's check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// `pass`, `warn` or `fail`.
    pub status: String,
    /// How long the check took, in `observed_unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_unit: Option<String>,
    /// Why a check did not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// When the check ran (RFC 3339): cached answers show their age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// One `data:` line of `/dashboard/events`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashboardSnapshot {
    /// Requests answered since the service started.
    pub requests: u64,
    /// Of those, answered with a 5xx.
    pub errors: u64,
    /// Requests a second over the last few seconds.
    pub rate: f64,
    /// Latency percentiles over the requests so far, in milliseconds.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// The process's resident memory and CPU time.
    pub resident_bytes: u64,
    pub cpu_seconds: f64,
    /// Recent history, oldest first: one point a second.
    pub history: Vec<HistoryPoint>,
}

/// One second of [`DashboardSnapshot::history`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub requests: u64,
    pub errors: u64,
    pub p95_ms: f64,
}
