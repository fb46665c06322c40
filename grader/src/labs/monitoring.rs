//! Lab 26: a service's telemetry, read from outside it. Answers are gated
//! against the uninstrumented baseline's; then each check serves a fresh
//! instance and the kit's `monitoring-probe` (trusted) reads what it shows:
//! `/metrics` against the traffic the probe sent (and `promtool check
//! metrics`), the log file against the answers, the request ids and trace
//! context the payment stub received, readiness while the database's proxy
//! holds every message, the dashboard's event stream; the alert rules go
//! through `promtool` and a live Prometheus, Alertmanager and webhook. The
//! overhead of the telemetry is the one timed measurement: throughput
//! against the baseline's in alternating rounds. How the drivers are used
//! is in `labs/monitoring/GRADER.md`.
//!
//! Every instance runs contained, with its own throwaway `redis-server` and
//! payment stub on Unix sockets in a folder of its own, and PostgreSQL only
//! through the grading's `pg-count-proxy`, as its side's role; the proxy's
//! control API (which can cut the database off) is outside the sandbox.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lab_protocol::{CheckReport, Exchange, ProxyReady, Req, parse_last};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use super::Context;
use super::pipeline::{Method, Sides, Stop, Tools, kit, tgt, timed_rounds};
use crate::build::Binaries;
use crate::contain::{Gate, Net};
use crate::measure::load::closed_loop;
use crate::measure::{RUN_LIMIT, compare_answers};
use crate::process::{self, RunError, Server};
use crate::record::Measurement;
use crate::rubric::{MethodKind, Rubric};

/// The rubric's `[workload]` table; a key the lab does not read is refused.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    size: String,
    /// What every charge at the payment stub waits.
    payments_latency_ms: u64,
    /// Mixed requests whose answers must equal the baseline's.
    gate_requests: usize,
    /// Overhead: rounds, requests per side per round, workers, and the
    /// requests each side is sent first (its product cache filled).
    overhead_workload: String,
    /// What the overhead phase's dependencies cost, as they would across a
    /// network: each database round trip, and each charge.
    overhead_database_delay_ms: u64,
    overhead_payments_latency_ms: u64,
    overhead_rounds: usize,
    overhead_requests: usize,
    overhead_concurrency: usize,
    overhead_warmup: usize,
}

/// Reads the rubric's `[workload]` table as this lab does.
pub fn read_settings(rubric: &Rubric) -> anyhow::Result<()> {
    rubric.workload::<Settings>().map(drop)
}

/// The checks the probe runs on a served instance, by the measurement each gives.
const SERVED_CHECKS: [(&str, &str, &str); 5] = [
    (
        "metrics",
        "metrics_failures",
        "GET /metrics before and after 150 mixed requests: promtool check metrics, every series the lab names with its \
         type and labels, the counter, +Inf bucket and _count each equal to the requests sent by method, route and \
         status, no new series after 1,000 requests to distinct paths with distinct ids, and a real Prometheus \
         scraping it answers the request rate",
    ),
    (
        "logs",
        "logs_failures",
        "the log file after 40 mixed requests (half with a caller's x-request-id, a quarter with a traceparent): every \
         line JSON, one line ending each request with its id, method, route, status and latency, the caller's id and \
         trace id kept, the answer's id the one logged",
    ),
    (
        "request_ids",
        "request_ids_failures",
        "x-request-id on every answer, distinct, a caller's usable id kept and an unusable one replaced; an order's \
         traceparent at the payment stub with the caller's trace id and a span id of its own",
    ),
    (
        "health",
        "health_failures",
        "/health/live and /health/ready in application/health+json; two readiness calls at once cost the database \
         queries once (counted by the proxy) and again 2.5 s later; with the proxy holding every message, readiness \
         503 fail within 1 s a call and 3 s of the cut, liveness a 200 within 1 s; readiness back within 5 s",
    ),
    (
        "dashboard",
        "dashboard_failures",
        "GET /dashboard an HTML page on /dashboard/events, whose open stream counts the 37 business requests (4 of \
         them 5xx) sent after it opened, and not the page's own loads, with latency, memory and history",
    ),
];

