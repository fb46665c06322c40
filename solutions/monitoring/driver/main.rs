//! Trusted measuring driver for the reference solution.
//!
//! `cargo run -p solution-monitoring -- serve --log-file shop.log` (see `lab_monitoring::driver`).

fn main() -> std::process::ExitCode {
    lab_monitoring::driver_main(solution_monitoring::SERVICE)
}
