//! Trusted measuring driver for the reference solution.
//!
//! `cargo run --release -p solution-profiling -- serve` (see `lab_support::driver`).

fn main() -> std::process::ExitCode {
    lab_profiling::driver_main(solution_profiling::app)
}
