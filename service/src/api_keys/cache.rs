//! A short-lived in-memory cache of authenticated API keys: the hot path asks PostgreSQL at
//! most once per key per TTL (`API_KEY_CACHE_TTL_MS`, at most 1 s).
//!
//! An entry maps a key's SHA-256 to the customer, the key id and the customer's billing
//! standing (what credential vending needs), so a cached request touches no database at all.
//!
//! Revocation takes effect at once on the instance that revokes: it calls
//! [`ApiKeyCache::invalidate_customer`] after its commit, and so does any change of a
//! customer's billing state. Other instances see it when their entry expires, within the TTL.
//! An invalidation also bumps an epoch: a lookup that read the database before the
//! invalidation does not put its (possibly stale) answer into the cache afterwards.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::CustomerId;

/// Most keys remembered; beyond it expired entries are dropped, then everything (the cache
/// refills from the database within a TTL).
const MAX_ENTRIES: usize = 50_000;

/// Whether a customer can pay for use right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillingStanding {
    pub has_credits: bool,
    pub has_payment_method: bool,
}

impl BillingStanding {
    /// Credits to spend or a card to charge: anything else is refused with 402.
    pub fn can_pay(self) -> bool {
        self.has_credits || self.has_payment_method
    }
}

/// An active API key, as authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthenticatedKey {
    pub customer: CustomerId,
    pub key_id: Uuid,
    /// As of the lookup; at most one TTL old.
    pub standing: BillingStanding,
}

pub type KeyHash = [u8; 32];

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: AuthenticatedKey,
    cached_at: Instant,
}

#[derive(Default)]
struct Entries {
    by_hash: HashMap<KeyHash, Entry>,
    epoch: u64,
}

pub struct ApiKeyCache {
    ttl: Duration,
    entries: RwLock<Entries>,
}

impl ApiKeyCache {
    /// A TTL of zero turns the cache off.
    pub fn new(ttl: Duration) -> ApiKeyCache {
        ApiKeyCache { ttl, entries: RwLock::new(Entries::default()) }
    }

    /// The active key with this hash: from memory when fresh, else from the database.
    pub async fn authenticate(&self, pool: &PgPool, hash: &KeyHash) -> Result<Option<AuthenticatedKey>, sqlx::Error> {
        if let Some(key) = self.get(hash, Instant::now()) {
            return Ok(Some(key));
        }
        let epoch = self.epoch();
        let key = load_active_key(pool, hash).await?;
        if let Some(key) = key {
            self.insert(*hash, key, epoch, Instant::now());
        }
        Ok(key)
    }

    /// Forgets every key of `customer` on this instance: call it after committing a revocation
    /// or a change of the customer's billing state.
    pub fn invalidate_customer(&self, customer: CustomerId) {
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.epoch += 1;
        entries.by_hash.retain(|_, entry| entry.key.customer != customer);
    }

    fn get(&self, hash: &KeyHash, now: Instant) -> Option<AuthenticatedKey> {
        let entries = self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = entries.by_hash.get(hash)?;
        (now.saturating_duration_since(entry.cached_at) < self.ttl).then_some(entry.key)
    }

    fn epoch(&self) -> u64 {
        self.entries.read().unwrap_or_else(|poisoned| poisoned.into_inner()).epoch
    }

    /// Remembers `key`, unless an invalidation happened since `epoch_before_lookup`.
    fn insert(&self, hash: KeyHash, key: AuthenticatedKey, epoch_before_lookup: u64, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.epoch != epoch_before_lookup {
            return;
        }
        if entries.by_hash.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.by_hash.retain(|_, entry| now.saturating_duration_since(entry.cached_at) < ttl);
            if entries.by_hash.len() >= MAX_ENTRIES {
                entries.by_hash.clear();
            }
        }
        entries.by_hash.insert(hash, Entry { key, cached_at: now });
    }
}

