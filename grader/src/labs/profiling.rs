//! Lab 23: CPU instructions (callgrind), allocations and retained heap
//! (dhat), product lookups timed while receipts are signed (interleaved wall
//! clock), all gated on answers equal to the baseline's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::process::Command;

use super::Context;
use super::pipeline::{Method, Sides, Stop, Tools, kit, paired_rounds, tgt};
use crate::build;
use crate::measure::load::WireReq;
use crate::measure::{self, data_args};
use crate::process::{self, RunError};
use crate::record::Measurement;
use crate::rubric::{MethodKind, Rubric};
use crate::stats::{Interval, median_interval, pairwise_ratios};

/// The rubric's `[workload]` table; a key the lab does not read is refused.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub size: String,
    cpu_requests: usize,
    gate_cpu_requests: usize,
    gate_leak_requests: usize,
    gate_load_requests: usize,
    heap_requests: usize,
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

    async fn prepare(ctx: &Context<'_>, w: &Settings, _: &Sides) -> Result<Vec<String>, Stop> {
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
            let (count, difference) = measure::gate(&sides.baseline.main, &sides.target.main, data, workload, requests)
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
        data: &Vec<String>,
    ) -> Result<Vec<Measurement>, Stop> {
        let mut measurements = vec![cpu(ctx, w, &sides.baseline, &sides.target, data).await?];
        measurements.extend(heap(ctx, w, &sides.baseline, &sides.target, data).await?);
        measurements.push(blocking(ctx, w, &sides.baseline, &sides.target, data).await?);
        Ok(measurements)
    }
}

async fn cpu(
    ctx: &Context<'_>,
    w: &Settings,
    baseline: &build::Binaries,
    target: &build::Binaries,
    data: &[String],
) -> Result<Measurement, Stop> {
    let requests = w.cpu_requests;
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
            MethodKind::Callgrind,
            "cpu_instructions_per_request",
            "instructions/request",
            "callgrind instruction count (exact)".into(),
            base,
            tgt,
            Interval::exact(ratio),
            1,
        ));
    }
    let rounds = w.wall_rounds;
    ctx.progress.phase(format!("timing {rounds} interleaved rounds (valgrind not found)"));
    let pairs = paired_rounds(
        rounds,
        |_| {},
        || async { measure::ns_per_request(&baseline.main, data, requests).await.map_err(kit) },
        || async { measure::ns_per_request(&target.main, data, requests).await.map_err(tgt) },
    )
    .await?;
    let (base, tgt): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
    let ratio = median_interval(&pairwise_ratios(&base, &tgt));
    Ok(Measurement::new(
        MethodKind::PairedRounds,
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
    w: &Settings,
    baseline: &build::Binaries,
    target: &build::Binaries,
    data: &[String],
) -> Result<Vec<Measurement>, Stop> {
    let (requests, warmup, leak) = (w.heap_requests, w.leak_warmup, w.leak_requests);
    ctx.progress.phase("counting allocations with dhat");
    let missing = || Stop::Kit("lab has no -heap driver".into());
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
            MethodKind::Dhat,
            "allocations_per_request",
            "allocations/request",
            format!("dhat heap counts over {requests} requests (exact)"),
            base.allocations_per_request,
            tgt.allocations_per_request,
            Interval::exact(blocks),
            1,
        ),
        Measurement::new(
            MethodKind::Dhat,
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
    let list = load_requests(&baseline.main, data, 200).await.map_err(|e| Stop::of(true, e))?;
    let (batches, lookups): (Vec<WireReq>, Vec<WireReq>) = list
        .into_iter()
        .filter(|req| req.uri.starts_with("/products/") || req.uri == "/sales")
        .partition(|req| req.method == "POST");
    if batches.is_empty() || lookups.is_empty() {
        return Err(Stop::Kit("the load mix has no receipted batches or no product lookups".into()));
    }
    let (batches, lookups) = (Arc::new(batches), Arc::new(lookups));
    let base_server = start(&baseline.main, data).await.map_err(|e| Stop::of(true, e))?;
    let target_server = start(&target.main, data).await.map_err(|e| Stop::of(false, e))?;
    let client = reqwest::Client::new();
    let side = |url: String| {
        let (client, batches, lookups) = (client.clone(), batches.clone(), lookups.clone());
        async move { lookups_while_signing(&client, &url, batches, &lookups, signers, probes).await }
    };
    let base_side =
        || async { side(base_server.url.clone()).await.map_err(|e| kit(format!("under signing load: {e}"))) };
    let target_side =
        || async { side(target_server.url.clone()).await.map_err(|e| tgt(format!("under signing load: {e}"))) };
    // Warm both: connections, lazy statics, the first signatures.
    base_side().await?;
    target_side().await?;
    let pairs = paired_rounds(
        rounds,
        |round| {
            ctx.progress.phase(format!("blocking round {round}/{rounds}: {probes} lookups beside {signers} signers"))
        },
        base_side,
        target_side,
    )
    .await?;
    let (base, tgt): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
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
    ))
}

/// Keeps `signers` receipted batches in flight while `probes` lookups are
/// sent one after another; the lookups' median latency in ms.
async fn lookups_while_signing(
    client: &reqwest::Client,
    url: &str,
    batches: Arc<Vec<WireReq>>,
    lookups: &[WireReq],
    signers: usize,
    probes: usize,
) -> Result<f64, String> {
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
    let mut failure = None;
    for i in 0..probes.max(1) {
        let lookup = &lookups[i % lookups.len()];
        let sent_at = Instant::now();
        match client.get(format!("{url}{}", lookup.uri)).send().await {
            Ok(response) if response.status().is_success() => match response.bytes().await {
                Ok(_) => latencies.push(sent_at.elapsed().as_secs_f64() * 1000.0),
                Err(err) => failure = Some(format!("GET {}: {err}", lookup.uri)),
            },
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
        None => Ok(crate::stats::median(&latencies)),
    }
}
