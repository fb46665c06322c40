//! The request lists the driver and the grader send: same seed, same list.
//!
//! Product reads follow a Zipf law (a few products are asked for all the
//! time), orders charge a card (one in ten is declined), and a little of
//! the traffic is old links and bad input, as a real shop's is: the
//! errors a dashboard and an alert must show.

use clap::ValueEnum;
use lab_support::Req;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Zipf};
use serde_json::json;

use crate::data::{Shop, sku};

/// Which request mix to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Product reads, orders (some sold out or declined), order reads,
    /// unknown products and a little bad input.
    Mixed,
    /// Product reads only.
    Browse,
    /// Orders only, each followed by a read of the order.
    Orders,
    /// Requests whose paths are all different (unknown routes, unknown
    /// products, order ids): what a metric's labels must not grow with.
    Scatter,
}

/// How strongly reads favour the popular products (Zipf's exponent).
pub const SKEW: f64 = 1.1;

/// A card the payment provider approves.
pub const GOOD_CARD: &str = "4242424242424242";
/// A card it declines.
pub const DECLINED_CARD: &str = "4000000000000002";

/// The first `n` requests of `kind` for `seed` over `shop`.
pub fn requests(kind: Workload, seed: u64, shop: &Shop, n: usize) -> Vec<Req> {
    let mut ranked: Vec<&str> = shop.products.iter().map(|p| p.sku.as_str()).collect();
    ranked.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x9097_1a26));
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ kind as u64 ^ 0x5eed_2600);
    let zipf = Zipf::new(ranked.len() as f64, SKEW).expect("a shop has products");
    let popular = |rng: &mut ChaCha8Rng| ranked[zipf.sample(rng) as usize - 1];
    let unknown = |rng: &mut ChaCha8Rng| sku(ranked.len() as u32 + rng.random_range(1..=50));
    let mut orders_sent = 0u32;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        match kind {
            Workload::Mixed => match rng.random_range(0..100) {
                0..70 => out.push(product(popular(&mut rng))),
                70..85 => {
                    orders_sent += 1;
                    let sku = popular(&mut rng);
                    out.push(order(&mut rng, sku));
                }
                85..93 => out.push(Req::get(format!("/orders/{}", rng.random_range(1..=orders_sent.max(1))))),
                93..98 => out.push(product(&unknown(&mut rng))),
                _ => out.push(bad_input(&mut rng)),
            },
            Workload::Browse => out.push(product(popular(&mut rng))),
            Workload::Orders => {
                orders_sent += 1;
                let sku = popular(&mut rng);
                out.push(order(&mut rng, sku));
                out.push(Req::get(format!("/orders/{orders_sent}")));
            }
            Workload::Scatter => {
                let token: u64 = rng.random();
                out.push(match rng.random_range(0..3) {
                    0 => Req::get(format!("/no/such/page/{token:x}")),
                    1 => product(&unknown(&mut rng)),
                    _ => Req::get(format!("/orders/{}", token % 1_000_000 + 1_000_000)),
                });
            }
        }
    }
    out.truncate(n);
    out
}

fn product(sku: &str) -> Req {
    Req::get(format!("/products/{sku}"))
}

fn order(rng: &mut ChaCha8Rng, sku: &str) -> Req {
    let card = if rng.random_ratio(1, 10) { DECLINED_CARD } else { GOOD_CARD };
    Req::post("/orders", json!({"sku": sku, "quantity": rng.random_range(1..=3), "card": card}))
}

fn bad_input(rng: &mut ChaCha8Rng) -> Req {
    match rng.random_range(0..3) {
        0 => Req::get("/products/not-a-sku"),
        1 => Req::post("/orders", json!({"sku": "SKU-00001", "quantity": 0, "card": GOOD_CARD})),
        _ => Req::get("/orders/zero"),
    }
}

#[cfg(test)]
mod tests {
    use lab_support::Size;

    use super::*;

    #[test]
    fn same_seed_same_list_and_the_mix_holds_every_kind_of_answer() {
        let shop = Shop::generate(3, Size::Tiny);
        let a = requests(Workload::Mixed, 5, &shop, 400);
        assert_eq!(a, requests(Workload::Mixed, 5, &shop, 400));
        assert_ne!(a, requests(Workload::Mixed, 6, &shop, 400));
        assert_eq!(a.len(), 400);
        assert!(a.iter().any(|r| r.method == "POST"));
        assert!(a.iter().any(|r| r.uri.starts_with("/orders/")));
        assert!(a.iter().any(|r| r.body.as_ref().is_some_and(|b| b["card"] == DECLINED_CARD)));
        let scatter = requests(Workload::Scatter, 5, &shop, 300);
        let distinct: std::collections::HashSet<&str> = scatter.iter().map(|r| r.uri.as_str()).collect();
        assert!(distinct.len() > 200, "{} distinct paths", distinct.len());
    }
}
