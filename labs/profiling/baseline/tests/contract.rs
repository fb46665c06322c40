//! The lab's contract tests, run against the baseline itself.

lab_profiling::contract_tests!(baseline_profiling::app, baseline_profiling::app);
