//! Trusted measuring driver for the reference solution.
//!
//! `cargo run --release -p solution-caching -- serve` (see `lab_caching::driver`).

fn main() -> std::process::ExitCode {
    lab_caching::driver_main(solution_caching::SERVICE)
}
