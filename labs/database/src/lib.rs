//! Lab 24, database optimization: the shop contract on a real PostgreSQL.
//!
//! The service lists orders with their customer and lines, pages through
//! them, filters a customer's orders, reports revenue per category and takes
//! product reviews. Three crates implement it with the same
//! `app(PgConnectOptions) -> Router` function and their own migrations: the
//! frozen slow baseline (`labs/database/baseline`), the student's starter
//! (`exercises/database`) and the reference fix (`solutions/database`).
//! This crate holds what they share and everything that measures them:
//!
//! - [`api`]: routes, parameters, bodies, the page cursor and errors (the HTTP contract).
//! - [`data`]: the seeded rows and their bulk load (`schema.sql`, `constraints.sql`).
//! - [`db`]: where PostgreSQL is; fresh databases per test or run.
//! - [`workload`]: the request lists the driver and grader send.
//! - [`contract`]: contract tests every implementation runs ([`contract_tests!`]).
//! - [`lessons`]: the measured checks (queries per request, plans, pool behaviour) ([`lesson_tests!`]).
//! - [`proxy`]: the query-counting wire-protocol proxy (also the `pg-count-proxy` binary).
//! - [`driver`]: the lab on the measuring driver's seam (`seed`, `serve`, `run`, `requests`, `survey`, ...).
//! - [`survey`]: every workload's cost per request, as a table for a student.

pub mod api;
pub mod contract;
pub mod data;
pub mod db;
pub mod driver;
pub mod lessons;
pub mod proxy;
pub mod survey;
pub mod workload;

pub use data::Dataset;

/// The lab's id, as the grader names it.
pub const NAME: &str = "database";

/// Signature every implementation exposes: build the service from where
/// its database is. Called inside a tokio runtime; the implementation
/// decides how to connect (a pool, a connection per request, ...).
pub type AppFn = fn(sqlx::postgres::PgConnectOptions) -> axum::Router;

/// One implementation of the contract, as trusted code sees it.
#[derive(Clone, Copy)]
pub struct Service {
    /// The implementation's package name (`baseline-database`, ...).
    pub name: &'static str,
    pub app: AppFn,
    /// The implementation's own migrations (its `src/migrations`), run on
    /// top of the lab's base schema after the rows are loaded.
    pub migrator: &'static sqlx::migrate::Migrator,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let versions: Vec<i64> = self.migrator.iter().map(|m| m.version).collect();
        f.debug_struct("Service").field("name", &self.name).field("migrations", &versions).finish()
    }
}

/// `main` of an implementation's driver binary: `lab_database::driver_main(exercise_database::SERVICE)`.
pub fn driver_main(service: Service) -> std::process::ExitCode {
    driver::main(service)
}
