//! Orders: the paged list, one order, and a customer's orders.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use lab_database::api::{
    self, ApiError, Cursor, CustomerOrders, CustomerRef, Id, LimitParam, Order, OrderLine, OrderPage, OrderSummary,
    PageParams,
};
use sqlx::PgPool;

use crate::models::{CustomerRow, LineWithProduct, OrderHead, OrderSummaryRow, OrderWithLine};
use crate::state::AppState;

/// The first page: orders joined with their customer, newest first.
const FIRST_PAGE: &str = "SELECT o.id, o.placed_at, o.status, o.total_cents, \
            c.id AS customer_id, c.name AS customer_name, c.email AS customer_email \
     FROM orders o JOIN customers c ON c.id = o.customer_id \
     ORDER BY o.placed_at DESC, o.id DESC LIMIT $1";

/// A later page: the same, after the last order served.
const NEXT_PAGE: &str = "SELECT o.id, o.placed_at, o.status, o.total_cents, \
            c.id AS customer_id, c.name AS customer_name, c.email AS customer_email \
     FROM orders o JOIN customers c ON c.id = o.customer_id \
     WHERE (o.placed_at, o.id) < ($1, $2) \
     ORDER BY o.placed_at DESC, o.id DESC LIMIT $3";

/// `GET /orders`: newest first, `limit` at a time.
pub async fn list(State(state): State<AppState>, page: PageParams) -> Result<Json<OrderPage>, ApiError> {
    let served = page.cursor.map_or(0, |cursor| cursor.position);
    // One extra row tells us whether there is a next page.
    let mut heads: Vec<OrderHead> = match page.cursor {
        None => sqlx::query_as(FIRST_PAGE).bind(page.limit + 1).fetch_all(&state.pool).await?,
        // Why: keyset, not OFFSET: seek to the last order served through the (placed_at, id) index
        // instead of producing and discarding every row before it; `id` breaks placed_at ties.
        Some(cursor) => {
            sqlx::query_as(NEXT_PAGE)
                .bind(cursor.placed_at)
                .bind(cursor.id)
                .bind(page.limit + 1)
                .fetch_all(&state.pool)
                .await?
        }
    };
    let more = heads.len() as i64 > page.limit;
    heads.truncate(page.limit as usize);

    // Why: all lines of the page in one batched query, not one query per order (N+1).
    let mut lines = lines_of(&state.pool, &heads).await?;
    let next_cursor = match heads.last() {
        Some(last) if more => Some(Cursor::after(served + heads.len() as i64, last.placed_at, last.id).encode()),
        _ => None,
    };
    let orders = heads
        .into_iter()
        .map(|head| {
            let lines = lines.remove(&head.id).unwrap_or_default();
            order(head, lines)
        })
        .collect();
    Ok(Json(OrderPage { orders, next_cursor }))
}

/// Eager loading, batched style: the lines of many orders in one query (`= ANY($1)`).
///
/// Why batched for the list and not one JOIN: lines are the to-many side, so a
/// JOIN would repeat every order and customer column once per line and put
/// the page's LIMIT on lines instead of orders; a second query keyed by the
/// page's ids costs one more round trip and returns each row once.
async fn lines_of(pool: &PgPool, heads: &[OrderHead]) -> Result<HashMap<i64, Vec<OrderLine>>, ApiError> {
    let ids: Vec<i64> = heads.iter().map(|head| head.id).collect();
    let rows: Vec<LineWithProduct> = sqlx::query_as(
        "SELECT l.order_id, p.sku, p.name, l.quantity, l.unit_price_cents \
         FROM order_lines l JOIN products p ON p.id = l.product_id \
         WHERE l.order_id = ANY($1) ORDER BY l.order_id, l.id",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let mut by_order: HashMap<i64, Vec<OrderLine>> = HashMap::with_capacity(ids.len());
    for row in rows {
        by_order.entry(row.order_id).or_default().push(OrderLine {
            sku: row.sku,
            name: row.name,
            quantity: row.quantity,
            unit_price_cents: row.unit_price_cents,
        });
    }
    Ok(by_order)
}

fn order(head: OrderHead, lines: Vec<OrderLine>) -> Order {
    Order {
        id: head.id,
        placed_at: api::timestamp(head.placed_at),
        status: head.status,
        customer: CustomerRef { id: head.customer_id, name: head.customer_name, email: head.customer_email },
        lines,
        total_cents: head.total_cents,
    }
}

/// `GET /orders/{id}`.
pub async fn one(State(state): State<AppState>, Id(id): Id) -> Result<Json<Order>, ApiError> {
    // Why one JOIN here: a single order has a handful of lines, so repeating its
    // columns per line costs little, and one round trip beats two.
    let rows: Vec<OrderWithLine> = sqlx::query_as(
        "SELECT o.id, o.placed_at, o.status, o.total_cents, \
                c.id AS customer_id, c.name AS customer_name, c.email AS customer_email, \
                p.sku, p.name, l.quantity, l.unit_price_cents \
         FROM orders o \
         JOIN customers c ON c.id = o.customer_id \
         LEFT JOIN order_lines l ON l.order_id = o.id \
         LEFT JOIN products p ON p.id = l.product_id \
         WHERE o.id = $1 ORDER BY l.id",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await?;
    let Some(first) = rows.first() else {
        return Err(ApiError::NotFound(format!("no order with id {id}")));
    };
    let head = first.head.clone();
    let lines = rows
        .into_iter()
        .filter_map(|row| {
            Some(OrderLine {
                sku: row.sku?,
                name: row.name?,
                quantity: row.quantity?,
                unit_price_cents: row.unit_price_cents?,
            })
        })
        .collect();
    Ok(Json(order(head, lines)))
}

/// `GET /customers/{id}/orders`: the customer's latest orders.
pub async fn of_customer(
    State(state): State<AppState>,
    Id(id): Id,
    LimitParam(limit): LimitParam,
) -> Result<Json<CustomerOrders>, ApiError> {
    let customer: Option<CustomerRow> = sqlx::query_as("SELECT id, name, email FROM customers WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.pool)
        .await?;
    let Some(customer) = customer else {
        return Err(ApiError::NotFound(format!("no customer with id {id}")));
    };
    // Why: served by orders_customer_id_placed_at_idx (migration 0001): reads this customer's rows, already in order.
    let rows: Vec<OrderSummaryRow> = sqlx::query_as(
        "SELECT id, placed_at, status, total_cents FROM orders \
         WHERE customer_id = $1 ORDER BY placed_at DESC, id DESC LIMIT $2",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(&state.pool)
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
