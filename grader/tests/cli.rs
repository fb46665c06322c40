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
