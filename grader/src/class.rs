//! Grading a class: every submission in a folder, one after another, with
//! one seed for the whole batch.
//!
//! A submission is a folder (a student's copy of the kit, their
//! `exercises/<lab>` folder, or a folder holding `src/`), a git repository
//! (cloned), or a `.tar.gz` (unpacked without links or paths outside it), as
//! GitHub Classroom and LMS downloads give them. Each lab's `src/` is found
//! in it and graded as `grade --target <folder>` would grade it: laid over a
//! clean copy of the kit, built, run contained. Results are kept per
//! student under the output folder (`students/<name>/`: the record and its
//! exports), so a batch that is stopped and started again goes on where it
//! stopped; the gradebook is written from every record at the end. One
//! student's broken or hostile submission is that student's record, never
//! the end of the batch.
//!
//! Before the students, the kit's solution of each lab is graded once on the
//! batch's seed (`reference/<lab>.json`, kept on a restart like a
//! student's record) so that each student's feedback page can draw it
//! beside theirs; `class.html` shows the whole batch.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, bail};
use futures_util::FutureExt as _;

use crate::build::{Kit, Target};
use crate::export::{self, GradescopeOptions, Visibility};
use crate::labs::{self, Context};
use crate::pages;
use crate::record::{LabRecord, Record, Status};
use crate::report::Progress;
use crate::rubric::Rubric;

/// Most bytes a `.tar.gz` submission may unpack to.
const UNPACKED_LIMIT: u64 = 256 << 20;
/// Most entries a `.tar.gz` submission may hold.
const ENTRY_LIMIT: usize = 20_000;

/// What `grader class` was asked to do.
#[derive(Debug, Clone)]
pub struct ClassOptions {
    /// The folder of submissions.
    pub dir: PathBuf,
    /// Labs to grade in each submission (every lab when empty).
    pub labs: Vec<String>,
    /// Where records, exports and the gradebook go.
    pub out: PathBuf,
    pub seed: Option<u64>,
    pub leaderboard: bool,
    pub quiet: bool,
}

/// One student's work, as found in the folder of submissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub student: String,
    /// The folder that holds the student's files (unpacked or cloned when
    /// the submission was an archive or a repository).
    pub root: PathBuf,
}

/// The batch's fixed facts, kept in `class.json` so a restart reuses them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Batch {
    seed: u64,
    labs: Vec<String>,
    /// The kit's commit: records kept from another kit would not compare.
    kit_commit: Option<String>,
}

/// A file-name-safe student name from a file or folder name.
fn student_name(name: &str) -> String {
    let stem = name.strip_suffix(".tar.gz").or_else(|| name.strip_suffix(".tgz")).or_else(|| name.strip_suffix(".git"));
    stem.unwrap_or(name).chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

/// A submission that could not be read: the student, and why in one line.
pub type Unreadable = (String, String);

/// Every submission in `dir`, in name order, unpacking archives and cloning
/// bare repositories under `work`; and what could not be read, a line each.
pub fn discover(dir: &Path, work: &Path) -> anyhow::Result<(Vec<Submission>, Vec<Unreadable>)> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading the submissions folder {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|entry| entry.file_name());
    let (mut found, mut problems) = (Vec::new(), Vec::new());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let student = student_name(&name);
        let path = entry.path();
        let kind = entry.file_type()?;
        let root = if kind.is_dir() && path.join("HEAD").is_file() && path.join("objects").is_dir() {
            clone(&path, &work.join(&student))
        } else if kind.is_dir() {
            Ok(path)
        } else if kind.is_file() && (name.ends_with(".tar.gz") || name.ends_with(".tgz")) {
            unpack(&path, &work.join(&student))
        } else {
            Err(anyhow::anyhow!("not a folder, a git repository or a .tar.gz"))
        };
        match root {
            Ok(root) => found.push(Submission { student, root }),
            Err(err) => problems.push((student, format!("{name}: {err:#}"))),
        }
    }
    Ok((found, problems))
}

