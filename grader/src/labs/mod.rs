//! What each lab measures. Every lab returns a [`LabRecord`]; a failure of
//! the target becomes a reason in that record, never an early exit.

pub mod database;
pub mod profiling;

use std::time::Instant;

use crate::build::{self, Binaries, BuildError, Kit, Target};
use crate::record::{Check, LabRecord, Measurement, Status};
use crate::report::Progress;
use crate::rubric::{CheckKind, Rubric};

/// What every lab's grading needs.
#[derive(Debug)]
pub struct Context<'a> {
    pub kit: &'a Kit,
    pub seed: u64,
    pub progress: &'a Progress,
    /// `valgrind --version` when instruction counts are available.
    pub valgrind: Option<String>,
}

/// Grades `target` on `lab`.
pub async fn grade(ctx: &Context<'_>, rubric: &Rubric, target: &Target) -> LabRecord {
    let started = Instant::now();
    let mut record = match rubric.lab.as_str() {
        "profiling" => profiling::grade(ctx, rubric, target).await,
        "database" => database::grade(ctx, rubric, target).await,
        other => not_graded(rubric, target, format!("the grader has no method for lab {other} yet")),
    };
    record.seconds = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    record
}

/// Builds the frozen baseline's drivers; a failure is the lab's record.
pub async fn build_baseline(ctx: &Context<'_>, rubric: &Rubric, target: &Target) -> Result<Binaries, LabRecord> {
    build::build(ctx.kit, rubric, &Target::Baseline, ctx.progress)
        .await
        .map_err(|err| unscored(rubric, target, Status::Failed, format!("the kit's baseline {err}")))
}

/// Builds the target's drivers; a compile error or other failure is the lab's record.
pub async fn build_target(
    ctx: &Context<'_>,
    rubric: &Rubric,
    target: &Target,
    baseline: &Binaries,
) -> Result<Binaries, LabRecord> {
    match target {
        Target::Baseline => Ok(baseline.clone()),
        other => build::build(ctx.kit, rubric, other, ctx.progress).await.map_err(|err| match err {
            BuildError::Compile(_) => unscored(rubric, target, Status::BuildFailed, err.to_string()),
            other => unscored(rubric, target, Status::Failed, other.to_string()),
        }),
    }
}

/// Outcome of a lab's checks before scoring.
#[derive(Debug, Default)]
pub struct Findings {
    /// `None` when the gate did not run; `Some(Err(evidence))` when it failed.
    pub gate: Option<Result<String, String>>,
    pub measurements: Vec<Measurement>,
}

/// Applies the rubric to what was found: points, pass/fail and evidence per check.
pub fn score(rubric: &Rubric, target: &Target, findings: Findings) -> LabRecord {
    let gate_failed = matches!(findings.gate, Some(Err(_)));
    let mut checks = Vec::new();
    for spec in &rubric.checks {
        let check = match spec.kind {
            CheckKind::Gate => match &findings.gate {
                Some(Ok(evidence)) => pass(spec.id.clone(), &spec.title, spec.points, spec.points, evidence.clone()),
                Some(Err(evidence)) => fail(spec, evidence.clone()),
                None => fail(spec, "not run".into()),
            },
            CheckKind::Measured if gate_failed => {
                fail(spec, "no points: the answers differ from the baseline's (see the correctness check)".into())
            }
            CheckKind::Measured => {
                let id = spec.measurement.as_deref().unwrap_or_default();
                let curve = spec.curve.expect("validated: measured checks have a curve");
                match findings.measurements.iter().find(|m| m.id == id) {
                    None => fail(spec, format!("{id} was not measured")),
                    Some(m) => {
                        let fraction = curve.fraction(m.ratio_low, m.target);
                        let points = LabRecord::round(fraction * spec.points);
                        let evidence = format!(
                            "{}: baseline {} → target {} {}; {:.2}x (low {:.2}x); {}",
                            m.method,
                            short(m.baseline),
                            short(m.target),
                            m.unit,
                            m.ratio,
                            m.ratio_low,
                            curve.describe()
                        );
                        Check {
                            id: spec.id.clone(),
                            title: spec.title.clone(),
                            passed: fraction >= 0.999,
                            points,
                            max_points: spec.points,
                            evidence,
                        }
                    }
                }
            }
        };
        checks.push(check);
    }
    let score = LabRecord::round(checks.iter().map(|c| c.points).sum());
    LabRecord {
        lab: rubric.lab.clone(),
        title: rubric.title.clone(),
        target: target.label(),
        status: Status::Graded,
        reason: None,
        score,
        max_score: rubric.max_score(),
        checks,
        measurements: findings.measurements,
        seconds: 0.0,
    }
}

/// A record with every check failed for one reason.
pub fn unscored(rubric: &Rubric, target: &Target, status: Status, reason: String) -> LabRecord {
    let checks = rubric.checks.iter().map(|spec| fail(spec, reason.clone())).collect();
    LabRecord {
        lab: rubric.lab.clone(),
        title: rubric.title.clone(),
        target: target.label(),
        status,
        reason: Some(reason),
        score: 0.0,
        max_score: rubric.max_score(),
        checks,
        measurements: Vec::new(),
        seconds: 0.0,
    }
}

pub fn not_graded(rubric: &Rubric, target: &Target, reason: String) -> LabRecord {
    unscored(rubric, target, Status::NotGraded, reason)
}

fn pass(id: String, title: &str, points: f64, max: f64, evidence: String) -> Check {
    Check { id, title: title.to_string(), passed: true, points, max_points: max, evidence }
}

fn fail(spec: &crate::rubric::CheckSpec, evidence: String) -> Check {
    Check {
        id: spec.id.clone(),
        title: spec.title.clone(),
        passed: false,
        points: 0.0,
        max_points: spec.points,
        evidence,
    }
}

/// 41234567 → "41.2M"
pub fn short(value: f64) -> String {
    let abs = value.abs();
    if abs >= 1e9 {
        format!("{:.2}G", value / 1e9)
    } else if abs >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if abs >= 1e4 {
        format!("{:.1}k", value / 1e3)
    } else if abs >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}