/// The measurement of the alert rules check.
const ALERTS: &str = "alerts_failures";
/// The measurement of the overhead check.
const OVERHEAD: &str = "telemetry_overhead_percent";
/// Where the alert rules sit in the target's `src/`.
const RULES: &str = "alerts/rules.yml";

/// The sockets of an instance's services, in their folder.
const REDIS_SOCKET: &str = "redis.sock";
const PAYMENTS_SOCKET: &str = "payments.sock";
/// The prefix every served instance gets for its keys (each has a Redis of its own).
const PREFIX: &str = "lab26:";
/// The file a served instance logs to, in its own folder.
const LOG_FILE: &str = "service.log";

/// The programs the grading runs.
#[derive(Debug, Clone)]
struct Programs {
    proxy: PathBuf,
    payments: PathBuf,
    probe: PathBuf,
    redis: PathBuf,
    /// The kit's baseline driver, whose `requests` verb lists every workload.
    requests: PathBuf,
}

/// The baseline's side: its answers and what the probe found on it, fixed
/// by the seed, so measured once per seed and kept.
#[derive(Debug, Serialize, Deserialize)]
struct Baseline {
    gate: Vec<Exchange>,
    failures: BTreeMap<String, Vec<String>>,
}

/// The prepared grading.
pub struct Prepared {
    programs: Programs,
    database: Database,
    baseline: Baseline,
}

/// Lab 26's part of the pipeline.
pub struct Monitoring;

impl Method for Monitoring {
    type Settings = Settings;
    type Prepared = Prepared;

    /// Each instance runs a Redis server of its own, and the checks run
    /// promtool, Prometheus and Alertmanager: without any of them the lab is
    /// not graded, as a check the grader cannot run must not earn points.
    async fn probe(_: &Context<'_>, _: &Binaries) -> Result<(), String> {
        let packages = missing_packages(&std::env::var_os("PATH").unwrap_or_default());
        if packages.is_empty() {
            return Ok(());
        }
        Err(format!(
            "lab 26 runs redis-server, promtool, Prometheus and Alertmanager, and some are not installed (Debian: \
             apt-get install {}; `cargo xtask grade` installs them)",
            packages.join(" ")
        ))
    }

    async fn prepare(ctx: &Context<'_>, w: &Settings, sides: &Sides, tools: &Tools) -> Result<Prepared, Stop> {
        let tool = |name: &str| tools.get(name).cloned().ok_or_else(|| kit(format!("rubric [tools] names no {name}")));
        let programs = Programs {
            proxy: tool("pg-count-proxy")?,
            payments: tool("shop-payments")?,
            probe: tool("monitoring-probe")?,
            redis: on_path("redis-server").ok_or_else(|| kit("redis-server is not installed"))?,
            requests: sides.baseline.main.clone(),
        };
        // Roles are named as the lab's databases are: the proxy drops only those.
        let database = Database::start(&programs.proxy, &format!("labdb_mon{}", std::process::id()), 0).await?;
        let probe_build = std::fs::read(&programs.probe).map(|b| crate::build::fnv(&b)).map_err(kit)?;
        let key = format!("lab 26 baseline {} {w:?} probe {probe_build:016x}", ctx.seed);
        let baseline = crate::measure::baseline_cache::get(
            &ctx.kit.target_dir,
            &sides.baseline.main,
            &key,
            measure_baseline(ctx, w, &programs, &database, &sides.baseline.main),
        )
        .await;
        match baseline {
            Ok(baseline) => Ok(Prepared { programs, database, baseline }),
            Err(err) => {
                database.close().await;
                Err(kit(err))
            }
        }
    }

