//! The request lists the driver sends and the grader compares.
//!
//! Every list is a pure function of the kind, the seed and the dataset, so
//! the baseline and the target receive exactly the same requests, and a
//! shorter list is a prefix of a longer one. Page cursors are computed from
//! the dataset with [`crate::api::Cursor`], exactly as a service issues them.

use clap::ValueEnum;
use lab_support::Req;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::json;
use time::Date;

use crate::api::Cursor;
use crate::data::{Dataset, YEAR};

/// Page size of the list and deep-page workloads.
pub const PAGE: i64 = 50;
/// How deep the deep-page workload reads at the default size.
pub const DEEP: usize = 50_000;

/// Which request mix to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// `GET /orders?limit=50` over the first ten pages: N+1 and the page query.
    List,
    /// `GET /orders?limit=50&cursor=...` 50,000 orders deep (a quarter of the way at smaller sizes): OFFSET against keyset.
    Deep,
    /// `GET /customers/{id}/orders`: the filter on `orders.customer_id`.
    Filter,
    /// `GET /reports/categories` over one to seven days: aggregation.
    Report,
    /// `GET /orders/{id}` and `GET /products/{sku}`.
    Detail,
    /// `POST /products/{sku}/reviews`: the multi-statement write.
    Write,
    /// Everything above plus refused requests, interleaved: the correctness gate.
    Mixed,
}

impl Workload {
    pub const ALL: [Workload; 7] = [
        Workload::List,
        Workload::Deep,
        Workload::Filter,
        Workload::Report,
        Workload::Detail,
        Workload::Write,
        Workload::Mixed,
    ];
}

/// Where the deep-page workload starts reading for this dataset.
pub fn deep_position(data: &Dataset) -> usize {
    (data.orders.len() / 4).min(DEEP)
}

/// The cursor a service issues after serving `position` orders (`None` at the start).
pub fn cursor_at(data: &Dataset, newest_first: &[usize], position: usize) -> Option<String> {
    if position == 0 {
        return None;
    }
    let last = &data.orders[newest_first[position - 1]];
    let placed_at = time::OffsetDateTime::from_unix_timestamp(last.placed_at).expect("seeded timestamps are valid");
    Some(Cursor::after(position as i64, placed_at, last.id).encode())
}

/// `GET /orders` at `position` with `limit`.
pub fn page_request(data: &Dataset, newest_first: &[usize], position: usize, limit: i64) -> Req {
    match cursor_at(data, newest_first, position) {
        Some(cursor) => Req::get(format!("/orders?limit={limit}&cursor={cursor}")),
        None => Req::get(format!("/orders?limit={limit}")),
    }
}

/// The first `n` requests of the `kind` mix.
pub fn generate(kind: Workload, seed: u64, data: &Dataset, n: usize) -> Vec<Req> {
    // A stream of its own, so requests do not echo the rows' draws.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xdb_10ad);
    let newest_first = data.newest_first();
    let g = Gen { data, newest_first: &newest_first, seed };
    (0..n)
        .map(|i| match kind {
            Workload::List => g.list(i),
            Workload::Deep => g.deep(i),
            Workload::Filter => g.filter(&mut rng),
            Workload::Report => g.report(&mut rng),
            Workload::Detail => g.detail(i, &mut rng),
            Workload::Write => g.write(&mut rng),
            Workload::Mixed => match i % 12 {
                0 => g.list(i / 12),
                1 => g.deep(i / 12),
                2 | 9 => g.filter(&mut rng),
                3 => g.report(&mut rng),
                // Each round reads a product, reviews it, and reads it again:
                // an answer cached across the write shows the old rating.
                4 => Req::get(format!("/products/{}", g.round_product(i / 12))),
                5 => g.write_to(g.round_product(i / 12).to_string(), &mut rng),
                6 => g.detail(i, &mut rng),
                7 => g.small_page(&mut rng),
                8 => Req::get(format!("/products/{}", g.round_product(i / 12))),
                _ => g.refused(i / 12, &mut rng),
            },
        })
        .collect()
}

struct Gen<'a> {
    data: &'a Dataset,
    newest_first: &'a [usize],
    seed: u64,
}

