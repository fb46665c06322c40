//! What handlers share, and how they get a database connection.

use std::time::Duration;

use log::LevelFilter;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
}

impl AppState {
    pub fn new(options: PgConnectOptions) -> AppState {
        // Why: a statement slower than 100 ms is logged at WARN with its SQL, so slow queries show up without a profiler.
        let options = options.log_slow_statements(LevelFilter::Warn, Duration::from_millis(100));
        // Why: a statement stuck behind a lock is cancelled after 3 s and answered 503 (statement
        // timeout) instead of holding its connection, and the client, for as long as the lock lasts.
        let options = options.options([("statement_timeout", "3s")]);
        let pool = PgPoolOptions::new()
            // Why: reuse connections: opening one costs a process fork on the server and several round trips.
            // Why 8: on 2 cores, more connections than a few per core only queue inside PostgreSQL.
            .max_connections(8)
            // Why: when every connection is busy for a second, answer 503 at once instead of queueing without end.
            .acquire_timeout(Duration::from_secs(1))
            // Why: skip the liveness ping on every checkout, a round trip per request; a dead connection still errors.
            .test_before_acquire(false)
            .connect_lazy_with(options);
        AppState { pool }
    }
}
