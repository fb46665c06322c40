//! The reusable cache layer (the course's "cache decorator"): a read route
//! names what it wants and hands [`Cache::get_or_load`] the upstream call to
//! make on a miss; the layer does the rest, the same way for every route.
//!
//! # Two layers, cache-aside
//!
//! 1. **Memory (L1)**: a `moka` cache in this process, at most
//!    [`MEMORY_ENTRIES`] entries, each kept at most [`MEMORY_TTL`].
//! 2. **Redis (L2)**: shared by every instance, each value kept
//!    [`REDIS_TTL`] (`SET key value EX ttl`), serialised with serde_json.
//! 3. **The upstream**, the source of truth, asked only when both miss; its
//!    answer is stored in both layers on the way back. A 404 is cached too
//!    (negative caching): a missing product is asked for again and again.
//!
//! What is cached is the answer itself, a [`Representation`]: the exact body
//! bytes and their ETag, so a hit costs no serialisation and no hashing.
//!
//! # Freshness: versioned keys, not pub/sub invalidation
//!
//! Once a write is answered, every read that starts afterwards, on any
//! instance, must see it. Invalidating with pub/sub (a write `PUBLISH`es,
//! every instance drops its L1 copy when the message arrives) cannot promise
//! that: the write is answered before the other instances have read the
//! message, and a read that reaches one of them in that window gets the old
//! copy. A message is also lost for good by an instance that is reconnecting.
//! So this layer uses **versioned keys**:
//!
//! - Redis holds a version per product and per category. A write goes to the
//!   upstream first, then bumps (`HINCRBY`) the product's version and its
//!   category's (the listing shows name, price and stock), and only then is
//!   answered ([`Cache::changed`]).
//! - A read first fetches the current version (one `HMGET`). L1 is keyed by
//!   (name, epoch, version), so a copy is used only if it was stored under
//!   the current version, and the L2 key holds the version too: an old value
//!   is never read again, and its TTL removes it.
//!
//! The price is one small Redis command per read, L1 hits included; in
//! exchange there is no window at all, and nothing that can be lost.
//!
//! # Leases: one version check serves a name for [`LEASE`]
//!
//! A hot product read back to back would pay that command every time, a
//! round trip as long as the whole request. So an answer from Redis about a
//! name's version is trusted for [`LEASE`], counted from *before* the
//! command was sent, and a write waits [`LEASE`] after bumping its versions
//! before it is answered ([`Cache::changed`]). Any lease taken before the
//! bump has then run out, and any taken after it saw the new version: a
//! read that starts after the answer still sees the write, on every
//! instance. Writes pay [`LEASE`] once; hot reads skip Redis.
//!
//! # Epochs: when Redis forgets, or cannot be told
//!
//! If Redis restarts empty, versions start again from 0 and an L1 copy made
//! under an old version could match again; while Redis is unreachable,
//! writes cannot bump versions at all. So a copy is also tagged with an
//! **epoch**: a random number in Redis, made afresh when it is missing (the
//! first instance to make it wins, `HSETNX`) and replaced on purpose after an
//! outage or a write that could not bump its versions. A new epoch retires
//! every older copy at once.
//!
//! The epoch and all versions live in **one hash** with one TTL
//! ([`VERSIONS_TTL`], renewed by every write): they can only disappear
//! together, so a version can never fall back to a number an old copy was
//! stored under while that copy's epoch still matches (as separate keys,
//! expiring at different times, could).
//!
//! # Keys: all under the service's prefix, all with a TTL
//!
//! | key | holds | TTL |
//! |---|---|---|
//! | `{prefix}v1:versions` | hash: `epoch`, `product:{id}`, `category:{name}` | [`VERSIONS_TTL`] |
//! | `{prefix}v1:product:{id}:{epoch}:{version}` | the product, or `null` for a 404 | [`REDIS_TTL`] |
//! | `{prefix}v1:category:{name}:{epoch}:{version}` | the listing, or `null` | [`REDIS_TTL`] |
//!
//! `v1` is the schema version: when what a value holds changes, the keys
//! become `v2:...`, and old and new instances can share Redis during a deploy.
//!
//! # Stampedes
//!
//! moka's `entry(..).or_try_insert_with(..)` runs one load per key at a time
//! and makes every concurrent caller of that key wait for its result: a
//! hundred requests that miss the same product at once cost one Redis `GET`
//! and one upstream call.
//!
//! # Redis down or slow
//!
//! Every Redis call is bounded by [`REDIS_TIMEOUT`] and goes through a
//! [`Breaker`]: after [`FAILURES_TO_OPEN`] failures in a row, requests stop
//! trying Redis for [`OPEN_FOR`]. Without a version, no copy can be checked,
//! so a read skips both layers and asks the upstream (slower, still right);
//! a write still goes to the upstream. When Redis answers again, the next
//! read starts a new epoch.
//!
//! # Bonus: a memory TTL that grows with reads
//!
//! An L1 entry starts with [`MEMORY_TTL`], and every read buys it
//! [`MEMORY_TTL_PER_READ`] more, up to [`MEMORY_TTL_MAX`]
//! ([`LongerForFrequentReads`]): a product read every few seconds stays in
//! memory, one read once leaves after a minute. Versions keep every copy
//! correct whatever its TTL; the TTL only decides what memory is spent on.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lab_caching::RedisConfig;
use lab_caching::api::{ApiError, CacheStats, LayerStats};
use lab_caching::upstream::UpstreamError;
use moka::Expiry;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};

