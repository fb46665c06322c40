//! The grader's self-check: every starter fails its rubric, every solution
//! earns full marks, a solution with one wrong answer earns no speed
//! points, a fault's fix earns its own check's points and no other's, and
//! each hostile fixture scores no more than a starter.
//! Runs the release grader exactly as an instructor would.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};
use serde_json::Value;

use crate::shell::{cargo, root, step};

/// The most an untouched starter may score.
pub const STARTER_MAX: f64 = 20.0;
/// The least a reference solution may score.
pub const SOLUTION_MIN: f64 = 95.0;

/// Builds the release grader once and returns its path.
pub fn grader() -> anyhow::Result<PathBuf> {
    step("building the grader (release)", cargo(&["build", "--release", "--quiet", "--package", "grader"]))?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    Ok(target_dir.join("release").join("grader"))
}

/// Grades `lab`/`target` and returns the lab's record.
pub fn grade(grader: &Path, lab: &str, target: &str, seed: Option<u64>) -> anyhow::Result<Value> {
    let out = tempfile::NamedTempFile::new()?;
    let mut command = Command::new(grader);
    command.args(["grade", "--lab", lab, "--target", target, "--json"]).arg(out.path());
    if let Some(seed) = seed {
        command.args(["--seed", &seed.to_string()]);
    }
    for (key, value) in crate::services::exports() {
        command.env(key, value);
    }
    let status = command.status().context("running the grader")?;
    ensure!(status.success(), "grader exited with {status} for {lab} {target}");
    let record: Value = serde_json::from_str(&std::fs::read_to_string(out.path())?).context("reading the record")?;
    record["labs"].get(0).cloned().context("the record has no lab")
}

