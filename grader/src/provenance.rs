//! Whether the kit that graded is the kit its commit says: the files a
//! student may not edit (rubrics, baselines, drivers, the grader) are
//! compared with the checked-out commit, and any that differ are named in
//! the record, so a score earned with a modified kit says so.

use std::path::Path;
use std::process::Command;

/// The kit's commit and the kit-owned files that differ from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KitState {
    /// `git rev-parse HEAD`; `None` when the kit is not a git checkout.
    pub commit: Option<String>,
    /// Kit-owned paths changed, added or deleted since the commit.
    pub modified: Vec<String>,
}

/// The state of the kit at `root`; `editable` are the folders students may
/// change (relative to `root`), left out of the comparison.
pub fn kit_state(root: &Path, editable: &[String]) -> KitState {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| output.stdout)
    };
    let Some(head) = git(&["rev-parse", "HEAD"]) else {
        return KitState::default();
    };
    let commit = String::from_utf8_lossy(&head).trim().to_string();
    let status = git(&["status", "--porcelain=v1", "-z", "--untracked-files=all"]).unwrap_or_default();
    KitState { commit: Some(commit), modified: kit_owned_changes(&String::from_utf8_lossy(&status), editable) }
}

/// Paths of `git status --porcelain=v1 -z` outside the editable folders.
fn kit_owned_changes(status: &str, editable: &[String]) -> Vec<String> {
    let mut entries = status.split('\0').filter(|entry| !entry.is_empty());
    let mut changed = Vec::new();
    while let Some(entry) = entries.next() {
        let (code, path) = entry.split_at(entry.len().min(3));
        if code.starts_with('R') || code.starts_with('C') {
            // A rename or copy names its source next; the source changed too.
            if let Some(source) = entries.next() {
                changed.push(source.to_string());
            }
        }
        changed.push(path.to_string());
    }
    changed.retain(|path| {
        !editable.iter().any(|folder| {
            let folder = folder.trim_end_matches('/');
            path.strip_prefix(folder).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    });
    changed.sort();
    changed.dedup();
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_inside_the_editable_folders_are_not_kit_changes() {
        let status = " M exercises/profiling/src/lib.rs\0 M labs/profiling/rubric.toml\0?? exercises/profiling/src/new.rs\0?? exercises/profiling/srcx/evil.rs\0R  labs/a.rs\0labs/b.rs\0";
        let editable = vec!["exercises/profiling/src".to_string()];
        assert_eq!(
            kit_owned_changes(status, &editable),
            ["exercises/profiling/srcx/evil.rs", "labs/a.rs", "labs/b.rs", "labs/profiling/rubric.toml"]
        );
    }

    #[test]
    fn a_changed_rubric_in_a_checkout_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let git = |args: &[&str]| {
            let status = Command::new("git")
                .arg("-C")
                .arg(root)
                .args(["-c", "user.name=kit", "-c", "user.email=kit@localhost"])
                .args(args)
                .output()
                .expect("git runs");
            assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
        };
        git(&["init", "-q"]);
        std::fs::create_dir_all(root.join("labs/demo")).unwrap();
        std::fs::create_dir_all(root.join("exercises/demo/src")).unwrap();
        std::fs::write(root.join("labs/demo/rubric.toml"), "points = 10\n").unwrap();
        std::fs::write(root.join("exercises/demo/src/lib.rs"), "// starter\n").unwrap();
        git(&["add", "."]);
        git(&["commit", "-q", "-m", "kit"]);
        let editable = vec!["exercises/demo/src".to_string()];
        let clean = kit_state(root, &editable);
        assert!(clean.commit.is_some() && clean.modified.is_empty(), "{clean:?}");

        std::fs::write(root.join("exercises/demo/src/lib.rs"), "// my fix\n").unwrap();
        std::fs::write(root.join("labs/demo/rubric.toml"), "points = 1000\n").unwrap();
        assert_eq!(kit_state(root, &editable).modified, ["labs/demo/rubric.toml"]);
    }

    #[test]
    fn a_folder_that_is_not_a_checkout_has_no_commit() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(kit_state(dir.path(), &[]), KitState::default());
    }
}
