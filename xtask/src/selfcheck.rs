//! The grader's self-check: every starter fails its rubric, every solution
//! earns full marks, and a solution with one wrong answer earns no speed
//! points. Runs the release grader exactly as an instructor would.

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
    }
    Ok(())
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
