//! Lab 24: queries, rows and commits per request counted by a wire-protocol
//! proxy outside the service, EXPLAIN plans on the target's own schema, rows
//! PostgreSQL reads for a deep page (its own statistics) and the pool's
//! behaviour under a locked table; no clock, so each fault moves one count.
//! All gated on answers equal to the baseline's. How each driver verb is used
//! is in `labs/database/GRADER.md`.
//!
//! Every driver runs without a network: its one way to PostgreSQL is the
//! grading's `pg-count-proxy`, on a Unix socket bound into its sandbox, as
//! a login role of its side's own (no superuser; it owns only the databases
//! it made, and only it may connect to them). So the target's service and
//! migrations cannot reach the baseline's database or change the server,
//! and every statement they run is counted. The counts are differences of
//! readings of counters that only grow (the proxy has no reset for anyone
//! in the sandbox), and after each counted run the proxy's counts are
//! checked against the transactions PostgreSQL itself counted in the
//! target's database. Each side's seeded database is copied before the gate
//! runs, and everything counted runs on the copy, so nothing the gate's run
//! left in the database can be read back by a counted one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lab_protocol::{
    Copied, Dropped, Exchange, ExplainReport, PoolReport, ProxyReady, RowsReadReport, RunReport, SeedReport, parse_last,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use super::Context;
use super::pipeline::{Method, Sides, Stop, Tools, kit, tgt};
use crate::build::Binaries;
use crate::contain::{Gate, Net};
use crate::measure::{RUN_LIMIT, compare_answers, read_answers};
use crate::process::RunError;
use crate::record::Measurement;
use crate::rubric::{MethodKind, Rubric};

/// The rubric's `[workload]` table; a key the lab does not read is refused.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    size: String,
    seed_budget_s: u64,
    gate_requests: usize,
    count_requests: usize,
    count_warmup: usize,
    pool_concurrency: usize,
    pool_hold_ms: usize,
    max_connections_opened: usize,
    rows_read_requests: usize,
}

/// Reads the rubric's `[workload]` table as this lab does.
pub fn read_settings(rubric: &Rubric) -> anyhow::Result<()> {
    rubric.workload::<Settings>().map(drop)
}

/// One implementation's driver, the databases seeded for it, and its way to PostgreSQL.
struct Side {
    driver: PathBuf,
    /// Seeded for the side, where the gate runs.
    database: String,
    /// A copy of `database` made before the gate, where everything counted
    /// runs: nothing an earlier run left in the database (answers kept in
    /// a table, say) is there to be read back.
    counted: String,
    net: Net,
}

impl Side {
    fn new(driver: &Path, database: String, net: Net) -> Side {
        Side { driver: driver.to_path_buf(), counted: format!("{database}_count"), database, net }
    }
}

/// Everything the baseline contributes to a grading. It depends only on the
/// seed, the rubric's settings and the kit's own binaries (the baseline's
/// answers are fixed by the seed and every measurement is an exact count),
/// so the first grading on a seed measures it on a database of its own and
/// every later grading on that seed (the self-check, a class) reads it back.
#[derive(Debug, Serialize, Deserialize)]
struct Baseline {
    seeded: SeedReport,
    answers: Vec<Exchange>,
    /// One per workload of [`WORKLOADS`], in order.
    counted: Vec<Counted>,
    /// The answers of each of those counted runs.
    counted_answers: Vec<Vec<Exchange>>,
    explain: ExplainReport,
    rows_read: RowsReadReport,
    pool: PoolReport,
}

/// The workloads whose queries, rows, bytes and commits the proxy counts.
const WORKLOADS: [&str; 5] = ["list", "detail", "filter", "report", "write"];

/// The baseline's side (measured once per seed), the target's seeded
/// database, and the proxy both reach PostgreSQL through.
pub struct Seeded {
    baseline: Baseline,
    cand: Side,
    proxy: Proxy,
}

/// Lab 24's part of the pipeline.
pub struct Database;

impl Method for Database {
    type Settings = Settings;
    type Prepared = Seeded;

