//! The router: every route of the contract, and JSON errors for the rest.

use axum::Router;
use axum::routing::{get, post};
use lab_monitoring::api;

use crate::state::AppState;
use crate::{health, orders, products};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/products/{sku}", get(products::get_product))
        .route("/orders", post(orders::place_order))
        .route("/orders/{id}", get(orders::get_order))
        .method_not_allowed_fallback(api::wrong_method)
        .fallback(api::no_route)
        .with_state(state)
}
