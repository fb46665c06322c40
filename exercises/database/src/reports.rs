//! Sales reports.

use std::collections::{HashMap, HashSet};

use axum::Json;
use axum::extract::State;
use lab_database::api::{ApiError, CategoryReport, CategoryTotal, DateRange};

use crate::models::{OrderLineRow, OrderRow, ProductRow};
use crate::state::AppState;

#[derive(Default)]
struct Totals {
    orders: HashSet<i64>,
    units: i64,
    revenue_cents: i64,
}

/// `GET /reports/categories`: revenue per category over a range of days.
pub async fn categories(State(state): State<AppState>, range: DateRange) -> Result<Json<CategoryReport>, ApiError> {
    let mut db = state.db().await?;
    // TODO: measure the bytes PostgreSQL sends the service for one report (guide, step 5: bytes to the client).
    let orders: Vec<OrderRow> = sqlx::query_as("SELECT * FROM orders").fetch_all(&mut db).await?;
    let lines: Vec<OrderLineRow> = sqlx::query_as("SELECT * FROM order_lines").fetch_all(&mut db).await?;
    let products: Vec<ProductRow> = sqlx::query_as("SELECT * FROM products").fetch_all(&mut db).await?;

    let (start, end) = (range.start(), range.end());
    let counted: HashSet<i64> = orders
        .iter()
        .filter(|o| o.placed_at >= start && o.placed_at < end && o.status != "cancelled")
        .map(|o| o.id)
        .collect();
    let category: HashMap<i64, String> = products.iter().map(|p| (p.id, p.category.clone())).collect();

    let mut totals: HashMap<String, Totals> = HashMap::new();
    for line in &lines {
        if !counted.contains(&line.order_id) {
            continue;
        }
        let entry = totals.entry(category[&line.product_id].clone()).or_default();
        entry.orders.insert(line.order_id);
        entry.units += i64::from(line.quantity);
        entry.revenue_cents += i64::from(line.quantity) * line.unit_price_cents;
    }

    let mut categories: Vec<CategoryTotal> = totals
        .into_iter()
        .map(|(category, t)| CategoryTotal {
            category,
            orders: t.orders.len() as i64,
            units: t.units,
            revenue_cents: t.revenue_cents,
        })
        .collect();
    categories.sort_by(|a, b| b.revenue_cents.cmp(&a.revenue_cents).then(a.category.cmp(&b.category)));
    Ok(Json(CategoryReport { from: range.from.to_string(), to: range.to.to_string(), categories }))
}
