//! Lab 23, profiling and benchmarking: the shop-analytics service contract.
//!
//! The service answers sales reports over a seeded log of sales. Three
//! crates implement it with the same `app(Dataset) -> Router` function: the
//! frozen slow baseline (`labs/profiling/baseline`), the student's starter
//! (`exercises/profiling`) and the reference fix (`solutions/profiling`).
//! This crate holds what they share and what measures them:
//!
//! - [`data`]: the dataset and its seeded generator.
//! - [`api`]: request parameters, response bodies and errors (the HTTP contract).
//! - [`receipt`]: the signed receipt of an ingested batch, slow on purpose.
//! - [`workload`]: the request mixes the driver and grader send.
//! - [`contract`]: the contract tests every implementation runs ([`contract_tests!`]).
//! - `bench` (feature `bench`): criterion benches of each endpoint, baseline beside target.
//! - [`ProfilingLab`]: ties data and workloads to the measuring driver.

pub mod api;
#[cfg(feature = "bench")]
pub mod bench;
pub mod contract;
pub mod data;
pub mod receipt;
pub mod workload;

pub use data::{Dataset, Product};

/// The lab as the measuring driver sees it.
#[derive(Debug)]
pub struct ProfilingLab;

impl lab_support::Lab for ProfilingLab {
    type Data = Dataset;
    const NAME: &'static str = "profiling";

    fn generate(seed: u64, size: lab_support::Size) -> Dataset {
        Dataset::generate(seed, size)
    }

    fn workload(kind: lab_support::Workload, seed: u64, data: &Dataset, n: usize) -> Vec<lab_support::Req> {
        workload::generate(kind, seed, data, n)
    }
}

/// Signature every implementation exposes: build the service from the data.
pub type AppFn = fn(Dataset) -> axum::Router;

/// `main` of a driver binary: `lab_profiling::driver_main(exercise_profiling::app)`.
pub fn driver_main(app: AppFn) -> std::process::ExitCode {
    lab_support::driver::main::<ProfilingLab>(app)
}

/// `main` of a heap driver binary, whose global allocator must be `dhat::Alloc`.
pub fn heap_main(app: AppFn) -> std::process::ExitCode {
    lab_support::driver::heap_main::<ProfilingLab>(app)
}
