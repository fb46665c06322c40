//! The request lists the driver and the grader send: same seed, same list.
//!
//! Reads follow a Zipf law over the products (a few are asked for all the
//! time, most rarely), as real catalogue traffic does; which products are
//! the popular ones changes with the seed.

use clap::ValueEnum;
use lab_support::Req;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Zipf};
use serde_json::json;

use crate::data::{CATEGORIES, Catalog};

/// Which request mix to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Skewed reads of products and categories, with a few writes and deletes
    /// (each followed by a read of what it changed), old links to products
    /// that never existed, and a little bad input.
    Mixed,
    /// Reads of the eight most popular products only: what a cached read costs.
    Hot,
    /// Every request reads a product no earlier request read: what a miss costs.
    Cold,
    /// Writes, each followed by reads of the product and its category: freshness.
    Writes,
}

/// How strongly reads favour the popular products (Zipf's exponent).
pub const SKEW: f64 = 1.1;

/// The popular products first: the catalogue's ids in a seeded order.
pub fn popularity(seed: u64, catalog: &Catalog) -> Vec<u32> {
    let mut ids: Vec<u32> = catalog.items.iter().map(|item| item.id).collect();
    ids.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x9097_1a41));
    ids
}

/// The first `n` requests of `kind` for `seed` over `catalog`.
pub fn requests(kind: Workload, seed: u64, catalog: &Catalog, n: usize) -> Vec<Req> {
    let ranked = popularity(seed, catalog);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ kind as u64 ^ 0x5eed_2500);
    let zipf = Zipf::new(ranked.len() as f64, SKEW).expect("a catalogue has items");
    let popular = |rng: &mut ChaCha8Rng| ranked[zipf.sample(rng) as usize - 1];
    let category_of = |id: u32| catalog.get(id).map_or(CATEGORIES[0], |item| item.category.as_str());
    let mut out = Vec::with_capacity(n);
    match kind {
        Workload::Mixed => {
            while out.len() < n {
                let roll = rng.random_range(0..1_000);
                match roll {
                    0..925 => out.push(product(popular(&mut rng))),
                    925..975 => {
                        let id = popular(&mut rng);
                        out.push(Req::get(format!("/categories/{}", category_of(id))));
                    }
                    975..985 => {
                        let id = popular(&mut rng);
                        out.push(change(&mut rng, id));
                        out.push(product(id));
                    }
                    985..987 => {
                        let id = ranked[rng.random_range(ranked.len() / 2..ranked.len())];
                        out.push(Req::delete(format!("/products/{id}")));
                        out.push(product(id));
                    }
                    // Old links to products that never existed: the same few, again and again.
                    987..997 => out.push(product(ranked.len() as u32 + rng.random_range(1..=20))),
                    _ => out.push(bad_input(&mut rng)),
                }
            }
        }
        Workload::Hot => {
            let hot = &ranked[..ranked.len().min(8)];
            out.extend((0..n).map(|i| product(hot[i % hot.len()])));
        }
        Workload::Cold => out.extend(ranked.iter().cycle().take(n).map(|&id| product(id))),
        Workload::Writes => {
            while out.len() < n {
                let id = popular(&mut rng);
                out.push(change(&mut rng, id));
                out.push(product(id));
                out.push(Req::get(format!("/categories/{}", category_of(id))));
            }
        }
    }
    out.truncate(n);
    out
}

fn product(id: u32) -> Req {
    Req::get(format!("/products/{id}"))
}

/// A write of one or two fields of product `id`.
fn change(rng: &mut ChaCha8Rng, id: u32) -> Req {
    let body = match rng.random_range(0..4) {
        0 => json!({"price_cents": rng.random_range(199..250_000)}),
        1 => json!({"stock": rng.random_range(0..3)}),
        2 => json!({"name": format!("renamed {}", rng.random_range(100..1_000)), "stock": rng.random_range(0..500)}),
        _ => json!({"price_cents": rng.random_range(199..250_000), "stock": rng.random_range(0..500)}),
    };
    Req::put(format!("/products/{id}"), body)
}

/// A request every implementation must refuse with a JSON 4xx.
fn bad_input(rng: &mut ChaCha8Rng) -> Req {
    match rng.random_range(0..4) {
        0 => Req::get("/products/0"),
        1 => Req::get("/categories/Not-A-Name"),
        2 => Req::put("/products/1", json!({"price_cents": 0})),
        _ => Req::put("/products/1", json!({"colour": "red"})),
    }
}

#[cfg(test)]
mod tests {
    use lab_support::Size;

    use super::*;

    #[test]
    fn lists_repeat_for_a_seed_and_reads_are_skewed() {
        let catalog = Catalog::generate(4, Size::Medium);
        for kind in Workload::value_variants() {
            let list = requests(*kind, 4, &catalog, 500);
            assert_eq!(list.len(), 500);
            assert_eq!(list, requests(*kind, 4, &catalog, 500), "{kind:?}");
            assert_ne!(list, requests(*kind, 5, &catalog, 500), "{kind:?}");
        }
        let mixed = requests(Workload::Mixed, 4, &catalog, 4_000);
        let mut reads = std::collections::HashMap::new();
        for req in mixed.iter().filter(|req| req.method == "GET" && req.uri.starts_with("/products/")) {
            *reads.entry(req.uri.as_str()).or_insert(0) += 1;
        }
        let total: usize = reads.values().sum();
        let mut counts: Vec<usize> = reads.values().copied().collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let top_ten: usize = counts.iter().take(10).sum();
        assert!(top_ten * 3 > total, "the ten most read products take {top_ten} of {total} reads");
        assert!(mixed.iter().any(|req| req.method == "PUT") && mixed.iter().any(|req| req.method == "DELETE"));
        let cold = requests(Workload::Cold, 4, &catalog, 2_000);
        let distinct: std::collections::HashSet<_> = cold.iter().map(|req| &req.uri).collect();
        assert_eq!(distinct.len(), 2_000);
    }
}
