//! What each lab measures. Every lab returns a [`LabRecord`]; a failure of
//! the target becomes a reason in that record, never an early exit.

pub mod caching;
pub mod database;
pub mod monitoring;
pub mod pipeline;
pub mod profiling;

use std::time::Instant;

use crate::build::{self, Binaries, BuildError, Kit, Target};
use crate::hints::Hints;
use crate::record::{CategoryScore, Check, LabRecord, Measurement, Status};
use crate::report::Progress;
use crate::rubric::{CheckKind, Guard, Rubric};

/// What every lab's grading needs.
#[derive(Debug)]
pub struct Context<'a> {
    pub kit: &'a Kit,
    pub seed: u64,
    pub progress: &'a Progress,
    /// `valgrind --version` when instruction counts are available.
    pub valgrind: Option<String>,
    /// `grade --only`: the one measurement to take (the self-check grades a
    /// fault's revert on its own check); `None` measures everything.
    /// With `grade --only <check>`: the measurements that check reads (its
    /// own and its guard's); the others are not taken.
    pub only: Option<Vec<String>>,
    /// What every driver process runs in.
    pub jail: &'a crate::contain::Jail,
}

impl Context<'_> {
    /// Whether this run takes any of `measurements`.
    pub fn wants(&self, measurements: &[&str]) -> bool {
        self.only.as_ref().is_none_or(|only| only.iter().any(|id| measurements.contains(&id.as_str())))
    }
}

/// Grades `target` on `lab`.
pub async fn grade(ctx: &Context<'_>, rubric: &Rubric, target: &Target) -> LabRecord {
    let started = Instant::now();
    // Shared with other gradings of this target directory but for timed rounds (`quiet`).
    let _grading = match crate::quiet::Grading::start(&ctx.kit.target_dir, ctx.progress).await {
        Ok(grading) => grading,
        Err(err) => return unscored(rubric, target, Status::Failed, format!("the kit's measure lock: {err:#}")),
    };
    let mut record = match rubric.lab.as_str() {
        "profiling" => pipeline::grade::<profiling::Profiling>(ctx, rubric, target).await,
        "database" => pipeline::grade::<database::Database>(ctx, rubric, target).await,
        "caching" => pipeline::grade::<caching::Caching>(ctx, rubric, target).await,
        "monitoring" => pipeline::grade::<monitoring::Monitoring>(ctx, rubric, target).await,
        other => not_graded(rubric, target, format!("the grader has no method for lab {other} yet")),
    };
    match Hints::load(ctx.kit, &rubric.lab) {
        Ok(hints) => attach_hints(&mut record, &hints),
        Err(err) => ctx.progress.phase(format!("hints not attached: {err:#}")),
    }
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
            BuildError::Compile(_) | BuildError::Refused(_) => {
                unscored(rubric, target, Status::BuildFailed, err.to_string())
            }
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
                Some(Ok(evidence)) => Check { passed: true, points: spec.points, ..fail(spec, evidence.clone()) },
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
                    Some(m) if Some(m.kind) != spec.method && Some(m.kind) != spec.fallback => fail(
                        spec,
                        format!(
                            "the kit measured {id} by {}, but the rubric names {}",
                            m.kind,
                            spec.method.map_or("no method".to_string(), |k| k.to_string())
                        ),
                    ),
                    Some(m) => {
                        let mut fraction = curve.fraction(m.ratio_low, m.target);
                        let mut evidence = format!(
                            "{}: baseline {} → target {} {}; {:.2}x (low {:.2}x); {}",
                            m.method,
                            short(m.baseline),
                            short(m.target),
                            m.unit,
                            m.ratio,
                            m.ratio_low,
                            curve.describe()
                        );
                        if let Some(refusal) =
                            spec.guard.as_ref().and_then(|g| guard_refuses(g, &findings.measurements))
                        {
                            fraction = 0.0;
                            evidence = format!("{evidence}; {refusal}");
                        }
                        Check {
                            passed: fraction >= 0.999,
                            points: LabRecord::round(fraction * spec.points),
                            ..fail(spec, evidence)
                        }
                    }
                }
            }
        };
        checks.push(check);
    }
    record(rubric, target, Status::Graded, None, checks, findings.measurements)
}

