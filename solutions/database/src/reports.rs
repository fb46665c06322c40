//! Sales reports.

use axum::Json;
use axum::extract::State;
use lab_database::api::{ApiError, CategoryReport, CategoryTotal, DateRange};

use crate::models::CategoryRow;
use crate::state::AppState;

/// `GET /reports/categories`: revenue per category over a range of days.
pub async fn categories(State(state): State<AppState>, range: DateRange) -> Result<Json<CategoryReport>, ApiError> {
    // Why: filter and sum where the rows are: PostgreSQL reads only the range (through the
    // placed_at index) and sends back eight totals, not every order, line and product.
    let rows: Vec<CategoryRow> = sqlx::query_as(
        "SELECT p.category, \
                count(DISTINCT o.id) AS orders, \
                sum(l.quantity)::bigint AS units, \
                sum(l.quantity * l.unit_price_cents)::bigint AS revenue_cents \
         FROM orders o \
         JOIN order_lines l ON l.order_id = o.id \
         JOIN products p ON p.id = l.product_id \
         WHERE o.placed_at >= $1 AND o.placed_at < $2 AND o.status <> 'cancelled' \
         GROUP BY p.category \
         ORDER BY revenue_cents DESC, p.category",
    )
    .bind(range.start())
    .bind(range.end())
    .fetch_all(&state.pool)
    .await?;

    let categories = rows
        .into_iter()
        .map(|row| CategoryTotal {
            category: row.category,
            orders: row.orders,
            units: row.units,
            revenue_cents: row.revenue_cents,
        })
        .collect();
    Ok(Json(CategoryReport { from: range.from.to_string(), to: range.to.to_string(), categories }))
}
