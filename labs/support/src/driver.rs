//! The measuring driver: the `main` of every lab binary the grader runs.
//!
//! Each implementation crate (baseline, exercise, solution) has a two-line
//! `driver/` binary that hands its service to [`main`] (or [`heap_main`]).
//! The student edits only `src/`, so the code that makes the data, sends
//! the workload, counts and reports is always this trusted code. A lab plugs
//! in through [`Lab`]: how to make its data, its fixture (the data in
//! memory, a seeded database, ...), its workloads, the counters read outside
//! the service, and any verbs of its own. `serve`, `run` and `requests` are
//! written once, here.
//!
//! ```text
//! <driver> serve    --seed 7 --size medium --addr 127.0.0.1:8080    # a live service, with /debug/pprof
//! <driver> serve    --seed 7 --size medium --unix /run/lab/out/http.sock  # the same on a Unix socket
//! <driver> run      --seed 7 --workload cpu --requests 40            # one request at a time, timed
//! <driver> run      --workload cpu --requests 60 --totals-only        # the same, no per-request report (under callgrind)
//! <driver> run      --workload cpu --repeat 20 --flamegraph cpu.svg   # the same, profiled with pprof
//! <driver> requests --seed 7 --workload load --requests 400          # print the workload as JSON lines
//! <driver> <lab verb> ...                                             # e.g. the database lab's `explain`
//! <driver>-heap --seed 7 --dhat-json dhat-heap.json                  # allocation counts with dhat
//! ```
//!
//! Every verb prints one `lab_protocol` message as a JSON line on stdout
//! (`requests` prints one `Req` per line); progress goes to stderr.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use clap::{Parser, Subcommand, ValueEnum};
use lab_protocol::{Counts, HeapReport, Listening, RequestReport, RunReport, count_totals};

use crate::digest::Digests;
use crate::exchange::{Req, send};

/// What a lab tells the driver.
#[allow(async_fn_in_trait)] // Driven by `block_on` on the driver's own runtime: no `Send` bound needed.
pub trait Lab: 'static {
    /// The lab's id, as the grader names it.
    const NAME: &'static str;
    /// One implementation, as its `driver/main.rs` hands it over.
    type Service: Copy + 'static;
    /// The seeded data, generated in memory: same seed and size, same data.
    type Data: Clone + Send + Sync + 'static;
    /// The lab's request mixes.
    type Workload: ValueEnum + Copy + Debug + Send + Sync + 'static;
    /// Where the service finds what it needs beyond the data (a database
    /// name, a proxy to connect through, a counter's control URL): flattened
    /// into `serve` and `run`.
    type Place: clap::Args + Clone + Debug;
    /// What one verb's service is built on; whatever it made is released
    /// when it is dropped (a scratch database, say).
    type Fixture;
    /// Counters read outside the service around each request.
    type Counter: Counter;
    /// The lab's own verbs, beside `serve`, `run` and `requests`.
    type Verb: Subcommand + Debug;

    fn generate(seed: u64, size: Size) -> Self::Data;
    /// The first `n` requests of a workload; same seed, same list.
    fn requests(kind: Self::Workload, seed: u64, data: &Self::Data, n: usize) -> Vec<Req>;
    /// The workload `run` and `requests` send when none is named.
    fn default_workload() -> Self::Workload;

    /// The runtime a verb runs on (the default: one thread for `run`, so
    /// instruction counts repeat; the multi-threaded default for the rest).
    fn runtime(serving: bool) -> std::io::Result<tokio::runtime::Runtime> {
        if serving {
            tokio::runtime::Runtime::new()
        } else {
            tokio::runtime::Builder::new_current_thread().enable_all().build()
        }
    }

    /// Sets up logging on stderr, if the lab wants any.
    fn init_logs() {}

    /// The fixture for one verb; `keep` when it must outlive the process (`serve`).
    async fn fixture(
        service: Self::Service,
        data: Self::Data,
        args: &DataArgs,
        place: &Self::Place,
        keep: bool,
    ) -> anyhow::Result<Self::Fixture>;
    /// The service's router over its fixture (built once per fixture: the
    /// data may move into the service).
    async fn router(service: Self::Service, fixture: &mut Self::Fixture, place: &Self::Place)
    -> anyhow::Result<Router>;
    /// The database a fixture lives in, for labs that have one.
    fn database(_fixture: &Self::Fixture) -> Option<String> {
        None
    }
    /// The counter `run` reads around each request, when `place` names one.
    async fn counter(place: &Self::Place) -> anyhow::Result<Option<Self::Counter>>;
    /// Runs one of the lab's own verbs.
    async fn verb(service: Self::Service, verb: Self::Verb) -> anyhow::Result<()>;
}

