//! Webhook delivery: every event is POSTed, signed, to every enabled endpoint that subscribes to
//! its type, and retried with exponential backoff on a non-2xx answer or a timeout. The API never
//! waits for delivery, as with Stripe.
//!
//! Deliveries run concurrently, each in a task of its own (Stripe guarantees no order), with a cap
//! on the deliveries in flight per endpoint: an endpoint that hangs ties up only its own share,
//! and every other endpoint keeps receiving at once. Tests can make delivery adversarial (each
//! event twice; events shuffled) and can wait until nothing is in flight instead of sleeping.
//! Every attempt is logged as a [`Delivery`], in a ring bounded by the retention limit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::seq::SliceRandom;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};

use super::context::unix_now;
use super::event_log::StoredEvent;
use super::ring::Ring;
use super::signature::stripe_signature;
use super::webhook_routes::{EndpointRoute, Outgoing, Target};

/// Deliveries in flight at once to one endpoint.
const PER_ENDPOINT: usize = 32;

/// One delivery attempt of one event to one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    /// `evt_...`
    pub event_id: String,
    /// `invoice.paid`, …
    pub event_type: String,
    /// `we_...`
    pub endpoint_id: String,
    /// Where it was sent.
    pub url: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The endpoint's HTTP status, if it answered.
    pub status: Option<u16>,
    /// Why it failed without a status (connection refused, timeout).
    pub error: Option<String>,
    /// When the attempt finished.
    pub at: DateTime<Utc>,
}

impl Delivery {
    /// Whether the endpoint accepted the event (2xx).
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// An attempt as logged: the event and endpoint shared, not copied.
struct Attempt {
    event: Arc<StoredEvent>,
    endpoint: Arc<EndpointRoute>,
    number: u32,
    status: Option<u16>,
    error: Option<Box<str>>,
    at: DateTime<Utc>,
}

impl Attempt {
    fn to_public(&self) -> Delivery {
        Delivery {
            event_id: self.event.id.to_string(),
            event_type: self.event.kind.to_string(),
            endpoint_id: self.endpoint.id.to_string(),
            url: self.endpoint.url.to_string(),
            attempt: self.number,
            status: self.status,
            error: self.error.as_deref().map(str::to_string),
            at: self.at,
        }
    }
}

/// A registered endpoint as the Rust API returns it: the secret to verify signatures with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookEndpointInfo {
    /// `we_...`
    pub id: String,
    /// `whsec_...`
    pub secret: String,
    /// The endpoint URL.
    pub url: String,
}

/// How failed deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait before the second attempt; doubled for each later one.
    pub first_backoff: Duration,
    /// Attempts in all, including the first.
    pub max_attempts: u32,
    /// How long one attempt may take.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { first_backoff: Duration::from_millis(50), max_attempts: 5, timeout: Duration::from_secs(5) }
    }
}

