//! The three reports.

use std::cmp::Ordering;
use std::collections::HashMap;

use lab_profiling::api::{
    CustomerReport, DailyReport, DayTotal, ReportParams, TOP_CUSTOMERS, TopCustomer, TopProduct, TopProducts,
};
use time::Date;

use crate::format::format_money;
use crate::sales::Sale;
use crate::state::{Catalog, Store};

/// Sales inside the report's dates and region.
fn matching<'a>(store: &'a Store, params: &ReportParams) -> impl Iterator<Item = &'a Sale> {
    let region = params.region.map(|r| r as u8);
    // Why: the sales are sorted by day, so only the requested days are visited.
    store
        .range(params.from.ordinal(), params.to.ordinal())
        .iter()
        .filter(move |sale| region.is_none_or(|r| sale.region == r))
}

/// Keeps the `n` smallest items by `order`, sorted.
fn top_n<T>(mut items: Vec<T>, n: usize, order: impl Fn(&T, &T) -> Ordering) -> Vec<T> {
    // Why: selecting the top n is linear; only those n are then sorted.
    if items.len() > n && n > 0 {
        items.select_nth_unstable_by(n - 1, &order);
        items.truncate(n);
    }
    items.sort_unstable_by(order);
    items
}

pub fn top_products(catalog: &Catalog, store: &Store, params: &ReportParams) -> TopProducts {
    // Why: products are dense indices, so totals live in two flat arrays: no search, no hashing.
    let mut units = vec![0u64; catalog.products.len()];
    let mut revenue = vec![0u64; catalog.products.len()];
    for sale in matching(store, params) {
        units[sale.product as usize] += u64::from(sale.quantity);
        revenue[sale.product as usize] += sale.revenue;
    }
    let sold: Vec<usize> = (0..units.len()).filter(|&i| units[i] > 0).collect();
    let ranked = top_n(sold, params.limit, |&a, &b| {
        revenue[b].cmp(&revenue[a]).then_with(|| catalog.products[a].sku.cmp(&catalog.products[b].sku))
    });
    let products = ranked
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let product = &catalog.products[p];
            TopProduct {
                rank: i + 1,
                sku: product.sku.clone(),
                name: product.name.clone(),
                units: units[p],
                revenue: format_money(revenue[p]),
            }
        })
        .collect();
    TopProducts {
        from: params.from.to_string(),
        to: params.to.to_string(),
        region: params.region_name().to_string(),
        products,
    }
}

pub fn customers(store: &Store, params: &ReportParams) -> CustomerReport {
    // Why: one hash map gives distinct customers and their totals in a single pass, instead of two linear searches per sale.
    let mut spending: HashMap<u32, (u64, u64)> = HashMap::new();
    let mut orders = 0;
    for sale in matching(store, params) {
        orders += 1;
        let entry = spending.entry(sale.customer).or_default();
        entry.0 += 1;
        entry.1 += sale.revenue;
    }
    let unique_customers = spending.len();
    let all: Vec<(u32, (u64, u64))> = spending.into_iter().collect();
    let top = top_n(all, TOP_CUSTOMERS, |a, b| b.1.1.cmp(&a.1.1).then(a.0.cmp(&b.0)))
        .into_iter()
        .map(|(customer, (orders, spent))| TopCustomer {
            customer: format!("C{customer:06}"),
            orders,
            spent: format_money(spent),
        })
        .collect();
    CustomerReport {
        from: params.from.to_string(),
        to: params.to.to_string(),
        region: params.region_name().to_string(),
        unique_customers,
        orders,
        top,
    }
}

pub fn daily(store: &Store, params: &ReportParams) -> DailyReport {
    // Why: the sales come sorted by day, so each day's total is a run of neighbours: no lookup at all.
    let mut totals: Vec<(u16, u64, u64, u64)> = Vec::new();
    for sale in matching(store, params) {
        match totals.last_mut() {
            Some(last) if last.0 == sale.day => {
                last.1 += 1;
                last.2 += u64::from(sale.quantity);
                last.3 += sale.revenue;
            }
            _ => totals.push((sale.day, 1, u64::from(sale.quantity), sale.revenue)),
        }
    }
    let year = params.from.year();
    DailyReport {
        from: params.from.to_string(),
        to: params.to.to_string(),
        region: params.region_name().to_string(),
        days: totals
            .into_iter()
            .map(|(day, orders, units, revenue)| DayTotal {
                date: Date::from_ordinal_date(year, day).map(|d| d.to_string()).unwrap_or_default(),
                orders,
                units,
                revenue: format_money(revenue),
            })
            .collect(),
    }
}
