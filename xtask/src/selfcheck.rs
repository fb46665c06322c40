//! The grader's self-check: every starter fails its rubric, every solution
//! earns full marks, a solution with one wrong answer earns no speed
//! points, a fault's fix earns its own check's points and no other's, and
//! each hostile fixture scores no more than a starter.
//! Runs the release grader exactly as an instructor would.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, ensure};
use serde_json::Value;

use crate::shell::{cargo, root, step};

/// The most an untouched starter may score.
pub const STARTER_MAX: f64 = 20.0;
/// The least a reference solution may score.
pub const SOLUTION_MIN: f64 = 95.0;

/// The seed of this test run's gradings: `GRADER_SEED` when set, else one
/// chosen at the first call. The docs' grading commands get it too (as
/// `GRADER_SEED`), so they share the baseline counts the self-check cached.
pub fn run_seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| {
        std::env::var("GRADER_SEED").ok().and_then(|v| v.trim().parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_secs())
        })
    })
}

/// Builds the release grader once and returns its path.
pub fn grader() -> anyhow::Result<PathBuf> {
    step("building the grader (release)", cargo(&["build", "--release", "--quiet", "--package", "grader"]))?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    Ok(target_dir.join("release").join("grader"))
}

/// Grades `lab`/`target` and returns the lab's record.
pub fn grade(grader: &Path, lab: &str, target: &str, seed: Option<u64>) -> anyhow::Result<Value> {
    grade_only(grader, lab, target, seed, None)
}

/// [`grade`], measuring only `only`'s check when given (`grade --only`).
fn grade_only(grader: &Path, lab: &str, target: &str, seed: Option<u64>, only: Option<&str>) -> anyhow::Result<Value> {
    let out = tempfile::NamedTempFile::new()?;
    let mut command = Command::new(grader);
    command.args(["grade", "--lab", lab, "--target", target, "--json"]).arg(out.path());
    if let Some(seed) = seed {
        command.args(["--seed", &seed.to_string()]);
    }
    if let Some(check) = only {
        command.args(["--only", check]);
    }
    for (key, value) in crate::services::exports() {
        command.env(key, value);
    }
    let status = command.status().context("running the grader")?;
    ensure!(status.success(), "grader exited with {status} for {lab} {target}");
    let record: Value = serde_json::from_str(&std::fs::read_to_string(out.path())?).context("reading the record")?;
    let containment = record["environment"]["containment"].as_str().unwrap_or("NOT CONTAINED (not recorded)");
    ensure!(!containment.starts_with("NOT CONTAINED"), "{lab} {target} was graded uncontained: {containment}");
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

/// One job of the self-check, run beside another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// A lab's starter, solution, faults, mutants and hostile fixtures.
    Lab(String),
    /// The acceptance batch of `grader class` ([`crate::classcheck`]).
    Class,
}

/// The self-check's jobs: a job for each lab of `only` (every lab when
/// empty), and the class batch when `class` is set.
pub fn jobs(only: &[String], class: bool) -> anyhow::Result<Vec<Job>> {
    let mut jobs: Vec<Job> =
        labs()?.into_iter().filter(|lab| only.is_empty() || only.contains(lab)).map(Job::Lab).collect();
    if class {
        jobs.push(Job::Class);
    }
    Ok(jobs)
}

