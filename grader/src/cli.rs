//! Arguments, exit codes and the top-level flow.
//!
//! Exit codes: 0 when grading finished (whatever the score), 1 when the
//! grader itself failed, 2 for an unknown lab or target.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;

use crate::build::{self, Kit, Target};
use crate::labs::pipeline::{Stop, paired_rounds};
use crate::labs::{self, Context};
use crate::measure::{self, load};
use crate::record::Record;
use crate::report::{self, Progress};

#[derive(Debug, Parser)]
#[command(
    name = "grader",
    version,
    about = "Scores lab submissions against the frozen baselines, fairly and repeatably"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The kit to grade (default: the kit around the current directory).
    #[arg(long, global = true)]
    kit: Option<PathBuf>,
    /// No progress output.
    #[arg(long, global = true)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Grade one lab (or every lab) and print the scores.
    Grade {
        /// Lab to grade; every lab when left out.
        #[arg(long)]
        lab: Option<String>,
        /// exercise, solution, baseline, or a folder holding a submission's src/.
        #[arg(long, default_value = "exercise")]
        target: String,
        /// Also write the result record here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Seed of data and workloads (default: `GRADER_SEED` if set, else a fresh one each run).
        #[arg(long)]
        seed: Option<u64>,
        /// Measure only this check (and the correctness gate); the others
        /// earn nothing and say they were not measured. Needs `--lab`.
        #[arg(long, requires = "lab")]
        only: Option<String>,
    },
    /// Load-test a target beside the baseline on loopback: throughput and p50/p95/p99.
    ///
    /// Both services start first and take a warm-up; then rounds alternate
    /// which one is loaded first (A B, B A, ...), and each service's
    /// latencies are pooled over its rounds.
    Load {
        #[arg(long, default_value = "profiling")]
        lab: String,
        #[arg(long, default_value = "exercise")]
        target: String,
        /// Load a service that is already running here (loopback only), e.g. to profile it meanwhile.
        #[arg(long, conflicts_with = "target")]
        url: Option<String>,
        /// Requests sent to each service per round (after a warm-up of a tenth as many).
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Rounds per service (with `--url`: one).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// List the labs the grader knows.
    Labs,
    /// Grade every submission in a folder, one seed for the batch.
    ///
    /// Each entry of the folder is one student: a folder (their copy of
    /// the kit, their exercises/<lab> folder, or a folder holding src/), a
    /// git repository, or a .tar.gz. Records, feedback (Markdown), a
    /// Gradescope results.json and JUnit XML go to <out>/students/<name>/,
    /// the gradebook to <out>/gradebook.csv. Run again with the same --out,
    /// it goes on where it stopped. The solution of each lab is graded once
    /// per batch (kept in <out>/reference/) for the charts of each
    /// student's feedback.html; <out>/class.html shows the whole batch.
    Class {
        /// The folder of submissions.
        dir: PathBuf,
        /// A lab to grade in every submission (repeat for several; every lab when left out).
        #[arg(long = "lab")]
        labs: Vec<String>,
        /// Where the results go (default: <dir>-grades beside the folder).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seed of the whole batch (default: `GRADER_SEED`, else a fresh one, recorded for a restart).
        #[arg(long)]
        seed: Option<u64>,
        /// Rank students by speedup: leaderboard entries in each student's
        /// Gradescope results and a leaderboard on the class page.
        #[arg(long)]
        leaderboard: bool,
    },
    /// Turn result records (`grade --json`) into a platform's format.
    ///
    /// gradescope: Gradescope's autograder results.json; classroom: the
    /// GitHub Classroom autograding result; classroom-output: the
    /// `result=<base64>` line its reporter reads from `$GITHUB_OUTPUT`;
    /// junit: JUnit XML; markdown: the feedback a student reads (also a
    /// workflow's step summary); html: the feedback page with charts,
    /// feedback.html and a flamegraph-<lab>.svg per lab that took one, in
    /// the folder --out names (default: the record's); csv: a gradebook, a
    /// row per record, named by the record's file name (by its folder for
    /// `grader class`'s `students/<name>/record.json`).
    Export {
        #[arg(value_enum)]
        format: ExportFormat,
        /// Result records; every format but csv takes exactly one.
        #[arg(required = true)]
        records: Vec<PathBuf>,
        /// Write here instead of standard output (html: the folder for the page).
        #[arg(long)]
        out: Option<PathBuf>,
        /// html: a record of the solution (`grade --target solution --json`)
        /// to draw beside the baseline and the student's (repeat for several labs).
        #[arg(long)]
        reference: Vec<PathBuf>,
        /// Gradescope: who sees the tests and the result.
        #[arg(long, value_enum, default_value = "visible")]
        visibility: crate::export::Visibility,
        /// Gradescope: a leaderboard entry per measurement (its ratio to the baseline).
        #[arg(long)]
        leaderboard: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExportFormat {
    Gradescope,
    Classroom,
    ClassroomOutput,
    Junit,
    Markdown,
    Html,
    Csv,
}

/// A problem with what was asked for: one line, exit code 2.
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// A usage error (one line, exit code 2) from elsewhere in the grader.
pub(crate) fn usage(text: String) -> anyhow::Error {
    Usage(text).into()
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("grader: cannot start tokio: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => match err.downcast_ref::<Usage>() {
            Some(usage) => {
                eprintln!("grader: {usage}");
                ExitCode::from(2)
            }
            None => {
                eprintln!("grader: {err:#}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Export { format, records, out, reference, visibility, leaderboard }) = cli.command {
        // Records are read as they are: no kit is needed to convert them.
        if format == ExportFormat::Html {
            return export_html(&records, &reference, out.as_deref());
        }
        if !reference.is_empty() {
            return Err(Usage("--reference is for export html".into()).into());
        }
        return export(format, &records, out.as_deref(), crate::export::GradescopeOptions { visibility, leaderboard });
    }
    let kit = Kit::discover(cli.kit.clone())?;
    match cli.command {
        None => {
            let options = GradeOptions { json: None, seed: None, only: None, quiet: cli.quiet, scorecard_only: true };
            grade(&kit, None, "exercise", options).await
        }
        Some(Command::Grade { lab, target, json, seed, only }) => {
            let options = GradeOptions { json, seed, only, quiet: cli.quiet, scorecard_only: false };
            grade(&kit, lab, &target, options).await
        }
        Some(Command::Load { lab, target, url, requests, rounds, concurrency, seed }) => {
            let load = LoadArgs { requests, rounds, concurrency, seed, quiet: cli.quiet };
            load_test(&kit, &lab, &target, url.as_deref(), load).await
        }
        Some(Command::Export { .. }) => unreachable!("converted above"),
        Some(Command::Class { dir, labs, out, seed, leaderboard }) => {
            if !dir.is_dir() {
                return Err(Usage(format!("{} is not a folder of submissions", dir.display())).into());
            }
            let out = out.unwrap_or_else(|| {
                let name = dir.file_name().map_or_else(|| "class".into(), |n| n.to_string_lossy().into_owned());
                dir.with_file_name(format!("{name}-grades"))
            });
            let options = crate::class::ClassOptions { dir, labs, out, seed, leaderboard, quiet: cli.quiet };
            crate::class::run(&kit, options).await
        }
        Some(Command::Labs) => {
            for lab in kit.labs()? {
                let rubric = kit.rubric(&lab)?;
                println!("{lab}\t{}", rubric.title);
            }
            Ok(())
        }
    }
}

fn resolve_labs(kit: &Kit, lab: Option<String>) -> anyhow::Result<Vec<String>> {
    let known = kit.labs()?;
    match lab {
        None => Ok(known),
        Some(lab) if known.contains(&lab) => Ok(vec![lab]),
        Some(lab) => Err(Usage(format!("unknown lab {lab:?} (labs: {})", known.join(", "))).into()),
    }
}

/// `GRADER_SEED`, when set: the seed of every grading that names none (the
/// kit's own test run sets it, so its gradings share the baseline's counts).
pub(crate) fn seed_from_env() -> Option<u64> {
    std::env::var("GRADER_SEED").ok().and_then(|value| value.trim().parse().ok())
}

/// How `grade` runs and reports.
struct GradeOptions {
    json: Option<PathBuf>,
    seed: Option<u64>,
    only: Option<String>,
    quiet: bool,
    scorecard_only: bool,
}

async fn grade(kit: &Kit, lab: Option<String>, target: &str, options: GradeOptions) -> anyhow::Result<()> {
    let GradeOptions { json, seed, only, quiet, scorecard_only } = options;
    let labs = resolve_labs(kit, lab)?;
    let target = Target::parse(target).map_err(Usage)?;
    let only = match (&only, labs.as_slice()) {
        (Some(check), [lab]) => {
            let rubric = kit.rubric(lab)?;
            match rubric.measurements_of(check) {
                measurements if !measurements.is_empty() => Some(measurements),
                _ => {
                    let ids: Vec<&str> =
                        rubric.checks.iter().filter(|c| c.measurement.is_some()).map(|c| c.id.as_str()).collect();
                    return Err(Usage(format!(
                        "--only {check:?}: no measured check of {lab} has that id (checks: {})",
                        ids.join(", ")
                    ))
                    .into());
                }
            }
        }
        _ => None,
    };
    let seed = seed.or_else(seed_from_env).unwrap_or_else(crate::environment::fresh_seed);
    let valgrind = measure::valgrind_version();
    let jail = crate::contain::Jail::new().context("preparing the sandbox")?;
    let environment = crate::environment::capture(seed, valgrind.clone(), &kit.root, &kit.editable()?, jail.describe());
    let progress = Progress::new(quiet);
    let ctx = Context { kit, seed, progress: &progress, valgrind, only, jail: &jail };
    let mut record = Record { labs: Vec::new(), environment };
    for lab in &labs {
        let rubric = kit.rubric(lab)?;
        progress.phase(format!("grading {} ({})", rubric.title, target.label()));
        let lab_record = labs::grade(&ctx, &rubric, &target).await;
        if !scorecard_only {
            progress.finish();
            println!("{}", report::lab_table(&lab_record));
        }
        record.labs.push(lab_record);
    }
    progress.finish();
    println!("{}", report::scorecard(&record));
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&record)?;
        std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
        eprintln!("result record written to {}", path.display());
    }
    Ok(())
}

/// Reads a record written by `grade --json`; a file that is not one is a usage error.
fn read_record(path: &std::path::Path) -> anyhow::Result<Record> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| Usage(format!("cannot read the record {}: {err}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|err| Usage(format!("{} is not a grader record (grade --json): {err}", path.display())).into())
}

fn export(
    format: ExportFormat,
    records: &[PathBuf],
    out: Option<&std::path::Path>,
    options: crate::export::GradescopeOptions,
) -> anyhow::Result<()> {
    use crate::export;
    let one = || match records {
        [path] => read_record(path),
        _ => {
            let name =
                clap::ValueEnum::to_possible_value(&format).map(|v| v.get_name().to_string()).unwrap_or_default();
            Err(Usage(format!("export {name} takes one record, not {} (csv takes several)", records.len())).into())
        }
    };
    let text = match format {
        ExportFormat::Gradescope => serde_json::to_string_pretty(&export::gradescope(&one()?, options))? + "\n",
        ExportFormat::Classroom => serde_json::to_string_pretty(&export::classroom(&one()?))? + "\n",
        ExportFormat::ClassroomOutput => export::classroom_output(&one()?),
        ExportFormat::Junit => export::junit(&one()?)?,
        ExportFormat::Markdown => export::markdown(&one()?),
        ExportFormat::Html => unreachable!("export_html writes a folder"),
        ExportFormat::Csv => {
            let mut students = Vec::new();
            for path in records {
                students.push((record_name(path), read_record(path)?));
            }
            export::gradebook(&students)?
        }
    };
    match out {
        Some(path) => std::fs::write(path, text).with_context(|| format!("writing {}", path.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// Who a record is about, from its path: `ana.json` is ana's, and so is
/// `students/ana/record.json` (`grader class` names the folder).
fn record_name(path: &std::path::Path) -> String {
    let named = if path.file_stem().is_some_and(|s| s == "record") { path.parent() } else { Some(path) };
    named.and_then(|p| p.file_stem()).map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned())
}

/// `export html`: the feedback page of one record, and its flamegraphs, in
/// `out` (default: the record's folder).
fn export_html(records: &[PathBuf], reference: &[PathBuf], out: Option<&std::path::Path>) -> anyhow::Result<()> {
    let [path] = records else {
        return Err(Usage(format!("export html takes one record, not {}", records.len())).into());
    };
    let record = read_record(path)?;
    let reference = reference.iter().map(|p| read_record(p)).collect::<anyhow::Result<Vec<Record>>>()?;
    let dir = match out {
        Some(dir) => dir.to_path_buf(),
        None => path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new(".")).to_path_buf(),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let heading = format!("Feedback: {}", record_name(path));
    for (name, text) in crate::pages::feedback::files(&record, &reference, &heading)? {
        let file = dir.join(name);
        std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    }
    eprintln!("feedback page written to {}", dir.join(crate::pages::feedback::PAGE).display());
    Ok(())
}

/// How much load, and how to report it.
#[derive(Debug, Clone, Copy)]
struct LoadArgs {
    requests: usize,
    rounds: usize,
    concurrency: usize,
    seed: Option<u64>,
    quiet: bool,
}

/// `http://127.0.0.1:8080` → true; a load test never leaves this machine.
fn is_loopback(url: &str) -> bool {
    let rest = url.strip_prefix("http://").unwrap_or("");
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(host, _)| host),
    };
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

async fn load_test(kit: &Kit, lab: &str, target: &str, url: Option<&str>, args: LoadArgs) -> anyhow::Result<()> {
    let LoadArgs { requests, rounds, concurrency, seed, quiet } = args;
    let lab = resolve_labs(kit, Some(lab.to_string()))?.remove(0);
    if lab != "profiling" {
        return Err(Usage(format!(
            "the load test drives lab profiling's in-memory service; lab {lab} has its own timed checks in `grade`"
        ))
        .into());
    }
    if let Some(url) = url
        && !is_loopback(url)
    {
        return Err(
            Usage(format!("--url must be http:// on this machine (127.0.0.1, localhost or [::1]), not {url}")).into()
        );
    }
    let target = Target::parse(target).map_err(Usage)?;
    if !(1..=256).contains(&concurrency) {
        return Err(Usage("--concurrency must be 1 to 256".into()).into());
    }
    if !(1..=100_000).contains(&requests) {
        return Err(Usage("--requests must be 1 to 100000".into()).into());
    }
    if !(1..=20).contains(&rounds) {
        return Err(Usage("--rounds must be 1 to 20".into()).into());
    }
    let rubric = kit.rubric(&lab)?;
    let size = rubric.workload::<labs::profiling::Settings>()?.size;
    let seed = seed.unwrap_or_else(crate::environment::fresh_seed);
    let data = measure::data_args(seed, &size);
    let progress = Progress::new(quiet);
    let baseline = build::build(kit, &rubric, &Target::Baseline, &progress).await?;
    let jail = crate::contain::Jail::new().context("preparing the sandbox")?;
    let list = Arc::new(labs::profiling::load_requests(&jail, &baseline.main, &data, requests).await?);
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(["service", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"]);
    let mut row = |name: &str, result: &load::LoadResult| {
        table.add_row([
            name.to_string(),
            result.sent.to_string(),
            result.errors.to_string(),
            format!("{:.0}", result.throughput()),
            format!("{:.2}", result.quantile_ms(0.50)),
            format!("{:.2}", result.quantile_ms(0.95)),
            format!("{:.2}", result.quantile_ms(0.99)),
            format!("{:.2}", result.histogram.max() as f64 / 1000.0),
        ]);
    };
    let limit = Duration::from_secs(120);
    let warmup = (requests / 10).max(1);
    let footer = match url {
        Some(url) => {
            let url = url.trim_end_matches('/');
            progress.phase(format!("load-testing {url}: {requests} requests at concurrency {concurrency}"));
            let client = crate::process::http_client();
            let result = load::closed_loop(&client, url, list.clone(), requests, concurrency, limit).await;
            anyhow::ensure!(result.sent > result.errors, "{url} answered none of {} requests", result.sent);
            row(url, &result);
            format!("seed {seed} · the workload of {} · loopback, closed loop", rubric.title)
        }
        None => {
            let candidate = build::build(kit, &rubric, &target, &progress).await?;
            let name = target.label();
            let mut servers = Vec::new();
            for (who, binaries) in [("baseline", &baseline), (name.as_str(), &candidate)] {
                progress.phase(format!("starting {who} and warming it up ({warmup} requests)"));
                let server = labs::profiling::start(&jail, &binaries.main, &data)
                    .await
                    .with_context(|| format!("starting {who}"))?;
                load::closed_loop(&server.client, &server.url, list.clone(), warmup, concurrency, limit).await;
                servers.push(server);
            }
            let one = |i: usize| {
                let (client, list, url) = (servers[i].client.clone(), list.clone(), servers[i].url.clone());
                async move { Ok::<_, Stop>(load::closed_loop(&client, &url, list, requests, concurrency, limit).await) }
            };
            let pairs = paired_rounds(
                rounds,
                |round| {
                    progress.phase(format!(
                        "round {round}/{rounds}: {requests} requests to each service at concurrency {concurrency}"
                    ))
                },
                || one(0),
                || one(1),
            )
            .await
            .map_err(|stop| anyhow::anyhow!("{stop:?}"))?;
            let ratios: Vec<f64> =
                pairs.iter().map(|(b, t)| b.quantile_ms(0.99) / t.quantile_ms(0.99).max(0.001)).collect();
            let (base, cand) = pairs.into_iter().fold((None, None), |(b, t), (rb, rt)| {
                (Some(load::LoadResult::pooled(b, rb)), Some(load::LoadResult::pooled(t, rt)))
            });
            let (base, cand) = (base.context("no rounds")?, cand.context("no rounds")?);
            row("baseline", &base);
            row(&name, &cand);
            let pooled = base.quantile_ms(0.99) / cand.quantile_ms(0.99).max(0.001);
            let (low, high) = ratios.iter().fold((f64::MAX, 0.0f64), |(l, h), r| (l.min(*r), h.max(*r)));
            format!(
                "p99 baseline / {name}: {pooled:.2}x pooled over {rounds} rounds (rounds {low:.2}x to {high:.2}x)\n\
                 seed {seed} · {} · loopback, closed loop, rounds alternate which service goes first",
                rubric.title
            )
        }
    };
    progress.finish();
    println!("{table}\n{footer}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn only_loopback_urls_may_be_loaded() {
        for url in ["http://127.0.0.1:8080", "http://localhost:8080/", "http://[::1]:8080", "http://127.0.0.2"] {
            assert!(is_loopback(url), "{url}");
        }
        for url in ["http://10.0.0.1:8080", "https://127.0.0.1:8080", "http://example.com", "127.0.0.1:8080"] {
            assert!(!is_loopback(url), "{url}");
        }
    }
}
