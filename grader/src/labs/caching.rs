//! Lab 25: upstream calls counted by the upstream, answers checked against
//! the uncached baseline's, and the cache's behaviour seen from outside:
//! two instances sharing one Redis, a stampede, conditional requests, a
//! Redis that hangs, dies and comes back, and the service's own hit counts
//! checked against the upstream's. No clock decides a point. How the
//! drivers are used is in `labs/caching/GRADER.md`.
//!
//! Every phase runs on services of its own: a fresh `cache-upstream` (the
//! source of truth, which counts its calls) and a fresh throwaway
//! `redis-server`, both on Unix sockets in one folder that is the only
//! thing a contained driver can reach ([`Net::Services`]). So nothing a
//! target keeps in Redis outlives a phase, no phase can read what another
//! left, and every count is the upstream's or the Redis server's own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lab_protocol::{Exchange, Req, UpstreamCalls};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::Context;
use super::pipeline::{Method, Sides, Stop, Tools, kit, tgt};
use crate::build::Binaries;
use crate::contain::Net;
use crate::measure::{RUN_LIMIT, compare_answers};
use crate::process::{self, RunError, Server};
use crate::record::Measurement;
use crate::rubric::{MethodKind, Rubric};

/// The rubric's `[workload]` table; a key the lab does not read is refused.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    size: String,
    /// What every upstream call waits: the source of truth is slow.
    upstream_latency_ms: u64,
    /// Mixed requests sent before the counted ones (not counted).
    warmup: usize,
    /// Mixed requests counted.
    count_requests: usize,
    /// Requests of the `writes` workload in the gate.
    writes_requests: usize,
    /// Writes in the stale-read check, half through each instance.
    stale_writes: usize,
    /// Readers at once in the stale-read check.
    stale_readers: usize,
    /// Products the stale-read check writes and reads.
    stale_products: u32,
    /// Concurrent cold reads of one product.
    stampede: usize,
    /// The upstream's latency in the stampede: long enough for every read to arrive while the first waits.
    stampede_latency_ms: u64,
    /// Products read (each `stats_repeat` times) before `/cache/stats` is read.
    stats_products: u32,
    stats_repeat: usize,
    /// Products read in each phase of the Redis outage.
    outage_products: u32,
    /// Longest any request may wait while Redis hangs or is down.
    outage_bound_ms: u64,
    /// Most Redis commands a service may send to a hung Redis.
    outage_max_commands: u64,
    /// Time after Redis comes back within which repeated reads must cost the upstream nothing.
    recovery_s: u64,
    /// Hot-read timing (reported, not scored): rounds, requests per side per
    /// round, and the upstream's latency (what a miss costs, so what a hit saves).
    hot_rounds: usize,
    hot_requests: usize,
    hot_latency_ms: u64,
}

/// Reads the rubric's `[workload]` table as this lab does.
pub fn read_settings(rubric: &Rubric) -> anyhow::Result<()> {
    rubric.workload::<Settings>().map(drop)
}

/// Where the services' sockets are, in their folder.
const UPSTREAM_SOCKET: &str = "upstream.sock";
const REDIS_SOCKET: &str = "redis.sock";
/// The prefix every served instance gets for its keys (each phase has a Redis of its own).
const PREFIX: &str = "lab25:";

/// The programs a phase's services run.
#[derive(Debug, Clone)]
struct Programs {
    upstream: PathBuf,
    redis: PathBuf,
    /// The kit's baseline driver, whose `requests` verb lists every workload.
    requests: PathBuf,
}

/// Everything the baseline contributes to a grading. Its answers are fixed by
/// the seed and its counts are exact, so it is measured once per seed and kept.
#[derive(Debug, Serialize, Deserialize)]
struct Baseline {
    mixed: Vec<Exchange>,
    mixed_calls: f64,
    writes: Vec<Exchange>,
    stampede_calls: f64,
    http: Vec<String>,
    stats: Vec<String>,
    outage: Outage,
}

/// The prepared grading: the baseline's side, the programs, and the
/// upstream calls of the gate's counted run (set by the gate).
pub struct Prepared {
    baseline: Baseline,
    programs: Programs,
    mixed_calls: std::sync::Mutex<Option<f64>>,
}

/// Lab 25's part of the pipeline.
pub struct Caching;

impl Method for Caching {
    type Settings = Settings;
    type Prepared = Prepared;

    /// Every grading runs Redis servers of its own: without the program it is not graded.
    async fn probe(_: &Context<'_>, _: &Binaries) -> Result<(), String> {
        redis_server().map(drop)
    }

    async fn prepare(ctx: &Context<'_>, w: &Settings, sides: &Sides, tools: &Tools) -> Result<Prepared, Stop> {
        let upstream =
            tools.get("cache-upstream").cloned().ok_or_else(|| kit("rubric [tools] names no cache-upstream"))?;
        let programs =
            Programs { upstream, redis: redis_server().map_err(kit)?, requests: sides.baseline.main.clone() };
        // The upstream's build is part of the key: it does the counting.
        let upstream_build = std::fs::read(&programs.upstream).map(|b| crate::build::fnv(&b)).map_err(kit)?;
        let key = format!("lab 25 baseline, mixed calls as totals, {} {w:?} upstream {upstream_build:016x}", ctx.seed);
        let baseline = crate::measure::baseline_cache::get(
            &ctx.kit.target_dir,
            &sides.baseline.main,
            &key,
            measure_baseline(ctx, w, &programs, &sides.baseline.main),
        )
        .await
        .map_err(kit)?;
        Ok(Prepared { baseline, programs, mixed_calls: std::sync::Mutex::new(None) })
    }

