//! The lab's contract tests against the solution, compared with the frozen baseline, and every lesson check.

lab_database::contract_tests!(solution_database::SERVICE, baseline_database::SERVICE);
lab_database::lesson_tests!(solution_database::SERVICE);