/// A bare repository's default branch, checked out fresh into `dest`.
fn clone(repo: &Path, dest: &Path) -> anyhow::Result<PathBuf> {
    if dest.exists() {
        std::fs::remove_dir_all(dest).with_context(|| format!("clearing {}", dest.display()))?;
    }
    let status = std::process::Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks", "--"])
        .arg(repo)
        .arg(dest)
        .env("GIT_TERMINAL_PROMPT", "0")
        .status()
        .context("running git clone")?;
    anyhow::ensure!(status.success(), "git clone failed");
    Ok(dest.to_path_buf())
}

/// Unpacks a `.tar.gz` into `dest` (emptied first): regular files and
/// folders only (no links, devices or paths outside it), within
/// [`UNPACKED_LIMIT`] bytes and [`ENTRY_LIMIT`] entries. When everything sits
/// in one top folder, that folder is the submission.
pub fn unpack(archive: &Path, dest: &Path) -> anyhow::Result<PathBuf> {
    if dest.exists() {
        std::fs::remove_dir_all(dest).with_context(|| format!("clearing {}", dest.display()))?;
    }
    std::fs::create_dir_all(dest)?;
    let file = std::fs::File::open(archive).with_context(|| format!("opening {}", archive.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    tar.set_preserve_permissions(false);
    tar.set_unpack_xattrs(false);
    let (mut bytes, mut count) = (0u64, 0usize);
    for entry in tar.entries().context("not a .tar.gz")? {
        let mut entry = entry.context("a damaged .tar.gz")?;
        count += 1;
        bytes += entry.header().size().unwrap_or(0);
        if count > ENTRY_LIMIT || bytes > UNPACKED_LIMIT {
            bail!("it unpacks to more than {ENTRY_LIMIT} entries or {} MiB", UNPACKED_LIMIT >> 20);
        }
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            continue;
        }
        if !entry.unpack_in(dest).context("unpacking")? {
            bail!(
                "it holds a path outside itself: {}",
                entry.path().map(|p| p.display().to_string()).unwrap_or_default()
            );
        }
    }
    let top: Vec<PathBuf> = std::fs::read_dir(dest)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    Ok(match top.as_slice() {
        [only] if only.is_dir() && !only.join("src").is_dir() && only.file_name().is_some_and(|n| n != "src") => {
            only.clone()
        }
        _ => dest.to_path_buf(),
    })
}

/// The folder holding `lab`'s `src/` in a submission: the student's copy of
/// the kit (`exercises/<lab>`), a folder named for the lab, or the
/// submission itself.
pub fn lab_folder(root: &Path, lab: &str, editable: &str) -> Option<PathBuf> {
    let crate_dir = Path::new(editable).parent().unwrap_or(Path::new(""));
    [root.join(crate_dir), root.join(lab), root.to_path_buf()].into_iter().find(|folder| folder.join("src").is_dir())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    // Written whole then renamed: a batch stopped mid-write leaves no half record.
    let partial = path.with_extension("partial");
    std::fs::write(&partial, text).with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("writing {}", path.display()))
}

/// A student's record kept from an earlier run of this batch, if any.
fn kept(path: &Path, seed: u64) -> Option<Record> {
    let record: Record = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    (record.environment.seed == seed).then_some(record)
}

/// Grades `target` on one lab; a panic of the grader's own is that lab's
/// record (the batch goes on).
async fn grade_caught(ctx: &Context<'_>, rubric: &Rubric, target: &Target) -> LabRecord {
    match std::panic::AssertUnwindSafe(labs::grade(ctx, rubric, target)).catch_unwind().await {
        Ok(lab_record) => lab_record,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            labs::unscored(rubric, target, Status::Failed, format!("the grader failed on this submission: {what}"))
        }
    }
}