    /// The mixed workload over two instances (its counted part is also
    /// `source_calls`), the writes workload, and the stale-read check.
    async fn gate(
        ctx: &Context<'_>,
        w: &Settings,
        sides: &Sides,
        p: &Prepared,
    ) -> Result<Result<String, String>, Stop> {
        let (seed, target) = (ctx.seed, &sides.target.main);
        ctx.progress.phase(format!(
            "mixed workload over two instances sharing one Redis: {} + {} requests (seed {seed})",
            w.warmup, w.count_requests
        ));
        let (mixed, calls) = mixed_run(ctx, w, &p.programs, target).await.map_err(tgt)?;
        if let Some(difference) = compare_answers(&p.baseline.mixed, &mixed) {
            return Ok(Err(format!("in the mixed workload over two instances, {difference}")));
        }
        *p.mixed_calls.lock().expect("never poisoned") = Some(calls);
        ctx.progress.phase("writes workload over two instances");
        let writes = writes_run(ctx, w, &p.programs, target).await.map_err(tgt)?;
        if let Some(difference) = compare_answers(&p.baseline.writes, &writes) {
            return Ok(Err(format!("in the writes workload over two instances, {difference}")));
        }
        ctx.progress.phase(format!(
            "stale reads: {} writes and {} readers at once over two instances",
            w.stale_writes, w.stale_readers
        ));
        let stale = stale_check(ctx, w, &p.programs, target).await.map_err(tgt)?;
        if let Some(first) = stale.first_stale {
            return Ok(Err(format!("{} of {} reads were stale over two instances: {first}", stale.stale, stale.reads)));
        }
        Ok(Ok(format!(
            "{} mixed and {} writes answers equal the baseline's over two instances sharing one Redis (seed {seed}); \
             no stale read in {} reads beside {} writes",
            mixed.len(),
            writes.len(),
            stale.reads,
            w.stale_writes
        )))
    }

    async fn measure(
        ctx: &Context<'_>,
        w: &Settings,
        sides: &Sides,
        _: &Tools,
        p: &Prepared,
    ) -> Result<Vec<Measurement>, Stop> {
        let (base, target, programs) = (&p.baseline, &sides.target.main, &p.programs);
        let mut measurements = Vec::new();
        if ctx.wants(&["upstream_calls_per_request"]) {
            let calls = *p.mixed_calls.lock().expect("never poisoned");
            let calls = calls.ok_or_else(|| kit("the gate's counted run left no count"))?;
            measurements.push(Measurement::counted(
                MethodKind::Count,
                "upstream_calls_per_request",
                "upstream calls",
                format!(
                    "calls the upstream counted for {} mixed requests (size {}) after {} of warm-up, sent alternately \
                     to two instances; every call from the instances' start counts but the warm-up's (exact)",
                    w.count_requests, w.size, w.warmup
                ),
                base.mixed_calls,
                calls,
            ));
        }
        if ctx.wants(&["upstream_calls_per_stampede"]) {
            ctx.progress.phase(format!("{} concurrent cold reads of one product", w.stampede));
            let calls = stampede(ctx, w, programs, target).await.map_err(tgt)?;
            measurements.push(Measurement::counted(
                MethodKind::Count,
                "upstream_calls_per_stampede",
                "upstream calls",
                format!(
                    "calls the upstream counted for {} concurrent reads of one cold product, from the instance's start \
                     to its end (exact)",
                    w.stampede
                ),
                base.stampede_calls,
                calls,
            ));
        }
        if ctx.wants(&["http_caching_failures"]) {
            ctx.progress.phase("conditional requests: ETag, If-None-Match, Cache-Control");
            let failures = http_check(ctx, w, programs, target).await.map_err(tgt)?;
            measurements.push(verdict(
                "http_caching_failures",
                "strong ETag on product and category reads, 304 with no body for a current tag, 200 for an old or \
                 wrong one, Cache-Control on every answer",
                &base.http,
                &failures,
            ));
        }
        if ctx.wants(&["hit_stats_failures"]) {
            ctx.progress.phase("hit counts against the upstream's");
            let failures = stats_check(ctx, w, programs, target).await.map_err(tgt)?;
            measurements.push(verdict(
                "hit_stats_failures",
                &format!(
                    "/cache/stats after {} sequential reads of {} products: lookups add up layer by layer, the last \
                     layer's misses equal the reads the upstream answered, some hits",
                    w.stats_repeat * w.stats_products as usize,
                    w.stats_products
                ),
                &base.stats,
                &failures,
            ));
        }
        if ctx.wants(&["redis_outage_failures"]) {
            ctx.progress.phase("Redis hung, then killed, then restarted empty");
            let outage = outage(ctx, w, programs, target).await.map_err(tgt)?;
            let mut failures = outage.failures.clone();
            failures.extend(outage_differences(&base.outage, &outage));
            measurements.push(verdict(
                "redis_outage_failures",
                &format!(
                    "Redis stopped (SIGSTOP), then killed, then restarted empty: every answer the baseline's, none \
                     waiting over {} ms, at most {} commands sent to the hung server, repeated reads free again \
                     within {} s",
                    w.outage_bound_ms, w.outage_max_commands, w.recovery_s
                ),
                &base.outage.failures,
                &failures,
            ));
        }
        if ctx.wants(&["hot_read_speedup"]) {
            measurements.extend(hot_reads(ctx, w, programs, sides).await?);
        }
        Ok(measurements)
    }
}

/// `redis-server`, found on the PATH.
fn redis_server() -> Result<PathBuf, String> {
    redis_server_in(&std::env::var_os("PATH").unwrap_or_default())
}