    /// Not graded, rather than failed, when PostgreSQL answers but refuses the lab's work.
    async fn probe(ctx: &Context<'_>, baseline: &Binaries) -> Result<(), String> {
        // The kit's own baseline, with the host's network and DATABASE_URL: no proxy runs yet.
        run_verb::<Dropped>(
            ctx.jail,
            &Net::Host,
            &baseline.main,
            &strings(&["drop", "--database", "labdb_probe"]),
            Duration::from_secs(30),
        )
        .await
        .map(drop)
        .map_err(|err| err.to_string().trim_start_matches("error: ").to_string())
    }

    async fn prepare(ctx: &Context<'_>, w: &Settings, sides: &Sides, tools: &Tools) -> Result<Seeded, Stop> {
        let tag = format!("labdb_g{}_{}", std::process::id(), ctx.seed);
        let proxy_binary = proxy_tool(tools)?;
        // The proxy's build is part of the key: it does the counting.
        let proxy_build = std::fs::read(proxy_binary).map(|bytes| crate::build::fnv(&bytes)).map_err(kit)?;
        let proxy = start_proxy(proxy_binary, &tag).await?;
        let seed = ctx.seed.to_string();
        let key = format!(
            "lab 24 baseline {seed} {} gate {} counts {} after {} from the proxy's readings, with answers, on a copy made before the gate; rows-read {} pool {}x{} ms with answers; proxy {proxy_build:016x}",
            w.size,
            w.gate_requests,
            w.count_requests,
            w.count_warmup,
            w.rows_read_requests,
            w.pool_concurrency,
            w.pool_hold_ms
        );
        let base = Side::new(&sides.baseline.main, format!("{tag}_base"), proxy.net(&format!("{tag}_rb")));
        let baseline = crate::measure::baseline_cache::get(
            &ctx.kit.target_dir,
            &base.driver,
            &key,
            measure_baseline(ctx, w, &base, &proxy),
        )
        .await
        .map_err(kit);
        let baseline = match baseline {
            Ok(baseline) => baseline,
            Err(stop) => {
                proxy.close().await;
                return Err(stop);
            }
        };
        let cand = Side::new(&sides.target.main, format!("{tag}_target"), proxy.net(&format!("{tag}_rt")));
        ctx.progress.phase(format!("seeding the target's database ({}, seed {seed})", w.size));
        let seeded = seed_side(ctx, w, &cand).await;
        let prepared = Seeded { baseline, cand, proxy };
        match seeded {
            Ok(_) => Ok(prepared),
            Err(err) => {
                Database::cleanup(ctx, sides, prepared).await;
                Err(tgt(format!("could not be seeded: {err}")))
            }
        }
    }

    /// Runs first: its workload writes (reviews), the same on both sides.
    async fn gate(ctx: &Context<'_>, w: &Settings, _: &Sides, seeded: &Seeded) -> Result<Result<String, String>, Stop> {
        let seed = ctx.seed;
        ctx.progress.phase(format!("comparing answers on seed {seed}"));
        let got = gate_answers(ctx, w, &seeded.cand, &seeded.proxy).await.map_err(tgt)?;
        let want = &seeded.baseline.answers;
        if let Some(difference) = compare_answers(want, &got) {
            return Ok(Err(difference.to_string()));
        }
        Ok(Ok(format!(
            "{} answers equal the baseline's on seed {seed}; the baseline seeded {} rows in {:.1} s (budget {} s)",
            want.len(),
            seeded.baseline.seeded.rows,
            seeded.baseline.seeded.total_ms as f64 / 1000.0,
            w.seed_budget_s
        )))
    }

