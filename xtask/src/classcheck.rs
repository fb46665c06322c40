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

use crate::selfcheck::{copy_dir, grader, run_seed};
use crate::shell::root;

/// The lab the batch is of.
const LAB: &str = "profiling";
/// The contained processes' uids (`grader::contain`: 600000 and up, when the grader is root).
const SANDBOX_UIDS: std::ops::Range<u32> = 600_000..10_600_000;

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

pub fn run() -> anyhow::Result<()> {
    crate::services::ensure_sandbox(true)?;
    let class = class()?;
    let grader = grader()?;
    let seed = run_seed();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    let batch = target_dir.join("classcheck");
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
    let before = sandbox_processes()?;
    ensure!(before.is_empty(), "processes of the sandbox's uids run before the batch: {before:?}");

    let started = Instant::now();
    grade_class(&grader, &submissions, &out, seed)?;
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
    left_as_it_was(&class)?;
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
    grade_class(&grader, &submissions, &out, seed)?;
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
    left_as_it_was(&class)?;
    eprintln!("classcheck: {} regraded alone: {was} then {is}", class.regrade);
    Ok(())
}

/// `folder/src`: the student's tree, patched.
fn submission(student: &Student, folder: &Path) -> anyhow::Result<()> {
    let src = folder.join("src");
    copy_dir(&student.from.tree(), &src)?;
    if let Some(patch) = &student.patch {
        let patch = fixtures().join("class").join(format!("{patch}.patch"));
        ensure!(patch.is_file(), "{}: no {}", student.name, patch.display());
        // Outside any repository's view, `git apply` is a plain `patch -p1`.
        let status = Command::new("git")
            .args(["apply", "-p1"])
            .arg(&patch)
            .current_dir(&src)
            .env("GIT_CEILING_DIRECTORIES", folder)
            .status()
            .context("running git apply")?;
        ensure!(status.success(), "{} no longer applies to {}", patch.display(), student.from.tree().display());
    }
    Ok(())
}

fn grade_class(grader: &Path, submissions: &Path, out: &Path, seed: u64) -> anyhow::Result<()> {
    let mut command = Command::new(grader);
    command.arg("class").arg(submissions).args(["--lab", LAB, "--seed", &seed.to_string(), "--out"]).arg(out);
    for (key, value) in crate::services::exports() {
        command.env(key, value);
    }
    eprintln!("classcheck: grader class {} --lab {LAB} --seed {seed}", submissions.display());
    let status = command.status().context("running grader class")?;
    ensure!(status.success(), "grader class exited with {status}");
    Ok(())
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

/// No process of the sandbox's uids runs and no file the batch's hostile
/// submissions tried to leave exists.
fn left_as_it_was(class: &Class) -> anyhow::Result<()> {
    // The sandbox kills what a grading started when the grading ends; allow it a moment.
    let mut left = sandbox_processes()?;
    for _ in 0..20 {
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
        left = sandbox_processes()?;
    }
    if !left.is_empty() {
        bail!("processes of the sandbox's uids outlived the batch: {left:?}");
    }
    for path in &class.absent {
        ensure!(!path.exists(), "{} exists after the batch: a submission wrote outside its sandbox", path.display());
    }
    Ok(())
}

/// `pid uid command` of every process whose real uid is one of the sandbox's.
fn sandbox_processes() -> anyhow::Result<Vec<String>> {
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
        if let Some(uid) = uid.and_then(|u| u.parse::<u32>().ok()).filter(|uid| SANDBOX_UIDS.contains(uid)) {
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
