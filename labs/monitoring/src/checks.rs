//! The lab's checks of a served instance, read from outside it: one
//! implementation, used by the lesson tests (which panic on a failure) and
//! by the grader through the `monitoring-probe` binary (which prints a
//! [`CheckReport`]).
//!
//! Every check sends its own traffic and judges what the service shows of
//! it: the `/metrics` text against the requests sent, the log file against
//! the answers, the request ids and `traceparent` the payment stub
//! received, readiness while the database's proxy holds every message,
//! and the dashboard's event stream. Counts are compared as differences
//! between two readings, so the checks work on an instance that has
//! already served traffic.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lab_protocol::{CheckReport, ProxyCounts};
use lab_support::Req;
use serde_json::Value;

use crate::data::Shop;
use crate::payments::{self, Address};
use crate::scrape::{Sample, Scrape};
use crate::telemetry::{
    DashboardSnapshot, HEALTH_JSON, HealthReport, LOG_FIELDS, METRICS, REQUEST_ID, TRACE_ID_FIELD, TRACEPARENT,
    UNMATCHED_ROUTE,
};
use crate::workload::{self, GOOD_CARD, Workload};

/// How long any one request may take before a check calls it hung.
pub const HANG: Duration = Duration::from_secs(10);

/// The checks, by the id the rubric and `monitoring-probe` use.
pub const CHECKS: [&str; 5] = ["metrics", "logs", "request_ids", "health", "dashboard"];

/// An HTTP service a check talks to: over TCP or a Unix socket.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub http: reqwest::Client,
    pub base: String,
}

impl Endpoint {
    pub fn new(address: &Address) -> Endpoint {
        let builder = reqwest::Client::builder().timeout(HANG).no_proxy();
        let (builder, base) = match address {
            Address::Tcp(addr) => (builder, format!("http://{addr}")),
            Address::Unix(path) => (builder.unix_socket(path.clone()), "http://service".to_string()),
        };
        Endpoint { http: builder.build().expect("a client with no TLS always builds"), base }
    }

    /// Sends `req` with `headers`; the answer, or why there was none.
    pub async fn send(&self, req: &Req, headers: &[(&str, &str)]) -> Result<Answer, String> {
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut builder = self.http.request(method, format!("{}{}", self.base, req.uri));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if let Some(body) = &req.body {
            builder = builder.header("content-type", "application/json").body(body.to_string());
        }
        let response = builder.send().await.map_err(|err| format!("{} got no answer: {err}", req.label()))?;
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let body = response.text().await.map_err(|err| format!("{} answered no whole body: {err}", req.label()))?;
        Ok(Answer { status, headers, body })
    }

    pub async fn get(&self, path: &str) -> Result<Answer, String> {
        self.send(&Req::get(path), &[]).await
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

/// What a check needs of one served instance.
#[derive(Clone, Debug)]
pub struct Probe {
    /// The service.
    pub service: Endpoint,
    /// The file its log lines go to.
    pub log: PathBuf,
    /// The payment stub it charges at.
    pub payments: payments::Client,
    /// The control API of the PostgreSQL proxy in front of its database.
    pub database: Endpoint,
    /// The data it was seeded with, and the seed.
    pub shop: Shop,
    pub seed: u64,
    /// The kit's root (for the shipped Alertmanager configuration the
    /// Prometheus stack reads).
    pub kit: PathBuf,
}

impl Probe {
    async fn queries(&self) -> anyhow::Result<u64> {
        let answer = self.database.get("/counts").await.map_err(anyhow::Error::msg)?;
        let counts: ProxyCounts = serde_json::from_str(&answer.body)?;
        Ok(counts.queries)
    }

    async fn hang_database(&self, hung: bool) -> anyhow::Result<()> {
        let url = format!("{}/hung", self.database.base);
        self.database.http.put(url).json(&hung).send().await?.error_for_status()?;
        Ok(())
    }

    fn log_lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log).unwrap_or_default().lines().map(str::to_string).collect()
    }
}

/// Runs check `id` (one of [`CHECKS`]); an error is the kit's, not the target's.
pub async fn run(id: &str, probe: &Probe) -> anyhow::Result<CheckReport> {
    let mut report = CheckReport { check: id.to_string(), ..CheckReport::default() };
    let outcome = match id {
        "metrics" => metrics(probe, &mut report.notes).await,
        "logs" => logs(probe).await,
        "request_ids" => request_ids(probe).await,
        "health" => health(probe).await?,
        "dashboard" => dashboard(probe).await,
        other => anyhow::bail!("no check named {other:?} (checks: {})", CHECKS.join(", ")),
    };
    report.failures = match outcome {
        Ok(failures) => failures,
        Err(stop) => vec![stop],
    };
    Ok(report)
}

/// A check's failures, or the one failure that stopped it early.
type Found = Result<Vec<String>, String>;

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

fn nonce() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

// ---------------------------------------------------------------------------
// metrics