    async fn measure(
        ctx: &Context<'_>,
        w: &Settings,
        _: &Sides,
        _: &Tools,
        seeded: &Seeded,
    ) -> Result<Vec<Measurement>, Stop> {
        let (proxy, base, cand) = (&seeded.proxy, &seeded.baseline, &seeded.cand);
        let mut measurements = Vec::new();
        // The pool check also reads the connections the counted runs opened.
        if ctx.wants(&["queries_per_list_page", "rows_per_report", "write_units_per_review", "pool_failures"]) {
            let mut counted = Vec::new();
            for (workload, want) in WORKLOADS.iter().zip(&base.counted_answers) {
                ctx.progress.phase(format!("counting queries through the proxy: {workload}"));
                let (counts, got) = count(ctx, w, cand, workload, proxy).await.map_err(tgt)?;
                // A count means something only if the counted run answered as the
                // baseline's did: a target that behaves otherwise behind the proxy
                // than in the gate stops here.
                if let Some(difference) = compare_answers(want, &got) {
                    return Err(tgt(format!(
                        "answered differently from the baseline in the counted {workload} run: {difference}"
                    )));
                }
                counted.push(counts);
            }
            measurements = counts(w, &base.counted, &counted);
        }
        if ctx.wants(&["filter_plan_misses"]) {
            ctx.progress.phase("reading EXPLAIN plans");
            let t = explain(ctx, w, cand).await.map_err(tgt)?;
            measurements.push(plans(&base.explain, &t));
        }
        if ctx.wants(&["orders_rows_per_deep_page"]) {
            ctx.progress.phase("counting rows read for a deep page");
            let t = rows_read(ctx, w, cand).await.map_err(tgt)?;
            let digests = |v: &RowsReadReport| v.per_request.iter().map(|r| r.answer.clone()).collect::<Vec<_>>();
            let run = "the rows-read run of deep pages";
            if let Some(difference) = crate::measure::compare_digests(run, &digests(&base.rows_read), &digests(&t)) {
                return Err(tgt(format!("answered differently when measured: {difference}")));
            }
            let rows = |v: &RowsReadReport| v.orders_rows_read_per_request;
            measurements.push(Measurement::counted(
                MethodKind::Count,
                "orders_rows_per_deep_page",
                "rows/request",
                "pg_stat_user_tables: rows of orders read per page 50,000 deep (exact)".into(),
                rows(&base.rows_read),
                rows(&t),
            ));
        }
        if !ctx.wants(&["pool_failures"]) {
            return Ok(measurements);
        }
        ctx.progress.phase("checking the pool against a locked table");
        let pool = (&base.pool, &pool_check(ctx, w, cand).await.map_err(tgt)?);
        if let Some(request) = pool.1.answered.iter().find(|(req, got)| pool.0.answered.get(*req) != Some(got)) {
            return Err(tgt(format!(
                "answered differently from the baseline in the pool check: {} (status 200, another body)",
                request.0
            )));
        }
        let opened = measurements.iter().find(|m| m.id == "connections_opened").map(|m| (m.baseline, m.target));
        let (base_opened, cand_opened) = opened.unwrap_or((0.0, 0.0));
        let max_connections = w.max_connections_opened as f64;
        let failures =
            |passed: bool, opened: f64| f64::from(u8::from(!passed)) + f64::from(u8::from(opened > max_connections));
        measurements.push(Measurement::counted(
            MethodKind::LabSpecific,
            "pool_failures",
            "failures",
            format!(
                "pool check ({} reads on a locked table): baseline answered {}, target {}; at most {max_connections} connections opened over the counted runs",
                w.pool_concurrency,
                statuses(pool.0),
                statuses(pool.1)
            ),
            failures(pool.0.passed, base_opened),
            failures(pool.1.passed, cand_opened),
        ));
        Ok(measurements)
    }

    async fn cleanup(ctx: &Context<'_>, _: &Sides, seeded: Seeded) {
        drop_database(ctx, &seeded.cand).await;
        seeded.proxy.close().await;
    }
}

fn proxy_tool(tools: &Tools) -> Result<&Path, Stop> {
    tools.get("pg-count-proxy").map(PathBuf::as_path).ok_or_else(|| kit("rubric [tools] names no pg-count-proxy"))
}

/// Seeds the side's database, then copies it for the counted runs.
async fn seed_side(ctx: &Context<'_>, w: &Settings, side: &Side) -> Result<SeedReport, RunError> {
    let seed = ctx.seed.to_string();
    let seeded: SeedReport =
        run_verb(ctx.jail, &side.net, &side.driver, &verb("seed", &seed, &w.size, &side.database, &[]), RUN_LIMIT)
            .await?;
    let copy = strings(&["copy", "--database", &side.database, "--to", &side.counted]);
    run_verb::<Copied>(ctx.jail, &side.net, &side.driver, &copy, RUN_LIMIT).await?;
    Ok(seeded)
}

