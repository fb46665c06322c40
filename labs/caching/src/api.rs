//! The HTTP contract: routes, bodies and errors.
//!
//! | route | answer |
//! |---|---|
//! | `GET /health` | [`Health`] (touches neither the upstream nor Redis) |
//! | `GET /products/{id}` | [`Product`], or 404 |
//! | `PUT /products/{id}` with a [`ProductPatch`] | the changed [`Product`], or 404 |
//! | `DELETE /products/{id}` | 204 with no body, or 404 |
//! | `GET /categories/{name}` | [`CategoryListing`], or 404 |
//! | `GET /cache/stats` | [`CacheStats`]: hits and misses per cache layer |
//!
//! **Freshness.** Once a write or a delete has been answered, every read
//! that starts afterwards, on any instance of the service, sees it: the
//! product's new fields and `version`, the category's listing with the new
//! name, price or stock, a deleted product's 404. Caching may make reads
//! cheaper, never older.
//!
//! **Errors.** Every error is JSON, `{"error": code, "message": text}`, with
//! the status [`ApiError::status`] gives: bad input is a 4xx; an upstream
//! that cannot be reached in time is a 503 `unavailable`; an upstream that
//! answers what its API does not promise is a 502 `bad_upstream`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::data::Item;
use crate::upstream::{ItemPatch, UpstreamError};

/// Longest product name, in characters.
pub const MAX_NAME: usize = 80;
/// Highest price a write may set, in cents.
pub const MAX_PRICE_CENTS: u64 = 100_000_000;
/// Highest stock a write may set.
pub const MAX_STOCK: u32 = 1_000_000;
/// Longest category name a path may hold.
pub const MAX_CATEGORY: usize = 32;

/// `GET /health`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
}

impl Health {
    pub fn ok() -> Health {
        Health { status: "ok".into() }
    }
}

/// `GET /products/{id}` and the answer to a write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: u32,
    pub name: String,
    pub category: String,
    pub price_cents: u64,
    pub stock: u32,
    /// Raised by one on every change, so a client can tell which write it has seen.
    pub version: u64,
}

impl From<Item> for Product {
    fn from(item: Item) -> Product {
        let Item { id, name, category, price_cents, stock, version } = item;
        Product { id, name, category, price_cents, stock, version }
    }
}

/// One product of a category listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductSummary {
    pub id: u32,
    pub name: String,
    pub price_cents: u64,
    pub in_stock: bool,
}

impl From<&Item> for ProductSummary {
    fn from(item: &Item) -> ProductSummary {
        ProductSummary { id: item.id, name: item.name.clone(), price_cents: item.price_cents, in_stock: item.stock > 0 }
    }
}

/// `GET /categories/{name}`: every product of the category, in id order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryListing {
    pub category: String,
    pub count: usize,
    pub products: Vec<ProductSummary>,
}

impl CategoryListing {
    pub fn new(category: String, items: &[Item]) -> CategoryListing {
        let products: Vec<ProductSummary> = items.iter().map(ProductSummary::from).collect();
        CategoryListing { category, count: products.len(), products }
    }
}

/// `GET /cache/stats`: what each cache layer answered, as the service counts it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheStats {
    /// Outermost first (`memory`, then `redis`, say); empty without a cache.
    pub layers: Vec<LayerStats>,
}

/// One cache layer's lookups since the service started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerStats {
    pub layer: String,
    pub hits: u64,
    pub misses: u64,
}

/// The body of `PUT /products/{id}`: at least one field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub price_cents: Option<u64>,
    #[serde(default)]
    pub stock: Option<u32>,
}

