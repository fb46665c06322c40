//! A lab's rubric: `labs/<lab>/rubric.toml`, the single source of points,
//! thresholds and curves.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize)]
pub struct Rubric {
    pub lab: String,
    pub title: String,
    #[serde(default)]
    pub guide: Option<String>,
    pub packages: Packages,
    pub editable: Editable,
    /// Workload sizes, passed to the lab's driver; each lab reads them into
    /// its own struct that refuses unknown keys ([`Rubric::workload`]).
    #[serde(default)]
    pub workload: BTreeMap<String, toml::Value>,
    /// Services the lab needs (`postgres`, `redis`): without them it is "not graded".
    #[serde(default)]
    pub services: Vec<String>,
    /// Trusted tools the grader builds for the lab: binary name → package.
    #[serde(default)]
    pub tools: BTreeMap<String, String>,
    /// Groups of checks with a weight each (points of the 100); optional.
    #[serde(default, rename = "category")]
    pub categories: Vec<CategorySpec>,
    #[serde(rename = "check")]
    pub checks: Vec<CheckSpec>,
    /// The starter's faults, each with the one check that sees it; the
    /// self-check proves each with a fixture pair under `fixtures/faults/`.
    #[serde(default, rename = "fault")]
    pub faults: Vec<FaultSpec>,
}

/// One fault of the starter: the guide step that teaches it, the check
/// whose points its fix earns (and no other's), and the fix in a line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub id: String,
    /// The guide step that teaches it.
    pub step: u32,
    pub check: String,
    /// What the fix does, for the rubric chapter's table.
    pub fix: String,
}

/// A group of checks (e.g. the project's functionality, quality, monitoring,
/// documentation) and the points of the 100 it carries.
#[derive(Debug, Clone, Deserialize)]
pub struct CategorySpec {
    pub id: String,
    pub title: String,
    /// The core checks of this category must carry exactly this many points.
    pub weight: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Packages {
    pub baseline: String,
    pub exercise: String,
    pub solution: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Editable {
    /// The student's tree, relative to the kit root.
    pub exercise: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckSpec {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub kind: CheckKind,
    pub points: f64,
    /// The measurement whose value the curve scores.
    #[serde(default)]
    pub measurement: Option<String>,
    #[serde(default)]
    pub curve: Option<Curve>,
    /// How the measurement is taken; the grader refuses one taken another way.
    #[serde(default)]
    pub method: Option<MethodKind>,
    /// The method used where `method` cannot run here (e.g. no valgrind).
    #[serde(default)]
    pub fallback: Option<MethodKind>,
    /// Reported beside the score out of 100, never added to it.
    #[serde(default)]
    pub bonus: bool,
    /// The [`CategorySpec`] this check counts towards, when the rubric has categories.
    #[serde(default)]
    pub category: Option<String>,
    /// A second measurement the target must also beat the baseline on, or
    /// this check earns nothing (see [`Guard`]).
    #[serde(default)]
    pub guard: Option<Guard>,
}

/// A condition on a second, monotone measurement that a check's points
/// depend on.
///
/// A check scored on a difference of two of the target's own runs (a
/// year-long report minus a one-day one, a large log over a small one) can
/// be moved by making the subtracted run or the smaller log more costly on
/// purpose. The guard names a measurement that such padding cannot improve
/// (the larger run alone, against the baseline's): the check earns nothing
/// unless its `ratio_low` (baseline / target) is at least `at_least`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Guard {
    pub measurement: String,
    pub at_least: f64,
    /// Why the guard holds, for the evidence when it fails.
    pub why: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// Points from a measurement through a curve.
    #[default]
    Measured,
    /// All or nothing; failing it zeroes every measured check.
    Gate,
}

/// How a measurement is taken, as the rubric names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    /// A count read outside the service (a wire proxy, the server's own statistics).
    Count,
    /// Instructions per request counted by callgrind.
    Callgrind,
    /// Allocations or live heap counted by dhat.
    Dhat,
    /// Wall-clock times from rounds that alternate baseline and target.
    PairedRounds,
    /// The 99th percentile latency under concurrent load.
    LoadP99,
    /// A lab's own check (an EXPLAIN plan, a pool under a locked table, ...).
    LabSpecific,
}

impl std::fmt::Display for MethodKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MethodKind::Count => "count",
            MethodKind::Callgrind => "callgrind",
            MethodKind::Dhat => "dhat",
            MethodKind::PairedRounds => "paired_rounds",
            MethodKind::LoadP99 => "load_p99",
            MethodKind::LabSpecific => "lab_specific",
        })
    }
}

