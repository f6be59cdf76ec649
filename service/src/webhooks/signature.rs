//! Verifying `Stripe-Signature`, exactly as Stripe signs. The service only verifies; whatever
//! sends signed events (the fake, the tests, the load tool) signs with the workspace's one
//! signer, `billing_fakes::stripe::stripe_signature`, which the tests below verify against.
//!
//! The header is `t=<unix seconds>,v1=<hex>[,v1=<hex>…]` (other schemes such as `v0` are
//! ignored). A signature is HMAC-SHA256 over `"{t}.{raw body}"` keyed with the endpoint's
//! secret. The event is genuine when any `v1` matches under any configured secret (several
//! secrets let a secret be rotated without downtime), compared in constant time, and `t` is
//! within the tolerance of now (which stops replays of old deliveries).
//!
//! Cheap checks come first and bound the work whatever a sender puts in the header: at most
//! [`MAX_HEADER_BYTES`] of header and [`MAX_SIGNATURES`] `v1` entries, the timestamp parsed
//! and compared without overflow, and only then one HMAC of the payload per secret (never one
//! per signature), compared against each `v1`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Stripe's own default tolerance.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;
/// Longest `Stripe-Signature` header read (Stripe's are under 200 bytes; a few during rotation).
pub const MAX_HEADER_BYTES: usize = 2_048;
/// Most `v1` signatures read from one header (Stripe sends one per active secret).
pub const MAX_SIGNATURES: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header: webhooks must come from Stripe, signed")]
    Missing,
    #[error("the Stripe-Signature header is malformed: expected `t=<unix time>,v1=<hex>`")]
    Malformed,
    #[error("the Stripe-Signature header is too long or has too many signatures (at most {MAX_SIGNATURES} v1 entries)")]
    TooLarge,
    #[error("the Stripe-Signature header has no v1 signature")]
    NoV1,
    #[error(
        "the signature timestamp is {age_secs} s from now, more than the {tolerance_secs} s tolerance (a replayed or delayed delivery?)"
    )]
    Stale { age_secs: i64, tolerance_secs: i64 },
    #[error("no v1 signature matches the payload under any configured secret (check STRIPE_WEBHOOK_SECRETS)")]
    Mismatch,
    #[error("no webhook signing secret is configured: set STRIPE_WEBHOOK_SECRETS")]
    NoSecrets,
}

/// Checks a delivery; returns the signature's timestamp.
pub fn verify(
    payload: &[u8],
    header: Option<&str>,
    secrets: &[String],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecrets);
    }
    SignatureHeader::parse(header, now_unix, tolerance_secs)?.verify(payload, secrets)
}

/// A `Stripe-Signature` header that passed the cheap checks (size, shape, timestamp): what is
/// left is the HMAC of the payload, which can wait until the body has been read.
#[derive(Debug, Clone)]
pub struct SignatureHeader {
    timestamp: i64,
    signatures: Vec<[u8; 32]>,
}

