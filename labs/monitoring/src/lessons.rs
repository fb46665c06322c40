//! The lab's lessons as checks: each runs the implementation's own driver
//! binary as a process (`serve`, logs to a file), sends it real HTTP on
//! loopback and reads what it shows from outside: its `/metrics` text, its
//! log file, its health answers, its dashboard's event stream, and what
//! the payment stub and a PostgreSQL proxy saw.
//!
//! A crate runs them with one line:
//!
//! ```ignore
//! lab_monitoring::lesson_tests!(env!("CARGO_BIN_EXE_solution-monitoring"));
//! ```
//!
//! The baseline's own tests show each of them failing on it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lab_database::proxy::{Proxy, ProxyConfig};
use lab_protocol::Listening;
use lab_support::{Req, Size};
use serde_json::Value;

use crate::data::Shop;
use crate::db::ShopDb;
use crate::payments::Running;
use crate::scrape::Scrape;
use crate::telemetry::{HEALTH_JSON, METRICS, REQUEST_ID, TRACE_ID_FIELD, TRACEPARENT, UNMATCHED_ROUTE};
use crate::workload::{self, Workload};

/// How long any one request may take before a lesson calls it hung.
const HANG: Duration = Duration::from_secs(10);

/// One implementation serving as a process of its own, on a seeded
/// database (reached through a counting proxy), a payment stub and a Redis
/// prefix of its own, logging to a file. All of it goes when this does.
pub struct Served {
    pub base: String,
    pub http: reqwest::Client,
    pub log: PathBuf,
    pub proxy: Proxy,
    pub payments: Running,
    pub shop: Shop,
    child: Child,
    _db: ShopDb,
    _dir: tempfile::TempDir,
    prefix: String,
}

impl Served {
    /// Starts `binary serve` on a fresh seeded database.
    pub async fn start(binary: &str, seed: u64) -> Served {
        let db = ShopDb::fresh(seed, Size::Tiny).await.unwrap_or_else(|err| panic!("{err:#}"));
        let proxy = Proxy::start(ProxyConfig::new(db.server.host_port())).await.expect("the proxy starts");
        let payments = Running::start(Duration::from_millis(1)).await.expect("the payment stub starts");
        let dir = tempfile::tempdir().expect("a scratch folder");
        let log = dir.path().join("service.log");
        let prefix = lab_caching::store::unique_prefix("mon");
        let mut child = Command::new(binary)
            .args(["serve", "--seed", &seed.to_string(), "--size", "tiny", "--addr", "127.0.0.1:0"])
            .args(["--database", &db.name, "--via", &proxy.host_port()])
            .args(["--payments", &payments.addr.to_string(), "--redis-prefix", &prefix])
            .arg("--log-file")
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {binary}: {err}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let line = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stdout).lines();
            lines.find_map(|line| line.ok().filter(|l| l.starts_with('{')))
        });
        let line = tokio::time::timeout(HANG, line).await.ok().and_then(Result::ok).flatten();
        let Some(listening) = line.and_then(|l| serde_json::from_str::<Listening>(&l).ok()) else {
            let _ = child.kill();
            panic!("{binary} serve printed no Listening line within {} s", HANG.as_secs());
        };
        let http = reqwest::Client::builder().timeout(HANG).no_proxy().build().expect("a client");
        let shop = Shop::generate(seed, Size::Tiny);
        Served { base: listening.listening, http, log, proxy, payments, shop, child, _db: db, _dir: dir, prefix }
    }

    /// Sends `req` with `headers`; the status, headers and body text.
    pub async fn send(&self, req: &Req, headers: &[(&str, &str)]) -> Answer {
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).expect("a method");
        let mut builder = self.http.request(method, format!("{}{}", self.base, req.uri));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if let Some(body) = &req.body {
            builder = builder.json(body);
        }
        let response = builder.send().await.unwrap_or_else(|err| panic!("{} {}: {err}", req.method, req.uri));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        Answer { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(&Req::get(path), &[]).await
    }

    /// `GET /metrics`, parsed; panics with the reason when it is missing or unreadable.
    pub async fn scrape(&self) -> (String, Scrape) {
        let answer = self.get("/metrics").await;
        assert_eq!(answer.status, 200, "GET /metrics answered {}: the service exposes no metrics", answer.status);
        let scrape = Scrape::parse(&answer.body).unwrap_or_else(|err| panic!("GET /metrics: {err}"));
        (answer.body, scrape)
    }

    /// Every line of the service's log file so far.
    pub fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log).unwrap_or_default().lines().map(str::to_string).collect()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = lab_caching::store::forget_blocking(&lab_caching::store::url(), &self.prefix);
    }
}