type Series = BTreeMap<(String, String, String), f64>;

fn key(sample: &Sample) -> (String, String, String) {
    let label = |name: &str| sample.labels.get(name).cloned().unwrap_or_default();
    (label("method"), label("route"), label("status"))
}

/// A request series, but for the scrapes' own route.
fn business(sample: &Sample) -> bool {
    sample.labels.get("route").is_none_or(|route| route != "/metrics")
}

fn series(scrape: &Scrape, name: &str, keep: impl Fn(&Sample) -> bool) -> Series {
    let mut out = Series::new();
    for sample in scrape.named(name).filter(|s| business(s) && keep(s)) {
        *out.entry(key(sample)).or_default() += sample.value;
    }
    out
}

fn delta(after: &Series, before: &Series) -> Series {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v != 0.0)
        .collect()
}

fn show(series: &Series) -> String {
    let items: Vec<String> = series.iter().map(|((m, r, s), v)| format!("{m} {r} {s}: {v}")).collect();
    items.join(", ")
}

async fn scrape(probe: &Probe) -> Result<(String, Scrape), String> {
    let answer = probe.service.get("/metrics").await?;
    if answer.status != 200 {
        return Err(format!("GET /metrics answered {}: the service exposes no metrics", answer.status));
    }
    let scrape = Scrape::parse(&answer.body).map_err(|err| format!("GET /metrics: {err}"))?;
    Ok((answer.body, scrape))
}

/// `/metrics` passes `promtool check metrics`, has every series the lab
/// names with its type and labels, counts exactly the traffic sent by
/// method, route template and status (counter, histogram `+Inf` bucket and
/// `_count` alike), holds no new series after 1,000 requests to distinct
/// paths with distinct request ids, and a real Prometheus server scraping
/// it answers the request rate through its query API.
pub async fn metrics(probe: &Probe, notes: &mut Vec<String>) -> Found {
    let mut failures = Vec::new();
    let (_, before) = scrape(probe).await?;
    let reqs = workload::requests(Workload::Mixed, probe.seed, &probe.shop, 150);
    let mut sent = Series::new();
    for req in &reqs {
        let answer = probe.service.send(req, &[]).await?;
        *sent.entry((req.method.clone(), route_of(req).to_string(), answer.status.to_string())).or_default() += 1.0;
    }
    let (text, after) = scrape(probe).await?;
    match promtool(&["check", "metrics"], Some(&text)) {
        Tool::Missing(line) => notes.push(line),
        Tool::Ran(false, said) => {
            failures.push(format!("promtool check metrics refused the scrape: {}", one_line(&said)))
        }
        Tool::Ran(true, _) => notes.push("promtool check metrics accepted the scrape".into()),
    }
    for (name, kind, labels) in METRICS {
        if after.types.get(*name).map(String::as_str) != Some(*kind) {
            failures.push(format!("/metrics has no {name} of TYPE {kind}"));
            continue;
        }
        let sample_name = if *kind == "histogram" { format!("{name}_count") } else { name.to_string() };
        match after.named(&sample_name).next() {
            None => failures.push(format!("/metrics has no {sample_name} sample")),
            Some(sample) => {
                for label in labels.iter().filter(|label| !sample.labels.contains_key(**label)) {
                    failures.push(format!("{name} has no {label} label"));
                }
            }
        }
    }
    let inf = |s: &Sample| s.labels.get("le").is_some_and(|le| le == "+Inf");
    let all = |_: &Sample| true;
    for (what, name, keep) in [
        ("http_requests_total", "http_requests_total", &all as &dyn Fn(&Sample) -> bool),
        ("the latency histogram's +Inf bucket", "http_request_duration_seconds_bucket", &inf),
        ("the latency histogram's _count", "http_request_duration_seconds_count", &all),
    ] {
        let counted = delta(&series(&after, name, keep), &series(&before, name, keep));
        if counted != sent {
            failures.push(format!(
                "{what} counted {} for {} requests sent as {}",
                show(&counted),
                reqs.len(),
                show(&sent)
            ));
        }
    }
    failures.extend(bounded_labels(probe).await?);
    match crate::stack::installed() {
        Err(line) => notes.push(format!("skipped the Prometheus scrape: {line}")),
        Ok(()) => match prometheus_sees_the_rate(probe, notes).await {
            Ok(found) => failures.extend(found?),
            Err(err) => return Err(format!("the kit's Prometheus stack failed: {err:#}")),
        },
    }
    Ok(failures)
}

