//! Vended credentials: self-contained, signed, short-lived tokens.
//!
//! A token is `bkc_` + base64url(claims JSON) + `.` + base64url(HMAC-SHA256(signing key, claims
//! JSON)), without padding. The claims say who it was vended to (customer and API key), for
//! which provider, when (`iat`) and until when (`exp`, Unix seconds), and carry a unique `jti`.
//! A provider-side verifier needs only the signing key and a clock: [`verify_credential`].
//! Nothing is stored, so vending costs no database write.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::domain::CustomerId;

/// Every vended credential starts with this (recognisable in logs and by secret scanners).
pub const TOKEN_PREFIX: &str = "bkc_";
/// Shortest signing key accepted: HMAC-SHA256 wants at least as many bytes as its output.
pub const MIN_SIGNING_KEY_BYTES: usize = 32;

/// What a credential says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub customer: CustomerId,
    pub key_id: Uuid,
    pub provider: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds: the credential is valid while `now < exp`.
    pub exp: i64,
    /// A unique id, so a provider can refuse a credential it has seen revoked or replayed.
    pub jti: Uuid,
}

/// Why a credential does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("not a credential: expected `bkc_<claims>.<signature>` in base64url")]
    Malformed,
    #[error("the credential's signature does not match (tampered, or signed with another key)")]
    BadSignature,
    #[error("the credential expired at {expired_at}")]
    Expired { expired_at: DateTime<Utc> },
}

/// The key credentials are signed with. Its bytes never appear in `Debug` output.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// A configured key (`CREDENTIAL_SIGNING_KEY`): its UTF-8 bytes, at least 32 of them.
    pub fn parse(raw: &str) -> Result<SigningKey, String> {
        if raw.len() < MIN_SIGNING_KEY_BYTES {
            return Err(format!(
                "CREDENTIAL_SIGNING_KEY must be at least {MIN_SIGNING_KEY_BYTES} bytes (it has {}): generate one with `openssl rand -base64 48`",
                raw.len()
            ));
        }
        Ok(SigningKey(raw.as_bytes().to_vec()))
    }

    /// A random key, for a process that was given none.
    pub fn random() -> SigningKey {
        let bytes: [u8; 32] = rand::random();
        SigningKey(bytes.to_vec())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; this cannot fail.
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length")
}

/// Signs `claims` into a token.
pub fn sign_credential(claims: &Claims, key: &SigningKey) -> String {
    // Serializing a struct of strings, numbers and uuids cannot fail.
    let payload = serde_json::to_vec(claims).expect("claims serialize to JSON");
    let signature = mac(key.as_bytes()).chain_update(&payload).finalize().into_bytes();
    format!("{TOKEN_PREFIX}{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(signature))
}

/// Checks a token's signature under `key` (in constant time) and its expiry against `now`,
/// and returns its claims.
pub fn verify_credential(token: &str, key: &[u8], now: DateTime<Utc>) -> Result<Claims, CredentialError> {
    let body = token.strip_prefix(TOKEN_PREFIX).ok_or(CredentialError::Malformed)?;
    let (payload, signature) = body.split_once('.').ok_or(CredentialError::Malformed)?;
    let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| CredentialError::Malformed)?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| CredentialError::Malformed)?;
    mac(key).chain_update(&payload).verify_slice(&signature).map_err(|_| CredentialError::BadSignature)?;
    // Only signed bytes are parsed.
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| CredentialError::Malformed)?;
    if now.timestamp() >= claims.exp {
        let expired_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or(DateTime::<Utc>::MIN_UTC);
        return Err(CredentialError::Expired { expired_at });
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::parse("a signing key that is long enough for tests").unwrap()
    }

    fn claims(now: DateTime<Utc>) -> Claims {
        Claims {
            customer: CustomerId(Uuid::new_v4()),
            key_id: Uuid::new_v4(),
            provider: "github".into(),
            iat: now.timestamp(),
            exp: now.timestamp() + 900,
            jti: Uuid::new_v4(),
        }
    }

    #[test]
    fn a_signed_credential_verifies_and_gives_back_its_claims() {
        let now = Utc::now();
        let claims = claims(now);
        let token = sign_credential(&claims, &key());
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(verify_credential(&token, key().as_bytes(), now), Ok(claims));
    }

    #[test]
    fn a_credential_is_valid_until_its_expiry_and_not_at_it() {
        let now = Utc::now();
        let token = sign_credential(&claims(now), &key());
        assert!(verify_credential(&token, key().as_bytes(), now + chrono::Duration::seconds(899)).is_ok());
        let at_expiry = verify_credential(&token, key().as_bytes(), now + chrono::Duration::seconds(900));
        assert!(
            matches!(at_expiry, Err(CredentialError::Expired { expired_at }) if expired_at.timestamp() == now.timestamp() + 900)
        );
    }

    #[test]
    fn a_credential_signed_with_another_key_does_not_verify() {
        let now = Utc::now();
        let token = sign_credential(&claims(now), &SigningKey::random());
        assert_eq!(verify_credential(&token, key().as_bytes(), now), Err(CredentialError::BadSignature));
    }

    #[test]
    fn tampered_claims_do_not_verify() {
        let now = Utc::now();
        let token = sign_credential(&claims(now), &key());
        let (payload, signature) = token.strip_prefix(TOKEN_PREFIX).unwrap().split_once('.').unwrap();
        let mut forged: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        forged["exp"] = serde_json::json!(now.timestamp() + 86_400);
        forged["provider"] = serde_json::json!("npm");
        let forged = format!("{TOKEN_PREFIX}{}.{signature}", URL_SAFE_NO_PAD.encode(forged.to_string()));
        assert_eq!(verify_credential(&forged, key().as_bytes(), now), Err(CredentialError::BadSignature));
    }

    #[test]
    fn a_flipped_signature_byte_or_garbage_does_not_verify() {
        let now = Utc::now();
        let token = sign_credential(&claims(now), &key());
        let mut flipped = token.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(verify_credential(&flipped, key().as_bytes(), now), Err(CredentialError::BadSignature));
        for garbage in ["", "bkc_", "bkc_abc", "bk_abc.def", "bkc_!!.??", &token[4..]] {
            assert_eq!(verify_credential(garbage, key().as_bytes(), now), Err(CredentialError::Malformed), "{garbage}");
        }
    }

    #[test]
    fn a_short_signing_key_is_refused_and_never_printed() {
        assert!(SigningKey::parse("too short").unwrap_err().contains("at least 32 bytes"));
        assert_eq!(format!("{:?}", key()), "SigningKey(<redacted>)");
    }
}
