//! Lab 26, monitoring and APM: a small shop on PostgreSQL and Redis, and
//! what it takes to see inside it.
//!
//! The service sells products: it reads them through a Redis cache, takes
//! orders that charge a card at a payment provider and write to
//! PostgreSQL, and reads orders back. Three crates implement it with the
//! same [`Service`]: the frozen baseline (`labs/monitoring/baseline`, no
//! telemetry beyond a few prints), the student's starter
//! (`exercises/monitoring`) and the reference solution
//! (`solutions/monitoring`). This crate holds what they share and
//! everything that checks them:
//!
//! - [`api`]: routes, bodies and errors (the business contract).
//! - [`telemetry`]: the monitoring contract: metric names, headers, health bodies, where logs go.
//! - [`data`]: the seeded shop.
//! - [`db`]: a fresh seeded database per test or run.
//! - [`payments`]: the payment provider stub (also the `shop-payments` binary) and its client.
//! - [`scrape`]: a `/metrics` scrape read back into samples.
//! - [`workload`]: the request lists the driver and grader send.
//! - [`checks`]: the telemetry checks of a served instance, read from outside (lessons and grader).
//! - [`contract`]: contract tests every implementation runs ([`contract_tests!`]).
//! - [`lessons`]: the telemetry a service shows from outside: metrics, logs, traces, health, dashboard ([`lesson_tests!`]).
//! - [`webhook`]: the Alertmanager webhook receiver alerts end at (also the `alert-webhook` binary).
//! - [`stack`]: Prometheus, Alertmanager and the webhook as throwaway processes, for live alerting checks.
//! - [`driver`]: the lab on the measuring driver's seam (`serve`, `run`, `requests`).

pub mod api;
pub mod checks;
pub mod contract;
pub mod data;
pub mod db;
pub mod driver;
pub mod lessons;
pub mod payments;
pub mod scrape;
pub mod stack;
pub mod telemetry;
pub mod webhook;
pub mod workload;

pub use lab_caching::RedisConfig;
pub use sqlx::postgres::PgConnectOptions;
pub use telemetry::LogSink;

/// The lab's id, as the grader names it.
pub const NAME: &str = "monitoring";

/// Everything a service is built from.
#[derive(Clone, Debug)]
pub struct Config {
    /// The shop's database.
    pub database: PgConnectOptions,
    /// The product cache, under a key prefix of the service's own.
    pub redis: RedisConfig,
    /// The payment provider orders are charged at.
    pub payments: payments::Client,
}

/// Builds a service. Called inside a tokio runtime; it must not wait for
/// PostgreSQL or Redis (either may be down): connect lazily.
pub type AppFn = fn(Config) -> axum::Router;

/// Sets up the process's telemetry once, before any service is built:
/// where log lines go, and anything else that is one per process.
pub type TelemetryFn = fn(&LogSink);

/// One implementation of the contract, as trusted code sees it.
#[derive(Clone, Copy)]
pub struct Service {
    /// The implementation's package name (`baseline-monitoring`, ...).
    pub name: &'static str,
    pub app: AppFn,
    pub telemetry: TelemetryFn,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("name", &self.name).finish()
    }
}

/// `main` of an implementation's driver binary: `lab_monitoring::driver_main(exercise_monitoring::SERVICE)`.
pub fn driver_main(service: Service) -> std::process::ExitCode {
    driver::main(service)
}
