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
    const NAME: &'static str = "profiling";
    type Service = AppFn;
    type Data = Dataset;
    type Workload = lab_support::Workload;
    type Place = lab_support::NoPlace;
    /// The data, until the service takes it.
    type Fixture = Option<Dataset>;
    type Counter = lab_support::NoCounter;
    type Verb = lab_support::NoVerb;

    fn generate(seed: u64, size: lab_support::Size) -> Dataset {
        Dataset::generate(seed, size)
    }

    fn requests(kind: lab_support::Workload, seed: u64, data: &Dataset, n: usize) -> Vec<lab_support::Req> {
        workload::generate(kind, seed, data, n)
    }

    fn default_workload() -> lab_support::Workload {
        lab_support::Workload::Cpu
    }

    async fn fixture(
        _: AppFn,
        data: Dataset,
        _: &lab_support::DataArgs,
        _: &lab_support::NoPlace,
        _: bool,
    ) -> anyhow::Result<Option<Dataset>> {
        Ok(Some(data))
    }

    async fn router(
        app: AppFn,
        fixture: &mut Option<Dataset>,
        _: &lab_support::NoPlace,
    ) -> anyhow::Result<axum::Router> {
        let data = fixture.take().ok_or_else(|| anyhow::anyhow!("the data was already handed to a service"))?;
        Ok(app(data))
    }

    async fn counter(_: &lab_support::NoPlace) -> anyhow::Result<Option<lab_support::NoCounter>> {
        Ok(None)
    }

    async fn verb(_: AppFn, verb: lab_support::NoVerb) -> anyhow::Result<()> {
        match verb {}
    }
}

impl lab_support::HeapLab for ProfilingLab {
    const ALLOCATIONS: lab_support::Workload = lab_support::Workload::Cpu;
    const LEAK: lab_support::Workload = lab_support::Workload::Leak;
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
