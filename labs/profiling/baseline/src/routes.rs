//! The HTTP API (see `lab_profiling::api` for the contract).

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use lab_profiling::api::{
    self, ApiError, CustomerReport, DailyReport, Health, IngestRequest, IngestResponse, JsonBody, MAX_BATCH,
    ProductView, RECENT, RecentReport, RecentReports, ReportParams, Sku, TopProducts,
};
use lab_profiling::receipt;
use regex::Regex;
use serde::Serialize;

use crate::format::format_money;
use crate::reports;
use crate::sales::{SALE_PATTERN, parse_line};
use crate::state::{AppState, ServedReport, Store};

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
    let store = state.store.lock().unwrap();
    let product = store.products.iter().find(|p| p.sku == sku).cloned();
    match product {
        Some(product) => Ok(Json(ProductView {
            sku: product.sku.clone(),
            name: product.name.clone(),
            category: product.category.clone(),
            price: format_money(product.price_cents),
        })),
        None => Err(ApiError::NotFound(format!("no product with sku {sku}"))),
    }
}

/// Keeps a copy of what we served for the recent-reports page.
fn remember<T: Serialize>(store: &mut Store, uri: &Uri, report: &T) {
    let body = serde_json::to_string(report).unwrap();
    store.recent.push(ServedReport { path: uri.to_string(), body });
}

async fn top_products(State(state): State<AppState>, uri: Uri, params: ReportParams) -> Json<TopProducts> {
    let mut store = state.store.lock().unwrap();
    let report = reports::top_products(&store, &params);
    remember(&mut store, &uri, &report);
    Json(report)
}

async fn customers(State(state): State<AppState>, uri: Uri, params: ReportParams) -> Json<CustomerReport> {
    let mut store = state.store.lock().unwrap();
    let report = reports::customers(&store, &params);
    remember(&mut store, &uri, &report);
    Json(report)
}

async fn daily(State(state): State<AppState>, uri: Uri, params: ReportParams) -> Json<DailyReport> {
    let mut store = state.store.lock().unwrap();
    let report = reports::daily(&store, &params);
    remember(&mut store, &uri, &report);
    Json(report)
}

async fn recent(State(state): State<AppState>) -> Json<RecentReports> {
    let store = state.store.lock().unwrap();
    let reports = store
        .recent
        .iter()
        .rev()
        .take(RECENT)
        .map(|served| RecentReport { path: served.path.clone(), bytes: served.body.len() })
        .collect();
    Json(RecentReports { reports })
}

async fn ingest(
    State(state): State<AppState>,
    JsonBody(batch): JsonBody<IngestRequest>,
) -> Result<(StatusCode, Json<IngestResponse>), ApiError> {
    if batch.lines.is_empty() || batch.lines.len() > MAX_BATCH {
        return Err(ApiError::BatchSize(batch.lines.len()));
    }
    let mut store = state.store.lock().unwrap();
    for (i, line) in batch.lines.iter().enumerate() {
        let pattern = Regex::new(SALE_PATTERN).unwrap();
        let Some(sale) = parse_line(&pattern, line) else {
            return Err(ApiError::InvalidSale { line: i + 1 });
        };
        if !store.products.iter().any(|p| p.sku == sale.sku) {
            return Err(ApiError::UnknownSku { line: i + 1, sku: sale.sku });
        }
    }
    for line in &batch.lines {
        store.sales.push(line.clone());
    }
    let total_sales = store.sales.len();
    let receipt =
        if batch.receipt { Some(receipt::sign(&batch.lines, total_sales, store.receipt_rounds)) } else { None };
    let response = IngestResponse { accepted: batch.lines.len(), total_sales, receipt };
    Ok((StatusCode::CREATED, Json(response)))
}
