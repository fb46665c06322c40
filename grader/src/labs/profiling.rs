//! Lab 23: CPU instructions (callgrind), allocations and retained heap
//! (dhat), p99 under load (interleaved wall clock), all gated on answers
//! equal to the baseline's.

use std::sync::Arc;
use std::time::Duration;

use tokio::process::Command;

use super::{Context, Findings, score, unscored};
use crate::build::{self, Target};
use crate::measure::load::{self, WireReq};
use crate::measure::{self, data_args};
use crate::process::{self, RunError};
use crate::record::{LabRecord, Measurement, Status};
use crate::rubric::Rubric;
use crate::stats::{Interval, median_interval, pairwise_ratios};

/// Why grading stopped early.
enum Stop {
    Baseline(String),
    Target(RunError),
}

impl Stop {
    fn of(is_baseline: bool, err: RunError) -> Stop {
        if is_baseline { Stop::Baseline(err.to_string()) } else { Stop::Target(err) }
    }
}

pub async fn grade(ctx: &Context<'_>, rubric: &Rubric, target: &Target) -> LabRecord {
    let baseline = match super::build_baseline(ctx, rubric, target).await {
        Ok(binaries) => binaries,
        Err(record) => return record,
    };
    let candidate = match super::build_target(ctx, rubric, target, &baseline).await {
        Ok(binaries) => binaries,
        Err(record) => return record,
    };
    match measure_all(ctx, rubric, &baseline, &candidate).await {
        Ok(findings) => score(rubric, target, findings),
        Err(Stop::Target(err)) => unscored(rubric, target, Status::Failed, format!("the target {err}")),
        Err(Stop::Baseline(err)) => unscored(rubric, target, Status::Failed, format!("the kit's baseline {err}")),
    }
}

async fn measure_all(
    ctx: &Context<'_>,
    rubric: &Rubric,
    baseline: &build::Binaries,
    target: &build::Binaries,
) -> Result<Findings, Stop> {
    let setting = |key: &str| rubric.workload_usize(key).map_err(|err| Stop::Baseline(format!("{err:#}")));
    let size = rubric.workload_str("size").map_err(|err| Stop::Baseline(format!("{err:#}")))?;
    let data = data_args(ctx.seed, &size);
    let mut findings = Findings::default();

    ctx.progress.phase(format!("comparing answers on seed {}", ctx.seed));
    let mut compared = 0;
    for (workload, key) in [("cpu", "gate_cpu_requests"), ("leak", "gate_leak_requests")] {
        let (count, difference) = measure::gate(&baseline.main, &target.main, &data, workload, setting(key)?)
            .await
            .map_err(|(is_baseline, err)| Stop::of(is_baseline, err))?;
        compared += count;
        if let Some(difference) = difference {
            findings.gate = Some(Err(difference.to_string()));
            return Ok(findings);
        }
    }
    findings.gate = Some(Ok(format!("{compared} answers equal the baseline's on seed {}", ctx.seed)));

    findings.measurements.push(cpu(ctx, rubric, baseline, target, &data).await?);
    findings.measurements.extend(heap(ctx, rubric, baseline, target, &data).await?);
    findings.measurements.push(latency(ctx, rubric, baseline, target, &data).await?);
    Ok(findings)
}

async fn cpu(
    ctx: &Context<'_>,
    rubric: &Rubric,
    baseline: &build::Binaries,
    target: &build::Binaries,
    data: &[String],
) -> Result<Measurement, Stop> {
    let requests = rubric.workload_usize("cpu_requests").map_err(|e| Stop::Baseline(format!("{e:#}")))?;
    if ctx.valgrind.is_some() {
        ctx.progress.phase(format!("counting instructions with callgrind ({requests} requests)"));
        let (base, tgt) = tokio::join!(
            measure::callgrind_per_request(&baseline.main, data, requests),
            measure::callgrind_per_request(&target.main, data, requests)
        );
        let base = base.map_err(|e| Stop::of(true, e))?;
        let tgt = tgt.map_err(|e| Stop::of(false, e))?;
        let ratio = base / tgt.max(1.0);
        return Ok(Measurement::new(
            "cpu_instructions_per_request",
            "instructions/request",
            "callgrind instruction count (exact)".into(),
            base,
            tgt,
            Interval::exact(ratio),
            1,
        ));
    }
    let rounds = rubric.workload_usize("wall_rounds").map_err(|e| Stop::Baseline(format!("{e:#}")))?;
    ctx.progress.phase(format!("timing {rounds} interleaved rounds (valgrind not found)"));
    let (base, tgt) = measure::wall_rounds(&baseline.main, &target.main, data, requests, rounds)
        .await
        .map_err(|(is_baseline, err)| Stop::of(is_baseline, err))?;
    let ratio = median_interval(&pairwise_ratios(&base, &tgt));
    Ok(Measurement::new(
        "cpu_instructions_per_request",
        "ns/request",
        format!("wall clock, {rounds} interleaved rounds (valgrind not found)"),
        crate::stats::median(&base),
        crate::stats::median(&tgt),
        ratio,
        rounds,
    ))
}