/// A real Prometheus scrapes `/metrics` (through a relay on loopback: the
/// service may listen on a Unix socket) while product reads are sent, and
/// its query API must show their rate.
async fn prometheus_sees_the_rate(probe: &Probe, notes: &mut Vec<String>) -> anyhow::Result<Found> {
    let service = probe.service.clone();
    let relay = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let service = service.clone();
            async move {
                match service.get("/metrics").await {
                    Ok(answer) => (
                        axum::http::StatusCode::from_u16(answer.status).unwrap_or(axum::http::StatusCode::BAD_GATEWAY),
                        [("content-type", answer.header("content-type").unwrap_or("text/plain").to_string())],
                        answer.body,
                    ),
                    Err(err) => (axum::http::StatusCode::BAD_GATEWAY, [("content-type", "text/plain".into())], err),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let scrape = listener.local_addr()?.to_string();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, relay).await;
    });
    let config = crate::stack::StackConfig { kit: probe.kit.clone(), rules: None, scrape, shorten_for: false };
    let outcome = async {
        let stack = crate::stack::Stack::start(config).await?;
        if let Err(err) = stack.wait_for_scrape(Duration::from_secs(20)).await {
            return Ok(Err(format!("a real Prometheus could not scrape /metrics: {err:#}")));
        }
        let query = r#"sum(rate(http_requests_total{route="/products/{sku}"}[1m]))"#;
        let reads = workload::requests(Workload::Browse, probe.seed ^ 4, &probe.shop, 200);
        let deadline = Instant::now() + Duration::from_secs(20);
        for req in reads.iter().cycle() {
            if let Err(stop) = probe.service.send(req, &[]).await {
                return Ok(Err(stop));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            if Instant::now() >= deadline {
                break;
            }
            let rate = stack.query(query).await?.first().map_or(0.0, |(_, rate)| *rate);
            if rate > 0.0 {
                notes.push(format!(
                    "a real Prometheus scraped /metrics; its query API gave {rate:.1} product reads a second"
                ));
                return Ok(Ok(Vec::new()));
            }
        }
        Ok(Ok(vec![format!(
            "a real Prometheus scraped /metrics, but `{query}` stayed 0 while product reads were sent for 20 s"
        )]))
    }
    .await;
    task.abort();
    outcome
}

/// No new request series after 1,000 requests to distinct paths, each with a request id of its own.
async fn bounded_labels(probe: &Probe) -> Found {
    let scatter = workload::requests(Workload::Scatter, probe.seed, &probe.shop, 1_030);
    for req in &scatter[..30] {
        probe.service.send(req, &[]).await?;
    }
    let names = |scrape: &Scrape| -> BTreeSet<String> {
        scrape
            .samples
            .iter()
            .filter(|s| s.name.starts_with("http_request") && business(s))
            .map(|s| format!("{}{:?}", s.name, s.labels))
            .collect()
    };
    let before = names(&scrape(probe).await?.1);
    let tag = nonce();
    for (n, req) in scatter[30..].iter().enumerate() {
        probe.service.send(req, &[(REQUEST_ID, &format!("scatter-{tag}-{n}"))]).await?;
    }
    let after = names(&scrape(probe).await?.1);
    let grew: Vec<&String> = after.difference(&before).take(3).collect();
    Ok(match grew.is_empty() {
        true => vec![],
        false => vec![format!(
            "{} request series before 1,000 requests to distinct paths, {} after (labels must be route templates, \
             not paths or ids); new: {grew:?}",
            before.len(),
            after.len()
        )],
    })
}

// ---------------------------------------------------------------------------
// logs

