//! The HTTP contract: routes, parameters, response bodies and errors.
//!
//! | route | answer |
//! |---|---|
//! | `GET /health` | [`Health`] |
//! | `GET /products/{sku}` | [`ProductView`], or 404 |
//! | `GET /reports/top-products?from&to&region&limit` | [`TopProducts`] |
//! | `GET /reports/customers?from&to&region` | [`CustomerReport`] |
//! | `GET /reports/daily?from&to&region` | [`DailyReport`] |
//! | `GET /reports/recent` | [`RecentReports`]: the last ten reports served, newest first |
//! | `POST /sales` with [`IngestRequest`] | 201 and [`IngestResponse`]; all lines or none |
//!
//! A `POST /sales` with `"receipt": true` also answers with the batch's
//! signed receipt ([`crate::receipt`]): tens of milliseconds of CPU that
//! belong to that one request alone.
//!
//! Dates are inclusive `YYYY-MM-DD` days of 2026 (default: the whole year).
//! `region` is one of [`crate::data::REGIONS`] (default: all). `limit` is
//! 1–100 (default 10). Unknown query parameters are ignored. Money is
//! formatted as `12,345.67`. Rankings break ties by the smaller sku or
//! customer id. Every error is JSON: `{"error": code, "message": text}`,
//! unknown routes (404) and wrong methods (405) included.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::Date;
use time::macros::format_description;

use crate::data::{REGIONS, YEAR};

/// Most lines one `POST /sales` may carry.
pub const MAX_BATCH: usize = 1_000;
/// Largest `limit` a report accepts.
pub const MAX_LIMIT: usize = 100;
/// How many recent reports `GET /reports/recent` lists.
pub const RECENT: usize = 10;
/// How many customers the customer report ranks.
pub const TOP_CUSTOMERS: usize = 5;

/// Every error the service answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// A query parameter is malformed or out of range (400).
    InvalidQuery(String),
    /// The body is not the JSON the route expects (its rejection's status).
    InvalidBody { status: StatusCode, message: String },
    /// A sale line does not parse (400); `line` counts from 1.
    InvalidSale { line: usize },
    /// A sale line names a product the catalogue lacks (422).
    UnknownSku { line: usize, sku: String },
    /// A `POST /sales` batch is empty or larger than [`MAX_BATCH`] (400).
    BatchSize(usize),
    /// No such product (404).
    NotFound(String),
    /// A path segment is not what the route expects (400 `invalid_path`).
    InvalidPath(String),
    /// No such route (404 `not_found`) or method (405 `method_not_allowed`).
    NoRoute { method: Method, path: String, status: StatusCode },
}

/// The JSON error body.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidQuery(_)
            | ApiError::InvalidSale { .. }
            | ApiError::BatchSize(_)
            | ApiError::InvalidPath(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidBody { status, .. } | ApiError::NoRoute { status, .. } => *status,
            ApiError::UnknownSku { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
        }
    }

    pub fn body(&self) -> ErrorBody {
        let (error, message) = match self {
            ApiError::InvalidQuery(message) => ("invalid_query", message.clone()),
            ApiError::InvalidBody { message, .. } => ("invalid_body", message.clone()),
            ApiError::InvalidSale { line } => (
                "invalid_sale",
                format!(
                    "line {line} is not a sale of 2026 like \
                     2026-03-14T10:22:05Z;SKU-00042;north;C000421;3;15 (quantity 1-99, discount 0-50)"
                ),
            ),
            ApiError::UnknownSku { line, sku } => ("unknown_sku", format!("line {line}: no product with sku {sku}")),
            ApiError::BatchSize(n) => ("invalid_body", format!("lines must hold 1 to {MAX_BATCH} sale lines, got {n}")),
            ApiError::NotFound(message) => ("not_found", message.clone()),
            ApiError::InvalidPath(message) => ("invalid_path", message.clone()),
            ApiError::NoRoute { method, path, status } => {
                let code = if *status == StatusCode::METHOD_NOT_ALLOWED { "method_not_allowed" } else { "not_found" };
                (code, format!("{method} {path} is not part of this API"))
            }
        };
        ErrorBody { error: error.into(), message }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

/// `Json<T>` whose rejections are JSON errors too (via [`From<JsonRejection>`]).
#[derive(Debug, FromRequest)]
#[from_request(via(Json), rejection(ApiError))]
pub struct JsonBody<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::InvalidBody { status: rejection.status(), message: rejection.body_text() }
    }
}

/// Router fallback: unknown routes are a JSON 404 too.
pub async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NoRoute { method, path: uri.path().to_string(), status: StatusCode::NOT_FOUND }
}

