//! The catalogue service, cached: products and category listings read from
//! the upstream catalogue API through two cache layers (memory, then Redis),
//! and changes passed on to the upstream, then to the cache's versions.
//!
//! - `routes`: the axum router, and `Cache-Control: no-store` on every answer that sets no policy of its own.
//! - `state`: what handlers share: the upstream client and the cache.
//! - `cache`: the reusable cache layer: cache-aside over memory and Redis, versioned keys, single-flight loads.
//! - `breaker`: the circuit breaker that lets requests skip a Redis that is down or slow.
//! - `http`: the cached body with its ETag, `If-None-Match` and 304, `Cache-Control`.
//! - `products`: `GET`, `PUT` and `DELETE /products/{id}`.
//! - `categories`: `GET /categories/{name}`.
//! - `stats`: `GET /cache/stats`: hits and misses per layer.

pub mod breaker;
pub mod cache;
pub mod categories;
pub mod http;
pub mod products;
pub mod routes;
pub mod state;
pub mod stats;

use lab_caching::Config;

/// Builds the service from its upstream and Redis settings (without waiting for Redis).
pub fn app(config: Config) -> axum::Router {
    routes::router(state::AppState::new(config))
}

/// This implementation, as the lab's tests and driver see it.
pub const SERVICE: lab_caching::Service = lab_caching::Service { name: env!("CARGO_PKG_NAME"), app };
