//! The measured checks: what each lesson changes, counted from outside the service.
//!
//! - [`costs`]: queries, round trips, connections, bytes and separate commits that wrote, per
//!   request, from the [`Proxy`].
//! - [`explain_filter`] / [`explain_keyset`]: `EXPLAIN (FORMAT JSON)` of the canonical filter and
//!   keyset queries, and whether an index on `orders` serves them.
//! - [`pool_check`]: what happens when more requests arrive than the pool has connections.
//! - [`orders_rows_read`]: rows of `orders` the server read per request, from its own statistics.
//!
//! The solution passes every check ([`lesson_tests!`]); the starter fails
//! them, which is what the exercise's ignored tests show a student. The
//! grader runs the same functions through the driver (`run`, `explain`,
//! `pool-check`) on the default size.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use lab_support::digest::answer_digest;
use lab_support::exchange::send;
use lab_support::{Req, Size};
use serde::Serialize;
use serde_json::Value;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

use crate::Service;
use crate::contract::{app, scratch};
use crate::db::{SERVICE_APPLICATION, Server};
use crate::proxy::{Counts, Proxy, ProxyConfig};
use crate::workload::{self, Workload};

/// The canonical filter query the plan check explains (`$1`: a customer id).
pub const FILTER_QUERY: &str = "SELECT id, placed_at, status, total_cents FROM orders \
     WHERE customer_id = $1 ORDER BY placed_at DESC, id DESC LIMIT 20";

/// The canonical keyset page query the plan check explains (`$1`, `$2`: the last order served).
pub const KEYSET_QUERY: &str = "SELECT id, customer_id, placed_at, status, total_cents FROM orders \
     WHERE (placed_at, id) < ($1, $2) ORDER BY placed_at DESC, id DESC LIMIT 51";

/// What one request cost, measured on the wire.
#[derive(Clone, Debug, Serialize)]
pub struct RequestCost {
    pub request: String,
    pub status: u16,
    pub nanos: u64,
    /// Its `write_units` are the separate commits that wrote.
    #[serde(flatten)]
    pub counts: Counts,
}

/// Sends `reqs` one at a time and reads the proxy's counters around each.
pub async fn costs(router: &Router, proxy: &Proxy, reqs: &[Req]) -> Vec<RequestCost> {
    let mut out = Vec::with_capacity(reqs.len());
    for req in reqs {
        proxy.reset();
        let started = Instant::now();
        let exchange = send(router, req).await;
        let nanos = started.elapsed().as_nanos() as u64;
        let counts = proxy.counts();
        out.push(RequestCost { request: req.label(), status: exchange.status, nanos, counts });
    }
    out
}

/// A fresh tiny database for `service`, a proxy in front of it, and the
/// costs of the first `n` requests of `kind` after `warmup` unmeasured ones.
pub async fn measure(service: &Service, kind: Workload, seed: u64, warmup: usize, n: usize) -> Vec<RequestCost> {
    let db = scratch(service, seed, Size::Tiny).await;
    let proxy = Proxy::start(ProxyConfig::new(db.server.host_port())).await.expect("start the proxy");
    let router = app(service, &db, Some(&proxy.host_port()));
    let reqs = workload::generate(kind, seed, &db.data, warmup + n);
    for req in &reqs[..warmup] {
        send(&router, req).await;
    }
    let measured = costs(&router, &proxy, &reqs[warmup..]).await;
    drop(router);
    measured
}

pub use lab_protocol::PlanVerdict;

/// Indexes on `orders` whose first key column is `column`.
pub async fn indexes_leading_with(conn: &mut PgConnection, column: &str) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT i.indexrelid::regclass::text FROM pg_index i \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
         WHERE i.indrelid = 'orders'::regclass AND a.attname = $1 ORDER BY 1",
    )
    .bind(column)
    .fetch_all(&mut *conn)
    .await
    .context("listing the indexes on orders")?;
    Ok(names)
}

