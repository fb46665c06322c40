//! Lab 23: CPU instructions (callgrind), allocations and retained heap
//! (dhat), product lookups timed while receipts are signed (interleaved wall
//! clock), all gated on answers equal to the baseline's.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Context;
use super::pipeline::{Method, Sides, Stop, Tools, kit, paired_rounds, tgt, timed_rounds};
use crate::build;
use crate::contain::{Jail, Net};
use crate::measure::load::WireReq;
use crate::measure::{self, data_args};
use crate::process::{self, RunError};
use crate::record::{Distribution, Flamegraph, Measurement};
use crate::rubric::{MethodKind, Rubric};
use crate::stats::{Interval, median_interval, pairwise_ratios};

/// The rubric's `[workload]` table; a key the lab does not read is refused.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub size: String,
    /// The smaller dataset the growth check compares `size` with.
    growth_size: String,
    reports: usize,
    gate_cpu_requests: usize,
    gate_leak_requests: usize,
    gate_load_requests: usize,
    leak_warmup: usize,
    leak_requests: usize,
    blocking_rounds: usize,
    blocking_probes: usize,
    blocking_signers: usize,
    wall_rounds: usize,
}

/// Reads the rubric's `[workload]` table as this lab does.
pub fn read_settings(rubric: &Rubric) -> anyhow::Result<()> {
    rubric.workload::<Settings>().map(drop)
}

/// Lab 23's part of the pipeline. The data is generated in memory by each
/// driver from the seed, so there is nothing to prepare but its arguments.
pub struct Profiling;

impl Method for Profiling {
    type Settings = Settings;
    /// The driver arguments that pick the dataset.
    type Prepared = Vec<String>;

    async fn prepare(ctx: &Context<'_>, w: &Settings, _: &Sides, _: &Tools) -> Result<Vec<String>, Stop> {
        Ok(data_args(ctx.seed, &w.size))
    }

    async fn gate(
        ctx: &Context<'_>,
        w: &Settings,
        sides: &Sides,
        data: &Vec<String>,
    ) -> Result<Result<String, String>, Stop> {
        ctx.progress.phase(format!("comparing answers on seed {}", ctx.seed));
        let mut compared = 0;
        for (workload, requests) in
            [("cpu", w.gate_cpu_requests), ("leak", w.gate_leak_requests), ("load", w.gate_load_requests)]
        {
            let (count, difference) =
                measure::gate(ctx.jail, &sides.baseline.main, &sides.target.main, data, workload, requests)
                    .await
                    .map_err(|(is_baseline, err)| Stop::of(is_baseline, err))?;
            compared += count;
            if let Some(difference) = difference {
                return Ok(Err(difference.to_string()));
            }
        }
        Ok(Ok(format!("{compared} answers equal the baseline's on seed {}", ctx.seed)))
    }

    async fn measure(
        ctx: &Context<'_>,
        w: &Settings,
        sides: &Sides,
        _: &Tools,
        _gated: &Vec<String>,
    ) -> Result<Vec<Measurement>, Stop> {
        let (baseline, target) = (&sides.baseline, &sides.target);
        let mut measurements = Vec::new();
        // Each kind of run on a dataset and requests of its own (the baseline
        // given the same), so no run's answers are another's to replay.
        let data = &data_args(run_seed(ctx.seed, 1), &w.size);
        if ctx.wants(&[
            "instructions_per_one_day_report",
            "cost_growth_when_the_log_doubles",
            "instructions_per_year_long_report",
        ]) {
            measurements.extend(instructions(ctx, w, baseline, target, data).await?);
        }
        if ctx.wants(&[
            "allocations_per_year_of_sales",
            "allocations_per_year_long_report",
            "retained_bytes_per_request",
        ]) {
            measurements.extend(heap(ctx, w, baseline, target, &data_args(run_seed(ctx.seed, 3), &w.size)).await?);
        }
        if ctx.wants(&["lookup_wait_share_while_signing"]) {
            measurements.push(blocking(ctx, w, baseline, target, &data_args(run_seed(ctx.seed, 4), &w.size)).await?);
        }
        Ok(measurements)
    }