/// `redis-server` in one of the folders of `path`, or the line that says why the lab is not graded.
fn redis_server_in(path: &std::ffi::OsStr) -> Result<PathBuf, String> {
    std::env::split_paths(path).map(|dir| dir.join("redis-server")).find(|p| p.is_file()).ok_or_else(|| {
        "redis-server is not installed: each grading runs Redis servers of its own (Debian: apt-get install \
         redis-server; or run `cargo xtask services up`)"
            .to_string()
    })
}

/// A pass/fail verdict as a count of failures, the first few named.
fn verdict(id: &str, what: &str, baseline: &[String], target: &[String]) -> Measurement {
    let named = |failures: &[String]| match failures {
        [] => "none".to_string(),
        [one] => one.clone(),
        [first, second] => format!("{first}; {second}"),
        [first, second, rest @ ..] => format!("{first}; {second}; and {} more", rest.len()),
    };
    Measurement::counted(
        MethodKind::LabSpecific,
        id,
        "failures",
        format!("{what}. Target: {}. Baseline: {}", named(target), named(baseline)),
        baseline.len() as f64,
        target.len() as f64,
    )
}

/// The baseline through every phase, in the order a grading takes them.
async fn measure_baseline(
    ctx: &Context<'_>,
    w: &Settings,
    programs: &Programs,
    base: &Path,
) -> Result<Baseline, RunError> {
    ctx.progress.phase(format!("measuring the baseline (seed {}; once per seed, then kept)", ctx.seed));
    let (mixed, mixed_calls) = mixed_run(ctx, w, programs, base).await?;
    let writes = writes_run(ctx, w, programs, base).await?;
    let stampede_calls = stampede(ctx, w, programs, base).await?;
    let http = http_check(ctx, w, programs, base).await?;
    let stats = stats_check(ctx, w, programs, base).await?;
    let outage = outage(ctx, w, programs, base).await?;
    Ok(Baseline { mixed, mixed_calls, writes, stampede_calls, http, stats, outage })
}

// ---------------------------------------------------------------------------
// The services of one phase

/// A phase's upstream and Redis, on Unix sockets in a folder of their own.
struct Services {
    dir: tempfile::TempDir,
    redis: Option<Child>,
    _upstream: Child,
    /// The upstream's `/calls`, read by the grader.
    calls: reqwest::Client,
    programs: Programs,
}

impl Services {
    async fn start(ctx: &Context<'_>, w: &Settings, programs: &Programs) -> Result<Services, RunError> {
        Services::start_slow(ctx, w, programs, w.upstream_latency_ms).await
    }

