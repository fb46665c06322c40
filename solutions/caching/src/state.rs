//! What every handler shares: the upstream client and the cache in front of it.

use std::sync::Arc;

use lab_caching::Config;
use lab_caching::upstream::Client;

use crate::cache::Cache;

/// The service's shared state.
#[derive(Clone)]
pub struct AppState {
    pub upstream: Client,
    // Why an `Arc`: one cache (and one set of counters) for every request of this instance.
    pub cache: Arc<Cache>,
}

impl AppState {
    pub fn new(config: Config) -> AppState {
        // Why lazily: `app` must not wait for Redis, which may be down; the first request connects.
        let cache = Arc::new(Cache::new(&config.redis));
        AppState { upstream: config.upstream, cache }
    }
}
