//! The measuring driver: the `main` of every lab binary the grader runs.
//!
//! Each lab crate (baseline, exercise, solution) has a two-line `driver/`
//! binary that hands its `app` function to [`main`] or [`heap_main`]. The
//! student edits only `src/`, so the code that generates data, sends the
//! workload and reports numbers is always this trusted code.
//!
//! ```text
//! <driver> serve    --seed 7 --size medium --addr 127.0.0.1:8080   # a live service, with /debug/pprof
//! <driver> run      --seed 7 --workload cpu --requests 40           # in-process workload, one thread
//! <driver> run      --workload cpu --repeat 20 --flamegraph cpu.svg  # the same, profiled with pprof
//! <driver> requests --seed 7 --workload load --requests 400         # print the workload as JSON lines
//! <driver>-heap heap --seed 7 --dhat-json dhat-heap.json            # allocation counts with dhat
//! ```

use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::exchange::{Req, send};

/// What a lab tells the driver: how to make its data and its workloads.
pub trait Lab {
    /// The seeded dataset the service is built from.
    type Data: Send + 'static;
    /// The lab's id, as the grader names it.
    const NAME: &'static str;
    /// Same seed and size, same data.
    fn generate(seed: u64, size: Size) -> Self::Data;
    /// The first `n` requests of a workload; same seed, same list.
    fn workload(kind: Workload, seed: u64, data: &Self::Data, n: usize) -> Vec<Req>;
}

/// How big a dataset to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Size {
    /// A few hundred rows: contract tests.
    Tiny,
    /// What the grader measures on.
    Medium,
    /// For exploring by hand: the slow paths hurt more.
    Large,
}

/// Which request mix to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Every endpoint, writes included: CPU and allocation counts.
    Cpu,
    /// Distinct report queries: memory that stays behind after each request.
    Leak,
    /// Read-only mix for concurrent load: latency percentiles.
    Load,
}

#[derive(Debug, Parser)]
#[command(about = "Trusted measuring driver for a lab service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct DataArgs {
    /// Seed of the generated dataset and workload.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Dataset size.
    #[arg(long, value_enum, default_value_t = Size::Medium)]
    size: Size,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the lab's API over HTTP, with /debug/pprof routes.
    Serve {
        #[command(flatten)]
        data: DataArgs,
        /// Address to listen on; port 0 picks a free one.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
    },
    /// Send a workload in-process on one thread and print how long it took.
    Run {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, value_enum, default_value_t = Workload::Cpu)]
        workload: Workload,
        /// How many requests of the workload to send (0 measures set-up only).
        #[arg(long, default_value_t = 40)]
        requests: usize,
        /// Write every request and its response here, one JSON object a line.
        #[arg(long)]
        responses: Option<PathBuf>,
        /// Sample the run with pprof (99 Hz) and write a flamegraph SVG here.
        #[arg(long)]
        flamegraph: Option<PathBuf>,
        /// Send the workload this many times (a longer run gives a fuller profile).
        #[arg(long, default_value_t = 1)]
        repeat: usize,
    },
    /// Print a workload's requests, one JSON object a line.
    Requests {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, value_enum, default_value_t = Workload::Load)]
        workload: Workload,
        #[arg(long, default_value_t = 400)]
        requests: usize,
    },
}

