//! The grader's command line.
//!
//! ```text
//! cargo run --release -p grader                                   # every lab's exercise: scorecard
//! cargo run --release -p grader -- grade --lab profiling --target solution --json out.json
//! cargo run --release -p grader -- load --lab profiling --target exercise
//! ```

fn main() -> std::process::ExitCode {
    grader::cli::main()
}
