//! `GET /health`: is the database there, and Redis?

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lab_monitoring::api::Health;

use crate::state::AppState;

// TODO: split this into liveness and readiness, each dependency with its own timeout (guide, step 5).
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let database = sqlx::query("SELECT 1").execute(&state.db).await;
    let redis = match state.redis().await {
        Ok(mut redis) => redis::cmd("PING").query_async::<String>(&mut redis).await.map(|_| ()),
        Err(err) => Err(err),
    };
    match (database, redis) {
        (Ok(_), Ok(())) => (StatusCode::OK, Json(Health::ok())),
        (database, redis) => {
            eprintln!("health check failed: database {database:?}, redis {redis:?}");
            (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "down".into() }))
        }
    }
}
