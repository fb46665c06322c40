//! The HTTP contract: routes, parameters, response bodies, the cursor and errors.
//!
//! | route | answer |
//! |---|---|
//! | `GET /health` | [`Health`] (touches no database) |
//! | `GET /orders?limit&cursor` | [`OrderPage`]: orders newest first, each with its customer and lines |
//! | `GET /orders/{id}` | [`Order`], or 404 |
//! | `GET /customers/{id}/orders?limit` | [`CustomerOrders`]: the customer's orders newest first, or 404 |
//! | `GET /reports/categories?from&to` | [`CategoryReport`]: revenue per category over a range of days |
//! | `GET /products/{sku}` | [`ProductView`], or 404 |
//! | `POST /products/{sku}/reviews` with [`NewReview`] | 201 and [`ReviewCreated`] |
//!
//! **Order.** Orders are listed by `placed_at` descending, then `id`
//! descending: `placed_at` has ties (marketplace imports land on the hour),
//! and `id` is the unique tiebreaker that makes the order total.
//!
//! **Pages.** `limit` is 1–[`MAX_LIMIT`] (default [`DEFAULT_LIMIT`]).
//! `next_cursor` is present exactly when more orders follow the page; pass
//! it back as `cursor` to get them. The token is opaque to clients. It is
//! made and checked by [`Cursor`] here, so every implementation issues the
//! same token for the same page: it carries both the position of the next
//! order and the sort key of the last order served, so an implementation
//! can resume by position (`OFFSET`) or by key (keyset).
//!
//! **Dates.** `from` and `to` are inclusive UTC days of 2026 like
//! `2026-03-14` (default: the whole year). Money is integer cents.
//! Cancelled orders count nowhere in reports.
//!
//! **Errors.** Every error is JSON, `{"error": code, "message": text}`, with
//! the status [`ApiError::status`] gives: bad input is a 4xx; a database
//! that cannot serve the request now (no free connection in time, a lost
//! connection, a statement cancelled by its timeout) is a 503 whose message
//! says which; anything else a 500.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};

use crate::data::YEAR;

/// Page size when `limit` is absent.
pub const DEFAULT_LIMIT: i64 = 20;
/// Largest `limit` any list accepts.
pub const MAX_LIMIT: i64 = 100;
/// Longest review title, in characters.
pub const MAX_TITLE: usize = 120;
/// Longest review body, in characters.
pub const MAX_BODY: usize = 2_000;

/// Every error the service answers with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A query parameter is malformed or out of range (400 `invalid_query`).
    #[error("{0}")]
    InvalidQuery(String),
    /// A path segment is not what the route expects (400 `invalid_path`).
    #[error("{0}")]
    InvalidPath(String),
    /// The `cursor` is not a token this service issued (400 `invalid_cursor`).
    #[error("cursor is not a token this service issued; start again without one")]
    InvalidCursor,
    /// The body is not the JSON the route expects (400, 415 or 422 `invalid_body`).
    #[error("{message}")]
    InvalidBody { status: StatusCode, message: String },
    /// A review's fields are out of range (422 `invalid_review`).
    #[error("{0}")]
    InvalidReview(String),
    /// A review names a customer that does not exist (422 `unknown_customer`).
    #[error("no customer with id {0}")]
    UnknownCustomer(i64),
    /// No such order, customer or product (404 `not_found`).
    #[error("{0}")]
    NotFound(String),
    /// No such route (404 `not_found`) or method (405 `method_not_allowed`).
    #[error("{method} {path} is not part of this API")]
    NoRoute { method: Method, path: String, status: StatusCode },
    /// The database cannot serve the request now (503 `unavailable`).
    #[error("{0}; try again shortly")]
    Unavailable(Unavailable),
    /// Any other database failure (500 `internal`).
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Anything else that should not happen (500 `internal`).
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why the database could not serve a request now: each is a 503, since
/// the same request may well succeed a moment later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// The pool handed out no connection within its wait: every connection
    /// was busy, or none could be opened.
    #[error("no database connection became free in time (the database is busy or unreachable)")]
    NoConnection,
    /// No connection could be opened: nothing listens at the database's
    /// address, or the server is starting or shutting down.
    #[error("the database could not be reached")]
    Unreachable,
    /// The connection broke (the server restarted or dropped it).
    #[error("the connection to the database was lost")]
    ConnectionLost,
    /// The statement ran past the connection's `statement_timeout` (or
    /// waited past `lock_timeout` for a lock) and PostgreSQL cancelled it.
    #[error("the database did not finish the query in time (statement timeout)")]
    StatementTimeout,
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match unavailable(&err) {
            Some(why) => ApiError::Unavailable(why),
            None => ApiError::Database(err),
        }
    }
}

