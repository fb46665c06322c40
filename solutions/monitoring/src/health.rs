//! Health: `GET /health` as before, and the two questions an orchestrator
//! asks. Liveness: is the process able to answer at all (no dependency
//! touched, so a database outage never gets the service restarted)?
//! Readiness: can it do its work (each dependency checked with its own
//! timeout, the answer cached briefly so a busy prober cannot load the
//! database)?

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lab_monitoring::api::Health;
use lab_monitoring::telemetry::{HEALTH_JSON, HealthCheck, HealthReport};

use crate::state::AppState;

/// How long one dependency check may take: well inside the 1 s a prober waits.
const CHECK_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a readiness answer is reused.
const READINESS_TTL: Duration = Duration::from_secs(1);

/// `GET /health`: unchanged, for the clients that already use it.
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let report = readiness_report(&state).await;
    match report.status.as_str() {
        "fail" => (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "down".into() })),
        _ => (StatusCode::OK, Json(Health::ok())),
    }
}

/// `GET /health/live`
pub async fn live() -> Response {
    health_json(StatusCode::OK, &HealthReport { status: "pass".into(), checks: BTreeMap::new() })
}

/// `GET /health/ready`
pub async fn ready(State(state): State<AppState>) -> Response {
    let report = readiness_report(&state).await;
    let status = if report.status == "fail" { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    health_json(status, &report)
}

fn health_json(status: StatusCode, report: &HealthReport) -> Response {
    (status, [(header::CONTENT_TYPE, HEALTH_JSON)], Json(report)).into_response()
}

/// The last readiness answer and when it was made.
#[derive(Debug, Default)]
pub struct ReadinessCache {
    last: tokio::sync::Mutex<Option<(Instant, HealthReport)>>,
}

/// The cached report while it is fresh; else a new one. The lock is held
/// while checking, so callers that arrive meanwhile share one check.
async fn readiness_report(state: &AppState) -> HealthReport {
    let mut last = state.readiness.last.lock().await;
    if let Some((at, report)) = last.as_ref()
        && at.elapsed() < READINESS_TTL
    {
        return report.clone();
    }
    let (postgres, redis) = tokio::join!(check("fail", ping_postgres(state)), check("warn", ping_redis(state)));
    // Without Redis the shop still sells (reads go to the database): a warning, not a failure.
    let status = [&postgres, &redis]
        .iter()
        .map(|check| check.status.as_str())
        .max_by_key(|status| match *status {
            "fail" => 2,
            "warn" => 1,
            _ => 0,
        })
        .unwrap_or("pass")
        .to_string();
    let checks =
        BTreeMap::from([("postgres:ping".to_string(), vec![postgres]), ("redis:ping".to_string(), vec![redis])]);
    let report = HealthReport { status, checks };
    *last = Some((Instant::now(), report.clone()));
    report
}

/// Runs one check within [`CHECK_TIMEOUT`]; `failed` is its status when it does not pass.
async fn check(failed: &str, ping: impl Future<Output = Result<(), String>>) -> HealthCheck {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(CHECK_TIMEOUT, ping).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!("no answer within {} ms", CHECK_TIMEOUT.as_millis())),
    };
    let (status, output) = match outcome {
        Ok(()) => ("pass".to_string(), None),
        Err(why) => (failed.to_string(), Some(why)),
    };
    let time = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).ok();
    HealthCheck {
        status,
        observed_value: Some(started.elapsed().as_secs_f64() * 1000.0),
        observed_unit: Some("ms".into()),
        output,
        time,
    }
}

async fn ping_postgres(state: &AppState) -> Result<(), String> {
    sqlx::query("SELECT 1").execute(&state.db).await.map(drop).map_err(|err| err.to_string())
}

async fn ping_redis(state: &AppState) -> Result<(), String> {
    let mut redis = state.redis().await.map_err(|err| err.to_string())?;
    redis::cmd("PING").query_async::<String>(&mut redis).await.map(drop).map_err(|err| err.to_string())
}
