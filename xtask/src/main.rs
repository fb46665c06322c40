//! Kit chores, run as `cargo xtask <task>`.
//!
//! ```text
//! cargo xtask test                  # everything CI runs: lint, tests, book, grader self-check
//! cargo xtask grade                 # services up, then the grader over every lab's exercise
//! cargo xtask services up|down|status
//! cargo xtask book                  # build docs/ into docs/book
//! cargo xtask hint profiling        # the next hint of a lab (--check <id>, --list, --again N, --reset)
//! cargo xtask docs [FILE...]        # run the shell commands the README and the guides show
//! cargo xtask numbers [lab...]      # re-measure the numbers quoted in the lab guides
//! cargo xtask stability --runs 5    # grade the same target N times and report the spread
//! cargo xtask p99 --runs 5          # repeat grader load on one pair and compare its p99 ratio with wrk's
//! cargo xtask gradescope --lab profiling  # a Gradescope autograder zip for one lab
//! cargo xtask platforms             # lint the Classroom workflow and the Gradescope scripts
//! ```

mod book;
mod classcheck;
mod doccmds;
mod hint;
mod numbers;
mod p99;
mod platforms;
mod selfcheck;
mod services;
mod shell;
mod stability;
#[cfg(test)]
mod tidy;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Chores for the performance lab kit")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Format check, clippy, every test, the book, and the grader's self-check.
    Test {
        /// Skip the grader self-check (release builds and measuring).
        #[arg(long)]
        no_selfcheck: bool,
        /// Skip running the shell commands of the README and the guides.
        #[arg(long)]
        no_docs: bool,
    },
    /// The grader's self-check alone: starters, solutions, fault fixtures, mutants, hostile fixtures.
    Selfcheck {
        /// Only these labs (e.g. `profiling`); all when none.
        labs: Vec<String>,
        /// The class batch too (`cargo xtask classcheck`), beside the labs.
        #[arg(long)]
        class: bool,
    },
    /// The acceptance batch of `grader class`: a class of lab 23 submissions,
    /// hostile ones included, graded in one batch and checked against the
    /// scores and reasons `labs/profiling/fixtures/class.toml` expects.
    Classcheck {
        /// Instead, time a batch of this many ordinary lab 23 submissions
        /// (starters, solutions, the partial fixture, each fault's fix and
        /// each fix taken out of the solution, in turn) and check their scores.
        #[arg(long)]
        size: Option<usize>,
    },
    /// Run the shell commands the README and the guides show (or list how each block runs).
    Docs {
        /// Only files whose path contains one of these (e.g. `profiling`).
        files: Vec<String>,
        /// List the blocks run in another form or not run, and why; run nothing.
        #[arg(long)]
        list: bool,
    },
    /// Bring services up, then grade every lab's exercise and print the scorecard.
    Grade {
        /// Extra arguments for the grader, after `--`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Find, start or stop PostgreSQL and Redis.
    Services {
        #[arg(value_enum, default_value_t = services::Action::Status)]
        action: services::Action,
    },
    /// Build the book into docs/book.
    Book,
    /// Show a lab's next hint, one at a time (remembered per clone in .hints/).
    Hint(hint::Args),
    /// Re-measure the numbers the lab guides quote (every lab's, or the labs named).
    Numbers { labs: Vec<String> },
    /// Grade one target several times and report the score spread.
    Stability {
        #[arg(long, default_value = "profiling")]
        lab: String,
        #[arg(long, default_value = "solution")]
        target: String,
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Keep one core busy with another process while grading.
        #[arg(long)]
        noise: bool,
    },
    /// Build a Gradescope autograder zip for one lab: setup.sh,
    /// run_autograder and the kit at its commit.
    Gradescope {
        #[arg(long)]
        lab: String,
        /// Where to write the zip (default: gradescope-<lab>.zip in the kit root).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Lint the grading platforms' files: actionlint on the Classroom
    /// workflow, shellcheck on the Gradescope scripts.
    Platforms,
    /// Repeat `grader load` on lab 23's baseline and solution, report the
    /// spread of its p99 ratio and compare it with wrk's on the same mix.
    P99 {
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Requests per service per round of `grader load` (five rounds).
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Seconds wrk loads each service.
        #[arg(long, default_value_t = 30)]
        wrk_seconds: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Test { no_selfcheck, no_docs } => test(!no_selfcheck, !no_docs),
        Task::Selfcheck { labs, class } => {
            services::ensure_all().and_then(|()| selfcheck::jobs(&labs, class).and_then(selfcheck::run))
        }
        Task::Classcheck { size: None } => {
            services::ensure_all().and_then(|()| selfcheck::run(vec![selfcheck::Job::Class]))
        }
        Task::Classcheck { size: Some(size) } => services::ensure_all().and_then(|()| classcheck::timed(size)),
        Task::Docs { files, list } => docs(&files, list),
        Task::Grade { args } => grade(&args),
        Task::Services { action } => services::run(action),
        Task::Book => book::build(),
        Task::Hint(args) => hint::run(&args),
        Task::Numbers { labs } => numbers::regenerate(&labs),
        Task::Gradescope { lab, out } => platforms::bundle(&lab, out),
        Task::Platforms => platforms::lint(),
        Task::Stability { lab, target, runs, noise } => stability::run(&lab, &target, runs, noise),
        Task::P99 { runs, requests, wrk_seconds } => p99::run(runs, requests, wrk_seconds),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.downcast_ref::<hint::Usage>().is_some() => {
            eprintln!("xtask: {err}");
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn test(with_selfcheck: bool, with_docs: bool) -> anyhow::Result<()> {
    // One seed for every grading of this run (self-check and docs alike).
    selfcheck::run_seed();
    services::ensure_all()?;
    services::ensure_sandbox(true)?;
    shell::step("format", shell::cargo(&["fmt", "--all", "--", "--check"]))?;
    shell::step("clippy", shell::cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    shell::step("tests", shell::cargo(&["test", "--workspace"]))?;
    shell::step_result("book", book::build())?;
    shell::step_result("the grading platforms' files", platforms::lint())?;
    if with_selfcheck {
        shell::step_result(
            "grader self-check and a class graded in one batch",
            selfcheck::jobs(&[], true).and_then(selfcheck::run),
        )?;
    }
    if with_docs {
        shell::step_result("the docs' shell commands", doccmds::run(&[]))?;
    }
    eprintln!("xtask: all checks passed");
    Ok(())
}

fn docs(files: &[String], list: bool) -> anyhow::Result<()> {
    if list {
        print!("{}", doccmds::summary(&doccmds::all_blocks(&shell::root())?));
        return Ok(());
    }
    services::ensure_all()?;
    services::ensure_sandbox(false)?;
    doccmds::run(files)
}

fn grade(args: &[String]) -> anyhow::Result<()> {
    services::ensure_all()?;
    services::ensure_sandbox(false)?;
    let mut command = shell::cargo(&["run", "--release", "--quiet", "--package", "grader", "--"]);
    command.args(args);
    shell::step("grader", command)
}
