//! `GET`, `PUT` and `DELETE /products/{id}`: reads through the cache, writes
//! to the upstream first and then to the versions.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use lab_caching::api::{ApiError, JsonBody, Product, ProductId, ProductPatch};

use crate::cache::{self, Cached};
use crate::state::AppState;

pub async fn get_product(
    State(state): State<AppState>,
    ProductId(id): ProductId,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let product = read(&state, id).await?.ok_or_else(|| ApiError::no_product(id))?;
    // Why: the ETag lets a client that already holds this version revalidate for a 304 with no body.
    Ok(product.respond(&headers))
}

/// Product `id` through both cache layers; the upstream is asked only when both miss.
async fn read(state: &AppState, id: u32) -> Result<Cached, ApiError> {
    let upstream = &state.upstream;
    state.cache.get_or_load(&cache::product(id), || async { Ok(upstream.item(id).await?.map(Product::from)) }).await
}

pub async fn update_product(
    State(state): State<AppState>,
    ProductId(id): ProductId,
    JsonBody(patch): JsonBody<ProductPatch>,
) -> Result<Json<Product>, ApiError> {
    let patch = patch.validate()?;
    // Upstream first: it is the source of truth, and a write it did not take must not be acknowledged.
    let written = state.upstream.update(id, &patch).await;
    let item = match written {
        Ok(Some(item)) => item,
        // Nothing changed: no version to bump.
        Ok(None) => return Err(ApiError::no_product(id)),
        Err(err) => {
            // Why: a write that timed out may still have landed; retiring the product's copies costs one miss.
            // (Its listing would need its category, i.e. one more call to the upstream that just failed.)
            state.cache.changed(&[cache::product(id)]).await;
            return Err(err.into());
        }
    };
    // Then the versions, before the answer: the product, and its category's listing (it shows name, price, stock).
    // (No write-through of the new item: a concurrent write's bump could land first and leave it under the newest version.)
    state.cache.changed(&[cache::product(id), cache::category(&item.category)]).await;
    Ok(Json(Product::from(item)))
}

pub async fn delete_product(State(state): State<AppState>, ProductId(id): ProductId) -> Result<StatusCode, ApiError> {
    // Why: a product never changes category, so any copy of it names the listing this delete changes
    // (usually a cache hit; otherwise one upstream read).
    let category = read(&state, id).await?.and_then(|product| category_of(product.body()));
    let deleted = state.upstream.delete(id).await;
    // A failed call may still have deleted it; only "no such product" is sure to have changed nothing.
    if !matches!(deleted, Ok(false)) {
        let mut changed = vec![cache::product(id)];
        changed.extend(category.as_deref().map(cache::category));
        // Versions after the upstream and before the answer, as for a write: the product's 404 and its listing.
        state.cache.changed(&changed).await;
    }
    match deleted? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::no_product(id)),
    }
}

/// The category in a cached product body.
fn category_of(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Product>(body).ok().map(|product| product.category)
}
