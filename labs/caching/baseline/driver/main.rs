//! Trusted measuring driver for the frozen baseline.
//!
//! `cargo run --release -p baseline-caching -- serve` (see `lab_caching::driver`).

fn main() -> std::process::ExitCode {
    lab_caching::driver_main(baseline_caching::SERVICE)
}
