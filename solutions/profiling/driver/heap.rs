//! Trusted heap-profiling driver for the reference solution: dhat counts every allocation.
//!
//! `cargo run --release -p solution-profiling --bin solution-profiling-heap -- --dhat-json dhat-heap.json`

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() -> std::process::ExitCode {
    lab_profiling::heap_main(solution_profiling::app)
}
