//! The shop's order service: orders with their customer and lines, a
//! customer's history, a sales report by category, products and reviews.
//!
//! - `routes`: the axum router.
//! - `state`: what handlers share, and how they get a database connection.
//! - `models`: the table rows as Rust structs.
//! - `orders`: `GET /orders`, `GET /orders/{id}`, `GET /customers/{id}/orders`.
//! - `reports`: `GET /reports/categories`.
//! - `products`: `GET /products/{sku}`, `POST /products/{sku}/reviews`.
//! - `migrations/`: this service's schema changes on top of the lab's base schema.

pub mod models;
pub mod orders;
pub mod products;
pub mod reports;
pub mod routes;
pub mod state;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgConnectOptions;

/// The service's own migrations, run after the base schema and the seeded rows.
pub static MIGRATOR: Migrator = sqlx::migrate!("src/migrations");

/// Builds the service for the database at `options`.
pub fn app(options: PgConnectOptions) -> axum::Router {
    routes::router(state::AppState::new(options))
}

/// This implementation, as the lab's tests and driver see it.
pub const SERVICE: lab_database::Service =
    lab_database::Service { name: env!("CARGO_PKG_NAME"), app, migrator: &MIGRATOR };
