//! Building targets with cargo, and overlays for submission folders.
//!
//! A submission folder holds only what a student may edit (`src/`). It is
//! laid over a clean copy of the kit, so the manifest, the driver binaries,
//! the baseline and the checks are always the kit's own. Every build shares
//! the kit's target directory, so dependencies compile once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::report::Progress;
use crate::rubric::Rubric;

/// Longest a build may take (a cold release build of the kit is ~12 min on 2 cores).
pub const BUILD_LIMIT: Duration = Duration::from_secs(45 * 60);

/// The kit being graded: where it lives and where it builds.
#[derive(Debug, Clone)]
pub struct Kit {
    pub root: PathBuf,
    pub target_dir: PathBuf,
    pub cargo: String,
}

impl Kit {
    /// The kit at `root` when given, else the one around the current
    /// directory (as cargo finds a workspace). Never a path compiled into
    /// the binary: one target directory may serve several clones.
    pub fn discover(root: Option<PathBuf>) -> anyhow::Result<Kit> {
        let root = match root {
            Some(root) => {
                let root = root.canonicalize().with_context(|| format!("finding the kit at {}", root.display()))?;
                anyhow::ensure!(
                    lab_protocol::kit::is_root(&root),
                    "{} is not the lab kit (no workspace Cargo.toml with labs/ and grader/)",
                    root.display()
                );
                root
            }
            None => lab_protocol::kit::root_from_current_dir().map_err(anyhow::Error::msg)?,
        };
        let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        Ok(Kit { root, target_dir, cargo })
    }

    pub fn rubric(&self, lab: &str) -> anyhow::Result<Rubric> {
        Rubric::load(&self.root.join("labs").join(lab).join("rubric.toml"))
    }

    /// The folders students may edit: every lab's editable tree, and the project's `src/`.
    pub fn editable(&self) -> anyhow::Result<Vec<String>> {
        let mut folders = vec!["project/src".to_string()];
        for lab in self.labs()? {
            folders.push(self.rubric(&lab)?.editable.exercise);
        }
        Ok(folders)
    }

    /// Labs that have a rubric, in name order.
    pub fn labs(&self) -> anyhow::Result<Vec<String>> {
        let mut labs = Vec::new();
        for entry in std::fs::read_dir(self.root.join("labs")).context("listing labs/")? {
            let entry = entry?;
            if entry.path().join("rubric.toml").is_file() {
                labs.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        labs.sort();
        Ok(labs)
    }
}

/// What to grade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Baseline,
    Exercise,
    Solution,
    /// A folder with the student's `src/`.
    Submission(PathBuf),
}

impl Target {
    /// `exercise`, `solution`, `baseline`, or a path to a folder holding `src/`.
    pub fn parse(text: &str) -> Result<Target, String> {
        match text {
            "exercise" => Ok(Target::Exercise),
            "solution" => Ok(Target::Solution),
            "baseline" => Ok(Target::Baseline),
            path => {
                let path = PathBuf::from(path);
                if path.join("src").is_dir() {
                    path.canonicalize().map(Target::Submission).map_err(|err| format!("{}: {err}", path.display()))
                } else {
                    Err(format!(
                        "unknown target {text:?}: use exercise, solution, baseline, or a folder that holds a src/ directory"
                    ))
                }
            }
        }
    }

    pub fn label(&self) -> String {
        match self {
            Target::Baseline => "baseline".into(),
            Target::Exercise => "exercise".into(),
            Target::Solution => "solution".into(),
            Target::Submission(path) => path.display().to_string(),
        }
    }

    /// A file-name-safe key for this target's binaries.
    fn key(&self) -> String {
        match self {
            Target::Submission(path) => {
                let name: String = path
                    .file_name()
                    .map(|n| {
                        n.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
                    })
                    .unwrap_or_default();
                format!("submission-{name}-{:08x}", fnv(path.to_string_lossy().as_bytes()) as u32)
            }
            other => other.label(),
        }
    }
}

pub(crate) fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

/// A target's driver binaries, copied out of cargo's target directory so later builds cannot replace them.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub main: PathBuf,
    /// The `-heap` driver (dhat), for labs that measure allocations.
    pub heap: Option<PathBuf>,
    /// The `src/` folder the binaries were built from (an overlay's copy for
    /// a submission), for labs that read files beside the code (lab 26's
    /// alert rules).
    pub src: PathBuf,
}