    /// As [`Services::start`], every upstream call waiting `latency_ms`.
    async fn start_slow(
        ctx: &Context<'_>,
        w: &Settings,
        programs: &Programs,
        latency_ms: u64,
    ) -> Result<Services, RunError> {
        let failed = |what: &str, err: &dyn std::fmt::Display| RunError::Failed(format!("the kit's {what}: {err}"));
        let dir =
            tempfile::Builder::new().prefix("grader-svc-").tempdir().map_err(|e| failed("services folder", &e))?;
        // Every cell's uid passes through the folder to the sockets (0666 each).
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(|e| failed("services folder", &e))?;
        let socket = dir.path().join(UPSTREAM_SOCKET);
        let mut command = Command::new(&programs.upstream);
        command
            .args(["--seed", &ctx.seed.to_string(), "--size", &w.size])
            .args(["--latency-ms", &latency_ms.to_string()])
            .arg("--unix")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut upstream = command.spawn().map_err(|e| failed("cache-upstream", &e))?;
        let stdout = upstream.stdout.take().expect("piped");
        let line = tokio::time::timeout(Duration::from_secs(30), BufReader::new(stdout).lines().next_line()).await;
        match line {
            Ok(Ok(Some(line))) if line.contains("listening") => {}
            _ => return Err(RunError::Failed("the kit's cache-upstream did not start".into())),
        }
        std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .map_err(|e| failed("upstream socket", &e))?;
        let calls = reqwest::Client::builder()
            .unix_socket(socket)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| failed("upstream client", &e))?;
        let mut services = Services { dir, redis: None, _upstream: upstream, calls, programs: programs.clone() };
        services.start_redis().await?;
        Ok(services)
    }

    /// A fresh, empty Redis on the folder's socket.
    async fn start_redis(&mut self) -> Result<(), RunError> {
        let socket = self.dir.path().join(REDIS_SOCKET);
        let _ = std::fs::remove_file(&socket);
        let mut command = Command::new(&self.programs.redis);
        command
            .args(["--port", "0", "--unixsocket"])
            .arg(&socket)
            .args(["--unixsocketperm", "666", "--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let child = command.spawn().map_err(|e| RunError::Failed(format!("the kit's redis-server: {e}")))?;
        self.redis = Some(child);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if self.redis_commands().await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(RunError::Failed("the kit's redis-server did not answer within 10 s".into()))
    }

    fn net(&self) -> Net {
        Net::Services(self.dir.path().to_path_buf())
    }

    fn redis_url(&self) -> String {
        format!("redis+unix://{}", self.dir.path().join(REDIS_SOCKET).display())
    }

    /// Every call the upstream has answered.
    async fn calls(&self) -> Result<UpstreamCalls, RunError> {
        let failed = |err: reqwest::Error| RunError::Failed(format!("reading the kit's upstream /calls: {err}"));
        let response = self.calls.get("http://localhost/calls").send().await.map_err(failed)?;
        response.error_for_status().map_err(failed)?.json().await.map_err(failed)
    }

    /// Commands the Redis server has run, by its own statistics (its `INFO` calls left out).
    async fn redis_commands(&self) -> Result<u64, String> {
        let ask = async {
            let client = redis::Client::open(self.redis_url()).map_err(|e| e.to_string())?;
            let mut connection = client.get_multiplexed_async_connection().await.map_err(|e| e.to_string())?;
            let info: String =
                redis::cmd("INFO").arg("commandstats").query_async(&mut connection).await.map_err(|e| e.to_string())?;
            Ok::<u64, String>(commands_in(&info))
        };
        tokio::time::timeout(Duration::from_secs(5), ask).await.map_err(|_| "Redis did not answer INFO".to_string())?
    }

    /// Makes Redis hang (`SIGSTOP`) or resume (`SIGCONT`).
    #[allow(unsafe_code)] // kill(2) on a child's pid: no memory is touched.
    fn signal(&self, signal: libc::c_int) {
        if let Some(pid) = self.redis.as_ref().and_then(Child::id) {
            // SAFETY: kill(2) on the pid of a child this process started and has not reaped.
            unsafe {
                libc::kill(pid as libc::pid_t, signal);
            }
        }
    }

    async fn kill_redis(&mut self) {
        if let Some(mut child) = self.redis.take() {
            self.signal(libc::SIGCONT);
            let _ = child.kill().await;
        }
    }

    /// Two served instances of `binary` on this phase's services (one Redis between them).
    async fn serve_two(&self, ctx: &Context<'_>, w: &Settings, binary: &Path) -> Result<[Server; 2], RunError> {
        Ok([self.serve(ctx, w, binary).await?, self.serve(ctx, w, binary).await?])
    }

    /// A served instance of `binary` on this phase's services.
    async fn serve(&self, ctx: &Context<'_>, w: &Settings, binary: &Path) -> Result<Server, RunError> {
        let cell = crate::measure::cell(ctx.jail)?;
        let dir = ctx.jail.services_dir(self.dir.path());
        let mut args = vec!["serve".to_string()];
        args.extend(crate::measure::data_args(ctx.seed, &w.size));
        args.extend([
            "--unix".into(),
            cell.inside("http.sock").display().to_string(),
            "--upstream".into(),
            format!("unix:{}", dir.join(UPSTREAM_SOCKET).display()),
            "--redis".into(),
            format!("redis+unix://{}", dir.join(REDIS_SOCKET).display()),
            "--redis-prefix".into(),
            PREFIX.into(),
        ]);
        let command = crate::measure::contained(ctx.jail, &cell, &self.net(), binary, &args, RUN_LIMIT)?;
        process::serve(command, Duration::from_secs(60), cell).await
    }
}

/// The `reads + lists + writes + deletes` the upstream answered between two readings.
fn since(after: &UpstreamCalls, before: &UpstreamCalls) -> u64 {
    after.total().saturating_sub(before.total())
}

/// The calls of `cmdstat_*` lines of `INFO commandstats`, but `INFO`'s own.
fn commands_in(info: &str) -> u64 {
    info.lines()
        .filter_map(|line| line.strip_prefix("cmdstat_"))
        .filter(|line| !line.starts_with("info:"))
        .filter_map(|line| line.split_once("calls=")?.1.split(',').next()?.parse::<u64>().ok())
        .sum()
}

// ---------------------------------------------------------------------------
// Requests

/// `workload`'s first `n` requests, as the kit's baseline driver generates them.
async fn requests(
    ctx: &Context<'_>,
    w: &Settings,
    programs: &Programs,
    workload: &str,
    n: usize,
) -> Result<Vec<Req>, RunError> {
    crate::measure::workload_requests(ctx.jail, &programs.requests, ctx.seed, &w.size, workload, n).await
}

/// An answer with its headers, as a client sees it.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }

    fn body(&self) -> Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.bytes).into_owned()))
    }
}

/// Sends `req` (with `If-None-Match` when given) and reads the whole answer.
async fn send(client: &reqwest::Client, url: &str, req: &Req, if_none_match: Option<&str>) -> Result<Answer, String> {
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut request = client.request(method, format!("{url}{}", req.uri));
    if let Some(body) = &req.body {
        request = request.header("content-type", "application/json").body(body.to_string());
    }
    if let Some(tag) = if_none_match {
        request = request.header("if-none-match", tag);
    }
    let response = request.send().await.map_err(|err| format!("{} got no answer: {err}", req.label()))?;
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let bytes = response.bytes().await.map_err(|err| format!("{} answered no whole body: {err}", req.label()))?;
    Ok(Answer { status, headers, bytes: bytes.to_vec() })
}

/// `req`'s exchange with `server`.
async fn exchange(server: &Server, req: &Req) -> Result<Exchange, RunError> {
    let answer = send(&server.client, &server.url, req, None).await.map_err(RunError::Failed)?;
    Ok(Exchange { req: req.clone(), status: answer.status, body: answer.body() })
}

fn product(id: u32) -> Req {
    Req::get(format!("/products/{id}"))
}

/// The `version` of a product answer.
fn version(body: &Value) -> Option<u64> {
    body.get("version").and_then(Value::as_u64)
}

/// Lets what a killed instance had in flight reach the upstream before it is read.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(150)).await;
}

// ---------------------------------------------------------------------------
// The gate's phases

