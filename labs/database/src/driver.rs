//! Lab 24 on the measuring driver's seam (`lab_support::driver`): the data
//! lives in a seeded PostgreSQL database, requests are counted by a
//! `pg-count-proxy` outside the service, and the lab adds verbs of its own.
//!
//! Each implementation (baseline, exercise, solution) has a one-line
//! `driver/main.rs` that hands its [`Service`] to [`main`]. The student edits
//! only `src/`, so the code that seeds the database, sends the workload and
//! reports numbers is always this trusted code.
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
//! <driver> survey     --size tiny                                        # a table: every workload's cost per request
//! <driver> drop       --database labdb_base
//! ```
//!
//! Every verb prints one `lab_protocol` message as a JSON line on stdout
//! (`requests` prints one per request; `survey` prints a table for a
//! person); progress and logs go to stderr
//! (`RUST_LOG=sqlx::query=debug` shows every statement the service runs).
//! Verbs that need a database either reuse `--database` (`--reuse`, as
//! prepared by this binary's `seed`) or seed a scratch one and drop it when
//! done.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use clap::Subcommand;
use lab_protocol::{Copied, Counts, Dropped, ExplainReport, RowsRead, RowsReadReport, SeedReport};
use lab_support::driver::value_name;
use lab_support::{DataArgs, Size};

use crate::Service;
use crate::data::Dataset;
use crate::db::{Scratch, Server, prepare, unique_name};
use crate::lessons::{explain_filter, explain_keyset, orders_rows_read, pool_check};
use crate::proxy::{control_client, fetch_counts};
use crate::workload::{self, Workload};

/// The lab as the measuring driver sees it.
#[derive(Debug)]
pub struct DatabaseLab;

/// Where the service's database is, and what it connects through.
#[derive(Debug, Clone, clap::Args)]
pub struct Place {
    /// Database to create or reuse (default: labdb_<service>_<seed>_<size> for `serve`, a scratch one for `run`).
    #[arg(long)]
    database: Option<String>,
    /// Use --database as it is (seeded earlier by this binary's `seed`) instead of seeding.
    #[arg(long, requires = "database")]
    reuse: bool,
    /// Connect the service through this host:port (a pg-count-proxy), or the folder of its Unix socket, instead of directly.
    #[arg(long)]
    via: Option<String>,
    /// `run` only: the proxy's control URL (`http://host:port` or `unix:<path>`); its counters are read before and after every request.
    #[arg(long, requires = "via")]
    proxy_control: Option<String>,
}

/// A `--database` (and `--reuse`) for the lab's own verbs.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Database to create or reuse (default: labdb_<service>_<seed>_<size>).
    #[arg(long)]
    database: Option<String>,
    /// Use --database as it is (seeded earlier by this binary's `seed`) instead of seeding.
    #[arg(long, requires = "database")]
    reuse: bool,
}

/// The lab's own verbs.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Create the database, load the seeded rows, run the service's migrations, VACUUM ANALYZE.
    Seed {
        #[command(flatten)]
        db: DatabaseArgs,
    },
    /// EXPLAIN (FORMAT JSON) the canonical filter and keyset queries on the service's schema.
    Explain {
        #[command(flatten)]
        db: DatabaseArgs,
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
        db: DatabaseArgs,
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
        db: DatabaseArgs,
        #[arg(long, value_enum, default_value_t = Workload::Deep)]
        workload: Workload,
        #[arg(long, default_value_t = 3)]
        requests: usize,
    },
    /// Seed a scratch database and print every workload's cost per request: queries, bytes, commits that wrote, time.
    Survey {
        #[command(flatten)]
        data: DataArgs,
        /// Measured requests per workload (after one unmeasured).
        #[arg(long, default_value_t = 5)]
        requests: usize,
    },
    /// Copy --database, as it stands, to a new database --to (dropping an old one of that name).
    Copy {
        #[command(flatten)]
        db: DatabaseArgs,
        #[arg(long)]
        to: String,
    },
    /// Drop --database.
    Drop {
        #[command(flatten)]
        db: DatabaseArgs,
    },
}

/// A database for one verb: reused as is, or seeded now (and maybe dropped at the end).
#[derive(Debug)]
pub struct Target {
    name: String,
    data: Dataset,
    server: Server,
    /// Dropped (and with it the database) when the verb is done.
    _scratch: Option<Scratch>,
}

/// The counting proxy's control API, read around each request. Its
/// counters only grow (the grader's proxy has no reset), so a request's
/// cost is the difference of the readings before and after it.
#[derive(Debug)]
pub struct ProxyCounter {
    client: reqwest::Client,
    control: String,
    before: crate::proxy::Counts,
}

