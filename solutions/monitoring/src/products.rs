//! `GET /products/{sku}`, through a Redis cache.

use axum::Json;
use axum::extract::State;
use lab_monitoring::api::{ApiError, Product, Sku};
use redis::AsyncCommands;

use crate::state::AppState;

/// How long a cached product stays in Redis, in seconds.
const CACHE_TTL: u64 = 60;

pub async fn get_product(State(state): State<AppState>, Sku(sku): Sku) -> Result<Json<Product>, ApiError> {
    // Hits, misses and Redis errors are counted apart: a falling hit ratio or rising errors explain slow reads.
    if let Some(product) = cached_product(&state, &sku).await {
        state.metrics.cache.with_label_values(&["hit"]).inc();
        return Ok(Json(product));
    }
    state.metrics.cache.with_label_values(&["miss"]).inc();
    let product = load_product(&state, &sku).await?.ok_or_else(|| ApiError::no_product(&sku))?;
    store_product(&state, &product).await;
    Ok(Json(product))
}

async fn cached_product(state: &AppState, sku: &str) -> Option<Product> {
    let mut redis = match state.redis().await {
        Ok(redis) => redis,
        Err(err) => {
            redis_failed(state, &err);
            return None;
        }
    };
    match redis.get::<_, Option<String>>(state.product_key(sku)).await {
        Ok(cached) => cached.and_then(|json| serde_json::from_str(&json).ok()),
        Err(err) => {
            redis_failed(state, &err);
            None
        }
    }
}

async fn store_product(state: &AppState, product: &Product) {
    let json = serde_json::to_string(product).expect("a product serializes");
    match state.redis().await {
        Ok(mut redis) => {
            if let Err(err) = redis.set_ex::<_, _, ()>(state.product_key(&product.sku), json, CACHE_TTL).await {
                redis_failed(state, &err);
            }
        }
        Err(err) => redis_failed(state, &err),
    }
}

/// A Redis failure: a warning in the log (the request still succeeds) and a count.
pub fn redis_failed(state: &AppState, err: &redis::RedisError) {
    state.metrics.cache.with_label_values(&["error"]).inc();
    state.metrics.dependency_errors.with_label_values(&["redis"]).inc();
    tracing::warn!(error = %err, "redis unavailable; reading from the database");
}

/// Timed (`function_duration_seconds`): a miss's cost is the database's.
#[tracing::instrument(skip_all)]
pub async fn load_product(state: &AppState, sku: &str) -> Result<Option<Product>, ApiError> {
    let product =
        sqlx::query_as::<_, Product>("SELECT sku, name, category, price_cents, stock FROM products WHERE sku = $1")
            .bind(sku)
            .fetch_optional(&state.db)
            .await
            .inspect_err(|_| state.metrics.dependency_errors.with_label_values(&["postgres"]).inc())?;
    Ok(product)
}