/// Why `guard` withholds a check's points, or `None` when it holds.
fn guard_refuses(guard: &Guard, measurements: &[Measurement]) -> Option<String> {
    let id = &guard.measurement;
    match measurements.iter().find(|m| &m.id == id) {
        None => Some(format!("no points: {id} (which this check also needs) was not measured")),
        Some(m) if m.ratio_low >= guard.at_least => None,
        Some(m) => Some(format!(
            "no points: {}; {id}: baseline {} → target {} {}, {:.2}x (low {:.2}x), below the {}x it needs",
            guard.why,
            short(m.baseline),
            short(m.target),
            m.unit,
            m.ratio,
            m.ratio_low,
            guard.at_least
        )),
    }
}

/// The lab's record for `checks`: score and bonus summed, categories subtotalled.
fn record(
    rubric: &Rubric,
    target: &Target,
    status: Status,
    reason: Option<String>,
    checks: Vec<Check>,
    measurements: Vec<Measurement>,
) -> LabRecord {
    let total = |bonus: bool| LabRecord::round(checks.iter().filter(|c| c.bonus == bonus).map(|c| c.points).sum());
    LabRecord {
        lab: rubric.lab.clone(),
        title: rubric.title.clone(),
        target: target.label(),
        status,
        reason,
        score: total(false),
        max_score: rubric.max_score(),
        bonus: total(true),
        bonus_max: rubric.bonus_max(),
        categories: categories(rubric, &checks),
        checks,
        measurements,
        seconds: 0.0,
        flamegraph: None,
    }
}

/// Subtotals of the core checks per rubric category.
fn categories(rubric: &Rubric, checks: &[Check]) -> Vec<CategoryScore> {
    rubric
        .categories
        .iter()
        .map(|category| {
            let mine = || checks.iter().filter(|c| !c.bonus && c.category.as_ref() == Some(&category.id));
            CategoryScore {
                id: category.id.clone(),
                title: category.title.clone(),
                points: LabRecord::round(mine().map(|c| c.points).sum()),
                max_points: category.weight,
            }
        })
        .collect()
}

/// A record with every check failed for one reason.
pub fn unscored(rubric: &Rubric, target: &Target, status: Status, reason: String) -> LabRecord {
    let checks = rubric.checks.iter().map(|spec| fail(spec, reason.clone())).collect();
    record(rubric, target, status, Some(reason), checks, Vec::new())
}

pub fn not_graded(rubric: &Rubric, target: &Target, reason: String) -> LabRecord {
    unscored(rubric, target, Status::NotGraded, reason)
}

/// Names, on every check not yet passed, the command that shows its next
/// hint, when the lab has hints for it (`labs/<lab>/hints.toml`).
pub fn attach_hints(record: &mut LabRecord, hints: &Hints) {
    for check in &mut record.checks {
        check.hint = match hints.count(&check.id) {
            n if n > 0 && !check.passed => Some(format!(
                "cargo xtask hint {} --check {} ({n} hint{})",
                record.lab,
                check.id,
                if n == 1 { "" } else { "s" }
            )),
            _ => None,
        };
    }
}

