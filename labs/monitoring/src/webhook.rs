//! The kit's Alertmanager webhook receiver: where every alert of the lab
//! ends up (also the `alert-webhook` binary), and the handle that reads
//! what it received.
//!
//! | route | answer |
//! |---|---|
//! | `POST /alerts` with Alertmanager's webhook payload ([`Notification`], version `"4"`) | 200 `{"received": n}`; 400 for a body that is not JSON, 422 for JSON that is not a notification, each with an [`ErrorBody`] |
//! | `GET /alerts` | every [`Notification`] received so far, oldest first |
//!
//! Each alert of a notification is also printed to stderr as one line:
//! `alert firing: HighErrorRate severity=page: Shop: 12.5% of requests fail`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::api::ErrorBody;

/// The webhook payload version this receiver reads (Alertmanager 0.x sends "4").
pub const VERSION: &str = "4";

/// One webhook call of Alertmanager: a group of alerts and what they share.
/// Fields Alertmanager may add later are ignored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// The payload's version: [`VERSION`].
    pub version: String,
    /// Identifies the group the alerts belong to (route and group labels).
    #[serde(default)]
    pub group_key: String,
    /// How many alerts were left out because of the receiver's `max_alerts`.
    #[serde(default)]
    pub truncated_alerts: u64,
    /// `firing` while any alert of the group fires, else `resolved`.
    pub status: String,
    /// The receiver's name in the Alertmanager config.
    pub receiver: String,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    /// The Alertmanager that sent it.
    #[serde(rename = "externalURL", default)]
    pub external_url: String,
    pub alerts: Vec<Alert>,
}

/// One alert of a [`Notification`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `firing` or `resolved`.
    pub status: String,
    /// `alertname`, the rule's labels and the series' labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The rule's annotations, templates expanded (`summary`, `description`).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339 timestamps; `endsAt` is `0001-01-01T00:00:00Z` while firing
    /// with no end known.
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    /// The Prometheus graph of the rule's expression.
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
    #[serde(default)]
    pub fingerprint: String,
}

impl Alert {
    /// The alert's name (its `alertname` label), or "" when it has none.
    pub fn name(&self) -> &str {
        self.labels.get("alertname").map_or("", String::as_str)
    }

    /// The one line printed to stderr for this alert.
    pub fn line(&self) -> String {
        let severity = self.labels.get("severity").map_or("none", String::as_str);
        let summary = self.annotations.get("summary").or_else(|| self.annotations.get("description"));
        let summary = summary.map_or("(no summary)", String::as_str);
        format!("alert {}: {} severity={severity}: {summary}", self.status, self.name())
    }
}

impl Notification {
    /// The first alert called `name` in the state `status` (`firing` or `resolved`).
    pub fn alert(&self, name: &str, status: &str) -> Option<&Alert> {
        self.alerts.iter().find(|alert| alert.name() == name && alert.status == status)
    }
}

#[derive(Debug, Default)]
struct Inner {
    notifications: Mutex<Vec<Notification>>,
    arrived: Notify,
}

/// What the receiver has been sent so far; cheap to clone, every clone
/// reads the same list.
#[derive(Clone, Debug, Default)]
pub struct Received(Arc<Inner>);

impl Received {
    /// Every notification so far, oldest first.
    pub fn all(&self) -> Vec<Notification> {
        self.0.notifications.lock().clone()
    }

    fn push(&self, notification: Notification) -> usize {
        let count = {
            let mut notifications = self.0.notifications.lock();
            notifications.push(notification);
            notifications.len()
        };
        self.0.arrived.notify_waiters();
        count
    }

    /// The first notification in which the alert `name` fires, waiting for
    /// one up to `timeout`; `None` when none came in time.
    pub async fn wait_for_alert(&self, name: &str, timeout: Duration) -> Option<Notification> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before the list is read, so a push in between still wakes us.
            let arrived = self.0.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(found) = self.all().into_iter().find(|n| n.alert(name, "firing").is_some()) {
                return Some(found);
            }
            tokio::time::timeout_at(deadline, arrived).await.ok()?;
        }
    }
}