impl Gen<'_> {
    fn orders(&self) -> usize {
        self.data.orders.len()
    }

    fn list(&self, i: usize) -> Req {
        let pages = (self.orders() / PAGE as usize).clamp(1, 10);
        page_request(self.data, self.newest_first, (i % pages) * PAGE as usize, PAGE)
    }

    fn deep(&self, i: usize) -> Req {
        let base = deep_position(self.data);
        let position = (base + (i % 10) * PAGE as usize).min(self.orders().saturating_sub(1));
        page_request(self.data, self.newest_first, position, PAGE)
    }

    fn small_page(&self, rng: &mut ChaCha8Rng) -> Req {
        let limit = rng.random_range(1..=25);
        let position = rng.random_range(0..self.orders());
        page_request(self.data, self.newest_first, position, limit)
    }

    fn customer(&self, rng: &mut ChaCha8Rng) -> i64 {
        let n = self.data.customers.len();
        // Half the time one of the busy customers (the first tenth place most orders).
        if rng.random_bool(0.5) { rng.random_range(1..=(n / 10).max(1)) as i64 } else { rng.random_range(1..=n) as i64 }
    }

    fn filter(&self, rng: &mut ChaCha8Rng) -> Req {
        let customer = self.customer(rng);
        match rng.random_range(0..3) {
            0 => Req::get(format!("/customers/{customer}/orders")),
            1 => Req::get(format!("/customers/{customer}/orders?limit=5")),
            _ => Req::get(format!("/customers/{customer}/orders?limit=50")),
        }
    }

    fn report(&self, rng: &mut ChaCha8Rng) -> Req {
        // A day to a week, as a sales dashboard asks.
        let start = rng.random_range(1..=358u16);
        let length = rng.random_range(0..=6u16);
        Req::get(format!("/reports/categories?from={}&to={}", day(start), day((start + length).min(365))))
    }

    fn detail(&self, i: usize, rng: &mut ChaCha8Rng) -> Req {
        if i.is_multiple_of(2) {
            Req::get(format!("/orders/{}", rng.random_range(1..=self.orders())))
        } else {
            Req::get(format!("/products/{}", self.sku(rng)))
        }
    }

    fn sku(&self, rng: &mut ChaCha8Rng) -> &str {
        let products = &self.data.products;
        &products[rng.random_range(0..products.len())].sku
    }

    fn write(&self, rng: &mut ChaCha8Rng) -> Req {
        let sku = self.sku(rng).to_string();
        self.write_to(sku, rng)
    }

    /// The product a round of the mixed workload reads, reviews and reads again.
    fn round_product(&self, round: usize) -> &str {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x7ead_a5e7 ^ (round as u64).wrapping_mul(0x9e37_79b9));
        let products = &self.data.products;
        // Reviews skew to the first fifth of the catalogue, as they do in the seeded data.
        &products[rng.random_range(0..(products.len() / 5).max(1))].sku
    }

    fn write_to(&self, sku: String, rng: &mut ChaCha8Rng) -> Req {
        let customer = rng.random_range(1..=self.data.customers.len());
        let rating = rng.random_range(1..=5);
        Req::post(
            format!("/products/{sku}/reviews"),
            json!({
                "customer_id": customer,
                "rating": rating,
                "title": format!("Rated {rating} by customer {customer}"),
                "body": "Ordered it for the workshop; it arrived on time.",
            }),
        )
    }

    /// Requests every implementation must refuse the same way.
    fn refused(&self, round: usize, rng: &mut ChaCha8Rng) -> Req {
        let sku = self.sku(rng).to_string();
        let missing_order = self.orders() + 1 + rng.random_range(0..1_000);
        let missing_customer = self.data.customers.len() + 1 + rng.random_range(0..1_000);
        let review = |customer: usize, rating: i64, title: &str| json!({ "customer_id": customer, "rating": rating, "title": title, "body": "" });
        match round % 14 {
            0 => Req::get("/orders?cursor=bm90LWEtY3Vyc29y"),
            1 => Req::get("/orders?limit=0"),
            2 => Req::get(format!("/orders?limit={}", crate::api::MAX_LIMIT + 1)),
            3 => Req::get(format!("/orders/{missing_order}")),
            4 => Req::get("/orders/first"),
            5 => Req::get(format!("/customers/{missing_customer}/orders")),
            6 => Req::get("/reports/categories?from=2026-02-30"),
            7 => Req::get("/reports/categories?from=2026-05-01&to=2026-04-01"),
            8 => Req::get("/products/SKU-00000"),
            9 => Req::post(format!("/products/{sku}/reviews"), review(1, 9, "Off the scale")),
            10 => Req::post(format!("/products/{sku}/reviews"), review(missing_customer, 4, "Who am I")),
            11 => Req::post("/products/SKU-00000/reviews", review(1, 4, "No such thing")),
            12 => Req::post(format!("/products/{sku}/reviews"), json!({ "stars": 5 })),
            _ => Req { method: "DELETE".into(), uri: "/orders/1".into(), body: None },
        }
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
        for kind in Workload::ALL {
            assert_eq!(generate(kind, 5, &data, 40), generate(kind, 5, &data, 40), "{kind:?}");
        }
        assert_ne!(generate(Workload::Mixed, 5, &data, 40), generate(Workload::Mixed, 6, &data, 40));
    }

    #[test]
    fn a_shorter_list_is_a_prefix_of_a_longer_one() {
        let data = Dataset::generate(5, Size::Tiny);
        let long = generate(Workload::Mixed, 9, &data, 60);
        assert_eq!(generate(Workload::Mixed, 9, &data, 25), long[..25]);
    }

    #[test]
    fn deep_pages_start_a_quarter_down_or_50k_deep() {
        let data = Dataset::generate(5, Size::Tiny);
        assert_eq!(deep_position(&data), 150);
        let first = &generate(Workload::Deep, 5, &data, 1)[0];
        let token = first.uri.split("cursor=").nth(1).expect("a deep page has a cursor");
        assert_eq!(Cursor::decode(token).expect("a valid cursor").position, 150);
    }

    #[test]
    fn the_mixed_workload_reads_each_reviewed_product_before_and_after_the_review() {
        let data = Dataset::generate(5, Size::Tiny);
        let mixed = generate(Workload::Mixed, 5, &data, 48);
        for round in mixed.chunks(12) {
            let (before, write, after) = (&round[4], &round[5], &round[8]);
            assert_eq!(write.method, "POST");
            let sku = write.uri.trim_start_matches("/products/").trim_end_matches("/reviews");
            assert_eq!(before.uri, format!("/products/{sku}"));
            assert_eq!(after.uri, before.uri);
        }
    }

    #[test]
    fn the_list_starts_on_the_first_page() {
        let data = Dataset::generate(5, Size::Tiny);
        assert_eq!(generate(Workload::List, 5, &data, 1)[0].uri, "/orders?limit=50");
    }
}