/// A field of a log line: its own, under `fields`, or in its span(s).
pub fn log_field<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line.get(name)
        .or_else(|| line.get("fields").and_then(|f| f.get(name)))
        .or_else(|| line.get("span").and_then(|s| s.get(name)))
        .or_else(|| {
            line.get("spans").and_then(Value::as_array).and_then(|spans| spans.iter().rev().find_map(|s| s.get(name)))
        })
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Every log line is one JSON object; every request ends with exactly one
/// line that holds its request id, method, route template, status and
/// latency; a caller's `x-request-id` is the id logged, and so is the id
/// the answer carries; a caller's `traceparent` puts its trace id on the
/// request's lines; ids the service makes are all different.
pub async fn logs(probe: &Probe) -> Found {
    let tag = nonce();
    let first_line = probe.log_lines().len();
    let reqs = workload::requests(Workload::Mixed, probe.seed ^ 1, &probe.shop, 40);
    let mut sent = Vec::new();
    for (n, req) in reqs.iter().enumerate() {
        let inbound = (n % 2 == 0).then(|| format!("logs-{tag}-{n}"));
        let trace = (n % 4 == 0).then(|| format!("{:016x}{:016x}", tag, n + 1));
        let traceparent = trace.as_ref().map(|t| format!("00-{t}-00f067aa0ba902b7-01"));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(id) = &inbound {
            headers.push((REQUEST_ID, id));
        }
        if let Some(tp) = &traceparent {
            headers.push((TRACEPARENT, tp));
        }
        let answer = probe.service.send(req, &headers).await?;
        sent.push((req, inbound, trace, answer.status, answer.header(REQUEST_ID).map(str::to_string)));
    }
    // Lines are written as requests end; give the last one a moment to land.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines = probe.log_lines();
    if lines.len() <= first_line {
        return Err(format!("the service wrote no log line for {} requests to its log file", reqs.len()));
    }
    let mut failures = Vec::new();
    let mut parsed = Vec::new();
    for line in &lines[first_line..] {
        match serde_json::from_str::<Value>(line) {
            Ok(value) if value.is_object() => parsed.push(value),
            _ => {
                failures.push(format!("a log line is not a JSON object: {}", clip(line)));
                break;
            }
        }
    }
    let endings: Vec<&Value> =
        parsed.iter().filter(|l| log_field(l, "request_id").is_some() && log_field(l, "status").is_some()).collect();
    let ids: Vec<String> = endings.iter().filter_map(|l| log_field(l, "request_id")).map(as_text).collect();
    let distinct: BTreeSet<&String> = ids.iter().collect();
    if distinct.len() != ids.len() {
        failures.push(format!("{} request-ending lines share {} request ids between them", ids.len(), distinct.len()));
    }
    if endings.len() != reqs.len() {
        failures.push(format!(
            "{} requests, {} log lines with a request_id and a status (one line must end each request)",
            reqs.len(),
            endings.len()
        ));
    }
    for (req, inbound, trace, status, echoed) in &sent {
        let Some(id) = inbound.as_ref().or(echoed.as_ref()) else { continue };
        let mine: Vec<&&Value> =
            endings.iter().filter(|l| log_field(l, "request_id").map(as_text).as_deref() == Some(id)).collect();
        let [line] = mine[..] else {
            let whose = if inbound.is_some() { "the caller's x-request-id" } else { "the id on its answer" };
            failures.push(format!("{}: {} log lines end it with {whose} {id}", req.label(), mine.len()));
            continue;
        };
        for field in LOG_FIELDS.iter().filter(|f| log_field(line, f).is_none()) {
            failures.push(format!(
                "{}: the line that ends it has no {field}: {}",
                req.label(),
                clip(&line.to_string())
            ));
        }
        if log_field(line, "status").map(as_text) != Some(status.to_string()) {
            failures.push(format!("{}: logged a status other than the {status} answered", req.label()));
        }
        if log_field(line, "route").map(as_text).as_deref() != Some(route_of(req)) {
            failures.push(format!("{}: logged a route other than {}", req.label(), route_of(req)));
        }
        if let Some(trace) = trace
            && log_field(line, TRACE_ID_FIELD).map(as_text).as_deref() != Some(trace.as_str())
        {
            failures.push(format!(
                "{}: the caller's traceparent's trace id {trace} is not its {TRACE_ID_FIELD}",
                req.label()
            ));
        }
        if let (Some(inbound), Some(echoed)) = (inbound, echoed)
            && inbound != echoed
        {
            failures.push(format!("{}: logged {inbound} but answered {REQUEST_ID} {echoed}", req.label()));
        }
    }
    failures.truncate(12);
    Ok(failures)
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(160) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

fn one_line(text: &str) -> String {
    clip(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}

// ---------------------------------------------------------------------------
// request ids and trace context

fn usable_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Every answer carries an `x-request-id`: the caller's when it sent a
/// usable one (1 to 128 visible ASCII characters), else a new one, never
/// the same twice; a caller's `traceparent` reaches the payment provider
/// with the same trace id and a span id of the call's own.
pub async fn request_ids(probe: &Probe) -> Found {
    let mut failures = Vec::new();
    let tag = nonce();
    let reqs = workload::requests(Workload::Browse, probe.seed ^ 2, &probe.shop, 20);
    let mut made = BTreeSet::new();
    for req in &reqs {
        let answer = probe.service.send(req, &[]).await?;
        match answer.header(REQUEST_ID) {
            None => return Err(format!("{} answered with no {REQUEST_ID} header", req.label())),
            Some(id) if !usable_id(id) => {
                failures.push(format!("{} answered the unusable {REQUEST_ID} {id:?}", req.label()))
            }
            Some(id) => drop(made.insert(id.to_string())),
        }
    }
    if made.len() < reqs.len() && failures.is_empty() {
        failures.push(format!("{} requests were given {} distinct ids", reqs.len(), made.len()));
    }
    for (n, req) in reqs.iter().take(5).enumerate() {
        let id = format!("caller-{tag}-{n}");
        let answer = probe.service.send(req, &[(REQUEST_ID, &id)]).await?;
        if answer.header(REQUEST_ID) != Some(id.as_str()) {
            failures.push(format!("the caller's {REQUEST_ID} {id} came back as {:?}", answer.header(REQUEST_ID)));
        }
    }
    for bad in ["x".repeat(200), "has spaces in it".to_string()] {
        let answer = probe.service.send(&reqs[0], &[(REQUEST_ID, &bad)]).await?;
        match answer.header(REQUEST_ID) {
            Some(id) if id != bad && usable_id(id) => {}
            other => failures
                .push(format!("an unusable caller id ({} chars) came back as {other:?}, not replaced", bad.len())),
        }
    }
    let product =
        probe.shop.products.iter().filter(|p| p.stock >= 5).nth(1).ok_or("the shop has no product in stock")?;
    let trace = format!("{tag:016x}{:016x}", tag.rotate_left(17) | 1);
    let inbound = format!("00-{trace}-00f067aa0ba902b7-01");
    let order = Req::post("/orders", serde_json::json!({"sku": product.sku, "quantity": 1, "card": GOOD_CARD}));
    let answer = probe.service.send(&order, &[(TRACEPARENT, &inbound)]).await?;
    if answer.status != 201 {
        return Err(format!("an order with a traceparent answered {}: {}", answer.status, clip(&answer.body)));
    }
    let calls = probe.payments.calls().await.map_err(|err| format!("reading the payment stub: {err:#}"))?;
    match calls.traceparents.last().cloned().flatten() {
        None => failures.push(format!("the charge reached the payment provider with no {TRACEPARENT}")),
        Some(sent) => {
            let parts: Vec<&str> = sent.split('-').collect();
            if parts.len() != 4 || parts[0] != "00" || parts[1] != trace {
                failures.push(format!("the provider got {TRACEPARENT} {sent:?}, not trace {trace}"));
            } else if parts[2] == "00f067aa0ba902b7" || parts[2].len() != 16 {
                failures.push(format!("the provider got span id {:?}: the call needs a span id of its own", parts[2]));
            }
        }
    }
    Ok(failures)
}

// ---------------------------------------------------------------------------
// health

/// The longest a health answer may take, database or not.
pub const HEALTH_BOUND: Duration = Duration::from_secs(1);

async fn health_report(probe: &Probe, path: &str) -> Result<(u16, Duration, Option<HealthReport>, String), String> {
    let asked = Instant::now();
    let answer = match tokio::time::timeout(2 * HEALTH_BOUND, probe.service.get(path)).await {
        Ok(answer) => answer?,
        Err(_) => return Err(format!("GET {path} hung for {} s", (2 * HEALTH_BOUND).as_secs())),
    };
    let took = asked.elapsed();
    let report = serde_json::from_str::<HealthReport>(&answer.body).ok();
    let shape = match (answer.header("content-type"), &report) {
        (Some(HEALTH_JSON), Some(_)) => String::new(),
        (kind, _) => format!("GET {path} answered {kind:?} {}, not an {HEALTH_JSON} report", clip(&answer.body)),
    };
    Ok((answer.status, took, report, shape))
}

/// Liveness and readiness in `application/health+json`; with the database
/// cut off (its proxy holds every message), readiness says `fail` with a
/// 503 within 1 s a call and within 3 s of the cut while liveness stays a
/// quick 200; a readiness answer is reused for a moment (a second call at
/// once costs the database nothing) but not for long (2.5 s later it asks
/// again); with the database back, readiness passes again.
pub async fn health(probe: &Probe) -> anyhow::Result<Found> {
    let mut failures = Vec::new();
    for path in ["/health/live", "/health/ready"] {
        let (status, _, report, shape) = match health_report(probe, path).await {
            Ok(read) => read,
            Err(stop) => return Ok(Err(stop)),
        };
        if status != 200 || !shape.is_empty() {
            return Ok(Err(format!("GET {path} with every dependency up answered {status}. {shape}")));
        }
        if report.is_some_and(|r| r.status != "pass") {
            failures.push(format!("GET {path} with every dependency up did not say pass"));
        }
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let q0 = probe.queries().await?;
    let first = health_report(probe, "/health/ready").await;
    let q1 = probe.queries().await?;
    let second = health_report(probe, "/health/ready").await;
    let q2 = probe.queries().await?;
    if let Err(stop) = first.and(second) {
        return Ok(Err(stop));
    }
    if q1 == q0 {
        failures.push("a readiness check sent the database nothing: it checks nothing".into());
    }
    if q2 > q1 {
        failures.push(format!(
            "a second readiness call at once cost the database {} more queries (cache it briefly)",
            q2 - q1
        ));
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let q3 = probe.queries().await?;
    if let Err(stop) = health_report(probe, "/health/ready").await {
        return Ok(Err(stop));
    }
    if probe.queries().await? == q3 {
        failures.push("2.5 s later readiness was still answered from its cache: it would miss an outage".into());
    }

    probe.hang_database(true).await?;
    let cut = Instant::now();
    let outcome = async {
        let mut failed = false;
        while cut.elapsed() < Duration::from_secs(3) {
            let (status, took, report, _) = health_report(probe, "/health/ready").await?;
            if took > HEALTH_BOUND {
                return Err(format!("GET /health/ready took {} ms with the database cut off", took.as_millis()));
            }
            if status == 503 {
                if report.is_none_or(|r| r.status != "fail") {
                    failures.push("a 503 readiness answer did not say fail".into());
                }
                failed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !failed {
            failures.push("readiness did not answer 503 within 3 s of the database being cut off".into());
        }
        let (status, took, _, _) = health_report(probe, "/health/live").await?;
        if status != 200 || took > HEALTH_BOUND {
            failures.push(format!(
                "with the database cut off, liveness answered {status} in {} ms (it must not touch the database)",
                took.as_millis()
            ));
        }
        Ok(())
    }
    .await;
    probe.hang_database(false).await?;
    if let Err(stop) = outcome {
        return Ok(Err(stop));
    }
    let back = Instant::now();
    loop {
        match health_report(probe, "/health/ready").await {
            Ok((200, ..)) => break,
            Ok(_) if back.elapsed() < Duration::from_secs(5) => tokio::time::sleep(Duration::from_millis(200)).await,
            Ok((status, ..)) => {
                failures.push(format!("readiness still answered {status} 5 s after the database came back"));
                break;
            }
            Err(stop) => return Ok(Err(stop)),
        }
    }
    Ok(Ok(failures))
}

// ---------------------------------------------------------------------------
// dashboard

/// The next `data:` line of an event stream, parsed.
async fn next_snapshot(
    stream: &mut reqwest::Response,
    buffer: &mut String,
    deadline: Instant,
) -> Result<DashboardSnapshot, String> {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if let Some(data) = event.lines().find_map(|line| line.strip_prefix("data:")) {
                return serde_json::from_str(data.trim()).map_err(|err| {
                    format!("a /dashboard/events snapshot the lab cannot read ({err}): {}", clip(data))
                });
            }
            continue;
        }
        let chunk = tokio::time::timeout_at(deadline.into(), stream.chunk()).await;
        match chunk {
            Ok(Ok(Some(bytes))) => buffer.push_str(&String::from_utf8_lossy(&bytes).replace("\r\n", "\n")),
            Ok(Ok(None)) => return Err("/dashboard/events ended".into()),
            Ok(Err(err)) => return Err(format!("/dashboard/events broke off: {err}")),
            Err(_) => return Err("/dashboard/events sent no snapshot in time".into()),
        }
    }
}

/// `/dashboard` is an HTML page that listens to `/dashboard/events`, whose
/// snapshots count the business traffic sent (not the monitoring routes),
/// its 5xx answers, and keep coming: the same stream shows traffic sent
/// after it opened.
pub async fn dashboard(probe: &Probe) -> Found {
    let mut failures = Vec::new();
    let page = probe.service.get("/dashboard").await?;
    if page.status != 200 || !page.header("content-type").is_some_and(|t| t.starts_with("text/html")) {
        return Err(format!(
            "GET /dashboard answered {} {:?}, not an HTML page",
            page.status,
            page.header("content-type")
        ));
    }
    if !page.body.contains("/dashboard/events") {
        failures.push("the page does not listen to /dashboard/events".into());
    }
    let url = format!("{}/dashboard/events", probe.service.base);
    let stream = probe.service.http.get(url).timeout(Duration::from_secs(60)).send().await;
    let mut stream = stream.map_err(|err| format!("GET /dashboard/events got no answer: {err}"))?;
    if stream.status() != 200 {
        return Err(format!("GET /dashboard/events answered {}", stream.status()));
    }
    let mut buffer = String::new();
    let first = next_snapshot(&mut stream, &mut buffer, Instant::now() + Duration::from_secs(3)).await?;
    let mut sent = 0;
    for req in workload::requests(Workload::Browse, probe.seed ^ 3, &probe.shop, 30) {
        probe.service.send(&req, &[]).await?;
        sent += 1;
    }
    // Unknown products count (404s are traffic); the page itself does not.
    for _ in 0..3 {
        probe.service.get("/products/SKU-99999").await?;
        probe.service.get("/dashboard").await?;
        sent += 1;
    }
    probe.payments.set_failing(true).await.map_err(|err| format!("the payment stub: {err:#}"))?;
    let product = probe.shop.products.iter().find(|p| p.stock > 0).ok_or("the shop has no product in stock")?;
    let order = Req::post("/orders", serde_json::json!({"sku": product.sku, "quantity": 1, "card": GOOD_CARD}));
    let mut errors = 0;
    for _ in 0..4 {
        let answer = probe.service.send(&order, &[]).await;
        errors += u64::from(answer.as_ref().is_ok_and(|a| a.status >= 500));
        sent += 1;
    }
    probe.payments.set_failing(false).await.map_err(|err| format!("the payment stub: {err:#}"))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let last = loop {
        let snapshot = next_snapshot(&mut stream, &mut buffer, deadline).await?;
        if snapshot.requests >= first.requests + sent || Instant::now() >= deadline {
            break snapshot;
        }
    };
    if last.requests != first.requests + sent {
        failures.push(format!(
            "the stream's request count went from {} to {} after {sent} business requests (monitoring routes left out)",
            first.requests, last.requests
        ));
    }
    if last.errors != first.errors + errors {
        failures.push(format!(
            "the stream's error count went from {} to {} after {errors} 5xx answers",
            first.errors, last.errors
        ));
    }
    // CPU time is left out: a young process may not have used a whole second.
    if last.p95_ms <= 0.0 || last.resident_bytes == 0 {
        failures.push(format!(
            "a snapshot shows no latency or memory: p95 {} ms, {} bytes resident",
            last.p95_ms, last.resident_bytes
        ));
    }
    if last.history.is_empty() {
        failures.push("a snapshot carries no history".into());
    }
    Ok(failures)
}

// ---------------------------------------------------------------------------
// promtool

/// What running a Prometheus tool gave.
pub enum Tool {
    /// Not installed: the one line that says so.
    Missing(String),
    /// Ran: whether it succeeded, and what it said.
    Ran(bool, String),
}

/// Runs `promtool args`, feeding `stdin` when given.
pub fn promtool(args: &[&str], stdin: Option<&str>) -> Tool {
    run_tool("promtool", "prometheus", args, stdin)
}

/// Runs `program args` (from Debian package `package`), feeding `stdin` when given.
pub fn run_tool(program: &str, package: &str, args: &[&str], stdin: Option<&str>) -> Tool {
    use std::io::Write;
    let spawned = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(_) => return Tool::Missing(format!("skipped: {program} is not installed (apt-get install {package})")),
    };
    if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
        let _ = input.write_all(text.as_bytes());
    }
    match child.wait_with_output() {
        Ok(out) => Tool::Ran(
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        ),
        Err(err) => Tool::Ran(false, format!("{program} failed to run: {err}")),
    }
}

/// A folder holding `rules.yml` (a copy of `rules`) beside the kit's own
/// unit tests of the alert contract, `contract.test.yml`.
pub fn contract_folder(rules: &Path, contract: &Path) -> std::io::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    std::fs::copy(rules, dir.path().join("rules.yml"))?;
    std::fs::copy(contract, dir.path().join("contract.test.yml"))?;
    Ok(dir)
}

// ---------------------------------------------------------------------------
// alerts

/// The kit's unit tests of the alert contract, from the kit's root.
pub const CONTRACT_TESTS: &str = "labs/monitoring/alerts/contract.test.yml";

/// The alert rules, read from outside any service: `promtool check rules`
/// accepts them; the kit's own unit tests of the contract
/// ([`CONTRACT_TESTS`]) pass against them; and live, a real Prometheus
/// loaded with them (each `for` shortened to 0 s) scraping a stand-in shop
/// whose answers turn 40% 5xx sends nothing while the shop is healthy and
/// `HighErrorRate` (severity `page`) through Alertmanager to the kit's
/// webhook once it is not. The stand-in is the kit's, so this check needs
/// none of the service's own metrics.
pub async fn alerts(kit: &Path, rules: &Path, notes: &mut Vec<String>) -> anyhow::Result<Found> {
    let regular = std::fs::symlink_metadata(rules).is_ok_and(|meta| meta.is_file() && meta.len() < 1 << 20);
    if !regular {
        return Ok(Err(format!("no alert rules file at src/alerts/{}", file_name(rules))));
    }
    let text = std::fs::read_to_string(rules).unwrap_or_default();
    // The grader's own copy: nothing the tools read can be the target's to change meanwhile.
    let dir = tempfile::tempdir()?;
    let copy = dir.path().join("rules.yml");
    std::fs::write(&copy, &text)?;
    std::fs::copy(kit.join(CONTRACT_TESTS), dir.path().join("contract.test.yml"))?;
    let mut failures = Vec::new();
    let at = |name: &Path| name.display().to_string();
    match promtool(&["check", "rules", &at(&copy)], None) {
        Tool::Missing(line) => {
            notes.push(line);
            return Ok(Ok(failures));
        }
        Tool::Ran(false, said) => {
            return Ok(Err(format!("promtool check rules refused the rules: {}", one_line(&said))));
        }
        Tool::Ran(true, _) => {}
    }
    let contract = dir.path().join("contract.test.yml");
    match promtool(&["test", "rules", &at(&contract)], None) {
        Tool::Ran(true, _) => notes.push("the kit's unit tests of the alert contract pass".into()),
        Tool::Ran(false, said) => {
            failures.push(format!("the kit's unit tests of the alert contract fail: {}", contract_summary(&said)))
        }
        Tool::Missing(line) => notes.push(line),
    }
    let has_rule = text.lines().any(|line| {
        let line = line.trim_start().trim_start_matches('-').trim_start();
        line.starts_with("alert:") && line.contains("HighErrorRate")
    });
    if !has_rule {
        failures.push("no HighErrorRate rule, so no live alert to deliver".into());
        return Ok(Ok(failures));
    }
    if let Err(line) = crate::stack::installed() {
        notes.push(format!("skipped the live delivery: {line}"));
        return Ok(Ok(failures));
    }
    failures.extend(live_delivery(kit, &copy, notes).await?);
    Ok(Ok(failures))
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |name| name.to_string_lossy().into_owned())
}