/// Whether `err` means "not now" rather than a fault in the request or the service.
fn unavailable(err: &sqlx::Error) -> Option<Unavailable> {
    match err {
        sqlx::Error::PoolTimedOut => Some(Unavailable::NoConnection),
        sqlx::Error::Io(io) => Some(match io.kind() {
            std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::AddrNotAvailable
            | std::io::ErrorKind::HostUnreachable
            | std::io::ErrorKind::NetworkUnreachable => Unavailable::Unreachable,
            _ => Unavailable::ConnectionLost,
        }),
        sqlx::Error::PoolClosed => Some(Unavailable::ConnectionLost),
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // query_canceled (statement_timeout), lock_not_available (lock_timeout).
            Some("57014" | "55P03") => Some(Unavailable::StatementTimeout),
            // cannot_connect_now: the server is starting or stopping.
            Some("57P03") => Some(Unavailable::Unreachable),
            // admin_shutdown, crash_shutdown, and the connection exceptions.
            Some(code) if code.starts_with("57P") || code.starts_with("08") => Some(Unavailable::ConnectionLost),
            _ => None,
        },
        _ => None,
    }
}

/// The JSON error body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidQuery(_) | ApiError::InvalidPath(_) | ApiError::InvalidCursor => StatusCode::BAD_REQUEST,
            ApiError::InvalidBody { status, .. } | ApiError::NoRoute { status, .. } => *status,
            ApiError::InvalidReview(_) | ApiError::UnknownCustomer(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Database(_) | ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable code of the error body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidQuery(_) => "invalid_query",
            ApiError::InvalidPath(_) => "invalid_path",
            ApiError::InvalidCursor => "invalid_cursor",
            ApiError::InvalidBody { .. } => "invalid_body",
            ApiError::InvalidReview(_) => "invalid_review",
            ApiError::UnknownCustomer(_) => "unknown_customer",
            ApiError::NotFound(_) => "not_found",
            ApiError::NoRoute { status, .. } if *status == StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            ApiError::NoRoute { .. } => "not_found",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Database(_) | ApiError::Unexpected(_) => "internal",
        }
    }

    pub fn body(&self) -> ErrorBody {
        let message = match self {
            // Internals stay in the log, not in the answer.
            ApiError::Database(_) | ApiError::Unexpected(_) => "internal error; see the service log".to_string(),
            other => other.to_string(),
        };
        ErrorBody { error: self.code().into(), message }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status().is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        (self.status(), Json(self.body())).into_response()
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

/// `Json<T>` whose rejections are JSON errors too (via [`From<JsonRejection>`]).
#[derive(Debug, FromRequest)]
#[from_request(via(Json), rejection(ApiError))]
pub struct JsonBody<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::InvalidBody { status: rejection.status(), message: rejection.body_text() }
    }
}

/// A numeric id from the route's single `{id}` segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::InvalidPath(rejection.body_text()))?;
        match text.parse::<i64>() {
            Ok(id) if id > 0 => Ok(Id(id)),
            _ => Err(ApiError::InvalidPath(format!("id must be a positive whole number, got {text:?}"))),
        }
    }
}

/// The `{sku}` segment of the product routes.
///
/// A segment that is not UTF-8 (`%FF`) or that holds a NUL (`%00`, which
/// PostgreSQL refuses in any text) is a 400 `invalid_path`: no sku has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Sku {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(sku) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::InvalidPath(rejection.body_text()))?;
        if sku.contains('\0') {
            return Err(ApiError::InvalidPath(format!("sku must not hold a NUL character, got {sku:?}")));
        }
        Ok(Sku(sku))
    }
}

#[derive(Debug, Deserialize)]
struct RawPage {
    limit: Option<String>,
    cursor: Option<String>,
}

async fn raw_query<S: Send + Sync, T: DeserializeOwned>(parts: &mut Parts, state: &S) -> Result<T, ApiError> {
    let Query(raw) = Query::<T>::from_request_parts(parts, state)
        .await
        .map_err(|rejection| ApiError::InvalidQuery(rejection.body_text()))?;
    Ok(raw)
}