/// One answer, as a client saw it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

fn runtime() -> tokio::runtime::Runtime {
    crate::contract::runtime()
}

/// The route template a request of the workloads matches, as its metric label.
pub fn route_of(req: &Req) -> &'static str {
    let path = req.uri.split('?').next().unwrap_or_default();
    match (req.method.as_str(), path) {
        ("GET", p) if p.starts_with("/products/") && p.matches('/').count() == 2 => "/products/{sku}",
        ("POST", "/orders") => "/orders",
        ("GET", p) if p.starts_with("/orders/") && p.matches('/').count() == 2 => "/orders/{id}",
        _ => UNMATCHED_ROUTE,
    }
}

/// Runs `promtool check metrics` on `text` when promtool is installed; on
/// the kit's CI it must be.
pub fn promtool_accepts(text: &str) {
    use std::io::Write;
    let spawned = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: promtool is not installed (apt-get install prometheus)");
            return;
        }
        Err(err) => panic!("promtool is needed on CI: {err}"),
    };
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("writing to promtool");
    let out = child.wait_with_output().expect("promtool ran");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool check metrics refused the scrape:\n{said}");
}

type Series = BTreeMap<(String, String, String), f64>;

/// `(method, route, status)` of a sample.
fn key(sample: &crate::scrape::Sample) -> (String, String, String) {
    let label = |name: &str| sample.labels.get(name).cloned().unwrap_or_default();
    (label("method"), label("route"), label("status"))
}

/// `http_requests_total`, and the latency histogram's `+Inf` bucket and `_count`, by (method, route, status).
fn request_series(scrape: &Scrape) -> (Series, Series, Series) {
    let counters = scrape.named("http_requests_total").map(|s| (key(s), s.value)).collect();
    let inf = scrape
        .named("http_request_duration_seconds_bucket")
        .filter(|s| s.labels.get("le").is_some_and(|le| le == "+Inf"))
        .map(|s| (key(s), s.value))
        .collect();
    let counts = scrape.named("http_request_duration_seconds_count").map(|s| (key(s), s.value)).collect();
    (counters, inf, counts)
}

/// `/metrics` passes promtool, has every series the lab names, and its
/// request counter and latency histogram count exactly the traffic sent,
/// by method, route template and status.
pub fn metrics_count_the_traffic_sent(binary: &str) {
    runtime().block_on(async {
        let served = Served::start(binary, 11).await;
        let reqs = workload::requests(Workload::Mixed, 11, &served.shop, 150);
        let mut sent: Series = BTreeMap::new();
        for req in &reqs {
            let answer = served.send(req, &[]).await;
            let key = (req.method.clone(), route_of(req).to_string(), answer.status.to_string());
            *sent.entry(key).or_default() += 1.0;
        }
        let (text, scrape) = served.scrape().await;
        promtool_accepts(&text);
        for (name, kind, labels) in METRICS {
            assert_eq!(scrape.types.get(*name).map(String::as_str), Some(*kind), "/metrics: the TYPE of {name}");
            let sample_name = if *kind == "histogram" { format!("{name}_count") } else { name.to_string() };
            let sample = scrape.named(&sample_name).next();
            let sample = sample.unwrap_or_else(|| panic!("/metrics has no {sample_name} sample"));
            for label in *labels {
                assert!(sample.labels.contains_key(*label), "{name} has no {label} label: {:?}", sample.labels);
            }
        }
        let (counters, inf, counts) = request_series(&scrape);
        let business = |series: &Series| -> Series {
            series.iter().filter(|((_, route, _), _)| route != "/metrics").map(|(k, v)| (k.clone(), *v)).collect()
        };
        assert_eq!(business(&counters), sent, "http_requests_total by (method, route, status) against what was sent");
        assert_eq!(business(&inf), sent, "the latency histogram's +Inf bucket against what was sent");
        assert_eq!(business(&counts), sent, "the latency histogram's _count against what was sent");
    });
}

