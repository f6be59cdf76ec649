//! The first answer of a keyed signup, kept so that a retry gets it again.
//!
//! A signup's answer carries the only copy of the customer's API key. When that answer is lost
//! (a timeout, a dropped connection), the client retries; with the same `Idempotency-Key` and
//! the same body it must get the first outcome, as Stripe answers a retried request — not a
//! 409 for its own e-mail address, which would lock the customer out for good.
//!
//! The answer holds a usable API key, so it is never stored as it is. It is sealed
//! (ChaCha20-Poly1305) with a key derived from the client's `Idempotency-Key`, which the
//! service never stores, and from the request itself:
//!
//! - `PRK = HKDF-Extract(salt = "billing signup replay v1", Idempotency-Key)`;
//! - the row is found by `lookup = HKDF-Expand(PRK, "lookup")`, which reveals nothing of the
//!   key (and is the AEAD's associated data, so a sealed answer cannot be moved to another row);
//! - the answer is sealed with `HKDF-Expand(PRK, "seal" ‖ request fingerprint)`, under a random
//!   nonce stored in front of it.
//!
//! So what is at rest (`signup_replays`) opens only for whoever holds the `Idempotency-Key`: the
//! retrying client. A copy of the database alone does not yield the key — unless the client
//! chose a guessable `Idempotency-Key`; the README asks for a random one (a UUID, 122 bits).
//! The answer is kept for `SIGNUP_REPLAY_HOURS` (Stripe keeps its keys 24 hours): after that a
//! lookup ignores it, and the [`Sweeper`] deletes it within ten minutes. A retry with the same key and another body is
//! 422 `idempotency_key_reused`, never the first answer.

use chrono::{DateTime, Utc};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, KeyType, Prk, Salt};
use ring::rand::{SecureRandom, SystemRandom};
use sqlx::{PgConnection, PgPool};

use crate::background::Background;
use crate::domain::CustomerId;
use crate::error::ApiError;
use crate::idempotency::ClientKey;
use crate::state::AppState;

const SALT: &[u8] = b"billing signup replay v1";

/// The keys a client's `Idempotency-Key` gives for one signup request.
pub struct ReplayKeys {
    lookup: [u8; 32],
    seal: LessSafeKey,
}

/// 32 bytes of HKDF output.
struct Bytes32;

impl KeyType for Bytes32 {
    fn len(&self) -> usize {
        32
    }
}

impl ReplayKeys {
    /// The keys for `client_key` and the request whose digest is `fingerprint`.
    pub fn derive(client_key: &ClientKey, fingerprint: &[u8]) -> ReplayKeys {
        let prk: Prk = Salt::new(HKDF_SHA256, SALT).extract(client_key.as_str().as_bytes());
        let mut lookup = [0u8; 32];
        // Expanding to 32 bytes (or to the AEAD's key length) is within HKDF's limit, so these
        // cannot fail.
        prk.expand(&[b"lookup"], Bytes32).and_then(|okm| okm.fill(&mut lookup)).expect("32 bytes of HKDF output");
        let seal = UnboundKey::from(prk.expand(&[b"seal", fingerprint], &CHACHA20_POLY1305).expect("an AEAD key"));
        ReplayKeys { lookup, seal: LessSafeKey::new(seal) }
    }

    /// Seals `answer`: a random nonce, then the ciphertext and its tag.
    pub fn seal(&self, answer: &[u8]) -> Result<Vec<u8>, ApiError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| ApiError::Internal("the system's random number generator failed".into()))?;
        let mut sealed = answer.to_vec();
        self.seal
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(self.lookup), &mut sealed)
            .map_err(|_| ApiError::Internal("could not seal a signup's answer".into()))?;
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&sealed);
        Ok(stored)
    }

    /// Opens what [`ReplayKeys::seal`] made with these keys; `None` for anything else.
    pub fn open(&self, stored: &[u8]) -> Option<Vec<u8>> {
        let (nonce, sealed) = stored.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let opened = self.seal.open_in_place(nonce, Aad::from(self.lookup), &mut sealed).ok()?;
        Some(opened.to_vec())
    }
}

/// What an earlier signup under the same `Idempotency-Key` left.
pub enum Earlier {
    /// None (or one older than the retention).
    Nothing,
    /// The same request: its answer, opened.
    Answer(Vec<u8>),
    /// Another request: the key is reused.
    AnotherRequest,
}