/// The receiver's router and the handle that reads what it receives.
pub fn router() -> (Router, Received) {
    let received = Received::default();
    let router = Router::new().route("/alerts", post(receive).get(list)).with_state(received.clone());
    (router, received)
}

fn refuse(status: StatusCode, error: &str, message: String) -> Response {
    (status, Json(ErrorBody { error: error.into(), message })).into_response()
}

async fn receive(State(received): State<Received>, body: Result<Bytes, BytesRejection>) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return refuse(rejection.status(), "invalid_body", rejection.body_text()),
    };
    let notification: Notification = match serde_json::from_slice(&body) {
        Ok(notification) => notification,
        Err(err) if err.is_data() => {
            let message = format!("not an Alertmanager webhook payload: {err}");
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, "invalid_payload", message);
        }
        Err(err) => return refuse(StatusCode::BAD_REQUEST, "invalid_json", format!("the body is not JSON: {err}")),
    };
    if notification.version != VERSION {
        let message = format!("payload version {:?}; this receiver reads version {VERSION:?}", notification.version);
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, "unsupported_version", message);
    }
    for alert in &notification.alerts {
        eprintln!("{}", alert.line());
    }
    let count = received.push(notification);
    (StatusCode::OK, Json(serde_json::json!({ "received": count }))).into_response()
}