    async fn flamegraph(
        ctx: &Context<'_>,
        w: &Settings,
        sides: &Sides,
        _gated: &Vec<String>,
        measurements: &[Measurement],
    ) -> Result<Option<Flamegraph>, String> {
        flamegraph(ctx, w, &sides.target, measurements).await
    }
}

/// Instructions (or nanoseconds, without valgrind) a flamegraph's run should
/// take in all: about two seconds, some 200 samples at 99 Hz.
const FLAMEGRAPH_BUDGET: f64 = 2.0e9;

/// A pprof flamegraph of the target's year-long reports (its costliest
/// requests in every version), for the feedback page: as many repeats of
/// the counted run as fill about two seconds, judged from its measured cost.
async fn flamegraph(
    ctx: &Context<'_>,
    w: &Settings,
    target: &build::Binaries,
    measurements: &[Measurement],
) -> Result<Option<Flamegraph>, String> {
    let Some(year) = measurements.iter().find(|m| m.id == "instructions_per_year_long_report") else {
        return Ok(None);
    };
    let requests = w.reports.max(1);
    let repeat = (FLAMEGRAPH_BUDGET / (year.target.max(1.0) * requests as f64)).clamp(1.0, 5_000.0) as usize;
    ctx.progress.phase(format!("profiling the target's year-long reports for its flamegraph ({repeat} x {requests})"));
    let cell = measure::cell(ctx.jail).map_err(|e| e.to_string())?;
    let mut args = vec!["run".to_string()];
    args.extend(data_args(run_seed(ctx.seed, 1), &w.size));
    args.extend(["--workload".into(), "year".into(), "--totals-only".into()]);
    args.extend(["--requests".into(), requests.to_string(), "--repeat".into(), repeat.to_string()]);
    args.extend(["--stacks".into(), cell.inside("stacks.txt").display().to_string()]);
    let command = measure::contained(ctx.jail, &cell, &Net::None, &target.main, &args, measure::RUN_LIMIT)
        .map_err(|e| e.to_string())?;
    process::run(command, measure::RUN_LIMIT).await.map_err(|e| format!("the profiled run {e}"))?;
    let workload = format!("year-long reports, {requests} requests x {repeat}, sampled at 99 Hz");
    let svg = crate::flamegraph::draw(&cell.outside("stacks.txt"), &format!("The target's {workload}"))?;
    Ok(Some(Flamegraph { workload, svg }))
}

