//! Trusted heap-profiling driver for the frozen baseline: dhat counts every allocation.
//!
//! `cargo run --release -p baseline-profiling --bin baseline-profiling-heap -- --dhat-json dhat-heap.json`

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() -> std::process::ExitCode {
    lab_profiling::heap_main(baseline_profiling::app)
}