async fn explain(
    conn: &mut PgConnection,
    query: &'static str,
    bind: impl FnOnce(
        sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments>,
    column: &str,
    without_seq_scans: bool,
) -> anyhow::Result<PlanVerdict> {
    let candidates = indexes_leading_with(conn, column).await?;
    let mut tx = conn.begin().await?;
    if without_seq_scans {
        // Tiny test tables are cheaper to scan than to index; ask whether an index could serve at all.
        sqlx::raw_sql("SET LOCAL enable_seqscan = off").execute(&mut *tx).await?;
    }
    let sql = sqlx::AssertSqlSafe(format!("EXPLAIN (FORMAT JSON) {query}"));
    let row = bind(sqlx::query(sql)).fetch_one(&mut *tx).await.with_context(|| format!("EXPLAIN {query}"))?;
    tx.rollback().await?;
    let text: String = row.try_get_unchecked(0)?;
    let plan: Value = serde_json::from_str(&text).context("EXPLAIN gave JSON")?;
    let mut index_scans = Vec::new();
    let mut seq_scan = false;
    walk(&plan[0]["Plan"], &mut |node| {
        let kind = node["Node Type"].as_str().unwrap_or_default();
        let index = node["Index Name"].as_str();
        let relation = node["Relation Name"].as_str();
        if kind == "Seq Scan" && relation == Some("orders") {
            seq_scan = true;
        }
        if let Some(index) = index
            && (relation == Some("orders") || candidates.iter().any(|c| c == index))
        {
            index_scans.push(format!("{kind} on {index}"));
        }
    });
    let passed =
        !seq_scan && index_scans.iter().any(|scan| candidates.iter().any(|c| scan.ends_with(&format!(" on {c}"))));
    Ok(PlanVerdict {
        query: query.to_string(),
        candidate_indexes: candidates,
        index_scans,
        seq_scan_on_orders: seq_scan,
        passed,
        plan,
    })
}

fn walk(node: &Value, visit: &mut impl FnMut(&Value)) {
    if node.is_null() {
        return;
    }
    visit(node);
    if let Some(children) = node["Plans"].as_array() {
        for child in children {
            walk(child, visit);
        }
    }
}

/// The plan of [`FILTER_QUERY`] for `customer`: should use an index leading with `customer_id`.
pub async fn explain_filter(
    conn: &mut PgConnection,
    customer: i64,
    without_seq_scans: bool,
) -> anyhow::Result<PlanVerdict> {
    explain(conn, FILTER_QUERY, |q| q.bind(customer), "customer_id", without_seq_scans).await
}

/// The plan of [`KEYSET_QUERY`] after `(placed_at, id)`: should use an index leading with `placed_at`.
pub async fn explain_keyset(
    conn: &mut PgConnection,
    placed_at: time::OffsetDateTime,
    id: i64,
    without_seq_scans: bool,
) -> anyhow::Result<PlanVerdict> {
    explain(conn, KEYSET_QUERY, |q| q.bind(placed_at).bind(id), "placed_at", without_seq_scans).await
}

pub use lab_protocol::PoolReport;

/// Locks `orders` for `hold`, sends `concurrency` order reads at once, and
/// reports how they were answered. A sized pool with an acquire timeout
/// answers the overflow with a quick 503; a connection per request opens
/// one connection each and makes every caller wait.
pub async fn pool_check(
    router: &Router,
    server: &Server,
    database: &str,
    concurrency: usize,
    hold: Duration,
) -> anyhow::Result<PoolReport> {
    let warm = send(router, &Req::get("/orders/1")).await;
    anyhow::ensure!(
        warm.status == 200,
        "GET /orders/1 answered {} {} before the check started",
        warm.status,
        warm.body
    );
    let mut locker = server.connect(database).await?;
    let mut lock = locker.begin().await?;
    sqlx::raw_sql("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.context("locking orders")?;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let router = router.clone();
        tasks.push(tokio::spawn(async move {
            let exchange = send(&router, &Req::get(format!("/orders/{}", i + 1))).await;
            (exchange, started.elapsed())
        }));
    }
    let mut watcher = server.connect(database).await?;
    let mut peak = 0;
    while started.elapsed() < hold {
        let held: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2")
                .bind(database)
                .bind(SERVICE_APPLICATION)
                .fetch_one(&mut watcher)
                .await?;
        peak = peak.max(held);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lock.rollback().await?;
    let released = started.elapsed();
    let deadline = released + Duration::from_secs(5);
    let (mut statuses, mut answered) = (BTreeMap::new(), BTreeMap::new());
    let (mut fast_503, mut slowest_503, mut hung) = (0, Duration::ZERO, 0);
    for task in tasks {
        let left = deadline.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, task).await {
            Ok(Ok((exchange, took))) => {
                *statuses.entry(exchange.status).or_default() += 1;
                if exchange.status == 200 {
                    let digest = lab_support::digest::answer_digest(exchange.status, &exchange.body);
                    answered.insert(exchange.req.label(), format!("{digest:016x}"));
                }
                if exchange.status == 503 && exchange.body["error"] == "unavailable" && took < released {
                    fast_503 += 1;
                    slowest_503 = slowest_503.max(took);
                }
            }
            _ => hung += 1,
        }
    }
    let passed = hung == 0 && fast_503 > 0 && (peak as usize) < concurrency;
    Ok(PoolReport {
        concurrency,
        hold_ms: hold.as_millis() as u64,
        statuses,
        fast_503,
        slowest_503_ms: slowest_503.as_millis() as u64,
        hung,
        peak_connections: peak,
        passed,
        answered,
    })
}

/// Rows PostgreSQL read from `orders` (by sequential scans, plus index entries by index scans),
/// from its own statistics (`pg_stat_user_tables`, `pg_stat_user_indexes`).
async fn orders_rows_counter(conn: &mut PgConnection) -> anyhow::Result<i64> {
    // A fresh snapshot: statistics are otherwise frozen for the rest of a transaction.
    sqlx::raw_sql("SELECT pg_stat_clear_snapshot()").execute(&mut *conn).await?;
    let rows: i64 = sqlx::query_scalar(
        "SELECT (coalesce((SELECT seq_tup_read FROM pg_stat_user_tables WHERE relid = 'orders'::regclass), 0) \
               + coalesce((SELECT sum(idx_tup_read) FROM pg_stat_user_indexes WHERE relid = 'orders'::regclass), 0))::bigint",
    )
    .fetch_one(&mut *conn)
    .await
    .context("reading pg_stat_user_tables")?;
    Ok(rows)
}

/// Ends every session the service under test holds on `database` and waits until they are gone:
/// a backend publishes its statistics when it exits.
async fn end_service_sessions(conn: &mut PgConnection, database: &str) -> anyhow::Result<()> {
    for _ in 0..100 {
        let signalled: i64 = sqlx::query_scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = $1 AND application_name = $2",
        )
        .bind(database)
        .bind(SERVICE_APPLICATION)
        .fetch_one(&mut *conn)
        .await?;
        if signalled == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the service's sessions on {database} did not end within 5 s")
}

/// How many rows of `orders` PostgreSQL read to answer each of `reqs`: the
/// server's own count, so it shows work that never crosses the wire (the
/// rows an `OFFSET` skips). Each request gets a fresh service whose sessions
/// are ended afterwards, since a backend publishes its statistics on exit.
pub async fn orders_rows_read(
    service: &Service,
    server: &Server,
    database: &str,
    reqs: &[Req],
) -> anyhow::Result<Vec<(String, i64, u64)>> {
    let mut conn = server.connect(database).await?;
    let mut out = Vec::with_capacity(reqs.len());
    for req in reqs {
        end_service_sessions(&mut conn, database).await?;
        let before = settled_counter(&mut conn).await?;
        let router = (service.app)(server.service_options(database, None)?);
        let exchange = send(&router, req).await;
        drop(router);
        anyhow::ensure!(exchange.status == 200, "{} answered {} {}", req.label(), exchange.status, exchange.body);
        end_service_sessions(&mut conn, database).await?;
        let after = settled_counter(&mut conn).await?;
        out.push((req.label(), after - before, answer_digest(exchange.status, &exchange.body)));
    }
    Ok(out)
}

/// The counter once two reads 100 ms apart agree.
async fn settled_counter(conn: &mut PgConnection) -> anyhow::Result<i64> {
    let mut last = orders_rows_counter(conn).await?;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = orders_rows_counter(conn).await?;
        if now == last {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}

/// The pagination lesson, measured: a page 50,000 orders deep reads about as many rows as it returns.
pub fn a_deep_page_reads_only_its_own_rows(target: Service) {
    crate::contract::runtime().block_on(async {
        // Medium size: on tiny tables a full scan is the right plan, and the lesson cannot show.
        let db = scratch(&target, 9, Size::Medium).await;
        let reqs = workload::generate(Workload::Deep, 9, &db.data, 2);
        let read = orders_rows_read(&target, &db.server, &db.name, &reqs).await.expect("rows read");
        for (request, rows, _) in read {
            assert!(rows <= 2 * 51, "{request} read {rows} rows of orders to return 50 (OFFSET?)");
        }
    });
}

/// The list lesson: a page of 50 orders costs at most two queries.
pub fn a_page_of_50_orders_costs_at_most_2_queries(target: Service) {
    crate::contract::runtime().block_on(async {
        for cost in measure(&target, Workload::List, 1, 1, 4).await {
            assert_eq!(cost.status, 200, "{}", cost.request);
            assert!(cost.counts.queries <= 2, "{} ran {} queries (N+1?)", cost.request, cost.counts.queries);
        }
    });
}

/// The detail lesson: one order with its customer and lines costs at most two queries.
pub fn an_order_costs_at_most_2_queries(target: Service) {
    crate::contract::runtime().block_on(async {
        for cost in measure(&target, Workload::Detail, 2, 1, 6).await {
            assert_eq!(cost.status, 200, "{}", cost.request);
            assert!(cost.counts.queries <= 2, "{} ran {} queries", cost.request, cost.counts.queries);
        }
    });
}

/// The aggregation lesson: a report reads totals, not tables.
pub fn a_report_moves_kilobytes_not_tables(target: Service) {
    crate::contract::runtime().block_on(async {
        for cost in measure(&target, Workload::Report, 3, 1, 3).await {
            assert_eq!(cost.status, 200, "{}", cost.request);
            assert!(cost.counts.queries <= 2, "{} ran {} queries", cost.request, cost.counts.queries);
            assert!(
                cost.counts.bytes_to_client <= 16 * 1024,
                "{} moved {} bytes from the server to compute eight totals",
                cost.request,
                cost.counts.bytes_to_client
            );
        }
    });
}

/// The pool lesson, first half: connections outlive requests.
pub fn connections_are_reused_across_requests(target: Service) {
    crate::contract::runtime().block_on(async {
        let costs = measure(&target, Workload::Mixed, 4, 0, 30).await;
        let opened: u64 = costs.iter().map(|c| c.counts.connections).sum();
        assert!(opened <= 10, "30 requests opened {opened} server connections");
    });
}

/// The write lesson: a review is stored all-or-nothing, in one commit.
pub fn a_review_is_written_in_one_commit(target: Service) {
    crate::contract::runtime().block_on(async {
        for cost in measure(&target, Workload::Write, 5, 1, 4).await {
            assert_eq!(cost.status, 201, "{}", cost.request);
            assert_eq!(
                cost.counts.write_units, 1,
                "{} committed its writes in {} separate steps",
                cost.request, cost.counts.write_units
            );
        }
    });
}

/// The index lesson: the customer filter can use an index on `orders.customer_id`.
pub fn the_customer_filter_uses_an_index(target: Service) {
    crate::contract::runtime().block_on(async {
        let db = scratch(&target, 6, Size::Tiny).await;
        let mut conn = db.connect().await.expect("a lab connection");
        let verdict = explain_filter(&mut conn, 1, true).await.expect("EXPLAIN");
        assert!(
            verdict.passed,
            "no index on orders(customer_id, ...) serves the filter: {}",
            serde_json::to_string_pretty(&verdict).unwrap_or_default()
        );
    });
}

/// The pagination lesson: a keyset page can use an index on `orders.placed_at`.
pub fn the_keyset_page_uses_an_index(target: Service) {
    crate::contract::runtime().block_on(async {
        let db = scratch(&target, 7, Size::Tiny).await;
        let mut conn = db.connect().await.expect("a lab connection");
        let last = &db.data.orders[db.data.newest_first()[99]];
        let placed_at = time::OffsetDateTime::from_unix_timestamp(last.placed_at).expect("valid");
        let verdict = explain_keyset(&mut conn, placed_at, last.id, true).await.expect("EXPLAIN");
        assert!(
            verdict.passed,
            "no index on orders(placed_at, id) serves the keyset page: {}",
            serde_json::to_string_pretty(&verdict).unwrap_or_default()
        );
    });
}

/// The pool lesson, second half: when every connection is busy, callers get a quick 503, never a hang.
pub fn pool_exhaustion_answers_503_quickly(target: Service) {
    crate::contract::runtime().block_on(async {
        let db = scratch(&target, 8, Size::Tiny).await;
        let router = app(&target, &db, None);
        let report =
            pool_check(&router, &db.server, &db.name, 24, Duration::from_millis(2_500)).await.expect("pool check");
        assert!(report.passed, "{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    });
}

/// Expands to one `#[test]` per lesson check for `$target`; `ignored` marks them `#[ignore]`
/// (the starter fails them until the lab is done: `cargo test -p exercise-database -- --ignored`).
#[macro_export]
macro_rules! lesson_tests {
    ($target:expr) => {
        $crate::lesson_tests!(@tests $target, );
    };
    ($target:expr, ignored) => {
        $crate::lesson_tests!(@tests $target, #[ignore = "a lesson check: passes once the lab is done"]);
    };
    (@tests $target:expr, $(#[$attr:meta])?) => {
        #[test] $(#[$attr])?
        fn a_page_of_50_orders_costs_at_most_2_queries() {
            $crate::lessons::a_page_of_50_orders_costs_at_most_2_queries($target);
        }
        #[test] $(#[$attr])?
        fn an_order_costs_at_most_2_queries() {
            $crate::lessons::an_order_costs_at_most_2_queries($target);
        }
        #[test] $(#[$attr])?
        fn a_report_moves_kilobytes_not_tables() {
            $crate::lessons::a_report_moves_kilobytes_not_tables($target);
        }
        #[test] $(#[$attr])?
        fn connections_are_reused_across_requests() {
            $crate::lessons::connections_are_reused_across_requests($target);
        }
        #[test] $(#[$attr])?
        fn a_review_is_written_in_one_commit() {
            $crate::lessons::a_review_is_written_in_one_commit($target);
        }
        #[test] $(#[$attr])?
        fn the_customer_filter_uses_an_index() {
            $crate::lessons::the_customer_filter_uses_an_index($target);
        }
        #[test] $(#[$attr])?
        fn the_keyset_page_uses_an_index() {
            $crate::lessons::the_keyset_page_uses_an_index($target);
        }
        #[test] $(#[$attr])?
        fn a_deep_page_reads_only_its_own_rows() {
            $crate::lessons::a_deep_page_reads_only_its_own_rows($target);
        }
        #[test] $(#[$attr])?
        fn pool_exhaustion_answers_503_quickly() {
            $crate::lessons::pool_exhaustion_answers_503_quickly($target);
        }
    };
}