use crate::breaker::Breaker;
use crate::http::Representation;

/// L1 holds at most this many answers (old versions included, until evicted).
pub const MEMORY_ENTRIES: u64 = 10_000;
/// How long L1 keeps an answer nobody reads again: versions keep it correct, the TTL only bounds memory.
pub const MEMORY_TTL: Duration = Duration::from_secs(60);
/// What each read of an L1 entry adds to its remaining life (the bonus).
pub const MEMORY_TTL_PER_READ: Duration = Duration::from_secs(10);
/// The longest an L1 entry may have left, however often it is read.
pub const MEMORY_TTL_MAX: Duration = Duration::from_secs(10 * 60);
/// How long Redis keeps an answer.
pub const REDIS_TTL: Duration = Duration::from_secs(300);
/// How long the epoch and versions hash lives after the last write (or new epoch).
pub const VERSIONS_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest any Redis call may take: Redis answers in well under a millisecond when healthy.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(100);
/// How long a version read from Redis is trusted, and how long a write waits before its answer.
pub const LEASE: Duration = Duration::from_millis(20);
/// Failed Redis calls in a row that open the breaker.
pub const FAILURES_TO_OPEN: u32 = 3;
/// How long an open breaker skips Redis before one trial call.
pub const OPEN_FOR: Duration = Duration::from_secs(1);

/// The field of the versions hash that holds the epoch.
const EPOCH: &str = "epoch";
/// The schema version every key starts with, after the prefix.
const SCHEMA: &str = "v1";

/// What a read route gets: the answer to send, or `None` for "the upstream has no such thing".
pub type Cached = Option<Representation>;

/// The cache name of product `id`.
pub fn product(id: u32) -> String {
    format!("product:{id}")
}

/// The cache name of the listing of category `name` (a-z only, so it cannot forge a key).
pub fn category(name: &str) -> String {
    format!("category:{name}")
}

/// An L1 key: a name under the epoch and version it was loaded for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Tag {
    name: String,
    epoch: u64,
    version: u64,
}

/// An answer as the Redis layer stores it (`null` for a 404).
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    etag: String,
    body: String,
}

