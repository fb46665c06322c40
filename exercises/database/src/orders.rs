//! Orders: the paged list, one order, and a customer's orders.

use axum::Json;
use axum::extract::State;
use lab_database::api::{
    self, ApiError, Cursor, CustomerOrders, CustomerRef, Id, LimitParam, Order, OrderLine, OrderPage, OrderSummary,
    PageParams,
};
use sqlx::PgConnection;

use crate::models::{CustomerRow, LineWithProduct, OrderRow};
use crate::state::AppState;

/// `GET /orders`: newest first, `limit` at a time.
pub async fn list(State(state): State<AppState>, page: PageParams) -> Result<Json<OrderPage>, ApiError> {
    let mut db = state.db().await?;
    let offset = page.cursor.map_or(0, |cursor| cursor.position);
    // TODO: count the rows of orders PostgreSQL reads for a page 50,000 deep, and time it (guide, step 4).
    // One extra row tells us whether there is a next page.
    let mut rows: Vec<OrderRow> =
        sqlx::query_as("SELECT * FROM orders ORDER BY placed_at DESC, id DESC LIMIT $1 OFFSET $2")
            .bind(page.limit + 1)
            .bind(offset)
            .fetch_all(&mut db)
            .await?;
    let more = rows.len() as i64 > page.limit;
    rows.truncate(page.limit as usize);

    // TODO: count the queries one page sends, for 10 orders and for 50 (guide, steps 1 and 2).
    let mut orders = Vec::new();
    for row in &rows {
        orders.push(load_order(&mut db, row).await?);
    }
    let next_cursor = match rows.last() {
        Some(last) if more => Some(Cursor::after(offset + rows.len() as i64, last.placed_at, last.id).encode()),
        _ => None,
    };
    Ok(Json(OrderPage { orders, next_cursor }))
}

/// `GET /orders/{id}`.
pub async fn one(State(state): State<AppState>, Id(id): Id) -> Result<Json<Order>, ApiError> {
    // TODO: count the queries one order sends (guide, steps 1 and 2).
    let mut db = state.db().await?;
    let row: Option<OrderRow> =
        sqlx::query_as("SELECT * FROM orders WHERE id = $1").bind(id).fetch_optional(&mut db).await?;
    let Some(row) = row else {
        return Err(ApiError::NotFound(format!("no order with id {id}")));
    };
    Ok(Json(load_order(&mut db, &row).await?))
}

/// The order's customer and lines.
async fn load_order(db: &mut PgConnection, row: &OrderRow) -> Result<Order, ApiError> {
    let customer: CustomerRow =
        sqlx::query_as("SELECT * FROM customers WHERE id = $1").bind(row.customer_id).fetch_one(&mut *db).await?;
    let lines: Vec<LineWithProduct> = sqlx::query_as(
        "SELECT l.*, p.sku, p.name FROM order_lines l JOIN products p ON p.id = l.product_id \
         WHERE l.order_id = $1 ORDER BY l.id",
    )
    .bind(row.id)
    .fetch_all(&mut *db)
    .await?;

    Ok(Order {
        id: row.id,
        placed_at: api::timestamp(row.placed_at),
        status: row.status.clone(),
        customer: CustomerRef { id: customer.id, name: customer.name, email: customer.email },
        lines: lines
            .into_iter()
            .map(|line| OrderLine {
                sku: line.sku,
                name: line.name,
                quantity: line.quantity,
                unit_price_cents: line.unit_price_cents,
            })
            .collect(),
        total_cents: row.total_cents,
    })
}

/// `GET /customers/{id}/orders`: the customer's latest orders.
pub async fn of_customer(
    State(state): State<AppState>,
    Id(id): Id,
    LimitParam(limit): LimitParam,
) -> Result<Json<CustomerOrders>, ApiError> {
    let mut db = state.db().await?;
    let customer: Option<CustomerRow> =
        sqlx::query_as("SELECT * FROM customers WHERE id = $1").bind(id).fetch_optional(&mut db).await?;
    let Some(customer) = customer else {
        return Err(ApiError::NotFound(format!("no customer with id {id}")));
    };
    // TODO: read this query's plan with EXPLAIN (ANALYZE, BUFFERS) (guide, step 3).
    let rows: Vec<OrderRow> =
        sqlx::query_as("SELECT * FROM orders WHERE customer_id = $1 ORDER BY placed_at DESC, id DESC LIMIT $2")
            .bind(id)
            .bind(limit)
            .fetch_all(&mut db)
            .await?;

    Ok(Json(CustomerOrders {
        customer: CustomerRef { id: customer.id, name: customer.name, email: customer.email },
        orders: rows
            .into_iter()
            .map(|row| OrderSummary {
                id: row.id,
                placed_at: api::timestamp(row.placed_at),
                status: row.status,
                total_cents: row.total_cents,
            })
            .collect(),
    }))
}
