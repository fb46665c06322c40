//! CPU profiles over HTTP, modelled on Go's `net/http/pprof`.
//!
//! - `GET /debug/pprof/profile?seconds=10` returns a protobuf profile that
//!   `pprof -http=: profile.pb` (or `go tool pprof`) opens.
//! - `GET /debug/pprof/flamegraph?seconds=10` returns an SVG flamegraph to
//!   open in a browser.
//!
//! Sampling runs at 99 Hz by default: the kernel tick caps it near 250 Hz on
//! the lab machines, and an odd rate avoids sampling in lockstep with timers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pprof::protos::Message;
use serde::Deserialize;
use serde_json::json;

/// Only one CPU profile may run at a time: the sampler is process-wide.
static PROFILING: AtomicBool = AtomicBool::new(false);

const MAX_SECONDS: u64 = 60;

#[derive(Debug, Deserialize)]
struct ProfileParams {
    seconds: Option<u64>,
    frequency: Option<i32>,
}

/// Routes to merge into a service's router.
pub fn routes() -> Router {
    Router::new().route("/debug/pprof/profile", get(profile)).route("/debug/pprof/flamegraph", get(flamegraph))
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    (status, Json(json!({ "error": code, "message": message }))).into_response()
}

/// A JSON 400 naming what is wrong with the query.
fn bad_query(rejection: QueryRejection) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_query", format!("{rejection}; seconds and frequency are whole numbers"))
}

async fn profile(query: Result<Query<ProfileParams>, QueryRejection>) -> Response {
    let params = match query {
        Ok(Query(params)) => params,
        Err(rejection) => return bad_query(rejection),
    };
    match sample(params).await {
        Ok(report) => match report.pprof() {
            Ok(profile) => {
                let mut bytes = Vec::new();
                match profile.encode(&mut bytes) {
                    Ok(()) => (
                        [
                            (header::CONTENT_TYPE, "application/octet-stream"),
                            (header::CONTENT_DISPOSITION, "attachment; filename=\"profile.pb\""),
                        ],
                        bytes,
                    )
                        .into_response(),
                    Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, "profile_failed", err.to_string()),
                }
            }
            Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, "profile_failed", err.to_string()),
        },
        Err(response) => response,
    }
}

async fn flamegraph(query: Result<Query<ProfileParams>, QueryRejection>) -> Response {
    let params = match query {
        Ok(Query(params)) => params,
        Err(rejection) => return bad_query(rejection),
    };
    match sample(params).await {
        Ok(report) => {
            let mut svg = Vec::new();
            match report.flamegraph(&mut svg) {
                Ok(()) => ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
                Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, "profile_failed", err.to_string()),
            }
        }
        Err(response) => response,
    }
}

/// Samples the whole process for the requested time and returns the report.
async fn sample(params: ProfileParams) -> Result<pprof::Report, Response> {
    let seconds = params.seconds.unwrap_or(10);
    if !(1..=MAX_SECONDS).contains(&seconds) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("seconds must be between 1 and {MAX_SECONDS}, got {seconds}"),
        ));
    }
    let frequency = params.frequency.unwrap_or(99);
    if !(1..=1000).contains(&frequency) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!("frequency must be between 1 and 1000 Hz, got {frequency}"),
        ));
    }
    if PROFILING.swap(true, Ordering::SeqCst) {
        return Err(error(
            StatusCode::CONFLICT,
            "profile_in_progress",
            "another CPU profile is running; try again when it ends".into(),
        ));
    }
    // Released when the profile ends, and also when the client hangs up
    // mid-profile and the handler's future is dropped.
    let _running = Running;
    async {
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(frequency)
            .blocklist(&["libc", "libgcc", "pthread", "vdso"])
            .build()
            .map_err(|err| error(StatusCode::INTERNAL_SERVER_ERROR, "profile_failed", err.to_string()))?;
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        guard
            .report()
            .build()
            .map_err(|err| error(StatusCode::INTERNAL_SERVER_ERROR, "profile_failed", err.to_string()))
    }
    .await
}

/// Holds [`PROFILING`] for as long as it lives.
struct Running;

impl Drop for Running {
    fn drop(&mut self) {
        PROFILING.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn get(uri: &str) -> (StatusCode, serde_json::Value) {
        let response = routes().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    #[tokio::test]
    async fn a_client_that_hangs_up_mid_profile_frees_the_profiler() {
        let abandoned = tokio::time::timeout(Duration::from_millis(200), get("/debug/pprof/profile?seconds=5")).await;
        assert!(abandoned.is_err(), "the first profile was cut short");
        let (status, body) = get("/debug/pprof/profile?seconds=1&frequency=49").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    #[tokio::test]
    async fn bad_parameters_are_a_json_400() {
        for uri in [
            "/debug/pprof/profile?seconds=abc",
            "/debug/pprof/flamegraph?seconds=0",
            "/debug/pprof/profile?frequency=-1",
        ] {
            let (status, body) = get(uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert_eq!(body["error"], "invalid_query", "{uri}: {body}");
        }
    }
}
