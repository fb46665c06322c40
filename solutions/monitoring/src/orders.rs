//! `POST /orders` and `GET /orders/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use lab_monitoring::api::{ApiError, JsonBody, Order, OrderId, OrderRequest};
use lab_monitoring::payments::Charge;
use redis::AsyncCommands;

use crate::observe::RequestContext;
use crate::state::AppState;

pub async fn place_order(
    State(state): State<AppState>,
    Extension(context): Extension<RequestContext>,
    JsonBody(request): JsonBody<OrderRequest>,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    let placed = place(&state, &context, request).await;
    // Every outcome counted, so a dashboard shows declines and sell-outs beside sales.
    let outcome = match &placed {
        Ok(_) => "placed",
        Err(ApiError::Declined) => "declined",
        Err(ApiError::OutOfStock { .. }) => "out_of_stock",
        Err(ApiError::InvalidOrder(_) | ApiError::NotFound(_)) => "rejected",
        Err(_) => "failed",
    };
    state.metrics.orders.with_label_values(&[outcome]).inc();
    let order = placed?;
    state.metrics.revenue_cents.inc_by(order.total_cents.unsigned_abs());
    tracing::info!(order_id = order.id, total_cents = order.total_cents, "order placed");
    Ok((StatusCode::CREATED, Json(order)))
}

#[tracing::instrument(skip_all, fields(sku = %request.sku, quantity = request.quantity))]
async fn place(state: &AppState, context: &RequestContext, request: OrderRequest) -> Result<Order, ApiError> {
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
    let charge_id = match charge(state, context, total_cents, &request.card).await? {
        Charge::Approved { charge_id } => charge_id,
        Charge::Declined => {
            tracing::info!("card declined");
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
    if let Ok(mut redis) = state.redis().await
        && let Err(err) = redis.del::<_, ()>(state.product_key(&request.sku)).await
    {
        crate::products::redis_failed(state, &err);
    }
    Ok(order)
}

/// The payment call carries this request's trace, so the provider's logs of
/// the charge can be found from ours (and the other way round).
#[tracing::instrument(skip_all, fields(amount_cents))]
async fn charge(state: &AppState, context: &RequestContext, amount_cents: i64, card: &str) -> Result<Charge, ApiError> {
    let traceparent = context.outgoing_traceparent();
    state.payments.charge(amount_cents, card, Some(&traceparent)).await.map_err(|err| {
        state.metrics.dependency_errors.with_label_values(&["payments"]).inc();
        tracing::error!(error = %err, "payment provider failed");
        ApiError::from(err)
    })
}

#[tracing::instrument(skip_all)]
pub async fn get_order(State(state): State<AppState>, OrderId(id): OrderId) -> Result<Json<Order>, ApiError> {
    let order = sqlx::query_as::<_, Order>("SELECT id, sku, quantity, total_cents FROM orders WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(|| ApiError::no_order(id))?;
    Ok(Json(order))
}