/// The alert names promtool's failing cases mention, or its first line.
fn contract_summary(said: &str) -> String {
    let names: BTreeSet<&str> = ["HighErrorRate", "LatencyBudgetBurnFast", "LatencyBudgetBurnSlow"]
        .into_iter()
        .filter(|name| said.lines().any(|line| line.contains("FAILED") || line.contains(name)) && said.contains(name))
        .collect();
    match names.is_empty() {
        true => one_line(said),
        false => {
            format!("cases on {} do not behave as the contract says", names.into_iter().collect::<Vec<_>>().join(", "))
        }
    }
}

/// How the stand-in shop answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Health {
    Healthy,
    Failing,
}

/// A stand-in shop for the live alert run: `/metrics` with the lab's
/// request series, growing every 100 ms, 40% of them 5xx while failing.
async fn stand_in() -> anyhow::Result<(String, tokio::sync::watch::Sender<Health>, tokio::task::JoinHandle<()>)> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let (phase, watch) = tokio::sync::watch::channel(Health::Healthy);
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let ticking = counts.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let counts = counts.clone();
            async move {
                let (ok, failed) = (counts[0].load(Ordering::SeqCst), counts[1].load(Ordering::SeqCst));
                let series = |status: u16, n: u64| {
                    format!(
                        "http_requests_total{{method=\"GET\",route=\"/products/{{sku}}\",status=\"{status}\"}} {n}\n\
                         http_request_duration_seconds_bucket{{method=\"GET\",route=\"/products/{{sku}}\",status=\"{status}\",le=\"0.25\"}} {n}\n\
                         http_request_duration_seconds_bucket{{method=\"GET\",route=\"/products/{{sku}}\",status=\"{status}\",le=\"+Inf\"}} {n}\n\
                         http_request_duration_seconds_sum{{method=\"GET\",route=\"/products/{{sku}}\",status=\"{status}\"}} {}\n\
                         http_request_duration_seconds_count{{method=\"GET\",route=\"/products/{{sku}}\",status=\"{status}\"}} {n}\n",
                        n as f64 * 0.004
                    )
                };
                format!(
                    "# TYPE http_requests_total counter\n# TYPE http_request_duration_seconds histogram\n{}{}",
                    series(200, ok),
                    series(503, failed)
                )
            }
        }),
    );
    let task = tokio::spawn(async move {
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let failing = *watch.borrow() == Health::Failing;
                ticking[0].fetch_add(if failing { 6 } else { 10 }, Ordering::SeqCst);
                ticking[1].fetch_add(if failing { 4 } else { 0 }, Ordering::SeqCst);
            }
        });
        let _ = axum::serve(listener, app).await;
        ticker.abort();
    });
    Ok((addr, phase, task))
}