/// Why a build failed.
#[derive(Debug)]
pub enum BuildError {
    /// The compiler refused the code: its first error, in one line.
    Compile(String),
    /// The sources reach outside their `src/` at compile time ([`crate::sources`]): where, in one line.
    Refused(String),
    /// Anything else (cargo missing, disk full...).
    Other(anyhow::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Compile(first) => write!(f, "does not compile: {first}"),
            BuildError::Refused(line) => write!(f, "refused before building: {line}"),
            BuildError::Other(err) => write!(f, "build failed: {err:#}"),
        }
    }
}

impl std::error::Error for BuildError {}

impl From<anyhow::Error> for BuildError {
    fn from(err: anyhow::Error) -> Self {
        BuildError::Other(err)
    }
}

/// Builds `target`'s driver binaries for `rubric`'s lab in release mode.
pub async fn build(kit: &Kit, rubric: &Rubric, target: &Target, progress: &Progress) -> Result<Binaries, BuildError> {
    let sources = match target {
        Target::Exercise => Some(kit.root.join(&rubric.editable.exercise)),
        Target::Submission(folder) => Some(folder.join("src")),
        Target::Baseline | Target::Solution => None,
    };
    if let Some(src) = sources
        && let Some(line) = crate::sources::escape(&src).map_err(BuildError::Other)?
    {
        return Err(BuildError::Refused(line));
    }
    // `package` names the driver binaries; `build_as` is the package cargo builds.
    let (package, build_as, manifest) = match target {
        Target::Baseline => (&rubric.packages.baseline, rubric.packages.baseline.clone(), kit.root.join("Cargo.toml")),
        Target::Exercise => (&rubric.packages.exercise, rubric.packages.exercise.clone(), kit.root.join("Cargo.toml")),
        Target::Solution => (&rubric.packages.solution, rubric.packages.solution.clone(), kit.root.join("Cargo.toml")),
        Target::Submission(src) => {
            let (dir, renamed) = overlay(kit, rubric, src, &target.key()).map_err(BuildError::Other)?;
            (&rubric.packages.exercise, renamed, dir.join("Cargo.toml"))
        }
    };
    let editable = &rubric.editable.exercise;
    let src = match target {
        Target::Exercise => kit.root.join(editable),
        Target::Submission(_) => manifest.parent().unwrap_or(&kit.root).join(editable),
        // The parallel trees: exercises/<lab>/src, solutions/<lab>/src, labs/<lab>/baseline/src.
        Target::Solution => kit.root.join(editable.replacen("exercises/", "solutions/", 1)),
        Target::Baseline => kit.root.join("labs").join(&rubric.lab).join("baseline/src"),
    };
    let lock = BuildLock::acquire(kit, progress).await?;
    progress.phase(format!("building {package} for {} (release)", target.label()));
    let executables =
        cargo_build(kit, &manifest, &build_as, &[package.clone(), format!("{package}-heap")], progress).await?;
    let out = kit.target_dir.join("grader").join("bin").join(&rubric.lab).join(target.key());
    let main = copy_out(&executables, package, &out)?;
    let heap_name = format!("{package}-heap");
    let heap = match executables.contains_key(&heap_name) {
        true => Some(copy_out(&executables, &heap_name, &out)?),
        false => None,
    };
    drop(lock);
    Ok(Binaries { main, heap, src })
}

/// Held from before a build until its binaries are copied out, across every
/// grading that shares the target directory: cargo puts every build of a
/// package at the same `target/release/<bin>`, and [`crate::freshness`]
/// cleans another tree's build of a package before building its own, so two
/// gradings building at once could each be handed the other's binary.
/// Cargo's own lock covers only the build, not the copy after it.
#[derive(Debug)]
pub struct BuildLock {
    /// Locked while open: closing it (on drop) lets go.
    _file: std::fs::File,
}