/// After 600 requests to paths that are all different, with a different
/// request id each, the request metrics hold no more series than before:
/// labels are route templates, not paths or ids.
pub fn labels_stay_bounded(binary: &str) {
    runtime().block_on(async {
        let served = Served::start(binary, 12).await;
        let scatter = workload::requests(Workload::Scatter, 12, &served.shop, 600);
        for req in &scatter[..30] {
            served.send(req, &[]).await;
        }
        // Series of the request metrics but the scrapes' own: the first scrape adds /metrics's.
        let series = |scrape: &Scrape| -> Vec<String> {
            scrape
                .samples
                .iter()
                .filter(|s| s.name.starts_with("http_request") && s.labels.get("route").is_none_or(|r| r != "/metrics"))
                .map(|s| format!("{}{:?}", s.name, s.labels))
                .collect()
        };
        let (_, before) = served.scrape().await;
        for (n, req) in scatter[30..].iter().enumerate() {
            served.send(req, &[(REQUEST_ID, &format!("scatter-{n}"))]).await;
        }
        let (_, after) = served.scrape().await;
        let (before, after) = (series(&before), series(&after));
        let grew: Vec<&String> = after.iter().filter(|s| !before.contains(s)).take(5).collect();
        assert!(
            grew.is_empty(),
            "{} request series before 570 requests to distinct paths, {} after; new ones: {grew:?}",
            before.len(),
            after.len()
        );
    });
}

/// The fields of a log line: its own, then its span's (the last found wins nothing: the first does).
pub fn log_field<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line.get(name)
        .or_else(|| line.get("fields").and_then(|f| f.get(name)))
        .or_else(|| line.get("span").and_then(|s| s.get(name)))
        .or_else(|| {
            line.get("spans").and_then(Value::as_array).and_then(|spans| spans.iter().find_map(|s| s.get(name)))
        })
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every log line is a JSON object; each request ends with one line that
/// holds its request id (the one on its answer), method, route, status and
/// latency; an inbound `x-request-id` is kept.
pub fn every_request_logs_one_json_line_with_its_context(binary: &str) {
    runtime().block_on(async {
        let served = Served::start(binary, 13).await;
        let reqs = workload::requests(Workload::Mixed, 13, &served.shop, 40);
        let mut answered = Vec::new();
        for (n, req) in reqs.iter().enumerate() {
            let inbound = format!("caller-{n}");
            let headers: Vec<(&str, &str)> = if n % 2 == 0 { vec![(REQUEST_ID, &inbound)] } else { vec![] };
            let answer = served.send(req, &headers).await;
            let id = answer.header(REQUEST_ID).map(str::to_string);
            let id = id.unwrap_or_else(|| panic!("{} {} answered with no {REQUEST_ID} header", req.method, req.uri));
            if n % 2 == 0 {
                assert_eq!(id, inbound, "the caller's {REQUEST_ID} was not kept");
            }
            answered.push((req, answer.status, id));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let lines = served.log_lines();
        let parsed: Vec<Value> = lines
            .iter()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("a log line that is not JSON: {line}")))
            .collect();
        for (req, status, id) in answered {
            let ends: Vec<&Value> = parsed
                .iter()
                .filter(|line| log_field(line, "request_id").map(as_text).as_deref() == Some(&id))
                .filter(|line| log_field(line, "status").is_some())
                .collect();
            assert_eq!(
                ends.len(),
                1,
                "{} {}: {} log lines with request_id {id} and a status",
                req.method,
                req.uri,
                ends.len()
            );
            let line = ends[0];
            for field in crate::telemetry::LOG_FIELDS {
                assert!(
                    log_field(line, field).is_some(),
                    "the line ending {} {} has no {field}: {line}",
                    req.method,
                    req.uri
                );
            }
            assert_eq!(log_field(line, "status").map(as_text), Some(status.to_string()), "{line}");
            assert_eq!(log_field(line, "route").map(as_text).as_deref(), Some(route_of(req)), "{line}");
        }
    });
}