/// How a measured value becomes a fraction of a check's points.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Curve {
    /// On the ratio: 0 at `zero_at` (default 1x) or worse, all at `full_at`
    /// or better, and proportional to `ln(ratio / zero_at) / ln(full_at /
    /// zero_at)` between, so each doubling of speed is worth the same. A
    /// `zero_at` above 1 keeps the small side effects of other faults' fixes
    /// from earning this check's points.
    Log {
        full_at: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zero_at: Option<f64>,
    },
    /// On the target's own value: all if it is at most `limit`, else none.
    AtMost { limit: f64 },
}

impl Curve {
    /// The fraction (0..=1) of the points earned.
    pub fn fraction(&self, ratio: f64, target_value: f64) -> f64 {
        match *self {
            Curve::Log { full_at, zero_at } => {
                let zero_at = zero_at.unwrap_or(1.0);
                if !ratio.is_finite() || ratio <= zero_at {
                    0.0
                } else {
                    ((ratio / zero_at).ln() / (full_at / zero_at).ln()).clamp(0.0, 1.0)
                }
            }
            Curve::AtMost { limit } => {
                if target_value <= limit {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }

    /// A sentence for reports: what earns full points.
    pub fn describe(&self) -> String {
        match *self {
            Curve::Log { full_at, zero_at } => {
                format!("full points at {full_at}x or better, none at {}x", zero_at.unwrap_or(1.0))
            }
            Curve::AtMost { limit } => format!("full points at or below {limit}"),
        }
    }
}

impl Rubric {
    pub fn load(path: &Path) -> anyhow::Result<Rubric> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let rubric: Rubric = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        rubric.validate().with_context(|| format!("checking {}", path.display()))?;
        Ok(rubric)
    }

    fn validate(&self) -> anyhow::Result<()> {
        let mut ids = std::collections::BTreeSet::new();
        for check in &self.checks {
            anyhow::ensure!(ids.insert(check.id.as_str()), "check {} appears twice", check.id);
            anyhow::ensure!(check.points > 0.0, "check {}: points must be above 0", check.id);
            if check.kind == CheckKind::Gate && check.bonus {
                anyhow::bail!("check {}: a gate cannot be a bonus", check.id);
            }
            match (&check.category, self.categories.is_empty()) {
                (Some(category), _) if !self.categories.iter().any(|c| &c.id == category) => {
                    anyhow::bail!("check {} names category {category}, which the rubric does not define", check.id)
                }
                (None, false) if !check.bonus => {
                    anyhow::bail!("check {} needs a category: the rubric defines categories", check.id)
                }
                _ => {}
            }
            if check.kind == CheckKind::Measured
                && (check.measurement.is_none() || check.curve.is_none() || check.method.is_none())
            {
                anyhow::bail!("check {} needs a measurement, a method and a curve", check.id);
            }
            if let Some(guard) = &check.guard {
                anyhow::ensure!(
                    check.kind == CheckKind::Measured,
                    "check {}: only a measured check has a guard",
                    check.id
                );
                anyhow::ensure!(guard.at_least > 1.0, "check {}: a guard's at_least must be above 1", check.id);
                anyhow::ensure!(
                    Some(&guard.measurement) != check.measurement.as_ref(),
                    "check {}: a guard names another measurement than the check's own",
                    check.id
                );
            }
            if let Some(Curve::Log { full_at, zero_at }) = check.curve
                && full_at <= zero_at.unwrap_or(1.0).max(1.0)
            {
                anyhow::bail!("check {}: full_at must be above 1 and above zero_at", check.id);
            }
        }
        let mut faults = std::collections::BTreeSet::new();
        for fault in &self.faults {
            anyhow::ensure!(faults.insert(fault.id.as_str()), "fault {} appears twice", fault.id);
            match self.checks.iter().find(|c| c.id == fault.check) {
                None => {
                    anyhow::bail!("fault {} maps to check {}, which the rubric does not define", fault.id, fault.check)
                }
                Some(check) if check.kind == CheckKind::Gate => {
                    anyhow::bail!("fault {} maps to the gate {}: a fault needs a measured check", fault.id, check.id)
                }
                Some(_) => {}
            }
        }
        for category in &self.categories {
            let points: f64 = self.core().filter(|c| c.category.as_ref() == Some(&category.id)).map(|c| c.points).sum();
            anyhow::ensure!(
                (points - category.weight).abs() < 1e-9,
                "category {} weighs {} but its checks carry {points} points",
                category.id,
                category.weight
            );
        }
        Ok(())
    }

    /// The measurements that scoring `check` reads: its own and its guard's.
    pub fn measurements_of(&self, check: &str) -> Vec<String> {
        let spec = self.checks.iter().find(|c| c.id == check);
        spec.map(|c| c.measurement.iter().chain(c.guard.iter().map(|g| &g.measurement)).cloned().collect())
            .unwrap_or_default()
    }

    /// Checks that count towards the score out of [`Rubric::max_score`].
    pub fn core(&self) -> impl Iterator<Item = &CheckSpec> {
        self.checks.iter().filter(|c| !c.bonus)
    }

    pub fn max_score(&self) -> f64 {
        self.core().map(|c| c.points).sum()
    }

    /// Points the bonus checks can add beside the score.
    pub fn bonus_max(&self) -> f64 {
        self.checks.iter().filter(|c| c.bonus).map(|c| c.points).sum()
    }

    /// The `[workload]` table read into a lab's own settings type. Give the
    /// type `#[serde(deny_unknown_fields)]`: a key no code reads is refused
    /// here, and a field no code reads is a compiler warning.
    pub fn workload<T: serde::de::DeserializeOwned>(&self) -> anyhow::Result<T> {
        let table: toml::Table = self.workload.clone().into_iter().collect();
        table.try_into().with_context(|| format!("rubric of {}: [workload]", self.lab))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_must_name_another_measurement_and_a_bound_above_one() {
        let rubric = |guard: &str| {
            format!(
                "lab = \"x\"\ntitle = \"x\"\n[packages]\nbaseline = \"a\"\nexercise = \"b\"\nsolution = \"c\"\n\
                 [editable]\nexercise = \"e/src\"\n[[check]]\nid = \"growth\"\ntitle = \"g\"\npoints = 10\n\
                 measurement = \"growth\"\nmethod = \"callgrind\"\ncurve = {{ kind = \"at_most\", limit = 2.8 }}\n{guard}\n"
            )
        };
        let check = |guard: &str| toml::from_str::<Rubric>(&rubric(guard)).expect("parses").validate();
        check(r#"guard = { measurement = "year", at_least = 2.0, why = "w" }"#).expect("a sound guard");
        let own = check(r#"guard = { measurement = "growth", at_least = 2.0, why = "w" }"#).unwrap_err();
        assert!(own.to_string().contains("another measurement"), "{own}");
        let low = check(r#"guard = { measurement = "year", at_least = 1.0, why = "w" }"#).unwrap_err();
        assert!(low.to_string().contains("above 1"), "{low}");
        let whole: Rubric =
            toml::from_str(&rubric(r#"guard = { measurement = "year", at_least = 2.0, why = "w" }"#)).expect("parses");
        assert_eq!(whole.measurements_of("growth"), ["growth", "year"]);
    }

    #[test]
    fn the_log_curve_is_zero_at_one_and_full_at_its_target() {
        let curve = Curve::Log { full_at: 20.0, zero_at: None };
        assert_eq!(curve.fraction(1.0, 0.0), 0.0);
        assert_eq!(curve.fraction(0.5, 0.0), 0.0);
        assert_eq!(curve.fraction(20.0, 0.0), 1.0);
        assert_eq!(curve.fraction(400.0, 0.0), 1.0);
        assert_eq!(curve.fraction(f64::NAN, 0.0), 0.0);
    }

    #[test]
    fn the_log_curve_gives_each_doubling_the_same_points() {
        let curve = Curve::Log { full_at: 16.0, zero_at: None };
        assert!((curve.fraction(2.0, 0.0) - 0.25).abs() < 1e-12);
        assert!((curve.fraction(4.0, 0.0) - 0.5).abs() < 1e-12);
        assert!((curve.fraction(8.0, 0.0) - 0.75).abs() < 1e-12);
    }

    #[test]
    fn the_log_curve_never_decreases() {
        let curve = Curve::Log { full_at: 10.0, zero_at: None };
        let mut last = 0.0;
        for step in 0..200 {
            let fraction = curve.fraction(0.5 + step as f64 * 0.1, 0.0);
            assert!(fraction >= last);
            last = fraction;
        }
    }

    #[test]
    fn the_log_curve_starts_at_its_zero() {
        let curve = Curve::Log { full_at: 40.0, zero_at: Some(4.0) };
        assert_eq!(curve.fraction(3.9, 0.0), 0.0);
        assert_eq!(curve.fraction(4.0, 0.0), 0.0);
        assert!((curve.fraction(12.649_110_640_673_518, 0.0) - 0.5).abs() < 1e-9);
        assert_eq!(curve.fraction(40.0, 0.0), 1.0);
    }

    #[test]
    fn a_fault_must_map_to_a_measured_check() {
        let text = format!(
            "{HEAD}\n[[check]]\nid = \"a\"\ntitle = \"a\"\nkind = \"gate\"\npoints = 100\n\
             [[fault]]\nid = \"f\"\nstep = 1\ncheck = \"{{}}\"\nfix = \"x\"\n"
        );
        for (check, expected) in [("b", "which the rubric does not define"), ("a", "needs a measured check")] {
            let rubric: Rubric = toml::from_str(&text.replace("{}", check)).expect("parses");
            let err = rubric.validate().unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn at_most_scores_the_target_value_against_its_limit() {
        let curve = Curve::AtMost { limit: 64.0 };
        assert_eq!(curve.fraction(0.0, 64.0), 1.0);
        assert_eq!(curve.fraction(100.0, 0.0), 1.0);
        assert_eq!(curve.fraction(100.0, 64.5), 0.0);
    }

    #[test]
    fn every_lab_rubric_in_the_kit_loads_and_totals_100() {
        let labs = lab_protocol::kit::root_from_current_dir().expect("tests run inside the kit").join("labs");
        let mut found = 0;
        for entry in std::fs::read_dir(labs).expect("labs/ exists") {
            let path = entry.expect("dir entry").path().join("rubric.toml");
            if path.exists() {
                let rubric = Rubric::load(&path).expect("rubric loads");
                assert_eq!(rubric.max_score(), 100.0, "{}", path.display());
                found += 1;
            }
        }
        assert!(found >= 1);
    }

    const HEAD: &str = r#"
        lab = "x"
        title = "x"
        [packages]
        baseline = "a"
        exercise = "b"
        solution = "c"
        [editable]
        exercise = "exercises/x/src"
    "#;

    #[test]
    fn categories_must_carry_their_weight() {
        let text = format!(
            r#"{HEAD}
            [[category]]
            id = "functionality"
            title = "Functionality"
            weight = 40
            [[category]]
            id = "docs"
            title = "Documentation"
            weight = 60
            [[check]]
            id = "a"
            title = "a"
            kind = "gate"
            category = "functionality"
            points = 40
            [[check]]
            id = "b"
            title = "b"
            category = "docs"
            points = 50
            measurement = "m"
            method = "count"
            curve = {{ kind = "at_most", limit = 1.0 }}
            "#
        );
        let rubric: Rubric = toml::from_str(&text).expect("parses");
        let err = rubric.validate().unwrap_err().to_string();
        assert!(err.contains("category docs weighs 60 but its checks carry 50 points"), "{err}");
    }

    #[test]
    fn bonus_checks_stay_outside_the_hundred() {
        let text = format!(
            r#"{HEAD}
            [[check]]
            id = "a"
            title = "a"
            kind = "gate"
            points = 100
            [[check]]
            id = "smart"
            title = "smart cache"
            bonus = true
            points = 10
            measurement = "m"
            method = "count"
            curve = {{ kind = "log", full_at = 2.0 }}
            "#
        );
        let rubric: Rubric = toml::from_str(&text).expect("parses");
        rubric.validate().expect("valid");
        assert_eq!((rubric.max_score(), rubric.bonus_max()), (100.0, 10.0));
    }

    #[test]
    fn a_workload_key_no_lab_reads_is_refused() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Settings {
            requests: usize,
        }
        let text = format!(
            "{HEAD}\n[workload]\nrequests = 3\nforgotten = 4\n[[check]]\nid = \"a\"\ntitle = \"a\"\nkind = \"gate\"\npoints = 100\n"
        );
        let rubric: Rubric = toml::from_str(&text).expect("parses");
        let err = format!("{:#}", rubric.workload::<Settings>().unwrap_err());
        assert!(err.contains("forgotten"), "{err}");
    }

    #[test]
    fn a_measured_check_without_a_curve_or_a_method_is_refused() {
        let check = "[[check]]\nid = \"cpu\"\ntitle = \"cpu\"\npoints = 10\nmeasurement = \"m\"\n";
        for missing in ["curve = { kind = \"log\", full_at = 2.0 }\n", "method = \"callgrind\"\n"] {
            let both = "method = \"callgrind\"\ncurve = { kind = \"log\", full_at = 2.0 }\n";
            let text = format!("{HEAD}\n{check}{}", both.replace(missing, ""));
            let rubric: Rubric = toml::from_str(&text).expect("parses");
            let err = rubric.validate().unwrap_err().to_string();
            assert!(err.contains("needs a measurement, a method and a curve"), "{err}");
        }
    }
}