/// The seed of the `run`th kind of measured run of a grading on `seed`
/// (the gate's is `seed` itself): distinct, and the same for both sides.
fn run_seed(seed: u64, run: u64) -> u64 {
    seed.wrapping_add(run.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Per-request costs of one side: one-day and year-long reports on the
/// graded log and on the smaller one, and the digests of the answers each
/// measured run got (by run), which must equal the baseline's.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Costs {
    day: f64,
    year: f64,
    small_day: f64,
    small_year: f64,
    answers: BTreeMap<String, Vec<String>>,
    /// How long the side's runs took, whole: the target's limit per run is scaled from the baseline's.
    seconds: f64,
}

impl Costs {
    /// What a report costs per sale it reads, beyond a one-day report, on the
    /// graded log over the same on the smaller one.
    fn growth(&self) -> f64 {
        (self.year - self.day) / (self.small_year - self.small_day).max(1.0)
    }
}

/// One side's [`Costs`]: callgrind instructions (exact; six runs, the
/// empty run of each size subtracted from both of its workloads), or
/// without valgrind the wall-clock nanoseconds of one run each.
async fn costs(
    ctx: &Context<'_>,
    binary: &Path,
    sizes: [&[String]; 2],
    n: usize,
    limit: Duration,
) -> Result<Costs, RunError> {
    let [data, small] = sizes;
    let started = Instant::now();
    let runs = |d: Vec<String>, y: Vec<String>, sd: Vec<String>, sy: Vec<String>| {
        BTreeMap::from([
            (RUN_NAMES[0].to_string(), d),
            (RUN_NAMES[1].to_string(), y),
            (RUN_NAMES[2].to_string(), sd),
            (RUN_NAMES[3].to_string(), sy),
        ])
    };
    if ctx.valgrind.is_none() {
        let (day, d) = measure::ns_per_request(ctx.jail, binary, data, "day", n, limit).await?;
        let (year, y) = measure::ns_per_request(ctx.jail, binary, data, "year", n, limit).await?;
        let (small_day, sd) = measure::ns_per_request(ctx.jail, binary, small, "day", n, limit).await?;
        let (small_year, sy) = measure::ns_per_request(ctx.jail, binary, small, "year", n, limit).await?;
        let seconds = started.elapsed().as_secs_f64();
        return Ok(Costs { day, year, small_day, small_year, answers: runs(d, y, sd, sy), seconds });
    }
    let counted = async {
        let per = |total: u64, setup: u64| total.saturating_sub(setup) as f64 / n.max(1) as f64;
        let total = |binary, data, workload, n| measure::callgrind_total(ctx.jail, binary, data, workload, n, limit);
        let (setup, day, year) =
            tokio::join!(total(binary, data, "day", 0), total(binary, data, "day", n), total(binary, data, "year", n));
        let ((setup, _), (day, d), (year, y)) = (setup?, day?, year?);
        let (small_setup, small_day, small_year) = tokio::join!(
            total(binary, small, "day", 0),
            total(binary, small, "day", n),
            total(binary, small, "year", n)
        );
        let ((small_setup, _), (small_day, sd), (small_year, sy)) = (small_setup?, small_day?, small_year?);
        Ok(Costs {
            day: per(day, setup),
            year: per(year, setup),
            small_day: per(small_day, small_setup),
            small_year: per(small_year, small_setup),
            answers: runs(d, y, sd, sy),
            seconds: started.elapsed().as_secs_f64(),
        })
    };
    match is_baseline(ctx, binary) {
        true => {
            let key = format!("callgrind costs {} | {} | {n}", data.join(" "), small.join(" "));
            measure::baseline_cache::get(&ctx.kit.target_dir, binary, &key, counted).await
        }
        false => counted.await,
    }
}

/// The measured runs of [`costs`], as a person reads them in a reason.
const RUN_NAMES: [&str; 4] = [
    "the counted run of one-day reports on the graded log",
    "the counted run of year-long reports on the graded log",
    "the counted run of one-day reports on the small log",
    "the counted run of year-long reports on the small log",
];

/// The target's answers in every measured run must be the baseline's: a
/// target that works only when checked earns nothing, and the grading stops.
fn same_answers<'a>(runs: impl IntoIterator<Item = (&'a str, &'a [String], &'a [String])>) -> Result<(), Stop> {
    for (run, want, got) in runs {
        if let Some(difference) = measure::compare_digests(run, want, got) {
            return Err(Stop::Target(format!("answered differently when measured: {difference}")));
        }
    }
    Ok(())
}

/// Whether `binary` is the kit's own baseline (whose exact counts may be cached).
fn is_baseline(ctx: &Context<'_>, binary: &Path) -> bool {
    binary.starts_with(ctx.kit.target_dir.join("grader").join("bin").join("profiling").join("baseline"))
}

/// One dhat run's report and how long it took.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct HeapRun {
    report: lab_protocol::HeapReport,
    seconds: f64,
}

/// dhat's counts for a `-heap` driver; the baseline's are cached.
async fn heap_counts(
    ctx: &Context<'_>,
    heap: &Path,
    data: &[String],
    workload: &str,
    (n, warmup, leak): (usize, usize, usize),
    limit: Duration,
) -> Result<HeapRun, RunError> {
    let counted = async {
        let started = Instant::now();
        let report = measure::heap(ctx.jail, heap, data, workload, (n, warmup, leak), limit).await?;
        Ok(HeapRun { report, seconds: started.elapsed().as_secs_f64() })
    };
    match is_baseline(ctx, heap) {
        true => {
            let key = format!("dhat {} {workload} {n} {warmup} {leak}", data.join(" "));
            measure::baseline_cache::get(&ctx.kit.target_dir, heap, &key, counted).await
        }
        false => counted.await,
    }
}

