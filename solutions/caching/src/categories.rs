//! `GET /categories/{name}`, through the cache.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use lab_caching::api::{ApiError, CategoryListing, CategoryName};

use crate::cache;
use crate::state::AppState;

pub async fn get_category(
    State(state): State<AppState>,
    CategoryName(name): CategoryName,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let upstream = &state.upstream;
    // Why the shared layer: the same cache-aside, versions and single-flight as products, written once.
    let listing = state
        .cache
        .get_or_load(&cache::category(&name), || async {
            Ok(upstream.category(&name).await?.map(|items| CategoryListing::new(name.clone(), &items)))
        })
        .await?;
    let listing = listing.ok_or_else(|| ApiError::no_category(&name))?;
    // Why: the ETag lets a client that already holds this listing revalidate for a 304 with no body.
    Ok(listing.respond(&headers))
}
