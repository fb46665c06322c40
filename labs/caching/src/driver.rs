//! Lab 25 on the measuring driver's seam (`lab_support::driver`): the data
//! lives in a slow upstream that counts its own calls, and the service may
//! use Redis under a key prefix of its own.
//!
//! Each implementation (baseline, exercise, solution) has a one-line
//! `driver/main.rs` that hands its [`Service`] to [`main`]. The student edits
//! only `src/`, so the code that starts the upstream, sends the workload and
//! reports numbers is always this trusted code.
//!
//! ```text
//! <driver> serve    --seed 7 --addr 127.0.0.1:8080                       # with an upstream of its own, 3 ms a call
//! <driver> run      --seed 7 --workload mixed --requests 200 --count      # upstream calls and Redis commands per request
//! <driver> run      --workload hot --requests 100 --upstream unix:/run/lab/upstream.sock \
//!                   --redis redis+unix:///run/lab/redis/redis.sock --redis-prefix run1:
//! <driver> requests --seed 7 --workload writes --requests 12              # the workload as JSON lines
//! <driver> survey   --size small                                          # a table: every workload's cost per request
//! ```
//!
//! Without `--upstream`, the driver starts the upstream in its own process
//! (`--upstream-latency-ms`, same seed and size). Without `--redis-prefix`,
//! each run gets a fresh prefix and removes its keys when it ends.

use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use clap::Subcommand;
use lab_protocol::Counts;
use lab_support::{DataArgs, Size};

use crate::data::Catalog;
use crate::upstream::{Address, Client, Running};
use crate::workload::{self, Workload};
use crate::{Config, NAME, RedisConfig, Service, store};

/// The lab as the measuring driver sees it.
#[derive(Debug)]
pub struct CachingLab;

/// Where the service's upstream and Redis are.
#[derive(Debug, Clone, clap::Args)]
pub struct Place {
    /// An upstream already running (`cache-upstream`): host:port or unix:/path.
    /// Without it, one is started in this process on the same seed and size.
    #[arg(long)]
    upstream: Option<Address>,
    /// The latency of the upstream this process starts, in milliseconds.
    #[arg(long, default_value_t = 3, conflicts_with = "upstream")]
    upstream_latency_ms: u64,
    /// Redis for the service (default: REDIS_URL, else redis://127.0.0.1:6379).
    #[arg(long)]
    redis: Option<String>,
    /// The prefix of every key the service makes (default: a fresh one,
    /// whose keys are removed when `run` ends).
    #[arg(long)]
    redis_prefix: Option<String>,
    /// `run` only: read the upstream's call count and Redis's command count
    /// around every request (Redis counts every client's commands: use a
    /// server of your own for exact numbers).
    #[arg(long)]
    count: bool,
}

/// The lab's own verbs.
#[derive(Debug, Subcommand)]
pub enum Verb {
    /// Print every workload's cost per request (upstream calls, Redis commands, time) and a stampede's.
    Survey {
        #[command(flatten)]
        data: DataArgs,
        /// Requests per workload.
        #[arg(long, default_value_t = 200)]
        requests: usize,
    },
}

/// What one verb's service is built on.
#[derive(Debug)]
pub struct Fixture {
    config: Config,
    /// The upstream this process started, if it started one.
    _upstream: Option<Running>,
    /// Keys to remove at the end: a prefix this process made up.
    forget: Option<RedisConfig>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(redis) = self.forget.take()
            && let Err(err) = store::forget_blocking(&redis.url, &redis.prefix)
        {
            eprintln!("note: could not remove the run's Redis keys under {}: {err:#}", redis.prefix);
        }
    }
}

/// The upstream this process started, for the counter.
static STARTED_UPSTREAM: OnceLock<Address> = OnceLock::new();

impl lab_support::Lab for CachingLab {
    const NAME: &'static str = NAME;
    type Service = Service;
    type Data = Catalog;
    type Workload = Workload;
    type Place = Place;
    type Fixture = Fixture;
    type Counter = CallCounter;
    type Verb = Verb;

    fn generate(seed: u64, size: Size) -> Catalog {
        Catalog::generate(seed, size)
    }

    fn requests(kind: Workload, seed: u64, data: &Catalog, n: usize) -> Vec<lab_support::Req> {
        workload::requests(kind, seed, data, n)
    }

    fn default_workload() -> Workload {
        Workload::Mixed
    }

    async fn fixture(_: Service, data: Catalog, _: &DataArgs, place: &Place, keep: bool) -> anyhow::Result<Fixture> {
        let (client, started) = match &place.upstream {
            Some(address) => (Client::new(address), None),
            None => {
                let running = Running::start(data, Duration::from_millis(place.upstream_latency_ms)).await?;
                let _ = STARTED_UPSTREAM.set(running.client.address().clone());
                (running.client.clone(), Some(running))
            }
        };
        let url = place.redis.clone().unwrap_or_else(store::url);
        let prefix = place.redis_prefix.clone().unwrap_or_else(|| store::unique_prefix("run"));
        let redis = RedisConfig { url, prefix };
        let forget = (place.redis_prefix.is_none() && !keep).then(|| redis.clone());
        Ok(Fixture { config: Config { upstream: client, redis }, _upstream: started, forget })
    }

    async fn router(service: Service, fixture: &mut Fixture, _: &Place) -> anyhow::Result<Router> {
        Ok((service.app)(fixture.config.clone()))
    }

    async fn counter(place: &Place) -> anyhow::Result<Option<CallCounter>> {
        if !place.count {
            return Ok(None);
        }
        let address = match (&place.upstream, STARTED_UPSTREAM.get()) {
            (Some(address), _) | (None, Some(address)) => address.clone(),
            (None, None) => anyhow::bail!("--count: no upstream to count"),
        };
        let url = place.redis.clone().unwrap_or_else(store::url);
        let redis = store::connect(&url).await?;
        Ok(Some(CallCounter { upstream: Client::new(&address), redis, before: (0, 0) }))
    }

    async fn verb(service: Service, verb: Verb) -> anyhow::Result<()> {
        match verb {
            Verb::Survey { data, requests } => {
                let table = crate::survey::survey(&service, data.seed, data.size, requests.max(1)).await?;
                println!("{table}");
                Ok(())
            }
        }
    }
}

/// Reads the upstream's own call count and Redis's own command count around each request.
#[derive(Debug)]
pub struct CallCounter {
    upstream: Client,
    redis: redis::aio::MultiplexedConnection,
    before: (u64, u64),
}

impl CallCounter {
    async fn now(&mut self) -> anyhow::Result<(u64, u64)> {
        let calls = self.upstream.calls().await.context("reading the upstream's calls")?.total();
        let commands = store::commands_served(&mut self.redis).await.context("reading Redis's command stats")?;
        Ok((calls, commands))
    }
}

impl lab_support::Counter for CallCounter {
    async fn reset(&mut self) -> anyhow::Result<()> {
        self.before = self.now().await?;
        Ok(())
    }

    async fn read(&mut self) -> anyhow::Result<Counts> {
        let (calls, commands) = self.now().await?;
        let mut counts = Counts::new();
        counts.insert("upstream_calls".into(), calls.saturating_sub(self.before.0));
        counts.insert("redis_commands".into(), commands.saturating_sub(self.before.1));
        Ok(counts)
    }
}

/// `main` of an implementation's driver binary.
pub fn main(service: Service) -> ExitCode {
    lab_support::driver::main::<CachingLab>(service)
}
