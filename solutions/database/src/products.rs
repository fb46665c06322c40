//! Products and their reviews.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lab_database::api::{self, ApiError, JsonBody, NewReview, ProductView, ReviewCreated, Sku};

use crate::models::ProductRow;
use crate::state::AppState;

/// `GET /products/{sku}`.
pub async fn one(State(state): State<AppState>, Sku(sku): Sku) -> Result<Json<ProductView>, ApiError> {
    let product: Option<ProductRow> = sqlx::query_as(
        "SELECT id, sku, name, category, price_cents, rating_count, rating_sum FROM products WHERE sku = $1",
    )
    .bind(&sku)
    .fetch_optional(&state.pool)
    .await?;
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
    // Why: one transaction: the review and the rating it moves commit together or not at all, with one commit.
    let mut tx = state.pool.begin().await?;
    // Why: INSERT ... SELECT checks product and customer in the same statement; no row means one is missing.
    let inserted: Option<(i64, i64)> = sqlx::query_as(
        "INSERT INTO reviews (product_id, customer_id, rating, title, body) \
         SELECT p.id, c.id, $3, $4, $5 FROM products p, customers c WHERE p.sku = $1 AND c.id = $2 \
         RETURNING id, product_id",
    )
    .bind(&sku)
    .bind(review.customer_id)
    .bind(review.rating as i16)
    .bind(&review.title)
    .bind(&review.body)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((review_id, product_id)) = inserted else {
        tx.rollback().await?;
        return Err(missing(&state, &sku, review.customer_id).await);
    };
    let (rating_count, rating_sum): (i64, i64) = sqlx::query_as(
        "UPDATE products SET rating_count = rating_count + 1, rating_sum = rating_sum + $1 \
         WHERE id = $2 RETURNING rating_count, rating_sum",
    )
    .bind(i64::from(review.rating))
    .bind(product_id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;

    let created = ReviewCreated {
        review_id,
        sku,
        rating_count,
        average_rating: api::average_rating(rating_sum, rating_count).unwrap_or_default(),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Which of the two was missing, checked only on the error path: the product first, then the customer.
async fn missing(state: &AppState, sku: &str, customer_id: i64) -> ApiError {
    let product: Result<Option<i64>, _> =
        sqlx::query_scalar("SELECT id FROM products WHERE sku = $1").bind(sku).fetch_optional(&state.pool).await;
    match product {
        Ok(None) => ApiError::NotFound(format!("no product with sku {sku}")),
        Ok(Some(_)) => ApiError::UnknownCustomer(customer_id),
        Err(err) => err.into(),
    }
}
