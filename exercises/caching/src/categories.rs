//! `GET /categories/{name}`.

use axum::Json;
use axum::extract::State;
use lab_caching::api::{ApiError, CategoryListing, CategoryName};

use crate::state::AppState;

pub async fn get_category(
    State(state): State<AppState>,
    CategoryName(name): CategoryName,
) -> Result<Json<CategoryListing>, ApiError> {
    // TODO: compare this lookup with get_product's: what would caching each one separately cost? (guide, step 2)
    let items = state.upstream.category(&name).await?.ok_or_else(|| ApiError::no_category(&name))?;
    Ok(Json(CategoryListing::new(name, &items)))
}
