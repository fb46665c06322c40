//! `GET /dashboard`: a page that shows the shop's traffic, errors, latency
//! and resources as they change, fed by `GET /dashboard/events`, a
//! server-sent event a second. A background task keeps two minutes of
//! history, one point a second, so the page can draw a trend at once.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::Html;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use lab_monitoring::telemetry::{DashboardSnapshot, HistoryPoint};
use std::sync::Mutex;

use crate::metrics::Metrics;
use crate::state::AppState;

/// How many seconds of history the page gets.
const HISTORY_POINTS: usize = 120;
/// How often the page gets a snapshot.
const EVERY: Duration = Duration::from_secs(1);

/// The routes left out of the dashboard's numbers: watching must not count as traffic.
pub fn is_monitoring(route: &str) -> bool {
    route == "/metrics" || route.starts_with("/health/") || route.starts_with("/dashboard")
}

/// One point a second, oldest first.
#[derive(Debug, Default)]
pub struct History {
    points: Mutex<VecDeque<HistoryPoint>>,
}

impl History {
    fn push(&self, point: HistoryPoint) {
        let mut points = self.points.lock().expect("history lock");
        if points.len() == HISTORY_POINTS {
            points.pop_front();
        }
        points.push_back(point);
    }

    fn all(&self) -> Vec<HistoryPoint> {
        self.points.lock().expect("history lock").iter().cloned().collect()
    }
}

/// Starts the task that records a point a second for as long as `state`'s history is alive.
pub fn keep_history(state: &AppState) {
    let history: Weak<History> = Arc::downgrade(&state.history);
    let metrics = state.metrics.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tick.tick().await;
            let Some(history) = history.upgrade() else { return };
            let now = snapshot_numbers(&metrics);
            history.push(HistoryPoint {
                at: unix_seconds(),
                requests: now.requests,
                errors: now.errors,
                p95_ms: now.p95_ms,
            });
        }
    });
}

/// `GET /dashboard`
pub async fn page() -> Html<&'static str> {
    Html(include_str!("dashboard.html"))
}

/// `GET /dashboard/events`: a snapshot now, then one a second.
pub async fn events(State(state): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures_util::stream::unfold((state, true), |(state, first)| async move {
        if !first {
            tokio::time::sleep(EVERY).await;
        }
        let event = Event::default().json_data(snapshot(&state)).expect("a snapshot serializes");
        Some((Ok(event), (state, false)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// What the page shows now.
pub fn snapshot(state: &AppState) -> DashboardSnapshot {
    let mut snapshot = snapshot_numbers(&state.metrics);
    snapshot.history = state.history.all();
    let history = &snapshot.history;
    // The rate over the last five points, or as many as there are.
    if let Some(first) = history.len().checked_sub(6).and_then(|i| history.get(i)).or(history.first()) {
        let seconds = unix_seconds().saturating_sub(first.at).max(1) as f64;
        snapshot.rate = snapshot.requests.saturating_sub(first.requests) as f64 / seconds;
    }
    snapshot
}

fn snapshot_numbers(metrics: &Metrics) -> DashboardSnapshot {
    let requests = metrics.requests_where(|route, _| !is_monitoring(route));
    let errors = metrics.requests_where(|route, status| !is_monitoring(route) && status >= 500);
    let buckets = metrics.latency_buckets(|route| !is_monitoring(route));
    let quantile = |q: f64| crate::metrics::quantile_ms(&buckets, q);
    let (resident_bytes, cpu_seconds) = metrics.process();
    DashboardSnapshot {
        requests,
        errors,
        rate: 0.0,
        p50_ms: quantile(0.5),
        p95_ms: quantile(0.95),
        p99_ms: quantile(0.99),
        resident_bytes,
        cpu_seconds,
        history: Vec::new(),
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