fn parse_limit(text: Option<&str>) -> Result<i64, ApiError> {
    match text {
        None => Ok(DEFAULT_LIMIT),
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => {
                Err(ApiError::InvalidQuery(format!("limit must be a whole number from 1 to {MAX_LIMIT}, got {text:?}")))
            }
        },
    }
}

/// `?limit&cursor` of `GET /orders`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageParams {
    pub limit: i64,
    /// `None` for the first page.
    pub cursor: Option<Cursor>,
}

impl<S: Send + Sync> FromRequestParts<S> for PageParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw: RawPage = raw_query(parts, state).await?;
        let limit = parse_limit(raw.limit.as_deref())?;
        let cursor = raw.cursor.as_deref().map(Cursor::decode).transpose()?;
        Ok(PageParams { limit, cursor })
    }
}

#[derive(Debug, Deserialize)]
struct RawLimit {
    limit: Option<String>,
}

/// `?limit` of `GET /customers/{id}/orders`, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitParam(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for LimitParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw: RawLimit = raw_query(parts, state).await?;
        Ok(LimitParam(parse_limit(raw.limit.as_deref())?))
    }
}

#[derive(Debug, Deserialize)]
struct RawRange {
    from: Option<String>,
    to: Option<String>,
}

/// `?from&to` of a report: inclusive UTC days of [`YEAR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub from: Date,
    pub to: Date,
}

impl DateRange {
    /// The first instant of the range.
    pub fn start(&self) -> OffsetDateTime {
        self.from.with_time(Time::MIDNIGHT).assume_utc()
    }

    /// The first instant after the range (exclusive bound).
    pub fn end(&self) -> OffsetDateTime {
        self.to.with_time(Time::MIDNIGHT).assume_utc() + time::Duration::DAY
    }
}

impl<S: Send + Sync> FromRequestParts<S> for DateRange {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw: RawRange = raw_query(parts, state).await?;
        let first = Date::from_ordinal_date(YEAR, 1).expect("valid day");
        let last = Date::from_ordinal_date(YEAR, 365).expect("valid day");
        let from = parse_day("from", raw.from.as_deref(), first)?;
        let to = parse_day("to", raw.to.as_deref(), last)?;
        if from > to {
            return Err(ApiError::InvalidQuery(format!("from ({from}) is after to ({to})")));
        }
        Ok(DateRange { from, to })
    }
}

fn parse_day(name: &str, text: Option<&str>, default: Date) -> Result<Date, ApiError> {
    let Some(text) = text else { return Ok(default) };
    match Date::parse(text, format_description!("[year]-[month]-[day]")) {
        Ok(date) if date.year() == YEAR => Ok(date),
        _ => Err(ApiError::InvalidQuery(format!("{name} must be a day of {YEAR} like 2026-03-14, got {text:?}"))),
    }
}

/// The opaque page token of `GET /orders`.
///
/// It names the position of the next order (how many orders came before it)
/// and the sort key of the last order served. A checksum makes a mangled or
/// hand-made token an `invalid_cursor` error rather than a silent wrong page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Orders served before the next page.
    pub position: i64,
    /// `placed_at` of the last order served.
    pub placed_at: OffsetDateTime,
    /// `id` of the last order served.
    pub id: i64,
}

const CURSOR_VERSION: &str = "o1";

impl Cursor {
    /// The token of the page that follows `served` orders, the last of which was `(placed_at, id)`.
    ///
    /// `served` is held at [`MAX_POSITION`], which only a hand-made cursor can reach.
    pub fn after(served: i64, placed_at: OffsetDateTime, id: i64) -> Cursor {
        Cursor { position: served.min(MAX_POSITION), placed_at, id }
    }

    pub fn encode(&self) -> String {
        let micros = self.placed_at.unix_timestamp_nanos() / 1_000;
        let payload = format!("{CURSOR_VERSION}.{}.{micros}.{}", self.position, self.id);
        let check = checksum(&payload);
        URL_SAFE_NO_PAD.encode(format!("{payload}.{check:08x}"))
    }