/// Steps 4 and 5: the `parse` and `growth` measurements, from each side's [`Costs`].
///
/// - Step 4's fault, a one-day report that still reads the whole log: the
///   cost of one-day reports, baseline over target. Re-parsing the log per
///   report (and rebuilding the regex and the date format for it) is nearly
///   all a one-day report costs.
/// - Step 5's fault, work that grows faster than the data: the target's
///   (year-long − one-day) cost on the graded log over the same on a log
///   half as long, with half the products and customers. About 2 when the
///   work per sale stays flat, about 4 when each sale searches lists that
///   grow with the data. Scored on the target's own value, and the one-day
///   report subtracted, so no other fix moves it.
async fn instructions(
    ctx: &Context<'_>,
    w: &Settings,
    baseline: &build::Binaries,
    target: &build::Binaries,
    data: &[String],
) -> Result<Vec<Measurement>, Stop> {
    let n = w.reports;
    let small = data_args(run_seed(ctx.seed, 2), &w.growth_size);
    let sizes = [data, small.as_slice()];
    let (method, rounds, unit, how) = match ctx.valgrind {
        Some(_) => (MethodKind::Callgrind, 1, "instructions/request", "callgrind instruction counts (exact)"),
        None => (
            MethodKind::PairedRounds,
            w.wall_rounds,
            "ns/request",
            "wall clock, interleaved rounds (valgrind not found)",
        ),
    };
    ctx.progress
        .phase(format!("counting one-day and year-long reports ({} and {} logs): {how}", w.size, w.growth_size));
    // The baseline goes first in the first round: its time scales the target's limit.
    let baseline_took = std::sync::Mutex::new(None);
    // Instruction counts ignore what else runs; the wall-clock fallback does not.
    let _quiet = match ctx.valgrind {
        Some(_) => None,
        None => Some(crate::quiet::timed(ctx.progress).await.map_err(|err| kit(format!("{err:#}")))?),
    };
    let pairs = paired_rounds(
        rounds,
        |round| ctx.progress.phase(format!("report costs, round {round}/{rounds}")),
        || async {
            let costs = costs(ctx, &baseline.main, sizes, n, measure::RUN_LIMIT).await.map_err(kit)?;
            baseline_took.lock().expect("never poisoned").get_or_insert(Duration::from_secs_f64(costs.seconds));
            Ok(costs)
        },
        || async {
            let took = *baseline_took.lock().expect("never poisoned");
            let limit = took.map_or(measure::RUN_LIMIT, measure::scaled_limit);
            costs(ctx, &target.main, sizes, n, limit).await.map_err(tgt)
        },
    )
    .await?;
    for (base, tgt) in &pairs {
        same_answers(
            base.answers.iter().map(|(run, want)| {
                (run.as_str(), want.as_slice(), tgt.answers.get(run).map_or(&[][..], Vec::as_slice))
            }),
        )?;
    }
    let interval = |ratios: Vec<f64>| match rounds {
        1 => Interval::exact(ratios[0]),
        _ => median_interval(&ratios),
    };
    let median = |values: Vec<f64>| crate::stats::median(&values);
    let days: Vec<(f64, f64)> = pairs.iter().map(|(b, t)| (b.day, t.day)).collect();
    let (base_days, tgt_days): (Vec<f64>, Vec<f64>) = days.iter().copied().unzip();
    let day_ratio = interval(days.iter().map(|(b, t)| b / t.max(1.0)).collect());
    let years: Vec<(f64, f64)> = pairs.iter().map(|(b, t)| (b.year, t.year)).collect();
    let (base_years, tgt_years): (Vec<f64>, Vec<f64>) = years.iter().copied().unzip();
    let year_ratio = interval(years.iter().map(|(b, t)| b / t.max(1.0)).collect());
    let growths: Vec<(f64, f64)> = pairs.iter().map(|(b, t)| (b.growth(), t.growth())).collect();
    let (base_growth, tgt_growth): (Vec<f64>, Vec<f64>) = growths.iter().copied().unzip();
    let growth_ratio = interval(growths.iter().map(|(b, t)| b / t.max(f64::MIN_POSITIVE)).collect());
    Ok(vec![
        Measurement::new(
            method,
            "instructions_per_one_day_report",
            unit,
            format!("one-day reports, {n} per run; {how}"),
            median(base_days),
            median(tgt_days),
            day_ratio,
            rounds,
        ),
        Measurement::new(
            method,
            "cost_growth_when_the_log_doubles",
            "x",
            format!(
                "(year-long report - one-day report) on the {} log over the same on the {} log, {n} reports \
                 each; {how}; the log doubles, so about 2 means the cost per sale stays flat",
                w.size, w.growth_size
            ),
            median(base_growth),
            median(tgt_growth),
            growth_ratio,
            rounds,
        ),
        // The growth check's guard: a year-long report on the graded log on
        // its own, which making the smaller log's reports or the one-day
        // reports costlier cannot improve.
        Measurement::new(
            method,
            "instructions_per_year_long_report",
            unit,
            format!("year-long reports on the {} log, {n} per run; {how}", w.size),
            median(base_years),
            median(tgt_years),
            year_ratio,
            rounds,
        ),
    ])
}

