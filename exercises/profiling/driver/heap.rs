//! Trusted heap-profiling driver for your exercise crate: dhat counts every allocation.
//!
//! `cargo run --release -p exercise-profiling --bin exercise-profiling-heap -- --dhat-json dhat-heap.json`

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() -> std::process::ExitCode {
    lab_profiling::heap_main(exercise_profiling::app)
}
