//! Lab 26 on the measuring driver's seam (`lab_support::driver`): the shop
//! lives in a fresh seeded PostgreSQL database, its product cache in Redis
//! under a key prefix of its own, and orders are charged at the payment
//! stub.
//!
//! Each implementation (baseline, exercise, solution) has a one-line
//! `driver/main.rs` that hands its [`Service`] to [`main`]. The student edits
//! only `src/`, so the code that sets up the database, sends the workload
//! and reports numbers is always this trusted code.
//!
//! ```text
//! <driver> serve    --seed 7 --addr 127.0.0.1:8080 --log-file shop.log   # a live shop, logs in shop.log
//! <driver> run      --seed 7 --workload mixed --requests 200             # one request at a time, timed
//! <driver> requests --seed 7 --workload orders --requests 12             # the workload as JSON lines
//! <driver> serve    --database labdb_shop --via 127.0.0.1:6543 --payments unix:/run/lab/payments.sock
//! ```
//!
//! Without `--database`, the driver seeds a fresh database (dropped when a
//! `run` ends; kept by `serve`, which prints its name). Without
//! `--payments`, it starts the payment stub in its own process. Without
//! `--redis-prefix`, each run gets a fresh prefix, removed when it ends.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use lab_support::{DataArgs, NoCounter, NoVerb, Size};

use crate::data::Shop;
use crate::db::ShopDb;
use crate::payments::{Address, Client, Running};
use crate::telemetry::LogSink;
use crate::workload::{self, Workload};
use crate::{Config, NAME, RedisConfig, Service};

/// The lab as the measuring driver sees it.
#[derive(Debug)]
pub struct MonitoringLab;

/// Where the service's database, cache, payment provider and logs are.
#[derive(Debug, Clone, clap::Args)]
pub struct Place {
    /// A database already seeded on this seed and size (default: a fresh one).
    #[arg(long)]
    database: Option<String>,
    /// Reach PostgreSQL through this proxy (`host:port`, or the folder of its Unix socket).
    #[arg(long)]
    via: Option<String>,
    /// A payment provider already running (`shop-payments`): host:port or unix:/path.
    #[arg(long)]
    payments: Option<Address>,
    /// The latency of the payment stub this process starts, in milliseconds.
    #[arg(long, default_value_t = 2, conflicts_with = "payments")]
    payments_latency_ms: u64,
    /// Redis for the service (default: REDIS_URL, else redis://127.0.0.1:6379).
    #[arg(long)]
    redis: Option<String>,
    /// The prefix of every key the service makes (default: a fresh one,
    /// whose keys are removed when the process ends).
    #[arg(long)]
    redis_prefix: Option<String>,
    /// Append the service's log lines to this file (default: standard error).
    #[arg(long)]
    log_file: Option<PathBuf>,
}

/// What one verb's service is built on.
#[derive(Debug)]
pub struct Fixture {
    config: Config,
    database: Option<ShopDb>,
    _payments: Option<Running>,
    /// Keys to remove at the end: a prefix this process made up.
    forget: Option<RedisConfig>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(redis) = self.forget.take()
            && let Err(err) = lab_caching::store::forget_blocking(&redis.url, &redis.prefix)
        {
            eprintln!("note: could not remove the run's Redis keys under {}: {err:#}", redis.prefix);
        }
    }
}

impl lab_support::Lab for MonitoringLab {
    const NAME: &'static str = NAME;
    type Service = Service;
    type Data = Shop;
    type Workload = Workload;
    type Place = Place;
    type Fixture = Fixture;
    type Counter = NoCounter;
    type Verb = NoVerb;

    fn generate(seed: u64, size: Size) -> Shop {
        Shop::generate(seed, size)
    }

    fn requests(kind: Workload, seed: u64, data: &Shop, n: usize) -> Vec<lab_support::Req> {
        workload::requests(kind, seed, data, n)
    }

    fn default_workload() -> Workload {
        Workload::Mixed
    }

    async fn fixture(service: Service, _: Shop, args: &DataArgs, place: &Place, keep: bool) -> anyhow::Result<Fixture> {
        let sink = place.log_file.clone().map_or(LogSink::Stderr, LogSink::File);
        (service.telemetry)(&sink);
        let (options, database) = match &place.database {
            Some(name) => (lab_database::db::Server::from_env()?.service_options(name, place.via.as_deref())?, None),
            None => {
                let mut db = ShopDb::fresh(args.seed, args.size).await?;
                if keep {
                    db.keep();
                    eprintln!("seeded database {} (kept; drop it when done)", db.name);
                }
                (db.service_options(place.via.as_deref())?, Some(db))
            }
        };
        let (payments, started) = match &place.payments {
            Some(address) => (Client::new(address), None),
            None => {
                let running = Running::start(Duration::from_millis(place.payments_latency_ms)).await?;
                (running.client.clone(), Some(running))
            }
        };
        let url = place.redis.clone().unwrap_or_else(lab_caching::store::url);
        let prefix = place.redis_prefix.clone().unwrap_or_else(|| lab_caching::store::unique_prefix("mon"));
        let redis = RedisConfig { url, prefix };
        let forget = (place.redis_prefix.is_none() && !keep).then(|| redis.clone());
        Ok(Fixture { config: Config { database: options, redis, payments }, database, _payments: started, forget })
    }

    async fn router(service: Service, fixture: &mut Fixture, _: &Place) -> anyhow::Result<Router> {
        Ok((service.app)(fixture.config.clone()))
    }

    fn database(fixture: &Fixture) -> Option<String> {
        fixture.database.as_ref().map(|db| db.name.clone())
    }

    async fn counter(_: &Place) -> anyhow::Result<Option<NoCounter>> {
        Ok(None)
    }

    async fn verb(_: Service, verb: NoVerb) -> anyhow::Result<()> {
        match verb {}
    }
}

/// `main` of an implementation's driver binary.
pub fn main(service: Service) -> ExitCode {
    lab_support::driver::main::<MonitoringLab>(service)
}
