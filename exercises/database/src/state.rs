//! What handlers share, and how they get a database connection.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Error};

#[derive(Clone)]
pub struct AppState {
    options: PgConnectOptions,
}

impl AppState {
    pub fn new(options: PgConnectOptions) -> AppState {
        AppState { options }
    }

    /// A connection for this request.
    // TODO: count the connections opened per request, then under concurrent load (guide, step 7).
    pub async fn db(&self) -> Result<PgConnection, Error> {
        self.options.connect().await
    }
}
