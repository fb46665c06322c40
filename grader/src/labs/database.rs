//! Lab 24: queries per request counted by a wire-protocol proxy outside the
//! service, EXPLAIN plans on the target's own schema, the pool's behaviour
//! under a locked table, and interleaved latency ratios with a round-trip
//! delay; all gated on answers equal to the baseline's. How each driver verb
//! is used is in `labs/database/GRADER.md`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{Context, Findings, score, unscored};
use crate::build::{self, Target};
use crate::measure::{RUN_LIMIT, compare_answers};
use crate::process::{self, RunError};
use crate::record::{LabRecord, Measurement, Status};
use crate::rubric::Rubric;
use crate::stats::{median, median_interval};

/// Why grading stopped early.
enum Stop {
    Kit(String),
    Target(String),
}

fn kit(err: impl std::fmt::Display) -> Stop {
    Stop::Kit(err.to_string())
}

fn tgt(err: impl std::fmt::Display) -> Stop {
    Stop::Target(err.to_string())
}

/// One implementation's driver and the database seeded for it.
struct Side {
    driver: PathBuf,
    database: String,
}

pub async fn grade(ctx: &Context<'_>, rubric: &Rubric, target: &Target) -> LabRecord {
    let baseline = match super::build_baseline(ctx, rubric, target).await {
        Ok(binaries) => binaries,
        Err(record) => return record,
    };
    let proxy = match build::build_tool(ctx.kit, "lab-database", "pg-count-proxy", ctx.progress).await {
        Ok(path) => path,
        Err(err) => {
            return unscored(rubric, target, Status::Failed, format!("the kit's proxy {err}"));
        }
    };
    // Not graded, rather than failed, when there is no PostgreSQL to grade against.
    if let Err(err) = driver_json(&baseline.main, &["drop", "--database", "labdb_probe"], Duration::from_secs(30)).await
    {
        let reason = err.to_string();
        return super::not_graded(rubric, target, reason.trim_start_matches("error: ").to_string());
    }
    let candidate = match super::build_target(ctx, rubric, target, &baseline).await {
        Ok(binaries) => binaries,
        Err(record) => return record,
    };
    let tag = format!("labdb_g{}_{}", std::process::id(), ctx.seed);
    let base = Side { driver: baseline.main.clone(), database: format!("{tag}_base") };
    let cand = Side { driver: candidate.main.clone(), database: format!("{tag}_target") };
    let result = measure_all(ctx, rubric, &base, &cand, &proxy).await;
    for side in [&base, &cand] {
        let _ = driver_json(&side.driver, &["drop", "--database", &side.database], Duration::from_secs(60)).await;
    }
    match result {
        Ok(findings) => score(rubric, target, findings),
        Err(Stop::Target(reason)) => unscored(rubric, target, Status::Failed, format!("the target {reason}")),
        Err(Stop::Kit(reason)) => unscored(rubric, target, Status::Failed, format!("the kit's baseline {reason}")),
    }
}

/// Runs a driver verb and parses the JSON object it prints last.
async fn driver_json<S: AsRef<std::ffi::OsStr>>(driver: &Path, args: &[S], limit: Duration) -> Result<Value, RunError> {
    let mut command = Command::new(driver);
    command.args(args);
    let output = process::run(command, limit).await?;
    let line = output.stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).unwrap_or_default();
    serde_json::from_str(line).map_err(|err| RunError::Failed(format!("printed no result: {err}")))
}

/// `<verb> --seed S --size Z --database D <extra...>`
fn verb(verb: &str, seed: &str, size: &str, database: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec![verb, "--seed", seed, "--size", size, "--database", database];
    args.extend_from_slice(extra);
    args.into_iter().map(str::to_owned).collect()
}