/// Runs `jobs`.
///
/// Two jobs run at a time: a grading mostly waits on services and sleeps,
/// so one at a time leaves the machine idle. Their timed rounds never
/// overlap anything: every grading shares the grader's measure lock and
/// takes it alone to time rounds (`grader::quiet`); counts are exact
/// either way. Each lab's fixtures are graded in order, in a folder of the
/// lab's own.
pub fn run(jobs: Vec<Job>) -> anyhow::Result<()> {
    // The hostile fixtures that keep state between runs are caught by the
    // containment: without it they would pass.
    crate::services::ensure_sandbox(true)?;
    let grader = grader()?;
    // One seed for the whole self-check: the baseline's exact counts are
    // then measured once and reused by every fixture graded after it.
    let seed = run_seed();
    eprintln!("self-check: every grading uses seed {seed}");
    let queue = std::sync::Mutex::new(jobs.into_iter());
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_JOBS {
            scope.spawn(|| {
                loop {
                    let Some(job) = queue.lock().expect("never poisoned").next() else { break };
                    let result = match &job {
                        Job::Lab(lab) => check_lab(&grader, lab, seed),
                        Job::Class => crate::classcheck::run(&grader, seed),
                    };
                    if let Err(err) = result {
                        eprintln!("self-check: {job:?} FAILED: {err:#}");
                        failures.lock().expect("never poisoned").push(format!("{job:?}: {err:#}"));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("never poisoned");
    ensure!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

/// Jobs run at once (the machine has two cores).
const PARALLEL_JOBS: usize = 2;

fn check_lab(grader: &Path, lab: &str, seed: u64) -> anyhow::Result<()> {
    let starter = grade(grader, lab, "exercise", Some(seed))?;
    let score = starter["score"].as_f64().unwrap_or(f64::NAN);
    ensure!(starter["status"] == "graded", "{lab} starter was not graded: {}", starter["reason"]);
    ensure!(score <= STARTER_MAX, "{lab}: the untouched starter scores {score}, above {STARTER_MAX}");
    eprintln!("self-check: {lab} starter scores {score} (at most {STARTER_MAX}) ok");

    let solution = grade(grader, lab, "solution", Some(seed))?;
    let score = solution["score"].as_f64().unwrap_or(f64::NAN);
    ensure!(solution["status"] == "graded", "{lab} solution was not graded: {}", solution["reason"]);
    ensure!(score >= SOLUTION_MIN, "{lab}: the solution scores {score}, below {SOLUTION_MIN}");
    eprintln!("self-check: {lab} solution scores {score} (at least {SOLUTION_MIN}) ok");

    for fault in faults(lab)? {
        fault_is_separable(grader, lab, &fault.id, &fault.check, (&starter, &solution), seed)?;
    }
    for mutant in mutants(lab)? {
        is_caught(grader, lab, "mutants", &mutant, seed)?;
    }
    for hostile in planted(lab, "hostile", "hostile")? {
        is_caught(grader, lab, "hostile", &hostile, seed)?;
    }
    Ok(())
}

/// The `<name>` of every `labs/<lab>/fixtures/<kind>/<name>.patch` (not `.revert.patch`).
fn fixture_names(lab: &str, kind: &str) -> anyhow::Result<Vec<String>> {
    let dir = root().join("labs").join(lab).join("fixtures").join(kind);
    let mut names = Vec::new();
    if dir.is_dir() {
        for entry in std::fs::read_dir(&dir)? {
            let file = entry?.file_name().to_string_lossy().into_owned();
            if let Some(name) = file.strip_suffix(".patch").filter(|name| !name.ends_with(".revert")) {
                names.push(name.to_string());
            }
        }
    }
    names.sort();
    Ok(names)
}

#[derive(Debug, serde::Deserialize)]
struct Fault {
    id: String,
    check: String,
}

/// The rubric's `[[fault]]` table; every fault needs its fixture pair.
fn faults(lab: &str) -> anyhow::Result<Vec<Fault>> {
    #[derive(serde::Deserialize)]
    struct Rubric {
        #[serde(default)]
        fault: Vec<Fault>,
    }
    let path = root().join("labs").join(lab).join("rubric.toml");
    let rubric: Rubric =
        toml::from_str(&std::fs::read_to_string(&path)?).with_context(|| path.display().to_string())?;
    let dir = root().join("labs").join(lab).join("fixtures/faults");
    for fault in &rubric.fault {
        for file in [format!("{}.patch", fault.id), format!("{}.revert.patch", fault.id)] {
            ensure!(
                dir.join(&file).is_file(),
                "{lab}: fault {} has no fixture {}",
                fault.id,
                dir.join(&file).display()
            );
        }
    }
    for name in fixture_names(lab, "faults")? {
        ensure!(
            rubric.fault.iter().any(|f| f.id == name),
            "{lab}: fixtures/faults/{name}.patch names no [[fault]] of the rubric"
        );
    }
    Ok(rubric.fault)
}

/// A planted mistake in the solution (a mutant) or a submission that tries
/// to earn points it should not (a hostile fixture), and the check that
/// must catch it: from `labs/<lab>/fixtures/mutants.toml` and `hostile.toml`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Planted {
    id: String,
    /// The tree the patch applies to: `solution` (the default) or `exercise`.
    #[serde(default)]
    base: Base,
    /// The check it tries to earn (hostile fixtures): it is graded on that
    /// check and the gate alone.
    #[serde(default)]
    tries: Option<String>,
    /// The patch applies to the submission folder itself (its paths start
    /// with `src/` or name files beside it), as a submission that hands in
    /// changed kit files next to its `src/`.
    #[serde(default)]
    beside_src: bool,
    /// The check that must earn nothing; `correctness` means the gate fails
    /// and, with it, every measured check; `build` means the grader refuses
    /// to build it (its sources reach outside `src/`), and `stop` that the
    /// grading stops with the target at fault (it answered differently in a
    /// measured run); either way nothing is scored. `containment` means
    /// the sandbox the drivers run in defeats it: it is graded whole (it
    /// needs the earlier runs it would carry state from) and earns nothing
    /// on the check it `tries`.
    caught_by: String,
    /// Words the check's evidence must hold (the request and field, say).
    #[serde(default)]
    evidence: Vec<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Base {
    #[default]
    Solution,
    Exercise,
}

impl Base {
    /// The kit folder this tree is, for `lab`.
    fn tree(&self, lab: &str) -> String {
        match self {
            Base::Solution => format!("solutions/{lab}/src"),
            Base::Exercise => format!("exercises/{lab}/src"),
        }
    }
}

/// The `kind` (`mutant` or `hostile`) entries of `labs/<lab>/fixtures/<kind>.toml`,
/// one per patch under `fixtures/<kind>s/` or `fixtures/<kind>/`.
fn planted(lab: &str, kind: &str, folder: &str) -> anyhow::Result<Vec<Planted>> {
    let path = root().join("labs").join(lab).join(format!("fixtures/{folder}.toml"));
    let entries: Vec<Planted> = match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mut table: toml::Table = toml::from_str(&text).with_context(|| path.display().to_string())?;
            let entries = table.remove(kind).unwrap_or_else(|| toml::Value::Array(Vec::new()));
            ensure!(table.is_empty(), "{}: only [[{kind}]] entries belong here", path.display());
            entries.try_into().with_context(|| path.display().to_string())?
        }
        Err(_) => Vec::new(),
    };
    let names = fixture_names(lab, folder)?;
    for name in &names {
        ensure!(entries.iter().any(|m| &m.id == name), "{lab}: fixtures/{folder}/{name}.patch is not in {folder}.toml");
    }
    for entry in &entries {
        ensure!(names.contains(&entry.id), "{lab}: {folder}.toml names {}, which has no patch", entry.id);
    }
    Ok(entries)
}

fn mutants(lab: &str) -> anyhow::Result<Vec<Planted>> {
    let mutants = planted(lab, "mutant", "mutants")?;
    ensure!(!mutants.is_empty(), "{lab} has no mutant under fixtures/mutants/");
    Ok(mutants)
}

/// Grades one planted fixture, on the check it tries (else the one that
/// must catch it) and the gate, and requires what its entry says: its
/// `caught_by` check earns nothing, with the evidence words; a hostile
/// fixture also scores no more than an untouched starter may.
fn is_caught(grader: &Path, lab: &str, folder: &str, entry: &Planted, seed: u64) -> anyhow::Result<()> {
    let id = format!("{lab}/{}", entry.id);
    let patch = root().join("labs").join(lab).join("fixtures").join(folder).join(format!("{}.patch", entry.id));
    let fixture = patched(&entry.base.tree(lab), &patch, &id, folder, entry.beside_src)?;
    // Graded on the check it tries, else on the check that must catch it
    // (a failed gate stops every measurement, so a full grading costs no more).
    let only = entry.tries.as_deref().unwrap_or(entry.caught_by.as_str());
    let only = (!["correctness", "build", "stop", "containment"].contains(&entry.caught_by.as_str())
        && !["correctness", "build", "stop"].contains(&only))
    .then_some(only);
    let record = grade_only(grader, lab, path_str(&fixture)?, Some(seed), only)?;
    let stopped = match entry.caught_by.as_str() {
        "build" => Some("build_failed"),
        "stop" => Some("failed"),
        _ => None,
    };
    if let Some(status) = stopped {
        // Refused before building, or stopped mid-grading: no score at all, and the reason says why.
        ensure!(record["status"] == status, "{id}: it was {}, not {status}", record["status"]);
        let reason = record["reason"].as_str().unwrap_or_default();
        for words in &entry.evidence {
            ensure!(reason.contains(words.as_str()), "{id}: the reason does not say `{words}`: {reason}");
        }
        eprintln!("self-check: {folder} {id} stopped ({status}): {reason}");
        return Ok(());
    }
    ensure!(record["status"] == "graded", "{id}: it was not graded: {}", record["reason"]);
    let checks = record["checks"].as_array().context("checks")?;
    // Caught by the containment: the check it tries is the one that must earn nothing.
    let caught_on = match entry.caught_by.as_str() {
        "containment" => {
            entry.tries.as_deref().context("a fixture caught by the containment names the check it tries")?
        }
        check => check,
    };
    let check = checks.iter().find(|c| c["id"] == caught_on).context("its check is not in the record")?;
    let evidence = check["evidence"].as_str().unwrap_or_default();
    for words in &entry.evidence {
        ensure!(evidence.contains(words.as_str()), "{id}: the evidence does not say `{words}`: {evidence}");
    }
    if entry.caught_by == "correctness" {
        ensure!(check["passed"] == false, "{id}: it passed the correctness gate");
        for other in checks {
            let points = other["points"].as_f64().unwrap_or(f64::NAN);
            ensure!(points == 0.0, "{id}: it still earned {points} on {}", other["id"]);
        }
    } else {
        let points = check["points"].as_f64().unwrap_or(f64::NAN);
        ensure!(points == 0.0, "{id}: it still earned {points} on {caught_on}");
    }
    let score = record["score"].as_f64().unwrap_or(f64::NAN);
    ensure!(folder != "hostile" || score <= STARTER_MAX, "{id}: it scores {score}, above {STARTER_MAX}");
    eprintln!("self-check: {folder} {id} caught by {} on {caught_on} (score {score}): {evidence}", entry.caught_by);
    Ok(())
}

/// The starter with only `fault` fixed earns `check`'s points and no more
/// than the starter on any other check; the solution without only that fix
/// loses `check`'s points (graded on that check alone). Two grading runs.
///
/// `<fault>.patch` fixes only that fault in the starter (`exercises/<lab>/src`);
/// `<fault>.revert.patch` takes only that fix out of the solution.
fn fault_is_separable(
    grader: &Path,
    lab: &str,
    name: &str,
    check: &str,
    (starter, solution): (&Value, &Value),
    seed: u64,
) -> anyhow::Result<()> {
    let fault = &format!("{lab}/{name}");
    let fixtures = root().join("labs").join(lab).join("fixtures/faults");
    // Each patched into the lab's one fixture folder, graded before the next.
    let folder =
        patched(&format!("exercises/{lab}/src"), &fixtures.join(format!("{name}.patch")), fault, "fixed", false)?;
    let fixed = grade(grader, lab, path_str(&folder)?, Some(seed))?;
    let folder = patched(
        &format!("solutions/{lab}/src"),
        &fixtures.join(format!("{name}.revert.patch")),
        fault,
        "reverted",
        false,
    )?;
    // The revert need only lose its own check (the bound on cost):
    // it is graded on that check and the gate alone.
    let reverted = grade_only(grader, lab, path_str(&folder)?, Some(seed), Some(check))?;
    for (record, who) in [(&fixed, "the starter with only this fix"), (&reverted, "the solution without this fix")] {
        ensure!(record["status"] == "graded", "{fault}: {who} was not graded: {}", record["reason"]);
    }
    // Counts repeat to a few parts in ten thousand; a tenth of a point is rounding.
    const SAME: f64 = 0.15;
    for spec in solution["checks"].as_array().context("checks")? {
        let id = spec["id"].as_str().unwrap_or("?");
        let start = points(starter, id);
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
fn patched(tree: &str, patch: &Path, fault: &str, variant: &str, beside_src: bool) -> anyhow::Result<PathBuf> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    // One folder per lab for every fixture: the grader's overlay of it is
    // reused, so the lab's own crates compile once and only the exercise
    // crate is rebuilt for each fixture.
    let lab = fault.split('/').next().unwrap_or(fault);
    let folder = target_dir.join("selfcheck").join(format!("{lab}-fixture"));
    eprintln!("self-check: {fault} ({variant})");
    let src = folder.join("src");
    // Nothing of an earlier fixture stays, in `src/` or beside it.
    if folder.exists() {
        for entry in std::fs::read_dir(&folder).with_context(|| format!("reading {}", folder.display()))? {
            let path = entry?.path();
            let cleared = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            cleared.with_context(|| format!("clearing {}", path.display()))?;
        }
    }
    copy_dir(&root().join(tree), &src)?;
    // Outside any repository's view, `git apply` is a plain `patch -p1`.
    let status = Command::new("git")
        .args(["apply", "-p1"])
        .arg(patch)
        .current_dir(if beside_src { &folder } else { &src })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every lab's mutants and hostile fixtures are listed, with a patch each
    /// and a base tree that exists, before any grading is spent on them.
    #[test]
    fn every_planted_fixture_is_listed_with_its_patch() {
        for lab in labs().expect("labs") {
            let mutants = mutants(&lab).expect("mutants.toml matches fixtures/mutants/");
            let hostile = planted(&lab, "hostile", "hostile").expect("hostile.toml matches fixtures/hostile/");
            for entry in mutants.iter().chain(&hostile) {
                assert!(root().join(entry.base.tree(&lab)).is_dir(), "{lab}/{}: no {:?} tree", entry.id, entry.base);
            }
        }
    }
}