async fn list(State(received): State<Received>) -> Json<Vec<Notification>> {
    Json(received.all())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body Alertmanager 0.25 posted to a webhook for the alert the
    /// live test raises (`amtool alert add` with HighErrorRate's labels and
    /// annotations), byte for byte: Go's field order, `&` escaped as `\u0026`.
    const SAMPLE: &str = r#"{"receiver":"alert-webhook","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"HighErrorRate","severity":"page"},"annotations":{"description":"100% of the shop's answers over the last 5 minutes were 5xx (the threshold is 5%).","summary":"Shop: 100% of requests fail"},"startsAt":"2026-12-01T02:22:08.5376163Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://127.0.0.1:18997/graph?g0.expr=shop%3Aerror_ratio%3Arate5m+%3E+0.05\u0026g0.tab=1","fingerprint":"3eacacedc5464f06"}],"groupLabels":{"alertname":"HighErrorRate"},"commonLabels":{"alertname":"HighErrorRate","severity":"page"},"commonAnnotations":{"description":"100% of the shop's answers over the last 5 minutes were 5xx (the threshold is 5%).","summary":"Shop: 100% of requests fail"},"externalURL":"http://127.0.0.1:18998","version":"4","groupKey":"{}:{alertname=\"HighErrorRate\"}","truncatedAlerts":0}"#;

    /// The receiver served on a loopback port: its `/alerts` URL.
    async fn serve(router: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let url = format!("http://{}/alerts", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        url
    }

    async fn call(url: &str, method: reqwest::Method, body: &str) -> (StatusCode, String) {
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().expect("a client");
        let request = http.request(method, url).header("content-type", "application/json").body(body.to_string());
        let response = request.send().await.expect("the receiver answers");
        let status = StatusCode::from_u16(response.status().as_u16()).expect("a status");
        (status, response.text().await.expect("a body"))
    }

    #[test]
    fn a_real_alertmanager_payload_parses_into_its_alerts_and_labels() {
        let notification: Notification = serde_json::from_str(SAMPLE).expect("the sample parses");
        assert_eq!(notification.version, "4");
        assert_eq!(notification.status, "firing");
        assert_eq!(notification.receiver, "alert-webhook");
        assert_eq!(notification.external_url, "http://127.0.0.1:18998");
        assert_eq!(notification.group_labels["alertname"], "HighErrorRate");
        assert_eq!(notification.group_key, r#"{}:{alertname="HighErrorRate"}"#);
        assert_eq!(notification.truncated_alerts, 0);
        let alert = notification.alert("HighErrorRate", "firing").expect("the firing alert");
        assert_eq!(alert.labels["severity"], "page");
        assert_eq!(alert.starts_at, "2026-12-01T02:22:08.5376163Z");
        assert_eq!(alert.fingerprint, "3eacacedc5464f06");
        assert!(alert.generator_url.ends_with("%3E+0.05&g0.tab=1"), "{}", alert.generator_url);
        assert_eq!(alert.line(), "alert firing: HighErrorRate severity=page: Shop: 100% of requests fail");
        assert!(notification.alert("HighErrorRate", "resolved").is_none());
    }

    #[test]
    fn fields_alertmanager_may_add_later_are_ignored_and_missing_optional_ones_default() {
        let minimal = r#"{"version":"4","status":"resolved","receiver":"r","future":1,
            "alerts":[{"status":"resolved","labels":{"alertname":"A"},"extra":{}}]}"#;
        let notification: Notification = serde_json::from_str(minimal).expect("a minimal payload parses");
        assert_eq!(notification.alerts[0].line(), "alert resolved: A severity=none: (no summary)");
        assert!(notification.common_labels.is_empty() && notification.group_key.is_empty());
    }

    #[tokio::test]
    async fn a_posted_notification_is_recorded_and_listed() {
        let (router, received) = router();
        let url = serve(router).await;
        let (status, body) = call(&url, reqwest::Method::POST, SAMPLE).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(received.all().len(), 1);
        let found = received.wait_for_alert("HighErrorRate", Duration::from_millis(10)).await;
        assert_eq!(found.map(|n| n.receiver), Some("alert-webhook".to_string()));
        assert!(received.wait_for_alert("LatencyBudgetBurnFast", Duration::from_millis(10)).await.is_none());
        let (status, body) = call(&url, reqwest::Method::GET, "").await;
        assert_eq!(status, StatusCode::OK);
        let listed: Vec<Notification> = serde_json::from_str(&body).expect("GET /alerts is a list of notifications");
        assert_eq!(listed, received.all());
    }

    #[tokio::test]
    async fn a_waiter_wakes_when_the_alert_arrives() {
        let (router, received) = router();
        let url = serve(router).await;
        let waiter = tokio::spawn({
            let received = received.clone();
            async move { received.wait_for_alert("HighErrorRate", Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(call(&url, reqwest::Method::POST, SAMPLE).await.0, StatusCode::OK);
        let found = tokio::time::timeout(Duration::from_secs(1), waiter).await.expect("woken").expect("no panic");
        assert!(found.is_some());
    }

    #[tokio::test]
    async fn the_webhook_refuses_bad_json_with_a_json_4xx() {
        let (router, received) = router();
        let url = serve(router).await;
        let cases = [
            ("{not json", StatusCode::BAD_REQUEST, "invalid_json"),
            ("", StatusCode::BAD_REQUEST, "invalid_json"),
            (r#"{"version":"4","status":"firing"}"#, StatusCode::UNPROCESSABLE_ENTITY, "invalid_payload"),
            (r#"[1, 2]"#, StatusCode::UNPROCESSABLE_ENTITY, "invalid_payload"),
            (
                r#"{"version":"5","status":"firing","receiver":"r","alerts":[]}"#,
                StatusCode::UNPROCESSABLE_ENTITY,
                "unsupported_version",
            ),
        ];
        for (body, status, code) in cases {
            let (answered, text) = call(&url, reqwest::Method::POST, body).await;
            assert_eq!(answered, status, "POST /alerts {body:?}: {text}");
            let error: ErrorBody =
                serde_json::from_str(&text).unwrap_or_else(|err| panic!("{body:?}: a non-JSON error ({err}): {text}"));
            assert_eq!(error.error, code, "{body:?}");
            assert!(!error.message.is_empty());
        }
        assert!(received.all().is_empty(), "a refused payload was recorded");
    }
}