impl SignatureHeader {
    pub fn parse(header: Option<&str>, now_unix: i64, tolerance_secs: i64) -> Result<SignatureHeader, SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        if header.len() > MAX_HEADER_BYTES {
            return Err(SignatureError::TooLarge);
        }
        let mut timestamp = None;
        let mut signatures: Vec<[u8; 32]> = Vec::new();
        for part in header.split(',') {
            let (key, value) = part.trim().split_once('=').ok_or(SignatureError::Malformed)?;
            match key {
                "t" => timestamp = Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
                "v1" => {
                    if signatures.len() == MAX_SIGNATURES {
                        return Err(SignatureError::TooLarge);
                    }
                    let mut signature = [0u8; 32];
                    // An HMAC-SHA256 is 32 bytes: anything else can never match, so it is malformed.
                    hex::decode_to_slice(value, &mut signature).map_err(|_| SignatureError::Malformed)?;
                    signatures.push(signature);
                }
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
        if signatures.is_empty() {
            return Err(SignatureError::NoV1);
        }
        let age_secs = now_unix.abs_diff(timestamp);
        if age_secs > tolerance_secs.unsigned_abs() {
            return Err(SignatureError::Stale {
                age_secs: i64::try_from(age_secs).unwrap_or(i64::MAX),
                tolerance_secs,
            });
        }
        Ok(SignatureHeader { timestamp, signatures })
    }

    /// One HMAC of the payload per secret, compared in constant time against each `v1`.
    pub fn verify(&self, payload: &[u8], secrets: &[String]) -> Result<i64, SignatureError> {
        if secrets.is_empty() {
            return Err(SignatureError::NoSecrets);
        }
        for secret in secrets {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::Mismatch)?;
            mac.update(self.timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(payload);
            let expected = mac.finalize().into_bytes();
            if self.signatures.iter().any(|signature| bool::from(signature.ct_eq(expected.as_slice()))) {
                return Ok(self.timestamp);
            }
        }
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use billing_fakes::stripe::stripe_signature;

    use super::*;

    const NOW: i64 = 1_700_000_000;
    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;

    fn secrets(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_signature_made_with_the_secret_verifies() {
        let header = stripe_signature(BODY, "whsec_a", NOW);
        assert_eq!(verify(BODY, Some(&header), &secrets(&["whsec_a"]), NOW, 300), Ok(NOW));
    }

    #[test]
    fn a_signature_computed_as_stripe_publishes_verifies() {
        // HMAC-SHA256("whsec_test", "1700000000.{}") computed independently (openssl dgst).
        let header = "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91";
        assert_eq!(verify(b"{}", Some(header), &secrets(&["whsec_test"]), NOW, 300), Ok(NOW));
    }

    #[test]
    fn any_v1_under_any_secret_verifies_so_secrets_can_rotate() {
        let old = stripe_signature(BODY, "whsec_old", NOW);
        let new = stripe_signature(BODY, "whsec_new", NOW);
        let header = format!("{},v1={},v0=deadbeef", old, &new[new.find("v1=").unwrap() + 3..]);
        assert!(verify(BODY, Some(&header), &secrets(&["whsec_new"]), NOW, 300).is_ok());
        assert!(verify(BODY, Some(&old), &secrets(&["whsec_new", "whsec_old"]), NOW, 300).is_ok());
    }

    #[test]
    fn a_changed_payload_or_wrong_secret_is_refused() {
        let header = stripe_signature(BODY, "whsec_a", NOW);
        assert_eq!(
            verify(b"{\"id\":\"evt_2\"}", Some(&header), &secrets(&["whsec_a"]), NOW, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(BODY, Some(&header), &secrets(&["whsec_b"]), NOW, 300), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_stale_or_future_timestamp_is_refused() {
        let old = stripe_signature(BODY, "whsec_a", NOW - 301);
        assert_eq!(
            verify(BODY, Some(&old), &secrets(&["whsec_a"]), NOW, 300),
            Err(SignatureError::Stale { age_secs: 301, tolerance_secs: 300 })
        );
        let future = stripe_signature(BODY, "whsec_a", NOW + 3_600);
        assert!(matches!(
            verify(BODY, Some(&future), &secrets(&["whsec_a"]), NOW, 300),
            Err(SignatureError::Stale { .. })
        ));
        let edge = stripe_signature(BODY, "whsec_a", NOW - 300);
        assert!(verify(BODY, Some(&edge), &secrets(&["whsec_a"]), NOW, 300).is_ok());
    }

    #[test]
    fn malformed_headers_are_refused_clearly() {
        let s = secrets(&["whsec_a"]);
        assert_eq!(verify(BODY, None, &s, NOW, 300), Err(SignatureError::Missing));
        assert_eq!(verify(BODY, Some("garbage"), &s, NOW, 300), Err(SignatureError::Malformed));
        assert_eq!(verify(BODY, Some("t=abc,v1=00"), &s, NOW, 300), Err(SignatureError::Malformed));
        assert_eq!(verify(BODY, Some(&format!("t={NOW},v0=00")), &s, NOW, 300), Err(SignatureError::NoV1));
        assert_eq!(verify(BODY, Some(&format!("t={NOW},v1=zz")), &s, NOW, 300), Err(SignatureError::Malformed));
        assert_eq!(verify(BODY, Some(&format!("t={NOW},v1=00")), &s, NOW, 300), Err(SignatureError::Malformed));
        assert_eq!(
            verify(BODY, Some(&stripe_signature(BODY, "whsec_a", NOW)), &[], NOW, 300),
            Err(SignatureError::NoSecrets)
        );
    }

    #[test]
    fn extreme_timestamps_are_stale_not_a_panic() {
        let s = secrets(&["whsec_a"]);
        for t in [i64::MIN, i64::MAX, -1, 0] {
            let header = format!("t={t},v1={}", "00".repeat(32));
            assert!(matches!(verify(BODY, Some(&header), &s, NOW, 300), Err(SignatureError::Stale { .. })), "t={t}");
        }
        let header = format!("t={},v1={}", i64::MIN, "00".repeat(32));
        assert!(matches!(verify(BODY, Some(&header), &s, i64::MAX, 300), Err(SignatureError::Stale { .. })));
    }

    #[test]
    fn a_header_with_too_many_signatures_is_refused_before_any_hmac() {
        let s = secrets(&["whsec_a"]);
        let many = (0..=MAX_SIGNATURES).map(|_| format!("v1={}", "ab".repeat(32))).collect::<Vec<_>>().join(",");
        assert_eq!(verify(BODY, Some(&format!("t={NOW},{many}")), &s, NOW, 300), Err(SignatureError::TooLarge));
        let long = format!("t={NOW},v0={}", "a".repeat(MAX_HEADER_BYTES));
        assert_eq!(verify(BODY, Some(&long), &s, NOW, 300), Err(SignatureError::TooLarge));
        // The most allowed still verify when one matches.
        let good = stripe_signature(BODY, "whsec_a", NOW);
        let padded =
            format!("{good}{}", (1..MAX_SIGNATURES).map(|_| format!(",v1={}", "cd".repeat(32))).collect::<String>());
        assert_eq!(verify(BODY, Some(&padded), &s, NOW, 300), Ok(NOW));
    }
}