/// Counters kept outside the service (a wire proxy, a stub upstream), read
/// around each request of a counted run.
#[allow(async_fn_in_trait)] // See `Lab`.
pub trait Counter {
    /// Zeroes the counters before a request.
    async fn reset(&mut self) -> anyhow::Result<()>;
    /// What the last request cost.
    async fn read(&mut self) -> anyhow::Result<Counts>;
}

/// A lab with nothing to count outside the service.
#[derive(Debug)]
pub enum NoCounter {}

impl Counter for NoCounter {
    async fn reset(&mut self) -> anyhow::Result<()> {
        match *self {}
    }

    async fn read(&mut self) -> anyhow::Result<Counts> {
        match *self {}
    }
}

/// A lab whose service needs nothing beyond its data.
#[derive(Debug, Clone, clap::Args)]
pub struct NoPlace {}

/// A lab with no verbs of its own.
#[derive(Debug, Subcommand)]
pub enum NoVerb {}

/// A lab whose heap the heap driver profiles: which workloads it counts.
pub trait HeapLab: Lab {
    /// Allocations per request are counted over this mix.
    const ALLOCATIONS: Self::Workload;
    /// Live heap growth per request is read over this one, after a warm-up.
    const LEAK: Self::Workload;
}

/// How big a dataset to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Size {
    /// A few hundred rows: contract tests.
    Tiny,
    /// Half of medium: with medium, shows how a cost grows with the data.
    Small,
    /// What the grader measures on.
    Medium,
    /// For exploring by hand: the slow paths hurt more.
    Large,
}

/// Which request mix to send (the in-memory profiling lab's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Every endpoint, writes included: CPU and allocation counts.
    Cpu,
    /// Distinct report queries: memory that stays behind after each request.
    Leak,
    /// The concurrent mix: reports, product lookups, health checks and receipted batches.
    Load,
    /// Reports over a single day: what a report costs that reads almost nothing.
    Day,
    /// Reports over the whole year: what a report costs that reads every sale.
    Year,
}

/// The name a size or workload has on the command line and in reports (`medium`, `cpu`).
pub fn value_name<V: ValueEnum>(value: &V) -> String {
    value.to_possible_value().map(|value| value.get_name().to_string()).unwrap_or_default()
}

/// The data every verb is built from.
#[derive(Debug, Clone, clap::Args)]
pub struct DataArgs {
    /// Seed of the generated data and workload.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Dataset size.
    #[arg(long, value_enum, default_value_t = Size::Medium)]
    pub size: Size,
}

#[derive(Debug, Parser)]
#[command(about = "Trusted measuring driver for a lab service")]
struct Cli<L: Lab> {
    #[command(subcommand)]
    command: Command<L>,
}

#[derive(Debug, Subcommand)]
enum Command<L: Lab> {
    /// Serve the lab's API over HTTP, with /debug/pprof routes.
    Serve {
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        place: L::Place,
        /// Address to listen on; port 0 picks a free one.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Listen on this Unix socket instead (the grader's contained
        /// services have no network of their own to listen on).
        #[arg(long, conflicts_with = "addr")]
        unix: Option<std::path::PathBuf>,
    },
    /// Send a workload in-process, one request at a time, and print what each took.
    Run {
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        place: L::Place,
        /// Which mix to send (default: the lab's main one).
        #[arg(long, value_enum)]
        workload: Option<L::Workload>,
        /// How many requests of the workload to time (0 measures set-up only).
        #[arg(long, default_value_t = 40)]
        requests: usize,
        /// Read how many requests to time from stdin's first line instead, and
        /// make the list only once the service is built: the grader's counted
        /// runs of N requests and of none then look alike to the service.
        #[arg(long, conflicts_with = "requests")]
        requests_on_stdin: bool,
        /// Requests sent first and not reported (the workload's own first requests).
        #[arg(long, default_value_t = 0)]
        warmup: usize,
        /// Write every request and its response here, one JSON object a line.
        #[arg(long)]
        responses: Option<PathBuf>,
        /// Sample the run with pprof (99 Hz) and write a flamegraph SVG here.
        #[arg(long)]
        flamegraph: Option<PathBuf>,
        /// Sample the run with pprof (99 Hz) and write its stacks here in the
        /// collapsed format flamegraph tools read: `frame;frame;... samples`, a line each.
        #[arg(long)]
        stacks: Option<PathBuf>,
        /// Send the workload this many times (a longer run gives a fuller profile).
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        /// Report only the run's totals, no per-request list: the process then
        /// does no reporting work per request (callgrind counts the whole process).
        #[arg(long)]
        totals_only: bool,
    },
    /// Print a workload's requests, one JSON object a line.
    Requests {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, value_enum)]
        workload: Option<L::Workload>,
        #[arg(long, default_value_t = 400)]
        requests: usize,
    },
    #[command(flatten)]
    Lab(L::Verb),
}

