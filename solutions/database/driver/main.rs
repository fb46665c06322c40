//! Trusted measuring driver for the reference solution.
//!
//! `cargo run --release -p solution-database -- seed` (see `lab_database::driver`).

fn main() -> std::process::ExitCode {
    lab_database::driver_main(solution_database::SERVICE)
}
