//! The lab's contract tests against your service, compared with the frozen baseline.
//!
//! They pass on the starter (it is unobserved, not wrong) and must keep
//! passing as you add telemetry: instrumenting a service must never change
//! an answer. The lesson checks run your service as its own process, as
//! the grader does, and are ignored until you ask for them:
//! `cargo test -p exercise-monitoring -- --ignored` shows how far along you are.

lab_monitoring::contract_tests!(exercise_monitoring::SERVICE, baseline_monitoring::SERVICE);
lab_monitoring::lesson_tests!(env!("CARGO_BIN_EXE_exercise-monitoring"), ignored);