impl BuildLock {
    /// Waits (saying so) while another grading holds it. Released on drop.
    pub async fn acquire(kit: &Kit, progress: &Progress) -> Result<BuildLock, BuildError> {
        let dir = kit.target_dir.join("grader");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("build.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => return Ok(BuildLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => {
                progress.phase("waiting for another grading's build in this target directory");
            }
            Err(std::fs::TryLockError::Error(err)) => {
                return Err(BuildError::Other(anyhow::Error::new(err).context(format!("locking {}", path.display()))));
            }
        }
        let locked = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
            .await
            .context("waiting for the build lock")?
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(BuildLock { _file: locked })
    }
}

/// Builds one trusted tool binary of the kit (e.g. a lab's proxy) in release mode.
pub async fn build_tool(kit: &Kit, package: &str, bin: &str, progress: &Progress) -> Result<PathBuf, BuildError> {
    let _lock = BuildLock::acquire(kit, progress).await?;
    progress.phase(format!("building {bin} (release)"));
    let executables = cargo_build(kit, &kit.root.join("Cargo.toml"), package, &[bin.to_string()], progress).await?;
    copy_out(&executables, bin, &kit.target_dir.join("grader").join("bin").join("tools"))
}

/// Copies a built binary out of cargo's target directory, so later builds cannot replace it.
fn copy_out(executables: &BTreeMap<String, PathBuf>, name: &str, out: &Path) -> Result<PathBuf, BuildError> {
    let built = executables.get(name).with_context(|| format!("cargo built no binary named {name}"))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let dest = out.join(name);
    // Remove first: the old copy may still be running from an earlier grade.
    let _ = std::fs::remove_file(&dest);
    std::fs::copy(built, &dest).with_context(|| format!("copying {}", built.display()))?;
    Ok(dest)
}

/// Builds `package`'s binaries. `bins` are removed from `target/release`
/// first: submissions and the kit share package names, and cargo only
/// refreshes that copy of a binary when it is missing or rebuilt, so
/// without this a fresh target could be handed another target's binary.
async fn cargo_build(
    kit: &Kit,
    manifest: &Path,
    package: &str,
    bins: &[String],
    progress: &Progress,
) -> Result<BTreeMap<String, PathBuf>, BuildError> {
    for bin in bins {
        let uplifted = kit.target_dir.join("release").join(bin);
        if uplifted.exists() {
            std::fs::remove_file(&uplifted).with_context(|| format!("removing {}", uplifted.display()))?;
        }
    }
    // Cargo would call another tree's build of a package fresh; forget those first.
    let (stale, digests) = crate::freshness::changed(&kit.cargo, manifest, package, &kit.target_dir)?;
    if !stale.is_empty() {
        let mut clean = std::process::Command::new(&kit.cargo);
        clean
            .args(["clean", "--release", "--quiet", "--manifest-path"])
            .arg(manifest)
            .env("CARGO_TARGET_DIR", &kit.target_dir);
        for name in &stale {
            clean.args(["--package", name]);
        }
        let status = clean.status().context("running cargo clean")?;
        if !status.success() {
            return Err(BuildError::Other(anyhow::anyhow!("cargo clean of {} failed", stale.join(", "))));
        }
    }
    let mut command = Command::new(&kit.cargo);
    command
        .args(["build", "--release", "--message-format=json", "--bins", "--package", package, "--manifest-path"])
        .arg(manifest)
        .env("CARGO_TARGET_DIR", &kit.target_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().with_context(|| format!("running {}", kit.cargo))?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");

    let status_lines = async {
        let mut lines = BufReader::new(stderr).lines();
        let mut tail = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let trimmed = line.trim();
            if trimmed.starts_with("Compiling") {
                progress.detail(trimmed.to_string());
            }
            tail.push(line);
        }
        tail
    };
    let messages = async {
        let mut lines = BufReader::new(stdout).lines();
        let mut executables = BTreeMap::new();
        let mut first_error: Option<String> = None;
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(message) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            match message["reason"].as_str() {
                Some("compiler-artifact") => {
                    if let (Some(path), Some(name)) =
                        (message["executable"].as_str(), message["target"]["name"].as_str())
                    {
                        executables.insert(name.to_string(), PathBuf::from(path));
                    }
                }
                Some("compiler-message") if first_error.is_none() && message["message"]["level"] == "error" => {
                    first_error = Some(compiler_error_line(&message["message"]));
                }
                _ => {}
            }
        }
        (executables, first_error)
    };
    let finished = tokio::time::timeout(BUILD_LIMIT, async {
        let (tail, (executables, first_error)) = tokio::join!(status_lines, messages);
        let status = child.wait().await;
        (tail, executables, first_error, status)
    })
    .await;
    let Ok((tail, executables, first_error, status)) = finished else {
        return Err(BuildError::Other(anyhow::anyhow!(
            "cargo build timed out after {} min",
            BUILD_LIMIT.as_secs() / 60
        )));
    };
    let status = status.context("waiting for cargo")?;
    if status.success() {
        crate::freshness::record(&kit.target_dir, digests)?;
        return Ok(executables);
    }
    match first_error {
        Some(error) => Err(BuildError::Compile(error)),
        None => {
            let last = tail.iter().rev().find(|l| !l.trim().is_empty()).cloned().unwrap_or_default();
            Err(BuildError::Other(anyhow::anyhow!("cargo build failed: {}", last.trim())))
        }
    }
}

