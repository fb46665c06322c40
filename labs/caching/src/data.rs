//! The seeded catalogue the upstream serves: same seed and size, same items.
//!
//! Items are numbered from 1. Each belongs to one of [`CATEGORIES`] and
//! carries a `version` that the upstream raises on every change, so a reader
//! can tell which write it has seen.

use lab_support::Size;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Every category an item can be in (a category route with another name is a 404).
pub const CATEGORIES: [&str; 12] = [
    "audio", "books", "cameras", "garden", "games", "kitchen", "lighting", "office", "outdoor", "phones", "tools",
    "toys",
];

const ADJECTIVES: [&str; 10] =
    ["compact", "classic", "deluxe", "eco", "foldable", "modular", "portable", "pro", "smart", "wireless"];
const NOUNS: [&str; 10] = ["bundle", "case", "kit", "lamp", "mount", "pack", "set", "stand", "station", "unit"];

/// One item as the upstream stores and serves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub id: u32,
    pub name: String,
    pub category: String,
    pub price_cents: u64,
    pub stock: u32,
    /// 1 when seeded; the upstream adds 1 on every change.
    pub version: u64,
}

/// The whole catalogue, in id order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catalog {
    pub items: Vec<Item>,
}

/// How many items a size has.
pub fn item_count(size: Size) -> u32 {
    match size {
        Size::Tiny => 240,
        Size::Small => 1_000,
        Size::Medium => 2_000,
        Size::Large => 20_000,
    }
}

impl Catalog {
    /// The catalogue for `seed` and `size`.
    pub fn generate(seed: u64, size: Size) -> Catalog {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x25ca_c4e0);
        let items = (1..=item_count(size))
            .map(|id| Item {
                id,
                name: format!(
                    "{} {} {}",
                    ADJECTIVES[rng.random_range(0..ADJECTIVES.len())],
                    NOUNS[rng.random_range(0..NOUNS.len())],
                    rng.random_range(100..1_000)
                ),
                category: CATEGORIES[rng.random_range(0..CATEGORIES.len())].to_string(),
                price_cents: rng.random_range(199..250_000),
                stock: rng.random_range(0..500),
                version: 1,
            })
            .collect();
        Catalog { items }
    }

    /// The item with `id`, if there is one.
    pub fn get(&self, id: u32) -> Option<&Item> {
        id.checked_sub(1).and_then(|i| self.items.get(i as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_catalogue_and_every_category_is_used() {
        let a = Catalog::generate(7, Size::Tiny);
        assert_eq!(a, Catalog::generate(7, Size::Tiny));
        assert_ne!(a, Catalog::generate(8, Size::Tiny));
        assert_eq!(a.items.len(), 240);
        assert_eq!(a.get(1).map(|item| item.id), Some(1));
        assert_eq!(a.get(240).map(|item| item.id), Some(240));
        assert!(a.get(0).is_none() && a.get(241).is_none());
        for category in CATEGORIES {
            assert!(a.items.iter().any(|item| item.category == category), "{category} has no item");
        }
    }
}