impl ProductPatch {
    /// The upstream's patch, or a 422 saying which field is out of range.
    pub fn validate(self) -> Result<ItemPatch, ApiError> {
        let ProductPatch { name, price_cents, stock } = self;
        if name.is_none() && price_cents.is_none() && stock.is_none() {
            return Err(ApiError::InvalidPatch("a change needs at least one of name, price_cents, stock".into()));
        }
        if let Some(name) = &name {
            let chars = name.chars().count();
            if name.trim().is_empty() || chars > MAX_NAME || name.chars().any(char::is_control) {
                return Err(ApiError::InvalidPatch(format!(
                    "name must be 1 to {MAX_NAME} printable characters, not only spaces; got {chars} characters"
                )));
            }
        }
        if let Some(price) = price_cents
            && !(1..=MAX_PRICE_CENTS).contains(&price)
        {
            return Err(ApiError::InvalidPatch(format!(
                "price_cents must be from 1 to {MAX_PRICE_CENTS}, got {price}"
            )));
        }
        if let Some(stock) = stock
            && stock > MAX_STOCK
        {
            return Err(ApiError::InvalidPatch(format!("stock must be from 0 to {MAX_STOCK}, got {stock}")));
        }
        Ok(ItemPatch { name, price_cents, stock })
    }
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
    /// A change's fields are out of range (422 `invalid_change`).
    #[error("{0}")]
    InvalidPatch(String),
    /// No such product or category (404 `not_found`).
    #[error("{0}")]
    NotFound(String),
    /// No such route (404 `not_found`) or method (405 `method_not_allowed`).
    #[error("{method} {path} is not part of this API")]
    NoRoute { method: Method, path: String, status: StatusCode },
    /// The upstream did not answer in time (503 `unavailable`).
    #[error("the catalogue upstream is unavailable; try again shortly")]
    Unavailable(#[source] UpstreamError),
    /// The upstream answered what its API does not promise (502 `bad_upstream`).
    #[error("the catalogue upstream gave an unexpected answer")]
    BadUpstream(#[source] UpstreamError),
    /// Anything else that should not happen (500 `internal`).
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<UpstreamError> for ApiError {
    fn from(err: UpstreamError) -> Self {
        match err {
            UpstreamError::Unreachable(_) => ApiError::Unavailable(err),
            UpstreamError::Unexpected { .. } => ApiError::BadUpstream(err),
        }
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
            ApiError::InvalidPath(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidBody { status, .. } | ApiError::NoRoute { status, .. } => *status,
            ApiError::InvalidPatch(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadUpstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable code of the error body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidPath(_) => "invalid_path",
            ApiError::InvalidBody { .. } => "invalid_body",
            ApiError::InvalidPatch(_) => "invalid_change",
            ApiError::NotFound(_) => "not_found",
            ApiError::NoRoute { status, .. } if *status == StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            ApiError::NoRoute { .. } => "not_found",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::BadUpstream(_) => "bad_upstream",
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

    /// The 404 for a product id.
    pub fn no_product(id: u32) -> ApiError {
        ApiError::NotFound(format!("no product with id {id}"))
    }

    /// The 404 for a category name.
    pub fn no_category(name: &str) -> ApiError {
        ApiError::NotFound(format!("no category named {name:?}"))
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

/// The `{id}` segment of the product routes: a whole number from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProductId(pub u32);

impl<S: Send + Sync> FromRequestParts<S> for ProductId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::InvalidPath(rejection.body_text()))?;
        match text.parse::<u32>() {
            Ok(id) if id > 0 => Ok(ProductId(id)),
            _ => Err(ApiError::InvalidPath(format!("id must be a whole number from 1 to {}, got {text:?}", u32::MAX))),
        }
    }
}

/// The `{name}` segment of `GET /categories/{name}`: lower-case ASCII
/// letters, at most [`MAX_CATEGORY`] (any other name is a 400, a
/// well-formed one the upstream does not know a 404).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CategoryName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CategoryName {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(name) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::InvalidPath(rejection.body_text()))?;
        if name.is_empty() || name.len() > MAX_CATEGORY || !name.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(ApiError::InvalidPath(format!(
                "a category name is 1 to {MAX_CATEGORY} lower-case letters a-z, got {name:?}"
            )));
        }
        Ok(CategoryName(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_needs_a_field_and_every_field_in_range() {
        let code = |patch: ProductPatch| patch.validate().map(|_| ()).map_err(|err| err.code());
        assert_eq!(code(ProductPatch::default()), Err("invalid_change"));
        assert_eq!(code(ProductPatch { price_cents: Some(0), ..Default::default() }), Err("invalid_change"));
        assert_eq!(code(ProductPatch { stock: Some(MAX_STOCK + 1), ..Default::default() }), Err("invalid_change"));
        assert_eq!(code(ProductPatch { name: Some("  ".into()), ..Default::default() }), Err("invalid_change"));
        assert_eq!(code(ProductPatch { name: Some("a\u{7}b".into()), ..Default::default() }), Err("invalid_change"));
        assert_eq!(code(ProductPatch { name: Some("é".repeat(MAX_NAME)), ..Default::default() }), Ok(()));
        assert_eq!(
            code(ProductPatch { name: Some("x".repeat(MAX_NAME + 1)), ..Default::default() }),
            Err("invalid_change")
        );
        assert_eq!(code(ProductPatch { stock: Some(0), ..Default::default() }), Ok(()));
    }
}