    pub fn decode(token: &str) -> Result<Cursor, ApiError> {
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| ApiError::InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| ApiError::InvalidCursor)?;
        let (payload, check) = text.rsplit_once('.').ok_or(ApiError::InvalidCursor)?;
        if u32::from_str_radix(check, 16).ok() != Some(checksum(payload)) {
            return Err(ApiError::InvalidCursor);
        }
        let mut parts = payload.split('.');
        let (Some(CURSOR_VERSION), Some(position), Some(micros), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ApiError::InvalidCursor);
        };
        let position: i64 = position.parse().map_err(|_| ApiError::InvalidCursor)?;
        let micros: i128 = micros.parse().map_err(|_| ApiError::InvalidCursor)?;
        let id: i64 = id.parse().map_err(|_| ApiError::InvalidCursor)?;
        let placed_at =
            OffsetDateTime::from_unix_timestamp_nanos(micros * 1_000).map_err(|_| ApiError::InvalidCursor)?;
        // PostgreSQL holds no timestamp before 4713 BC, and no order predates year 1.
        if !(1..=MAX_POSITION).contains(&position) || id < 1 || placed_at.year() < 1 {
            return Err(ApiError::InvalidCursor);
        }
        Ok(Cursor { position, placed_at, id })
    }
}

/// Largest position a cursor may carry. No list is anywhere near this long;
/// the bound keeps `position + limit` far from overflow, and [`Cursor::after`]
/// holds a position at it, so every token issued decodes.
pub const MAX_POSITION: i64 = i64::MAX / 2;

/// FNV-1a, folded to 32 bits: catches typos and truncation, not an attacker.
fn checksum(text: &str) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash ^ (hash >> 32)) as u32
}

/// A timestamp as the API writes it: `2026-03-14T10:22:05Z` (whole seconds, UTC).
pub fn timestamp(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"))
        .expect("a UTC timestamp formats")
}

/// Mean rating from a sum and a count, to two decimals rounded half up; `None` with no reviews.
pub fn average_rating(sum: i64, count: i64) -> Option<String> {
    if count <= 0 {
        return None;
    }
    let hundredths = (sum * 200 + count) / (2 * count);
    Some(format!("{}.{:02}", hundredths / 100, hundredths % 100))
}

/// `GET /health`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Health {
    pub status: String,
}

/// `GET /orders`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrderPage {
    pub orders: Vec<Order>,
    /// Present exactly when more orders follow.
    pub next_cursor: Option<String>,
}

/// An order with its customer and lines (`GET /orders/{id}` and each entry of [`OrderPage`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Order {
    pub id: i64,
    /// See [`timestamp`].
    pub placed_at: String,
    pub status: String,
    pub customer: CustomerRef,
    /// In line id order.
    pub lines: Vec<OrderLine>,
    pub total_cents: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CustomerRef {
    pub id: i64,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrderLine {
    pub sku: String,
    pub name: String,
    pub quantity: i32,
    pub unit_price_cents: i64,
}

/// `GET /customers/{id}/orders`: at most `limit` orders, newest first (same order as `GET /orders`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CustomerOrders {
    pub customer: CustomerRef,
    pub orders: Vec<OrderSummary>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OrderSummary {
    pub id: i64,
    pub placed_at: String,
    pub status: String,
    pub total_cents: i64,
}

/// `GET /reports/categories`: per category over orders placed in the range
/// and not cancelled; categories without sales are left out; biggest revenue
/// first, ties by category name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CategoryReport {
    pub from: String,
    pub to: String,
    pub categories: Vec<CategoryTotal>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CategoryTotal {
    pub category: String,
    /// Distinct orders with at least one line in the category.
    pub orders: i64,
    /// Sum of line quantities.
    pub units: i64,
    /// Sum of `quantity * unit_price_cents`.
    pub revenue_cents: i64,
}

/// `GET /products/{sku}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProductView {
    pub sku: String,
    pub name: String,
    pub category: String,
    pub price_cents: i64,
    pub rating_count: i64,
    /// See [`average_rating`]; `null` before the first review.
    pub average_rating: Option<String>,
}

/// The body of `POST /products/{sku}/reviews`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NewReview {
    pub customer_id: i64,
    /// 1 to 5.
    pub rating: i32,
    /// 1 to [`MAX_TITLE`] characters, not blank.
    pub title: String,
    /// Up to [`MAX_BODY`] characters.
    #[serde(default)]
    pub body: String,
}

