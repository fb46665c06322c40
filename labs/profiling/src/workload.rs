//! The request mixes the driver sends and the grader compares.
//!
//! Every list is a pure function of the seed and the dataset, so the
//! baseline and the target receive exactly the same requests.
//!
//! - `cpu`: every endpoint, writes and refusals included, without receipts
//!   (their cost is the same for everyone, so it stays out of the counts).
//! - `leak`: distinct reports, for the heap left behind.
//! - `day` and `year`: top-products and customers reports over one day and
//!   over the whole year, every region; the difference between them is what
//!   a report costs per sale it reads.
//! - `load`: the concurrent mix: reports, product lookups, health checks and
//!   one batch in ten asking for a signed receipt. The grader's blocking
//!   check sends those batches from a few clients at once and times the
//!   product lookups beside them.

use lab_support::{Req, Workload};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use time::Date;

use crate::data::{Dataset, REGIONS, YEAR, sale_line};

/// The first `n` requests of the `kind` mix.
pub fn generate(kind: Workload, seed: u64, data: &Dataset, n: usize) -> Vec<Req> {
    // A different stream from the data generator's, so requests do not echo rows.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_10ad);
    (0..n)
        .map(|i| match kind {
            Workload::Cpu => cpu_request(i, &mut rng, data),
            Workload::Leak => report_request(i, &mut rng),
            Workload::Load => load_request(i, &mut rng, data),
            Workload::Day => span_request(i, &mut rng, 1),
            Workload::Year => span_request(i, &mut rng, 365),
        })
        .collect()
}

fn cpu_request(i: usize, rng: &mut ChaCha8Rng, data: &Dataset) -> Req {
    match i % 10 {
        0 | 2 | 3 | 5 | 7 => report_request(i, rng),
        1 | 4 => product_request(rng, data),
        6 => ingest_request(rng, data, false),
        8 => Req::get("/reports/recent"),
        _ => bad_request(i / 10, rng, data),
    }
}

fn load_request(i: usize, rng: &mut ChaCha8Rng, data: &Dataset) -> Req {
    match i % 10 {
        0 | 3 | 6 | 8 => report_request(i, rng),
        5 => ingest_request(rng, data, true),
        9 => Req::get("/health"),
        _ => product_request(rng, data),
    }
}

/// A report over a random range, cycling through the three report kinds.
///
/// Only the start day is random: range lengths, regions and limits cycle,
/// so every seed asks for the same amount of work and counts measured on
/// different seeds stay comparable.
fn report_request(i: usize, rng: &mut ChaCha8Rng) -> Req {
    const LENGTHS: [u16; 4] = [14, 30, 60, 90];
    const LIMITS: [usize; 3] = [5, 10, 20];
    let length = LENGTHS[(i / 3) % LENGTHS.len()];
    let start = rng.random_range(1..=365 - length);
    let from = day(start);
    let to = day(start + length - 1);
    let region = match (i / 2) % (REGIONS.len() + 1) {
        0 => String::new(),
        r => format!("&region={}", REGIONS[r - 1]),
    };
    match i % 3 {
        0 => Req::get(format!(
            "/reports/top-products?from={from}&to={to}{region}&limit={}",
            LIMITS[(i / 3) % LIMITS.len()]
        )),
        1 => Req::get(format!("/reports/customers?from={from}&to={to}{region}")),
        _ => Req::get(format!("/reports/daily?from={from}&to={to}{region}")),
    }
}

/// A report over `days` days from a random start, all regions, top
/// products and customers in turn: their answers are the same size whatever
/// the range, so a year-long one differs from a one-day one only in the
/// sales it reads (every sale in the log).
fn span_request(i: usize, rng: &mut ChaCha8Rng, days: u16) -> Req {
    let start = rng.random_range(1..=366 - days);
    let (from, to) = (day(start), day(start + days - 1));
    match i % 2 {
        0 => Req::get(format!("/reports/top-products?from={from}&to={to}&limit=20")),
        _ => Req::get(format!("/reports/customers?from={from}&to={to}")),
    }
}

fn product_request(rng: &mut ChaCha8Rng, data: &Dataset) -> Req {
    let product = &data.products[rng.random_range(0..data.products.len())];
    Req::get(format!("/products/{}", product.sku))
}

/// Three valid sale lines; with `receipt`, the batch asks for a signed receipt.
fn ingest_request(rng: &mut ChaCha8Rng, data: &Dataset, receipt: bool) -> Req {
    let lines: Vec<String> = (0..3)
        .map(|_| {
            let product = &data.products[rng.random_range(0..data.products.len())];
            sale_line(
                rng.random_range(0..365 * 86_400),
                &product.sku,
                REGIONS[rng.random_range(0..REGIONS.len())],
                rng.random_range(0..data.customers),
                rng.random_range(1..=9),
                [0, 5, 10][rng.random_range(0..3)],
            )
        })
        .collect();
    match receipt {
        true => Req::post("/sales", json!({ "lines": lines, "receipt": true })),
        false => Req::post("/sales", json!({ "lines": lines })),
    }
}

/// Requests that must be refused, the same way by every implementation.
fn bad_request(round: usize, rng: &mut ChaCha8Rng, data: &Dataset) -> Req {
    let product = &data.products[rng.random_range(0..data.products.len())];
    let good = sale_line(rng.random_range(0..365 * 86_400), &product.sku, "west", 1, 2, 0);
    match round % 6 {
        0 => Req::get("/reports/top-products?from=2026-02-30"),
        1 => Req::get("/products/SKU-00000"),
        2 => Req::post("/sales", json!({ "lines": [good, good.replace(";west;", ";mars;")] })),
        3 => Req::post("/sales", json!({ "lines": [good.replace(&product.sku, "SKU-00000")] })),
        4 => Req::get("/reports/daily?from=2026-05-01&to=2026-04-01"),
        _ => Req::post("/sales", json!({ "rows": [good] })),
    }
}

fn day(ordinal: u16) -> Date {
    Date::from_ordinal_date(YEAR, ordinal).expect("ordinal within the year")
}

#[cfg(test)]
mod tests {
    use super::*;
    use lab_support::Size;

    #[test]
    fn same_seed_gives_the_same_requests() {
        let data = Dataset::generate(5, Size::Tiny);
        for kind in [Workload::Cpu, Workload::Leak, Workload::Load, Workload::Day, Workload::Year] {
            assert_eq!(generate(kind, 5, &data, 50), generate(kind, 5, &data, 50));
            // A year-long report has one possible start; only its data differs with the seed.
            if kind != Workload::Year {
                assert_ne!(generate(kind, 5, &data, 50), generate(kind, 6, &data, 50));
            }
        }
    }

    #[test]
    fn only_the_load_mix_asks_for_receipts() {
        let data = Dataset::generate(5, Size::Tiny);
        let asks = |kind| {
            generate(kind, 5, &data, 100)
                .iter()
                .filter(|req| req.body.as_ref().is_some_and(|body| body["receipt"] == true))
                .count()
        };
        assert_eq!(asks(Workload::Cpu), 0);
        assert_eq!(asks(Workload::Leak), 0);
        assert_eq!(asks(Workload::Load), 10);
    }

    #[test]
    fn a_shorter_list_is_a_prefix_of_a_longer_one() {
        let data = Dataset::generate(5, Size::Tiny);
        let long = generate(Workload::Cpu, 9, &data, 40);
        assert_eq!(generate(Workload::Cpu, 9, &data, 15), long[..15]);
    }
}
