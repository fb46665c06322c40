//! The shop's rows, generated from a seed, and their bulk load into PostgreSQL.
//!
//! Same seed and size, same rows, on every machine: the generator draws from
//! one ChaCha8 stream in a fixed order. [`Dataset::load`] creates the base
//! schema (`schema.sql`), streams every table through `COPY ... FROM STDIN`,
//! then adds keys and foreign keys (`constraints.sql`) once the rows are in.
//!
//! The hot tables are `orders` and `order_lines`: at the default (medium)
//! size 200,000 orders with about 480,000 lines.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context;
use lab_support::Size;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sqlx::{Connection, PgConnection};

/// The year every order and review falls in.
pub const YEAR: i32 = 2026;

/// Product categories, in no particular order.
pub const CATEGORIES: [&str; 8] = ["kitchen", "garden", "office", "toys", "outdoor", "audio", "books", "tools"];

/// Order statuses. Reports leave `cancelled` orders out.
pub const STATUSES: [&str; 5] = ["placed", "paid", "shipped", "delivered", "cancelled"];
const STATUS_WEIGHTS: [u32; 5] = [10, 10, 12, 55, 13];

const COUNTRIES: [&str; 10] = ["ES", "MX", "AR", "CO", "CL", "PE", "US", "FR", "DE", "PT"];
const FIRST: [&str; 20] = [
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger", "Radia", "Tony",
    "Lucia", "Mateo", "Sofia", "Diego", "Valeria", "Hugo", "Elena", "Pablo",
];
const LAST: [&str; 20] = [
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson", "Allen", "Dijkstra",
    "Perlman", "Hoare", "Garcia", "Lopez", "Martinez", "Sanchez", "Romero", "Navarro", "Castro", "Ortega",
];
const ADJECTIVES: [&str; 12] =
    ["Blue", "Compact", "Deluxe", "Eco", "Folding", "Heavy", "Mini", "Quiet", "Retro", "Smart", "Steel", "Travel"];
const NOUNS: [&str; 12] = [
    "Kettle", "Lamp", "Chair", "Speaker", "Drill", "Notebook", "Tent", "Blender", "Puzzle", "Backpack", "Rake", "Clock",
];
const STREETS: [&str; 8] = ["Main", "Oak", "Mill", "Station", "Harbour", "Castle", "Market", "Garden"];
const CITIES: [&str; 8] = ["Madrid", "Lima", "Bogota", "Quito", "Porto", "Lyon", "Austin", "Leipzig"];
const TITLES: [&str; 10] = [
    "Does the job",
    "Great value",
    "Not as pictured",
    "Would buy again",
    "Broke after a week",
    "Solid build",
    "Arrived late",
    "Exactly what I needed",
    "Too small",
    "Five stars",
];
const WORDS: [&str; 32] = [
    "sturdy",
    "light",
    "handy",
    "box",
    "colour",
    "quality",
    "price",
    "shipping",
    "gift",
    "daily",
    "works",
    "easy",
    "clean",
    "battery",
    "design",
    "strong",
    "soft",
    "metal",
    "wood",
    "fits",
    "size",
    "noise",
    "warranty",
    "packed",
    "manual",
    "simple",
    "fast",
    "comfortable",
    "durable",
    "useful",
    "bright",
    "recommend",
];

/// A customer row. `notes` is the wide column nobody needs in a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Customer {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub country: &'static str,
    /// Unix seconds.
    pub created_at: i64,
    pub notes: String,
}

/// A catalogue row. `description` is wide (about 1.5 KB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Product {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub category: &'static str,
    pub price_cents: i64,
    pub description: String,
    /// Reviews so far, kept in step with `reviews` by every write.
    pub rating_count: i64,
    pub rating_sum: i64,
}

/// An order row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: i64,
    pub customer_id: i64,
    pub status: &'static str,
    /// Unix seconds.
    pub placed_at: i64,
    /// Sum of its lines' `quantity * unit_price_cents`.
    pub total_cents: i64,
    pub shipping_address: String,
}

/// An order line row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub id: i64,
    pub order_id: i64,
    pub product_id: i64,
    pub quantity: i32,
    pub unit_price_cents: i64,
}

/// A review row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Review {
    pub id: i64,
    pub product_id: i64,
    pub customer_id: i64,
    pub rating: i16,
    pub title: &'static str,
    pub body: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// Every row the service starts from. Ids are 1-based and dense, so row
/// `id` sits at index `id - 1`; lines are grouped by order, in id order.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub seed: u64,
    pub customers: Vec<Customer>,
    pub products: Vec<Product>,
    pub orders: Vec<Order>,
    pub lines: Vec<Line>,
    pub reviews: Vec<Review>,
    /// `lines[line_start[i]..line_start[i + 1]]` are the lines of `orders[i]`.
    line_start: Vec<usize>,
}

