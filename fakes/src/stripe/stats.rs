//! What the fake holds right now, for the control API (`GET /_fake/stats`) and
//! `StripeFake::stats`: objects per kind, and for each log (events, requests, idempotency results,
//! delivery attempts) how many entries are retained and how many a retention limit dropped.

use std::collections::BTreeMap;

use serde::Serialize;

use super::kinds::Kind;
use super::shared::Shared;

/// Entries kept and forgotten by one log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Retained {
    /// Entries held now.
    pub retained: usize,
    /// Entries dropped because of the retention limit, since the last reset.
    pub dropped: u64,
}

/// A snapshot of what one fake holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Stored objects by `object` name (`customer`, `payment_intent`, …).
    pub objects: BTreeMap<String, usize>,
    /// The event log.
    pub events: Retained,
    /// The request log.
    pub requests: Retained,
    /// Remembered idempotency results.
    pub idempotency_keys: Retained,
    /// Webhook delivery attempts.
    pub deliveries: Retained,
    /// The retention limit in force (`None`: everything is kept).
    pub retain: Option<usize>,
}

/// The fake's current counts.
pub fn stats(shared: &Shared) -> Stats {
    let (retained, dropped) = shared.webhooks.log_counts();
    let store = shared.lock();
    Stats {
        objects: Kind::ALL.iter().map(|kind| (kind.object().to_string(), store.count(*kind))).collect(),
        events: Retained { retained: store.events.retained(), dropped: store.events.dropped() },
        requests: Retained { retained: store.requests.retained(), dropped: store.requests.dropped() },
        idempotency_keys: Retained { retained: store.idempotency.retained(), dropped: store.idempotency.dropped() },
        deliveries: Retained { retained, dropped },
        retain: store.retention(),
    }
}