impl lab_support::Counter for ProxyCounter {
    async fn reset(&mut self) -> anyhow::Result<()> {
        self.before = fetch_counts(&self.client, &self.control).await.context("reading the proxy's counters")?;
        Ok(())
    }

    async fn read(&mut self) -> anyhow::Result<Counts> {
        let now = fetch_counts(&self.client, &self.control).await.context("reading the proxy's counters")?;
        let counts = now.since(&self.before);
        Ok(Counts::from([
            ("queries".to_string(), counts.queries),
            ("round_trips".to_string(), counts.round_trips),
            ("connections".to_string(), counts.connections),
            ("bytes_to_client".to_string(), counts.bytes_to_client),
            ("rows_to_client".to_string(), counts.rows_to_client),
            ("write_units".to_string(), counts.write_units),
        ]))
    }
}

impl lab_support::Lab for DatabaseLab {
    const NAME: &'static str = crate::NAME;
    type Service = Service;
    type Data = Dataset;
    type Workload = Workload;
    type Place = Place;
    type Fixture = Target;
    type Counter = ProxyCounter;
    type Verb = Verb;

    fn generate(seed: u64, size: Size) -> Dataset {
        Dataset::generate(seed, size)
    }

    fn requests(kind: Workload, seed: u64, data: &Dataset, n: usize) -> Vec<lab_support::Req> {
        workload::generate(kind, seed, data, n)
    }

    fn default_workload() -> Workload {
        Workload::Mixed
    }

    /// sqlx and the service's pool run on two workers, as in a small deployment.
    fn runtime(_serving: bool) -> std::io::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
    }

    fn init_logs() {
        init_logs();
    }

    async fn fixture(
        service: Service,
        data: Dataset,
        args: &DataArgs,
        place: &Place,
        keep: bool,
    ) -> anyhow::Result<Target> {
        let server = Server::from_env()?;
        target(&service, &server, data, args, place.database.as_deref(), place.reuse, keep).await
    }

    async fn router(service: Service, target: &mut Target, place: &Place) -> anyhow::Result<Router> {
        Ok((service.app)(target.server.service_options(&target.name, place.via.as_deref())?))
    }

    fn database(target: &Target) -> Option<String> {
        Some(target.name.clone())
    }

    async fn counter(place: &Place) -> anyhow::Result<Option<ProxyCounter>> {
        let Some(control) = place.proxy_control.clone() else {
            return Ok(None);
        };
        let (client, control) = control_client(&control, Duration::from_secs(10))?;
        Ok(Some(ProxyCounter { client, control, before: crate::proxy::Counts::default() }))
    }

    async fn verb(service: Service, verb: Verb) -> anyhow::Result<()> {
        run_verb(service, verb).await
    }
}

/// `main` of a database-lab driver binary.
pub fn main(service: Service) -> ExitCode {
    lab_support::driver::main::<DatabaseLab>(service)
}

/// Logs to stderr, `warn` unless `RUST_LOG` says otherwise (`RUST_LOG=sqlx::query=debug` shows every statement).
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn print<T: serde::Serialize>(message: &T) -> anyhow::Result<()> {
    lab_protocol::print(message).context("writing to stdout")
}

fn default_name(service: &Service, data: &DataArgs) -> String {
    let service = service.name.replace('-', "_");
    format!("labdb_{service}_{}_{}", data.seed, value_name(&data.size))
}

async fn target(
    service: &Service,
    server: &Server,
    data: Dataset,
    args: &DataArgs,
    database: Option<&str>,
    reuse: bool,
    keep: bool,
) -> anyhow::Result<Target> {
    let started = Instant::now();
    if reuse {
        let name = database.context("--reuse needs --database")?.to_string();
        if !server.database_exists(&name).await? {
            bail!("database {name} does not exist; create it first with `seed --database {name}`");
        }
        return Ok(Target { name, data, server: server.clone(), _scratch: None });
    }
    let name = match (database, keep) {
        (Some(name), _) => name.to_string(),
        (None, true) => default_name(service, args),
        (None, false) => unique_name("run"),
    };
    eprintln!("seeding {name}: {} rows, seed {}, size {}", data.total_rows(), args.seed, value_name(&args.size));
    let prepared = prepare(server, service, &name, &data).await?;
    eprintln!(
        "seeded {} rows ({} in orders and order_lines) into {name} in {:.1} s",
        prepared.load.rows,
        data.hot_rows(),
        started.elapsed().as_secs_f64()
    );
    let scratch = (!keep).then(|| Scratch { server: server.clone(), name: name.clone(), data: data.clone() });
    Ok(Target { name, data, server: server.clone(), _scratch: scratch })
}

