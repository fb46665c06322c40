//! The lab's contract tests, run against the reference solution.

lab_profiling::contract_tests!(solution_profiling::app, baseline_profiling::app);
