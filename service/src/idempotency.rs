//! Client `Idempotency-Key`s: a client names one intent with a key, and sending it again (a
//! retry after a timeout, a crash, a lost answer) can never do the intent twice.
//!
//! A key is 1 to 255 visible ASCII characters; a request carrying anything else (non-ASCII, too
//! long, empty, or two keys) is refused with 400 on every route, since silently ignoring it would
//! turn the client's retry into a second charge. A route that honours keys records each key it
//! used, with a digest of the request it came with, in the same transaction as the request's
//! effects ([`remember`]); the same key with a different request is refused with 422
//! `idempotency_key_reused` (as the IETF draft "The Idempotency-Key HTTP Header Field" says;
//! Stripe refuses it too), never answered with the first request's result.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use crate::error::ApiError;

/// The header.
pub const HEADER: &str = "idempotency-key";
/// Longest key accepted (Stripe's own limit).
pub const MAX_LEN: usize = 255;

/// A valid client key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKey(String);

impl ClientKey {
    pub fn parse(raw: &[u8]) -> Result<ClientKey, String> {
        if raw.is_empty() {
            return Err("the Idempotency-Key header is empty: send a unique key (a UUID, say) or leave it out".into());
        }
        if raw.len() > MAX_LEN {
            return Err(format!("the Idempotency-Key header is {} bytes long; the limit is {MAX_LEN}", raw.len()));
        }
        if !raw.iter().all(|byte| (0x21..=0x7e).contains(byte)) {
            return Err(
                "the Idempotency-Key header must be visible ASCII characters (no spaces or control characters): use a UUID, for example"
                    .into(),
            );
        }
        Ok(ClientKey(String::from_utf8_lossy(raw).into_owned()))
    }

    /// The key of a request, if it has one; an error when it has an invalid one or several.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<ClientKey>, ApiError> {
        let mut values = headers.get_all(HEADER).iter();
        let Some(first) = values.next() else { return Ok(None) };
        if values.next().is_some() {
            return Err(ApiError::BadRequest {
                code: "invalid_idempotency_key",
                message: "the request has more than one Idempotency-Key header: send one".into(),
            });
        }
        ClientKey::parse(first.as_bytes())
            .map(Some)
            .map_err(|message| ApiError::BadRequest { code: "invalid_idempotency_key", message })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A digest of what a request asks for: its route and its parsed body, each part framed by
/// its length so that no two different requests share a digest.
pub fn fingerprint(route: &str, parts: &[&str]) -> Vec<u8> {
    let mut hash = Sha256::new();
    for part in std::iter::once(route).chain(parts.iter().copied()) {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize().to_vec()
}

/// Whether a key was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remembered {
    /// First use: recorded (and committed with the caller's transaction).
    New,
    /// Used before, with the same request: the caller answers with what the first one did.
    Repeated,
}

/// Checks, without recording anything, that `key` was not used for `scope` with a different
/// request (before a remote call that the reuse would otherwise reach).
pub async fn check(
    conn: &mut PgConnection,
    scope: &str,
    key: &ClientKey,
    route: &str,
    fingerprint: &[u8],
) -> Result<(), ApiError> {
    let earlier = sqlx::query!(
        "SELECT route, fingerprint FROM idempotency_keys WHERE scope = $1 AND key = $2",
        scope,
        key.as_str()
    )
    .fetch_optional(conn)
    .await?;
    match earlier {
        Some(earlier) if earlier.route != route || earlier.fingerprint != fingerprint => {
            Err(reused(key, &earlier.route))
        }
        _ => Ok(()),
    }
}

/// The answer to a key used before with a different request.
pub fn reused(key: &ClientKey, earlier_route: &str) -> ApiError {
    ApiError::Unprocessable {
        code: "idempotency_key_reused",
        message: format!(
            "the Idempotency-Key `{}` was already used with a different request ({earlier_route}): use a new key for a new request",
            key.as_str()
        ),
    }
}

/// Records `key` for `scope` in the caller's transaction, or checks that its earlier use was
/// the same request. A different request under the same key is 422 `idempotency_key_reused`.
pub async fn remember(
    conn: &mut PgConnection,
    scope: &str,
    key: &ClientKey,
    route: &str,
    fingerprint: &[u8],
    now: DateTime<Utc>,
) -> Result<Remembered, ApiError> {
    let inserted = sqlx::query!(
        "INSERT INTO idempotency_keys (scope, key, route, fingerprint, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (scope, key) DO NOTHING",
        scope,
        key.as_str(),
        route,
        fingerprint,
        now
    )
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Remembered::New);
    }
    let earlier = sqlx::query!(
        "SELECT route, fingerprint FROM idempotency_keys WHERE scope = $1 AND key = $2",
        scope,
        key.as_str()
    )
    .fetch_one(&mut *conn)
    .await?;
    if earlier.route == route && earlier.fingerprint == fingerprint {
        Ok(Remembered::Repeated)
    } else {
        Err(reused(key, &earlier.route))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn a_key_is_1_to_255_visible_ascii_characters() {
        assert!(ClientKey::parse(b"3f1c9a4e-7d2b-4c55-9e0a-1b2c3d4e5f60").is_ok());
        assert!(ClientKey::parse(&[b'k'; 255]).is_ok());
        for bad in [&b""[..], &[b'k'; 256], b"with space", b"tab\there", "caf\u{e9}".as_bytes(), b"nul\0"] {
            assert!(ClientKey::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn two_keys_on_one_request_are_refused() {
        let mut headers = HeaderMap::new();
        headers.append(HEADER, HeaderValue::from_static("a"));
        assert!(ClientKey::from_headers(&headers).unwrap().is_some());
        headers.append(HEADER, HeaderValue::from_static("b"));
        assert!(ClientKey::from_headers(&headers).is_err());
    }

    #[test]
    fn fingerprints_tell_requests_apart_even_when_their_text_runs_together() {
        assert_eq!(fingerprint("POST /x", &["ab", "c"]), fingerprint("POST /x", &["ab", "c"]));
        assert_ne!(fingerprint("POST /x", &["ab", "c"]), fingerprint("POST /x", &["a", "bc"]));
        assert_ne!(fingerprint("POST /x", &["a"]), fingerprint("POST /y", &["a"]));
    }
}
