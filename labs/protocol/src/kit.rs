//! Where the kit is: found at run time from a starting folder, never from a
//! path compiled into a binary.
//!
//! With one `CARGO_TARGET_DIR` shared by two clones, cargo reuses one
//! compiled grader for both, so a path baked in with `env!` would point at
//! whichever clone built it first.

use std::path::{Path, PathBuf};

/// The kit's root above `start` (or `start` itself): the nearest folder with
/// a workspace `Cargo.toml`, a `labs/` folder and the `grader/` crate.
pub fn find_root(start: &Path) -> Result<PathBuf, String> {
    let start = start.canonicalize().map_err(|err| format!("{}: {err}", start.display()))?;
    start.ancestors().find(|dir| is_root(dir)).map(Path::to_path_buf).ok_or_else(|| {
        format!(
            "{} is not inside the lab kit (no folder above it holds the kit's Cargo.toml, labs/ and grader/); run from the kit or pass --kit <folder>",
            start.display()
        )
    })
}

/// The kit around the current directory.
pub fn root_from_current_dir() -> Result<PathBuf, String> {
    let here = std::env::current_dir().map_err(|err| format!("reading the current directory: {err}"))?;
    find_root(&here)
}

/// Whether `dir` is a kit root.
pub fn is_root(dir: &Path) -> bool {
    dir.join("labs").is_dir()
        && dir.join("grader").join("Cargo.toml").is_file()
        && std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|text| text.contains("[workspace]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_kit() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("labs/profiling")).unwrap();
        std::fs::create_dir_all(dir.path().join("grader")).unwrap();
        std::fs::write(dir.path().join("grader/Cargo.toml"), "[package]\n").unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
        dir
    }

    #[test]
    fn the_kit_is_found_from_any_folder_inside_it() {
        let kit = fake_kit();
        let root = kit.path().canonicalize().unwrap();
        assert_eq!(find_root(kit.path()).unwrap(), root);
        assert_eq!(find_root(&kit.path().join("labs/profiling")).unwrap(), root);
    }

    #[test]
    fn a_folder_outside_any_kit_is_one_readable_line() {
        let outside = tempfile::tempdir().unwrap();
        let err = find_root(outside.path()).unwrap_err();
        assert!(err.contains("is not inside the lab kit") && !err.contains('\n'), "{err}");
    }
}