#[derive(Debug, Parser)]
#[command(about = "Trusted heap-profiling driver for a lab service (dhat)")]
struct HeapCli {
    #[command(flatten)]
    data: DataArgs,
    /// Requests of the CPU workload whose allocations are counted.
    #[arg(long, default_value_t = 40)]
    requests: usize,
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

/// `main` of a lab's driver binary.
pub fn main<L: Lab>(app: fn(L::Data) -> Router) -> ExitCode {
    report(run_cli::<L>(Cli::parse(), app))
}

/// `main` of a lab's heap driver binary, whose global allocator is `dhat::Alloc`.
pub fn heap_main<L: Lab>(app: fn(L::Data) -> Router) -> ExitCode {
    report(run_heap::<L>(HeapCli::parse(), app))
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

fn run_cli<L: Lab>(cli: Cli, app: fn(L::Data) -> Router) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { data, addr } => {
            let dataset = L::generate(data.seed, data.size);
            let router = app(dataset).merge(crate::pprof_http::routes());
            let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
                let local = listener.local_addr()?;
                println!("{} listening on http://{local}", L::NAME);
                std::io::stdout().flush()?;
                axum::serve(listener, router).await.context("serving HTTP")
            })
        }
        Command::Run { data, workload, requests, responses, flamegraph, repeat } => {
            let dataset = L::generate(data.seed, data.size);
            let list = L::workload(workload, data.seed, &dataset, requests);
            let router = app(dataset);
            let runtime = current_thread()?;
            let mut out = match &responses {
                Some(path) => Some(BufWriter::new(
                    std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
                )),
                None => None,
            };
            let profiler = match &flamegraph {
                Some(_) => Some(
                    pprof::ProfilerGuardBuilder::default()
                        .frequency(99)
                        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
                        .build()
                        .context("starting pprof")?,
                ),
                None => None,
            };
            let started = Instant::now();
            runtime.block_on(async {
                for _ in 0..repeat.max(1) {
                    for req in &list {
                        let exchange = send(&router, req).await;
                        if let Some(out) = out.as_mut() {
                            serde_json::to_writer(&mut *out, &exchange)?;
                            out.write_all(b"\n")?;
                        }
                    }
                }
                anyhow::Ok(())
            })?;
            let elapsed = started.elapsed();
            if let (Some(guard), Some(path)) = (profiler, &flamegraph) {
                let report = guard.report().build().context("building the profile")?;
                let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
                report.flamegraph(file).context("writing the flamegraph")?;
                eprintln!("flamegraph written to {}", path.display());
            }
            if let Some(mut out) = out {
                out.flush()?;
            }
            println!(
                "{}",
                json!({
                    "lab": L::NAME,
                    "requests": list.len() * repeat.max(1),
                    "elapsed_ns": elapsed.as_nanos() as u64
                })
            );
            Ok(())
        }
        Command::Requests { data, workload, requests } => {
            let dataset = L::generate(data.seed, data.size);
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            for req in L::workload(workload, data.seed, &dataset, requests) {
                serde_json::to_writer(&mut out, &req)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
            Ok(())
        }
    }
}

fn current_thread() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the tokio runtime")
}

fn run_heap<L: Lab>(cli: HeapCli, app: fn(L::Data) -> Router) -> anyhow::Result<()> {
    let profiler = match &cli.dhat_json {
        Some(path) => dhat::Profiler::builder().file_name(path).build(),
        None => dhat::Profiler::builder().testing().build(),
    };
    let dataset = L::generate(cli.data.seed, cli.data.size);
    let cpu = L::workload(Workload::Cpu, cli.data.seed, &dataset, cli.requests);
    let leak = L::workload(Workload::Leak, cli.data.seed, &dataset, cli.warmup + cli.leak);
    let (warmup, counted) = leak.split_at(cli.warmup.min(leak.len()));
    let router = app(dataset);
    let runtime = current_thread()?;

    let (blocks, bytes, retained) = runtime.block_on(async {
        let before = dhat::HeapStats::get();
        for req in &cpu {
            send(&router, req).await;
        }
        let after = dhat::HeapStats::get();
        for req in warmup {
            send(&router, req).await;
        }
        let settled = dhat::HeapStats::get();
        for req in counted {
            send(&router, req).await;
        }
        let end = dhat::HeapStats::get();
        (
            after.total_blocks - before.total_blocks,
            after.total_bytes - before.total_bytes,
            end.curr_bytes as i64 - settled.curr_bytes as i64,
        )
    });
    let per = |total: u64, n: usize| if n == 0 { 0.0 } else { total as f64 / n as f64 };
    println!(
        "{}",
        json!({
            "lab": L::NAME,
            "requests": cpu.len(),
            "blocks_per_request": per(blocks, cpu.len()),
            "bytes_per_request": per(bytes, cpu.len()),
            "leak_requests": counted.len(),
            "retained_bytes_per_request": if counted.is_empty() { 0.0 } else { retained as f64 / counted.len() as f64 },
        })
    );
    drop(router);
    drop(profiler);
    if let Some(path) = &cli.dhat_json {
        eprintln!("dhat profile written to {}; open it with dh_view.html", path.display());
    }
    Ok(())
}
