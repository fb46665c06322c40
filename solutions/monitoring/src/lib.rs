//! The shop, observable: products read through a Redis cache, orders
//! charged at the payment provider and stored in PostgreSQL, and
//! everything an operator needs to see inside it.
//!
//! - `routes`: the axum router, with the request middleware around every route.
//! - `state`: what handlers share.
//! - `products`: `GET /products/{sku}`.
//! - `orders`: `POST /orders` and `GET /orders/{id}`.
//! - `health`: `GET /health`, `/health/live` and `/health/ready`.
//! - `logformat`: one log line as one small JSON object.
//! - `observe`: the request middleware: request id, trace context, one log line, metrics.
//! - `metrics`: the Prometheus registry and `GET /metrics`.
//! - `timings`: the tracing layer that turns `#[instrument]` spans into a duration metric.
//! - `dashboard`: `GET /dashboard` and its live event stream.

pub mod dashboard;
pub mod health;
pub mod logformat;
pub mod metrics;
pub mod observe;
pub mod orders;
pub mod products;
pub mod routes;
pub mod state;
pub mod timings;

use lab_monitoring::{Config, LogSink};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

/// Builds the service from its database, Redis and payment settings.
pub fn app(config: Config) -> axum::Router {
    routes::router(state::AppState::new(config))
}

/// One JSON object per log line, to `logs`, and the duration of every
/// instrumented function as a metric. `SHOP_LOG` sets the filter
/// (default `info`). Once per process: later calls change nothing.
pub fn telemetry(logs: &LogSink) {
    static WRITER: std::sync::OnceLock<tracing_appender::non_blocking::WorkerGuard> = std::sync::OnceLock::new();
    if WRITER.get().is_some() {
        return;
    }
    let sink = match logs.writer() {
        Ok(sink) => sink,
        Err(err) => {
            eprintln!("error: cannot open the log sink {logs:?}: {err}");
            return;
        }
    };
    // A thread of its own writes the lines, in batches: a request only formats its line.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::BufWriter::new(sink));
    // Kept for the life of the process: dropping it would stop the writer thread.
    let _ = WRITER.set(guard);
    // Events only, flattened: each line carries its own fields (the request
    // line its id, route, trace id, status and latency), and no span's
    // fields are formatted for it, which would cost on every span made.
    let json = fmt::layer()
        .event_format(logformat::LeanJson)
        .with_writer(writer)
        .with_filter(filter_fn(|metadata| metadata.is_event()));
    let filter = EnvFilter::try_from_env("SHOP_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry().with(filter).with(timings::SpanTimings).with(json).try_init();
}

/// This implementation, as the lab's tests and driver see it.
pub const SERVICE: lab_monitoring::Service = lab_monitoring::Service { name: env!("CARGO_PKG_NAME"), app, telemetry };
