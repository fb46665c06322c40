//! `<driver> survey`: what each workload costs per request, counted outside
//! the service, as one table a student reads before and after each fix.
//!
//! Each workload runs on a fresh instance with an upstream of its own (the
//! tests' latency) and a Redis prefix of its own, behind a proxy that
//! counts the commands; then 100
//! concurrent reads of one product nobody has read yet show what a
//! stampede costs.

use std::time::Instant;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, Table};
use lab_support::driver::value_name;
use lab_support::{Req, Size};

use crate::Service;
use crate::contract::{Bench, send_in_time};
use crate::workload::{self, Workload};

/// The workloads the survey sends, in the order of the guide's steps.
const SURVEYED: [Workload; 4] = [Workload::Hot, Workload::Mixed, Workload::Writes, Workload::Cold];

/// Measures every workload and returns the table.
pub async fn survey(service: &Service, seed: u64, size: Size, requests: usize) -> anyhow::Result<String> {
    // One readable line, not a panic, when Redis is not there.
    crate::store::connect(&crate::store::url()).await?;
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header([
        "workload",
        "requests",
        "upstream calls",
        "Redis commands",
        "ms (median)",
        "ms (p99)",
    ]);
    for kind in SURVEYED {
        eprintln!("surveying {}", value_name(&kind));
        let bench = Bench::new(seed, size).await;
        let router = bench.app(service);
        let reqs = workload::requests(kind, seed, &bench.catalog, requests);
        let mut ms = Vec::with_capacity(reqs.len());
        for req in &reqs {
            let started = Instant::now();
            send_in_time(&router, req).await;
            ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
        let commands = bench.redis_commands();
        let calls = bench.calls().await.total();
        ms.sort_by(f64::total_cmp);
        let at =
            |q: f64| ms.get(((ms.len() as f64 * q) as usize).min(ms.len().saturating_sub(1))).copied().unwrap_or(0.0);
        let per = |total: u64| Cell::new(format!("{:.2}", total as f64 / reqs.len().max(1) as f64));
        table.add_row([
            Cell::new(value_name(&kind)),
            Cell::new(reqs.len()).set_alignment(CellAlignment::Right),
            per(calls).set_alignment(CellAlignment::Right),
            per(commands).set_alignment(CellAlignment::Right),
            Cell::new(format!("{:.2}", at(0.5))).set_alignment(CellAlignment::Right),
            Cell::new(format!("{:.2}", at(0.99))).set_alignment(CellAlignment::Right),
        ]);
    }
    let stampede = {
        let bench = Bench::new(seed, size).await;
        let router = bench.app(service);
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let router = router.clone();
                tokio::spawn(async move { send_in_time(&router, &Req::get("/products/1")).await.status })
            })
            .collect();
        for task in tasks {
            task.await?;
        }
        bench.calls().await.total()
    };
    Ok(format!(
        "{table}\nper request, {} at size {}, seed {seed}; upstream {} ms a call; Redis commands counted by a proxy in front of Redis\n\
         100 concurrent reads of one product nobody had read: {stampede} upstream call{}",
        service.name,
        value_name(&size),
        crate::contract::TEST_LATENCY.as_millis(),
        if stampede == 1 { "" } else { "s" },
    ))
}
