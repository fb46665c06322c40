//! `GET`, `PUT` and `DELETE /products/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lab_caching::api::{ApiError, JsonBody, Product, ProductId, ProductPatch};

use crate::state::AppState;

pub async fn get_product(State(state): State<AppState>, ProductId(id): ProductId) -> Result<Json<Product>, ApiError> {
    // TODO: count the upstream calls 100 reads of one popular product cost (guide, step 1).
    // TODO: send 100 reads of one product at once and count the upstream calls again (guide, step 4).
    let item = state.upstream.item(id).await?.ok_or_else(|| ApiError::no_product(id))?;
    Ok(Json(Product::from(item)))
}

pub async fn update_product(
    State(state): State<AppState>,
    ProductId(id): ProductId,
    JsonBody(patch): JsonBody<ProductPatch>,
) -> Result<Json<Product>, ApiError> {
    let patch = patch.validate()?;
    // TODO: after this change, which answers could a cache still hold, and on which instance? (guide, step 3)
    let item = state.upstream.update(id, &patch).await?.ok_or_else(|| ApiError::no_product(id))?;
    Ok(Json(Product::from(item)))
}

pub async fn delete_product(State(state): State<AppState>, ProductId(id): ProductId) -> Result<StatusCode, ApiError> {
    match state.upstream.delete(id).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::no_product(id)),
    }
}
