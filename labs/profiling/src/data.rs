//! The dataset: a product catalogue and a log of sales, generated from a seed.
//!
//! Sales arrive as raw log lines, oldest first, the way the shop's checkout
//! writes them:
//!
//! ```text
//! 2026-03-14T10:22:05Z;SKU-00042;north;C000421;3;15
//! timestamp           ;sku      ;region;customer;quantity;discount %
//! ```
//!
//! A line's revenue in cents is `quantity * price_cents * (100 - discount) / 100`,
//! rounded down per line.

use lab_support::Size;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The five sales regions, in the order reports list them.
pub const REGIONS: [&str; 5] = ["north", "south", "east", "west", "central"];

/// The year every sale falls in.
pub const YEAR: i32 = 2026;

/// PBKDF2 rounds of a receipt on the graded data: about 25 ms of one core.
pub const RECEIPT_ROUNDS: u32 = 200_000;

const CATEGORIES: [&str; 8] = ["kitchen", "garden", "office", "toys", "outdoor", "audio", "books", "tools"];
const ADJECTIVES: [&str; 12] =
    ["Blue", "Compact", "Deluxe", "Eco", "Folding", "Heavy", "Mini", "Quiet", "Retro", "Smart", "Steel", "Travel"];
const NOUNS: [&str; 12] = [
    "Kettle", "Lamp", "Chair", "Speaker", "Drill", "Notebook", "Tent", "Blender", "Puzzle", "Backpack", "Rake", "Clock",
];

/// A catalogue entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub category: String,
    pub price_cents: u64,
}

/// Everything the service starts from.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub products: Vec<Product>,
    /// Raw sale lines, oldest first.
    pub sales: Vec<String>,
    /// Customer ids that appear in the log, for workloads.
    pub customers: usize,
    /// PBKDF2 rounds of a batch receipt ([`crate::receipt`]): the shop's
    /// setting, tens of milliseconds of CPU per receipt, and small for tests.
    pub receipt_rounds: u32,
}

struct Shape {
    products: usize,
    customers: usize,
    sales: usize,
    receipt_rounds: u32,
}

fn shape(size: Size) -> Shape {
    match size {
        Size::Tiny => Shape { products: 24, customers: 40, sales: 400, receipt_rounds: 100 },
        Size::Small => Shape { products: 150, customers: 750, sales: 2_500, receipt_rounds: RECEIPT_ROUNDS },
        Size::Medium => Shape { products: 300, customers: 1_500, sales: 5_000, receipt_rounds: RECEIPT_ROUNDS },
        Size::Large => Shape { products: 1_500, customers: 8_000, sales: 40_000, receipt_rounds: RECEIPT_ROUNDS },
    }
}

impl Dataset {
    /// Same seed and size, same dataset, on every machine.
    pub fn generate(seed: u64, size: Size) -> Dataset {
        let shape = shape(size);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);

        let mut sku_numbers: Vec<u32> = (1..=99_999).collect();
        let (chosen, _) = sku_numbers.partial_shuffle(&mut rng, shape.products);
        let mut products: Vec<Product> = chosen
            .iter()
            .map(|n| Product {
                sku: format!("SKU-{n:05}"),
                name: format!(
                    "{} {} {}",
                    ADJECTIVES[rng.random_range(0..ADJECTIVES.len())],
                    NOUNS[rng.random_range(0..NOUNS.len())],
                    rng.random_range(100..1000)
                ),
                category: CATEGORIES[rng.random_range(0..CATEGORIES.len())].to_string(),
                price_cents: rng.random_range(199..=49_999),
            })
            .collect();
        // Popular products first in draw order, so the skew below is not by sku.
        products.shuffle(&mut rng);

        let mut seconds: Vec<u32> = (0..shape.sales).map(|_| rng.random_range(0..365 * 86_400)).collect();
        seconds.sort_unstable();
        let sales = seconds
            .into_iter()
            .map(|second| {
                // Squaring skews popularity: a few products and customers sell most.
                let pick = |rng: &mut ChaCha8Rng, n: usize| {
                    let x: f64 = rng.random();
                    ((x * x) * n as f64) as usize
                };
                let product = &products[pick(&mut rng, shape.products)];
                let customer = pick(&mut rng, shape.customers);
                let region = REGIONS[rng.random_range(0..REGIONS.len())];
                let quantity = 1 + pick(&mut rng, 5);
                let discount = [0, 0, 0, 5, 10, 15, 20][rng.random_range(0..7)];
                sale_line(second, &product.sku, region, customer, quantity as u32, discount)
            })
            .collect();

        Dataset { products, sales, customers: shape.customers, receipt_rounds: shape.receipt_rounds }
    }
}

/// Formats one log line; `second` counts from the start of [`YEAR`].
pub fn sale_line(second: u32, sku: &str, region: &str, customer: usize, quantity: u32, discount: u32) -> String {
    let date = time::Date::from_ordinal_date(YEAR, (second / 86_400) as u16 + 1).expect("second is within the year");
    let in_day = second % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}Z;{sku};{region};C{customer:06};{quantity};{discount}",
        date,
        in_day / 3600,
        in_day / 60 % 60,
        in_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_the_same_dataset() {
        let a = Dataset::generate(7, Size::Tiny);
        let b = Dataset::generate(7, Size::Tiny);
        assert_eq!(a.products, b.products);
        assert_eq!(a.sales, b.sales);
        let c = Dataset::generate(8, Size::Tiny);
        assert_ne!(a.sales, c.sales);
    }

    #[test]
    fn sales_are_oldest_first_and_well_formed() {
        let data = Dataset::generate(3, Size::Tiny);
        assert_eq!(data.sales.len(), 400);
        let mut sorted = data.sales.clone();
        sorted.sort();
        assert_eq!(sorted, data.sales);
        for line in &data.sales {
            assert_eq!(line.split(';').count(), 6, "{line}");
            assert!(line.starts_with("2026-"), "{line}");
        }
        assert_eq!(
            sale_line(86_400 + 3661, "SKU-00001", "east", 7, 2, 5),
            "2026-01-02T01:01:01Z;SKU-00001;east;C000007;2;5"
        );
    }
}