/// One query: the key (if active), its customer, and the customer's billing standing.
async fn load_active_key(pool: &PgPool, hash: &KeyHash) -> Result<Option<AuthenticatedKey>, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT k.id, k.customer_id, c.default_payment_method IS NOT NULL AS "has_payment_method!",
                  COALESCE((SELECT l.balance_after FROM ledger_entries l WHERE l.customer_id = k.customer_id
                            ORDER BY l.id DESC LIMIT 1), 0) > 0 AS "has_credits!"
           FROM api_keys k JOIN customers c ON c.id = k.customer_id
           WHERE k.key_hash = $1 AND k.revoked_at IS NULL"#,
        &hash[..]
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| AuthenticatedKey {
        customer: CustomerId(row.customer_id),
        key_id: row.id,
        standing: BillingStanding { has_credits: row.has_credits, has_payment_method: row.has_payment_method },
    }))
}

/// The customer's billing standing now, from the database (bypassing the cache).
pub async fn current_standing(pool: &PgPool, customer: CustomerId) -> Result<BillingStanding, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT c.default_payment_method IS NOT NULL AS "has_payment_method!",
                  COALESCE((SELECT l.balance_after FROM ledger_entries l WHERE l.customer_id = c.id
                            ORDER BY l.id DESC LIMIT 1), 0) > 0 AS "has_credits!"
           FROM customers c WHERE c.id = $1"#,
        customer.0
    )
    .fetch_one(pool)
    .await?;
    Ok(BillingStanding { has_credits: row.has_credits, has_payment_method: row.has_payment_method })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(customer: CustomerId) -> AuthenticatedKey {
        AuthenticatedKey {
            customer,
            key_id: Uuid::new_v4(),
            standing: BillingStanding { has_credits: true, has_payment_method: false },
        }
    }

    #[test]
    fn a_key_is_remembered_for_the_ttl_and_not_longer() {
        let cache = ApiKeyCache::new(Duration::from_millis(1_000));
        let now = Instant::now();
        let key = key_of(CustomerId(Uuid::new_v4()));
        cache.insert([1; 32], key, cache.epoch(), now);
        assert_eq!(cache.get(&[1; 32], now + Duration::from_millis(999)), Some(key));
        assert_eq!(cache.get(&[1; 32], now + Duration::from_millis(1_000)), None);
        assert_eq!(cache.get(&[2; 32], now), None);
    }

    #[test]
    fn invalidating_a_customer_forgets_all_their_keys_and_only_theirs() {
        let cache = ApiKeyCache::new(Duration::from_secs(1));
        let now = Instant::now();
        let (ada, bob) = (CustomerId(Uuid::new_v4()), CustomerId(Uuid::new_v4()));
        cache.insert([1; 32], key_of(ada), cache.epoch(), now);
        cache.insert([2; 32], key_of(ada), cache.epoch(), now);
        cache.insert([3; 32], key_of(bob), cache.epoch(), now);
        cache.invalidate_customer(ada);
        assert_eq!(cache.get(&[1; 32], now), None);
        assert_eq!(cache.get(&[2; 32], now), None);
        assert!(cache.get(&[3; 32], now).is_some());
    }

    #[test]
    fn a_lookup_that_raced_an_invalidation_is_not_cached() {
        let cache = ApiKeyCache::new(Duration::from_secs(1));
        let now = Instant::now();
        let ada = CustomerId(Uuid::new_v4());
        let epoch_before_lookup = cache.epoch();
        // The key is revoked while the lookup is reading the (then still active) row.
        cache.invalidate_customer(ada);
        cache.insert([1; 32], key_of(ada), epoch_before_lookup, now);
        assert_eq!(cache.get(&[1; 32], now), None);
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = ApiKeyCache::new(Duration::ZERO);
        let now = Instant::now();
        cache.insert([1; 32], key_of(CustomerId(Uuid::new_v4())), cache.epoch(), now);
        assert_eq!(cache.get(&[1; 32], now), None);
    }

    #[test]
    fn a_customer_with_credits_or_a_card_can_pay_and_one_with_neither_cannot() {
        let standing = |has_credits, has_payment_method| BillingStanding { has_credits, has_payment_method };
        assert!(standing(true, false).can_pay());
        assert!(standing(false, true).can_pay());
        assert!(!standing(false, false).can_pay());
    }
}
