//! The lab's contract tests against your service, compared with the frozen baseline.
//!
//! They pass on the starter (it is slow, not wrong) and must keep passing as
//! you fix it. The lesson checks are ignored until you ask for them:
//! `cargo test -p exercise-database -- --ignored` shows how far along you are.

lab_database::contract_tests!(exercise_database::SERVICE, baseline_database::SERVICE);
lab_database::lesson_tests!(exercise_database::SERVICE, ignored);