    /// The mixed workload's answers, one request at a time, against the baseline's.
    async fn gate(
        ctx: &Context<'_>,
        w: &Settings,
        sides: &Sides,
        p: &Prepared,
    ) -> Result<Result<String, String>, Stop> {
        ctx.progress.phase(format!("mixed workload: {} requests (seed {})", w.gate_requests, ctx.seed));
        let answers =
            gate_run(ctx, w, &p.programs, &p.database, Side::Target, &sides.target.main).await.map_err(tgt)?;
        if let Some(difference) = compare_answers(&p.baseline.gate, &answers) {
            return Ok(Err(format!("in the mixed workload, {difference}")));
        }
        Ok(Ok(format!("{} mixed answers equal the uninstrumented baseline's (seed {})", answers.len(), ctx.seed)))
    }

    async fn measure(
        ctx: &Context<'_>,
        w: &Settings,
        sides: &Sides,
        _: &Tools,
        p: &Prepared,
    ) -> Result<Vec<Measurement>, Stop> {
        let mut measurements = Vec::new();
        let mut passed = BTreeMap::new();
        for (check, id, what) in SERVED_CHECKS {
            let needed_by_overhead = ["metrics", "logs"].contains(&check) && ctx.wants(&[OVERHEAD]);
            if !ctx.wants(&[id]) && !needed_by_overhead {
                continue;
            }
            ctx.progress.phase(format!("{check}: a fresh instance, read from outside"));
            let report = served_check(ctx, w, &p.programs, &p.database, Side::Target, &sides.target.main, check)
                .await
                .map_err(tgt)?;
            passed.insert(check, report.failures.is_empty());
            if ctx.wants(&[id]) {
                let base = p.baseline.failures.get(check).cloned().unwrap_or_default();
                measurements.push(verdict(id, what, &base, &report));
            }
        }
        if ctx.wants(&[ALERTS]) {
            ctx.progress.phase("alert rules: promtool, the kit's contract tests, a live Prometheus and Alertmanager");
            let report = alerts_check(&ctx.kit.root, &p.programs, &sides.target.src).await.map_err(kit)?;
            measurements.push(verdict(
                ALERTS,
                "src/alerts/rules.yml: promtool check rules, the kit's unit tests of HighErrorRate, \
                 LatencyBudgetBurnFast and LatencyBudgetBurnSlow, and live in a real Prometheus (each `for` 0 s) \
                 scraping a stand-in shop: nothing while healthy, HighErrorRate at the kit's webhook through \
                 Alertmanager once 40% of answers are 5xx",
                &[],
                &report,
            ));
        }
        if ctx.wants(&[OVERHEAD]) {
            let instrumented = passed.get("metrics") == Some(&true) && passed.get("logs") == Some(&true);
            measurements.push(match instrumented {
                true => overhead(ctx, w, p, sides).await?,
                false => Measurement::counted(
                    MethodKind::PairedRounds,
                    OVERHEAD,
                    "% of throughput",
                    "not measured: the service's metrics or logs check failed, so there is no telemetry to weigh"
                        .into(),
                    0.0,
                    100.0,
                ),
            });
        }
        Ok(measurements)
    }

    async fn cleanup(_: &Context<'_>, _: &Sides, prepared: Prepared) {
        prepared.database.close().await;
    }
}

/// The Debian packages of the programs the checks run (by their Debian
/// names, as `lab_monitoring::stack` runs them) that `path` (a
/// `PATH` value) does not have, each named once.
fn missing_packages(path: &std::ffi::OsStr) -> Vec<&'static str> {
    let mut packages: Vec<&str> = [
        ("redis-server", "redis-server"),
        ("promtool", "prometheus"),
        ("prometheus", "prometheus"),
        ("prometheus-alertmanager", "prometheus-alertmanager"),
    ]
    .into_iter()
    .filter(|(program, _)| find_in(path, program).is_none())
    .map(|(_, package)| package)
    .collect();
    packages.dedup();
    packages
}

/// `name` in a folder of the `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    find_in(&std::env::var_os("PATH").unwrap_or_default(), name)
}

