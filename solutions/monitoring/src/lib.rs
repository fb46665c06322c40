//! The shop, observable: products read through a Redis cache, orders
//! charged at the payment provider and stored in PostgreSQL, and
//! everything an operator needs to see inside it.
//!
//! - `routes`: the axum router, with the request middleware around every route.
//! - `state`: what handlers share.
//! - `products`: `GET /products/{sku}`.
//! - `orders`: `POST /orders` and `GET /orders/{id}`.
//! - `health`: `GET /health`, `/health/live` and `/health/ready`.
//! - `observe`: the request middleware: request id, trace context, one log line, metrics.
//! - `metrics`: the Prometheus registry and `GET /metrics`.
//! - `timings`: the tracing layer that turns `#[instrument]` spans into a duration metric.
//! - `dashboard`: `GET /dashboard` and its live event stream.

pub mod dashboard;
pub mod health;
pub mod metrics;
pub mod observe;
pub mod orders;
pub mod products;
pub mod routes;
pub mod state;
pub mod timings;

use lab_monitoring::{Config, LogSink};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, fmt};

/// Builds the service from its database, Redis and payment settings.
pub fn app(config: Config) -> axum::Router {
    routes::router(state::AppState::new(config))
}

/// One JSON object per log line, to `logs`, and the duration of every
/// instrumented function as a metric. `SHOP_LOG` sets the filter
/// (default `info`).
pub fn telemetry(logs: &LogSink) {
    let writer = match logs.make_writer() {
        Ok(writer) => writer,
        Err(err) => {
            eprintln!("error: cannot open the log sink {logs:?}: {err}");
            return;
        }
    };
    // Flattened events with the current span: a request's id, route and
    // trace id sit on every line it logs, where a log search finds them.
    let json =
        fmt::layer().json().flatten_event(true).with_current_span(true).with_span_list(false).with_writer(writer);
    let filter = EnvFilter::try_from_env("SHOP_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // try_init: tests build many services in one process, and one subscriber serves them all.
    let _ = tracing_subscriber::registry().with(filter).with(timings::SpanTimings).with(json).try_init();
}

/// This implementation, as the lab's tests and driver see it.
pub const SERVICE: lab_monitoring::Service = lab_monitoring::Service { name: env!("CARGO_PKG_NAME"), app, telemetry };
