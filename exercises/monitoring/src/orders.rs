//! `POST /orders` and `GET /orders/{id}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lab_monitoring::api::{ApiError, JsonBody, Order, OrderId, OrderRequest};
use lab_monitoring::payments::Charge;
use redis::AsyncCommands;

use crate::state::AppState;

pub async fn place_order(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<OrderRequest>,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    request.validate()?;
    let mut tx = state.db.begin().await?;
    let row: Option<(i64, i32)> = sqlx::query_as("SELECT price_cents, stock FROM products WHERE sku = $1 FOR UPDATE")
        .bind(&request.sku)
        .fetch_optional(&mut *tx)
        .await?;
    let (price_cents, stock) = row.ok_or_else(|| ApiError::no_product(&request.sku))?;
    if stock < request.quantity as i32 {
        return Err(ApiError::OutOfStock { sku: request.sku, left: stock, wanted: request.quantity });
    }
    let total_cents = price_cents * i64::from(request.quantity);
    // TODO: which trace does this charge belong to, at the payment provider? (guide, step 4)
    let charge_id = match state.payments.charge(total_cents, &request.card, None).await? {
        Charge::Approved { charge_id } => charge_id,
        Charge::Declined => {
            // TODO: how many orders were declined in the last hour? (guide, step 2)
            eprintln!("card declined for {}", request.sku);
            return Err(ApiError::Declined);
        }
    };
    sqlx::query("UPDATE products SET stock = stock - $2 WHERE sku = $1")
        .bind(&request.sku)
        .bind(request.quantity as i32)
        .execute(&mut *tx)
        .await?;
    let order = sqlx::query_as::<_, Order>(
        "INSERT INTO orders (sku, quantity, total_cents, charge_id) VALUES ($1, $2, $3, $4) \
         RETURNING id, sku, quantity, total_cents",
    )
    .bind(&request.sku)
    .bind(request.quantity as i32)
    .bind(total_cents)
    .bind(&charge_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    if let Ok(mut redis) = state.redis().await {
        let _ = redis.del::<_, ()>(state.product_key(&request.sku)).await;
    }
    eprintln!("order {} placed: {} x {}", order.id, order.quantity, order.sku);
    Ok((StatusCode::CREATED, Json(order)))
}

pub async fn get_order(State(state): State<AppState>, OrderId(id): OrderId) -> Result<Json<Order>, ApiError> {
    let order = sqlx::query_as::<_, Order>("SELECT id, sku, quantity, total_cents FROM orders WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(|| ApiError::no_order(id))?;
    Ok(Json(order))
}
