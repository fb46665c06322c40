//! The measuring driver: the `main` of every database-lab binary the grader runs.
//!
//! Each implementation (baseline, exercise, solution) has a one-line
//! `driver/main.rs` that hands its [`Service`] to [`main`]. The student edits
//! only `src/`, so the code that seeds the database, sends the workload and
//! reports numbers is always this trusted code. Same spirit and verbs as
//! `lab_support::driver`, plus the database's own:
//!
//! ```text
//! <driver> seed       --seed 7 --size medium --database labdb_base      # create, load, migrate, VACUUM ANALYZE; prints timings
//! <driver> serve      --seed 7 --database labdb_base --reuse --addr 127.0.0.1:8080
//! <driver> run        --seed 7 --workload list --requests 40 --database labdb_base --reuse \
//!                     --via 127.0.0.1:6544 --proxy-control http://127.0.0.1:6545
//! <driver> requests   --seed 7 --workload deep --requests 10             # the workload as JSON lines, no database
//! <driver> explain    --database labdb_base --reuse                      # EXPLAIN (FORMAT JSON) checks
//! <driver> pool-check --size tiny                                        # 24 requests against a locked table
//! <driver> rows-read  --database labdb_base --reuse --workload deep       # rows of orders read per request
//! <driver> drop       --database labdb_base
//! ```
//!
//! Every verb prints one JSON object on stdout (`requests` prints one per
//! request); progress and logs go to stderr (`RUST_LOG=sqlx::query=debug`
//! shows every statement the service runs). Verbs that need a database
//! either reuse `--database` (`--reuse`, as prepared by this binary's `seed`)
//! or seed a scratch one and drop it when done.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use lab_support::Size;
use lab_support::exchange::send;
use serde_json::json;

use crate::Service;
use crate::data::Dataset;
use crate::db::{Scratch, Server, prepare, unique_name};
use crate::lessons::{explain_filter, explain_keyset, orders_rows_read, pool_check, write_units};
use crate::proxy::{Counts, fetch_counts, fetch_statements, reset_counts};
use crate::workload::{self, Workload};

#[derive(Debug, Parser)]
#[command(about = "Trusted measuring driver for a database-lab service (PostgreSQL from DATABASE_URL)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, clap::Args)]
struct DataArgs {
    /// Seed of the generated rows and workload.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Dataset size (medium: 200,000 orders, about 480,000 lines).
    #[arg(long, value_enum, default_value_t = Size::Medium)]
    size: Size,
    /// Database to create or reuse (default: labdb_<service>_<seed>_<size>).
    #[arg(long)]
    database: Option<String>,
    /// Use --database as it is (seeded earlier by this binary's `seed`) instead of seeding.
    #[arg(long, requires = "database")]
    reuse: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the database, load the seeded rows, run the service's migrations, VACUUM ANALYZE.
    Seed {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Serve the API over HTTP (seeds --database first unless --reuse; keeps it).
    Serve {
        #[command(flatten)]
        data: DataArgs,
        /// Address to listen on; port 0 picks a free one.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Connect the service through this host:port (a pg-count-proxy) instead of directly.
        #[arg(long)]
        via: Option<String>,
    },
    /// Send a workload in-process, one request at a time, and print timings (and query counts).
    Run {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, value_enum, default_value_t = Workload::List)]
        workload: Workload,
        /// How many requests of the workload to time.
        #[arg(long, default_value_t = 40)]
        requests: usize,
        /// Requests sent first and not reported (they are the workload's own first requests).
        #[arg(long, default_value_t = 0)]
        warmup: usize,
        /// Connect the service through this host:port (a pg-count-proxy) instead of directly.
        #[arg(long)]
        via: Option<String>,
        /// The proxy's control URL: reset its counters before every request and read them after.
        #[arg(long, requires = "via")]
        proxy_control: Option<String>,
        /// Write every request and its response here, one JSON object a line.
        #[arg(long)]
        responses: Option<PathBuf>,
    },
    /// Print a workload's requests, one JSON object a line (no database needed).
    Requests {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, value_enum, default_value_t = Workload::Mixed)]
        workload: Workload,
        #[arg(long, default_value_t = 40)]
        requests: usize,
    },
    /// EXPLAIN (FORMAT JSON) the canonical filter and keyset queries on the service's schema.
    Explain {
        #[command(flatten)]
        data: DataArgs,
        /// Customer whose orders the filter query reads.
        #[arg(long, default_value_t = 1)]
        customer: i64,
        /// Also forbid sequential scans (for tiny tables, where a scan is rightly cheaper).
        #[arg(long)]
        without_seq_scans: bool,
    },
    /// Lock `orders`, send --concurrency order reads at once, report how they were answered.
    PoolCheck {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, default_value_t = 24)]
        concurrency: usize,
        /// How long the table stays locked.
        #[arg(long, default_value_t = 2_500)]
        hold_ms: u64,
        #[arg(long)]
        via: Option<String>,
    },
    /// Rows of `orders` PostgreSQL read per request (its own statistics), one request at a time.
    RowsRead {
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, value_enum, default_value_t = Workload::Deep)]
        workload: Workload,
        #[arg(long, default_value_t = 3)]
        requests: usize,
    },
    /// Drop --database.
    Drop {
        #[command(flatten)]
        data: DataArgs,
    },
}