async fn drop_database(ctx: &Context<'_>, side: &Side) {
    for database in [&side.database, &side.counted] {
        let _ = run_verb::<Dropped>(
            ctx.jail,
            &side.net,
            &side.driver,
            &strings(&["drop", "--database", database]),
            Duration::from_secs(60),
        )
        .await;
    }
}

/// The baseline's side of every measurement, in the order a grading takes
/// them (the gate's writes come first), on a database seeded for it alone.
async fn measure_baseline(ctx: &Context<'_>, w: &Settings, base: &Side, proxy: &Proxy) -> Result<Baseline, RunError> {
    let seed = ctx.seed.to_string();
    ctx.progress.phase(format!("measuring the baseline (seed {seed}; once per seed, then kept)"));
    let seeded = seed_side(ctx, w, base).await;
    let measured = async {
        let seeded = seeded?;
        // Nothing but its own migrations may shape the baseline's database:
        // no setting may apply to its sessions, and its indexes stay as seeded.
        let seeded_state = proxy.database(&base.counted).await?;
        if !seeded_state.settings.is_empty() {
            return Err(RunError::Failed(format!(
                "settings on this server would change how the baseline's database behaves: {}; \
                 remove them (ALTER ROLE/DATABASE ... RESET ALL) before grading",
                seeded_state.settings.join("; ")
            )));
        }
        let answers = gate_answers(ctx, w, base, proxy).await?;
        let (mut counted, mut counted_answers) = (Vec::new(), Vec::new());
        for workload in WORKLOADS {
            let (counts, answers) = count(ctx, w, base, workload, proxy).await?;
            counted.push(counts);
            counted_answers.push(answers);
        }
        let explain = explain(ctx, w, base).await?;
        let rows_read = rows_read(ctx, w, base).await?;
        let pool = pool_check(ctx, w, base).await?;
        let measured_state = proxy.database(&base.counted).await?;
        if measured_state != seeded_state {
            return Err(RunError::Failed(format!(
                "the baseline's database changed while it was measured: {seeded_state:?} became {measured_state:?}"
            )));
        }
        Ok(Baseline { seeded, answers, counted, counted_answers, explain, rows_read, pool })
    }
    .await;
    drop_database(ctx, base).await;
    measured
}

/// The mixed workload's exchanges, recorded by the side's driver.
async fn gate_answers(ctx: &Context<'_>, w: &Settings, side: &Side, proxy: &Proxy) -> Result<Vec<Exchange>, RunError> {
    let (_, answers) = serve(ctx, w, side, &side.database, "mixed", w.gate_requests, proxy).await?;
    Ok(answers)
}

/// One `run` of `workload` on `database`: its report and the answers it
/// wrote out. Every run of a side's service, the gate's and the counted
/// runs' alike, gets these arguments: it reads the proxy around its
/// requests and writes its answers out, and the number of requests comes
/// on stdin. So a run differs from another only in its workload, whose
/// answers are compared with the baseline's in every run.
async fn serve(
    ctx: &Context<'_>,
    w: &Settings,
    side: &Side,
    database: &str,
    workload: &str,
    requests: usize,
    proxy: &Proxy,
) -> Result<(RunReport, Vec<Exchange>), RunError> {
    let cell = crate::measure::cell(ctx.jail)?;
    let warmup = w.count_warmup.to_string();
    let answers = cell.inside("answers.jsonl").display().to_string();
    let (via, control) = proxy.via(ctx.jail, &side.net);
    let extra = [
        "--reuse",
        "--workload",
        workload,
        "--warmup",
        &warmup,
        "--via",
        &via,
        "--proxy-control",
        &control,
        "--responses",
        &answers,
        "--requests-on-stdin",
    ];
    let args = verb("run", &ctx.seed.to_string(), &w.size, database, &extra);
    let run = (args.as_slice(), requests);
    let report = crate::measure::message_counting(ctx.jail, &cell, &side.net, &side.driver, run, RUN_LIMIT).await?;
    Ok((report, read_answers(&cell.outside("answers.jsonl"))?))
}

