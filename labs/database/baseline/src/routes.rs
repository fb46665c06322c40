//! The HTTP API (see `lab_database::api` for the contract).

use axum::routing::{get, post};
use axum::{Json, Router};
use lab_database::api::{self, Health};

use crate::state::AppState;
use crate::{orders, products, reports};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/orders", get(orders::list))
        .route("/orders/{id}", get(orders::one))
        .route("/customers/{id}/orders", get(orders::of_customer))
        .route("/reports/categories", get(reports::categories))
        .route("/products/{sku}", get(products::one))
        .route("/products/{sku}/reviews", post(products::review))
        .fallback(api::no_route)
        .method_not_allowed_fallback(api::wrong_method)
        .with_state(state)
}

async fn health() -> Json<Health> {
    Json(Health { status: "ok".to_string() })
}
