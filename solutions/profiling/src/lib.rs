//! Shop analytics: sales reports over the shop's sales log.
//!
//! - `routes`: the axum router and its handlers.
//! - `state`: what the service keeps between requests.
//! - `sales`: reading sale lines from the log.
//! - `reports`: the three reports.
//! - `format`: money as people read it.

pub mod format;
pub mod reports;
pub mod routes;
pub mod sales;
pub mod state;

use lab_profiling::Dataset;

/// Builds the service from the catalogue and the sales log.
pub fn app(data: Dataset) -> axum::Router {
    // Why: every slow path was found with a profile first (flamegraph, dhat, load test), then fixed and re-measured.
    routes::router(state::AppState::new(data))
}