/// What a counted run's proxy saw, per request: queries, rows and bytes sent back, commits that wrote, connections.
#[derive(Debug, Serialize, Deserialize)]
struct Counted {
    queries: f64,
    rows_to_client: f64,
    bytes_to_client: f64,
    write_units: f64,
    connections: f64,
}

/// The counters a counted run is scored on, in [`Counted`]'s order.
const COUNTERS: [&str; 5] = ["queries", "rows_to_client", "bytes_to_client", "write_units", "connections"];

fn counters(c: &lab_protocol::ProxyCounts) -> [u64; 5] {
    [c.queries, c.rows_to_client, c.bytes_to_client, c.write_units, c.connections]
}

/// A counted run's costs, from the proxy's own record of the readings its
/// driver took (`readings`: every one between the grader's reading before
/// the run and `after` it, once the process has ended). The driver reads
/// the counters before and after each of its `requests`, so there must be
/// exactly two per request; the differences it reports must be those of
/// the proxy's record (the driver shares its process with the target's
/// code, so its report alone proves nothing); and the costs are taken from
/// its first reading until the process had ended, so work the service does
/// between requests, or leaves running after the last, is counted too.
fn counted_from_readings(
    readings: &[lab_protocol::ProxyCounts],
    after: &lab_protocol::ProxyCounts,
    requests: usize,
    report: &RunReport,
) -> Result<Counted, String> {
    if requests == 0 || readings.len() != 2 * requests {
        return Err(format!(
            "the proxy's counters were read {} times, where the driver reads them twice for each of its {requests} counted requests",
            readings.len()
        ));
    }
    let mut windows = [0u64; 5];
    for pair in readings.chunks(2) {
        for (sum, cost) in windows.iter_mut().zip(counters(&pair[1].since(&pair[0]))) {
            *sum += cost;
        }
    }
    for (name, read) in COUNTERS.iter().zip(windows) {
        let reported = report.counter(name)?.total;
        if reported != read {
            return Err(format!(
                "its driver reported {reported} {name} where the proxy's record of the same readings says {read}"
            ));
        }
    }
    let [queries, rows, bytes, units, connections] = counters(&after.since(&readings[0]));
    let per_request = |n: u64| n as f64 / requests as f64;
    Ok(Counted {
        queries: per_request(queries),
        rows_to_client: per_request(rows),
        bytes_to_client: per_request(bytes),
        write_units: per_request(units),
        connections: connections as f64,
    })
}

/// `{200: 4, 503: 20}` as `200×4, 503×20`.
fn statuses(pool: &PoolReport) -> String {
    pool.statuses.iter().map(|(status, n)| format!("{status}×{n}")).collect::<Vec<_>>().join(", ")
}