#[derive(Debug, Parser)]
#[command(about = "Trusted heap-profiling driver for a lab service (dhat)")]
struct HeapCli<L: Lab> {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    place: L::Place,
    /// Requests of the allocation workload whose allocations are counted.
    #[arg(long, default_value_t = 40)]
    requests: usize,
    /// The workload whose allocations are counted (default: the lab's).
    #[arg(long, value_enum)]
    workload: Option<L::Workload>,
    /// Leak workload: requests sent before the retained heap is read.
    #[arg(long, default_value_t = 20)]
    warmup: usize,
    /// Leak workload: requests whose retained heap is counted after the warm-up.
    #[arg(long, default_value_t = 40)]
    leak: usize,
    /// Also write a dhat profile here (open it with dh_view.html).
    #[arg(long)]
    dhat_json: Option<PathBuf>,
}

/// The requests this process sends, labelled once before any is measured.
static LABELS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
/// Which of [`LABELS`] is being answered in-process (`usize::MAX`: none).
static ANSWERING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(usize::MAX);

/// Labels the requests about to be sent, so a panic can name one; call it
/// before anything is counted.
fn label_requests<'a>(reqs: impl Iterator<Item = &'a Req>) {
    if let Ok(mut labels) = LABELS.lock() {
        *labels = reqs.map(Req::label).collect();
    }
}

/// Sends `req`, the `index`th labelled one, in-process. Marking it is one
/// atomic store, so counted runs measure the service, not the bookkeeping.
async fn send_numbered(router: &Router, req: &Req, index: usize) -> lab_protocol::Exchange {
    ANSWERING.store(index, std::sync::atomic::Ordering::Relaxed);
    let exchange = send(router, req).await;
    ANSWERING.store(usize::MAX, std::sync::atomic::Ordering::Relaxed);
    exchange
}

/// After the usual panic message, a line naming the request being answered.
fn name_requests_in_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        let index = ANSWERING.load(std::sync::atomic::Ordering::Relaxed);
        if let Some(label) = LABELS.try_lock().ok().and_then(|labels| labels.get(index).cloned()) {
            eprintln!("note: the service panicked while answering {label}");
        }
    }));
}

/// `main` of a lab's driver binary.
pub fn main<L: Lab>(service: L::Service) -> ExitCode {
    name_requests_in_panics();
    L::init_logs();
    let cli = Cli::<L>::parse();
    let serving = matches!(cli.command, Command::Serve { .. });
    report(L::runtime(serving).context("starting the tokio runtime").and_then(|rt| rt.block_on(run_cli(cli, service))))
}

/// `main` of a lab's heap driver binary, whose global allocator is `dhat::Alloc`.
pub fn heap_main<L: HeapLab>(service: L::Service) -> ExitCode {
    name_requests_in_panics();
    let cli = HeapCli::<L>::parse();
    report(L::runtime(false).context("starting the tokio runtime").and_then(|rt| run_heap(&rt, cli, service)))
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The count `run --requests-on-stdin` reads: one line holding a number.
fn requests_from_stdin() -> anyhow::Result<usize> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("reading the request count from stdin")?;
    line.trim().parse().with_context(|| format!("stdin: {:?} is not a request count", line.trim()))
}

/// Called once, right after `run` answers its last request. Callgrind's
/// `--dump-after` on this function ([`lab_protocol::REQUESTS_ANSWERED`])
/// closes the count there, so nothing the process does afterwards, its
/// exit included, is counted.
#[inline(never)]
pub fn requests_answered() {
    static ANSWERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    ANSWERED.store(true, std::sync::atomic::Ordering::SeqCst);
}

