//! The payment provider the shop charges cards with: a trusted stub, and
//! the client a service calls it with.
//!
//! Every charge waits a fixed latency, as a remote system would, and the
//! stub records the W3C `traceparent` header each call carried, so a test
//! or the grader can see from outside whether a service propagates its
//! trace.
//!
//! | route | answer |
//! |---|---|
//! | `POST /charges` with a [`ChargeRequest`] | 201 `{"charge_id"}`; 402 for a card ending in `0002`; 503 while failing |
//! | `GET /calls` | [`PaymentCalls`] so far (no latency, not recorded) |
//! | `PUT /failing` with `true` or `false` | every charge answers 503 while `true` (for alerts) |

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
pub use lab_caching::upstream::Address;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// How long every charge waits when no latency is given.
pub const DEFAULT_LATENCY: Duration = Duration::from_millis(2);

/// How long one charge may take before the client gives up.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A card the provider always declines: any number ending in these digits.
pub const DECLINED_SUFFIX: &str = "0002";

/// The body of `POST /charges`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    pub amount_cents: i64,
    pub card: String,
}

/// What the provider has been asked so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentCalls {
    /// Every `POST /charges` answered, in order.
    pub charges: u64,
    /// The `traceparent` header of each charge, in order (`None`: none sent).
    pub traceparents: Vec<Option<String>>,
}

#[derive(Debug)]
struct Shared {
    latency: Duration,
    failing: AtomicBool,
    calls: Mutex<PaymentCalls>,
}

/// The stub's router, each charge waiting `latency`.
pub fn router(latency: Duration) -> Router {
    let shared =
        Arc::new(Shared { latency, failing: AtomicBool::new(false), calls: Mutex::new(PaymentCalls::default()) });
    Router::new()
        .route("/charges", post(charge))
        .route("/calls", get(calls))
        .route("/failing", put(set_failing))
        .with_state(shared)
}

async fn charge(State(shared): State<Arc<Shared>>, headers: HeaderMap, Json(request): Json<ChargeRequest>) -> Response {
    let traceparent = headers.get("traceparent").and_then(|value| value.to_str().ok()).map(str::to_string);
    let number = {
        let mut calls = shared.calls.lock();
        calls.charges += 1;
        calls.traceparents.push(traceparent);
        calls.charges
    };
    tokio::time::sleep(shared.latency).await;
    if shared.failing.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"error": "unavailable"}))).into_response();
    }
    if request.card.ends_with(DECLINED_SUFFIX) || request.amount_cents <= 0 {
        return (StatusCode::PAYMENT_REQUIRED, Json(serde_json::json!({"error": "declined"}))).into_response();
    }
    (StatusCode::CREATED, Json(serde_json::json!({"charge_id": format!("ch_{number:08}")}))).into_response()
}

async fn calls(State(shared): State<Arc<Shared>>) -> Json<PaymentCalls> {
    Json(shared.calls.lock().clone())
}

async fn set_failing(State(shared): State<Arc<Shared>>, Json(failing): Json<bool>) -> StatusCode {
    shared.failing.store(failing, Ordering::SeqCst);
    StatusCode::NO_CONTENT
}

/// A charge the provider answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Charge {
    Approved { charge_id: String },
    Declined,
}

/// The provider could not be reached, or answered outside its API.
#[derive(Clone, Debug, thiserror::Error)]
#[error("the payment provider failed: {0}")]
pub struct PaymentError(String);

/// The provider's client: one connection pool, cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    address: Address,
}

impl Client {
    /// A client of the provider at `address`.
    pub fn new(address: &Address) -> Client {
        let builder = reqwest::Client::builder().timeout(CLIENT_TIMEOUT).no_proxy();
        let (builder, base) = match address {
            Address::Tcp(addr) => (builder, format!("http://{addr}")),
            Address::Unix(path) => (builder.unix_socket(path.clone()), "http://payments".to_string()),
        };
        let http = builder.build().expect("a client with no TLS and no proxy always builds");
        Client { http, base, address: address.clone() }
    }

    /// Where this client's provider listens.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Charges `amount_cents` to `card`, sending `traceparent` when given.
    pub async fn charge(
        &self,
        amount_cents: i64,
        card: &str,
        traceparent: Option<&str>,
    ) -> Result<Charge, PaymentError> {
        let mut request = self
            .http
            .post(format!("{}/charges", self.base))
            .json(&ChargeRequest { amount_cents, card: card.to_string() });
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        let response = request.send().await.map_err(|err| PaymentError(err.to_string()))?;
        match response.status() {
            StatusCode::CREATED => {
                #[derive(Deserialize)]
                struct Approved {
                    charge_id: String,
                }
                let Approved { charge_id } = response.json().await.map_err(|err| PaymentError(err.to_string()))?;
                Ok(Charge::Approved { charge_id })
            }
            StatusCode::PAYMENT_REQUIRED => Ok(Charge::Declined),
            status => Err(PaymentError(format!("answered {status}"))),
        }
    }

    /// What the provider has been asked so far.
    pub async fn calls(&self) -> anyhow::Result<PaymentCalls> {
        let response = self.http.get(format!("{}/calls", self.base)).send().await?.error_for_status()?;
        Ok(response.json().await?)
    }

    /// Makes every charge fail (503) from now on, or stops that.
    pub async fn set_failing(&self, failing: bool) -> anyhow::Result<()> {
        self.http.put(format!("{}/failing", self.base)).json(&failing).send().await?.error_for_status()?;
        Ok(())
    }
}

/// A provider serving in this process on loopback (tests, and the driver
/// when no `--payments` is given); it stops when dropped.
#[derive(Debug)]
pub struct Running {
    pub client: Client,
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Serves on a free loopback port, each charge waiting `latency`.
    pub async fn start(latency: Duration) -> anyhow::Result<Running> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the payment stub")?;
        let addr = listener.local_addr()?;
        let app = router(latency);
        let task = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                eprintln!("payment stub stopped: {err}");
            }
        });
        Ok(Running { client: Client::new(&Address::Tcp(addr)), addr, task })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_stub_approves_declines_fails_and_records_each_traceparent() {
        let stub = Running::start(Duration::from_millis(1)).await.unwrap();
        let client = &stub.client;
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert!(matches!(client.charge(500, "4242424242424242", Some(tp)).await, Ok(Charge::Approved { .. })));
        assert_eq!(client.charge(500, "4000000000000002", None).await.unwrap(), Charge::Declined);
        client.set_failing(true).await.unwrap();
        assert!(client.charge(500, "4242424242424242", None).await.is_err());
        client.set_failing(false).await.unwrap();
        let calls = client.calls().await.unwrap();
        assert_eq!(calls.charges, 3);
        assert_eq!(calls.traceparents, vec![Some(tp.to_string()), None, None]);
    }
}
