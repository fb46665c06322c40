//! Lab 25, caching: a catalogue service over a slow upstream, and Redis.
//!
//! The service reads products and category listings from an upstream
//! catalogue API that takes a few milliseconds a call and counts every call
//! it answers, and takes writes and deletes that it passes on. Three crates
//! implement it with the same `app(Config) -> Router` function: the frozen
//! baseline (`labs/caching/baseline`, no cache at all), the student's
//! starter (`exercises/caching`) and the reference fix (`solutions/caching`).
//! This crate holds what they share and everything that measures them:
//!
//! - [`api`]: routes, bodies and errors (the HTTP contract).
//! - [`data`]: the seeded catalogue the upstream serves.
//! - [`upstream`]: the slow, counting upstream (also the `cache-upstream` binary) and its client.
//! - [`store`]: where Redis is, a key prefix of its own per test or run, and the commands it served.
//! - [`redis_proxy`]: a proxy that counts a service's Redis commands, and can take Redis away (refused, or hung).
//! - [`workload`]: the request lists the driver and grader send.
//! - [`survey`]: every workload's cost per request, as a table for a student.
//! - [`contract`]: contract tests every implementation runs ([`contract_tests!`]).
//! - [`lessons`]: the measured lessons: upstream calls, a shared cache, stampedes, ETags, hit counts ([`lesson_tests!`]).
//! - [`driver`]: the lab on the measuring driver's seam (`serve`, `run`, `requests`).

pub mod api;
pub mod contract;
pub mod data;
pub mod driver;
pub mod lessons;
pub mod redis_proxy;
pub mod store;
pub mod survey;
pub mod upstream;
pub mod workload;

pub use data::Catalog;

/// The lab's id, as the grader names it.
pub const NAME: &str = "caching";

/// Everything a service is built from.
#[derive(Clone, Debug)]
pub struct Config {
    /// The catalogue's source of truth.
    pub upstream: upstream::Client,
    /// The shared cache every instance of the service may use.
    pub redis: RedisConfig,
}

/// Where Redis is, and the part of it this service owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://host:port/db`, or `redis+unix:///path/of/socket`.
    pub url: String,
    /// Every key (and pub/sub channel) the service makes must start with
    /// this: tests and runs share one Redis, each with a prefix of its own.
    pub prefix: String,
}

/// Signature every implementation exposes. Called inside a tokio runtime;
/// it must not wait for Redis (which may be down): connect lazily.
pub type AppFn = fn(Config) -> axum::Router;

/// One implementation of the contract, as trusted code sees it.
#[derive(Clone, Copy)]
pub struct Service {
    /// The implementation's package name (`baseline-caching`, ...).
    pub name: &'static str,
    pub app: AppFn,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service").field("name", &self.name).finish()
    }
}

/// `main` of an implementation's driver binary: `lab_caching::driver_main(exercise_caching::SERVICE)`.
pub fn driver_main(service: Service) -> std::process::ExitCode {
    driver::main(service)
}