/// The solution's record of each lab, graded on the batch's seed unless an
/// earlier run of the batch kept one (a record not fully graded is graded again).
async fn reference(
    ctx: &Context<'_>,
    labs: &[String],
    dir: &Path,
    environment: &crate::record::Environment,
) -> anyhow::Result<Vec<Record>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut records = Vec::new();
    for lab in labs {
        let path = dir.join(format!("{}.json", pages::file_part(lab)));
        let graded = |record: &Record| record.labs.iter().all(|l| l.status == Status::Graded);
        if let Some(record) = kept(&path, ctx.seed).filter(graded) {
            eprintln!("class: reference: the solution of {lab} kept from an earlier run");
            records.push(record);
            continue;
        }
        let rubric = ctx.kit.rubric(lab)?;
        eprintln!(
            "class: reference: grading the solution of {lab} on seed {} for the feedback pages' charts (one more grading per lab)",
            ctx.seed
        );
        ctx.progress.phase(format!("reference: {} (solution)", rubric.title));
        let lab_record = grade_caught(ctx, &rubric, &Target::Solution).await;
        ctx.progress.finish();
        if lab_record.status != Status::Graded {
            eprintln!(
                "class: reference: the solution of {lab} {}: {}; the charts go without it",
                crate::report::status_word(lab_record.status),
                lab_record.reason.as_deref().unwrap_or("no reason recorded")
            );
        }
        let record = Record { labs: vec![lab_record], environment: environment.clone() };
        write(&path, &(serde_json::to_string_pretty(&record)? + "\n"))?;
        records.push(record);
    }
    Ok(records)
}

/// Writes a student's feedback page and the flamegraphs beside it into `folder`.
fn write_feedback(folder: &Path, student: &str, record: &Record, reference: &[Record]) -> anyhow::Result<()> {
    for (name, text) in pages::feedback::files(record, reference, &format!("Feedback: {student}"))? {
        write(&folder.join(name), &text)?;
    }
    Ok(())
}

