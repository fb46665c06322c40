//! `GET /products/{sku}`, through a Redis cache.

use axum::Json;
use axum::extract::State;
use lab_monitoring::api::{ApiError, Product, Sku};
use redis::AsyncCommands;

use crate::state::AppState;

/// How long a cached product stays in Redis, in seconds.
const CACHE_TTL: u64 = 60;

pub async fn get_product(State(state): State<AppState>, Sku(sku): Sku) -> Result<Json<Product>, ApiError> {
    // TODO: what share of reads does the cache answer? (guide, step 2)
    let key = state.product_key(&sku);
    if let Ok(mut redis) = state.redis().await
        && let Ok(Some(cached)) = redis.get::<_, Option<String>>(&key).await
        && let Ok(product) = serde_json::from_str::<Product>(&cached)
    {
        return Ok(Json(product));
    }
    let product = load_product(&state, &sku).await?.ok_or_else(|| ApiError::no_product(&sku))?;
    match state.redis().await {
        Ok(mut redis) => {
            let json = serde_json::to_string(&product).expect("a product serializes");
            if let Err(err) = redis.set_ex::<_, _, ()>(&key, json, CACHE_TTL).await {
                eprintln!("cache write failed for {sku}: {err}");
            }
        }
        Err(err) => eprintln!("redis unavailable: {err}"),
    }
    Ok(Json(product))
}

pub async fn load_product(state: &AppState, sku: &str) -> Result<Option<Product>, ApiError> {
    let product =
        sqlx::query_as::<_, Product>("SELECT sku, name, category, price_cents, stock FROM products WHERE sku = $1")
            .bind(sku)
            .fetch_optional(&state.db)
            .await?;
    Ok(product)
}
