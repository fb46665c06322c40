//! The router: every route of the contract, and JSON errors for the rest.

use axum::Router;
use axum::middleware::map_response;
use axum::routing::get;
use lab_caching::api::{self, Health};

use crate::state::AppState;
use crate::{categories, http, products, stats};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route(
            "/products/{id}",
            get(products::get_product).put(products::update_product).delete(products::delete_product),
        )
        .route("/categories/{name}", get(categories::get_category))
        .route("/cache/stats", get(stats::cache_stats))
        .method_not_allowed_fallback(api::wrong_method)
        .fallback(api::no_route)
        // Why: writes, deletes, errors and stats must never be stored by a client or proxy; reads set their own policy.
        .layer(map_response(http::no_store_by_default))
        .with_state(state)
}

async fn health() -> axum::Json<Health> {
    axum::Json(Health::ok())
}
