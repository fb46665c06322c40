//! A bounded closed-loop load test on loopback.
//!
//! `concurrency` workers share one list of requests; each sends its next
//! request as soon as the previous answer arrives, until `total` requests
//! are sent or the time limit passes. Latencies go into an HDR histogram
//! (microsecond resolution, 3 significant digits), the structure wrk, oha and
//! rlt use, so percentiles are exact to 0.1% without keeping every sample.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// One request as the driver's `requests` command prints it.
pub use lab_protocol::Req as WireReq;

/// What a load run saw.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub sent: usize,
    /// Transport failures and 5xx answers.
    pub errors: usize,
    pub elapsed: Duration,
    /// Latency in microseconds.
    pub histogram: Histogram<u64>,
}

impl LoadResult {
    pub fn throughput(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// `earlier` and `more` as one run: latencies pooled, counts and times added.
    pub fn pooled(earlier: Option<LoadResult>, more: LoadResult) -> LoadResult {
        match earlier {
            None => more,
            Some(mut run) => {
                run.sent += more.sent;
                run.errors += more.errors;
                run.elapsed += more.elapsed;
                run.histogram.add(&more.histogram).expect("histograms share bounds");
                run
            }
        }
    }

    /// The `q` (0..=1) latency quantile in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.histogram.value_at_quantile(q) as f64 / 1000.0
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

/// Sends up to `total` requests from `requests` (cycling) with `concurrency`
/// workers, stopping early at `limit`.
pub async fn closed_loop(
    client: &reqwest::Client,
    base_url: &str,
    requests: Arc<Vec<WireReq>>,
    total: usize,
    concurrency: usize,
    limit: Duration,
) -> LoadResult {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + limit;
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        let (client, base_url, requests, next) = (client.clone(), base_url.to_string(), requests.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = histogram();
            let (mut sent, mut errors) = (0, 0);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total || Instant::now() >= deadline || requests.is_empty() {
                    break;
                }
                let req = &requests[i % requests.len()];
                let url = format!("{base_url}{}", req.uri);
                let builder = match req.method.as_str() {
                    "POST" => client.post(url).json(req.body.as_ref().unwrap_or(&serde_json::Value::Null)),
                    _ => client.get(url),
                };
                let sent_at = Instant::now();
                let outcome = match builder.send().await {
                    Ok(response) => {
                        let server_error = response.status().is_server_error();
                        response.bytes().await.is_ok() && !server_error
                    }
                    Err(_) => false,
                };
                let micros = sent_at.elapsed().as_micros().clamp(1, 120_000_000) as u64;
                latencies.saturating_record(micros);
                sent += 1;
                if !outcome {
                    errors += 1;
                }
            }
            (latencies, sent, errors)
        }));
    }
    let mut merged = histogram();
    let (mut sent, mut errors) = (0, 0);
    for worker in workers {
        if let Ok((latencies, s, e)) = worker.await {
            merged.add(latencies).expect("histograms share bounds");
            sent += s;
            errors += e;
        }
    }
    LoadResult { sent, errors, elapsed: started.elapsed(), histogram: merged }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    #[tokio::test]
    async fn the_load_stops_at_its_request_count_and_records_each_latency() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route("/boom", get(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "no") }));
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let requests = Arc::new(vec![
            WireReq { method: "GET".into(), uri: "/ok".into(), body: None },
            WireReq { method: "GET".into(), uri: "/boom".into(), body: None },
        ]);
        let client = reqwest::Client::new();
        let result = closed_loop(&client, &format!("http://{addr}"), requests, 50, 4, Duration::from_secs(30)).await;
        assert_eq!(result.sent, 50);
        assert_eq!(result.errors, 25);
        assert_eq!(result.histogram.len(), 50);
        assert!(result.quantile_ms(0.5) <= result.quantile_ms(0.99));
        assert!(result.throughput() > 0.0);
        server.abort();
    }
}
