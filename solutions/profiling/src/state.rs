//! What the service keeps between requests.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use lab_profiling::api::{RECENT, RecentReport};
use lab_profiling::{Dataset, Product};
use parking_lot::{Mutex, RwLock};

use crate::sales::{Sale, parse_line};

/// The catalogue never changes after start-up, so it is shared without a lock.
pub struct Catalog {
    pub products: Vec<Product>,
    // Why: a hash lookup by sku replaces a scan of every product per sale.
    pub by_sku: HashMap<String, u32>,
}

impl Catalog {
    pub fn index_of(&self, sku: &str) -> Option<u32> {
        self.by_sku.get(sku).copied()
    }
}

pub struct Store {
    // Why: the log is parsed once at start-up and on ingest, never again per request.
    // Kept sorted by day, so a date range is two binary searches instead of a full scan.
    pub sales: Vec<Sale>,
}

#[derive(Clone)]
pub struct AppState {
    pub catalog: Arc<Catalog>,
    // Why: reports only read, so they share a read lock and run in parallel; ingest takes the write lock briefly.
    pub store: Arc<RwLock<Store>>,
    // Why: a bounded queue of small records instead of every report body ever served (the leak).
    pub recent: Arc<Mutex<VecDeque<RecentReport>>>,
    /// PBKDF2 rounds of a batch receipt: configuration, read without a lock.
    pub receipt_rounds: u32,
}

impl AppState {
    pub fn new(data: Dataset) -> AppState {
        let by_sku = data.products.iter().enumerate().map(|(i, p)| (p.sku.clone(), i as u32)).collect();
        let catalog = Catalog { products: data.products, by_sku };
        let mut sales: Vec<Sale> = data.sales.iter().filter_map(|line| parse_line(line, &catalog).ok()).collect();
        // Why: a stable sort keeps the log's order within a day; the log is already nearly sorted.
        sales.sort_by_key(|sale| sale.day);
        AppState {
            catalog: Arc::new(catalog),
            store: Arc::new(RwLock::new(Store { sales })),
            recent: Arc::new(Mutex::new(VecDeque::with_capacity(RECENT))),
            receipt_rounds: data.receipt_rounds,
        }
    }

    /// Records a served report, forgetting the oldest beyond [`RECENT`].
    pub fn remember(&self, path: String, bytes: usize) {
        let mut recent = self.recent.lock();
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(RecentReport { path, bytes });
    }
}

impl Store {
    /// Sales of days `from..=to` (ordinal days of the year).
    pub fn range(&self, from: u16, to: u16) -> &[Sale] {
        let start = self.sales.partition_point(|sale| sale.day < from);
        let end = self.sales.partition_point(|sale| sale.day <= to);
        &self.sales[start..end]
    }

    /// Inserts sales keeping the day order.
    pub fn insert(&mut self, new: Vec<Sale>) {
        for sale in new {
            let at = self.sales.partition_point(|s| s.day <= sale.day);
            self.sales.insert(at, sale);
        }
    }
}
