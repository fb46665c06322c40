//! Products and their reviews.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lab_database::api::{self, ApiError, JsonBody, NewReview, ProductView, ReviewCreated, Sku};

use crate::models::{CustomerRow, ProductRow};
use crate::state::AppState;

/// `GET /products/{sku}`.
pub async fn one(State(state): State<AppState>, Sku(sku): Sku) -> Result<Json<ProductView>, ApiError> {
    let mut db = state.db().await?;
    let product: Option<ProductRow> =
        sqlx::query_as("SELECT * FROM products WHERE sku = $1").bind(&sku).fetch_optional(&mut db).await?;
    let Some(product) = product else {
        return Err(ApiError::NotFound(format!("no product with sku {sku}")));
    };
    Ok(Json(ProductView {
        average_rating: api::average_rating(product.rating_sum, product.rating_count),
        sku: product.sku,
        name: product.name,
        category: product.category,
        price_cents: product.price_cents,
        rating_count: product.rating_count,
    }))
}

/// `POST /products/{sku}/reviews`: store the review and update the product's rating.
pub async fn review(
    State(state): State<AppState>,
    Sku(sku): Sku,
    JsonBody(review): JsonBody<NewReview>,
) -> Result<(StatusCode, Json<ReviewCreated>), ApiError> {
    review.validate()?;
    let mut db = state.db().await?;
    let product: Option<ProductRow> =
        sqlx::query_as("SELECT * FROM products WHERE sku = $1").bind(&sku).fetch_optional(&mut db).await?;
    let Some(product) = product else {
        return Err(ApiError::NotFound(format!("no product with sku {sku}")));
    };
    let customer: Option<CustomerRow> = sqlx::query_as("SELECT * FROM customers WHERE id = $1")
        .bind(review.customer_id)
        .fetch_optional(&mut db)
        .await?;
    if customer.is_none() {
        return Err(ApiError::UnknownCustomer(review.customer_id));
    }

    let (review_id,): (i64,) = sqlx::query_as(
        "INSERT INTO reviews (product_id, customer_id, rating, title, body) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(product.id)
    .bind(review.customer_id)
    .bind(review.rating as i16)
    .bind(&review.title)
    .bind(&review.body)
    .fetch_one(&mut db)
    .await?;
    sqlx::query("UPDATE products SET rating_count = rating_count + 1, rating_sum = rating_sum + $1 WHERE id = $2")
        .bind(i64::from(review.rating))
        .bind(product.id)
        .execute(&mut db)
        .await?;

    let (rating_count, rating_sum): (i64, i64) =
        sqlx::query_as("SELECT rating_count, rating_sum FROM products WHERE id = $1")
            .bind(product.id)
            .fetch_one(&mut db)
            .await?;
    let created = ReviewCreated {
        review_id,
        sku: product.sku,
        rating_count,
        average_rating: api::average_rating(rating_sum, rating_count).unwrap_or_default(),
    };
    Ok((StatusCode::CREATED, Json(created)))
}
