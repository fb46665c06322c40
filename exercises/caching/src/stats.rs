//! `GET /cache/stats`.

use axum::Json;
use lab_caching::api::CacheStats;

/// Hits and misses per cache layer: there is no cache yet.
// TODO: what share of the mixed workload's reads could a cache answer? (guide, step 6)
pub async fn cache_stats() -> Json<CacheStats> {
    Json(CacheStats::default())
}
