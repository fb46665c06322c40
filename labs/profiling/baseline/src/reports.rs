//! The three reports.

use lab_profiling::api::{
    CustomerReport, DailyReport, DayTotal, ReportParams, TOP_CUSTOMERS, TopCustomer, TopProduct, TopProducts,
};
use lab_profiling::data::REGIONS;

use crate::format::format_money;
use crate::sales::{Sale, parse_sales};
use crate::state::Store;

/// Sales inside the report's dates and region.
fn matching_sales(store: &Store, params: &ReportParams) -> Vec<Sale> {
    let from = params.from.to_string();
    let to = params.to.to_string();
    let mut matching = Vec::new();
    for sale in parse_sales(&store.sales) {
        if sale.date < from || sale.date > to {
            continue;
        }
        if let Some(region) = params.region
            && sale.region != REGIONS[region]
        {
            continue;
        }
        matching.push(sale);
    }
    matching
}

fn line_revenue(store: &Store, sale: &Sale) -> u64 {
    let product = store.products.iter().find(|p| p.sku == sale.sku).cloned();
    match product {
        Some(product) => sale.quantity * product.price_cents * (100 - sale.discount) / 100,
        None => 0,
    }
}

pub fn top_products(store: &Store, params: &ReportParams) -> TopProducts {
    // (sku, units, revenue)
    let mut totals: Vec<(String, u64, u64)> = Vec::new();
    for sale in matching_sales(store, params) {
        let revenue = line_revenue(store, &sale);
        match totals.iter().position(|t| t.0 == sale.sku) {
            Some(i) => {
                totals[i].1 += sale.quantity;
                totals[i].2 += revenue;
            }
            None => totals.push((sale.sku.clone(), sale.quantity, revenue)),
        }
    }
    totals.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));

    let mut products = Vec::new();
    for (i, (sku, units, revenue)) in totals.iter().take(params.limit).enumerate() {
        let product = store.products.iter().find(|p| &p.sku == sku).unwrap().clone();
        products.push(TopProduct {
            rank: i + 1,
            sku: sku.clone(),
            name: product.name.clone(),
            units: *units,
            revenue: format_money(*revenue),
        });
    }
    TopProducts {
        from: params.from.to_string(),
        to: params.to.to_string(),
        region: params.region_name().to_string(),
        products,
    }
}

pub fn customers(store: &Store, params: &ReportParams) -> CustomerReport {
    let sales = matching_sales(store, params);
    let mut seen: Vec<String> = Vec::new();
    // (customer, orders, spent)
    let mut spending: Vec<(String, u64, u64)> = Vec::new();
    for sale in &sales {
        if !seen.contains(&sale.customer) {
            seen.push(sale.customer.clone());
        }
        let revenue = line_revenue(store, sale);
        match spending.iter().position(|s| s.0 == sale.customer) {
            Some(i) => {
                spending[i].1 += 1;
                spending[i].2 += revenue;
            }
            None => spending.push((sale.customer.clone(), 1, revenue)),
        }
    }
    spending.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    let top = spending
        .iter()
        .take(TOP_CUSTOMERS)
        .map(|(customer, orders, spent)| TopCustomer {
            customer: customer.clone(),
            orders: *orders,
            spent: format_money(*spent),
        })
        .collect();
    CustomerReport {
        from: params.from.to_string(),
        to: params.to.to_string(),
        region: params.region_name().to_string(),
        unique_customers: seen.len(),
        orders: sales.len(),
        top,
    }
}

pub fn daily(store: &Store, params: &ReportParams) -> DailyReport {
    // (date, orders, units, revenue)
    let mut days: Vec<(String, u64, u64, u64)> = Vec::new();
    for sale in matching_sales(store, params) {
        let revenue = line_revenue(store, &sale);
        match days.iter().position(|d| d.0 == sale.date) {
            Some(i) => {
                days[i].1 += 1;
                days[i].2 += sale.quantity;
                days[i].3 += revenue;
            }
            None => days.push((sale.date.clone(), 1, sale.quantity, revenue)),
        }
    }
    days.sort();
    DailyReport {
        from: params.from.to_string(),
        to: params.to.to_string(),
        region: params.region_name().to_string(),
        days: days
            .iter()
            .map(|(date, orders, units, revenue)| DayTotal {
                date: date.clone(),
                orders: *orders,
                units: *units,
                revenue: format_money(*revenue),
            })
            .collect(),
    }
}
