//! `GET /cache/stats`.

use axum::Json;
use axum::extract::State;
use lab_caching::api::CacheStats;

use crate::state::AppState;

/// Hits and misses per cache layer, memory first (answered `no-store`: they change every request).
pub async fn cache_stats(State(state): State<AppState>) -> Json<CacheStats> {
    // Why: a hit ratio you cannot see is a hit ratio you cannot tune.
    Json(state.cache.stats())
}
