//! The table rows as Rust structs.

use sqlx::FromRow;
use time::OffsetDateTime;

#[derive(Debug, Clone, FromRow)]
pub struct CustomerRow {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub country: String,
    pub created_at: OffsetDateTime,
    pub notes: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct ProductRow {
    pub id: i64,
    pub sku: String,
    pub name: String,
    pub category: String,
    pub price_cents: i64,
    pub description: String,
    pub rating_count: i64,
    pub rating_sum: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct OrderRow {
    pub id: i64,
    pub customer_id: i64,
    pub status: String,
    pub placed_at: OffsetDateTime,
    pub total_cents: i64,
    pub shipping_address: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct OrderLineRow {
    pub id: i64,
    pub order_id: i64,
    pub product_id: i64,
    pub quantity: i32,
    pub unit_price_cents: i64,
}

/// An order line with the product's sku and name.
#[derive(Debug, Clone, FromRow)]
pub struct LineWithProduct {
    pub id: i64,
    pub order_id: i64,
    pub product_id: i64,
    pub quantity: i32,
    pub unit_price_cents: i64,
    pub sku: String,
    pub name: String,
}
