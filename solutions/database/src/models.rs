//! The rows each query returns, with only the columns the answer needs.

use sqlx::FromRow;
use time::OffsetDateTime;

// Why: no wide columns (notes, description, shipping_address) in these rows: each query selects what the answer uses.

/// An order with its customer, one row per order (the to-one side, joined).
#[derive(Debug, Clone, FromRow)]
pub struct OrderHead {
    pub id: i64,
    pub placed_at: OffsetDateTime,
    pub status: String,
    pub total_cents: i64,
    pub customer_id: i64,
    pub customer_name: String,
    pub customer_email: String,
}

/// An order line with its product's sku and name, tagged with its order.
#[derive(Debug, Clone, FromRow)]
pub struct LineWithProduct {
    pub order_id: i64,
    pub sku: String,
    pub name: String,
    pub quantity: i32,
    pub unit_price_cents: i64,
}

/// One order joined with its customer and one of its lines (all-in-one JOIN).
#[derive(Debug, Clone, FromRow)]
pub struct OrderWithLine {
    #[sqlx(flatten)]
    pub head: OrderHead,
    pub sku: Option<String>,
    pub name: Option<String>,
    pub quantity: Option<i32>,
    pub unit_price_cents: Option<i64>,
}

#[derive(Debug, Clone, FromRow)]
pub struct CustomerRow {
    pub id: i64,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct OrderSummaryRow {
    pub id: i64,
    pub placed_at: OffsetDateTime,
    pub status: String,
    pub total_cents: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct ProductRow {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub category: String,
    pub price_cents: i64,
    pub rating_count: i64,
    pub rating_sum: i64,
}

/// One line of the category report, summed by PostgreSQL.
#[derive(Debug, Clone, FromRow)]
pub struct CategoryRow {
    pub category: String,
    pub orders: i64,
    pub units: i64,
    pub revenue_cents: i64,
}
