//! The lab's contract tests against the solution, compared with the frozen baseline, and every lesson check.

lab_caching::contract_tests!(solution_caching::SERVICE, baseline_caching::SERVICE);
lab_caching::lesson_tests!(solution_caching::SERVICE);