/// Router fallback for a known path with the wrong method: a JSON 405.
pub async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::NoRoute { method, path: uri.path().to_string(), status: StatusCode::METHOD_NOT_ALLOWED }
}

/// The `{sku}` segment of `GET /products/{sku}`: `Path<String>` whose
/// rejections (a segment that is not UTF-8, like `%FF`) are JSON errors too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Sku {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(sku) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::InvalidPath(rejection.body_text()))?;
        Ok(Sku(sku))
    }
}

/// Validated report parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportParams {
    pub from: Date,
    pub to: Date,
    /// Index into [`REGIONS`]; `None` means every region.
    pub region: Option<usize>,
    pub limit: usize,
}

impl ReportParams {
    /// The region's name, or `"all"`.
    pub fn region_name(&self) -> &'static str {
        self.region.map_or("all", |i| REGIONS[i])
    }
}

#[derive(Debug, Deserialize)]
struct RawParams {
    from: Option<String>,
    to: Option<String>,
    region: Option<String>,
    limit: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ReportParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(raw) = Query::<RawParams>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::InvalidQuery(rejection.body_text()))?;
        let year_start = Date::from_ordinal_date(YEAR, 1).expect("valid");
        let year_end = Date::from_ordinal_date(YEAR, 365).expect("valid");
        let from = parse_day("from", raw.from.as_deref(), year_start)?;
        let to = parse_day("to", raw.to.as_deref(), year_end)?;
        if from > to {
            return Err(ApiError::InvalidQuery(format!("from ({from}) is after to ({to})")));
        }
        let region = match raw.region.as_deref() {
            None | Some("all") => None,
            Some(name) => Some(REGIONS.iter().position(|r| *r == name).ok_or_else(|| {
                ApiError::InvalidQuery(format!("region must be all or one of {}, got {name:?}", REGIONS.join(", ")))
            })?),
        };
        let limit = match raw.limit.as_deref() {
            None => 10,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ApiError::InvalidQuery(format!(
                        "limit must be a whole number from 1 to {MAX_LIMIT}, got {text:?}"
                    )));
                }
            },
        };
        Ok(ReportParams { from, to, region, limit })
    }
}

fn parse_day(name: &str, text: Option<&str>, default: Date) -> Result<Date, ApiError> {
    let Some(text) = text else { return Ok(default) };
    match Date::parse(text, format_description!("[year]-[month]-[day]")) {
        Ok(date) if date.year() == YEAR => Ok(date),
        _ => Err(ApiError::InvalidQuery(format!("{name} must be a day of {YEAR} like 2026-03-14, got {text:?}"))),
    }
}

/// `GET /health`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
}

/// `GET /products/{sku}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProductView {
    pub sku: String,
    pub name: String,
    pub category: String,
    pub price: String,
}

/// `GET /reports/top-products`: products by revenue, best first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TopProducts {
    pub from: String,
    pub to: String,
    pub region: String,
    pub products: Vec<TopProduct>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TopProduct {
    /// 1 for the best seller.
    pub rank: usize,
    pub sku: String,
    pub name: String,
    pub units: u64,
    pub revenue: String,
}

/// `GET /reports/customers`: how many customers bought, and who spent most.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CustomerReport {
    pub from: String,
    pub to: String,
    pub region: String,
    pub unique_customers: usize,
    /// Sale lines in the range.
    pub orders: usize,
    /// The [`TOP_CUSTOMERS`] biggest spenders.
    pub top: Vec<TopCustomer>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TopCustomer {
    pub customer: String,
    pub orders: u64,
    pub spent: String,
}

/// `GET /reports/daily`: one entry per day that had sales, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DailyReport {
    pub from: String,
    pub to: String,
    pub region: String,
    pub days: Vec<DayTotal>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DayTotal {
    pub date: String,
    pub orders: u64,
    pub units: u64,
    pub revenue: String,
}

/// `GET /reports/recent`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecentReports {
    pub reports: Vec<RecentReport>,
}

/// One report served: its request path (with query) and body size.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecentReport {
    pub path: String,
    /// Length of the report's JSON body, as `serde_json::to_string` writes it.
    pub bytes: usize,
}

/// `POST /sales`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestRequest {
    pub lines: Vec<String>,
    /// Ask for a signed receipt of the batch (default: no).
    #[serde(default)]
    pub receipt: bool,
}

/// The answer to an accepted `POST /sales`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IngestResponse {
    pub accepted: usize,
    pub total_sales: usize,
    /// [`crate::receipt::sign`] of the batch's lines and `total_sales`, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
}
