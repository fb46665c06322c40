//! HTTP caching: a cached body with its `ETag`, conditional reads
//! (`If-None-Match` → `304 Not Modified`) and `Cache-Control`.
//!
//! - Reads answer `Cache-Control: no-cache`: a client may keep the body, but
//!   must revalidate it every time, because a write must show up at once.
//!   Revalidating is cheap: a matching `If-None-Match` gets a 304 with no body.
//! - Everything else (writes, deletes, errors, `/cache/stats`, `/health`)
//!   answers `Cache-Control: no-store` ([`no_store_by_default`]).
//! - The ETag is strong: a SHA-256 of the exact body bytes, so equal tags
//!   mean equal bytes, whichever instance made them.

use axum::body::Bytes;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Clients may store a read, but must revalidate it before each use.
const REVALIDATE: &str = "no-cache";
/// Clients and proxies must not store the answer at all.
const NO_STORE: &str = "no-store";
const JSON: &str = "application/json";
const HEX: &[u8; 16] = b"0123456789abcdef";

/// A body ready to send, with its ETag: what the cache stores, so a hit
/// costs neither serialisation nor hashing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Representation {
    body: Bytes,
    etag: HeaderValue,
}

impl Representation {
    /// `value` as the exact JSON bytes the baseline sends (`axum::Json` uses serde_json too).
    pub fn json<T: Serialize>(value: &T) -> Result<Representation, serde_json::Error> {
        let body = serde_json::to_string(value)?;
        Ok(Representation::from_body(body))
    }

    /// A stored body and its tag, as the Redis layer kept them; `None` if the tag is not a header value.
    pub fn from_parts(body: String, etag: &str) -> Option<Representation> {
        let etag = HeaderValue::from_str(etag).ok()?;
        Some(Representation { body: Bytes::from(body), etag })
    }

    fn from_body(body: String) -> Representation {
        let etag = etag_of(body.as_bytes());
        Representation { body: Bytes::from(body), etag }
    }

    /// The body bytes.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body as text (it was made from a `String`, so it always is).
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The quoted tag, as the `ETag` header carries it.
    pub fn etag(&self) -> &str {
        // Made from ASCII hex and quotes only (or checked in `from_parts`).
        self.etag.to_str().unwrap_or_default()
    }

    /// The 200 with this body, or a 304 without it when `request` already holds it.
    pub fn respond(&self, request: &HeaderMap) -> Response {
        // Why: the client already has these exact bytes: tell it so instead of sending them again.
        if none_match_fails(request, &self.etag) {
            let headers = [(ETAG, self.etag.clone()), (CACHE_CONTROL, HeaderValue::from_static(REVALIDATE))];
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        // Why: `Bytes` is reference-counted, so a hit sends the cached body without copying it.
        let headers = [
            (CONTENT_TYPE, HeaderValue::from_static(JSON)),
            (ETAG, self.etag.clone()),
            (CACHE_CONTROL, HeaderValue::from_static(REVALIDATE)),
        ];
        (headers, self.body.clone()).into_response()
    }
}

/// `"` + the first 16 bytes of the body's SHA-256 in hex + `"`: a strong
/// validator (RFC 9110 §8.8.3), equal only for equal bytes.
fn etag_of(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for byte in &digest[..16] {
        tag.push(char::from(HEX[usize::from(byte >> 4)]));
        tag.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    tag.push('"');
    // Quotes and hex digits are always a valid header value; `from_static` cannot take a `String`.
    HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"\""))
}

/// Whether `If-None-Match` names `etag` (or is `*`): then the condition
/// fails and the answer is a 304. `If-None-Match` compares weakly (RFC 9110
/// §13.1.2), so `W/"x"` matches `"x"`. Several headers, and lists in one, count.
fn none_match_fails(request: &HeaderMap, etag: &HeaderValue) -> bool {
    request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == etag.as_bytes())
}

/// Router layer: every answer that has not chosen a `Cache-Control` of its
/// own (writes, deletes, errors, stats) gets `no-store`.
pub async fn no_store_by_default(mut response: Response) -> Response {
    // Why: a shared proxy must never keep an error, a write's answer or counters that change every request.
    response.headers_mut().entry(CACHE_CONTROL).or_insert(HeaderValue::from_static(NO_STORE));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn the_etag_is_a_quoted_digest_of_the_exact_bytes() {
        let a = Representation::json(&serde_json::json!({"id": 1})).unwrap();
        let b = Representation::json(&serde_json::json!({"id": 2})).unwrap();
        assert_eq!(a.body().as_ref(), br#"{"id":1}"#);
        assert_eq!(a.etag().len(), 34);
        assert!(a.etag().starts_with('"') && a.etag().ends_with('"'));
        assert_ne!(a.etag(), b.etag());
        assert_eq!(a, Representation::from_parts(r#"{"id":1}"#.into(), a.etag()).unwrap());
    }

    #[test]
    fn if_none_match_takes_star_lists_repeats_and_weak_tags() {
        let rep = Representation::json(&serde_json::json!({"id": 1})).unwrap();
        let tag = rep.etag().to_string();
        let status = |values: &[&str]| rep.respond(&request(values)).status();
        assert_eq!(status(&[]), StatusCode::OK);
        assert_eq!(status(&[&tag]), StatusCode::NOT_MODIFIED);
        assert_eq!(status(&["*"]), StatusCode::NOT_MODIFIED);
        assert_eq!(status(&[&format!("\"a\", {tag}")]), StatusCode::NOT_MODIFIED);
        assert_eq!(status(&["\"a\"", &tag]), StatusCode::NOT_MODIFIED);
        assert_eq!(status(&[&format!("W/{tag}")]), StatusCode::NOT_MODIFIED);
        assert_eq!(status(&["\"a\", \"b\""]), StatusCode::OK);
        let not_modified = rep.respond(&request(&[&tag]));
        assert_eq!(not_modified.headers()[ETAG], tag.as_str());
        assert_eq!(not_modified.headers()[CACHE_CONTROL], "no-cache");
    }
}