/// Grades every submission in `options.dir`; see the module's documentation.
pub async fn run(kit: &Kit, options: ClassOptions) -> anyhow::Result<()> {
    let known = kit.labs()?;
    let labs = if options.labs.is_empty() { known.clone() } else { options.labs.clone() };
    if let Some(unknown) = labs.iter().find(|lab| !known.contains(lab)) {
        bail!(crate::cli::usage(format!("unknown lab {unknown:?} (labs: {})", known.join(", "))));
    }
    let out = &options.out;
    std::fs::create_dir_all(out.join("students")).with_context(|| format!("creating {}", out.display()))?;
    let batch_file = out.join("class.json");
    let kit_commit = crate::provenance::kit_state(&kit.root, &kit.editable()?).commit;
    let batch = match std::fs::read_to_string(&batch_file).ok().and_then(|t| serde_json::from_str::<Batch>(&t).ok()) {
        Some(batch) => {
            if options.seed.is_some_and(|seed| seed != batch.seed)
                || batch.labs != labs
                || batch.kit_commit != kit_commit
            {
                bail!(crate::cli::usage(format!(
                    "{} was graded with seed {} for labs {} with the kit at {}: resume it with the same, or give another --out",
                    out.display(),
                    batch.seed,
                    batch.labs.join(", "),
                    batch.kit_commit.as_deref().unwrap_or("no commit")
                )));
            }
            batch
        }
        None => {
            let seed = options.seed.or_else(crate::cli::seed_from_env).unwrap_or_else(crate::environment::fresh_seed);
            let batch = Batch { seed, labs: labs.clone(), kit_commit };
            write(&batch_file, &serde_json::to_string_pretty(&batch)?)?;
            batch
        }
    };
    let (submissions, problems) = discover(&options.dir, &out.join("work"))?;
    if submissions.is_empty() && problems.is_empty() {
        bail!(crate::cli::usage(format!("{} holds no submissions", options.dir.display())));
    }

    let valgrind = crate::measure::valgrind_version();
    let jail = crate::contain::Jail::new().context("preparing the sandbox")?;
    let environment =
        crate::environment::capture(batch.seed, valgrind.clone(), &kit.root, &kit.editable()?, jail.describe());
    let progress = Progress::new(options.quiet);
    let ctx = Context { kit, seed: batch.seed, progress: &progress, valgrind, only: None, jail: &jail };
    let gradescope = GradescopeOptions { visibility: Visibility::Visible, leaderboard: options.leaderboard };
    eprintln!(
        "class: {} submissions, labs {}, seed {}, results in {}",
        submissions.len() + problems.len(),
        labs.join(", "),
        batch.seed,
        out.display()
    );
    let reference = reference(&ctx, &labs, &out.join("reference"), &environment).await?;

    let started = Instant::now();
    let mut graded_here = 0u32;
    let total = submissions.len();
    for (i, submission) in submissions.iter().enumerate() {
        let folder = out.join("students").join(&submission.student);
        let record_path = folder.join("record.json");
        if let Some(record) = kept(&record_path, batch.seed) {
            // Written again: the page may be older than this grader, or the solution's record newer.
            write_feedback(&folder, &submission.student, &record, &reference)?;
            eprintln!(
                "class: [{}/{total}] {}: kept from an earlier run: {}",
                i + 1,
                submission.student,
                summary(&record.labs)
            );
            continue;
        }
        std::fs::create_dir_all(&folder)?;
        let left = match graded_here {
            0 => String::new(),
            n => {
                let left = started.elapsed().as_secs_f64() / f64::from(n) * (total - i) as f64;
                if left < 120.0 {
                    format!(" · about {left:.0} s left")
                } else {
                    format!(" · about {:.0} min left", left / 60.0)
                }
            }
        };
        let mut record = Record { labs: Vec::new(), environment: environment.clone() };
        for lab in &labs {
            let rubric = kit.rubric(lab)?;
            progress.phase(format!("[{}/{total}] {}: {}{left}", i + 1, submission.student, rubric.title));
            let lab_record = match lab_folder(&submission.root, lab, &rubric.editable.exercise) {
                None => labs::not_graded(
                    &rubric,
                    &Target::Submission(submission.root.clone()),
                    format!(
                        "the submission has no src/ for {lab} (looked in {}, {lab}/ and its top folder)",
                        rubric.editable.exercise.trim_end_matches("/src")
                    ),
                ),
                Some(found) => grade_caught(&ctx, &rubric, &Target::Submission(found.canonicalize()?)).await,
            };
            record.labs.push(lab_record);
        }
        progress.finish();
        write(&folder.join("feedback.md"), &export::markdown(&record))?;
        write(
            &folder.join("results.json"),
            &(serde_json::to_string_pretty(&export::gradescope(&record, gradescope))? + "\n"),
        )?;
        write(&folder.join("junit.xml"), &export::junit(&record)?)?;
        write_feedback(&folder, &submission.student, &record, &reference)?;
        write(&record_path, &(serde_json::to_string_pretty(&record)? + "\n"))?;
        graded_here += 1;
        eprintln!("class: [{}/{total}] {}: {}", i + 1, submission.student, summary(&record.labs));
    }

    // The gradebook, from every record of this batch (those kept included).
    let mut students = Vec::new();
    for submission in &submissions {
        if let Some(record) = kept(&out.join("students").join(&submission.student).join("record.json"), batch.seed) {
            students.push((submission.student.clone(), record));
        }
    }
    write(&out.join("gradebook.csv"), &export::gradebook(&students)?)?;
    let class = pages::class::Class {
        students: &students,
        unreadable: &problems,
        reference: &reference,
        leaderboard: options.leaderboard,
    };
    write(&out.join(pages::class::PAGE), &pages::class::html(&class)?)?;
    for (student, problem) in &problems {
        eprintln!("class: {student}: not graded: {problem}");
    }
    println!("{}", crate::report::class_table(&students, &problems));
    eprintln!(
        "class: {} graded in this run ({:.0} s), {} kept, {} unreadable; gradebook {}, class page {}",
        graded_here,
        started.elapsed().as_secs_f64(),
        students.len() - graded_here as usize,
        problems.len(),
        out.join("gradebook.csv").display(),
        out.join(pages::class::PAGE).display()
    );
    Ok(())
}