/// A caller's `traceparent` puts its trace id on the request's log lines
/// and travels on to the payment provider, with a span id of the call's own.
pub fn a_traceparent_reaches_the_logs_and_the_payment_provider(binary: &str) {
    runtime().block_on(async {
        let served = Served::start(binary, 14).await;
        let product = served.shop.products.iter().find(|p| p.stock >= 3).expect("a product in stock");
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let inbound = format!("00-{trace}-00f067aa0ba902b7-01");
        let order =
            Req::post("/orders", serde_json::json!({"sku": product.sku, "quantity": 1, "card": workload::GOOD_CARD}));
        let answer = served.send(&order, &[(TRACEPARENT, &inbound)]).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let lines: Vec<Value> = served.log_lines().iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
        let traced =
            lines.iter().filter(|l| log_field(l, TRACE_ID_FIELD).map(as_text).as_deref() == Some(trace)).count();
        assert!(traced > 0, "no log line carries {TRACE_ID_FIELD} {trace} from the caller's traceparent");
        let calls = served.payments.client.calls().await.expect("the stub's calls");
        let sent = calls.traceparents.last().cloned().flatten();
        let sent = sent.unwrap_or_else(|| panic!("the charge reached the payment provider with no {TRACEPARENT}"));
        let parts: Vec<&str> = sent.split('-').collect();
        assert!(parts.len() == 4 && parts[1] == trace, "the provider got {sent:?}, not trace {trace}");
        assert_ne!(parts[2], "00f067aa0ba902b7", "the outgoing call reuses the caller's span id instead of its own");
    });
}