/// The target a lab verb works on (a scratch database unless `--reuse`).
async fn verb_target(service: &Service, server: &Server, db: &DatabaseArgs) -> anyhow::Result<Target> {
    let data = Dataset::generate(db.data.seed, db.data.size);
    target(service, server, data, &db.data, db.database.as_deref(), db.reuse, false).await
}

async fn run_verb(service: Service, verb: Verb) -> anyhow::Result<()> {
    let server = Server::from_env()?;
    match verb {
        Verb::Seed { db } => {
            let name = db.database.clone().unwrap_or_else(|| default_name(&service, &db.data));
            let started = Instant::now();
            let data = Dataset::generate(db.data.seed, db.data.size);
            let generated = started.elapsed();
            let prepared = prepare(&server, &service, &name, &data).await?;
            let total = started.elapsed();
            eprintln!(
                "seeded {} rows ({} in orders and order_lines) into {name} in {:.1} s",
                prepared.load.rows,
                data.hot_rows(),
                total.as_secs_f64()
            );
            print(&SeedReport {
                lab: crate::NAME.into(),
                database: name,
                seed: db.data.seed,
                size: value_name(&db.data.size),
                rows: prepared.load.rows as u64,
                hot_rows: data.hot_rows() as u64,
                generate_ms: generated.as_millis() as u64,
                copy_ms: prepared.load.copy.as_millis() as u64,
                load_ms: prepared.load.total.as_millis() as u64,
                migrate_ms: prepared.migrate.as_millis() as u64,
                analyze_ms: prepared.analyze.as_millis() as u64,
                total_ms: total.as_millis() as u64,
            })
        }
        Verb::Explain { db, customer, without_seq_scans } => {
            let target = verb_target(&service, &server, &db).await?;
            let mut conn = server.connect(&target.name).await?;
            let order = workload::deep_position(&target.data);
            let last = &target.data.orders[target.data.newest_first()[order.saturating_sub(1)]];
            let placed_at = time::OffsetDateTime::from_unix_timestamp(last.placed_at)?;
            let filter = explain_filter(&mut conn, customer, without_seq_scans).await?;
            let keyset = explain_keyset(&mut conn, placed_at, last.id, without_seq_scans).await?;
            drop(conn);
            let report = ExplainReport {
                lab: crate::NAME.into(),
                database: target.name.clone(),
                passed: filter.passed && keyset.passed,
                filter,
                keyset,
            };
            drop(target);
            print(&report)
        }
        Verb::PoolCheck { db, concurrency, hold_ms, via } => {
            let target = verb_target(&service, &server, &db).await?;
            let router = (service.app)(server.service_options(&target.name, via.as_deref())?);
            let report =
                pool_check(&router, &server, &target.name, concurrency, Duration::from_millis(hold_ms)).await?;
            drop(router);
            drop(target);
            print(&report)
        }
        Verb::RowsRead { db, workload: kind, requests } => {
            let target = verb_target(&service, &server, &db).await?;
            let list = workload::generate(kind, db.data.seed, &target.data, requests);
            let read = orders_rows_read(&service, &server, &target.name, &list).await?;
            drop(target);
            let per_request: Vec<RowsRead> = read
                .iter()
                .map(|(request, rows, answer)| RowsRead {
                    request: request.clone(),
                    orders_rows_read: *rows,
                    answer: format!("{answer:016x}"),
                })
                .collect();
            let total: i64 = read.iter().map(|(_, rows, _)| rows).sum();
            print(&RowsReadReport {
                lab: crate::NAME.into(),
                workload: value_name(&kind),
                requests: read.len(),
                orders_rows_read_per_request: total as f64 / read.len().max(1) as f64,
                per_request,
            })
        }
        Verb::Survey { data, requests } => {
            let table = crate::survey::survey(&service, data.seed, data.size, requests.max(1)).await?;
            println!("{table}");
            Ok(())
        }
        Verb::Copy { db, to } => {
            let from = db.database.clone().unwrap_or_else(|| default_name(&service, &db.data));
            let started = Instant::now();
            server.copy_database(&from, &to).await?;
            let ms = started.elapsed().as_millis() as u64;
            print(&Copied { lab: crate::NAME.into(), database: to, from, ms })
        }
        Verb::Drop { db } => {
            let name = db.database.clone().unwrap_or_else(|| default_name(&service, &db.data));
            server.drop_database(&name).await?;
            print(&Dropped { lab: crate::NAME.into(), dropped: name })
        }
    }
}
