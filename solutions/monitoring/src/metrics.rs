//! The service's metrics, in one registry per service, and `GET /metrics`.
//!
//! The golden signals: traffic and errors (`http_requests_total` by
//! method, route template and status), latency (`http_request_duration_seconds`)
//! and saturation (`http_requests_in_flight`, the pool's busy connections).
//! Beside them, the process's CPU and memory, the cache's hits and misses,
//! and what the business cares about: orders by outcome and revenue.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use prometheus::core::Collector;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use sqlx::PgPool;

use crate::state::AppState;

/// Latency buckets, in seconds: fine below 100 ms, where this shop lives,
/// and 0.25 s, the latency objective the alerts watch.
const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Every metric the service keeps.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub in_flight: IntGauge,
    pub pool: IntGaugeVec,
    pub cache: IntCounterVec,
    pub orders: IntCounterVec,
    pub revenue_cents: IntCounter,
    pub dependency_errors: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "Requests answered, by method, route template and status."),
            &["method", "route", "status"],
        )
        .expect("valid");
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "Time to answer a request, in seconds.")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route", "status"],
        )
        .expect("valid");
        let in_flight = IntGauge::new("http_requests_in_flight", "Requests being answered right now.").expect("valid");
        let pool = IntGaugeVec::new(Opts::new("db_pool_connections", "Database connections, by state."), &["state"])
            .expect("valid");
        let cache = IntCounterVec::new(
            Opts::new("cache_requests_total", "Product cache lookups, by result (hit, miss, error)."),
            &["result"],
        )
        .expect("valid");
        let orders = IntCounterVec::new(
            Opts::new("shop_orders_total", "Orders, by outcome (placed, declined, out_of_stock, failed)."),
            &["outcome"],
        )
        .expect("valid");
        let revenue_cents =
            IntCounter::new("shop_revenue_cents_total", "Money taken by placed orders, in cents.").expect("valid");
        let dependency_errors = IntCounterVec::new(
            Opts::new("dependency_errors_total", "Calls to a dependency that failed, by dependency."),
            &["dependency"],
        )
        .expect("valid");
        for collector in [
            Box::new(requests.clone()) as Box<dyn Collector>,
            Box::new(latency.clone()),
            Box::new(in_flight.clone()),
            Box::new(pool.clone()),
            Box::new(cache.clone()),
            Box::new(orders.clone()),
            Box::new(revenue_cents.clone()),
            Box::new(dependency_errors.clone()),
            Box::new(crate::timings::FUNCTION_DURATION.clone()),
            // CPU seconds, resident and virtual memory, open files: read from /proc at each scrape.
            Box::new(prometheus::process_collector::ProcessCollector::for_self()),
        ] {
            registry.register(collector).expect("each metric is registered once");
        }
        Metrics { registry, requests, latency, in_flight, pool, cache, orders, revenue_cents, dependency_errors }
    }

    /// The text format, with the pool's gauges read now.
    pub fn render(&self, db: &PgPool) -> String {
        let idle = db.num_idle() as i64;
        self.pool.with_label_values(&["idle"]).set(idle);
        self.pool.with_label_values(&["in_use"]).set(i64::from(db.size()) - idle);
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("the text encoder writes to memory");
        String::from_utf8(out).expect("the text format is UTF-8")
    }

    /// Requests answered, summed over the routes and statuses `keep` accepts.
    pub fn requests_where(&self, keep: impl Fn(&str, u16) -> bool) -> u64 {
        let mut total = 0;
        for metric in self.requests.collect().iter().flat_map(|family| family.get_metric()) {
            let label = |name: &str| metric.get_label().iter().find(|l| l.name() == name).map(|l| l.value());
            let status = label("status").and_then(|s| s.parse().ok()).unwrap_or(0);
            if keep(label("route").unwrap_or_default(), status) {
                total += metric.get_counter().get_value() as u64;
            }
        }
        total
    }

    /// The latency histogram's cumulative buckets (upper bound in seconds,
    /// count), summed over the routes `keep` accepts.
    pub fn latency_buckets(&self, keep: impl Fn(&str) -> bool) -> Vec<(f64, u64)> {
        let mut sums: Vec<(f64, u64)> = LATENCY_BUCKETS.iter().map(|&le| (le, 0)).collect();
        sums.push((f64::INFINITY, 0));
        for metric in self.latency.collect().iter().flat_map(|family| family.get_metric()) {
            let route = metric.get_label().iter().find(|l| l.name() == "route").map_or("", |l| l.value());
            if !keep(route) {
                continue;
            }
            let histogram = metric.get_histogram();
            for (sum, bucket) in sums.iter_mut().zip(histogram.get_bucket()) {
                sum.1 += bucket.cumulative_count();
            }
            if let Some(last) = sums.last_mut() {
                last.1 += histogram.get_sample_count();
            }
        }
        sums
    }

    /// The process's resident memory in bytes and CPU time in seconds, as
    /// the process collector reads them.
    pub fn process(&self) -> (u64, f64) {
        let (mut resident, mut cpu) = (0, 0.0);
        for family in self.registry.gather() {
            let value = family.get_metric().first().map(|m| match family.get_field_type() {
                prometheus::proto::MetricType::COUNTER => m.get_counter().get_value(),
                _ => m.get_gauge().get_value(),
            });
            match family.name() {
                "process_resident_memory_bytes" => resident = value.unwrap_or(0.0) as u64,
                "process_cpu_seconds_total" => cpu = value.unwrap_or(0.0),
                _ => {}
            }
        }
        (resident, cpu)
    }
}

/// The `q` quantile of cumulative `buckets`, in milliseconds, interpolated
/// within its bucket as Prometheus's `histogram_quantile` does.
pub fn quantile_ms(buckets: &[(f64, u64)], q: f64) -> f64 {
    let Some(&(_, total)) = buckets.last() else { return 0.0 };
    if total == 0 {
        return 0.0;
    }
    let rank = q * total as f64;
    let (mut lower, mut below) = (0.0, 0u64);
    for &(upper, count) in buckets {
        if count as f64 >= rank {
            if upper.is_infinite() {
                return lower * 1000.0;
            }
            let within = (count - below).max(1) as f64;
            return (lower + (upper - lower) * (rank - below as f64) / within) * 1000.0;
        }
        (lower, below) = (upper, count);
    }
    lower * 1000.0
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// `GET /metrics`
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], state.metrics.render(&state.db))
}