/// Step 6's fault (allocations per sale a report reads: a year-long report's
/// minus a one-day report's, so the per-line allocations of re-parsing the
/// log cancel) and step 7's (heap kept alive per report after a warm-up).
async fn heap(
    ctx: &Context<'_>,
    w: &Settings,
    baseline: &build::Binaries,
    target: &build::Binaries,
    data: &[String],
) -> Result<Vec<Measurement>, Stop> {
    let (n, warmup, leak) = (w.reports, w.leak_warmup, w.leak_requests);
    ctx.progress.phase("counting allocations and retained heap with dhat");
    let missing = || Stop::Kit("lab has no -heap driver".into());
    let side = |heap: std::path::PathBuf, limit: Duration| async move {
        let (year, day) = tokio::join!(
            heap_counts(ctx, &heap, data, "year", (n, warmup, leak), limit),
            heap_counts(ctx, &heap, data, "day", (n, 0, 0), limit)
        );
        let (year, day) = (year?, day?);
        let seconds = year.seconds.max(day.seconds);
        let (year, day) = (year.report, day.report);
        Ok::<_, RunError>((
            (
                year.allocations_per_request - day.allocations_per_request,
                year.allocations_per_request,
                year.retained_bytes_per_request,
                [year.answers, day.answers],
            ),
            seconds,
        ))
    };
    // The baseline first: its time scales the target's limit.
    let (base, took) =
        side(baseline.heap.clone().ok_or_else(missing)?, measure::RUN_LIMIT).await.map_err(|e| Stop::of(true, e))?;
    let limit = measure::scaled_limit(Duration::from_secs_f64(took));
    let (tgt, _) = side(target.heap.clone().ok_or_else(missing)?, limit).await.map_err(|e| Stop::of(false, e))?;
    let ((base_allocs, base_year, base_kept, base_answers), (tgt_allocs, tgt_year, tgt_kept, tgt_answers)) =
        (base, tgt);
    same_answers([
        ("dhat's run of year-long reports and the leak mix", base_answers[0].as_slice(), tgt_answers[0].as_slice()),
        ("dhat's run of one-day reports", base_answers[1].as_slice(), tgt_answers[1].as_slice()),
    ])?;
    // A target that allocates or keeps nothing has no ratio worth dividing by: floor at one.
    let allocs = base_allocs.max(0.0) / tgt_allocs.max(1.0);
    let year_allocs = base_year.max(0.0) / tgt_year.max(1.0);
    let retained = base_kept.max(0.0) / tgt_kept.max(1.0);
    Ok(vec![
        Measurement::new(
            MethodKind::Dhat,
            "allocations_per_year_of_sales",
            "allocations/request",
            format!("dhat: allocations of {n} year-long reports minus {n} one-day reports, per report (exact)"),
            base_allocs,
            tgt_allocs,
            Interval::exact(allocs),
            1,
        ),
        // The allocations check's guard: the year-long report on its own,
        // which allocating more in one-day reports cannot improve.
        Measurement::new(
            MethodKind::Dhat,
            "allocations_per_year_long_report",
            "allocations/request",
            format!("dhat: allocations of {n} year-long reports, per report (exact)"),
            base_year,
            tgt_year,
            Interval::exact(year_allocs),
            1,
        ),
        Measurement::new(
            MethodKind::Dhat,
            "retained_bytes_per_request",
            "bytes/request",
            format!("dhat live heap growth over {leak} reports after {warmup} (exact)"),
            base_kept,
            tgt_kept,
            Interval::exact(retained),
            1,
        ),
    ])
}