fn fail(spec: &crate::rubric::CheckSpec, evidence: String) -> Check {
    Check {
        id: spec.id.clone(),
        title: spec.title.clone(),
        passed: false,
        points: 0.0,
        max_points: spec.points,
        evidence,
        bonus: spec.bonus,
        category: spec.category.clone(),
        hint: None,
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rubric::MethodKind;
    use crate::stats::Interval;

    pub(crate) fn rubric() -> Rubric {
        toml::from_str(
            r#"
            lab = "demo"
            title = "Demo lab"
            [packages]
            baseline = "baseline-demo"
            exercise = "exercise-demo"
            solution = "solution-demo"
            [editable]
            exercise = "exercises/demo/src"
            [[check]]
            id = "correctness"
            title = "Answers equal the baseline's"
            kind = "gate"
            points = 10
            [[check]]
            id = "cpu"
            title = "CPU work per request"
            measurement = "cpu_per_request"
            method = "callgrind"
            fallback = "paired_rounds"
            points = 60
            curve = { kind = "log", full_at = 16.0 }
            [[check]]
            id = "leak"
            title = "Heap kept per request"
            measurement = "retained"
            method = "dhat"
            points = 30
            curve = { kind = "at_most", limit = 64.0 }
            [[check]]
            id = "smart"
            title = "Hit ratio on a skewed mix"
            bonus = true
            measurement = "hit_ratio_gain"
            method = "count"
            points = 10
            curve = { kind = "log", full_at = 2.0 }
            "#,
        )
        .expect("a valid rubric")
    }

    pub(crate) fn findings(cpu_ratio: f64, retained: f64, bonus_ratio: Option<f64>) -> Findings {
        let mut measurements = vec![
            Measurement::new(
                MethodKind::Callgrind,
                "cpu_per_request",
                "instructions/request",
                "callgrind (exact)".into(),
                1600.0,
                1600.0 / cpu_ratio,
                Interval::exact(cpu_ratio),
                1,
            ),
            Measurement::counted(
                MethodKind::Dhat,
                "retained",
                "bytes/request",
                "dhat (exact)".into(),
                4096.0,
                retained,
            ),
        ];
        if let Some(ratio) = bonus_ratio {
            measurements.push(Measurement::new(
                MethodKind::Count,
                "hit_ratio_gain",
                "x",
                "skewed mix".into(),
                1.0,
                ratio,
                Interval::exact(ratio),
                1,
            ));
        }
        Findings { gate: Some(Ok("12 answers equal the baseline's".into())), measurements }
    }

    /// `lab`'s rubric, once it is shown to have `faults` starter faults, each
    /// with a check of its own, every check a count or a verdict (no clock),
    /// and 100 points.
    pub(crate) fn untimed_rubric_with_separable_faults(lab: &str, faults: usize) -> Rubric {
        let kit = crate::build::Kit::discover(None).expect("tests run inside the kit");
        let rubric = kit.rubric(lab).expect("rubric loads");
        let mut checks: Vec<&str> = rubric.faults.iter().map(|f| f.check.as_str()).collect();
        assert_eq!(checks.len(), faults, "{lab}: {faults} faults in the starter");
        checks.sort_unstable();
        checks.dedup();
        assert_eq!(checks.len(), faults, "{lab}: two faults share a check");
        for check in &rubric.checks {
            assert!(
                matches!(check.method, None | Some(MethodKind::Count | MethodKind::LabSpecific)),
                "{lab}: {} is measured by {:?}: every check is a count or a verdict",
                check.id,
                check.method
            );
        }
        assert_eq!(rubric.max_score(), 100.0);
        rubric
    }

    fn points(record: &LabRecord, id: &str) -> f64 {
        record.check(id).expect("check exists").points
    }

    #[test]
    fn every_workload_key_of_every_rubric_is_read_by_its_lab() {
        let kit = crate::build::Kit::discover(None).expect("tests run inside the kit");
        for lab in kit.labs().expect("labs") {
            let rubric = kit.rubric(&lab).expect("rubric loads");
            let read = match lab.as_str() {
                "database" => database::read_settings(&rubric),
                "caching" => caching::read_settings(&rubric),
                "monitoring" => monitoring::read_settings(&rubric),
                "profiling" => profiling::read_settings(&rubric),
                other => panic!("lab {other} has no settings reader: add one beside its grading module"),
            };
            if let Err(err) = read {
                panic!("{lab}: {err:#}");
            }
        }
    }

    #[test]
    fn a_failed_gate_zeroes_every_measured_check() {
        let mut found = findings(16.0, 0.0, Some(2.0));
        found.gate = Some(Err("GET /a answered differently: /orders: expected 31, got 32".into()));
        let record = score(&rubric(), &Target::Solution, found);
        assert_eq!((record.score, record.bonus), (0.0, 0.0));
        assert!(record.checks.iter().all(|c| !c.passed && c.points == 0.0));
        assert!(record.check("cpu").unwrap().evidence.contains("answers differ"));
        assert!(record.check("correctness").unwrap().evidence.contains("expected 31, got 32"));
    }

    #[test]
    fn a_missing_measurement_earns_nothing_and_says_so() {
        let mut found = findings(16.0, 0.0, None);
        found.measurements.retain(|m| m.id != "retained");
        let record = score(&rubric(), &Target::Solution, found);
        assert_eq!(points(&record, "leak"), 0.0);
        assert_eq!(record.check("leak").unwrap().evidence, "retained was not measured");
        assert_eq!(record.score, 70.0);
    }

    #[test]
    fn a_measurement_taken_another_way_than_the_rubric_names_earns_nothing() {
        let mut found = findings(16.0, 0.0, None);
        found.measurements[1].kind = MethodKind::PairedRounds;
        let record = score(&rubric(), &Target::Solution, found);
        assert_eq!(points(&record, "leak"), 0.0);
        assert_eq!(
            record.check("leak").unwrap().evidence,
            "the kit measured retained by paired_rounds, but the rubric names dhat"
        );
        let mut fallback = findings(16.0, 0.0, None);
        fallback.measurements[0].kind = MethodKind::PairedRounds;
        assert_eq!(points(&score(&rubric(), &Target::Solution, fallback), "cpu"), 60.0, "the named fallback counts");
    }

    #[test]
    fn curve_edges_give_none_at_one_and_all_at_full() {
        let at_one = score(&rubric(), &Target::Solution, findings(1.0, 64.0, None));
        assert_eq!((points(&at_one, "cpu"), points(&at_one, "leak")), (0.0, 30.0));
        let at_full = score(&rubric(), &Target::Solution, findings(16.0, 64.5, None));
        assert_eq!((points(&at_full, "cpu"), points(&at_full, "leak")), (60.0, 0.0));
        assert!(at_full.check("cpu").unwrap().passed);
        let halfway = score(&rubric(), &Target::Solution, findings(4.0, 0.0, None));
        assert_eq!(points(&halfway, "cpu"), 30.0);
        assert!(!halfway.check("cpu").unwrap().passed);
    }

    /// The demo rubric with a guard on `cpu`: the whole run must also be
    /// at least twice as cheap as the baseline's.
    fn guarded() -> Rubric {
        let mut rubric = rubric();
        let cpu = rubric.checks.iter_mut().find(|c| c.id == "cpu").expect("cpu check");
        cpu.guard = Some(crate::rubric::Guard {
            measurement: "whole_run".into(),
            at_least: 2.0,
            why: "the whole run costs what the baseline's does".into(),
        });
        rubric
    }

    fn with_whole_run(mut found: Findings, baseline: f64, target: f64) -> Findings {
        found.measurements.push(Measurement::counted(
            MethodKind::Callgrind,
            "whole_run",
            "instructions",
            "callgrind (exact)".into(),
            baseline,
            target,
        ));
        found
    }

    #[test]
    fn a_guard_below_its_bound_takes_the_checks_points_and_says_why() {
        let record = score(&guarded(), &Target::Solution, with_whole_run(findings(16.0, 0.0, None), 1000.0, 900.0));
        assert_eq!(points(&record, "cpu"), 0.0);
        let evidence = &record.check("cpu").unwrap().evidence;
        assert!(evidence.contains("16.00x"), "the check's own measurement is still shown: {evidence}");
        assert!(evidence.contains("no points: the whole run costs what the baseline's does"), "{evidence}");
        assert!(evidence.contains("1.11x (low 1.11x), below the 2x it needs"), "{evidence}");
        assert_eq!(points(&record, "leak"), 30.0, "a guard touches its own check only");
    }

    #[test]
    fn a_guard_at_its_bound_leaves_the_curve_alone() {
        let at_bound = score(&guarded(), &Target::Solution, with_whole_run(findings(4.0, 0.0, None), 1000.0, 500.0));
        assert_eq!(points(&at_bound, "cpu"), 30.0);
        assert!(!at_bound.check("cpu").unwrap().evidence.contains("no points"));
    }

    #[test]
    fn a_missing_guard_measurement_earns_nothing_and_says_so() {
        let record = score(&guarded(), &Target::Solution, findings(16.0, 0.0, None));
        assert_eq!(points(&record, "cpu"), 0.0);
        assert!(
            record
                .check("cpu")
                .unwrap()
                .evidence
                .ends_with("no points: whole_run (which this check also needs) was not measured")
        );
    }

    #[test]
    fn bonus_points_stand_beside_the_score_and_never_fill_a_gap() {
        let record = score(&rubric(), &Target::Solution, findings(4.0, 1000.0, Some(2.0)));
        assert_eq!((record.score, record.max_score), (40.0, 100.0));
        assert_eq!((record.bonus, record.bonus_max), (10.0, 10.0));
        assert!(record.check("smart").unwrap().bonus);
    }

    #[test]
    fn categories_add_up_their_checks_like_the_project_weights() {
        let mut text = String::from(
            "lab = \"project\"\ntitle = \"Project\"\n[packages]\nbaseline = \"a\"\nexercise = \"b\"\nsolution = \"c\"\n[editable]\nexercise = \"project/src\"\n",
        );
        for (id, weight) in [("functionality", 40), ("quality", 25), ("monitoring", 20), ("documentation", 15)] {
            text.push_str(&format!("[[category]]\nid = \"{id}\"\ntitle = \"{id}\"\nweight = {weight}\n"));
            text.push_str(&format!(
                "[[check]]\nid = \"{id}_check\"\ntitle = \"{id}\"\ncategory = \"{id}\"\npoints = {weight}\nmeasurement = \"{id}\"\nmethod = \"lab_specific\"\ncurve = {{ kind = \"at_most\", limit = 0.0 }}\n"
            ));
        }
        let rubric: Rubric = toml::from_str(&text).expect("parses");
        let failures =
            |id: &str, n: f64| Measurement::counted(MethodKind::LabSpecific, id, "failures", "checked".into(), 1.0, n);
        let found = Findings {
            gate: None,
            measurements: vec![
                failures("functionality", 0.0),
                failures("quality", 1.0),
                failures("monitoring", 0.0),
                failures("documentation", 0.0),
            ],
        };
        let record = score(&rubric, &Target::Solution, found);
        assert_eq!(record.score, 75.0);
        let subtotals: Vec<(String, f64, f64)> =
            record.categories.iter().map(|c| (c.id.clone(), c.points, c.max_points)).collect();
        assert_eq!(
            subtotals,
            [
                ("functionality".to_string(), 40.0, 40.0),
                ("quality".to_string(), 0.0, 25.0),
                ("monitoring".to_string(), 20.0, 20.0),
                ("documentation".to_string(), 15.0, 15.0)
            ]
        );
    }

    #[test]
    fn hints_are_named_only_on_checks_not_yet_passed() {
        let mut record = score(&rubric(), &Target::Solution, findings(4.0, 0.0, None));
        let hints = Hints::parse("[[hint]]\ncheck = \"cpu\"\ntext = \"a\"\n[[hint]]\ncheck = \"cpu\"\ntext = \"b\"\n[[hint]]\ncheck = \"leak\"\ntext = \"c\"\n")
            .expect("hints parse");
        attach_hints(&mut record, &hints);
        assert_eq!(record.check("cpu").unwrap().hint.as_deref(), Some("cargo xtask hint demo --check cpu (2 hints)"));
        assert_eq!(record.check("leak").unwrap().hint, None, "passed checks need no hint");
        assert_eq!(record.check("smart").unwrap().hint, None, "no hints written for it");
    }
}
