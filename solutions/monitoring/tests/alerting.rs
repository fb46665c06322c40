//! Lab 26's alerting, live: the reference solution served as a process, a
//! real Prometheus scraping it and evaluating the solution's rules, a real
//! Alertmanager running the kit's `labs/monitoring/ops/alertmanager.yml`,
//! and the kit's webhook at the end of it (`lab_monitoring::stack`).
//!
//! The rules' `for:` durations are cut to zero for this run: it checks that
//! an alert is delivered, end to end; how long each must hold first is
//! what the rules' promtool unit tests check, on simulated time.
//!
//! `prometheus` and `prometheus-alertmanager` come from the Debian packages
//! of those names. Without them the test prints one `skipped:` line and
//! passes, unless `CI` is set: the kit's CI has both.

use std::time::{Duration, Instant};

use lab_monitoring::lessons::Served;
use lab_monitoring::stack::{self, Stack, StackConfig};
use lab_monitoring::workload::{self, GOOD_CARD, Workload};

const RULES: &str = "solutions/monitoring/src/alerts/rules.yml";
/// How long the errors may take to page: far above the few seconds it takes.
const PAGE_WITHIN: Duration = Duration::from_secs(60);

#[test]
fn a_firing_alert_reaches_the_kits_webhook() {
    if let Err(missing) = stack::installed() {
        assert!(std::env::var_os("CI").is_none(), "CI must run the live alerting test: {missing}");
        println!("skipped: {missing}");
        return;
    }
    let kit = lab_protocol::kit::root_from_current_dir().expect("the tests run inside the kit");
    lab_monitoring::contract::runtime().block_on(async {
        let started = Instant::now();
        let served = Served::start(env!("CARGO_BIN_EXE_solution-monitoring"), 26).await;
        let service = &served.probe.service;
        let scrape = service.base.trim_start_matches("http://").to_string();
        let served_at = started.elapsed();

        let config = StackConfig { kit: kit.clone(), rules: Some(kit.join(RULES)), scrape, shorten_for: true };
        let stack = Stack::start(config).await.unwrap_or_else(|err| panic!("the stack did not start: {err:#}"));
        let stack_at = started.elapsed();
        // Healthy traffic: a first part before the first scrape, so the shop's
        // series exist when it comes, the rest after, so the next one sees them grow.
        let browse = workload::requests(Workload::Browse, 26, &served.probe.shop, 80);
        let mut scraped_at = Duration::ZERO;
        for (n, req) in browse.iter().enumerate() {
            if n == 20 {
                stack.wait_for_scrape(Duration::from_secs(10)).await.unwrap_or_else(|err| panic!("{err:#}"));
                scraped_at = started.elapsed();
            }
            let answer = service.send(req, &[]).await.unwrap_or_else(|err| panic!("{err}"));
            assert!(answer.status < 500, "{} {} answered {} while healthy", req.method, req.uri, answer.status);
        }

        // The request rate as Prometheus's query API reports it, and the product reads' in it.
        let total = "sum(rate(http_requests_total[1m]))";
        let products = r#"sum(rate(http_requests_total{route="/products/{sku}"}[1m]))"#;
        let deadline = Instant::now() + Duration::from_secs(10);
        let rate = loop {
            let (total, products) = (value(&stack, total).await, value(&stack, products).await);
            if total > 0.0 && products > 0.0 {
                break total;
            }
            assert!(
                Instant::now() < deadline,
                "no request rate in 10 s: {total}/s in all, {products}/s of product reads"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let rated_at = started.elapsed();

        // Nothing pages while the shop is healthy: no webhook call, no active alert in Prometheus.
        assert_eq!(stack.received(), vec![], "an alert reached the webhook before any request failed");
        let active = stack.query("ALERTS").await.unwrap_or_else(|err| panic!("{err:#}"));
        assert!(active.is_empty(), "alerts active before any request failed: {active:?}");

        // Every charge fails, so every order answers 503, until HighErrorRate pages.
        served.payments.client.set_failing(true).await.expect("the stub fails on request");
        let product = served.probe.shop.products.iter().max_by_key(|p| p.stock).expect("a product");
        let order = serde_json::json!({"sku": product.sku, "quantity": 1, "card": GOOD_CARD});
        let failing_from = Instant::now();
        let mut orders = 0;
        let notification = loop {
            let answer = service.http.post(format!("{}/orders", service.base)).json(&order).send().await;
            let status = answer.expect("POST /orders answers").status().as_u16();
            assert_eq!(status, 503, "an order while the payment provider fails");
            orders += 1;
            if let Some(paged) = stack.wait_for_alert("HighErrorRate", Duration::from_millis(100)).await {
                break paged;
            }
            assert!(
                failing_from.elapsed() < PAGE_WITHIN,
                "HighErrorRate did not reach the webhook within {PAGE_WITHIN:?} of {orders} failing orders; \
                 it received {:?}; active alerts: {:?}",
                stack.received(),
                stack.query("ALERTS").await.ok()
            );
        };
        let paged_in = failing_from.elapsed();

        // Through this stack's Alertmanager, with the kit's receiver and the rule's labels.
        let alert = notification.alert("HighErrorRate", "firing").expect("the firing alert");
        assert_eq!(alert.labels.get("alertname").map(String::as_str), Some("HighErrorRate"));
        assert_eq!(alert.labels.get("severity").map(String::as_str), Some("page"));
        assert!(alert.annotations.get("summary").is_some_and(|s| s.contains('%')), "{:?}", alert.annotations);
        assert_eq!(notification.version, "4");
        assert_eq!(notification.status, "firing");
        assert_eq!(notification.receiver, "alert-webhook", "the receiver of labs/monitoring/ops/alertmanager.yml");
        assert_eq!(notification.external_url, stack.alertmanager_url(), "sent by this stack's Alertmanager");
        assert!(
            alert.generator_url.starts_with(stack.prometheus_url()),
            "raised by this stack's Prometheus: {}",
            alert.generator_url
        );
        eprintln!(
            "timings: served {served_at:?}, stack ready {stack_at:?}, first scrape {scraped_at:?}, \
             rate {rate:.2}/s at {rated_at:?}, paged {paged_in:?} after the errors began ({orders} orders), \
             total {:?}",
            started.elapsed()
        );
        eprintln!("notification: {}", serde_json::to_string(&notification).expect("JSON"));
    });
}

/// The value of a query whose answer is one series (0 when it has none yet).
async fn value(stack: &Stack, promql: &str) -> f64 {
    let samples = stack.query(promql).await.unwrap_or_else(|err| panic!("{err:#}"));
    samples.first().map_or(0.0, |(_, value)| *value)
}