/// `/health/live` and `/health/ready` answer `application/health+json`;
/// with the database gone, readiness answers 503 within 1 s while
/// liveness stays 200; back again, readiness passes.
pub fn readiness_fails_fast_without_the_database(binary: &str) {
    runtime().block_on(async {
        let served = Served::start(binary, 15).await;
        for path in ["/health/live", "/health/ready"] {
            let answer = served.get(path).await;
            assert_eq!(answer.status, 200, "GET {path} with every dependency up: {}", answer.body);
            assert_eq!(answer.header("content-type"), Some(HEALTH_JSON), "GET {path}");
            let report: crate::telemetry::HealthReport =
                serde_json::from_str(&answer.body).unwrap_or_else(|err| panic!("GET {path}: {err}: {}", answer.body));
            assert_eq!(report.status, "pass", "GET {path}: {}", answer.body);
        }
        served.proxy.set_down(true);
        served.proxy.sever();
        let cut = Instant::now();
        let mut failed = None;
        while cut.elapsed() < Duration::from_secs(4) {
            let asked = Instant::now();
            let answer = served.get("/health/ready").await;
            let took = asked.elapsed();
            assert!(took < Duration::from_secs(1), "GET /health/ready took {took:?} with the database gone");
            if answer.status == 503 {
                failed = Some(answer);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let failed = failed.expect("readiness never answered 503 within 4 s of the database going away");
        assert!(failed.body.contains("\"fail\""), "a 503 readiness answer says fail: {}", failed.body);
        assert_eq!(served.get("/health/live").await.status, 200, "liveness must not depend on the database");
        served.proxy.set_down(false);
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        assert_eq!(served.get("/health/ready").await.status, 200, "readiness after the database came back");
    });
}

/// Two readiness calls in a row cost the database one check: the answer
/// is cached for a short time (and only a short time).
pub fn readiness_is_cached_briefly(binary: &str) {
    runtime().block_on(async {
        let served = Served::start(binary, 16).await;
        let queries = || served.proxy.counts().queries;
        assert_eq!(served.get("/health/ready").await.status, 200);
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let before = queries();
        assert_eq!(served.get("/health/ready").await.status, 200);
        let first = queries() - before;
        assert_eq!(served.get("/health/ready").await.status, 200);
        let second = queries() - before - first;
        assert!(first > 0, "a readiness check that sends the database nothing checks nothing");
        assert_eq!(second, 0, "a second readiness call right after the first cost {second} more queries");
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let before = queries();
        assert_eq!(served.get("/health/ready").await.status, 200);
        assert!(queries() > before, "2.5 s later readiness is still cached: it would miss an outage");
    });
}

/// `/dashboard` is a page that listens to `/dashboard/events`, whose
/// snapshots count the traffic sent.
pub fn the_dashboard_streams_live_numbers(binary: &str) {
    runtime().block_on(async {
        let served = Served::start(binary, 17).await;
        let page = served.get("/dashboard").await;
        assert_eq!(page.status, 200, "GET /dashboard: {}", page.body);
        assert!(page.header("content-type").is_some_and(|t| t.starts_with("text/html")), "GET /dashboard is not HTML");
        assert!(page.body.contains("/dashboard/events"), "the page does not listen to /dashboard/events");
        let reqs = workload::requests(Workload::Browse, 17, &served.shop, 30);
        for req in &reqs {
            served.send(req, &[]).await;
        }
        let mut events =
            served.http.get(format!("{}/dashboard/events", served.base)).send().await.expect("GET /dashboard/events");
        assert_eq!(events.status(), 200, "GET /dashboard/events");
        let mut buffer = String::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        let snapshot = loop {
            let chunk = tokio::time::timeout_at(deadline.into(), events.chunk()).await;
            let Ok(Ok(Some(chunk))) = chunk else { panic!("no snapshot on /dashboard/events within 5 s") };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(data) = buffer.lines().find_map(|line| line.strip_prefix("data:")) {
                break serde_json::from_str::<crate::telemetry::DashboardSnapshot>(data.trim())
                    .unwrap_or_else(|err| panic!("a snapshot the lab cannot read ({err}): {data}"));
            }
        };
        assert_eq!(snapshot.requests, 30, "the dashboard's request count after 30 product reads");
        assert_eq!(snapshot.errors, 0);
        assert!(snapshot.resident_bytes > 0 && snapshot.p95_ms > 0.0, "{snapshot:?}");
    });
}

/// Runs the lab's lesson checks against the driver binary `$binary`.
#[macro_export]
macro_rules! lesson_tests {
    ($binary:expr) => {
        $crate::lesson_tests!(@tests $binary, );
    };
    ($binary:expr, ignored) => {
        $crate::lesson_tests!(@tests $binary, #[ignore = "a lesson check: passes once the lab is done"]);
    };
    (@tests $binary:expr, $(#[$attr:meta])?) => {
        #[test] $(#[$attr])?
        fn metrics_count_the_traffic_sent() {
            $crate::lessons::metrics_count_the_traffic_sent($binary);
        }
        #[test] $(#[$attr])?
        fn labels_stay_bounded() {
            $crate::lessons::labels_stay_bounded($binary);
        }
        #[test] $(#[$attr])?
        fn every_request_logs_one_json_line_with_its_context() {
            $crate::lessons::every_request_logs_one_json_line_with_its_context($binary);
        }
        #[test] $(#[$attr])?
        fn a_traceparent_reaches_the_logs_and_the_payment_provider() {
            $crate::lessons::a_traceparent_reaches_the_logs_and_the_payment_provider($binary);
        }
        #[test] $(#[$attr])?
        fn readiness_fails_fast_without_the_database() {
            $crate::lessons::readiness_fails_fast_without_the_database($binary);
        }
        #[test] $(#[$attr])?
        fn readiness_is_cached_briefly() {
            $crate::lessons::readiness_is_cached_briefly($binary);
        }
        #[test] $(#[$attr])?
        fn the_dashboard_streams_live_numbers() {
            $crate::lessons::the_dashboard_streams_live_numbers($binary);
        }
    };
}
