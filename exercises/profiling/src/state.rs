//! What the service keeps between requests.

use std::sync::{Arc, Mutex};

use lab_profiling::{Dataset, Product};

/// A report we served, kept for `GET /reports/recent`.
pub struct ServedReport {
    pub path: String,
    pub body: String,
}

// TODO: measure what every request recomputes from what is kept here (guide, step 4).
pub struct Store {
    pub products: Vec<Product>,
    /// Sale lines exactly as the checkout wrote them.
    pub sales: Vec<String>,
    pub recent: Vec<ServedReport>,
    /// PBKDF2 rounds of a batch receipt.
    pub receipt_rounds: u32,
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Mutex<Store>>,
}

impl AppState {
    pub fn new(data: Dataset) -> AppState {
        let store = Store {
            products: data.products,
            sales: data.sales,
            recent: Vec::new(),
            receipt_rounds: data.receipt_rounds,
        };
        AppState { store: Arc::new(Mutex::new(store)) }
    }
}