async fn heap(
    ctx: &Context<'_>,
    rubric: &Rubric,
    baseline: &build::Binaries,
    target: &build::Binaries,
    data: &[String],
) -> Result<Vec<Measurement>, Stop> {
    let get = |key: &str| rubric.workload_usize(key).map_err(|e| Stop::Baseline(format!("{e:#}")));
    let (requests, warmup, leak) = (get("heap_requests")?, get("leak_warmup")?, get("leak_requests")?);
    ctx.progress.phase("counting allocations with dhat");
    let missing = || Stop::Baseline("lab has no -heap driver".into());
    let base_heap = baseline.heap.as_ref().ok_or_else(missing)?;
    let target_heap = target.heap.as_ref().ok_or_else(missing)?;
    let (base, tgt) = tokio::join!(
        measure::heap(base_heap, data, requests, warmup, leak),
        measure::heap(target_heap, data, requests, warmup, leak)
    );
    let base = base.map_err(|e| Stop::of(true, e))?;
    let tgt = tgt.map_err(|e| Stop::of(false, e))?;
    let blocks = base.allocations_per_request / tgt.allocations_per_request.max(1.0);
    // A target that keeps nothing has no ratio worth dividing by: floor at one byte.
    let retained = base.retained_bytes_per_request.max(0.0) / tgt.retained_bytes_per_request.max(1.0);
    Ok(vec![
        Measurement::new(
            "allocations_per_request",
            "allocations/request",
            format!("dhat heap counts over {requests} requests (exact)"),
            base.allocations_per_request,
            tgt.allocations_per_request,
            Interval::exact(blocks),
            1,
        ),
        Measurement::new(
            "retained_bytes_per_request",
            "bytes/request",
            format!("dhat live heap growth over {leak} requests after {warmup} (exact)"),
            base.retained_bytes_per_request,
            tgt.retained_bytes_per_request,
            Interval::exact(retained),
            1,
        ),
    ])
}

async fn latency(
    ctx: &Context<'_>,
    rubric: &Rubric,
    baseline: &build::Binaries,
    target: &build::Binaries,
    data: &[String],
) -> Result<Measurement, Stop> {
    let get = |key: &str| rubric.workload_usize(key).map_err(|e| Stop::Baseline(format!("{e:#}")));
    let (rounds, requests, concurrency) = (get("load_rounds")?, get("load_requests")?, get("load_concurrency")?);
    let run = load_rounds(ctx, baseline, target, data, rounds, requests, concurrency).await?;
    let (base, tgt): (Vec<f64>, Vec<f64>) = run.into_iter().unzip();
    Ok(Measurement::new(
        "p99_under_load",
        "ms",
        format!("p99 of {requests} requests at concurrency {concurrency}, {rounds} interleaved rounds on loopback"),
        crate::stats::median(&base),
        crate::stats::median(&tgt),
        median_interval(&pairwise_ratios(&base, &tgt)),
        rounds,
    ))
}

/// Workload requests as the trusted baseline driver generates them.
pub async fn load_requests(binary: &std::path::Path, data: &[String], n: usize) -> Result<Vec<WireReq>, RunError> {
    let mut command = Command::new(binary);
    command.arg("requests").args(data).args(["--workload", "load", "--requests", &n.to_string()]);
    let output = process::run(command, measure::RUN_LIMIT).await?;
    lab_protocol::parse_lines(&output.stdout).map_err(|err| RunError::Failed(format!("workload {err}")))
}

pub async fn start(binary: &std::path::Path, data: &[String]) -> Result<process::Server, RunError> {
    let mut command = Command::new(binary);
    command.arg("serve").args(data).args(["--addr", "127.0.0.1:0"]);
    process::serve(command, Duration::from_secs(60)).await
}

/// Per round, the p99 in ms of baseline and target, alternating which goes first.
async fn load_rounds(
    ctx: &Context<'_>,
    baseline: &build::Binaries,
    target: &build::Binaries,
    data: &[String],
    rounds: usize,
    requests: usize,
    concurrency: usize,
) -> Result<Vec<(f64, f64)>, Stop> {
    ctx.progress.phase("starting both services for the load test");
    let list = Arc::new(load_requests(&baseline.main, data, requests).await.map_err(|e| Stop::of(true, e))?);
    let base_server = start(&baseline.main, data).await.map_err(|e| Stop::of(true, e))?;
    let target_server = start(&target.main, data).await.map_err(|e| Stop::of(false, e))?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .map_err(|e| Stop::Baseline(e.to_string()))?;
    let limit = Duration::from_secs(60);
    let one = |url: String, total: usize| {
        let (client, list) = (client.clone(), list.clone());
        async move { load::closed_loop(&client, &url, list, total, concurrency, limit).await }
    };
    // Warm both: connections, caches, lazy statics.
    one(base_server.url.clone(), concurrency * 2).await;
    one(target_server.url.clone(), concurrency * 2).await;
    let mut pairs = Vec::with_capacity(rounds);
    for round in 0..rounds {
        ctx.progress
            .phase(format!("load round {}/{rounds}: {requests} requests at concurrency {concurrency}", round + 1));
        let (base, tgt) = if round % 2 == 0 {
            let base = one(base_server.url.clone(), requests).await;
            (base, one(target_server.url.clone(), requests).await)
        } else {
            let tgt = one(target_server.url.clone(), requests).await;
            (one(base_server.url.clone(), requests).await, tgt)
        };
        if tgt.sent == 0 || tgt.errors * 10 > tgt.sent {
            return Err(Stop::Target(RunError::Failed(format!(
                "failed {} of {} requests under load",
                tgt.errors, tgt.sent
            ))));
        }
        pairs.push((base.quantile_ms(0.99), tgt.quantile_ms(0.99)));
    }
    Ok(pairs)
}