/// Row counts of a [`Size`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub customers: usize,
    pub products: usize,
    pub orders: usize,
    pub reviews: usize,
}

/// How many rows each size generates (lines average about 2.4 per order).
pub fn shape(size: Size) -> Shape {
    match size {
        Size::Tiny => Shape { customers: 60, products: 40, orders: 600, reviews: 240 },
        Size::Small => Shape { customers: 10_000, products: 1_000, orders: 100_000, reviews: 20_000 },
        Size::Medium => Shape { customers: 20_000, products: 2_000, orders: 200_000, reviews: 40_000 },
        Size::Large => Shape { customers: 100_000, products: 5_000, orders: 1_000_000, reviews: 200_000 },
    }
}

/// Unix seconds of `YEAR`-01-01T00:00:00Z.
pub fn year_start() -> i64 {
    time::Date::from_ordinal_date(YEAR, 1).expect("valid").midnight().assume_utc().unix_timestamp()
}

const DAY: i64 = 86_400;

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

fn weighted(rng: &mut ChaCha8Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut roll = rng.random_range(0..total);
    for (i, w) in weights.iter().enumerate() {
        if roll < *w {
            return i;
        }
        roll -= w;
    }
    weights.len() - 1
}

fn words(rng: &mut ChaCha8Rng, n: usize) -> String {
    let mut out = String::with_capacity(n * 8);
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(pick(rng, &WORDS));
    }
    out
}

/// A skewed pick from `1..=n`: `share` of the draws go to the first tenth.
fn skewed_id(rng: &mut ChaCha8Rng, n: usize, share: f64) -> i64 {
    let head = (n / 10).max(1);
    if rng.random_bool(share) { rng.random_range(1..=head) as i64 } else { rng.random_range(1..=n) as i64 }
}

impl Dataset {
    /// Same seed and size, same rows.
    pub fn generate(seed: u64, size: Size) -> Dataset {
        let shape = shape(size);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let start = year_start();

        let customers: Vec<Customer> = (1..=shape.customers as i64)
            .map(|id| {
                let first = pick(&mut rng, &FIRST);
                let last = pick(&mut rng, &LAST);
                let notes_len = rng.random_range(40..90);
                Customer {
                    id,
                    name: format!("{first} {last}"),
                    email: format!("{}.{}.{id}@example.com", first.to_lowercase(), last.to_lowercase()),
                    country: pick(&mut rng, &COUNTRIES),
                    created_at: start - rng.random_range(DAY..3 * 365 * DAY),
                    notes: words(&mut rng, notes_len),
                }
            })
            .collect();

        let mut sku_numbers: Vec<u32> = (1..=99_999).collect();
        let (chosen, _) = sku_numbers.partial_shuffle(&mut rng, shape.products);
        let chosen = chosen.to_vec();
        let mut products: Vec<Product> = chosen
            .iter()
            .zip(1..)
            .map(|(n, id)| {
                let description_len = rng.random_range(150..260);
                Product {
                    id,
                    sku: format!("SKU-{n:05}"),
                    name: format!("{} {} {}", pick(&mut rng, &ADJECTIVES), pick(&mut rng, &NOUNS), id),
                    category: pick(&mut rng, &CATEGORIES),
                    price_cents: rng.random_range(199..=49_999),
                    description: words(&mut rng, description_len),
                    rating_count: 0,
                    rating_sum: 0,
                }
            })
            .collect();

        let mut orders = Vec::with_capacity(shape.orders);
        let mut lines = Vec::with_capacity(shape.orders * 5 / 2);
        let mut line_start = Vec::with_capacity(shape.orders + 1);
        for id in 1..=shape.orders as i64 {
            let mut placed_at = start + rng.random_range(0..365 * DAY);
            // Marketplace imports are stamped at midnight: ties that only `id` breaks.
            if rng.random_bool(0.2) {
                placed_at -= (placed_at - start) % DAY;
            }
            line_start.push(lines.len());
            let count = 1 + weighted(&mut rng, &[30, 30, 20, 12, 8]);
            let mut total = 0;
            let mut seen: Vec<i64> = Vec::with_capacity(count);
            while seen.len() < count {
                let product_id = skewed_id(&mut rng, products.len(), 0.3);
                if seen.contains(&product_id) {
                    continue;
                }
                seen.push(product_id);
                let price = products[(product_id - 1) as usize].price_cents;
                let unit_price_cents = if rng.random_bool(0.1) { price * 9 / 10 } else { price };
                let quantity = rng.random_range(1..=4);
                total += i64::from(quantity) * unit_price_cents;
                lines.push(Line { id: lines.len() as i64 + 1, order_id: id, product_id, quantity, unit_price_cents });
            }
            orders.push(Order {
                id,
                customer_id: skewed_id(&mut rng, customers.len(), 0.4),
                status: STATUSES[weighted(&mut rng, &STATUS_WEIGHTS)],
                placed_at,
                total_cents: total,
                shipping_address: format!(
                    "{} {} Street, {} {}",
                    rng.random_range(1..300),
                    pick(&mut rng, &STREETS),
                    rng.random_range(10_000..99_999),
                    pick(&mut rng, &CITIES)
                ),
            });
        }
        line_start.push(lines.len());

        let reviews: Vec<Review> = (1..=shape.reviews as i64)
            .map(|id| {
                let product_id = skewed_id(&mut rng, products.len(), 0.5);
                let rating = 1 + weighted(&mut rng, &[5, 7, 13, 35, 40]) as i16;
                let product = &mut products[(product_id - 1) as usize];
                product.rating_count += 1;
                product.rating_sum += i64::from(rating);
                let body_len = rng.random_range(10..60);
                Review {
                    id,
                    product_id,
                    customer_id: rng.random_range(1..=customers.len() as i64),
                    rating,
                    title: pick(&mut rng, &TITLES),
                    body: words(&mut rng, body_len),
                    created_at: start + rng.random_range(0..365 * DAY),
                }
            })
            .collect();

        Dataset { seed, customers, products, orders, lines, reviews, line_start }
    }

