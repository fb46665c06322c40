//! `GET /cache/stats`.

use axum::Json;
use lab_caching::api::CacheStats;

/// Hits and misses per cache layer: there is no cache yet.
pub async fn cache_stats() -> Json<CacheStats> {
    Json(CacheStats::default())
}
