//! Builds that cannot be another tree's.
//!
//! Cargo decides that a package's build is fresh from file times, and names
//! a workspace package's build by its path relative to the workspace. With
//! one `CARGO_TARGET_DIR` shared by two clones of the kit (or by the kit and
//! a submission's overlay), the second tree's package looks fresh when its
//! files are older than the first tree's build, and cargo hands over the
//! first tree's binary. Before building, the grader digests the sources of
//! every package of the workspace it builds, compares each with the digest
//! recorded when that package was last built into this target directory,
//! and has cargo forget (`cargo clean -p`) the ones that differ.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// Where the digests of the last builds are kept.
fn record_path(target_dir: &Path) -> PathBuf {
    target_dir.join("grader").join("built-sources.json")
}

#[derive(Debug, Deserialize)]
struct Metadata {
    packages: Vec<Package>,
}

#[derive(Debug, Deserialize)]
struct Package {
    name: String,
    manifest_path: PathBuf,
    dependencies: Vec<Dependency>,
}

#[derive(Debug, Deserialize)]
struct Dependency {
    /// Set for a path dependency: the folder of its manifest.
    path: Option<PathBuf>,
    /// `None` for a normal dependency, `"dev"` or `"build"`.
    kind: Option<String>,
}

/// The path packages that `package` of the workspace at `manifest` is built
/// from (itself included) whose sources differ from their last release build
/// into `target_dir`, and the digest of each of them now.
pub fn changed(
    cargo: &str,
    manifest: &Path,
    package: &str,
    target_dir: &Path,
) -> anyhow::Result<(Vec<String>, BTreeMap<String, String>)> {
    // `--no-deps`: the workspace's own manifests only, so nothing need be
    // downloaded (a full resolve reads every registry crate's manifest).
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--offline", "--no-deps", "--format-version", "1", "--manifest-path"])
        .arg(manifest)
        .output()
        .context("running cargo metadata")?;
    anyhow::ensure!(output.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    let metadata: Metadata = serde_json::from_slice(&output.stdout).context("reading cargo metadata")?;
    let dir_of = |p: &Package| p.manifest_path.parent().map(Path::to_path_buf);
    let root =
        metadata.packages.iter().position(|p| p.name == package).with_context(|| format!("no package {package}"))?;
    // The package and the path packages it depends on (not dev-dependencies: a release build of bins skips them).
    let mut closure = vec![root];
    let mut next = 0;
    while next < closure.len() {
        let current = &metadata.packages[closure[next]];
        next += 1;
        for dep in &current.dependencies {
            let (Some(path), false) = (&dep.path, dep.kind.as_deref() == Some("dev")) else { continue };
            let found = metadata.packages.iter().position(|p| dir_of(p).as_deref() == Some(path.as_path()));
            if let Some(index) = found
                && !closure.contains(&index)
            {
                closure.push(index);
            }
        }
    }
    let recorded: BTreeMap<String, String> = std::fs::read(record_path(target_dir))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let mut now = BTreeMap::new();
    let mut stale = Vec::new();
    for index in closure {
        let package = &metadata.packages[index];
        let dir = package.manifest_path.parent().context("a manifest sits in a folder")?;
        let digest = format!("{:016x}", digest(dir)?);
        if recorded.get(&package.name) != Some(&digest) {
            stale.push(package.name.clone());
        }
        now.insert(package.name.clone(), digest);
    }
    Ok((stale, now))
}

/// Records `digests` as what is now built into `target_dir`.
pub fn record(target_dir: &Path, digests: BTreeMap<String, String>) -> anyhow::Result<()> {
    let path = record_path(target_dir);
    let mut all: BTreeMap<String, String> =
        std::fs::read(&path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default();
    all.extend(digests);
    std::fs::create_dir_all(path.parent().expect("a parent"))
        .with_context(|| format!("creating {}", path.display()))?;
    std::fs::write(&path, serde_json::to_vec_pretty(&all)?).with_context(|| format!("writing {}", path.display()))
}

/// A digest of the files under `dir` that go into a build (`.rs`, `.toml`,
/// `.sql`), by their path below `dir` and their bytes; build output and
/// hidden folders are left out.
pub fn digest(dir: &Path) -> anyhow::Result<u64> {
    fn walk(dir: &Path, base: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type()?.is_dir() {
                if !(name.starts_with('.') || name == "target") {
                    walk(&path, base, files)?;
                }
            } else if path.extension().is_some_and(|e| e == "rs" || e == "toml" || e == "sql") {
                files.push(path.strip_prefix(base).unwrap_or(&path).to_path_buf());
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            hash = (hash ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    };
    for file in files {
        eat(file.to_string_lossy().as_bytes());
        eat(&[0]);
        eat(&std::fs::read(dir.join(&file)).with_context(|| format!("reading {}", file.display()))?);
        eat(&[0xff]);
    }
    Ok(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_follows_sources_and_ignores_build_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::create_dir_all(dir.path().join("target/release")).unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
        std::fs::write(dir.path().join("src/lib.rs"), "pub fn a() {}\n").unwrap();
        let first = digest(dir.path()).unwrap();
        std::fs::write(dir.path().join("target/release/x"), "binary").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not built").unwrap();
        assert_eq!(digest(dir.path()).unwrap(), first);
        std::fs::write(dir.path().join("src/lib.rs"), "pub fn b() {}\n").unwrap();
        assert_ne!(digest(dir.path()).unwrap(), first);
    }

    #[test]
    fn a_package_is_built_from_its_path_dependencies_and_not_its_dev_ones() {
        let kit = lab_protocol::kit::root_from_current_dir().expect("tests run inside the kit");
        let target = tempfile::tempdir().expect("tempdir");
        let (stale, now) = changed("cargo", &kit.join("Cargo.toml"), "exercise-profiling", target.path()).unwrap();
        let names: Vec<&str> = now.keys().map(String::as_str).collect();
        // Nothing recorded yet, so everything it is built from is stale.
        assert_eq!(stale.len(), names.len());
        for built_from in ["exercise-profiling", "lab-profiling", "lab-support", "lab-protocol"] {
            assert!(names.contains(&built_from), "{names:?}");
        }
        // baseline-profiling is only a dev-dependency (benches), so a release build of the bins skips it.
        assert!(!names.contains(&"baseline-profiling"), "{names:?}");
        record(target.path(), now).unwrap();
        let (stale, _) = changed("cargo", &kit.join("Cargo.toml"), "exercise-profiling", target.path()).unwrap();
        assert!(stale.is_empty(), "{stale:?}");
    }

    #[test]
    fn two_trees_with_the_same_sources_have_the_same_digest() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for dir in [&a, &b] {
            std::fs::create_dir_all(dir.path().join("src")).unwrap();
            std::fs::write(dir.path().join("src/lib.rs"), "pub fn a() {}\n").unwrap();
        }
        assert_eq!(digest(a.path()).unwrap(), digest(b.path()).unwrap());
    }
}