    /// Rows in the two hot tables.
    pub fn hot_rows(&self) -> usize {
        self.orders.len() + self.lines.len()
    }

    /// Rows in every table.
    pub fn total_rows(&self) -> usize {
        self.customers.len() + self.products.len() + self.hot_rows() + self.reviews.len()
    }

    pub fn order(&self, id: i64) -> Option<&Order> {
        usize::try_from(id - 1).ok().and_then(|i| self.orders.get(i))
    }

    pub fn customer(&self, id: i64) -> Option<&Customer> {
        usize::try_from(id - 1).ok().and_then(|i| self.customers.get(i))
    }

    pub fn product(&self, id: i64) -> Option<&Product> {
        usize::try_from(id - 1).ok().and_then(|i| self.products.get(i))
    }

    /// The lines of order `id`, in line id order.
    pub fn lines_of(&self, id: i64) -> &[Line] {
        match usize::try_from(id - 1) {
            Ok(i) if i < self.orders.len() => &self.lines[self.line_start[i]..self.line_start[i + 1]],
            _ => &[],
        }
    }

    /// Order indices in the API's order: `placed_at` descending, then `id` descending.
    pub fn newest_first(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.orders.len()).collect();
        order.sort_unstable_by(|&a, &b| {
            let (a, b) = (&self.orders[a], &self.orders[b]);
            (b.placed_at, b.id).cmp(&(a.placed_at, a.id))
        });
        order
    }

    /// Creates the base schema in the connected (empty) database, loads every
    /// row with `COPY`, then adds keys and foreign keys.
    pub async fn load(&self, conn: &mut PgConnection) -> anyhow::Result<LoadReport> {
        let started = Instant::now();
        sqlx::raw_sql(include_str!("schema.sql")).execute(&mut *conn).await.context("creating the base schema")?;
        let mut tx = conn.begin().await?;
        copy(
            &mut tx,
            "COPY customers (id, name, email, country, created_at, notes) FROM STDIN",
            &self.customers,
            |buf, c| {
                let _ = write!(buf, "{}\t{}\t{}\t{}\t", c.id, c.name, c.email, c.country);
                push_ts(buf, c.created_at);
                buf.push('\t');
                push_text(buf, &c.notes);
            },
        )
        .await?;
        copy(
            &mut tx,
            "COPY products (id, sku, name, category, price_cents, description, rating_count, rating_sum) FROM STDIN",
            &self.products,
            |buf, p| {
                let _ = write!(buf, "{}\t{}\t{}\t{}\t{}\t", p.id, p.sku, p.name, p.category, p.price_cents);
                push_text(buf, &p.description);
                let _ = write!(buf, "\t{}\t{}", p.rating_count, p.rating_sum);
            },
        )
        .await?;
        copy(
            &mut tx,
            "COPY orders (id, customer_id, status, placed_at, total_cents, shipping_address) FROM STDIN",
            &self.orders,
            |buf, o| {
                let _ = write!(buf, "{}\t{}\t{}\t", o.id, o.customer_id, o.status);
                push_ts(buf, o.placed_at);
                let _ = write!(buf, "\t{}\t", o.total_cents);
                push_text(buf, &o.shipping_address);
            },
        )
        .await?;
        copy(
            &mut tx,
            "COPY order_lines (id, order_id, product_id, quantity, unit_price_cents) FROM STDIN",
            &self.lines,
            |buf, l| {
                let _ =
                    write!(buf, "{}\t{}\t{}\t{}\t{}", l.id, l.order_id, l.product_id, l.quantity, l.unit_price_cents);
            },
        )
        .await?;
        copy(
            &mut tx,
            "COPY reviews (id, product_id, customer_id, rating, title, body, created_at) FROM STDIN",
            &self.reviews,
            |buf, r| {
                let _ = write!(buf, "{}\t{}\t{}\t{}\t{}\t", r.id, r.product_id, r.customer_id, r.rating, r.title);
                push_text(buf, &r.body);
                buf.push('\t');
                push_ts(buf, r.created_at);
            },
        )
        .await?;
        tx.commit().await.context("committing the loaded rows")?;
        let copied = started.elapsed();
        sqlx::raw_sql(include_str!("constraints.sql"))
            .execute(&mut *conn)
            .await
            .context("adding keys and foreign keys")?;
        Ok(LoadReport { rows: self.total_rows(), copy: copied, total: started.elapsed() })
    }
}