/// Runs a contained driver verb and reads its last message.
async fn run_verb<T: serde::de::DeserializeOwned>(
    jail: &crate::contain::Jail,
    net: &Net,
    binary: &Path,
    args: &[String],
    limit: Duration,
) -> Result<T, RunError> {
    crate::measure::message(jail, net, binary, args, limit).await
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// `<verb> --seed S --size Z --database D <extra...>`
fn verb(verb: &str, seed: &str, size: &str, database: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec![verb, "--seed", seed, "--size", size, "--database", database];
    args.extend_from_slice(extra);
    args.into_iter().map(str::to_owned).collect()
}

/// The grading's pg-count-proxy: on Unix sockets in a folder of its own
/// (bound into every driver's sandbox), its control API read-only, a login
/// role per side. Closing its stdin drops the roles and their databases;
/// killed when dropped.
struct Proxy {
    dir: tempfile::TempDir,
    roles: BTreeMap<String, String>,
    /// The control API, for the grader's own readings.
    client: reqwest::Client,
    stdin: Option<ChildStdin>,
    child: Child,
}

/// The proxy's sockets, in its folder.
const PROXY_SOCKET: &str = ".s.PGSQL.5432";
const CONTROL_SOCKET: &str = "control.sock";

/// Counts need no network delay: the proxy forwards at once.
async fn start_proxy(proxy: &Path, tag: &str) -> Result<Proxy, Stop> {
    let dir = tempfile::Builder::new().prefix("grader-pg-").tempdir().map_err(kit)?;
    // Every cell's uid passes through the folder to the sockets (0777 each).
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).map_err(kit)?;
    let mut command = Command::new(proxy);
    command
        .arg("--unix")
        .arg(dir.path().join(PROXY_SOCKET))
        .arg("--control-unix")
        .arg(dir.path().join(CONTROL_SOCKET))
        .args(["--watch-only", "--delay-ms", "0", "--role", &format!("{tag}_rb"), "--role", &format!("{tag}_rt")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(kit)?;
    let stdin = child.stdin.take();
    let stdout = child.stdout.take().expect("piped");
    let first = tokio::time::timeout(Duration::from_secs(30), BufReader::new(stdout).lines().next_line()).await;
    let first = match first {
        Ok(Ok(Some(line))) => line,
        Ok(Ok(None)) => {
            let out = child.wait_with_output().await.map_err(kit)?;
            let said = String::from_utf8_lossy(&out.stderr);
            return Err(kit(format!("the proxy exited before listening: {}", said.trim())));
        }
        Ok(Err(err)) => return Err(kit(err)),
        Err(_) => return Err(kit("proxy did not start within 30 s")),
    };
    let ready: ProxyReady = parse_last(&first).map_err(|e| kit(format!("the proxy {e}")))?;
    let client = reqwest::Client::builder()
        .unix_socket(dir.path().join(CONTROL_SOCKET))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(kit)?;
    Ok(Proxy { dir, roles: ready.roles, client, stdin, child })
}

impl Proxy {
    /// The network of a driver that connects as `role`.
    fn net(&self, role: &str) -> Net {
        let password = self.roles.get(role).cloned().unwrap_or_default();
        Net::Postgres(Gate { dir: self.dir.path().to_path_buf(), role: role.to_string(), password })
    }

    /// `--via` and `--proxy-control` for a driver behind this proxy.
    fn via(&self, jail: &crate::contain::Jail, net: &Net) -> (String, String) {
        let Net::Postgres(gate) = net else { unreachable!("lab 24's drivers run behind the proxy") };
        let dir = jail.gate_dir(gate);
        (dir.display().to_string(), format!("unix:{}", dir.join(CONTROL_SOCKET).display()))
    }

    async fn counts(&self) -> Result<lab_protocol::ProxyCounts, RunError> {
        self.get("/counts").await
    }

    /// Every reading of the counters the proxy answered, from the `from`th on.
    async fn readings(&self, from: u64) -> Result<Vec<lab_protocol::ProxyCounts>, RunError> {
        self.get(&format!("/readings?from={from}")).await
    }

    /// Transactions PostgreSQL counted in `database`, once its sessions have ended.
    async fn transactions(&self, database: &str) -> Result<u64, RunError> {
        #[derive(Deserialize)]
        struct Transactions {
            transactions: u64,
        }
        let read: Transactions = self.get(&format!("/transactions?database={database}")).await?;
        Ok(read.transactions)
    }

    /// The settings and indexes of `database`.
    async fn database(&self, database: &str) -> Result<lab_protocol::DatabaseState, RunError> {
        self.get(&format!("/database?database={database}")).await
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, RunError> {
        let failed = |err: reqwest::Error| RunError::Failed(format!("reading the proxy's {path}: {err}"));
        let response = self.client.get(format!("http://localhost{path}")).send().await.map_err(failed)?;
        response.error_for_status().map_err(failed)?.json().await.map_err(failed)
    }

    /// Closes stdin (the proxy drops the roles and their databases) and waits for it.
    async fn close(mut self) {
        drop(self.stdin.take());
        if tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// Transactions PostgreSQL may count beyond what passed the proxy (autovacuum's).
const UNPROXIED_SLACK: u64 = 10;

/// One workload's counted run through the proxy, and the answers it got.
async fn count(
    ctx: &Context<'_>,
    w: &Settings,
    side: &Side,
    workload: &str,
    proxy: &Proxy,
) -> Result<(Counted, Vec<Exchange>), RunError> {
    let (before, transactions_before) = (proxy.counts().await?, proxy.transactions(&side.counted).await?);
    let (report, answers) = serve(ctx, w, side, &side.counted, workload, w.count_requests, proxy).await?;
    let after = proxy.counts().await?;
    let mut readings = proxy.readings(before.reading + 1).await?;
    readings.retain(|r| r.reading < after.reading);
    // PostgreSQL's own count of the run's transactions in the database. Each
    // ends at a message the client then waits on (a Sync or a Query: a
    // round trip, which the proxy counts) or is part of a session's start
    // (two, one of them a round trip), so more means a way around the proxy.
    let seen = after.since(&before);
    let transactions = proxy.transactions(&side.counted).await?.saturating_sub(transactions_before);
    let allowed = seen.round_trips + seen.connections + UNPROXIED_SLACK;
    if transactions > allowed {
        return Err(RunError::Failed(format!(
            "reached PostgreSQL around the counting proxy in the counted {workload} run: PostgreSQL counted \
             {transactions} transactions in its database, at most {allowed} could have passed the proxy \
             ({} round trips, {} sessions)",
            seen.round_trips, seen.connections
        )));
    }
    let counted = counted_from_readings(&readings, &after, w.count_requests, &report)
        .map_err(|err| RunError::Failed(format!("in the counted {workload} run, {err}")))?;
    Ok((counted, answers))
}

/// The counted measurements, from both sides' runs of [`WORKLOADS`].
fn counts(w: &Settings, base: &[Counted], cand: &[Counted]) -> Vec<Measurement> {
    let (requests, warmup) = (w.count_requests, w.count_warmup);
    let method = |what: &str| format!("pg-count-proxy, {what}, {requests} requests after {warmup} (exact)");
    let mut out = Vec::new();
    for ((workload, b), t) in WORKLOADS.iter().zip(base).zip(cand) {
        let id = match *workload {
            "list" => "queries_per_list_page".to_string(),
            other => format!("queries_per_{other}_request"),
        };
        out.push(Measurement::counted(
            MethodKind::Count,
            &id,
            "queries/request",
            method(&format!("{workload} workload")),
            b.queries,
            t.queries,
        ));
        if *workload == "report" {
            out.push(Measurement::counted(
                MethodKind::Count,
                "rows_per_report",
                "rows/request",
                method("rows PostgreSQL sent the service for the report workload (DataRow messages)"),
                b.rows_to_client,
                t.rows_to_client,
            ));
            out.push(Measurement::counted(
                MethodKind::Count,
                "bytes_per_report",
                "bytes/request",
                method("bytes PostgreSQL sent the service for the report workload"),
                b.bytes_to_client,
                t.bytes_to_client,
            ));
        }
        if *workload == "write" {
            out.push(Measurement::counted(
                MethodKind::Count,
                "write_units_per_review",
                "commits/review",
                method("separate commits that wrote, per review"),
                b.write_units,
                t.write_units,
            ));
        }
    }
    let opened = |side: &[Counted]| side.iter().map(|c| c.connections).sum();
    out.push(Measurement::counted(
        MethodKind::Count,
        "connections_opened",
        "connections",
        method("server connections opened over every counted run"),
        opened(base),
        opened(cand),
    ));
    out
}

/// The side's EXPLAIN of the customer filter, after ANALYZE.
async fn explain(ctx: &Context<'_>, w: &Settings, side: &Side) -> Result<ExplainReport, RunError> {
    let args = verb("explain", &ctx.seed.to_string(), &w.size, &side.counted, &["--reuse"]);
    run_verb(ctx.jail, &side.net, &side.driver, &args, RUN_LIMIT).await
}

fn plans(base: &ExplainReport, cand: &ExplainReport) -> Measurement {
    let misses = |v: &ExplainReport| f64::from(u8::from(!v.filter.passed));
    Measurement::counted(
        MethodKind::LabSpecific,
        "filter_plan_misses",
        "misses",
        format!(
            "EXPLAIN (FORMAT JSON) of the customer filter after ANALYZE: baseline {}; target {}",
            base.filter.describe(),
            cand.filter.describe()
        ),
        misses(base),
        misses(cand),
    )
}

/// Rows of `orders` PostgreSQL reads for a deep page, from its own statistics.
async fn rows_read(ctx: &Context<'_>, w: &Settings, side: &Side) -> Result<RowsReadReport, RunError> {
    let requests = w.rows_read_requests.to_string();
    let args = verb(
        "rows-read",
        &ctx.seed.to_string(),
        &w.size,
        &side.counted,
        &["--reuse", "--workload", "deep", "--requests", &requests],
    );
    run_verb(ctx.jail, &side.net, &side.driver, &args, RUN_LIMIT).await
}

/// The side's service against a locked table (its own tiny database).
async fn pool_check(ctx: &Context<'_>, w: &Settings, side: &Side) -> Result<PoolReport, RunError> {
    let (concurrency, hold) = (w.pool_concurrency.to_string(), w.pool_hold_ms.to_string());
    let args = strings(&["pool-check", "--size", "tiny", "--concurrency", &concurrency, "--hold-ms", &hold]);
    run_verb(ctx.jail, &side.net, &side.driver, &args, RUN_LIMIT).await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use lab_protocol::{CounterTotal, ProxyCounts, RunReport};

    use super::counted_from_readings;

    fn report(totals: &[(&str, u64)]) -> RunReport {
        let counts: BTreeMap<String, CounterTotal> = totals
            .iter()
            .map(|(name, total)| (name.to_string(), CounterTotal { total: *total, per_request: *total as f64 / 2.0 }))
            .collect();
        RunReport {
            lab: "database".into(),
            workload: "report".into(),
            seed: 7,
            requests: 2,
            elapsed_ns: 1,
            statuses: BTreeMap::from([(200, 2)]),
            per_request: Vec::new(),
            answers: vec!["0123456789abcdef".into(); 2],
            counts: Some(counts),
        }
    }

    /// A reading with `queries` and as many rows, numbered `reading`.
    fn reading(reading: u64, queries: u64) -> ProxyCounts {
        ProxyCounts { reading, queries, rows_to_client: queries, ..ProxyCounts::default() }
    }

    fn honest(queries: u64) -> RunReport {
        let all = ["queries", "rows_to_client", "bytes_to_client", "write_units", "connections"];
        let mut totals: Vec<(&str, u64)> = all.iter().map(|name| (*name, 0)).collect();
        totals[0].1 = queries;
        totals[1].1 = queries;
        report(&totals)
    }

    #[test]
    fn a_counted_run_is_scored_on_the_proxys_record_of_its_readings() {
        // Two requests of 3 queries each, 1 done between them and 2 after the last.
        let readings = [reading(5, 10), reading(6, 13), reading(7, 14), reading(8, 17)];
        let counted =
            counted_from_readings(&readings, &reading(9, 19), 2, &honest(6)).expect("the report matches the record");
        assert_eq!((counted.queries, counted.rows_to_client), (4.5, 4.5), "the work beside the requests is counted");
    }

    #[test]
    fn a_forged_report_or_an_extra_reading_stops_the_count() {
        let readings = [reading(5, 10), reading(6, 13), reading(7, 14), reading(8, 17)];
        let forged = counted_from_readings(&readings, &reading(9, 17), 2, &honest(2))
            .expect_err("the report is not the record's");
        assert!(forged.contains("reported 2 queries") && forged.contains("says 6"), "{forged}");
        let extra = counted_from_readings(&readings[..3], &reading(9, 17), 1, &honest(3))
            .expect_err("three readings for one request");
        assert!(extra.contains("read 3 times"), "{extra}");
        let mut short = honest(6);
        short.counts.as_mut().expect("counts").remove("rows_to_client");
        let missing = counted_from_readings(&readings, &reading(9, 17), 2, &short).expect_err("a counter is missing");
        assert!(missing.contains("rows_to_client"), "{missing}");
    }

    #[test]
    fn every_fault_of_lab_24_has_its_own_check_and_none_is_timed() {
        crate::labs::tests::untimed_rubric_with_separable_faults("database", 6);
    }
}
