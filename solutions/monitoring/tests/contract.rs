//! The lab's contract tests and every lesson check against the reference solution.

lab_monitoring::contract_tests!(solution_monitoring::SERVICE, baseline_monitoring::SERVICE);
lab_monitoring::lesson_tests!(env!("CARGO_BIN_EXE_solution-monitoring"));