/// `name` in a folder of `path` (a `PATH` value).
fn find_in(path: &std::ffi::OsStr, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// A check's report as a count of failures, the first few named, notes after.
fn verdict(id: &str, what: &str, baseline: &[String], report: &CheckReport) -> Measurement {
    let named = |failures: &[String]| match failures {
        [] => "none".to_string(),
        [one] => one.clone(),
        [first, second] => format!("{first}; {second}"),
        [first, second, rest @ ..] => format!("{first}; {second}; and {} more", rest.len()),
    };
    let notes = match report.notes.is_empty() {
        true => String::new(),
        false => format!(" Notes: {}.", report.notes.join("; ")),
    };
    Measurement::counted(
        MethodKind::LabSpecific,
        id,
        "failures",
        format!("{what}. Target: {}. Baseline: {}.{notes}", named(&report.failures), named(baseline)),
        baseline.len() as f64,
        report.failures.len() as f64,
    )
}

/// The baseline through the gate and every served check.
async fn measure_baseline(
    ctx: &Context<'_>,
    w: &Settings,
    programs: &Programs,
    database: &Database,
    base: &Path,
) -> Result<Baseline, RunError> {
    ctx.progress.phase(format!("measuring the baseline (seed {}; once per seed, then kept)", ctx.seed));
    let gate = gate_run(ctx, w, programs, database, Side::Baseline, base).await?;
    let mut failures = BTreeMap::new();
    for (check, ..) in SERVED_CHECKS {
        let report = served_check(ctx, w, programs, database, Side::Baseline, base, check).await?;
        failures.insert(check.to_string(), report.failures);
    }
    Ok(Baseline { gate, failures })
}

// ---------------------------------------------------------------------------
// The database

/// Which side an instance serves, and so which role it connects as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Baseline,
    Target,
}

/// The grading's pg-count-proxy: its PostgreSQL socket in a folder bound
/// into every instance's sandbox, its control API (which can hold every
/// message) in another that none sees, a login role per side. Closing its
/// stdin drops the roles and the databases they made.
struct Database {
    dir: tempfile::TempDir,
    control: tempfile::TempDir,
    roles: BTreeMap<String, String>,
    tag: String,
    stdin: Option<ChildStdin>,
    child: Child,
}

const PROXY_SOCKET: &str = ".s.PGSQL.5432";
const CONTROL_SOCKET: &str = "control.sock";