/// `error[E0425]: cannot find value `x` in this scope at src/lib.rs:3:5 (not found in this scope)`:
/// the message, the primary span's place and the compiler's label under it.
pub fn compiler_error_line(message: &Value) -> String {
    let text = message["message"].as_str().unwrap_or("unknown error");
    let code = message["code"]["code"].as_str().map(|c| format!("[{c}]")).unwrap_or_default();
    let primary =
        message["spans"].as_array().and_then(|spans| spans.iter().find(|s| s["is_primary"] == true).or(spans.first()));
    let place = primary
        .map(|span| {
            format!(" at {}:{}:{}", span["file_name"].as_str().unwrap_or("?"), span["line_start"], span["column_start"])
        })
        .unwrap_or_default();
    let label = primary
        .and_then(|span| span["label"].as_str())
        .filter(|label| !label.is_empty() && *label != text)
        .map(|label| format!(" ({label})"))
        .unwrap_or_default();
    format!("error{code}: {text}{place}{label}")
}

/// A clean copy of the kit with the submission's `src/` in place of the
/// exercise's; returns the copy's folder and the package name to build.
///
/// The overlay is kept between runs and only files whose bytes changed are
/// rewritten, so cargo rebuilds nothing when nothing changed. The kit's
/// files keep the kit's modification times: the lab's own crates sit at the
/// same paths relative to the workspace as in the kit, so cargo names their
/// builds alike, and with the kit's times it takes the kit's release build
/// of them as fresh instead of compiling them again for every lab (their
/// bytes are the kit's, which the digests of [`crate::freshness`] confirm).
/// The submission's files get new times, so its code is always compiled. Its exercise
/// package gets a name of its own: cargo identifies workspace packages by
/// name and path relative to the workspace, so under the kit's name the
/// overlay and the kit would share (and overwrite) one compiled unit in the
/// shared target directory.
fn overlay(kit: &Kit, rubric: &Rubric, submission: &Path, key: &str) -> anyhow::Result<(PathBuf, String)> {
    let dir = kit.target_dir.join("grader").join("overlays").join(format!("{}-{key}", rubric.lab));
    let editable = Path::new(&rubric.editable.exercise);
    let crate_dir = editable.parent().context("the editable folder sits in a crate")?;
    let manifest = crate_dir.join("Cargo.toml");
    sync_tree(&kit.root, &dir, &kit.target_dir, &[editable, &manifest], Times::Kept)?;
    sync_tree(&submission.join("src"), &dir.join(editable), &kit.target_dir, &[], Times::New)
        .with_context(|| format!("copying {}/src", submission.display()))?;

    let original = &rubric.packages.exercise;
    let renamed = format!("{original}-{key}");
    let text = std::fs::read_to_string(kit.root.join(&manifest)).context("reading the exercise manifest")?;
    let mut table: toml::Table = text.parse().context("parsing the exercise manifest")?;
    let package = table.get_mut("package").and_then(toml::Value::as_table_mut).context("manifest has [package]")?;
    package.insert("name".into(), renamed.clone().into());
    // The library keeps its name, so the kit's driver still finds `exercise_<lab>::app`.
    let lib = table.entry("lib").or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let Some(lib) = lib.as_table_mut() {
        lib.insert("name".into(), original.replace('-', "_").into());
    }
    let rewritten = toml::to_string(&table).context("writing the overlay manifest")?;
    let dest = dir.join(&manifest);
    if std::fs::read_to_string(&dest).ok().as_deref() != Some(rewritten.as_str()) {
        std::fs::write(&dest, rewritten).with_context(|| format!("writing {}", dest.display()))?;
    }
    Ok((dir, renamed))
}

