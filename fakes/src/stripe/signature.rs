//! The `Stripe-Signature` header, computed exactly as Stripe signs webhook deliveries:
//! `t={unix seconds},v1={hex(hmac_sha256(secret, "{t}.{payload}"))}`. The whole `whsec_...`
//! string is the HMAC key, which is what Stripe's libraries verify against.
//!
//! It is the workspace's one signer: the fake signs its deliveries with it, and the service's
//! tests, the harness, the journeys and the load tool sign the events they send themselves with
//! it. The service only verifies (`billing_service::webhooks::signature`), with its own code:
//! a verifier tested against an independent signer catches what a shared bug would hide.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header value for `payload` signed with `secret` at `timestamp` (unix seconds).
pub fn stripe_signature(payload: &[u8], secret: &str, timestamp: i64) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else { return String::new() };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_stripes_hmac_of_the_timestamp_and_the_payload() {
        // HMAC-SHA256("whsec_test", "1700000000.{}"), computed independently (openssl dgst -sha256 -hmac).
        assert_eq!(
            stripe_signature(b"{}", "whsec_test", 1_700_000_000),
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }
}