impl Database {
    async fn start(proxy: &Path, tag: &str, delay_ms: u64) -> Result<Database, Stop> {
        let dir = tempfile::Builder::new().prefix("grader-pg-").tempdir().map_err(kit)?;
        let control = tempfile::Builder::new().prefix("grader-pgctl-").tempdir().map_err(kit)?;
        // Every cell's uid passes through the folder to the socket.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).map_err(kit)?;
        let mut command = Command::new(proxy);
        command
            .arg("--unix")
            .arg(dir.path().join(PROXY_SOCKET))
            .arg("--control-unix")
            .arg(control.path().join(CONTROL_SOCKET))
            .args(["--delay-ms", &delay_ms.to_string(), "--role", &format!("{tag}_rb"), "--role", &format!("{tag}_rt")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(kit)?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped");
        let first = tokio::time::timeout(Duration::from_secs(30), BufReader::new(stdout).lines().next_line()).await;
        let Ok(Ok(Some(first))) = first else {
            let _ = child.start_kill();
            let out = child.wait_with_output().await.map_err(kit)?;
            let said = String::from_utf8_lossy(&out.stderr);
            return Err(kit(format!("the kit's pg-count-proxy did not start: {}", said.trim())));
        };
        let ready: ProxyReady = parse_last(&first).map_err(|e| kit(format!("the proxy {e}")))?;
        Ok(Database { dir, control, roles: ready.roles, tag: tag.to_string(), stdin, child })
    }

    /// The network of an instance of `side`, with its services' folder.
    fn net(&self, side: Side, services: &Path) -> Net {
        let role = format!("{}_{}", self.tag, if side == Side::Baseline { "rb" } else { "rt" });
        let password = self.roles.get(&role).cloned().unwrap_or_default();
        Net::PostgresAndServices(Gate { dir: self.dir.path().to_path_buf(), role, password }, services.to_path_buf())
    }

    fn control(&self) -> String {
        format!("unix:{}", self.control.path().join(CONTROL_SOCKET).display())
    }

    /// Closes stdin (the proxy drops the roles and their databases) and waits for it.
    async fn close(mut self) {
        drop(self.stdin.take());
        if tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

// ---------------------------------------------------------------------------
// A served instance

/// One contained instance of a driver, with a Redis server and a payment
/// stub of its own, on a fresh database it seeds as its side's role.
struct Instance {
    server: Server,
    services: tempfile::TempDir,
    _redis: Child,
    _payments: Child,
}

impl Instance {
    async fn start(
        ctx: &Context<'_>,
        w: &Settings,
        programs: &Programs,
        database: &Database,
        side: Side,
        binary: &Path,
    ) -> Result<Instance, RunError> {
        Instance::start_with(ctx, w, programs, database, side, binary, w.payments_latency_ms).await
    }

    /// As [`Instance::start`], every charge waiting `payments_ms`.
    #[allow(clippy::too_many_arguments)] // The instance's side and services, each named at the two call sites.
    async fn start_with(
        ctx: &Context<'_>,
        w: &Settings,
        programs: &Programs,
        database: &Database,
        side: Side,
        binary: &Path,
        payments_ms: u64,
    ) -> Result<Instance, RunError> {
        let failed = |what: &str, err: &dyn std::fmt::Display| RunError::Failed(format!("the kit's {what}: {err}"));
        let services =
            tempfile::Builder::new().prefix("grader-svc-").tempdir().map_err(|e| failed("services folder", &e))?;
        std::fs::set_permissions(services.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(|e| failed("services folder", &e))?;
        let redis_socket = services.path().join(REDIS_SOCKET);
        let redis = Command::new(&programs.redis)
            .args(["--port", "0", "--unixsocket"])
            .arg(&redis_socket)
            .args(["--unixsocketperm", "666", "--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(services.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failed("redis-server", &e))?;
        let payments_socket = services.path().join(PAYMENTS_SOCKET);
        let mut payments = Command::new(&programs.payments)
            .args(["--latency-ms", &payments_ms.to_string(), "--unix"])
            .arg(&payments_socket)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failed("shop-payments", &e))?;
        let stdout = payments.stdout.take().expect("piped");
        let line = tokio::time::timeout(Duration::from_secs(30), BufReader::new(stdout).lines().next_line()).await;
        if !matches!(line, Ok(Ok(Some(ref l))) if l.contains("listening")) {
            return Err(RunError::Failed("the kit's shop-payments did not start".into()));
        }
        std::fs::set_permissions(&payments_socket, std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .map_err(|e| failed("payments socket", &e))?;
        let started = Instant::now();
        while !redis_socket.exists() {
            if started.elapsed() > Duration::from_secs(10) {
                return Err(RunError::Failed("the kit's redis-server did not start within 10 s".into()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let cell = crate::measure::cell(ctx.jail)?;
        let net = database.net(side, services.path());
        let inside = ctx.jail.services_dir(services.path());
        let Net::PostgresAndServices(gate, _) = &net else { unreachable!("built just above") };
        let mut args = vec!["serve".to_string()];
        args.extend(crate::measure::data_args(ctx.seed, &w.size));
        args.extend([
            "--unix".into(),
            cell.inside("http.sock").display().to_string(),
            "--via".into(),
            ctx.jail.gate_dir(gate).display().to_string(),
            "--payments".into(),
            format!("unix:{}", inside.join(PAYMENTS_SOCKET).display()),
            "--redis".into(),
            format!("redis+unix://{}", inside.join(REDIS_SOCKET).display()),
            "--redis-prefix".into(),
            PREFIX.into(),
            "--log-file".into(),
            cell.inside(LOG_FILE).display().to_string(),
        ]);
        let command = crate::measure::contained(ctx.jail, &cell, &net, binary, &args, RUN_LIMIT)?;
        let server = process::serve(command, Duration::from_secs(60), cell).await?;
        Ok(Instance { server, services, _redis: redis, _payments: payments })
    }

    /// What the probe needs to reach this instance and what it watches.
    fn probe_args(&self, database: &Database) -> Vec<String> {
        vec![
            "--service".into(),
            format!("unix:{}", self.server.file("http.sock").display()),
            "--log-file".into(),
            self.server.file(LOG_FILE).display().to_string(),
            "--payments".into(),
            format!("unix:{}", self.services.path().join(PAYMENTS_SOCKET).display()),
            "--database-control".into(),
            database.control(),
        ]
    }
}

/// The mixed workload's answers from a fresh instance of `binary`, one request at a time.
async fn gate_run(
    ctx: &Context<'_>,
    w: &Settings,
    programs: &Programs,
    database: &Database,
    side: Side,
    binary: &Path,
) -> Result<Vec<Exchange>, RunError> {
    let list = requests(ctx, w, programs, "mixed", w.gate_requests).await?;
    let instance = Instance::start(ctx, w, programs, database, side, binary).await?;
    let mut answers = Vec::with_capacity(list.len());
    for req in &list {
        answers.push(exchange(&instance.server, req).await?);
    }
    Ok(answers)
}

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

/// `req`'s exchange with `server`.
async fn exchange(server: &Server, req: &Req) -> Result<Exchange, RunError> {
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut request = server.client.request(method, format!("{}{}", server.url, req.uri));
    if let Some(body) = &req.body {
        request = request.header("content-type", "application/json").body(body.to_string());
    }
    let response =
        request.send().await.map_err(|err| RunError::Failed(format!("{} got no answer: {err}", req.label())))?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|err| RunError::Failed(format!("{}: {err}", req.label())))?;
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Ok(Exchange { req: req.clone(), status, body })
}

/// Check `check` of a fresh instance of `binary`, by the kit's probe.
async fn served_check(
    ctx: &Context<'_>,
    w: &Settings,
    programs: &Programs,
    database: &Database,
    side: Side,
    binary: &Path,
    check: &str,
) -> Result<CheckReport, RunError> {
    let instance = Instance::start(ctx, w, programs, database, side, binary).await?;
    let mut args = vec![check.to_string()];
    args.extend(instance.probe_args(database));
    args.extend(crate::measure::data_args(ctx.seed, &w.size));
    run_probe(&ctx.kit.root, programs, &args).await
}

/// The alert rules of the target's `src/`, checked by the kit's probe.
async fn alerts_check(kit: &Path, programs: &Programs, src: &Path) -> Result<CheckReport, RunError> {
    let rules = src.join(RULES);
    let args = vec!["alerts".to_string(), "--rules".into(), rules.display().to_string()];
    run_probe(kit, programs, &args).await
}

/// Runs the probe (trusted, not contained: it only talks to the instance and reads its log).
async fn run_probe(kit: &Path, programs: &Programs, args: &[String]) -> Result<CheckReport, RunError> {
    let mut command = Command::new(&programs.probe);
    command.args(args).arg("--kit").arg(kit);
    let output = process::run(command, Duration::from_secs(180)).await?;
    parse_last(&output.stdout).map_err(|err| RunError::Failed(format!("the kit's monitoring-probe {err}")))
}

// ---------------------------------------------------------------------------
// Overhead

/// Throughput of the target against the baseline's, both serving at once,
/// in rounds that alternate which goes first, on the rubric's workload
/// after a warm-up that fills each side's product cache. The dependencies
/// cost what they would across a network (a database of its own behind a
/// proxy that delays each round trip, a slower payment provider), so the
/// service is not the only thing a request waits for, as in production:
/// what the check catches is telemetry that blocks or serializes requests,
/// or costs as much CPU as the work it watches.
async fn overhead(ctx: &Context<'_>, w: &Settings, p: &Prepared, sides: &Sides) -> Result<Measurement, Stop> {
    ctx.progress
        .phase(format!("telemetry overhead: {} rounds of {} requests a side", w.overhead_rounds, w.overhead_requests));
    let list = requests(ctx, w, &p.programs, &w.overhead_workload, w.overhead_requests).await.map_err(kit)?;
    let list = Arc::new(list);
    let tag = format!("labdb_mon{}d", std::process::id());
    let database = Database::start(&p.programs.proxy, &tag, w.overhead_database_delay_ms).await?;
    let measured = async {
        let (programs, payments) = (&p.programs, w.overhead_payments_latency_ms);
        let baseline =
            Instance::start_with(ctx, w, programs, &database, Side::Baseline, &sides.baseline.main, payments)
                .await
                .map_err(kit)?;
        let target = Instance::start_with(ctx, w, programs, &database, Side::Target, &sides.target.main, payments)
            .await
            .map_err(tgt)?;
        throughput_rounds(ctx, w, list, &baseline, &target).await
    }
    .await;
    database.close().await;
    let (base, targ) = measured?;
    // target / baseline throughput: 1 is no overhead at all.
    let ratios = crate::stats::pairwise_ratios(&targ, &base);
    let interval = crate::stats::median_interval(&ratios);
    let percent = ((1.0 - interval.estimate) * 100.0).max(0.0);
    Ok(Measurement::new(
        MethodKind::PairedRounds,
        OVERHEAD,
        "% of throughput",
        format!(
            "{} workload, database round trips {} ms, charges {} ms, {} workers, {} rounds of {} requests a side \
             alternating which goes first: target throughput {:.0}/s against the baseline's {:.0}/s (medians), \
             ratio {:.3} [{:.3}, {:.3}] (median of the rounds' ratios, 95% interval)",
            w.overhead_workload,
            w.overhead_database_delay_ms,
            w.overhead_payments_latency_ms,
            w.overhead_concurrency,
            w.overhead_rounds,
            w.overhead_requests,
            crate::stats::median(&targ),
            crate::stats::median(&base),
            interval.estimate,
            interval.low,
            interval.high
        ),
        0.0,
        (percent * 10.0).round() / 10.0,
        interval,
        w.overhead_rounds,
    ))
}

/// Paired load rounds on both instances; each side's throughput per round.
async fn throughput_rounds(
    ctx: &Context<'_>,
    w: &Settings,
    list: Arc<Vec<Req>>,
    baseline: &Instance,
    target: &Instance,
) -> Result<(Vec<f64>, Vec<f64>), Stop> {
    let limit = Duration::from_secs(60);
    let load = |instance: &Instance, n: usize| {
        let (client, url, list) = (instance.server.client.clone(), instance.server.url.clone(), list.clone());
        async move { closed_loop(&client, &url, list, n, w.overhead_concurrency, limit).await }
    };
    for instance in [baseline, target] {
        load(instance, w.overhead_warmup).await;
    }
    let run = |instance: &Instance, is_baseline: bool| {
        let round = load(instance, w.overhead_requests);
        async move {
            let result = round.await;
            if result.errors > 0 || result.sent < w.overhead_requests {
                let who = if is_baseline { "the baseline" } else { "the target" };
                let reason = format!(
                    "{who} answered {} of {} requests with an error or not in time",
                    result.errors + w.overhead_requests - result.sent,
                    w.overhead_requests
                );
                return Err(if is_baseline { kit(reason) } else { tgt(reason) });
            }
            Ok(result.throughput())
        }
    };
    let pairs = timed_rounds(
        ctx.progress,
        w.overhead_rounds,
        |round| ctx.progress.phase(format!("overhead round {round}/{}", w.overhead_rounds)),
        || run(baseline, true),
        || run(target, false),
    )
    .await?;
    Ok(pairs.into_iter().unzip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_without_the_tools_names_each_package_once_and_one_with_them_names_none() {
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            missing_packages(empty.path().as_os_str()),
            ["redis-server", "prometheus", "prometheus-alertmanager"]
        );
        let full = tempfile::tempdir().unwrap();
        for program in ["redis-server", "promtool", "prometheus", "prometheus-alertmanager"] {
            std::fs::write(full.path().join(program), "").unwrap();
        }
        let path = std::env::join_paths([empty.path(), full.path()]).unwrap();
        assert!(missing_packages(&path).is_empty());
        std::fs::remove_file(full.path().join("prometheus")).unwrap();
        assert_eq!(missing_packages(&path), ["prometheus"]);
    }
}