async fn run_cli<L: Lab>(cli: Cli<L>, service: L::Service) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { data, place, addr, unix } => {
            let mut fixture = L::fixture(service, L::generate(data.seed, data.size), &data, &place, true).await?;
            let router = L::router(service, &mut fixture, &place).await?.merge(crate::pprof_http::routes());
            let limits = crate::serve::Limits::default();
            let database = L::database(&fixture);
            let announce = |listening: String| -> anyhow::Result<()> {
                lab_protocol::print(&Listening {
                    lab: L::NAME.into(),
                    listening: listening.clone(),
                    database: database.clone(),
                })?;
                match &database {
                    Some(database) => eprintln!("{} listening on {listening}, database {database}", L::NAME),
                    None => eprintln!("{} listening on {listening}", L::NAME),
                }
                Ok(())
            };
            match unix {
                Some(path) => {
                    let listener =
                        tokio::net::UnixListener::bind(&path).with_context(|| format!("binding {}", path.display()))?;
                    announce(format!("unix:{}", path.display()))?;
                    crate::serve::serve(listener, router, limits).await;
                }
                None => {
                    let listener =
                        tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
                    announce(format!("http://{}", listener.local_addr()?))?;
                    crate::serve::serve(listener, router, limits).await;
                }
            }
            Ok(())
        }
        Command::Run {
            data,
            place,
            workload,
            requests,
            requests_on_stdin,
            warmup,
            responses,
            flamegraph,
            stacks,
            repeat,
            totals_only,
        } => {
            let kind = workload.unwrap_or_else(L::default_workload);
            let requests = if requests_on_stdin { requests_from_stdin()? } else { requests };
            let generated = L::generate(data.seed, data.size);
            // With the count hidden, nothing done before the service is built depends on it.
            let mut list = Vec::new();
            let kept = match requests_on_stdin {
                true => Some(generated.clone()),
                false => {
                    list = L::requests(kind, data.seed, &generated, warmup + requests);
                    None
                }
            };
            let mut fixture = L::fixture(service, generated, &data, &place, false).await?;
            let router = L::router(service, &mut fixture, &place).await?;
            if let Some(kept) = kept {
                list = L::requests(kind, data.seed, &kept, warmup + requests);
            }
            let mut counter = L::counter(&place).await?;
            let mut out = match &responses {
                Some(path) => Some(BufWriter::new(
                    std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
                )),
                None => None,
            };
            label_requests(list.iter());
            let warmup = warmup.min(list.len());
            for (i, req) in list[..warmup].iter().enumerate() {
                send_numbered(&router, req, i).await;
            }
            let counted = &list[warmup..];
            let profiler = match flamegraph.is_some() || stacks.is_some() {
                true => Some(
                    pprof::ProfilerGuardBuilder::default()
                        .frequency(99)
                        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
                        .build()
                        .context("starting pprof")?,
                ),
                false => None,
            };
            let sent = counted.len() * repeat.max(1);
            let mut per_request = Vec::with_capacity(if totals_only { 0 } else { sent });
            let mut answers = Digests::with_capacity(sent);
            let mut statuses = BTreeMap::new();
            let started = Instant::now();
            for _ in 0..repeat.max(1) {
                for (i, req) in counted.iter().enumerate() {
                    if let Some(counter) = counter.as_mut() {
                        counter.reset().await.context("resetting the counters")?;
                    }
                    let t0 = Instant::now();
                    let exchange = send_numbered(&router, req, warmup + i).await;
                    let ns = t0.elapsed().as_nanos() as u64;
                    let counts = match counter.as_mut() {
                        Some(counter) => Some(counter.read().await.context("reading the counters")?),
                        None => None,
                    };
                    *statuses.entry(exchange.status).or_default() += 1;
                    answers.push(&exchange);
                    // Labelled after the run, so the counted loop allocates nothing of its own.
                    if !totals_only {
                        per_request.push((i, exchange.status, ns, counts));
                    }
                    if let Some(out) = out.as_mut() {
                        serde_json::to_writer(&mut *out, &exchange)?;
                        out.write_all(b"\n")?;
                    }
                }
            }
            let elapsed = started.elapsed();
            requests_answered();
            if let Some(guard) = profiler {
                let report = guard.report().build().context("building the profile")?;
                if let Some(path) = &flamegraph {
                    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
                    report.flamegraph(file).context("writing the flamegraph")?;
                    eprintln!("flamegraph written to {}", path.display());
                }
                if let Some(path) = &stacks {
                    std::fs::write(path, collapsed_stacks(&report))
                        .with_context(|| format!("writing {}", path.display()))?;
                }
            }
            if let Some(mut out) = out {
                out.flush()?;
            }
            drop(router);
            drop(fixture);
            let per_request: Vec<RequestReport> = per_request
                .into_iter()
                .map(|(i, status, ns, counts)| RequestReport { request: counted[i].label(), status, ns, counts })
                .collect();
            let counts = counter.is_some().then(|| {
                let each: Vec<Counts> = per_request.iter().filter_map(|r| r.counts.clone()).collect();
                count_totals(&each)
            });
            lab_protocol::print(&RunReport {
                lab: L::NAME.into(),
                workload: value_name(&kind),
                seed: data.seed,
                requests: sent,
                elapsed_ns: elapsed.as_nanos() as u64,
                statuses,
                per_request,
                answers: answers.hex(),
                counts,
            })?;
            Ok(())
        }
        Command::Requests { data, workload, requests } => {
            let kind = workload.unwrap_or_else(L::default_workload);
            let generated = L::generate(data.seed, data.size);
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            for req in L::requests(kind, data.seed, &generated, requests) {
                serde_json::to_writer(&mut out, &req)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
            Ok(())
        }
        Command::Lab(verb) => L::verb(service, verb).await,
    }
}

