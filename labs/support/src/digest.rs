//! A digest of every answer a measured run got, so the grader can check the
//! answers of runs that are counted (callgrind, dhat) as it checks the
//! gate's: a service that does the real work only when it is checked gains
//! nothing.
//!
//! The digest is of the status and the body as JSON with its keys sorted
//! (`serde_json::Value` keeps objects in key order), so two services that
//! give the same answer in different key orders agree. Hashing streams the
//! serialization into SHA-256 and allocates nothing, so dhat's counts do not
//! move; under callgrind the grader leaves [`answer_digest`] out of the
//! count (`--toggle-collect`), so instruction counts do not move either.

use std::io::Write;

use lab_protocol::Exchange;
use sha2::{Digest, Sha256};

/// Digests of a run's answers, in the order sent; room for them all is
/// taken before the run, so pushing allocates nothing.
#[derive(Debug, Default)]
pub struct Digests(Vec<u64>);

impl Digests {
    pub fn with_capacity(requests: usize) -> Digests {
        Digests(Vec::with_capacity(requests))
    }

    pub fn push(&mut self, exchange: &Exchange) {
        self.0.push(answer_digest(exchange.status, &exchange.body));
    }

    /// Each digest as 16 hex digits, for the run's report.
    pub fn hex(&self) -> Vec<String> {
        self.0.iter().map(|d| format!("{d:016x}")).collect()
    }
}

/// SHA-256 of the status and the body's JSON, cut to 64 bits. Its name is
/// `lab_protocol::UNCOUNTED_BY_CALLGRIND`: rename both together.
#[inline(never)]
pub fn answer_digest(status: u16, body: &serde_json::Value) -> u64 {
    let mut hasher = HashWriter(Sha256::new());
    hasher.0.update(status.to_be_bytes());
    // Writing into the hasher cannot fail.
    let _ = serde_json::to_writer(&mut hasher, body);
    let out = hasher.0.finalize();
    u64::from_be_bytes(out[..8].try_into().expect("SHA-256 is 32 bytes"))
}

struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_same_answer_in_another_key_order_has_the_same_digest() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a": 1, "b": [1, 2]}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{"b": [1, 2], "a": 1}"#).unwrap();
        assert_eq!(answer_digest(200, &a), answer_digest(200, &b));
    }

    #[test]
    fn another_body_or_status_has_another_digest() {
        let body = json!({"units": 3});
        assert_ne!(answer_digest(200, &body), answer_digest(200, &json!({"units": 4})));
        assert_ne!(answer_digest(200, &body), answer_digest(404, &body));
    }
}