/// The mixed workload sent alternately to two instances sharing one Redis
/// (a write through one is read back through the other): every answer, and
/// the upstream calls of the counted requests. Every call from before the
/// instances start until they are stopped counts, but those made while the
/// warm-up requests were sent.
async fn mixed_run(
    ctx: &Context<'_>,
    w: &Settings,
    programs: &Programs,
    binary: &Path,
) -> Result<(Vec<Exchange>, f64), RunError> {
    let list = requests(ctx, w, programs, "mixed", w.warmup + w.count_requests).await?;
    let services = Services::start(ctx, w, programs).await?;
    let before = services.calls().await?;
    let pair = services.serve_two(ctx, w, binary).await?;
    let mut warm = (services.calls().await?, None);
    let mut answers = Vec::with_capacity(list.len());
    for (i, req) in list.iter().enumerate() {
        if i == w.warmup {
            warm.1 = Some(services.calls().await?);
        }
        answers.push(exchange(&pair[i % 2], req).await?);
    }
    drop(pair);
    settle().await;
    let end = services.calls().await?;
    let warm_calls = warm.1.map_or(0, |after| since(&after, &warm.0));
    let counted = since(&end, &before).saturating_sub(warm_calls);
    Ok((answers, counted as f64))
}

/// The writes workload sent alternately to two instances sharing one Redis.
async fn writes_run(
    ctx: &Context<'_>,
    w: &Settings,
    programs: &Programs,
    binary: &Path,
) -> Result<Vec<Exchange>, RunError> {
    let list = requests(ctx, w, programs, "writes", w.writes_requests).await?;
    let services = Services::start(ctx, w, programs).await?;
    let pair = services.serve_two(ctx, w, binary).await?;
    let mut answers = Vec::with_capacity(list.len());
    for (i, req) in list.iter().enumerate() {
        answers.push(exchange(&pair[i % 2], req).await?);
    }
    Ok(answers)
}

/// What the stale-read check saw.
struct Stale {
    reads: usize,
    stale: usize,
    first_stale: Option<String>,
}

/// Writers and readers at once over two instances sharing one Redis: every
/// read must show the version of every write acknowledged before it was
/// sent, or a later one.
async fn stale_check(ctx: &Context<'_>, w: &Settings, programs: &Programs, binary: &Path) -> Result<Stale, RunError> {
    let services = Services::start(ctx, w, programs).await?;
    let pair = services.serve_two(ctx, w, binary).await?;
    let products = w.stale_products.max(1);
    // Both instances have every product cached before the first write.
    for server in &pair {
        for id in 1..=products {
            for _ in 0..2 {
                exchange(server, &product(id)).await?;
            }
        }
    }
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..=products).map(|_| AtomicU64::new(0)).collect());
    let writing = Arc::new(AtomicUsize::new(2));
    let mut writers = tokio::task::JoinSet::new();
    for (k, server) in pair.iter().enumerate() {
        let (client, url, acked, writing) = (server.client.clone(), server.url.clone(), acked.clone(), writing.clone());
        let writes = w.stale_writes / 2;
        writers.spawn(async move {
            let result = async {
                for i in 0..writes {
                    let id = (i as u32 * 7 + k as u32) % products + 1;
                    let req = Req::put(format!("/products/{id}"), json!({"stock": (i * 2 + k) % 500}));
                    let answer = send(&client, &url, &req, None).await?;
                    if answer.status != 200 {
                        return Err(format!("{} answered {}", req.label(), answer.status));
                    }
                    let v = version(&answer.body()).ok_or_else(|| format!("{} answered no version", req.label()))?;
                    acked[id as usize].fetch_max(v, Ordering::SeqCst);
                }
                Ok(())
            }
            .await;
            writing.fetch_sub(1, Ordering::SeqCst);
            result
        });
    }
    let mut readers = tokio::task::JoinSet::new();
    for r in 0..w.stale_readers.max(1) {
        let (client, url) = (pair[r % 2].client.clone(), pair[r % 2].url.clone());
        let (acked, writing) = (acked.clone(), writing.clone());
        readers.spawn(async move {
            let (mut reads, mut stale, mut first) = (0, 0, None);
            let mut i = r as u32;
            while writing.load(Ordering::SeqCst) > 0 {
                i = i.wrapping_add(3);
                let id = i % products + 1;
                let floor = acked[id as usize].load(Ordering::SeqCst);
                let answer = send(&client, &url, &product(id), None).await?;
                reads += 1;
                let seen = version(&answer.body());
                if answer.status != 200 || seen.is_none_or(|v| v < floor) {
                    stale += 1;
                    first.get_or_insert_with(|| {
                        format!(
                            "GET /products/{id} through instance {} answered {} version {} after version {floor} was acknowledged",
                            r % 2 + 1,
                            answer.status,
                            seen.map_or("none".to_string(), |v| v.to_string())
                        )
                    });
                }
            }
            Ok::<_, String>((reads, stale, first))
        });
    }
    while let Some(done) = writers.join_next().await {
        done.map_err(|err| RunError::Failed(format!("a writer failed: {err}")))?.map_err(RunError::Failed)?;
    }
    let mut seen = Stale { reads: 0, stale: 0, first_stale: None };
    while let Some(done) = readers.join_next().await {
        let (reads, stale, first) =
            done.map_err(|err| RunError::Failed(format!("a reader failed: {err}")))?.map_err(RunError::Failed)?;
        seen.reads += reads;
        seen.stale += stale;
        if seen.first_stale.is_none() {
            seen.first_stale = first;
        }
    }
    Ok(seen)
}

// ---------------------------------------------------------------------------
// The measured phases