/// The earlier signup under `keys`, if one is kept and not expired.
pub async fn find(
    conn: &mut PgConnection,
    keys: &ReplayKeys,
    fingerprint: &[u8],
    now: DateTime<Utc>,
) -> Result<Earlier, ApiError> {
    let earlier = sqlx::query!(
        "SELECT fingerprint, sealed_answer FROM signup_replays WHERE lookup = $1 AND expires_at > $2",
        &keys.lookup[..],
        now
    )
    .fetch_optional(conn)
    .await?;
    let Some(earlier) = earlier else { return Ok(Earlier::Nothing) };
    if earlier.fingerprint != fingerprint {
        return Ok(Earlier::AnotherRequest);
    }
    keys.open(&earlier.sealed_answer)
        .map(Earlier::Answer)
        .ok_or_else(|| ApiError::Internal("a kept signup answer does not open with its own key".into()))
}

/// Keeps a signup's answer, sealed, in the signup's own transaction, until `expires_at`.
pub async fn remember(
    conn: &mut PgConnection,
    keys: &ReplayKeys,
    fingerprint: &[u8],
    customer: CustomerId,
    answer: &[u8],
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), ApiError> {
    let sealed = keys.seal(answer)?;
    sqlx::query!(
        "INSERT INTO signup_replays (lookup, fingerprint, customer_id, sealed_answer, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &keys.lookup[..],
        fingerprint,
        customer.0,
        sealed,
        now,
        expires_at
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes the answers kept past their time; how many.
pub async fn sweep(pool: &PgPool, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query!("DELETE FROM signup_replays WHERE expires_at <= $1", now).execute(pool).await?.rows_affected())
}

/// How often expired answers are deleted (a lookup ignores them meanwhile).
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// The running sweep of expired answers.
pub struct Sweeper(Background);

impl Sweeper {
    /// Sweeps now, then every ten minutes, until stopped.
    pub fn start(state: AppState) -> Sweeper {
        Sweeper(Background::spawn("sweep of expired signup answers", |mut stop| async move {
            loop {
                match sweep(&state.pool, state.clock.now()).await {
                    Ok(0) => {}
                    Ok(swept) => tracing::info!(swept, "expired signup answers deleted"),
                    Err(error) => tracing::warn!(%error, "could not delete expired signup answers; trying again later"),
                }
                if stop.pause(SWEEP_EVERY).await {
                    break;
                }
            }
        }))
    }

    /// Stops the sweep (a sweep in progress finishes).
    pub async fn stop(self) {
        self.0.stop().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> ClientKey {
        ClientKey::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn an_answer_opens_only_with_the_key_and_the_request_it_was_sealed_for() {
        let keys = ReplayKeys::derive(&key("3f1c9a4e-7d2b-4c55-9e0a-1b2c3d4e5f60"), b"request");
        let sealed = keys.seal(br#"{"api_key":"bk_secret"}"#).unwrap();

        assert_eq!(keys.open(&sealed).as_deref(), Some(&br#"{"api_key":"bk_secret"}"#[..]));
        assert!(!sealed.windows(9).any(|w| w == b"bk_secret"), "the key is not at rest in plaintext");
        let other_key = ReplayKeys::derive(&key("another-key"), b"request");
        assert!(other_key.open(&sealed).is_none());
        let other_request = ReplayKeys::derive(&key("3f1c9a4e-7d2b-4c55-9e0a-1b2c3d4e5f60"), b"another request");
        assert!(other_request.open(&sealed).is_none());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(keys.open(&tampered).is_none());
    }

    #[test]
    fn the_lookup_depends_on_the_key_alone_and_is_not_the_key() {
        let a = ReplayKeys::derive(&key("k1"), b"one request");
        let b = ReplayKeys::derive(&key("k1"), b"another request");
        let c = ReplayKeys::derive(&key("k2"), b"one request");
        assert_eq!(a.lookup, b.lookup, "a reused key finds the earlier request, whatever the body");
        assert_ne!(a.lookup, c.lookup);
        assert!(!a.lookup.windows(2).any(|w| w == b"k1"));
    }

    #[test]
    fn each_seal_has_its_own_nonce() {
        let keys = ReplayKeys::derive(&key("k"), b"request");
        assert_ne!(keys.seal(b"same").unwrap(), keys.seal(b"same").unwrap());
    }
}
