//! The shop: products read through a Redis cache, orders charged at the
//! payment provider and stored in PostgreSQL.
//!
//! - `routes`: the axum router.
//! - `state`: what handlers share.
//! - `products`: `GET /products/{sku}`.
//! - `orders`: `POST /orders` and `GET /orders/{id}`.
//! - `health`: `GET /health`.

pub mod health;
pub mod orders;
pub mod products;
pub mod routes;
pub mod state;

use lab_monitoring::{Config, LogSink};

/// Builds the service from its database, Redis and payment settings.
pub fn app(config: Config) -> axum::Router {
    routes::router(state::AppState::new(config))
}

/// Nothing to set up: the service prints what it wants to stderr.
// TODO: send one JSON log line per request to `logs`, and time the functions you instrument (guide, step 3).
pub fn telemetry(_logs: &LogSink) {}

/// This implementation, as the lab's tests and driver see it.
pub const SERVICE: lab_monitoring::Service = lab_monitoring::Service { name: env!("CARGO_PKG_NAME"), app, telemetry };
