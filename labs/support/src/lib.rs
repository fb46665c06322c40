//! Trusted plumbing shared by every lab crate.
//!
//! Nothing here is the student's to edit: the grader runs the driver built
//! from these pieces and compares what it reports.
//!
//! - [`exchange`]: one request sent in-process to a router and the answer it got.
//! - [`digest`]: a digest of each answer a measured run got, allocation-free, so counted runs are checked too.
//! - [`driver`]: the measuring binary's command line (`serve`, `run`, `requests`, a lab's own verbs, the heap driver), and [`Lab`], the seam every lab plugs into.
//! - [`fuzz`]: a property test over every route of a service: no input gets a 5xx, a hang or a non-JSON error.
//! - [`pprof_http`]: `/debug/pprof/profile` and `/debug/pprof/flamegraph`, like Go's net/http/pprof.
//! - [`serve`]: HTTP/1.1 on a listener, closing connections of clients too slow to send their request.
//! - [`bench`] (feature `bench`): a criterion profiler hook that writes pprof flamegraphs.

#[cfg(feature = "bench")]
pub mod bench;
pub mod digest;
pub mod driver;
pub mod exchange;
pub mod fuzz;
pub mod pprof_http;
pub mod serve;

pub use driver::{Counter, DataArgs, HeapLab, Lab, NoCounter, NoPlace, NoVerb, Size, Workload};
pub use exchange::{Exchange, Req};
