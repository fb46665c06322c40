//! Signed receipts for ingested batches: slow on purpose, and never the same twice.
//!
//! `POST /sales` with `"receipt": true` answers with a receipt the checkout
//! keeps as proof that the shop stored the batch. A receipt is
//! PBKDF2-HMAC-SHA256 with the batch's lines (joined with `\n`) as the
//! password, `receipt:<total_sales>` as the salt (the log's length once the
//! batch is stored) and [`Dataset::receipt_rounds`](crate::Dataset) rounds,
//! written as 64 lowercase hex digits.
//!
//! The cost is the point: key stretching makes receipts expensive to forge,
//! and it stands for any slow work a handler cannot avoid (a password hash,
//! a signature, a call to a slow upstream). No optimisation removes it: the
//! rounds run one after another, and the salt changes with every batch, so
//! no receipt can be reused for another.

use std::fmt::Write;

use pbkdf2::sha2::Sha256;

/// The receipt of a batch of `lines` that left the log `total_sales` long.
pub fn sign(lines: &[String], total_sales: usize, rounds: u32) -> String {
    let password = lines.join("\n");
    let salt = format!("receipt:{total_sales}");
    let digest = pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password.as_bytes(), salt.as_bytes(), rounds.max(1));
    let mut hex = String::with_capacity(64);
    for byte in digest {
        write!(hex, "{byte:02x}").expect("writing to a String cannot fail");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::sign;

    #[test]
    fn a_receipt_is_pbkdf2_hmac_sha256_in_hex() {
        // RFC 7914 section 11's PBKDF2-HMAC-SHA256 vector: "passwd", "salt", 1 round.
        let digest = pbkdf2::pbkdf2_hmac_array::<pbkdf2::sha2::Sha256, 32>(b"passwd", b"salt", 1);
        assert_eq!(digest[..4], [0x55, 0xac, 0x04, 0x6e]);
        let receipt = sign(&["a".into(), "b".into()], 7, 10);
        assert_eq!(receipt.len(), 64);
        assert!(receipt.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    #[test]
    fn the_same_batch_at_another_position_gets_another_receipt() {
        let lines = vec!["2026-06-01T08:00:00Z;SKU-00001;west;C000001;2;0".to_string()];
        assert_eq!(sign(&lines, 10, 50), sign(&lines, 10, 50));
        assert_ne!(sign(&lines, 10, 50), sign(&lines, 11, 50));
        assert_ne!(sign(&lines, 10, 50), sign(&lines, 10, 51));
    }
}
