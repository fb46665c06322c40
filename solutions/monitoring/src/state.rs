//! What every handler shares.

use std::sync::Arc;

use lab_monitoring::payments::Client;
use lab_monitoring::{Config, RedisConfig};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::OnceCell;

use crate::dashboard::History;
use crate::health::ReadinessCache;
use crate::metrics::Metrics;

/// The service's shared state.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub redis: RedisConfig,
    redis_connection: Arc<OnceCell<redis::aio::ConnectionManager>>,
    pub payments: Client,
    pub metrics: Metrics,
    pub readiness: Arc<ReadinessCache>,
    pub history: Arc<History>,
}

impl AppState {
    pub fn new(config: Config) -> AppState {
        // Pool size and busy connections are exported by `metrics::render`.
        let db = PgPoolOptions::new().max_connections(10).connect_lazy_with(config.database);
        let state = AppState {
            db,
            redis: config.redis,
            redis_connection: Default::default(),
            payments: config.payments,
            metrics: Metrics::new(),
            readiness: Default::default(),
            history: Default::default(),
        };
        crate::dashboard::keep_history(&state);
        state
    }

    /// The Redis connection, opened on first use.
    pub async fn redis(&self) -> redis::RedisResult<redis::aio::ConnectionManager> {
        let connection = self
            .redis_connection
            .get_or_try_init(|| async {
                let client = redis::Client::open(self.redis.url.as_str())?;
                redis::aio::ConnectionManager::new(client).await
            })
            .await?;
        Ok(connection.clone())
    }

    /// The cache key of a product.
    pub fn product_key(&self, sku: &str) -> String {
        format!("{}product:{sku}", self.redis.prefix)
    }
}
