//! The router: every route of the contract, the monitoring routes, and
//! JSON errors for the rest, all behind the request middleware.

use axum::Router;
use axum::routing::{get, post};
use lab_monitoring::api;

use crate::state::AppState;
use crate::{dashboard, health, metrics, observe, orders, products};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/events", get(dashboard::events))
        .route("/products/{sku}", get(products::get_product))
        .route("/orders", post(orders::place_order))
        .route("/orders/{id}", get(orders::get_order))
        .method_not_allowed_fallback(api::wrong_method)
        .fallback(api::no_route)
        // Last, so it wraps every route and the fallbacks: nothing is answered unseen.
        .layer(axum::middleware::from_fn_with_state(state.clone(), observe::observe))
        .with_state(state)
}