/// The rules in a real Prometheus, scraping the stand-in: quiet while it
/// is healthy, `HighErrorRate` at the webhook once it fails.
async fn live_delivery(kit: &Path, rules: &Path, notes: &mut Vec<String>) -> anyhow::Result<Vec<String>> {
    let (scrape, phase, task) = stand_in().await?;
    let config = crate::stack::StackConfig {
        kit: kit.to_path_buf(),
        rules: Some(rules.to_path_buf()),
        scrape,
        shorten_for: true,
    };
    let outcome = async {
        let stack = crate::stack::Stack::start(config).await?;
        stack.wait_for_scrape(Duration::from_secs(20)).await?;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let early: Vec<String> =
            stack.received().iter().flat_map(|n| n.alerts.iter()).map(|a| alert_name(&a.labels)).collect();
        let mut failures = Vec::new();
        if !early.is_empty() {
            failures.push(format!("alerts reached the webhook while every answer was a 200: {early:?}"));
        }
        let _ = phase.send(Health::Failing);
        match stack.wait_for_alert("HighErrorRate", Duration::from_secs(30)).await {
            None => failures.push(
                "with 40% of answers 5xx, no HighErrorRate reached the webhook within 30 s (rules loaded in a real \
                 Prometheus, every `for` shortened to 0 s, routed by the kit's Alertmanager config)"
                    .to_string(),
            ),
            Some(notification) => {
                let severity = notification
                    .alerts
                    .iter()
                    .find(|a| alert_name(&a.labels) == "HighErrorRate")
                    .and_then(|a| a.labels.get("severity").cloned());
                if severity.as_deref() != Some("page") {
                    failures.push(format!("HighErrorRate reached the webhook with severity {severity:?}, not page"));
                } else {
                    notes.push(
                        "HighErrorRate went from a real Prometheus through Alertmanager to the kit's webhook".into(),
                    );
                }
            }
        }
        Ok::<_, anyhow::Error>(failures)
    }
    .await;
    task.abort();
    outcome
}

fn alert_name(labels: &BTreeMap<String, String>) -> String {
    labels.get("alertname").cloned().unwrap_or_default()
}