async fn measure_all(
    ctx: &Context<'_>,
    rubric: &Rubric,
    base: &Side,
    cand: &Side,
    proxy: &Path,
) -> Result<Findings, Stop> {
    let get = |key: &str| rubric.workload_usize(key).map_err(|e| kit(format!("{e:#}")));
    let size = rubric.workload_str("size").map_err(|e| kit(format!("{e:#}")))?;
    let seed = ctx.seed.to_string();
    let mut findings = Findings::default();

    ctx.progress.phase(format!("seeding both databases ({size}, seed {seed})"));
    let seeded =
        driver_json(&base.driver, &verb("seed", &seed, &size, &base.database, &[]), RUN_LIMIT).await.map_err(kit)?;
    driver_json(&cand.driver, &verb("seed", &seed, &size, &cand.database, &[]), RUN_LIMIT)
        .await
        .map_err(|e| tgt(format!("could not be seeded: {e}")))?;

    // The gate first: its workload writes (reviews), the same on both sides.
    let gate_requests = get("gate_requests")?.to_string();
    ctx.progress.phase(format!("comparing answers on seed {seed}"));
    let dir = tempfile::tempdir().map_err(kit)?;
    let answers = |side: &Side, file: PathBuf| {
        let mut args = verb(
            "run",
            &seed,
            &size,
            &side.database,
            &["--reuse", "--workload", "mixed", "--requests", &gate_requests],
        );
        args.extend(["--responses".to_string(), file.display().to_string()]);
        let driver = side.driver.clone();
        async move {
            driver_json(&driver, &args, RUN_LIMIT).await?;
            let text =
                std::fs::read_to_string(&file).map_err(|e| RunError::Failed(format!("no answers written: {e}")))?;
            Ok::<Vec<Value>, RunError>(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
        }
    };
    let want = answers(base, dir.path().join("base.jsonl")).await.map_err(kit)?;
    let got = answers(cand, dir.path().join("target.jsonl")).await.map_err(tgt)?;
    if let Some(difference) = compare_answers(&want, &got) {
        findings.gate = Some(Err(difference.to_string()));
        return Ok(findings);
    }
    findings.gate = Some(Ok(format!(
        "{} answers equal the baseline's on seed {seed}; the baseline seeded {} rows in {:.1} s",
        want.len(),
        seeded["rows"],
        seeded["total_ms"].as_f64().unwrap_or(0.0) / 1000.0
    )));

    findings.measurements.extend(counts(ctx, rubric, base, cand, proxy, &seed, &size).await?);
    findings.measurements.push(plans(ctx, base, cand, &seed, &size).await?);
    findings.measurements.push(rows_read(ctx, base, cand, &seed, &size).await?);
    let pool = pool(ctx, rubric, base, cand).await?;
    let opened = findings.measurements.iter().find(|m| m.id == "connections_opened").map(|m| (m.baseline, m.target));
    let (base_opened, cand_opened) = opened.unwrap_or((0.0, 0.0));
    let max_connections = get("max_connections_opened")? as f64;
    let failures =
        |passed: bool, opened: f64| f64::from(u8::from(!passed)) + f64::from(u8::from(opened > max_connections));
    findings.measurements.push(Measurement::counted(
        "pool_failures",
        "failures",
        format!(
            "pool check ({} reads on a locked table): baseline answered {}, target {}; at most {max_connections} connections opened over the counted runs",
            get("pool_concurrency")?,
            pool.0["statuses"],
            pool.1["statuses"]
        ),
        failures(pool.0["passed"] == true, base_opened),
        failures(pool.1["passed"] == true, cand_opened),
    ));
    findings.measurements.extend(latency(ctx, rubric, base, cand, proxy, &seed, &size).await?);
    Ok(findings)
}

/// A running pg-count-proxy; killed when dropped.
struct Proxy {
    address: String,
    control: String,
    _child: Child,
}

async fn start_proxy(proxy: &Path, delay_ms: usize) -> Result<Proxy, Stop> {
    let mut command = Command::new(proxy);
    command
        .args(["--delay-ms", &delay_ms.to_string(), "--listen", "127.0.0.1:0", "--control", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(kit)?;
    let stdout = child.stdout.take().expect("piped");
    let first = tokio::time::timeout(Duration::from_secs(30), BufReader::new(stdout).lines().next_line())
        .await
        .map_err(|_| kit("proxy did not start within 30 s"))?
        .map_err(kit)?
        .ok_or_else(|| kit("proxy exited before listening"))?;
    let info: Value = serde_json::from_str(&first).map_err(kit)?;
    Ok(Proxy {
        address: info["proxy"].as_str().unwrap_or_default().to_string(),
        control: info["control"].as_str().unwrap_or_default().to_string(),
        _child: child,
    })
}

#[allow(clippy::too_many_arguments)]
async fn counted_run(
    side: &Side,
    seed: &str,
    size: &str,
    workload: &str,
    requests: usize,
    warmup: usize,
    via: &str,
    control: Option<&str>,
) -> Result<Value, RunError> {
    let (requests, warmup) = (requests.to_string(), warmup.to_string());
    let mut extra = vec!["--reuse", "--workload", workload, "--requests", &requests, "--warmup", &warmup, "--via", via];
    if let Some(control) = control {
        extra.extend(["--proxy-control", control]);
    }
    driver_json(&side.driver, &verb("run", seed, size, &side.database, &extra), RUN_LIMIT).await
}

async fn counts(
    ctx: &Context<'_>,
    rubric: &Rubric,
    base: &Side,
    cand: &Side,
    proxy: &Path,
    seed: &str,
    size: &str,
) -> Result<Vec<Measurement>, Stop> {
    let get = |key: &str| rubric.workload_usize(key).map_err(|e| kit(format!("{e:#}")));
    let (requests, warmup) = (get("count_requests")?, get("count_warmup")?);
    let proxy = start_proxy(proxy, get("proxy_delay_ms")?).await?;
    let mut per_workload = Vec::new();
    let mut connections = (0.0, 0.0);
    for workload in ["list", "detail", "filter", "report", "write"] {
        ctx.progress.phase(format!("counting queries through the proxy: {workload}"));
        let b = counted_run(base, seed, size, workload, requests, warmup, &proxy.address, Some(&proxy.control))
            .await
            .map_err(kit)?;
        let t = counted_run(cand, seed, size, workload, requests, warmup, &proxy.address, Some(&proxy.control))
            .await
            .map_err(tgt)?;
        connections.0 += b["connections"].as_f64().unwrap_or(0.0);
        connections.1 += t["connections"].as_f64().unwrap_or(0.0);
        per_workload.push((workload, b, t));
    }
    let value = |v: &Value, key: &str| v[key].as_f64().unwrap_or(f64::NAN);
    let method = |what: &str| format!("pg-count-proxy, {what}, {requests} requests after {warmup} (exact)");
    let mut out = Vec::new();
    for (workload, b, t) in &per_workload {
        let id = match *workload {
            "list" => "queries_per_list_page".to_string(),
            other => format!("queries_per_{other}_request"),
        };
        out.push(Measurement::counted(
            &id,
            "queries/request",
            method(&format!("{workload} workload")),
            value(b, "queries_per_request"),
            value(t, "queries_per_request"),
        ));
        if *workload == "report" {
            out.push(Measurement::counted(
                "bytes_per_report",
                "bytes/request",
                method("bytes PostgreSQL sent for the report workload"),
                value(b, "bytes_to_client_per_request"),
                value(t, "bytes_to_client_per_request"),
            ));
        }
        if *workload == "write" {
            out.push(Measurement::counted(
                "write_units_per_review",
                "commits/review",
                method("separate commits that wrote, per review"),
                value(b, "write_units_per_request"),
                value(t, "write_units_per_request"),
            ));
        }
    }
    out.push(Measurement::counted(
        "connections_opened",
        "connections",
        method("server connections opened over every counted run"),
        connections.0,
        connections.1,
    ));
    Ok(out)
}

async fn plans(ctx: &Context<'_>, base: &Side, cand: &Side, seed: &str, size: &str) -> Result<Measurement, Stop> {
    ctx.progress.phase("reading EXPLAIN plans");
    let explain = |side: &Side| {
        let args = verb("explain", seed, size, &side.database, &["--reuse"]);
        let driver = side.driver.clone();
        async move { driver_json(&driver, &args, RUN_LIMIT).await }
    };
    let b = explain(base).await.map_err(kit)?;
    let t = explain(cand).await.map_err(tgt)?;
    let misses = |v: &Value| f64::from(u8::from(v["filter"]["passed"] != true));
    let describe = |v: &Value| {
        let scans = v["filter"]["index_scans"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "));
        match scans {
            Some(scans) if !scans.is_empty() => scans,
            _ if v["filter"]["seq_scan_on_orders"] == true => "Seq Scan on orders".to_string(),
            _ => "no index scan".to_string(),
        }
    };
    Ok(Measurement::counted(
        "filter_plan_misses",
        "misses",
        format!(
            "EXPLAIN (FORMAT JSON) of the customer filter after ANALYZE: baseline {}; target {}",
            describe(&b),
            describe(&t)
        ),
        misses(&b),
        misses(&t),
    ))
}

/// Rows of `orders` PostgreSQL reads for a deep page, from its own statistics.
async fn rows_read(ctx: &Context<'_>, base: &Side, cand: &Side, seed: &str, size: &str) -> Result<Measurement, Stop> {
    ctx.progress.phase("counting rows read for a deep page");
    let args = |side: &Side| {
        verb("rows-read", seed, size, &side.database, &["--reuse", "--workload", "deep", "--requests", "3"])
    };
    let b = driver_json(&base.driver, &args(base), RUN_LIMIT).await.map_err(kit)?;
    let t = driver_json(&cand.driver, &args(cand), RUN_LIMIT).await.map_err(tgt)?;
    let rows = |v: &Value| v["orders_rows_read_per_request"].as_f64().unwrap_or(f64::NAN);
    Ok(Measurement::counted(
        "orders_rows_per_deep_page",
        "rows/request",
        "pg_stat_user_tables: rows of orders read per page 50,000 deep (exact)".into(),
        rows(&b),
        rows(&t),
    ))
}

async fn pool(ctx: &Context<'_>, rubric: &Rubric, base: &Side, cand: &Side) -> Result<(Value, Value), Stop> {
    let get = |key: &str| rubric.workload_usize(key).map_err(|e| kit(format!("{e:#}")));
    let (concurrency, hold) = (get("pool_concurrency")?.to_string(), get("pool_hold_ms")?.to_string());
    ctx.progress.phase("checking the pool against a locked table");
    let args = ["pool-check", "--size", "tiny", "--concurrency", &concurrency, "--hold-ms", &hold];
    let b = driver_json(&base.driver, &args, RUN_LIMIT).await.map_err(kit)?;
    let t = driver_json(&cand.driver, &args, RUN_LIMIT).await.map_err(tgt)?;
    Ok((b["pool"].clone(), t["pool"].clone()))
}

async fn latency(
    ctx: &Context<'_>,
    rubric: &Rubric,
    base: &Side,
    cand: &Side,
    proxy: &Path,
    seed: &str,
    size: &str,
) -> Result<Vec<Measurement>, Stop> {
    let get = |key: &str| rubric.workload_usize(key).map_err(|e| kit(format!("{e:#}")));
    let (rounds, requests, warmup, delay) =
        (get("latency_rounds")?, get("latency_requests")?, get("latency_warmup")?, get("proxy_delay_ms")?);
    let base_proxy = start_proxy(proxy, delay).await?;
    let cand_proxy = start_proxy(proxy, delay).await?;
    let per_request_ns = |v: &Value| -> Vec<f64> {
        v["per_request"].as_array().map(|all| all.iter().filter_map(|r| r["ns"].as_f64()).collect()).unwrap_or_default()
    };
    let mut out = Vec::new();
    for (workload, id) in [("list", "list_latency"), ("deep", "deep_page_latency"), ("report", "report_latency")] {
        let (mut ratios, mut base_ns, mut cand_ns) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            ctx.progress.phase(format!("timing {workload}: round {}/{rounds}", round + 1));
            let run_base = || counted_run(base, seed, size, workload, requests, warmup, &base_proxy.address, None);
            let run_cand = || counted_run(cand, seed, size, workload, requests, warmup, &cand_proxy.address, None);
            // Alternate which side goes first, so drift in load hits both alike.
            let (b, t) = if round % 2 == 0 {
                let b = run_base().await.map_err(kit)?;
                (b, run_cand().await.map_err(tgt)?)
            } else {
                let t = run_cand().await.map_err(tgt)?;
                (run_base().await.map_err(kit)?, t)
            };
            let (b, t) = (per_request_ns(&b), per_request_ns(&t));
            if b.len() != t.len() || b.is_empty() {
                return Err(tgt(format!("timed {} requests of {workload}, the baseline {}", t.len(), b.len())));
            }
            ratios.extend(b.iter().zip(&t).map(|(b, t)| b / t.max(1.0)));
            base_ns.extend(b);
            cand_ns.extend(t);
        }
        let interval = median_interval(&ratios);
        out.push(Measurement::new(
            id,
            "ms/request",
            format!(
                "{workload} workload through pg-count-proxy with {delay} ms per round trip; {rounds} alternating rounds of {requests} paired requests"
            ),
            median(&base_ns) / 1e6,
            median(&cand_ns) / 1e6,
            interval,
            ratios.len(),
        ));
    }
    Ok(out)
}