/// `profiling 85 / 100, caching build failed`: one line per student.
fn summary(labs: &[LabRecord]) -> String {
    labs.iter()
        .map(|lab| match lab.status {
            Status::Graded => format!("{} {} / {}", lab.lab, lab.score, lab.max_score),
            status => format!("{} {}", lab.lab, crate::report::status_word(status)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(path: &Path, entries: &[(&str, &[u8])]) {
        let file = std::fs::File::create(path).unwrap();
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
        for (name, bytes) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            // `append_data` would refuse `..`; a hostile archive is written raw.
            header.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_cksum();
            builder.append(&header, *bytes).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
    }

    #[test]
    fn submissions_are_folders_archives_and_repositories_and_the_rest_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let subs = dir.path().join("subs");
        std::fs::create_dir_all(subs.join("ana/exercises/profiling/src")).unwrap();
        tar_gz(&subs.join("ben smith.tar.gz"), &[("profiling/src/lib.rs", b"pub fn f() {}\n")]);
        std::fs::write(subs.join("notes.txt"), "hello").unwrap();
        std::fs::create_dir_all(subs.join(".DS_Store_folder")).unwrap();
        // A bare repository holding src/lib.rs.
        let work = dir.path().join("w");
        std::fs::create_dir_all(work.join("src")).unwrap();
        std::fs::write(work.join("src/lib.rs"), "pub fn g() {}\n").unwrap();
        let git = |args: &[&str], at: &Path| {
            let status = std::process::Command::new("git")
                .args(args)
                .current_dir(at)
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@t")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@t")
                .status()
                .unwrap();
            assert!(status.success(), "git {args:?}");
        };
        git(&["init", "-q"], &work);
        git(&["add", "."], &work);
        git(&["commit", "-qm", "work"], &work);
        git(&["clone", "-q", "--bare", work.to_str().unwrap(), subs.join("cy.git").to_str().unwrap()], dir.path());

        let (found, problems) = discover(&subs, &dir.path().join("out")).unwrap();
        let names: Vec<&str> = found.iter().map(|s| s.student.as_str()).collect();
        assert_eq!(names, ["ana", "ben_smith", "cy"]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].1.contains("notes.txt"), "{problems:?}");
        let editable = "exercises/profiling/src";
        assert_eq!(lab_folder(&found[0].root, "profiling", editable), Some(subs.join("ana/exercises/profiling")));
        let ben = lab_folder(&found[1].root, "profiling", editable).expect("the archive's lab folder");
        assert!(ben.join("src/lib.rs").is_file(), "{}", ben.display());
        let cy = lab_folder(&found[2].root, "profiling", editable).expect("the clone's src/");
        assert_eq!(std::fs::read_to_string(cy.join("src/lib.rs")).unwrap(), "pub fn g() {}\n");
    }

    #[test]
    fn an_archive_that_reaches_outside_itself_is_refused_and_writes_nothing_there() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("evil.tar.gz");
        tar_gz(&archive, &[("src/lib.rs", b"ok"), ("../escaped.rs", b"owned")]);
        let dest = dir.path().join("inside/evil");
        let err = unpack(&archive, &dest).expect_err("refused");
        assert!(format!("{err:#}").contains("outside"), "{err:#}");
        assert!(!dir.path().join("inside/escaped.rs").exists());
        assert!(!dir.path().join("escaped.rs").exists());
    }
}
