//! The HTTP API (see `lab_profiling::api` for the contract).

use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use lab_profiling::api::{
    self, ApiError, Health, IngestRequest, IngestResponse, JsonBody, MAX_BATCH, ProductView, RecentReports,
    ReportParams, Sku,
};
use lab_profiling::receipt;
use serde::Serialize;

use crate::format::format_money;
use crate::reports;
use crate::sales::{LineError, parse_line};
use crate::state::{AppState, Catalog, Store};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/products/{sku}", get(product))
        .route("/reports/top-products", get(top_products))
        .route("/reports/customers", get(customers))
        .route("/reports/daily", get(daily))
        .route("/reports/recent", get(recent))
        .route("/sales", post(ingest))
        .fallback(api::no_route)
        .method_not_allowed_fallback(api::wrong_method)
        .with_state(state)
}

async fn health() -> Json<Health> {
    Json(Health { status: "ok".to_string() })
}

async fn product(State(state): State<AppState>, Sku(sku): Sku) -> Result<Json<ProductView>, ApiError> {
    // Why: the catalogue is immutable and indexed, so a lookup takes no lock and scans nothing.
    let index = state.catalog.index_of(&sku).ok_or_else(|| ApiError::NotFound(format!("no product with sku {sku}")))?;
    let product = &state.catalog.products[index as usize];
    Ok(Json(ProductView {
        sku: product.sku.clone(),
        name: product.name.clone(),
        category: product.category.clone(),
        price: format_money(product.price_cents),
    }))
}

/// Computes and serialises a report off the async workers, then records it as recent.
async fn serve_report<T, F>(state: AppState, uri: Uri, build: F) -> Response
where
    T: Serialize,
    F: FnOnce(&Catalog, &Store) -> T + Send + 'static,
{
    let shared = state.clone();
    // Why: a report is CPU work; on spawn_blocking it cannot stall the runtime threads that serve other requests.
    let body = tokio::task::spawn_blocking(move || {
        let store = shared.store.read();
        serde_json::to_string(&build(&shared.catalog, &store)).expect("reports serialise")
    })
    .await
    .expect("report task panicked");
    // Why: serialise once and keep only the size; the body itself is not kept alive.
    state.remember(uri.to_string(), body.len());
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn top_products(State(state): State<AppState>, uri: Uri, params: ReportParams) -> Response {
    serve_report(state, uri, move |catalog, store| reports::top_products(catalog, store, &params)).await
}

async fn customers(State(state): State<AppState>, uri: Uri, params: ReportParams) -> Response {
    serve_report(state, uri, move |_, store| reports::customers(store, &params)).await
}

async fn daily(State(state): State<AppState>, uri: Uri, params: ReportParams) -> Response {
    serve_report(state, uri, move |_, store| reports::daily(store, &params)).await
}

async fn recent(State(state): State<AppState>) -> Json<RecentReports> {
    let reports = state.recent.lock().iter().rev().cloned().collect();
    Json(RecentReports { reports })
}

async fn ingest(
    State(state): State<AppState>,
    JsonBody(batch): JsonBody<IngestRequest>,
) -> Result<(StatusCode, Json<IngestResponse>), ApiError> {
    if batch.lines.is_empty() || batch.lines.len() > MAX_BATCH {
        return Err(ApiError::BatchSize(batch.lines.len()));
    }
    // Why: validate every line before taking the write lock, so readers wait only for the insert.
    let mut sales = Vec::with_capacity(batch.lines.len());
    for (i, line) in batch.lines.iter().enumerate() {
        match parse_line(line, &state.catalog) {
            Ok(sale) => sales.push(sale),
            Err(LineError::Invalid) => return Err(ApiError::InvalidSale { line: i + 1 }),
            Err(LineError::UnknownSku(sku)) => {
                return Err(ApiError::UnknownSku { line: i + 1, sku });
            }
        }
    }
    let accepted = batch.lines.len();
    // Why: the write lock covers the insert only; it is released before the slow signature starts.
    let total_sales = {
        let mut store = state.store.write();
        store.insert(sales);
        store.sales.len()
    };
    let receipt = match batch.receipt {
        false => None,
        true => {
            let rounds = state.receipt_rounds;
            // Why: signing is tens of milliseconds of CPU; on spawn_blocking it leaves the runtime's workers free for other requests.
            let signing = tokio::task::spawn_blocking(move || receipt::sign(&batch.lines, total_sales, rounds));
            Some(signing.await.expect("signing panicked"))
        }
    };
    let response = IngestResponse { accepted, total_sales, receipt };
    Ok((StatusCode::CREATED, Json(response)))
}
