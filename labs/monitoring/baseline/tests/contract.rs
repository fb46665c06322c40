//! The lab's contract tests run against the baseline itself.

lab_monitoring::contract_tests!(baseline_monitoring::SERVICE, baseline_monitoring::SERVICE);
