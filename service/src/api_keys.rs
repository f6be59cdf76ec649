//! API keys: generation and hashing (a request authenticates with [`cache::ApiKeyCache`]).
//!
//! A key is `bk_` followed by 32 random bytes in URL-safe base64 (256 bits of entropy). It is
//! shown once, when created, and stored only as its SHA-256 hash: with that much entropy a
//! fast hash is safe (nothing to brute-force), and lets every request find its key with one
//! indexed lookup. A request presents the key as `Authorization: Bearer <key>` or `x-api-key`.
//!
//! Authentication goes through [`cache::ApiKeyCache`] (a key is looked up in PostgreSQL at most
//! once a second per instance); [`management`] creates, lists and revokes keys.

pub mod cache;
pub mod management;

use base64::Engine;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use self::cache::KeyHash;

use crate::domain::CustomerId;

/// Every key starts with this, so a leaked key is recognisable (secret scanners, logs).
pub const KEY_PREFIX: &str = "bk_";
/// How many characters of a key are kept to show it later ("bk_Xy3f…").
const SHOWN_PREFIX_LEN: usize = 10;

/// A freshly generated key: the secret (shown once) and what is stored.
pub struct NewApiKey {
    pub id: Uuid,
    pub secret: String,
    pub hash: Vec<u8>,
    pub shown_prefix: String,
}

impl NewApiKey {
    pub fn generate() -> NewApiKey {
        let bytes: [u8; 32] = rand::random();
        let secret = format!("{KEY_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
        NewApiKey {
            id: Uuid::new_v4(),
            hash: hash_key(&secret),
            shown_prefix: secret[..SHOWN_PREFIX_LEN].to_string(),
            secret,
        }
    }

    /// Stores the key (its hash) for a customer.
    pub async fn insert(
        &self,
        conn: &mut PgConnection,
        customer: CustomerId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), sqlx::Error> {
        self.insert_named(conn, customer, None, now).await
    }

    /// Stores the key (its hash) for a customer, with the name the customer gave it.
    pub async fn insert_named(
        &self,
        conn: &mut PgConnection,
        customer: CustomerId,
        name: Option<&str>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query!(
            "INSERT INTO api_keys (id, customer_id, key_hash, key_prefix, name, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            self.id,
            customer.0,
            &self.hash,
            &self.shown_prefix,
            name,
            now
        )
        .execute(conn)
        .await?;
        Ok(())
    }
}

pub fn hash_key(secret: &str) -> Vec<u8> {
    key_hash(secret).to_vec()
}

/// The hash a key is stored and looked up by.
pub fn key_hash(secret: &str) -> KeyHash {
    Sha256::digest(secret.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_prefixed() {
        let a = NewApiKey::generate();
        let b = NewApiKey::generate();
        assert!(a.secret.starts_with(KEY_PREFIX));
        assert_eq!(a.secret.len(), KEY_PREFIX.len() + 43);
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(&a.shown_prefix));
    }

    #[test]
    fn the_hash_is_sha256_of_the_key_and_not_the_key() {
        let key = NewApiKey::generate();
        assert_eq!(key.hash.len(), 32);
        assert_eq!(key.hash, hash_key(&key.secret));
        assert_ne!(hash_key("bk_a"), hash_key("bk_b"));
        assert!(!key.hash.windows(8).any(|w| key.secret.as_bytes().windows(8).any(|s| s == w)));
    }
}
