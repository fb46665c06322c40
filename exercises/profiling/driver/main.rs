//! Trusted measuring driver for your exercise crate.
//!
//! `cargo run --release -p exercise-profiling -- serve` (see `lab_support::driver`).

fn main() -> std::process::ExitCode {
    lab_profiling::driver_main(exercise_profiling::app)
}
