//! Trusted measuring driver for the frozen baseline.
//!
//! `cargo run --release -p baseline-monitoring -- serve` (see `lab_monitoring::driver`).

fn main() -> std::process::ExitCode {
    lab_monitoring::driver_main(baseline_monitoring::SERVICE)
}
