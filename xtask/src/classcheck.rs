//! The acceptance batch of `grader class`: a class of lab 23 submissions
//! (`labs/profiling/fixtures/class.toml`) graded in one batch, as an
//! instructor runs it. Ordinary submissions must get their expected scores;
//! a compile error, a panic, a hang, an infinite loop, a fork bomb, a memory
//! hog, an outbound connection, writes outside the scratch folder, a search
//! for other students' work and an `include_str!` of the solution must each
//! be contained and named in that student's record. The batch must finish,
//! leave no process of the sandbox's uids and none of the files the hostile
//! ones tried to leave, and a student whose record is removed must be
//! regraded to within a point of their first score while no one else is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

use anyhow::{Context, bail, ensure};
use serde_json::Value;

use crate::selfcheck::copy_dir;
use crate::shell::root;

/// The lab the batch is of.
const LAB: &str = "profiling";
/// The uids a grader process's contained processes run as, when it is
/// root (`grader::contain`: a thousand from 600000 + (its pid % 10000) x 1000).
fn sandbox_uids(grader_pid: u32) -> std::ops::Range<u32> {
    let first = 600_000 + (grader_pid % 10_000) * 1_000;
    first..first + 1_000
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Class {
    /// The student whose record is removed and regraded.
    regrade: String,
    /// Files on this machine that must not exist after the batch.
    absent: Vec<PathBuf>,
    student: Vec<Student>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Student {
    name: String,
    /// The tree copied as the student's `src/`.
    #[serde(default)]
    from: From,
    /// `class/<patch>.patch`, applied to it.
    #[serde(default)]
    patch: Option<String>,
    status: String,
    /// The inclusive range the score must fall in (0 when absent).
    #[serde(default)]
    score: Option<[f64; 2]>,
    /// Words the record's reason must hold.
    #[serde(default)]
    reason: Vec<String>,
}

#[derive(Debug, Default, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum From {
    #[default]
    Exercise,
    Solution,
    Partial,
}

impl From {
    fn tree(self) -> PathBuf {
        match self {
            From::Exercise => root().join("exercises").join(LAB).join("src"),
            From::Solution => root().join("solutions").join(LAB).join("src"),
            From::Partial => root().join("labs").join(LAB).join("fixtures/partial/src"),
        }
    }
}

fn fixtures() -> PathBuf {
    root().join("labs").join(LAB).join("fixtures")
}

fn class() -> anyhow::Result<Class> {
    let path = fixtures().join("class.toml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| path.display().to_string())
}

/// Grades the class with `grader` on `seed` and checks every record (a job
/// of the self-check, which builds the grader and sets up the sandbox).
pub fn run(grader: &Path, seed: u64) -> anyhow::Result<()> {
    let class = class()?;
    let batch = batch_dir()?;
    if batch.exists() {
        std::fs::remove_dir_all(&batch).with_context(|| format!("clearing {}", batch.display()))?;
    }
    let (submissions, out) = (batch.join("submissions"), batch.join("grades"));
    for student in &class.student {
        submission(student, &submissions.join(&student.name))?;
    }
    for path in &class.absent {
        ensure!(
            !path.exists(),
            "{} exists before the batch: remove it, it is what the batch checks for",
            path.display()
        );
    }
    let started = Instant::now();
    let pid = grade_class(grader, &submissions, &out, seed)?;
    let took = started.elapsed();
    let first = records(&out, &class)?;
    for student in &class.student {
        expect(student, &first[&student.name])?;
    }
    let gradebook = std::fs::read_to_string(out.join("gradebook.csv")).context("reading the gradebook")?;
    for student in &class.student {
        ensure!(
            gradebook.lines().any(|line| line.starts_with(&format!("{},", student.name))),
            "the gradebook has no row for {}",
            student.name
        );
    }
    left_as_it_was(&class, pid)?;
    eprintln!(
        "classcheck: {} submissions of lab 23 graded in {:.1} min ({:.0} s each), every record as expected",
        class.student.len(),
        took.as_secs_f64() / 60.0,
        took.as_secs_f64() / class.student.len() as f64
    );

    // A regrade of one student: only they are graded again, to the same score within a point.
    let kept: BTreeMap<String, SystemTime> = class
        .student
        .iter()
        .filter(|s| s.name != class.regrade)
        .map(|s| Ok((s.name.clone(), std::fs::metadata(record_path(&out, &s.name))?.modified()?)))
        .collect::<anyhow::Result<_>>()?;
    std::fs::remove_dir_all(out.join("students").join(&class.regrade))
        .with_context(|| format!("removing {}'s record", class.regrade))?;
    let pid = grade_class(grader, &submissions, &out, seed)?;
    for (name, modified) in &kept {
        ensure!(
            std::fs::metadata(record_path(&out, name))?.modified()? == *modified,
            "the restart regraded {name}, whose record was kept"
        );
    }
    let again = records(&out, &class)?;
    let (was, is) = (score(&first[&class.regrade]), score(&again[&class.regrade]));
    ensure!(
        (was - is).abs() <= 1.0,
        "{} scored {was}, then {is} on the regrade: more than a point apart",
        class.regrade
    );
    left_as_it_was(&class, pid)?;
    eprintln!("classcheck: {} regraded alone: {was} then {is}", class.regrade);
    Ok(())
}

/// A generated class of `size` ordinary submissions of lab 23, graded in
/// one batch and timed: in turn a starter, a solution, the partial
/// fixture, and for each `[[fault]]` of the rubric the starter with only
/// its fix and the solution with only its fix taken out. Each kind's score
/// must be what the self-check proves of it; the time is printed.
pub fn timed(size: usize) -> anyhow::Result<()> {
    crate::services::ensure_sandbox(true)?;
    let grader = crate::selfcheck::grader()?;
    let seed = crate::selfcheck::run_seed();
    let (batch, faults) = (batch_dir()?.with_file_name("classcheck-timed"), fault_checks()?);
    if batch.exists() {
        std::fs::remove_dir_all(&batch).with_context(|| format!("clearing {}", batch.display()))?;
    }
    let (submissions, out) = (batch.join("submissions"), batch.join("grades"));
    let mut kinds: Vec<(String, PathBuf, Option<PathBuf>)> = vec![
        ("starter".into(), From::Exercise.tree(), None),
        ("solution".into(), From::Solution.tree(), None),
        ("partial".into(), From::Partial.tree(), None),
    ];
    for (fault, _) in &faults {
        let patch = |suffix: &str| fixtures().join("faults").join(format!("{fault}{suffix}.patch"));
        kinds.push((format!("fix-{fault}"), From::Exercise.tree(), Some(patch(""))));
        kinds.push((format!("without-{fault}"), From::Solution.tree(), Some(patch(".revert"))));
    }
    let mut students = Vec::new();
    for (i, (kind, tree, patch)) in kinds.iter().cycle().take(size).enumerate() {
        let name = format!("s{:02}-{kind}", i + 1);
        let src = submissions.join(&name).join("src");
        copy_dir(tree, &src)?;
        if let Some(patch) = patch {
            apply(patch, &src, &submissions.join(&name))?;
        }
        students.push((name, kind.clone()));
    }
    let started = Instant::now();
    grade_class(&grader, &submissions, &out, seed)?;
    let took = started.elapsed().as_secs_f64();
    let mut starter = None;
    let mut scores = Vec::new();
    for (name, kind) in &students {
        let text = std::fs::read_to_string(record_path(&out, name)).with_context(|| format!("{name} has no record"))?;
        let record: Value = serde_json::from_str(&text)?;
        let score = score(&record["labs"][0]);
        if kind == "starter" {
            starter = Some(score);
        }
        scores.push((name, kind, score));
    }
    let starter = starter.context("the class has no starter")?;
    let partial = class()?.student.iter().find(|s| s.name == "partial").and_then(|s| s.score).unwrap_or([0.0, 100.0]);
    let partial = (partial[0], partial[1]);
    for (name, kind, score) in &scores {
        let check_points = |fault: &str| faults.iter().find(|(f, _)| f == fault).map(|(_, points)| *points);
        let (low, high) = match kind.as_str() {
            "starter" => (0.0, crate::selfcheck::STARTER_MAX),
            "solution" => (crate::selfcheck::SOLUTION_MIN, 100.0),
            "partial" => partial,
            other => match (other.strip_prefix("fix-"), other.strip_prefix("without-")) {
                (Some(fault), _) => {
                    let points = check_points(fault).unwrap_or(0.0);
                    (starter + points - 1.0, starter + points + 1.0)
                }
                (_, Some(fault)) => {
                    let points = check_points(fault).unwrap_or(0.0);
                    (100.0 - points - 1.0, 100.0 - points + 1.0)
                }
                _ => bail!("{name}: a kind of submission the check does not know"),
            },
        };
        ensure!((low..=high).contains(score), "{name}: scored {score}, expected {low} to {high}");
    }
    eprintln!(
        "classcheck: {size} generated submissions of lab 23 graded in {:.1} min ({:.0} s each, the solution's reference grading included); every score as its kind expects",
        took / 60.0,
        took / size as f64
    );
    Ok(())
}

/// Each `[[fault]]` of the lab's rubric and the points of the check it maps to.
fn fault_checks() -> anyhow::Result<Vec<(String, f64)>> {
    let path = root().join("labs").join(LAB).join("rubric.toml");
    let rubric: toml::Table = toml::from_str(&std::fs::read_to_string(&path)?).context("reading the rubric")?;
    let list = |key: &str| rubric.get(key).and_then(toml::Value::as_array).cloned().unwrap_or_default();
    let checks = list("check");
    list("fault")
        .iter()
        .map(|fault| {
            let (id, check) = (fault["id"].as_str().unwrap_or_default(), fault["check"].as_str().unwrap_or_default());
            let points = checks
                .iter()
                .find(|c| c["id"].as_str() == Some(check))
                .and_then(|c| c["points"].as_float().or_else(|| c["points"].as_integer().map(|p| p as f64)))
                .with_context(|| format!("fault {id}: no check {check} with points"))?;
            Ok((id.to_string(), points))
        })
        .collect()
}

fn batch_dir() -> anyhow::Result<PathBuf> {
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    Ok(target_dir.join("classcheck"))
}

/// Applies `patch` to `src` (outside any repository's view, a plain `patch -p1`).
fn apply(patch: &Path, src: &Path, folder: &Path) -> anyhow::Result<()> {
    let status = Command::new("git")
        .args(["apply", "-p1"])
        .arg(patch)
        .current_dir(src)
        .env("GIT_CEILING_DIRECTORIES", folder)
        .status()
        .context("running git apply")?;
    ensure!(status.success(), "{} no longer applies", patch.display());
    Ok(())
}

/// `folder/src`: the student's tree, patched.
fn submission(student: &Student, folder: &Path) -> anyhow::Result<()> {
    let src = folder.join("src");
    copy_dir(&student.from.tree(), &src)?;
    if let Some(patch) = &student.patch {
        let patch = fixtures().join("class").join(format!("{patch}.patch"));
        ensure!(patch.is_file(), "{}: no {}", student.name, patch.display());
        apply(&patch, &src, folder)?;
    }
    Ok(())
}

/// Runs `grader class`; returns the grader's pid.
fn grade_class(grader: &Path, submissions: &Path, out: &Path, seed: u64) -> anyhow::Result<u32> {
    let mut command = Command::new(grader);
    command.arg("class").arg(submissions).args(["--lab", LAB, "--seed", &seed.to_string(), "--out"]).arg(out);
    for (key, value) in crate::services::exports() {
        command.env(key, value);
    }
    eprintln!("classcheck: grader class {} --lab {LAB} --seed {seed}", submissions.display());
    let mut child = command.spawn().context("running grader class")?;
    let status = child.wait().context("waiting for grader class")?;
    ensure!(status.success(), "grader class exited with {status}");
    Ok(child.id())
}

fn record_path(out: &Path, name: &str) -> PathBuf {
    out.join("students").join(name).join("record.json")
}

/// Each student's lab record.
fn records(out: &Path, class: &Class) -> anyhow::Result<BTreeMap<String, Value>> {
    let mut records = BTreeMap::new();
    for student in &class.student {
        let path = record_path(out, &student.name);
        let text = std::fs::read_to_string(&path).with_context(|| format!("{} has no record", student.name))?;
        let record: Value = serde_json::from_str(&text).with_context(|| path.display().to_string())?;
        let containment = record["environment"]["containment"].as_str().unwrap_or("NOT CONTAINED (not recorded)");
        ensure!(!containment.starts_with("NOT CONTAINED"), "{} was graded uncontained: {containment}", student.name);
        let lab = record["labs"].get(0).cloned().with_context(|| format!("{}'s record has no lab", student.name))?;
        records.insert(student.name.clone(), lab);
    }
    Ok(records)
}

fn score(lab: &Value) -> f64 {
    lab["score"].as_f64().unwrap_or(f64::NAN)
}

/// The record holds what the class file says of the student.
fn expect(student: &Student, lab: &Value) -> anyhow::Result<()> {
    let (name, reason) = (&student.name, lab["reason"].as_str().unwrap_or(""));
    ensure!(
        lab["status"] == student.status.as_str(),
        "{name}: status {} (reason: {reason}), expected {}",
        lab["status"],
        student.status
    );
    let [low, high] = student.score.unwrap_or([0.0, 0.0]);
    let score = score(lab);
    ensure!((low..=high).contains(&score), "{name}: scored {score}, expected {low} to {high} (reason: {reason})");
    for word in &student.reason {
        ensure!(reason.contains(word.as_str()), "{name}: the reason does not say {word:?}: {reason}");
    }
    eprintln!("classcheck: {name}: {} {score}", student.status);
    if !reason.is_empty() {
        eprintln!("classcheck:   {reason}");
    }
    Ok(())
}

/// No process of the uids the batch's grader (process `pid`) gave its
/// sandboxes runs, and no file the hostile submissions tried to leave exists.
fn left_as_it_was(class: &Class, pid: u32) -> anyhow::Result<()> {
    // The sandbox kills what a grading started when the grading ends; allow it a moment.
    let uids = sandbox_uids(pid);
    let mut left = sandbox_processes(&uids)?;
    for _ in 0..20 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
        left = sandbox_processes(&uids)?;
    }
    if !left.is_empty() {
        bail!("processes of the sandbox's uids outlived the batch: {left:?}");
    }
    for path in &class.absent {
        ensure!(!path.exists(), "{} exists after the batch: a submission wrote outside its sandbox", path.display());
    }
    Ok(())
}

/// `pid uid command` of every process whose real uid is one of `uids`.
fn sandbox_processes(uids: &std::ops::Range<u32>) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").context("reading /proc")? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // A process may end while it is read: skip it then.
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else { continue };
        let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().next());
        if let Some(uid) = uid.and_then(|u| u.parse::<u32>().ok()).filter(|uid| uids.contains(uid)) {
            let command = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            found.push(format!("{name} uid {uid} {}", command.trim()));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The class file parses, names every patch under `class/` once, and each
    /// patch applies to the tree it names, before any grading is spent.
    #[test]
    fn the_class_file_and_its_patches_agree() {
        let class = class().expect("class.toml parses");
        assert!(class.student.iter().any(|s| s.name == class.regrade), "the regraded student is in the class");
        let mut patches: Vec<String> = std::fs::read_dir(fixtures().join("class"))
            .expect("class/")
            .map(|e| e.expect("entry").file_name().to_string_lossy().trim_end_matches(".patch").to_string())
            .collect();
        patches.sort();
        let mut named: Vec<String> = class.student.iter().filter_map(|s| s.patch.clone()).collect();
        named.sort();
        assert_eq!(patches, named, "every patch under class/ is one student's, and every student's patch exists");
        let dir = tempfile::tempdir().expect("tempdir");
        for student in &class.student {
            submission(student, &dir.path().join(&student.name)).expect("the patch applies");
        }
    }
}