/// Workload requests as the trusted baseline driver generates them.
pub async fn load_requests(
    jail: &Jail,
    binary: &std::path::Path,
    data: &[String],
    n: usize,
) -> Result<Vec<WireReq>, RunError> {
    let mut args = vec!["requests".to_string()];
    args.extend_from_slice(data);
    args.extend(["--workload".into(), "load".into(), "--requests".into(), n.to_string()]);
    let cell = measure::cell(jail)?;
    let output = process::run(
        measure::contained(jail, &cell, &Net::None, binary, &args, measure::RUN_LIMIT)?,
        measure::RUN_LIMIT,
    )
    .await?;
    lab_protocol::parse_lines(&output.stdout).map_err(|err| RunError::Failed(format!("workload {err}")))
}

/// Starts a contained `serve` on a Unix socket in a folder of its own (it
/// has no network): the service lives until the server is dropped, and its
/// CPU time is bounded by the longest run.
pub async fn start(jail: &Jail, binary: &std::path::Path, data: &[String]) -> Result<process::Server, RunError> {
    let cell = measure::cell(jail)?;
    let mut args = vec!["serve".to_string()];
    args.extend_from_slice(data);
    args.extend(["--unix".into(), cell.inside("http.sock").display().to_string()]);
    let command = measure::contained(jail, &cell, &Net::None, binary, &args, measure::RUN_LIMIT)?;
    process::serve(command, Duration::from_secs(60), cell).await
}

/// Product lookups timed while receipted batches are being signed.
///
/// Signing is the same fixed cost in every implementation; what differs is
/// whether a lookup has to wait for it. Enough clients send receipted
/// batches to occupy every worker thread of the service's runtime, and one
/// more client times product lookups beside them. Baseline and target
/// alternate in rounds; each round gives the median lookup of each side.
async fn blocking(
    ctx: &Context<'_>,
    w: &Settings,
    baseline: &build::Binaries,
    target: &build::Binaries,
    data: &[String],
) -> Result<Measurement, Stop> {
    let (rounds, probes) = (w.blocking_rounds, w.blocking_probes);
    // The driver's runtime has one worker per core: at least as many signers keep them all busy.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let signers = w.blocking_signers.max(cores);
    ctx.progress.phase(format!("starting both services to time lookups while {signers} clients sign batches"));
    let list = load_requests(ctx.jail, &baseline.main, data, 200).await.map_err(|e| Stop::of(true, e))?;
    let (batches, lookups): (Vec<WireReq>, Vec<WireReq>) = list
        .into_iter()
        .filter(|req| req.uri.starts_with("/products/") || req.uri == "/sales")
        .partition(|req| req.method == "POST");
    if batches.is_empty() || lookups.is_empty() {
        return Err(Stop::Kit("the load mix has no receipted batches or no product lookups".into()));
    }
    let (batches, lookups) = (Arc::new(batches), Arc::new(lookups));
    let base_server = start(ctx.jail, &baseline.main, data).await.map_err(|e| Stop::of(true, e))?;
    let target_server = start(ctx.jail, &target.main, data).await.map_err(|e| Stop::of(false, e))?;
    let side = |server: &process::Server| {
        let (client, url, batches, lookups) =
            (server.client.clone(), server.url.clone(), batches.clone(), lookups.clone());
        async move { lookups_while_signing(&client, &url, batches, &lookups, signers, probes).await }
    };
    let base_side = || async { side(&base_server).await.map_err(|e| kit(format!("under signing load: {e}"))) };
    let target_side = || async { side(&target_server).await.map_err(|e| tgt(format!("under signing load: {e}"))) };
    // Warm both: connections, lazy statics, the first signatures.
    base_side().await?;
    target_side().await?;
    let pairs = timed_rounds(
        ctx.progress,
        rounds,
        |round| {
            ctx.progress.phase(format!("blocking round {round}/{rounds}: {probes} lookups beside {signers} signers"))
        },
        base_side,
        target_side,
    )
    .await?;
    // The lookups timed must get the baseline's answers (the catalogue does
    // not change while batches are signed), or the timing is of other work.
    for ((_, want), (_, got)) in &pairs {
        if let Some(i) = measure::first_mismatch(want, got) {
            return Err(Stop::Target(format!(
                "answered differently when measured: timed lookup {} of {probes} ({}) differs from the baseline's",
                i + 1,
                lookups[i % lookups.len()].label()
            )));
        }
    }
    let median = |latencies: &[f64]| crate::stats::median(latencies);
    let base: Vec<f64> = pairs.iter().map(|((b, _), _)| median(b)).collect();
    let tgt: Vec<f64> = pairs.iter().map(|(_, (t, _))| median(t)).collect();
    let every = |side: fn(&Pair) -> &Vec<f64>| pairs.iter().flat_map(side).copied().collect::<Vec<f64>>();
    let distribution = Distribution::of(
        "latency of one product lookup while receipted batches are signed (every round)",
        "ms",
        &every(|((b, _), _)| b),
        &every(|(_, (t, _))| t),
    );
    // Scored as a share: how long a target's lookup waits, at most, for each
    // millisecond a baseline's waits (the conservative end of the interval).
    // A lookup either waits for the signing or it does not, so the rubric
    // sets one threshold far from both (~1 when blocked, ~0.002 when not).
    let ratio = median_interval(&pairwise_ratios(&base, &tgt));
    let (base_ms, target_ms) = (crate::stats::median(&base), crate::stats::median(&tgt));
    Ok(Measurement::new(
        MethodKind::PairedRounds,
        "lookup_wait_share_while_signing",
        "x the baseline's wait",
        format!(
            "median of {probes} product lookups (baseline {base_ms:.2} ms, target {target_ms:.3} ms) while \
             {signers} clients send receipted batches, {rounds} interleaved rounds on loopback; \
             target as a share of the baseline at the interval's conservative end"
        ),
        1.0,
        1.0 / ratio.low.max(f64::MIN_POSITIVE),
        ratio,
        rounds,
    )
    .with_distribution(distribution))
}

