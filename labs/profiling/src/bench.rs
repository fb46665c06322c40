//! Criterion benches of each endpoint: an implementation beside the frozen
//! baseline, in the same run, so the ratio is fair on a noisy machine.
//!
//! With `--profile-time N`, the pprof hook writes a flamegraph per bench to
//! `target/criterion/<endpoint>/<who>/profile/flamegraph.svg`.

use std::time::Duration;

use criterion::Criterion;
use lab_support::bench::Flamegraph;
use lab_support::exchange::send;
use lab_support::{Req, Size};

use crate::{AppFn, Dataset};

/// The criterion configuration the lab's benches use: short, and profiled on demand.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .with_profiler(Flamegraph::default())
}

/// One benchmark group per endpoint, one bench per `(name, app)`.
pub fn endpoints(c: &mut Criterion, implementations: &[(&str, AppFn)]) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let data = Dataset::generate(1, Size::Medium);
    let sku = data.products[0].sku.clone();
    let requests = [
        ("top_products", Req::get("/reports/top-products?from=2026-03-01&to=2026-04-30&limit=10")),
        ("customers", Req::get("/reports/customers?from=2026-03-01&to=2026-04-30&region=north")),
        ("daily", Req::get("/reports/daily?from=2026-03-01&to=2026-04-30")),
        ("product", Req::get(format!("/products/{sku}"))),
        // Signing costs the same in every implementation: this bench shows the
        // cost, not the waiting it causes, which only concurrent requests see.
        (
            "receipt",
            Req::post(
                "/sales",
                serde_json::json!({ "lines": [format!("2026-06-01T08:00:00Z;{sku};west;C000001;2;0")], "receipt": true }),
            ),
        ),
    ];
    for (endpoint, req) in &requests {
        let mut group = c.benchmark_group(*endpoint);
        for (who, app) in implementations {
            let router = app(data.clone());
            group.bench_function(*who, |b| b.to_async(&runtime).iter(|| send(&router, req)));
        }
        group.finish();
    }
}
