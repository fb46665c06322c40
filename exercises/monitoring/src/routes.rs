//! The router: every route of the contract, and JSON errors for the rest.

use axum::Router;
use axum::routing::{get, post};
use lab_monitoring::api;

use crate::state::AppState;
use crate::{health, orders, products};

// TODO: which requests are slow, and which fail? Count them at /metrics, by route template (guide, step 2).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/products/{sku}", get(products::get_product))
        .route("/orders", post(orders::place_order))
        .route("/orders/{id}", get(orders::get_order))
        // TODO: serve a page that shows these numbers live (guide, step 7).
        .method_not_allowed_fallback(api::wrong_method)
        .fallback(api::no_route)
        // TODO: give every answer an x-request-id and carry a caller's traceparent through (guide, step 4).
        .with_state(state)
}
