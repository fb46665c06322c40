//! The catalogue service: products and category listings read from the
//! upstream catalogue API, and changes passed on to it.
//!
//! - `routes`: the axum router.
//! - `state`: what handlers share.
//! - `products`: `GET`, `PUT` and `DELETE /products/{id}`.
//! - `categories`: `GET /categories/{name}`.
//! - `stats`: `GET /cache/stats`.

pub mod categories;
pub mod products;
pub mod routes;
pub mod state;
pub mod stats;

use lab_caching::Config;

/// Builds the service from its upstream and Redis settings.
pub fn app(config: Config) -> axum::Router {
    routes::router(state::AppState::new(config))
}

/// This implementation, as the lab's tests and driver see it.
pub const SERVICE: lab_caching::Service = lab_caching::Service { name: env!("CARGO_PKG_NAME"), app };