/// Hits and misses of one layer.
#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Counters {
    fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    fn stats(&self, layer: &str) -> LayerStats {
        LayerStats {
            layer: layer.into(),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}

/// Why a load failed; shared by every request that waited for it.
#[derive(Debug)]
enum LoadError {
    Upstream(UpstreamError),
    Render(serde_json::Error),
}

impl LoadError {
    /// The error for one of the requests that waited (moka hands each of them the same `Arc`).
    fn to_api(&self) -> ApiError {
        match self {
            LoadError::Upstream(err) => ApiError::from(err.clone()),
            LoadError::Render(err) => ApiError::Unexpected(std::io::Error::other(err.to_string()).into()),
        }
    }
}

/// The two layers, their counters, and what the epoch owes.
pub struct Cache {
    memory: moka::future::Cache<Tag, Cached>,
    redis: Redis,
    /// `{prefix}v1:versions`.
    versions_key: String,
    /// `{prefix}v1:`, the start of every value key.
    values: String,
    memory_counts: Counters,
    redis_counts: Counters,
    /// Writes whose versions could not be bumped: each one calls for a new epoch.
    unbumped: AtomicU64,
    /// How many outages plus unbumped writes the current epoch already covers.
    renewed: AtomicU64,
    /// The last (epoch, version) Redis gave for each name, and when it was asked.
    leases: std::sync::Mutex<HashMap<String, Lease>>,
}

/// A version read from Redis, trusted until [`LEASE`] after it was asked for.
#[derive(Clone, Copy, Debug)]
struct Lease {
    asked: Instant,
    epoch: u64,
    version: u64,
}

impl Cache {
    /// A cache on the Redis of `config`, connected lazily: Redis may be down now.
    pub fn new(config: &RedisConfig) -> Cache {
        let memory = moka::future::Cache::builder()
            // Why: bounded by entries, so memory stays flat however many products are read.
            .max_capacity(MEMORY_ENTRIES)
            // Why: often-read answers stay longer, rarely read ones make room sooner (the bonus).
            .expire_after(LongerForFrequentReads::DEFAULT)
            .build();
        Cache {
            memory,
            redis: Redis::open(&config.url),
            // Why: every key starts with the prefix, so runs and tests sharing one Redis never collide.
            versions_key: format!("{}{SCHEMA}:versions", config.prefix),
            values: format!("{}{SCHEMA}:", config.prefix),
            memory_counts: Counters::default(),
            redis_counts: Counters::default(),
            unbumped: AtomicU64::new(0),
            renewed: AtomicU64::new(0),
            leases: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The answer for `name` (made with [`product`] or [`category`]): from
    /// memory, else from Redis, else from `load` (the upstream), which then
    /// fills both layers. Concurrent misses of one name share one `load`.
    pub async fn get_or_load<T, F, Fut>(&self, name: &str, load: F) -> Result<Cached, ApiError>
    where
        T: Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<T>, UpstreamError>>,
    {
        // Version first: an L1 entry is only as good as the version it was stored under.
        let Some((epoch, version)) = self.current(name).await else {
            // Why: with no version to check a copy against, neither layer can be trusted; the upstream still answers.
            self.memory_counts.miss();
            self.redis_counts.miss();
            return fetch(load).await.map_err(|err| err.to_api());
        };
        let redis_key = format!("{}{name}:{epoch}:{version}", self.values);
        let tag = Tag { name: name.to_string(), epoch, version };
        // Why: one load per tag at a time; concurrent misses wait for it instead of each calling the upstream.
        let entry = self
            .memory
            .entry(tag)
            .or_try_insert_with(self.load_through_redis(redis_key, load))
            .await
            .map_err(|err| err.to_api())?;
        // Fresh means this request ran the load; a request that waited for another's load cost nothing.
        if entry.is_fresh() {
            self.memory_counts.miss();
        } else {
            self.memory_counts.hit();
        }
        Ok(entry.into_value())
    }

    /// After a write to the upstream, before its answer: bumps the versions
    /// of `names`, so no layer of any instance serves their old answers again.
    pub async fn changed(&self, names: &[String]) {
        let mut pipe = redis::pipe();
        // Why atomic: the hash may be created here, and must never exist without its TTL.
        pipe.atomic();
        for name in names {
            pipe.cmd("HINCRBY").arg(&self.versions_key).arg(name).arg(1).ignore();
        }
        pipe.cmd("EXPIRE").arg(&self.versions_key).arg(VERSIONS_TTL.as_secs()).ignore();
        if self.redis.run::<()>(&pipe).await.is_none() {
            // Why: the upstream has this change but no version says so: the next read that reaches Redis starts a new epoch.
            self.unbumped.fetch_add(1, Ordering::SeqCst);
            tracing::warn!(?names, "could not bump cache versions; a new cache epoch will retire every copy");
        }
        // Why: every lease on the old versions, in any instance, runs out before this write is answered.
        tokio::time::sleep(LEASE).await;
    }

    /// Hits and misses of each layer, memory first.
    pub fn stats(&self) -> CacheStats {
        CacheStats { layers: vec![self.memory_counts.stats("memory"), self.redis_counts.stats("redis")] }
    }

    /// The current (epoch, version) of `name`, or `None` when Redis cannot tell.
    async fn current(&self, name: &str) -> Option<(u64, u64)> {
        // Outages and unbumped writes since the last new epoch: copies may hide a change no version recorded.
        let owed = self.redis.breaker.outages() + self.unbumped.load(Ordering::SeqCst);
        let renew = owed > self.renewed.load(Ordering::SeqCst);
        if !renew && let Some(lease) = self.lease(name) {
            return Some((lease.epoch, lease.version));
        }
        // Why before the command: the lease must end no later than one any write could have waited out.
        let asked = Instant::now();
        let current = self.ask_current(name, owed, renew).await?;
        let lease = Lease { asked, epoch: current.0, version: current.1 };
        self.leases.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(name.to_string(), lease);
        Some(current)
    }

    /// The lease on `name`, while it runs.
    fn lease(&self, name: &str) -> Option<Lease> {
        let leases = self.leases.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        leases.get(name).copied().filter(|lease| lease.asked.elapsed() < LEASE)
    }

    /// The (epoch, version) of `name` from Redis, starting a new epoch first when `renew`.
    async fn ask_current(&self, name: &str, owed: u64, renew: bool) -> Option<(u64, u64)> {
        let mut pipe = redis::pipe();
        if renew {
            // Why: a new epoch retires every copy tagged with the old one, in every instance, at once.
            pipe.atomic();
            pipe.cmd("HSET").arg(&self.versions_key).arg(EPOCH).arg(new_epoch()).ignore();
            pipe.cmd("EXPIRE").arg(&self.versions_key).arg(VERSIONS_TTL.as_secs()).ignore();
        }
        // Why one HMGET: the epoch and the version in a single round trip, the only Redis command of an L1 hit.
        pipe.cmd("HMGET").arg(&self.versions_key).arg(EPOCH).arg(name);
        let ((epoch, version),): ((Option<u64>, Option<u64>),) = self.redis.run(&pipe).await?;
        if renew {
            self.renewed.fetch_max(owed, Ordering::SeqCst);
            tracing::info!("started a new cache epoch");
        }
        match epoch {
            Some(epoch) => Some((epoch, version.unwrap_or(0))),
            None => self.first_epoch(name).await,
        }
    }

    /// No epoch in Redis: the first start, or Redis lost its data. Makes one
    /// (the first instance to try wins) and reads again.
    async fn first_epoch(&self, name: &str) -> Option<(u64, u64)> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("HSETNX").arg(&self.versions_key).arg(EPOCH).arg(new_epoch()).ignore();
        pipe.cmd("EXPIRE").arg(&self.versions_key).arg(VERSIONS_TTL.as_secs()).ignore();
        pipe.cmd("HMGET").arg(&self.versions_key).arg(EPOCH).arg(name);
        let ((epoch, version),): ((Option<u64>, Option<u64>),) = self.redis.run(&pipe).await?;
        Some((epoch?, version.unwrap_or(0)))
    }

    /// An L1 miss: Redis, else the upstream, whose answer then goes to Redis.
    async fn load_through_redis<T, F, Fut>(&self, key: String, load: F) -> Result<Cached, LoadError>
    where
        T: Serialize,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<T>, UpstreamError>>,
    {
        // Why: another instance (or this one, before a restart) may have paid for this load already.
        if let Some(cached) = self.redis_get(&key).await {
            self.redis_counts.hit();
            return Ok(cached);
        }
        self.redis_counts.miss();
        let cached = fetch(load).await?;
        self.redis_set(&key, &cached).await;
        Ok(cached)
    }

    /// The answer Redis holds at `key`; `None` when it holds none or cannot be asked.
    async fn redis_get(&self, key: &str) -> Option<Cached> {
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(key);
        let (text,): (Option<String>,) = self.redis.run(&pipe).await?;
        let stored: Option<Stored> = match serde_json::from_str(&text?) {
            Ok(stored) => stored,
            Err(err) => {
                tracing::warn!(%err, key, "unreadable cached value; loading it again");
                return None;
            }
        };
        match stored {
            None => Some(None),
            Some(Stored { etag, body }) => Representation::from_parts(body, &etag).map(Some),
        }
    }

    /// Stores `cached` at `key` for [`REDIS_TTL`], if Redis can be reached (the answer goes out either way).
    async fn redis_set(&self, key: &str, cached: &Cached) {
        let stored = match cached {
            None => None,
            Some(representation) => match representation.text() {
                Some(body) => Some(Stored { etag: representation.etag().into(), body: body.into() }),
                None => return,
            },
        };
        let Ok(value) = serde_json::to_string(&stored) else { return };
        let mut pipe = redis::pipe();
        // Why EX: every key has a TTL, so values no version points to any more go away by themselves.
        pipe.cmd("SET").arg(key).arg(value).arg("EX").arg(REDIS_TTL.as_secs()).ignore();
        let _: Option<()> = self.redis.run(&pipe).await;
    }
}

/// The L1 expiry policy: a first TTL, and more life for every read, up to a cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LongerForFrequentReads {
    pub first: Duration,
    pub per_read: Duration,
    pub max: Duration,
}

impl LongerForFrequentReads {
    /// [`MEMORY_TTL`], plus [`MEMORY_TTL_PER_READ`] per read, up to [`MEMORY_TTL_MAX`].
    pub const DEFAULT: LongerForFrequentReads =
        LongerForFrequentReads { first: MEMORY_TTL, per_read: MEMORY_TTL_PER_READ, max: MEMORY_TTL_MAX };
}

impl<K, V> Expiry<K, V> for LongerForFrequentReads {
    fn expire_after_create(&self, _: &K, _: &V, _: Instant) -> Option<Duration> {
        Some(self.first)
    }

    fn expire_after_read(&self, _: &K, _: &V, _: Instant, left: Option<Duration>, _: Instant) -> Option<Duration> {
        // Why: an entry read more often than once per `per_read` gains life faster than it loses it.
        Some(left.unwrap_or(self.first).saturating_add(self.per_read).min(self.max))
    }
}

/// Asks the upstream and renders its answer: the slow path both layers exist to avoid.
async fn fetch<T, F, Fut>(load: F) -> Result<Cached, LoadError>
where
    T: Serialize,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Option<T>, UpstreamError>>,
{
    match load().await.map_err(LoadError::Upstream)? {
        Some(value) => Representation::json(&value).map(Some).map_err(LoadError::Render),
        None => Ok(None),
    }
}

/// A random epoch, different from any earlier one.
fn new_epoch() -> u64 {
    // Why not a counter: after Redis loses the hash, a counter would start again at an old value.
    // std's RandomState is seeded from the OS; mixed with the clock, epochs do not repeat in practice.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos()));
    hasher.finish()
}

/// The Redis connection behind its timeout and circuit breaker.
struct Redis {
    /// `None` when the URL is not usable: then Redis counts as down for good.
    connection: Option<ConnectionManager>,
    breaker: Breaker,
}

impl Redis {
    /// Prepares a connection to `url` without waiting for it: Redis may be down, and `app` must not block.
    fn open(url: &str) -> Redis {
        let config = ConnectionManagerConfig::new()
            // Why: a dead or unreachable Redis must cost a request milliseconds, not the OS's connect timeout.
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            // Why no retries: the breaker decides when to try again, not a backoff inside each call.
            .set_number_of_retries(0);
        // Why: the manager spawns its connection task on the current runtime; without one it would panic.
        if let Err(err) = tokio::runtime::Handle::try_current() {
            tracing::error!(%err, "no tokio runtime: serving without a cache");
            return Redis { connection: None, breaker: Breaker::new(FAILURES_TO_OPEN, OPEN_FOR) };
        }
        let connection = redis::Client::open(url)
            .and_then(|client| ConnectionManager::new_lazy_with_config(client, config))
            .inspect_err(|err| tracing::error!(%err, "the Redis URL is not usable: serving without a cache"))
            .ok();
        Redis { connection, breaker: Breaker::new(FAILURES_TO_OPEN, OPEN_FOR) }
    }

    /// Runs `pipe`; `None` when Redis is unusable (no connection, breaker open, error or timeout).
    async fn run<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> Option<T> {
        let mut connection = self.connection.clone()?;
        // Why: while the breaker is open, skip Redis at once instead of waiting for a timeout on every request.
        if !self.breaker.allow() {
            return None;
        }
        let call = async {
            match pipe.query_async::<T>(&mut connection).await {
                // Why retry once: after a lost connection the manager answers its last failed attempt once,
                // then reconnects; the retry waits for that reconnection (every command here may run twice).
                Err(err) if err.is_io_error() => pipe.query_async::<T>(&mut connection).await,
                answer => answer,
            }
        };
        // Why a timeout of our own too: it bounds the whole call, waiting for a (re)connection included.
        match tokio::time::timeout(REDIS_TIMEOUT, call).await {
            Ok(Ok(value)) => {
                self.breaker.success();
                Some(value)
            }
            Ok(Err(err)) => {
                tracing::warn!(%err, "redis call failed");
                self.breaker.failure();
                None
            }
            Err(_) => {
                tracing::warn!(timeout = ?REDIS_TIMEOUT, "redis call timed out");
                self.breaker.failure();
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_start_with_the_prefix_and_the_schema_version() {
        // Outside a runtime too: the cache then runs without Redis instead of panicking.
        let cache = Cache::new(&RedisConfig { url: "redis://127.0.0.1:1".into(), prefix: "p:".into() });
        assert_eq!(cache.versions_key, "p:v1:versions");
        assert_eq!(format!("{}{}", cache.values, product(7)), "p:v1:product:7");
        assert_eq!(category("toys"), "category:toys");
    }

    #[test]
    fn every_read_adds_life_up_to_the_cap() {
        let policy = LongerForFrequentReads::DEFAULT;
        let now = Instant::now();
        let read = |left| Expiry::<(), ()>::expire_after_read(&policy, &(), &(), now, Some(left), now);
        assert_eq!(Expiry::<(), ()>::expire_after_create(&policy, &(), &(), now), Some(MEMORY_TTL));
        assert_eq!(read(Duration::from_secs(5)), Some(Duration::from_secs(15)));
        assert_eq!(read(MEMORY_TTL_MAX), Some(MEMORY_TTL_MAX));
    }

    #[tokio::test]
    async fn an_often_read_entry_outlives_one_read_once() {
        let millis = Duration::from_millis;
        // Wide margins: entry 2 is gone after 200 ms, entry 1 has 3 s more than that.
        let policy = LongerForFrequentReads { first: millis(200), per_read: millis(1_000), max: millis(5_000) };
        let memory: moka::future::Cache<u32, u32> = moka::future::Cache::builder().expire_after(policy).build();
        memory.insert(1, 1).await;
        memory.insert(2, 2).await;
        for _ in 0..3 {
            // The way `get_or_load` reads.
            assert!(!memory.entry(1).or_insert(0).await.is_fresh());
        }
        tokio::time::sleep(millis(600)).await;
        assert_eq!((memory.get(&1).await, memory.get(&2).await), (Some(1), None));
    }
}
