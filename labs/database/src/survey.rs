//! `<driver> survey`: every workload's cost per request, measured outside the
//! service, as one table a student reads before fixing anything.
//!
//! A scratch database is seeded, a counting proxy with the grader's 1 ms per
//! round trip sits in front of it, and each workload sends one unmeasured
//! request and then the measured ones.

use std::time::Duration;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, Table};
use lab_support::Size;
use lab_support::driver::value_name;

use crate::Service;
use crate::db::Scratch;
use crate::lessons::{RequestCost, costs};
use crate::proxy::{Proxy, ProxyConfig};
use crate::workload::{self, Workload};

/// The workloads the survey sends, in the order of the guide's steps.
const SURVEYED: [Workload; 6] =
    [Workload::List, Workload::Detail, Workload::Filter, Workload::Deep, Workload::Report, Workload::Write];

/// Measures every workload on a scratch database and returns the table.
pub async fn survey(service: &Service, seed: u64, size: Size, requests: usize) -> anyhow::Result<String> {
    let db = Scratch::new(service, seed, size).await?;
    let proxy = Proxy::start(ProxyConfig::new(db.server.host_port()).delay(Duration::from_millis(1))).await?;
    let router = (service.app)(db.service_options(Some(&proxy.host_port())));
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "workload",
        "requests",
        "queries",
        "round trips",
        "connections",
        "rows to service",
        "KB to service",
        "commits that wrote",
        "ms (median)",
    ]);
    for kind in SURVEYED {
        eprintln!("surveying {}", value_name(&kind));
        let reqs = workload::generate(kind, seed, &db.data, requests + 1);
        for req in &reqs[..1] {
            lab_support::exchange::send(&router, req).await;
        }
        let measured = costs(&router, &proxy, &reqs[1..]).await;
        table.add_row(row(kind, &measured));
    }
    drop(router);
    Ok(format!(
        "{table}\nper request, {} at size {}, seed {seed}; through a proxy adding 1 ms per round trip",
        service.name,
        value_name(&size)
    ))
}

fn row(kind: Workload, measured: &[RequestCost]) -> Vec<Cell> {
    let n = measured.len().max(1) as f64;
    let mean = |f: &dyn Fn(&RequestCost) -> f64| measured.iter().map(f).sum::<f64>() / n;
    let mut ms: Vec<f64> = measured.iter().map(|c| c.nanos as f64 / 1e6).collect();
    ms.sort_by(f64::total_cmp);
    let median = ms.get(ms.len() / 2).copied().unwrap_or(0.0);
    let number = |value: f64| Cell::new(format!("{value:.1}")).set_alignment(CellAlignment::Right);
    vec![
        Cell::new(value_name(&kind)),
        Cell::new(measured.len()).set_alignment(CellAlignment::Right),
        number(mean(&|c| c.counts.queries as f64)),
        number(mean(&|c| c.counts.round_trips as f64)),
        number(mean(&|c| c.counts.connections as f64)),
        number(mean(&|c| c.counts.rows_to_client as f64)),
        number(mean(&|c| c.counts.bytes_to_client as f64) / 1024.0),
        number(mean(&|c| c.counts.write_units as f64)),
        number(median),
    ]
}