fn run_heap<L: HeapLab>(runtime: &tokio::runtime::Runtime, cli: HeapCli<L>, service: L::Service) -> anyhow::Result<()> {
    let profiler = match &cli.dhat_json {
        Some(path) => dhat::Profiler::builder().file_name(path).build(),
        None => dhat::Profiler::builder().testing().build(),
    };
    let data = L::generate(cli.data.seed, cli.data.size);
    let allocations = L::requests(cli.workload.unwrap_or(L::ALLOCATIONS), cli.data.seed, &data, cli.requests);
    let leak = L::requests(L::LEAK, cli.data.seed, &data, cli.warmup + cli.leak);
    let (warmup, counted) = leak.split_at(cli.warmup.min(leak.len()));
    label_requests(allocations.iter().chain(&leak));
    let leak_from = allocations.len();

    let (answers, fixture, router, blocks, bytes, retained) = runtime.block_on(async {
        let mut fixture = L::fixture(service, data, &cli.data, &cli.place, false).await?;
        let router = L::router(service, &mut fixture, &cli.place).await?;
        // Room for every digest first: hashing allocates nothing after this.
        let mut answers = Digests::with_capacity(allocations.len() + leak.len());
        let before = dhat::HeapStats::get();
        for (i, req) in allocations.iter().enumerate() {
            answers.push(&send_numbered(&router, req, i).await);
        }
        let after = dhat::HeapStats::get();
        for (i, req) in warmup.iter().enumerate() {
            answers.push(&send_numbered(&router, req, leak_from + i).await);
        }
        let settled = dhat::HeapStats::get();
        for (i, req) in counted.iter().enumerate() {
            answers.push(&send_numbered(&router, req, leak_from + warmup.len() + i).await);
        }
        let end = dhat::HeapStats::get();
        anyhow::Ok((
            answers,
            fixture,
            router,
            after.total_blocks - before.total_blocks,
            after.total_bytes - before.total_bytes,
            end.curr_bytes as i64 - settled.curr_bytes as i64,
        ))
    })?;
    let per = |total: u64, n: usize| if n == 0 { 0.0 } else { total as f64 / n as f64 };
    lab_protocol::print(&HeapReport {
        requests: allocations.len(),
        allocations_per_request: per(blocks, allocations.len()),
        bytes_per_request: per(bytes, allocations.len()),
        leak_requests: counted.len(),
        retained_bytes_per_request: if counted.is_empty() { 0.0 } else { retained as f64 / counted.len() as f64 },
        answers: answers.hex(),
    })?;
    // The profile is written while the app is still alive, so what it keeps
    // (a cache, a list that only grows) shows at dhat's "t-end".
    drop(profiler);
    drop(router);
    drop(fixture);
    if let Some(path) = &cli.dhat_json {
        eprintln!("dhat profile written to {}; open it with dh_view.html", path.display());
    }
    Ok(())
}

/// A pprof report in the collapsed format (`thread;outer;...;inner samples`,
/// a line each, sorted), as pprof's own flamegraph writer builds its lines.
fn collapsed_stacks(report: &pprof::Report) -> String {
    let mut lines: Vec<String> = report
        .data
        .iter()
        .map(|(frames, samples)| {
            let mut names = vec![frames.thread_name_or_id()];
            names.extend(frames.frames.iter().rev().flat_map(|frame| frame.iter().rev().map(|s| s.to_string())));
            format!("{} {samples}", names.join(";"))
        })
        .collect();
    lines.sort();
    lines.iter().map(|line| format!("{line}\n")).collect()
}