impl NewReview {
    /// The field checks every implementation makes before touching the database.
    pub fn validate(&self) -> Result<(), ApiError> {
        if !(1..=5).contains(&self.rating) {
            return Err(ApiError::InvalidReview(format!("rating must be 1 to 5, got {}", self.rating)));
        }
        let title = self.title.chars().count();
        if self.title.trim().is_empty() || title > MAX_TITLE {
            return Err(ApiError::InvalidReview(format!(
                "title must hold 1 to {MAX_TITLE} characters and not be blank, got {title}"
            )));
        }
        let body = self.body.chars().count();
        if body > MAX_BODY {
            return Err(ApiError::InvalidReview(format!("body must hold at most {MAX_BODY} characters, got {body}")));
        }
        // PostgreSQL refuses a NUL in any text, so it would fail the insert.
        if self.title.contains('\0') || self.body.contains('\0') {
            return Err(ApiError::InvalidReview("title and body must not hold a NUL character".into()));
        }
        Ok(())
    }
}

/// The answer to an accepted review: the product's rating after it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReviewCreated {
    pub review_id: i64,
    pub sku: String,
    pub rating_count: i64,
    pub average_rating: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_database_that_cannot_serve_now_is_a_503_that_says_why() {
        let timed_out = ApiError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(timed_out.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(timed_out.code(), "unavailable");
        assert!(timed_out.body().message.contains("busy or unreachable"), "{}", timed_out.body().message);
        let eof = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed");
        let lost = ApiError::from(sqlx::Error::Io(eof));
        assert_eq!((lost.status(), lost.code()), (StatusCode::SERVICE_UNAVAILABLE, "unavailable"));
        assert!(lost.body().message.contains("connection to the database was lost"));
        let other = ApiError::from(sqlx::Error::RowNotFound);
        assert_eq!((other.status(), other.code()), (StatusCode::INTERNAL_SERVER_ERROR, "internal"));
    }

    #[test]
    fn a_cursor_survives_encoding_and_decoding() {
        let cursor = Cursor::after(50_000, datetime!(2026-03-14 10:00:00 UTC), 123_456);
        assert_eq!(Cursor::decode(&cursor.encode()).expect("decodes"), cursor);
    }

    #[test]
    fn a_mangled_cursor_is_refused() {
        let token = Cursor::after(50, datetime!(2026-03-14 10:00:00 UTC), 7).encode();
        let mut bytes = token.clone().into_bytes();
        bytes[3] = if bytes[3] == b'A' { b'B' } else { b'A' };
        let mangled = String::from_utf8(bytes).expect("ascii");
        for bad in [mangled.as_str(), "", "abc", "bm9wZQ", &token[..token.len() - 2]] {
            assert!(matches!(Cursor::decode(bad), Err(ApiError::InvalidCursor)), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_forged_cursor_out_of_range_is_refused() {
        let early = datetime!(-5000-01-01 0:00 UTC);
        for forged in [
            Cursor { position: 10, placed_at: early, id: 7 },
            Cursor { position: i64::MAX, placed_at: datetime!(2026-03-14 10:00:00 UTC), id: 7 },
            Cursor { position: MAX_POSITION + 1, placed_at: datetime!(2026-03-14 10:00:00 UTC), id: 7 },
        ] {
            assert!(
                matches!(Cursor::decode(&forged.encode()), Err(ApiError::InvalidCursor)),
                "{forged:?} was accepted"
            );
        }
    }

    #[test]
    fn every_cursor_issued_decodes() {
        let at = datetime!(2026-03-14 10:00:00 UTC);
        for served in [1, MAX_POSITION - 1, MAX_POSITION, MAX_POSITION + MAX_LIMIT] {
            let cursor = Cursor::after(served, at, 7);
            assert_eq!(Cursor::decode(&cursor.encode()).expect("decodes"), cursor);
        }
    }

    #[test]
    fn averages_round_half_up_to_two_decimals() {
        assert_eq!(average_rating(17, 4).as_deref(), Some("4.25"));
        assert_eq!(average_rating(10, 3).as_deref(), Some("3.33"));
        assert_eq!(average_rating(5, 3).as_deref(), Some("1.67"));
        assert_eq!(average_rating(1, 8).as_deref(), Some("0.13"));
        assert_eq!(average_rating(0, 0), None);
    }

    #[test]
    fn timestamps_are_utc_whole_seconds() {
        assert_eq!(timestamp(datetime!(2026-03-14 10:22:05.9 +02:00)), "2026-03-14T08:22:05Z");
    }
}
