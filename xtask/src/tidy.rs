//! Tidy checks that keep the kit honest, run by `cargo test`.

use std::path::{Path, PathBuf};

use crate::shell::root;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("target") || name.starts_with('.') || name == "book" {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_doc_comment() {
    let mut files = Vec::new();
    rust_files(&root(), &mut files);
    assert!(files.len() > 20, "found only {} .rs files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|path| !std::fs::read_to_string(path).unwrap_or_default().trim_start().starts_with("//!"))
        .map(|path| path.strip_prefix(root()).unwrap_or(path).display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a //! opening comment: {missing:?}");
}

/// The starter begins as the frozen baseline: the same files, plus `// TODO:` lines.
#[test]
fn every_starter_is_its_baseline_plus_todo_lines() {
    for lab in ["profiling", "database", "caching", "monitoring"] {
        let baseline = root().join("labs").join(lab).join("baseline/src");
        let starter = root().join("exercises").join(lab).join("src");
        let mut files = Vec::new();
        rust_files(&baseline, &mut files);
        let mut starter_files = Vec::new();
        rust_files(&starter, &mut starter_files);
        assert_eq!(files.len(), starter_files.len(), "{lab}: the starter and the baseline have different files");
        for file in files {
            let relative = file.strip_prefix(&baseline).expect("inside baseline");
            let strip = |path: &Path| -> Vec<String> {
                std::fs::read_to_string(path)
                    .unwrap_or_else(|_| panic!("{} is missing", path.display()))
                    .lines()
                    .filter(|line| !line.trim_start().starts_with("// TODO:"))
                    .map(str::to_string)
                    .collect()
            };
            assert_eq!(
                strip(&file),
                strip(&starter.join(relative)),
                "exercises/{lab}/src/{} differs from its baseline by more than TODO lines",
                relative.display()
            );
        }
    }
}

#[test]
fn exercises_never_depend_on_solutions() {
    for entry in std::fs::read_dir(root().join("exercises")).expect("exercises/").flatten() {
        let manifest = std::fs::read_to_string(entry.path().join("Cargo.toml")).unwrap_or_default();
        let parsed: toml::Table = toml::from_str(&manifest).expect("valid manifest");
        for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
            if let Some(deps) = parsed.get(section).and_then(|d| d.as_table()) {
                for name in deps.keys() {
                    assert!(!name.starts_with("solution"), "{} depends on {name}", entry.path().display());
                }
            }
        }
    }
}

#[test]
fn ci_runs_the_test_command_the_readme_gives() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let ci = std::fs::read_to_string(root().join(".ci/run")).expect(".ci/run");
    let command = "cargo xtask test";
    assert!(readme.contains(command), "README.md does not give `{command}`");
    assert!(ci.lines().any(|line| line.trim() == command), ".ci/run does not run `{command}` on a line of its own");
}

/// Each package in a dependency graph with its features, as `cargo tree` gives them.
fn features_of(selection: &[&str]) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["tree", "-q", "-e", "normal,build,dev", "-f", "{p} [{f}]", "--prefix", "none"])
        .args(selection)
        .current_dir(root())
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree {selection:?}: {}", String::from_utf8_lossy(&out.stderr));
    let mut packages: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // `(*)` marks a package already listed above.
        let line = line.trim_end_matches(" (*)");
        let (Some((package, _)), Some((_, features))) = (line.split_once(" ["), line.rsplit_once(" [")) else {
            continue;
        };
        let mut words = package.split(' ');
        let name = format!("{} {}", words.next().unwrap_or_default(), words.next().unwrap_or_default());
        let features = features.trim_end_matches(']').split(',').filter(|f| !f.is_empty()).map(String::from);
        packages.entry(name).or_default().extend(features);
    }
    packages
}

/// `cargo test -p <crate>` (what a student types, and the guides show)
/// reuses what `cargo test --workspace` built only when every dependency
/// has the same features in both: `labs/features` names their union.
#[test]
fn every_crate_builds_with_the_workspaces_features() {
    let workspace = features_of(&["--workspace"]);
    let members: Vec<String> = workspace.keys().filter(|name| name.contains(" v0.1.0")).cloned().collect();
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("the workspace manifest");
    let mut differ = Vec::new();
    for path in manifest.lines().filter_map(|line| line.trim().strip_prefix('"')?.strip_suffix("\",")) {
        let package = std::fs::read_to_string(root().join(path).join("Cargo.toml")).expect("a member's manifest");
        let name = package.lines().find_map(|l| l.strip_prefix("name = \"")?.strip_suffix('"')).expect("a name");
        for (dependency, features) in features_of(&["-p", name]) {
            // The kit's own crates may differ (lab-support's `bench` is for the profiling lab's benches).
            if members.contains(&dependency) {
                continue;
            }
            if workspace.get(&dependency).is_some_and(|all| all != &features) {
                differ.push(format!("{name}: {dependency} {:?}", workspace[&dependency]));
            }
        }
    }
    assert!(differ.is_empty(), "add these features to labs/features/Cargo.toml:\n{}", differ.join("\n"));
}
