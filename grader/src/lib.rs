//! The grader: builds a submission and the frozen baseline, measures both in
//! one run, gates on correctness and scores from the lab's rubric.
//!
//! - [`cli`]: arguments, exit codes, the top-level flow.
//! - [`rubric`]: the lab's `rubric.toml`: checks, categories, bonus checks, score curves.
//! - [`hints`]: how many hints each check has, so evidence can name the next one.
//! - [`stats`]: medians, pairwise ratios and bootstrap intervals.
//! - [`record`]: the result record (JSON) and its fields.
//! - [`environment`]: the machine fingerprint stored with every record.
//! - [`provenance`]: the kit's commit, and the kit-owned files that differ from it.
//! - [`build`]: `cargo build` of a target, with overlays for submission folders.
//! - [`sources`]: what a target's sources may not do at compile time (reach outside `src/`).
//! - [`freshness`]: builds that cannot be another tree's when target directories are shared.
//! - [`contain`]: every driver process in bubblewrap, with rlimits and a uid of its own.
//! - [`quiet`]: gradings may overlap on one machine but for their timed rounds.
//! - [`process`]: child processes with timeouts and one-line failure reasons.
//! - [`measure`]: callgrind counts, dhat counts, wall-clock rounds, the load test, the answer gate.
//! - [`labs`]: what each lab measures.
//! - [`flamegraph`]: a target's sampled stacks, checked and drawn as a flamegraph.
//! - [`report`]: terminal tables and progress.
//! - [`class`]: `grader class`: every submission in a folder, one seed, resumable.
//! - [`export`]: the record as Gradescope, GitHub Classroom, JUnit XML and a CSV gradebook.
//! - [`pages`]: HTML pages with charts: a student's feedback page, the class page.

pub mod build;
pub mod class;
pub mod cli;
pub mod contain;
pub mod environment;
pub mod export;
pub mod flamegraph;
pub mod freshness;
pub mod hints;
pub mod labs;
pub mod measure;
pub mod pages;
pub mod process;
pub mod provenance;
pub mod quiet;
pub mod record;
pub mod report;
pub mod rubric;
pub mod sources;
pub mod stats;