/// One round's lookups on each side: every lookup's latency in ms, and its answer.
type Pair = ((Vec<f64>, Vec<(u16, serde_json::Value)>), (Vec<f64>, Vec<(u16, serde_json::Value)>));

/// Keeps `signers` receipted batches in flight while `probes` lookups are
/// sent one after another; each lookup's latency in ms, and its status and body.
async fn lookups_while_signing(
    client: &reqwest::Client,
    url: &str,
    batches: Arc<Vec<WireReq>>,
    lookups: &[WireReq],
    signers: usize,
    probes: usize,
) -> Result<(Vec<f64>, Vec<(u16, serde_json::Value)>), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::with_capacity(signers);
    for first in 0..signers {
        let (client, url, batches, stop) = (client.clone(), url.to_string(), batches.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut i = first;
            while !stop.load(Ordering::Relaxed) {
                let batch = &batches[i % batches.len()];
                i += signers;
                let sent = client.post(format!("{url}{}", batch.uri)).json(&batch.body).send().await;
                match sent {
                    Ok(response) if response.status() == reqwest::StatusCode::CREATED => {
                        response.bytes().await.map_err(|e| format!("POST /sales: {e}"))?;
                    }
                    Ok(response) => return Err(format!("POST /sales answered {}", response.status())),
                    Err(err) => return Err(format!("POST /sales: {err}")),
                }
            }
            Ok(())
        }));
    }
    // Let the first batches reach the service and start signing.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let mut latencies = Vec::with_capacity(probes);
    let mut answers = Vec::with_capacity(probes);
    let mut failure = None;
    for i in 0..probes.max(1) {
        let lookup = &lookups[i % lookups.len()];
        let sent_at = Instant::now();
        match client.get(format!("{url}{}", lookup.uri)).send().await {
            Ok(response) if response.status().is_success() => {
                let status = response.status().as_u16();
                match response.bytes().await {
                    Ok(body) => {
                        latencies.push(sent_at.elapsed().as_secs_f64() * 1000.0);
                        let body = serde_json::from_slice(&body)
                            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into()));
                        answers.push((status, body));
                    }
                    Err(err) => failure = Some(format!("GET {}: {err}", lookup.uri)),
                }
            }
            Ok(response) => failure = Some(format!("GET {} answered {}", lookup.uri, response.status())),
            Err(err) => failure = Some(format!("GET {}: {err}", lookup.uri)),
        }
        if failure.is_some() {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for signer in clients {
        match signer.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => failure = failure.or(Some(err)),
            Err(err) => failure = failure.or(Some(format!("a signing client failed: {err}"))),
        }
    }
    match failure {
        Some(err) => Err(err),
        None => Ok((latencies, answers)),
    }
}