/// Upstream calls for `stampede` concurrent reads of one cold product,
/// from before the instance starts until it has stopped.
async fn stampede(ctx: &Context<'_>, w: &Settings, programs: &Programs, binary: &Path) -> Result<f64, RunError> {
    let services = Services::start_slow(ctx, w, programs, w.stampede_latency_ms).await?;
    let before = services.calls().await?;
    let server = services.serve(ctx, w, binary).await?;
    let req = product(17);
    let barrier = Arc::new(tokio::sync::Barrier::new(w.stampede.max(1)));
    let mut reads = tokio::task::JoinSet::new();
    for _ in 0..w.stampede.max(1) {
        let (client, url, req, barrier) = (server.client.clone(), server.url.clone(), req.clone(), barrier.clone());
        reads.spawn(async move {
            barrier.wait().await;
            send(&client, &url, &req, None).await
        });
    }
    let mut bodies = Vec::new();
    while let Some(done) = reads.join_next().await {
        let answer = done.map_err(|err| RunError::Failed(err.to_string()))?.map_err(RunError::Failed)?;
        if answer.status != 200 {
            return Err(RunError::Failed(format!(
                "answered {} to one of {} concurrent GET /products/17",
                answer.status, w.stampede
            )));
        }
        bodies.push(answer.body());
    }
    if bodies.windows(2).any(|pair| pair[0] != pair[1]) {
        return Err(RunError::Failed("answered concurrent reads of GET /products/17 differently".into()));
    }
    drop(server);
    settle().await;
    Ok(since(&services.calls().await?, &before) as f64)
}

/// ETag, `If-None-Match` and `Cache-Control`, step by step; each failure named.
async fn http_check(
    ctx: &Context<'_>,
    w: &Settings,
    programs: &Programs,
    binary: &Path,
) -> Result<Vec<String>, RunError> {
    let services = Services::start(ctx, w, programs).await?;
    let server = services.serve(ctx, w, binary).await?;
    let ask = |req: Req, tag: Option<String>| {
        let (client, url) = (server.client.clone(), server.url.clone());
        async move { send(&client, &url, &req, tag.as_deref()).await.map_err(RunError::Failed) }
    };
    let mut failures = Vec::new();
    let cache_control = |label: &str, answer: &Answer, failures: &mut Vec<String>| {
        if answer.header("cache-control").is_none() {
            failures.push(format!("{label} ({}) has no Cache-Control", answer.status));
        }
    };
    // A read, then the same read with its own tag, for a product and its category.
    let first = ask(product(5), None).await?;
    if first.status != 200 {
        return Err(RunError::Failed(format!("GET /products/5 answered {}", first.status)));
    }
    let category = first.body().get("category").and_then(Value::as_str).unwrap_or("none").to_string();
    let old_version = version(&first.body()).unwrap_or(0);
    let mut tags = BTreeMap::new();
    for (label, answer) in [
        ("GET /products/5".to_string(), first),
        (format!("GET /categories/{category}"), ask(Req::get(format!("/categories/{category}")), None).await?),
    ] {
        cache_control(&label, &answer, &mut failures);
        match answer.header("etag") {
            None => failures.push(format!("{label} has no ETag")),
            Some(tag) if tag.starts_with("W/") => failures.push(format!("{label} has a weak ETag ({tag})")),
            Some(tag) => {
                let uri = label.trim_start_matches("GET ").to_string();
                let again = ask(Req::get(uri), Some(tag.clone())).await?;
                if again.status != 304 {
                    failures
                        .push(format!("{label} with If-None-Match of its own ETag answered {}, not 304", again.status));
                } else if !again.bytes.is_empty() {
                    failures.push(format!("{label}: the 304 has a body of {} bytes", again.bytes.len()));
                }
                tags.insert(label, tag);
            }
        }
    }
    // A change: the old tag must now get the new product.
    let change = ask(Req::put("/products/5", json!({"stock": 41})), None).await?;
    cache_control("PUT /products/5", &change, &mut failures);
    if let Some(tag) = tags.get("GET /products/5") {
        let after = ask(product(5), Some(tag.clone())).await?;
        if after.status != 200 || version(&after.body()).is_none_or(|v| v <= old_version) {
            failures.push(format!(
                "after a change, GET /products/5 with the old ETag answered {}, not 200 with the new version",
                after.status
            ));
        }
    }
    let wrong = ask(product(5), Some("\"not-a-tag\"".to_string())).await?;
    if wrong.status != 200 {
        failures.push(format!("GET /products/5 with an ETag it never sent answered {}, not 200", wrong.status));
    }
    let missing = ask(product(99_999), None).await?;
    cache_control("GET /products/99999", &missing, &mut failures);
    Ok(failures)
}

/// `/cache/stats` after sequential reads, checked against the upstream's own count.
async fn stats_check(
    ctx: &Context<'_>,
    w: &Settings,
    programs: &Programs,
    binary: &Path,
) -> Result<Vec<String>, RunError> {
    let services = Services::start(ctx, w, programs).await?;
    let before = services.calls().await?;
    let server = services.serve(ctx, w, binary).await?;
    let mut reads = 0u64;
    for _ in 0..w.stats_repeat {
        for id in 1..=w.stats_products {
            let answer = exchange(&server, &product(id)).await?;
            if answer.status != 200 {
                return Err(RunError::Failed(format!("GET /products/{id} answered {}", answer.status)));
            }
            reads += 1;
        }
    }
    let stats = exchange(&server, &Req::get("/cache/stats")).await?;
    let upstream = services.calls().await?.reads.saturating_sub(before.reads);
    #[derive(Deserialize)]
    struct Layer {
        layer: String,
        hits: u64,
        misses: u64,
    }
    #[derive(Deserialize)]
    struct Stats {
        layers: Vec<Layer>,
    }
    let Ok(stats) = serde_json::from_value::<Stats>(stats.body.clone()) else {
        return Ok(vec![format!(
            "GET /cache/stats answered {} {}, not {{\"layers\": [...]}}",
            stats.status, stats.body
        )]);
    };
    if stats.layers.is_empty() {
        return Ok(vec!["GET /cache/stats names no cache layer".into()]);
    }
    let mut failures = Vec::new();
    let mut reaching = reads;
    for layer in &stats.layers {
        if layer.hits + layer.misses != reaching {
            failures.push(format!(
                "{}: {} hits + {} misses, where {reaching} lookups reached it",
                layer.layer, layer.hits, layer.misses
            ));
        }
        reaching = layer.misses;
    }
    if reaching != upstream {
        failures.push(format!("the last layer's {reaching} misses are not the {upstream} reads the upstream answered"));
    }
    if stats.layers.iter().all(|l| l.hits == 0) {
        failures.push(format!("no hits in {reads} reads of {} products", w.stats_products));
    }
    Ok(failures)
}