/// The delivery side of one fake: queue, log and switches.
pub struct WebhookHub {
    queue: mpsc::UnboundedSender<Outgoing>,
    in_flight: AtomicUsize,
    log: Mutex<Ring<Attempt>>,
    duplicate: AtomicBool,
    shuffle: AtomicBool,
    policy: Mutex<RetryPolicy>,
    /// Bumped by reset, so retries of events from before it stop.
    epoch: AtomicU64,
    lanes: Mutex<HashMap<Arc<str>, Arc<Semaphore>>>,
    client: reqwest::Client,
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl WebhookHub {
    /// A hub and the receiving end its worker reads.
    pub fn new() -> (WebhookHub, mpsc::UnboundedReceiver<Outgoing>) {
        let (queue, receiver) = mpsc::unbounded_channel();
        let hub = WebhookHub {
            queue,
            in_flight: AtomicUsize::new(0),
            log: Mutex::new(Ring::default()),
            duplicate: AtomicBool::new(false),
            shuffle: AtomicBool::new(false),
            policy: Mutex::new(RetryPolicy::default()),
            epoch: AtomicU64::new(0),
            lanes: Mutex::new(HashMap::new()),
            client: crate::tls::client(),
        };
        (hub, receiver)
    }

    /// Queues events for delivery (called after the store lock is released).
    pub fn enqueue(&self, events: Vec<Outgoing>) {
        for event in events {
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            if self.queue.send(event).is_err() {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }

    /// Events queued or deliveries (including pending retries) not yet finished.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Every attempt retained, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        locked(&self.log).iter().map(|(_, attempt)| attempt.to_public()).collect()
    }

    /// `(retained, dropped)` attempts in the delivery log.
    pub fn log_counts(&self) -> (usize, u64) {
        let log = locked(&self.log);
        (log.retained(), log.dropped())
    }

    /// Keeps at most `limit` attempts in the log from now on.
    pub fn set_retention(&self, limit: Option<usize>) {
        locked(&self.log).set_limit(limit);
    }

    /// Deliver each event twice.
    pub fn set_duplicate(&self, on: bool) {
        self.duplicate.store(on, Ordering::SeqCst);
    }

    /// Deliver the events pending at a time in random order.
    pub fn set_shuffle(&self, on: bool) {
        self.shuffle.store(on, Ordering::SeqCst);
    }

    /// Whether each event is delivered twice.
    pub fn duplicate(&self) -> bool {
        self.duplicate.load(Ordering::SeqCst)
    }

    /// Whether pending events are shuffled.
    pub fn shuffle(&self) -> bool {
        self.shuffle.load(Ordering::SeqCst)
    }

    /// Changes how failed deliveries are retried.
    pub fn set_policy(&self, policy: RetryPolicy) {
        *locked(&self.policy) = policy;
    }

    /// The retry policy in force.
    pub fn policy(&self) -> RetryPolicy {
        *locked(&self.policy)
    }

    /// Forgets the delivery log and switches; retries of older events stop.
    pub fn reset(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let mut log = locked(&self.log);
        let limit = log.limit();
        *log = Ring::default();
        log.set_limit(limit);
        self.duplicate.store(false, Ordering::SeqCst);
        self.shuffle.store(false, Ordering::SeqCst);
    }

    /// The concurrency cap of one endpoint.
    fn lane(&self, endpoint: &Arc<str>) -> Arc<Semaphore> {
        locked(&self.lanes).entry(endpoint.clone()).or_insert_with(|| Arc::new(Semaphore::new(PER_ENDPOINT))).clone()
    }
}

/// The delivery worker: hands each delivery to a task of its own; runs until the fake is dropped.
pub async fn run(hub: Arc<WebhookHub>, mut queue: mpsc::UnboundedReceiver<Outgoing>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while let Ok(event) = queue.try_recv() {
            batch.push(event);
        }
        if hub.shuffle() {
            batch.shuffle(&mut rand::rng());
        }
        let copies = if hub.duplicate() { 2 } else { 1 };
        for outgoing in batch {
            for target in &outgoing.targets {
                for _ in 0..copies {
                    hub.in_flight.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(deliver(hub.clone(), outgoing.event.clone(), target.clone()));
                }
            }
            hub.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Delivers one event to one endpoint, retrying with backoff, holding a place in the endpoint's
/// lane only while an attempt is on the wire.
async fn deliver(hub: Arc<WebhookHub>, event: Arc<StoredEvent>, target: Target) {
    let epoch = hub.epoch.load(Ordering::SeqCst);
    let endpoint = target.endpoint.clone();
    let payload: Arc<str> = match target.rendered {
        Some(rendered) => rendered,
        // Only versions that need no reshaping get here, so no price lookup is needed.
        None => event.json_in(endpoint.api_version.as_ref().unwrap_or(&event.api_version), &|_| None).into(),
    };
    let lane = hub.lane(&endpoint.id);
    let policy = hub.policy();
    let mut backoff = policy.first_backoff;
    for number in 1..=policy.max_attempts.max(1) {
        if number > 1 {
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
        if hub.epoch.load(Ordering::SeqCst) != epoch {
            break;
        }
        let Ok(_permit) = lane.acquire().await else { break };
        if attempt(&hub, &event, &endpoint, &payload, number).await {
            break;
        }
    }
    hub.in_flight.fetch_sub(1, Ordering::SeqCst);
}

async fn attempt(
    hub: &WebhookHub,
    event: &Arc<StoredEvent>,
    endpoint: &Arc<EndpointRoute>,
    payload: &Arc<str>,
    number: u32,
) -> bool {
    let signature = stripe_signature(payload.as_bytes(), &endpoint.secret, unix_now());
    let result = hub
        .client
        .post(&*endpoint.url)
        .timeout(hub.policy().timeout)
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", signature)
        .header("user-agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
        .body(payload.to_string())
        .send()
        .await;
    let (status, error) = match result {
        Ok(response) => (Some(response.status().as_u16()), None),
        Err(error) => (None, Some(if error.is_timeout() { "timeout".into() } else { error.to_string().into() })),
    };
    let succeeded = status.is_some_and(|s| (200..300).contains(&s));
    locked(&hub.log).push(Attempt {
        event: event.clone(),
        endpoint: endpoint.clone(),
        number,
        status,
        error,
        at: Utc::now(),
    });
    succeeded
}
