//! The HTTP contract: routes, bodies and errors.
//!
//! | route | answer |
//! |---|---|
//! | `GET /products/{sku}` | [`Product`], or 404 |
//! | `POST /orders` with an [`OrderRequest`] | 201 and the [`Order`]; 404, 409 `out_of_stock`, 402 `payment_declined`, 422 |
//! | `GET /orders/{id}` | [`Order`], or 404 |
//! | `GET /health` | [`Health`] (the starter's one health route) |
//!
//! The monitoring routes the lab adds (`/metrics`, `/health/live`,
//! `/health/ready`, `/dashboard`) are described in [`crate::telemetry`].
//!
//! **Errors.** Every error is JSON, `{"error": code, "message": text}`, with
//! the status [`ApiError::status`] gives: bad input is a 4xx; a database or
//! payment provider that cannot be reached is a 503 `unavailable`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// Most units one order may hold.
pub const MAX_QUANTITY: u32 = 20;

/// `GET /health`: the starter's health route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
}

impl Health {
    pub fn ok() -> Health {
        Health { status: "ok".into() }
    }
}

/// `GET /products/{sku}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub category: String,
    pub price_cents: i64,
    pub stock: i32,
}

/// The body of `POST /orders`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    pub sku: String,
    pub quantity: u32,
    /// The card number to charge: 12 to 19 digits.
    pub card: String,
}

impl OrderRequest {
    /// The order's SKU, quantity and card, or a 422 saying which is wrong.
    pub fn validate(&self) -> Result<(), ApiError> {
        if !is_sku(&self.sku) {
            return Err(ApiError::InvalidOrder(format!("sku must look like SKU-00042, got {:?}", self.sku)));
        }
        if !(1..=MAX_QUANTITY).contains(&self.quantity) {
            return Err(ApiError::InvalidOrder(format!(
                "quantity must be from 1 to {MAX_QUANTITY}, got {}",
                self.quantity
            )));
        }
        if !(12..=19).contains(&self.card.len()) || !self.card.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::InvalidOrder("card must be 12 to 19 digits".into()));
        }
        Ok(())
    }
}

/// `GET /orders/{id}` and the answer to `POST /orders`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Order {
    pub id: i64,
    pub sku: String,
    pub quantity: i32,
    pub total_cents: i64,
}

/// `SKU-` and five digits.
pub fn is_sku(text: &str) -> bool {
    text.len() == 9 && text.starts_with("SKU-") && text[4..].bytes().all(|b| b.is_ascii_digit())
}

/// Every error the service answers with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A path segment is not what the route expects (400 `invalid_path`).
    #[error("{0}")]
    InvalidPath(String),
    /// The body is not the JSON the route expects (400, 415 or 422 `invalid_body`).
    #[error("{message}")]
    InvalidBody { status: StatusCode, message: String },
    /// An order's fields are out of range (422 `invalid_order`).
    #[error("{0}")]
    InvalidOrder(String),
    /// No such product or order (404 `not_found`).
    #[error("{0}")]
    NotFound(String),
    /// No such route (404 `not_found`) or method (405 `method_not_allowed`).
    #[error("{method} {path} is not part of this API")]
    NoRoute { method: Method, path: String, status: StatusCode },
    /// Fewer units left than the order asks for (409 `out_of_stock`).
    #[error("only {left} of {sku} left, {wanted} asked for")]
    OutOfStock { sku: String, left: i32, wanted: u32 },
    /// The payment provider refused the card (402 `payment_declined`).
    #[error("the card was declined")]
    Declined,
    /// A dependency did not answer in time (503 `unavailable`).
    #[error("{0} is unavailable; try again shortly")]
    Unavailable(&'static str),
    /// Anything else that should not happen (500 `internal`).
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
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
            ApiError::InvalidPath(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidBody { status, .. } | ApiError::NoRoute { status, .. } => *status,
            ApiError::InvalidOrder(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::OutOfStock { .. } => StatusCode::CONFLICT,
            ApiError::Declined => StatusCode::PAYMENT_REQUIRED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable code of the error body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidPath(_) => "invalid_path",
            ApiError::InvalidBody { .. } => "invalid_body",
            ApiError::InvalidOrder(_) => "invalid_order",
            ApiError::NotFound(_) => "not_found",
            ApiError::NoRoute { status, .. } if *status == StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            ApiError::NoRoute { .. } => "not_found",
            ApiError::OutOfStock { .. } => "out_of_stock",
            ApiError::Declined => "payment_declined",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Unexpected(_) => "internal",
        }
    }

    pub fn body(&self) -> ErrorBody {
        let message = match self {
            // Internals stay in the log, not in the answer.
            ApiError::Unexpected(_) => "internal error; see the service log".to_string(),
            other => other.to_string(),
        };
        ErrorBody { error: self.code().into(), message }
    }

    /// The 404 for a SKU.
    pub fn no_product(sku: &str) -> ApiError {
        ApiError::NotFound(format!("no product {sku}"))
    }

    /// The 404 for an order id.
    pub fn no_order(id: i64) -> ApiError {
        ApiError::NotFound(format!("no order {id}"))
    }
}

impl From<sqlx::Error> for ApiError {
    /// A pool that timed out or a connection that failed is the database
    /// being unavailable; anything else is a bug.
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                ApiError::Unavailable("the database")
            }
            other => ApiError::Unexpected(other.into()),
        }
    }
}

impl From<crate::payments::PaymentError> for ApiError {
    fn from(_: crate::payments::PaymentError) -> Self {
        ApiError::Unavailable("the payment provider")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
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

/// The `{sku}` segment of `GET /products/{sku}`: `SKU-` and five digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sku(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Sku {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::InvalidPath(rejection.body_text()))?;
        if !is_sku(&text) {
            return Err(ApiError::InvalidPath(format!("a SKU looks like SKU-00042, got {text:?}")));
        }
        Ok(Sku(text))
    }
}

/// The `{id}` segment of `GET /orders/{id}`: a whole number from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrderId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for OrderId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::InvalidPath(rejection.body_text()))?;
        match text.parse::<i64>() {
            Ok(id) if id > 0 => Ok(OrderId(id)),
            _ => Err(ApiError::InvalidPath(format!("an order id is a whole number from 1, got {text:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_needs_a_known_shape_of_sku_quantity_and_card() {
        let order = |sku: &str, quantity, card: &str| OrderRequest { sku: sku.into(), quantity, card: card.into() };
        let code = |o: OrderRequest| o.validate().map_err(|err| err.code());
        assert_eq!(code(order("SKU-00001", 1, "4242424242424242")), Ok(()));
        assert_eq!(code(order("SKU-1", 1, "4242424242424242")), Err("invalid_order"));
        assert_eq!(code(order("SKU-00001", 0, "4242424242424242")), Err("invalid_order"));
        assert_eq!(code(order("SKU-00001", MAX_QUANTITY + 1, "4242424242424242")), Err("invalid_order"));
        assert_eq!(code(order("SKU-00001", 2, "4242-4242-4242")), Err("invalid_order"));
        assert_eq!(code(order("SKU-00001", 2, "42424242424")), Err("invalid_order"));
    }
}
