//! The lab's contract tests against the solution, compared with the frozen baseline, and every lesson check.

lab_database::contract_tests!(solution_database::SERVICE, baseline_database::SERVICE);
lab_database::lesson_tests!(solution_database::SERVICE);

/// The solution sets a statement timeout (`state.rs`), so a statement stuck
/// behind a lock is answered 503 in time; the starter and the baseline wait.
#[test]
fn a_statement_stuck_behind_a_lock_is_a_503_naming_the_timeout() {
    lab_database::contract::a_statement_stuck_behind_a_lock_is_a_503_naming_the_timeout(solution_database::SERVICE);
}
