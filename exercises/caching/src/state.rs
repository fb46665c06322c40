//! What every handler shares.

use lab_caching::Config;
use lab_caching::upstream::Client;

/// The service's shared state.
#[derive(Clone)]
pub struct AppState {
    pub upstream: Client,
}

// TODO: stop Redis once you use it, and time a request (guide, step 7).
impl AppState {
    pub fn new(config: Config) -> AppState {
        AppState { upstream: config.upstream }
    }
}
