//! The grader's command-line contract: usage errors are one line and exit code 2.

use std::process::Command;

fn grader(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_grader")).args(args).output().expect("the grader runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn an_unknown_lab_is_one_line_and_exit_code_2() {
    let (code, stdout, stderr) = grader(&["grade", "--lab", "astrology", "--quiet"]);
    assert_eq!(code, Some(2));
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("unknown lab \"astrology\"") && stderr.contains("profiling"), "{stderr}");
}

#[test]
fn an_unknown_target_is_one_line_and_exit_code_2() {
    let (code, _, stderr) = grader(&["grade", "--lab", "profiling", "--target", "/no/such/submission", "--quiet"]);
    assert_eq!(code, Some(2));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("unknown target"), "{stderr}");
}

#[test]
fn labs_lists_every_rubric() {
    let (code, stdout, _) = grader(&["labs"]);
    assert_eq!(code, Some(0));
    assert!(stdout.lines().any(|line| line.starts_with("profiling\tLab 23")), "{stdout}");
}

#[test]
fn the_load_test_refuses_a_lab_it_cannot_drive() {
    let (code, _, stderr) = grader(&["load", "--lab", "database", "--quiet"]);
    assert_eq!(code, Some(2));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("lab database"), "{stderr}");
}

#[test]
fn the_kit_is_the_one_around_the_current_directory_not_the_one_that_built_the_grader() {
    // A second "clone": a folder with the kit's shape and a rubric of its own.
    let other = tempfile::tempdir().expect("tempdir");
    let root = other.path();
    std::fs::create_dir_all(root.join("labs/elsewhere")).unwrap();
    std::fs::create_dir_all(root.join("grader")).unwrap();
    std::fs::write(root.join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
    std::fs::write(root.join("grader/Cargo.toml"), "[package]\nname = \"grader\"\n").unwrap();
    let rubric = std::fs::read_to_string("../labs/profiling/rubric.toml").expect("the kit's rubric");
    let rubric = rubric.replace("title = \"Lab 23: profiling and benchmarking\"", "title = \"The other clone's lab\"");
    std::fs::write(root.join("labs/elsewhere/rubric.toml"), rubric).unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_grader"))
        .arg("labs")
        .current_dir(root.join("labs"))
        .output()
        .expect("the grader runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout.trim(), "elsewhere\tThe other clone's lab");

    let outside = tempfile::tempdir().expect("tempdir");
    let output =
        Command::new(env!("CARGO_BIN_EXE_grader")).arg("labs").current_dir(outside.path()).output().expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("is not inside the lab kit") && stderr.lines().count() == 1, "{stderr}");
}

#[test]
fn an_export_of_something_that_is_not_a_record_is_one_line_and_exit_code_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("notes.json");
    std::fs::write(&file, "{\"labs\": 3}").unwrap();
    let path = file.to_str().unwrap();
    for args in [
        vec!["export", "junit", path],
        vec!["export", "gradescope", "/no/such/record.json"],
        vec!["export", "classroom-output", path, path],
    ] {
        let (code, stdout, stderr) = grader(&args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
    let (_, _, stderr) = grader(&["export", "classroom-output", path, path]);
    assert!(stderr.contains("export classroom-output takes one record, not 2"), "{stderr}");
    let (_, _, stderr) = grader(&["export", "junit", path]);
    assert!(stderr.contains("is not a grader record"), "{stderr}");
}

#[test]
fn a_class_needs_a_folder_and_a_restart_keeps_its_seed_and_labs() {
    let (code, _, stderr) = grader(&["class", "/no/such/class", "--quiet"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("is not a folder of submissions") && stderr.lines().count() == 1, "{stderr}");

    let dir = tempfile::tempdir().expect("tempdir");
    let class = dir.path().join("class");
    std::fs::create_dir_all(class.join("ana/src")).unwrap();
    let out = dir.path().join("grades");
    std::fs::create_dir_all(&out).unwrap();
    // The kit's own commit, so only the seed or the labs can make a restart differ.
    let head = Command::new("git").args(["rev-parse", "HEAD"]).output().expect("git runs");
    let commit = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let batch = format!(r#"{{"seed": 1, "labs": ["monitoring"], "kit_commit": {}}}"#, serde_json::json!(commit));
    std::fs::write(out.join("class.json"), batch).unwrap();
    let (class, out) = (class.to_str().unwrap(), out.to_str().unwrap());
    for other in [
        vec!["class", class, "--lab", "monitoring", "--out", out, "--seed", "2", "--quiet"],
        vec!["class", class, "--lab", "profiling", "--out", out, "--quiet"],
    ] {
        let (code, _, stderr) = grader(&other);
        assert_eq!(code, Some(2), "{other:?}: {stderr}");
        assert!(stderr.contains("was graded with seed 1 for labs monitoring"), "{stderr}");
    }
    let (code, _, stderr) = grader(&["class", class, "--lab", "astrology", "--out", out, "--quiet"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("unknown lab \"astrology\""), "{stderr}");
}
