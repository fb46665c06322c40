//! Trusted measuring driver for the frozen baseline.
//!
//! `cargo run --release -p baseline-profiling -- serve` (see `lab_support::driver`).

fn main() -> std::process::ExitCode {
    lab_profiling::driver_main(baseline_profiling::app)
}
