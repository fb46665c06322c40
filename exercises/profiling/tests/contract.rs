//! The lab's contract tests, run against your code: they check answers, not
//! speed, so they pass on the slow starter and must keep passing as you fix it.
//!
//! `cargo test -p exercise-profiling`

lab_profiling::contract_tests!(exercise_profiling::app, baseline_profiling::app);