/// The modification times a synced copy gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Times {
    /// The source's: for the kit's own files.
    Kept,
    /// The time of writing: for a submission's files.
    New,
}

/// Makes `to` hold exactly the sources of `from` (leaving out build output,
/// VCS data, rendered docs and the `skip` paths), writing only what differs.
fn sync_tree(from: &Path, to: &Path, target_dir: &Path, skip: &[&Path], times: Times) -> anyhow::Result<()> {
    fn walk(
        from: &Path,
        to: &Path,
        target_dir: &Path,
        skip: &[&Path],
        times: Times,
        relative: &Path,
    ) -> anyhow::Result<()> {
        std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
        let mut wanted = std::collections::BTreeSet::new();
        for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            let here = relative.join(&name);
            let text = name.to_string_lossy();
            if text.starts_with("target")
                || text == ".git"
                || text == "book"
                || path == target_dir
                || skip.contains(&here.as_path())
            {
                continue;
            }
            wanted.insert(name.clone());
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                walk(&path, &to.join(&name), target_dir, skip, times, &here)?;
            } else if file_type.is_file() {
                let dest = to.join(&name);
                let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                if std::fs::read(&dest).ok().as_deref() != Some(bytes.as_slice()) {
                    std::fs::write(&dest, bytes).with_context(|| format!("writing {}", dest.display()))?;
                }
                if times == Times::Kept {
                    let modified = entry.metadata()?.modified()?;
                    if std::fs::metadata(&dest)?.modified()? != modified {
                        let file = std::fs::File::options().write(true).open(&dest)?;
                        file.set_modified(modified).with_context(|| format!("dating {}", dest.display()))?;
                    }
                }
            }
        }
        // Files the source no longer has must not linger in the copy.
        for entry in std::fs::read_dir(to)? {
            let entry = entry?;
            let here = relative.join(entry.file_name());
            if wanted.contains(&entry.file_name()) || skip.contains(&here.as_path()) {
                continue;
            }
            if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(entry.path())?;
            } else {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }
    walk(from, to, target_dir, skip, times, Path::new(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Two gradings sharing a target directory never build at once: the
    /// second waits until the first has copied its binaries out.
    #[tokio::test]
    async fn a_second_build_waits_for_the_first_to_let_go_of_the_target_directory() {
        let dir = tempfile::tempdir().unwrap();
        let kit = Kit { root: dir.path().into(), target_dir: dir.path().join("target"), cargo: "cargo".into() };
        let progress = Progress::new(true);
        let first = BuildLock::acquire(&kit, &progress).await.expect("free");
        let waiting = {
            let kit = kit.clone();
            tokio::spawn(async move { BuildLock::acquire(&kit, &Progress::new(true)).await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "the second build went ahead while the first held the lock");
        drop(first);
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the second build goes ahead once the first lets go")
            .unwrap()
            .unwrap();
    }

    #[test]
    fn a_compiler_error_becomes_one_line_with_its_place() {
        let message = json!({
            "message": "cannot find value `totl` in this scope",
            "code": { "code": "E0425" },
            "level": "error",
            "spans": [{ "file_name": "exercises/profiling/src/reports.rs", "line_start": 40, "column_start": 9, "is_primary": true, "label": null }]
        });
        assert_eq!(
            compiler_error_line(&message),
            "error[E0425]: cannot find value `totl` in this scope at exercises/profiling/src/reports.rs:40:9"
        );
        let labelled = json!({
            "message": "mismatched types",
            "code": { "code": "E0308" },
            "level": "error",
            "spans": [
                { "file_name": "exercises/profiling/src/reports.rs", "line_start": 12, "column_start": 5, "is_primary": false, "label": "expected due to this" },
                { "file_name": "exercises/profiling/src/reports.rs", "line_start": 14, "column_start": 9, "is_primary": true, "label": "expected `u64`, found `&str`" }
            ]
        });
        assert_eq!(
            compiler_error_line(&labelled),
            "error[E0308]: mismatched types at exercises/profiling/src/reports.rs:14:9 (expected `u64`, found `&str`)"
        );
    }

    #[test]
    fn syncing_a_tree_rewrites_only_what_changed_and_removes_what_is_gone() {
        let from = tempfile::tempdir().expect("tempdir");
        let to = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(from.path().join("src/nested")).expect("mkdir");
        std::fs::write(from.path().join("src/lib.rs"), "one").expect("write");
        std::fs::write(from.path().join("src/nested/a.rs"), "a").expect("write");
        std::fs::create_dir_all(from.path().join("target/release")).expect("mkdir");
        std::fs::write(from.path().join("target/release/big"), "x").expect("write");
        let target_dir = from.path().join("target");
        sync_tree(from.path(), to.path(), &target_dir, &[], Times::New).expect("sync");
        assert_eq!(std::fs::read_to_string(to.path().join("src/lib.rs")).expect("copied"), "one");
        assert!(!to.path().join("target").exists(), "build output is not copied");

        std::fs::write(from.path().join("src/lib.rs"), "two").expect("write");
        std::fs::remove_file(from.path().join("src/nested/a.rs")).expect("rm");
        std::fs::write(to.path().join("src/stray.rs"), "old").expect("write");
        sync_tree(from.path(), to.path(), &target_dir, &[], Times::New).expect("sync");
        assert_eq!(std::fs::read_to_string(to.path().join("src/lib.rs")).expect("copied"), "two");
        assert!(!to.path().join("src/nested/a.rs").exists());
        assert!(!to.path().join("src/stray.rs").exists());

        // An unchanged file keeps its modification time, so cargo does not rebuild.
        let stamp = std::fs::metadata(to.path().join("src/lib.rs")).and_then(|m| m.modified()).expect("mtime");
        std::thread::sleep(std::time::Duration::from_millis(20));
        sync_tree(from.path(), to.path(), &target_dir, &[], Times::New).expect("sync");
        let again = std::fs::metadata(to.path().join("src/lib.rs")).and_then(|m| m.modified()).expect("mtime");
        assert_eq!(stamp, again);
    }

    #[test]
    fn the_kits_files_keep_their_times_and_a_submissions_get_new_ones() {
        let from = tempfile::tempdir().expect("tempdir");
        let (kept, new) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
        std::fs::write(from.path().join("lib.rs"), "one").expect("write");
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        std::fs::File::options()
            .write(true)
            .open(from.path().join("lib.rs"))
            .and_then(|f| f.set_modified(old))
            .expect("date");
        let mtime = |dir: &Path| std::fs::metadata(dir.join("lib.rs")).and_then(|m| m.modified()).expect("mtime");
        let target_dir = from.path().join("target");
        sync_tree(from.path(), kept.path(), &target_dir, &[], Times::Kept).expect("sync");
        sync_tree(from.path(), new.path(), &target_dir, &[], Times::New).expect("sync");
        assert_eq!(mtime(kept.path()), old);
        assert!(mtime(new.path()) > old);
        // A copy whose bytes already match still takes the source's time.
        std::fs::File::options()
            .write(true)
            .open(kept.path().join("lib.rs"))
            .and_then(|f| f.set_modified(std::time::SystemTime::now()))
            .expect("date");
        sync_tree(from.path(), kept.path(), &target_dir, &[], Times::Kept).expect("sync");
        assert_eq!(mtime(kept.path()), old);
    }

    #[test]
    fn targets_parse_by_name_or_folder() {
        assert_eq!(Target::parse("exercise"), Ok(Target::Exercise));
        assert_eq!(Target::parse("solution"), Ok(Target::Solution));
        assert!(Target::parse("/no/such/folder").unwrap_err().contains("unknown target"));
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("src")).expect("mkdir");
        assert!(matches!(Target::parse(dir.path().to_str().unwrap()), Ok(Target::Submission(_))));
    }
}