/// What [`Dataset::load`] did and how long it took.
#[derive(Clone, Copy, Debug)]
pub struct LoadReport {
    pub rows: usize,
    /// Time spent streaming rows.
    pub copy: Duration,
    /// Including schema, keys and foreign keys.
    pub total: Duration,
}

const CHUNK: usize = 1 << 20;

async fn copy<T>(
    conn: &mut PgConnection,
    statement: &str,
    rows: &[T],
    mut row: impl FnMut(&mut String, &T),
) -> anyhow::Result<()> {
    let mut sink = conn.copy_in_raw(statement).await.with_context(|| format!("starting {statement}"))?;
    let mut buf = String::with_capacity(CHUNK + 4096);
    for item in rows {
        row(&mut buf, item);
        buf.push('\n');
        if buf.len() >= CHUNK {
            sink.send(buf.as_bytes()).await?;
            buf.clear();
        }
    }
    if !buf.is_empty() {
        sink.send(buf.as_bytes()).await?;
    }
    sink.finish().await.with_context(|| format!("finishing {statement}"))?;
    Ok(())
}

/// Text in COPY's text format: backslash, tab and newlines escaped.
fn push_text(buf: &mut String, text: &str) {
    for ch in text.chars() {
        match ch {
            '\\' => buf.push_str("\\\\"),
            '\t' => buf.push_str("\\t"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            other => buf.push(other),
        }
    }
}

fn push_ts(buf: &mut String, unix: i64) {
    let at = time::OffsetDateTime::from_unix_timestamp(unix).expect("seeded timestamps are in range");
    let _ = write!(
        buf,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}+00",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_the_same_rows() {
        let a = Dataset::generate(3, Size::Tiny);
        let b = Dataset::generate(3, Size::Tiny);
        assert_eq!(a.orders, b.orders);
        assert_eq!(a.lines, b.lines);
        assert_eq!(a.reviews, b.reviews);
        let c = Dataset::generate(4, Size::Tiny);
        assert_ne!(a.orders, c.orders);
    }

    #[test]
    fn totals_and_ratings_agree_with_the_rows() {
        let data = Dataset::generate(9, Size::Tiny);
        for order in &data.orders {
            let lines = data.lines_of(order.id);
            assert!(!lines.is_empty());
            let sum: i64 = lines.iter().map(|l| i64::from(l.quantity) * l.unit_price_cents).sum();
            assert_eq!(sum, order.total_cents);
        }
        let count: i64 = data.products.iter().map(|p| p.rating_count).sum();
        assert_eq!(count as usize, data.reviews.len());
    }

    #[test]
    fn placed_at_has_ties_for_the_tiebreaker_to_break() {
        let data = Dataset::generate(1, Size::Tiny);
        let order = data.newest_first();
        let ties = order.windows(2).filter(|w| data.orders[w[0]].placed_at == data.orders[w[1]].placed_at).count();
        assert!(ties > 0, "no two orders share placed_at");
    }

    #[test]
    fn the_default_size_has_at_least_100k_rows_in_the_hot_tables() {
        let shape = shape(Size::Medium);
        assert!(shape.orders >= 100_000);
    }

    #[test]
    fn copy_text_escapes_separators() {
        let mut buf = String::new();
        push_text(&mut buf, "a\tb\nc\\d");
        assert_eq!(buf, "a\\tb\\nc\\\\d");
        let mut ts = String::new();
        push_ts(&mut ts, year_start() + 86_400 + 3_661);
        assert_eq!(ts, "2026-01-02 01:01:01+00");
    }
}
