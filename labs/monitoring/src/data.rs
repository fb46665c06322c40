//! The seeded shop: same seed and size, same products.
//!
//! Products are named `SKU-00001` upward. Some start out of stock, so the
//! order workload meets every answer the contract has: placed, out of
//! stock, declined by the payment provider, unknown product.

use lab_support::Size;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Every category a product can be in.
pub const CATEGORIES: [&str; 8] = ["audio", "books", "garden", "games", "kitchen", "office", "outdoor", "toys"];

const ADJECTIVES: [&str; 8] = ["compact", "classic", "deluxe", "eco", "modular", "portable", "smart", "wireless"];
const NOUNS: [&str; 8] = ["bundle", "case", "kit", "lamp", "mount", "pack", "stand", "station"];

/// One product as the database holds it when seeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seeded {
    pub sku: String,
    pub name: String,
    pub category: String,
    pub price_cents: i64,
    pub stock: i32,
}

/// The whole catalogue, in SKU order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shop {
    pub products: Vec<Seeded>,
}

/// How many products a size has.
pub fn product_count(size: Size) -> u32 {
    match size {
        Size::Tiny => 120,
        Size::Small => 500,
        Size::Medium => 2_000,
        Size::Large => 20_000,
    }
}

/// The SKU of product number `n` (from 1).
pub fn sku(n: u32) -> String {
    format!("SKU-{n:05}")
}

impl Shop {
    /// The shop for `seed` and `size`.
    pub fn generate(seed: u64, size: Size) -> Shop {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x26a0_11e7);
        let products = (1..=product_count(size))
            .map(|n| Seeded {
                sku: sku(n),
                name: format!(
                    "{} {} {}",
                    ADJECTIVES[rng.random_range(0..ADJECTIVES.len())],
                    NOUNS[rng.random_range(0..NOUNS.len())],
                    rng.random_range(100..1_000)
                ),
                category: CATEGORIES[rng.random_range(0..CATEGORIES.len())].to_string(),
                price_cents: rng.random_range(199..50_000),
                // One product in eight starts sold out.
                stock: if rng.random_ratio(1, 8) { 0 } else { rng.random_range(20..400) },
            })
            .collect();
        Shop { products }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_shop_with_some_products_sold_out() {
        let a = Shop::generate(7, Size::Tiny);
        assert_eq!(a, Shop::generate(7, Size::Tiny));
        assert_ne!(a, Shop::generate(8, Size::Tiny));
        assert_eq!(a.products.len(), 120);
        assert_eq!(a.products[0].sku, "SKU-00001");
        assert!(a.products.iter().any(|p| p.stock == 0) && a.products.iter().any(|p| p.stock > 0));
    }
}