/// What a service did through a Redis outage.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Outage {
    /// Before, while Redis hung and while it was down.
    answers: Vec<Exchange>,
    /// The last pass of reads after Redis came back.
    recovered: Vec<Exchange>,
    failures: Vec<String>,
}

/// Answers of an outage that differ from the baseline's.
fn outage_differences(base: &Outage, target: &Outage) -> Vec<String> {
    let mut out = Vec::new();
    let n = target.answers.len().min(base.answers.len());
    if let Some(difference) = compare_answers(&base.answers[..n], &target.answers[..n]) {
        out.push(format!("through the outage, {difference}"));
    }
    if let Some(difference) = compare_answers(&base.recovered, &target.recovered) {
        out.push(format!("after Redis came back, {difference}"));
    }
    out
}

/// Redis hangs, then dies, then comes back empty, while products are read and one is changed.
async fn outage(ctx: &Context<'_>, w: &Settings, programs: &Programs, binary: &Path) -> Result<Outage, RunError> {
    let mut services = Services::start(ctx, w, programs).await?;
    let server = services.serve(ctx, w, binary).await?;
    let reads: Vec<Req> = (1..=w.outage_products.max(1)).map(product).collect();
    let bound = Duration::from_millis(w.outage_bound_ms);
    let mut seen = Outage::default();
    for _ in 0..2 {
        for req in &reads {
            seen.answers.push(exchange(&server, req).await?);
        }
    }
    // Each answer within the bound, or one failure for the phase.
    let bounded = |req: Req, when: &'static str| {
        let (client, url) = (server.client.clone(), server.url.clone());
        async move {
            match tokio::time::timeout(bound, send(&client, &url, &req, None)).await {
                Ok(Ok(answer)) => Ok(Exchange { status: answer.status, body: answer.body(), req }),
                Ok(Err(err)) => Err(format!("{err} while Redis {when}")),
                Err(_) => Err(format!("{} waited more than {} ms while Redis {when}", req.label(), bound.as_millis())),
            }
        }
    };
    let before = services.redis_commands().await.map_err(RunError::Failed)?;
    services.signal(libc::SIGSTOP);
    let mut hung = reads.clone();
    hung.push(Req::put("/products/1", json!({"price_cents": 4321})));
    hung.push(product(1));
    for req in hung {
        match bounded(req, "hung").await {
            Ok(exchange) => seen.answers.push(exchange),
            Err(failure) => {
                seen.failures.push(failure);
                break;
            }
        }
    }
    services.signal(libc::SIGCONT);
    let sent = services.redis_commands().await.map_err(RunError::Failed)?.saturating_sub(before);
    if sent > w.outage_max_commands {
        seen.failures.push(format!(
            "{sent} commands were sent to the hung Redis (at most {}: stop waiting on it for a while)",
            w.outage_max_commands
        ));
    }
    services.kill_redis().await;
    for req in &reads {
        match bounded(req.clone(), "was down").await {
            Ok(exchange) => seen.answers.push(exchange),
            Err(failure) => {
                seen.failures.push(failure);
                break;
            }
        }
    }
    services.start_redis().await?;
    let deadline = Instant::now() + Duration::from_secs(w.recovery_s);
    loop {
        for req in &reads {
            exchange(&server, req).await?;
        }
        let before = services.calls().await?;
        let mut pass = Vec::new();
        for req in &reads {
            pass.push(exchange(&server, req).await?);
        }
        let calls = since(&services.calls().await?, &before);
        seen.recovered = pass;
        if calls == 0 {
            break;
        }
        if Instant::now() >= deadline {
            seen.failures.push(format!(
                "{} s after Redis came back, reading {} products twice still cost the upstream {calls} calls the second time",
                w.recovery_s,
                reads.len()
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(seen)
}

// ---------------------------------------------------------------------------
// Hot reads: timed, reported beside the score

/// Median milliseconds of `n` sequential requests of `uris` (cycled).
async fn median_ms(server: &Server, uris: &[Req], n: usize) -> Result<(f64, Vec<Value>), String> {
    let mut times = Vec::with_capacity(n);
    let mut bodies = Vec::new();
    for i in 0..n {
        let req = &uris[i % uris.len()];
        let started = Instant::now();
        let answer = send(&server.client, &server.url, req, None).await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        if i < uris.len() {
            bodies.push(answer.body());
        }
    }
    Ok((crate::stats::median(&times), bodies))
}

/// Hot product reads against the baseline's, and against a route that does
/// nothing (`/health`) on the same instance, in alternating rounds.
async fn hot_reads(
    ctx: &Context<'_>,
    w: &Settings,
    programs: &Programs,
    sides: &Sides,
) -> Result<Vec<Measurement>, Stop> {
    let (rounds, n) = (w.hot_rounds.max(1), w.hot_requests.max(1));
    ctx.progress.phase(format!("timing hot reads: {rounds} rounds of {n}"));
    let base_services = Services::start_slow(ctx, w, programs, w.hot_latency_ms).await.map_err(kit)?;
    let target_services = Services::start_slow(ctx, w, programs, w.hot_latency_ms).await.map_err(kit)?;
    let base = base_services.serve(ctx, w, &sides.baseline.main).await.map_err(kit)?;
    let target = target_services.serve(ctx, w, &sides.target.main).await.map_err(tgt)?;
    let hot: Vec<Req> = (1..=5).map(product).collect();
    let nothing = [Req::get("/health")];
    // Warm both: connections, and the target's cache.
    median_ms(&base, &hot, hot.len()).await.map_err(kit)?;
    median_ms(&target, &hot, n).await.map_err(tgt)?;
    let mut health = Vec::new();
    let pairs = super::pipeline::timed_rounds(
        ctx.progress,
        rounds,
        |round| ctx.progress.phase(format!("hot reads, round {round}/{rounds}")),
        || async { median_ms(&base, &hot, n).await.map_err(kit) },
        || async { median_ms(&target, &hot, n).await.map_err(tgt) },
    )
    .await?;
    for _ in 0..rounds {
        health.push(median_ms(&target, &nothing, n).await.map_err(tgt)?.0);
    }
    for ((_, want), (_, got)) in &pairs {
        if want != got {
            return Err(tgt("answered hot reads differently from the baseline when timed"));
        }
    }
    let (b, t): (Vec<f64>, Vec<f64>) = pairs.iter().map(|((b, _), (t, _))| (*b, *t)).unzip();
    let speedup = crate::stats::median_interval(&crate::stats::pairwise_ratios(&b, &t));
    let (base_ms, target_ms, nothing_ms) =
        (crate::stats::median(&b), crate::stats::median(&t), crate::stats::median(&health));
    Ok(vec![
        Measurement::new(
            MethodKind::PairedRounds,
            "hot_read_speedup",
            "ms/read",
            format!(
                "median of {n} sequential reads of 5 hot products, {rounds} interleaved rounds on Unix sockets, upstream {} ms a call; reported, not scored",
                w.hot_latency_ms
            ),
            base_ms,
            target_ms,
            speedup,
            rounds,
        ),
        Measurement::new(
            MethodKind::PairedRounds,
            "hot_read_vs_nothing",
            "ms/read",
            format!(
                "the target's median hot read against its own GET /health ({nothing_ms:.3} ms), which does nothing; reported, not scored"
            ),
            nothing_ms,
            target_ms,
            crate::stats::Interval::exact(nothing_ms / target_ms.max(f64::MIN_POSITIVE)),
            rounds,
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_commands_are_read_off_commandstats_without_info_itself() {
        let info = "# Commandstats\r\ncmdstat_hmget:calls=12,usec=40,usec_per_call=3.33,rejected_calls=0,failed_calls=0\r\n\
                    cmdstat_info:calls=5,usec=100,usec_per_call=20.00,rejected_calls=0,failed_calls=0\r\n\
                    cmdstat_set:calls=3,usec=9,usec_per_call=3.00,rejected_calls=0,failed_calls=0\r\n";
        assert_eq!(commands_in(info), 15);
        assert_eq!(commands_in("# Commandstats\r\n"), 0);
    }

    #[test]
    fn a_verdict_counts_failures_and_names_the_first_two() {
        let failures: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        let m = verdict("x_failures", "checked", &failures[..1], &failures);
        assert_eq!((m.baseline, m.target), (1.0, 4.0));
        assert_eq!(m.method, "checked. Target: a; b; and 2 more. Baseline: a");
        assert_eq!(verdict("x", "checked", &[], &[]).method, "checked. Target: none. Baseline: none");
    }

    #[test]
    fn without_redis_server_the_lab_is_not_graded_with_one_line() {
        let empty = tempfile::tempdir().expect("a folder");
        let reason = redis_server_in(empty.path().as_os_str()).unwrap_err();
        assert!(reason.starts_with("redis-server is not installed"), "{reason}");
        assert!(!reason.contains('\n'));
        let bin = tempfile::tempdir().expect("a folder");
        std::fs::write(bin.path().join("redis-server"), "").expect("a file");
        assert_eq!(redis_server_in(bin.path().as_os_str()), Ok(bin.path().join("redis-server")));
    }

    #[test]
    fn every_fault_of_lab_25_has_its_own_check_and_none_is_timed() {
        let rubric = crate::labs::tests::untimed_rubric_with_separable_faults("caching", 3);
        assert!(rubric.workload::<Settings>().is_ok());
    }

    #[test]
    fn the_outage_compares_what_both_sides_answered() {
        let exchange =
            |uri: &str, price: u64| Exchange { req: Req::get(uri), status: 200, body: json!({"price_cents": price}) };
        let base = Outage {
            answers: vec![exchange("/products/1", 1), exchange("/products/2", 2)],
            recovered: vec![exchange("/products/1", 1)],
            failures: Vec::new(),
        };
        // A run cut short by a hang is compared as far as it went.
        let short = Outage {
            answers: vec![exchange("/products/1", 1)],
            recovered: vec![exchange("/products/1", 1)],
            failures: Vec::new(),
        };
        assert!(outage_differences(&base, &short).is_empty());
        let stale =
            Outage { answers: base.answers.clone(), recovered: vec![exchange("/products/1", 9)], failures: Vec::new() };
        let found = outage_differences(&base, &stale);
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("after Redis came back, GET /products/1 answered differently"), "{found:?}");
    }
}