/// `main` of a database-lab driver binary.
pub fn main(service: Service) -> ExitCode {
    init_logs();
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")
        .and_then(|runtime| runtime.block_on(run_cli(service, cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, `warn` unless `RUST_LOG` says otherwise (`RUST_LOG=sqlx::query=debug` shows every statement).
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn print(value: serde_json::Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &value)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

fn size_name(size: Size) -> &'static str {
    match size {
        Size::Tiny => "tiny",
        Size::Medium => "medium",
        Size::Large => "large",
    }
}

fn default_name(service: &Service, data: &DataArgs) -> String {
    let service = service.name.replace('-', "_");
    format!("labdb_{service}_{}_{}", data.seed, size_name(data.size))
}

/// A database for one verb: reused as is, or seeded now (and maybe dropped at the end).
struct Target {
    name: String,
    data: Dataset,
    /// Dropped (and with it the database) when the verb is done.
    _scratch: Option<Scratch>,
}

async fn target(service: &Service, server: &Server, args: &DataArgs, keep: bool) -> anyhow::Result<Target> {
    let started = Instant::now();
    let data = Dataset::generate(args.seed, args.size);
    let generated = started.elapsed();
    if args.reuse {
        let name = args.database.clone().expect("clap requires --database with --reuse");
        if !server.database_exists(&name).await? {
            bail!("database {name} does not exist; create it first with `seed --database {name}`");
        }
        return Ok(Target { name, data, _scratch: None });
    }
    let name = match (&args.database, keep) {
        (Some(name), _) => name.clone(),
        (None, true) => default_name(service, args),
        (None, false) => unique_name("run"),
    };
    eprintln!("seeding {name}: {} rows, seed {}, size {}", data.total_rows(), args.seed, size_name(args.size));
    let prepared = prepare(server, service, &name, &data).await?;
    let total = started.elapsed();
    eprintln!(
        "seeded {} rows ({} in orders and order_lines) into {name} in {:.1} s",
        prepared.load.rows,
        data.hot_rows(),
        total.as_secs_f64()
    );
    tracing::info!(generated_ms = generated.as_millis() as u64, "seeded");
    let scratch = (!keep).then(|| Scratch { server: server.clone(), name: name.clone(), data: data.clone() });
    Ok(Target { name, data, _scratch: scratch })
}

async fn run_cli(service: Service, cli: Cli) -> anyhow::Result<()> {
    let server = Server::from_env()?;
    match cli.command {
        Command::Seed { data: args } => {
            let name = args.database.clone().unwrap_or_else(|| default_name(&service, &args));
            let started = Instant::now();
            let data = Dataset::generate(args.seed, args.size);
            let generated = started.elapsed();
            let prepared = prepare(&server, &service, &name, &data).await?;
            let total = started.elapsed();
            eprintln!(
                "seeded {} rows ({} in orders and order_lines) into {name} in {:.1} s",
                prepared.load.rows,
                data.hot_rows(),
                total.as_secs_f64()
            );
            print(json!({
                "lab": crate::NAME,
                "service": service.name,
                "database": name,
                "seed": args.seed,
                "size": size_name(args.size),
                "rows": prepared.load.rows,
                "hot_rows": data.hot_rows(),
                "generate_ms": generated.as_millis() as u64,
                "copy_ms": prepared.load.copy.as_millis() as u64,
                "load_ms": prepared.load.total.as_millis() as u64,
                "migrate_ms": prepared.migrate.as_millis() as u64,
                "analyze_ms": prepared.analyze.as_millis() as u64,
                "total_ms": total.as_millis() as u64,
            }))
        }
        Command::Serve { data: args, addr, via } => {
            let target = target(&service, &server, &args, true).await?;
            let router = (service.app)(server.service_options(&target.name, via.as_deref())?);
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
            let local = listener.local_addr()?;
            print(
                json!({ "lab": crate::NAME, "service": service.name, "database": target.name, "listening": format!("http://{local}") }),
            )?;
            eprintln!("{} ({}) listening on http://{local}, database {}", crate::NAME, service.name, target.name);
            axum::serve(listener, router).await.context("serving HTTP")
        }
        Command::Run { data: args, workload: kind, requests, warmup, via, proxy_control, responses } => {
            let target = target(&service, &server, &args, false).await?;
            let list = workload::generate(kind, args.seed, &target.data, warmup + requests);
            let router = (service.app)(server.service_options(&target.name, via.as_deref())?);
            let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
            let mut out = match &responses {
                Some(path) => Some(BufWriter::new(
                    std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
                )),
                None => None,
            };
            for req in &list[..warmup] {
                send(&router, req).await;
            }
            let mut per_request = Vec::with_capacity(requests);
            let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
            let mut total = Counts::default();
            let mut write_total = 0usize;
            let started = Instant::now();
            for req in &list[warmup..] {
                if let Some(url) = &proxy_control {
                    reset_counts(&client, url).await.context("resetting the proxy's counters")?;
                }
                let t0 = Instant::now();
                let exchange = send(&router, req).await;
                let nanos = t0.elapsed().as_nanos() as u64;
                *statuses.entry(exchange.status).or_default() += 1;
                let mut entry = json!({ "request": req.label(), "status": exchange.status, "ns": nanos });
                if let Some(url) = &proxy_control {
                    let counts = fetch_counts(&client, url).await.context("reading the proxy's counters")?;
                    let units = write_units(&fetch_statements(&client, url).await?);
                    add(&mut total, &counts);
                    write_total += units;
                    entry["queries"] = json!(counts.queries);
                    entry["round_trips"] = json!(counts.round_trips);
                    entry["connections"] = json!(counts.connections);
                    entry["bytes_to_client"] = json!(counts.bytes_to_client);
                    entry["write_units"] = json!(units);
                }
                per_request.push(entry);
                if let Some(out) = out.as_mut() {
                    serde_json::to_writer(&mut *out, &exchange)?;
                    out.write_all(b"\n")?;
                }
            }
            let elapsed = started.elapsed();
            if let Some(mut out) = out {
                out.flush()?;
            }
            drop(router);
            let n = per_request.len().max(1) as f64;
            let mut report = json!({
                "lab": crate::NAME,
                "service": service.name,
                "workload": kind,
                "seed": args.seed,
                "size": size_name(args.size),
                "requests": per_request.len(),
                "elapsed_ns": elapsed.as_nanos() as u64,
                "statuses": statuses,
                "per_request": per_request,
            });
            if proxy_control.is_some() {
                report["queries"] = json!(total.queries);
                report["queries_per_request"] = json!(total.queries as f64 / n);
                report["round_trips_per_request"] = json!(total.round_trips as f64 / n);
                report["connections"] = json!(total.connections);
                report["bytes_to_client_per_request"] = json!(total.bytes_to_client as f64 / n);
                report["write_units_per_request"] = json!(write_total as f64 / n);
            }
            drop(target);
            print(report)
        }
        Command::Requests { data: args, workload: kind, requests } => {
            let data = Dataset::generate(args.seed, args.size);
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            for req in workload::generate(kind, args.seed, &data, requests) {
                serde_json::to_writer(&mut out, &req)?;
                out.write_all(b"\n")?;
            }
            out.flush()?;
            Ok(())
        }
        Command::Explain { data: args, customer, without_seq_scans } => {
            let target = target(&service, &server, &args, false).await?;
            let mut conn = server.connect(&target.name).await?;
            let order = workload::deep_position(&target.data);
            let last = &target.data.orders[target.data.newest_first()[order.saturating_sub(1)]];
            let placed_at = time::OffsetDateTime::from_unix_timestamp(last.placed_at)?;
            let filter = explain_filter(&mut conn, customer, without_seq_scans).await?;
            let keyset = explain_keyset(&mut conn, placed_at, last.id, without_seq_scans).await?;
            drop(conn);
            let report = json!({
                "lab": crate::NAME,
                "service": service.name,
                "database": target.name,
                "passed": filter.passed && keyset.passed,
                "filter": filter,
                "keyset": keyset,
            });
            drop(target);
            print(report)
        }
        Command::PoolCheck { data: args, concurrency, hold_ms, via } => {
            let target = target(&service, &server, &args, false).await?;
            let router = (service.app)(server.service_options(&target.name, via.as_deref())?);
            let report =
                pool_check(&router, &server, &target.name, concurrency, Duration::from_millis(hold_ms)).await?;
            drop(router);
            drop(target);
            print(json!({ "lab": crate::NAME, "service": service.name, "pool": report }))
        }
        Command::RowsRead { data: args, workload: kind, requests } => {
            let target = target(&service, &server, &args, false).await?;
            let list = workload::generate(kind, args.seed, &target.data, requests);
            let read = orders_rows_read(&service, &server, &target.name, &list).await?;
            drop(target);
            let per_request: Vec<_> =
                read.iter().map(|(request, rows)| json!({ "request": request, "orders_rows_read": rows })).collect();
            let total: i64 = read.iter().map(|(_, rows)| rows).sum();
            print(json!({
                "lab": crate::NAME,
                "service": service.name,
                "workload": kind,
                "requests": read.len(),
                "orders_rows_read_per_request": total as f64 / read.len().max(1) as f64,
                "per_request": per_request,
            }))
        }
        Command::Drop { data: args } => {
            let name = args.database.clone().unwrap_or_else(|| default_name(&service, &args));
            server.drop_database(&name).await?;
            print(json!({ "lab": crate::NAME, "dropped": name }))
        }
    }
}

fn add(total: &mut Counts, c: &Counts) {
    total.queries += c.queries;
    total.simple_queries += c.simple_queries;
    total.parses += c.parses;
    total.binds += c.binds;
    total.executes += c.executes;
    total.round_trips += c.round_trips;
    total.connections += c.connections;
    total.bytes_to_server += c.bytes_to_server;
    total.bytes_to_client += c.bytes_to_client;
}