pub fn labs() -> anyhow::Result<Vec<String>> {
    let mut labs = Vec::new();
    for entry in std::fs::read_dir(root().join("labs"))? {
        let entry = entry?;
        if entry.path().join("rubric.toml").exists() {
            labs.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    labs.sort();
    Ok(labs)
}

pub fn run() -> anyhow::Result<()> {
    let grader = grader()?;
    // The submission first: the kit's own targets graded after it must not
    // be handed its binaries (they share package names in one target dir).
    wrong_answer_earns_no_speed_points(&grader)?;
    for lab in labs()? {
        let starter = grade(&grader, &lab, "exercise", None)?;
        let score = starter["score"].as_f64().unwrap_or(f64::NAN);
        ensure!(starter["status"] == "graded", "{lab} starter was not graded: {}", starter["reason"]);
        ensure!(score <= STARTER_MAX, "{lab}: the untouched starter scores {score}, above {STARTER_MAX}");
        eprintln!("self-check: {lab} starter scores {score} (at most {STARTER_MAX}) ok");

        let solution = grade(&grader, &lab, "solution", None)?;
        let score = solution["score"].as_f64().unwrap_or(f64::NAN);
        ensure!(solution["status"] == "graded", "{lab} solution was not graded: {}", solution["reason"]);
        ensure!(score >= SOLUTION_MIN, "{lab}: the solution scores {score}, below {SOLUTION_MIN}");
        eprintln!("self-check: {lab} solution scores {score} (at least {SOLUTION_MIN}) ok");

        for (fault, check) in FAULTS.iter().filter(|(fault, _)| fault.starts_with(&format!("{lab}/"))) {
            fault_is_separable(&grader, &lab, fault, check, &starter, &solution)?;
        }
        for name in HOSTILE.iter().filter_map(|fixture| fixture.strip_prefix(&format!("{lab}/"))) {
            hostile_scores_at_most_a_starter(&grader, &lab, name)?;
        }
    }
    Ok(())
}

/// Submissions that try to earn points they should not, under
/// `labs/<lab>/fixtures/hostile/<name>.patch` (applied to the solution).
const HOSTILE: &[&str] = &["database/stale-cache"];

/// A hostile fixture scores no more than an untouched starter may.
fn hostile_scores_at_most_a_starter(grader: &Path, lab: &str, name: &str) -> anyhow::Result<()> {
    let patch = root().join("labs").join(lab).join("fixtures/hostile").join(format!("{name}.patch"));
    let folder = patched(&format!("solutions/{lab}/src"), &patch, &format!("{lab}/{name}"), "hostile")?;
    let record = grade(grader, lab, path_str(&folder)?, None)?;
    let score = record["score"].as_f64().unwrap_or(f64::NAN);
    ensure!(score <= STARTER_MAX, "{lab}/{name}: the hostile fixture scores {score}, above {STARTER_MAX}");
    let gate = record["checks"].as_array().and_then(|checks| checks.iter().find(|c| c["id"] == "correctness"));
    let evidence = gate.and_then(|c| c["evidence"].as_str()).unwrap_or("no gate evidence");
    eprintln!("self-check: hostile {lab}/{name} scores {score} (at most {STARTER_MAX}): {evidence}");
    Ok(())
}

/// Faults with a fixture under `labs/<lab>/fixtures/faults/`, and the check each maps to.
///
/// `<fault>.patch` fixes only that fault in the starter (`exercises/<lab>/src`);
/// `<fault>.revert.patch` takes only that fix out of the solution.
const FAULTS: &[(&str, &str)] = &[("profiling/blocking", "blocking")];

/// The starter with only `fault` fixed earns `check`'s points and no more
/// than the starter on any other check; the solution without only that fix
/// loses `check`'s points and nothing else. Two grading runs.
fn fault_is_separable(
    grader: &Path,
    lab: &str,
    fault: &str,
    check: &str,
    starter: &Value,
    solution: &Value,
) -> anyhow::Result<()> {
    let name = fault.rsplit('/').next().unwrap_or(fault);
    let fixtures = root().join("labs").join(lab).join("fixtures/faults");
    let fixed = patched(&format!("exercises/{lab}/src"), &fixtures.join(format!("{name}.patch")), fault, "fixed")?;
    let reverted =
        patched(&format!("solutions/{lab}/src"), &fixtures.join(format!("{name}.revert.patch")), fault, "reverted")?;

    let fixed = grade(grader, lab, path_str(&fixed)?, None)?;
    let reverted = grade(grader, lab, path_str(&reverted)?, None)?;
    for (record, who) in [(&fixed, "the starter with only this fix"), (&reverted, "the solution without this fix")] {
        ensure!(record["status"] == "graded", "{fault}: {who} was not graded: {}", record["reason"]);
    }
    // Counts repeat to a few parts in ten thousand; a tenth of a point is rounding.
    const SAME: f64 = 0.15;
    for spec in solution["checks"].as_array().context("checks")? {
        let id = spec["id"].as_str().unwrap_or("?");
        let (start, full) = (points(starter, id), points(solution, id));
        let (with_fix, without_fix) = (points(&fixed, id), points(&reverted, id));
        if id == check {
            let max = spec["max_points"].as_f64().unwrap_or(f64::NAN);
            ensure!(
                with_fix >= max - SAME,
                "{fault}: the starter with only this fix earns {with_fix} of {max} on {id}"
            );
            ensure!(
                without_fix <= start + SAME,
                "{fault}: the solution without this fix still earns {without_fix} on {id}"
            );
        } else {
            ensure!(
                with_fix <= start + SAME,
                "{fault}: fixing only this fault earns {with_fix} on {id} (starter {start})"
            );
            ensure!(
                (without_fix - full).abs() <= SAME,
                "{fault}: taking out only this fix moves {id} from {full} to {without_fix}"
            );
        }
    }
    eprintln!(
        "self-check: {fault} maps to {check} alone: {} with only its fix, {} without it",
        points(&fixed, check),
        points(&reverted, check)
    );
    Ok(())
}

/// A copy of the kit's `tree` (a `src/` folder) with `patch` applied, as a
/// submission folder. The folder is the same on every run, so the grader's
/// overlay of it is reused and its build stays incremental.
fn patched(tree: &str, patch: &Path, fault: &str, variant: &str) -> anyhow::Result<PathBuf> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    let folder = target_dir.join("selfcheck").join(format!("{}-{variant}", fault.replace('/', "-")));
    let src = folder.join("src");
    if src.exists() {
        std::fs::remove_dir_all(&src).with_context(|| format!("clearing {}", src.display()))?;
    }
    copy_dir(&root().join(tree), &src)?;
    // Outside any repository's view, `git apply` is a plain `patch -p1`.
    let status = Command::new("git")
        .args(["apply", "-p1"])
        .arg(patch)
        .current_dir(&src)
        .env("GIT_CEILING_DIRECTORIES", &folder)
        .status()
        .context("running git apply")?;
    ensure!(status.success(), "{} no longer applies to {tree}", patch.display());
    Ok(folder)
}

fn points(record: &Value, id: &str) -> f64 {
    record["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["id"] == id))
        .and_then(|c| c["points"].as_f64())
        .unwrap_or(f64::NAN)
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str().context("a utf-8 path")
}

/// A copy of the profiling solution with an off-by-one in a total.
fn wrong_answer_earns_no_speed_points(grader: &Path) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    copy_dir(&root().join("solutions/profiling/src"), &dir.path().join("src"))?;
    let reports = dir.path().join("src/reports.rs");
    let text = std::fs::read_to_string(&reports)?;
    let (from, to) = ("let mut orders = 0;", "let mut orders = 1;");
    ensure!(text.contains(from), "the mutation site `{from}` is gone from solutions/profiling/src/reports.rs");
    std::fs::write(&reports, text.replacen(from, to, 1))?;

    let record = grade(grader, "profiling", dir.path().to_str().context("utf-8 path")?, None)?;
    let checks = record["checks"].as_array().context("checks")?;
    for check in checks {
        let (id, points) = (check["id"].as_str().unwrap_or("?"), check["points"].as_f64().unwrap_or(f64::NAN));
        if id == "correctness" {
            let evidence = check["evidence"].as_str().unwrap_or_default();
            ensure!(check["passed"] == false, "the off-by-one passed the correctness gate");
            if !(evidence.contains("GET /reports/customers") && evidence.contains("/orders")) {
                bail!("the gate's evidence does not name the request and field: {evidence}");
            }
            eprintln!("self-check: off-by-one caught: {evidence}");
        } else {
            ensure!(points == 0.0, "the off-by-one still earned {points} points on {id}");
        }
    }
    Ok(())
}

pub fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), dest)?;
        }
    }
    Ok(())
}
