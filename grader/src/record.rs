//! The result record: one per grading run, written as JSON with `--json`.
//!
//! Other tooling reads it, so field names are a contract: top-level `labs`
//! and `environment`; per lab `lab`, `target`, `score`, `max_score`,
//! `checks` and `measurements`.

use serde::{Deserialize, Serialize};

use crate::rubric::MethodKind;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub labs: Vec<LabRecord>,
    pub environment: Environment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every check ran.
    Graded,
    /// The target did not build; `reason` has the compiler's first error.
    BuildFailed,
    /// The target ran but failed (panic, timeout); `reason` says which.
    Failed,
    /// The lab could not be graded here (a service is missing); `reason` says what to do.
    NotGraded,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabRecord {
    pub lab: String,
    pub title: String,
    pub target: String,
    pub status: Status,
    /// One line: why the lab is not fully graded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Points of the core checks, out of `max_score`.
    pub score: f64,
    pub max_score: f64,
    /// Points of the bonus checks, reported beside `score` and never added to it.
    pub bonus: f64,
    pub bonus_max: f64,
    /// Subtotals per rubric category (empty when the rubric has none).
    pub categories: Vec<CategoryScore>,
    pub checks: Vec<Check>,
    pub measurements: Vec<Measurement>,
    /// Seconds this lab took to grade.
    pub seconds: f64,
    /// A pprof flamegraph of the target's hottest workload, when the lab
    /// takes one and the target passed the gate (for the feedback page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flamegraph: Option<Flamegraph>,
}

/// A flamegraph of one workload run by the target's driver, sampled by pprof.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flamegraph {
    /// The workload profiled, and how.
    pub workload: String,
    /// The SVG the grader drew (inferno) from the stacks pprof sampled in
    /// the target's run; interactive in a browser.
    pub svg: String,
}

/// The per-request values behind a timed measurement, for plots: each
/// side's 0th, 1st, ..., 100th percentile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Distribution {
    /// What one value is (`latency of one product lookup while batches are signed`).
    pub what: String,
    pub unit: String,
    pub baseline: Vec<f64>,
    pub target: Vec<f64>,
}

impl Distribution {
    /// The percentiles of each side's values (empty sides stay empty).
    pub fn of(what: &str, unit: &str, baseline: &[f64], target: &[f64]) -> Distribution {
        Distribution {
            what: what.into(),
            unit: unit.into(),
            baseline: percentiles(baseline),
            target: percentiles(target),
        }
    }
}

/// The 101 percentiles (nearest rank) of `values`, or nothing for no values.
fn percentiles(values: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return Vec::new();
    }
    (0..=100)
        .map(|p| {
            let rank = (p as f64 / 100.0 * sorted.len() as f64).ceil() as usize;
            sorted[rank.clamp(1, sorted.len()) - 1]
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub id: String,
    pub title: String,
    pub passed: bool,
    pub points: f64,
    pub max_points: f64,
    pub evidence: String,
    /// A bonus check: its points go to `bonus`, not `score`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bonus: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// For a check not yet passed: the command that reveals its next hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// A rubric category's subtotal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CategoryScore {
    pub id: String,
    pub title: String,
    pub points: f64,
    pub max_points: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measurement {
    pub id: String,
    /// How it was taken; the rubric names the method each check expects.
    pub kind: MethodKind,
    pub unit: String,
    /// How the numbers were produced, e.g. `callgrind instructions (exact)`.
    pub method: String,
    pub baseline: f64,
    pub target: f64,
    /// baseline / target: above 1 means the target does better.
    pub ratio: f64,
    pub ratio_low: f64,
    pub ratio_high: f64,
    /// Paired rounds behind the ratio (1 for exact counts).
    pub samples: usize,
    /// The per-request values behind a timed measurement, when it has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution: Option<Distribution>,
}

impl Measurement {
    /// A measurement whose ratio comes with an interval over `samples` paired rounds.
    #[allow(clippy::too_many_arguments)] // One argument per field of the record, named at every call.
    pub fn new(
        kind: MethodKind,
        id: &str,
        unit: &str,
        method: String,
        baseline: f64,
        target: f64,
        ratio: crate::stats::Interval,
        samples: usize,
    ) -> Measurement {
        Measurement {
            id: id.into(),
            kind,
            unit: unit.into(),
            method,
            baseline,
            target,
            ratio: ratio.estimate,
            ratio_low: ratio.low,
            ratio_high: ratio.high,
            samples,
            distribution: None,
        }
    }

    /// The same measurement with the per-request values behind it.
    pub fn with_distribution(self, distribution: Distribution) -> Measurement {
        Measurement { distribution: Some(distribution), ..self }
    }

    /// Exact counts: one sample, and a ratio with no spread (the target floored at 1).
    pub fn counted(kind: MethodKind, id: &str, unit: &str, method: String, baseline: f64, target: f64) -> Measurement {
        let ratio = crate::stats::Interval::exact(baseline / target.max(1.0));
        Measurement::new(kind, id, unit, method, baseline, target, ratio, 1)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Environment {
    pub cpu_model: String,
    pub cores: usize,
    /// 1, 5 and 15 minute load averages when grading started.
    pub load_average: [f64; 3],
    pub rustc: String,
    /// Seed of every dataset and workload in this run.
    pub seed: u64,
    /// `valgrind --version`, when callgrind counted instructions.
    pub valgrind: Option<String>,
    pub grader_version: String,
    /// The kit graded: its root folder, found from the current directory or `--kit`.
    pub kit: String,
    /// The kit's commit (`None` when it is not a git checkout).
    pub kit_commit: Option<String>,
    /// Kit-owned files (outside the editable folders) that differ from that
    /// commit: when any do, the score was earned with a modified kit.
    pub kit_modified: Vec<String>,
    /// How the drivers ran: bubblewrap and its limits, or why they were not
    /// contained (then the words `NOT CONTAINED` begin it).
    pub containment: String,
}

impl LabRecord {
    /// Rounds a score for display and storage: one decimal.
    pub fn round(points: f64) -> f64 {
        (points * 10.0).round() / 10.0
    }

    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    pub fn measurement(&self, id: &str) -> Option<&Measurement> {
        self.measurements.iter().find(|m| m.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_run_from_the_least_to_the_greatest_value_by_nearest_rank() {
        let values: Vec<f64> = (1..=200).rev().map(f64::from).collect();
        let d = Distribution::of("a lookup", "ms", &values, &[]);
        assert_eq!(d.baseline.len(), 101);
        assert_eq!((d.baseline[0], d.baseline[50], d.baseline[99], d.baseline[100]), (1.0, 100.0, 198.0, 200.0));
        assert!(d.target.is_empty());
        assert_eq!(Distribution::of("one", "ms", &[7.0], &[f64::NAN, 3.0]).target, vec![3.0; 101]);
    }
}
