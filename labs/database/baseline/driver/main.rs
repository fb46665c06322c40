//! Trusted measuring driver for the frozen baseline.
//!
//! `cargo run --release -p baseline-database -- seed` (see `lab_database::driver`).

fn main() -> std::process::ExitCode {
    lab_database::driver_main(baseline_database::SERVICE)
}
