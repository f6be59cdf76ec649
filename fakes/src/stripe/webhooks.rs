//! Webhook delivery: a background worker POSTs every event, signed, to every enabled endpoint
//! that subscribes to its type, and retries with exponential backoff on a non-2xx answer or a
//! timeout. The API never waits for delivery, as with Stripe.
//!
//! Tests can make delivery adversarial (each event twice; pending events shuffled) and can wait
//! until nothing is in flight instead of sleeping. Every attempt is logged as a [`Delivery`].

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::seq::SliceRandom;
use serde::Serialize;
use tokio::sync::mpsc;

use super::context::{endpoint_wants, unix_now};
use super::event_log::StoredEvent;
use super::shared::Shared;
use super::signature::stripe_signature;

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
    queue: mpsc::UnboundedSender<Arc<StoredEvent>>,
    in_flight: AtomicUsize,
    deliveries: Mutex<Vec<Delivery>>,
    duplicate: AtomicBool,
    shuffle: AtomicBool,
    policy: Mutex<RetryPolicy>,
    /// Bumped by reset, so retries of events from before it stop.
    epoch: AtomicU64,
    client: reqwest::Client,
}

impl WebhookHub {
    /// A hub and the receiving end its worker reads.
    pub fn new() -> (WebhookHub, mpsc::UnboundedReceiver<Arc<StoredEvent>>) {
        let (queue, receiver) = mpsc::unbounded_channel();
        let hub = WebhookHub {
            queue,
            in_flight: AtomicUsize::new(0),
            deliveries: Mutex::new(Vec::new()),
            duplicate: AtomicBool::new(false),
            shuffle: AtomicBool::new(false),
            policy: Mutex::new(RetryPolicy::default()),
            epoch: AtomicU64::new(0),
            client: crate::tls::client(),
        };
        (hub, receiver)
    }

    /// Queues events for delivery (called after the store lock is released).
    pub fn enqueue(&self, events: Vec<Arc<StoredEvent>>) {
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

    /// Every attempt so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap_or_else(|p| p.into_inner()).clone()
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
        *self.policy.lock().unwrap_or_else(|p| p.into_inner()) = policy;
    }

    /// The retry policy in force.
    pub fn policy(&self) -> RetryPolicy {
        *self.policy.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets the delivery log and switches; retries of older events stop.
    pub fn reset(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.deliveries.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.duplicate.store(false, Ordering::SeqCst);
        self.shuffle.store(false, Ordering::SeqCst);
    }

    fn log(&self, delivery: Delivery) {
        self.deliveries.lock().unwrap_or_else(|p| p.into_inner()).push(delivery);
    }
}

/// Where one event goes.
struct Target {
    endpoint_id: String,
    url: String,
    secret: String,
}

/// The delivery worker; runs until the fake is dropped.
pub async fn run(shared: Arc<Shared>, mut queue: mpsc::UnboundedReceiver<Arc<StoredEvent>>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while let Ok(event) = queue.try_recv() {
            batch.push(event);
        }
        if shared.webhooks.shuffle() {
            batch.shuffle(&mut rand::rng());
        }
        for event in batch {
            let kind = event.kind.clone();
            let targets: Vec<Target> = {
                let store = shared.lock();
                store
                    .all("webhook_endpoint")
                    .into_iter()
                    .filter(|endpoint| endpoint_wants(endpoint, &kind))
                    .filter_map(|endpoint| {
                        let id = endpoint["id"].as_str()?.to_string();
                        Some(Target {
                            url: endpoint["url"].as_str()?.to_string(),
                            secret: store.endpoint_secrets.get(&id)?.clone(),
                            endpoint_id: id,
                        })
                    })
                    .collect()
            };
            let copies = if shared.webhooks.duplicate() { 2 } else { 1 };
            for target in targets {
                let target = Arc::new(target);
                for _ in 0..copies {
                    shared.webhooks.in_flight.fetch_add(1, Ordering::SeqCst);
                    deliver(shared.clone(), event.clone(), target.clone()).await;
                }
            }
            shared.webhooks.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// First attempt inline (keeps order when nothing fails); retries in their own task.
async fn deliver(shared: Arc<Shared>, event: Arc<StoredEvent>, target: Arc<Target>) {
    let epoch = shared.webhooks.epoch.load(Ordering::SeqCst);
    if attempt(&shared, &event, &target, 1).await {
        shared.webhooks.in_flight.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    tokio::spawn(async move {
        let policy = shared.webhooks.policy();
        let mut backoff = policy.first_backoff;
        for number in 2..=policy.max_attempts {
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
            if shared.webhooks.epoch.load(Ordering::SeqCst) != epoch {
                break;
            }
            if attempt(&shared, &event, &target, number).await {
                break;
            }
        }
        shared.webhooks.in_flight.fetch_sub(1, Ordering::SeqCst);
    });
}

async fn attempt(shared: &Shared, event: &StoredEvent, target: &Target, number: u32) -> bool {
    let payload = event.json.as_str();
    let timeout = shared.webhooks.policy().timeout;
    let signature = stripe_signature(&target.secret, unix_now(), payload);
    let result = shared
        .webhooks
        .client
        .post(&target.url)
        .timeout(timeout)
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", signature)
        .header("user-agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
        .body(payload.to_string())
        .send()
        .await;
    let (status, error) = match result {
        Ok(response) => (Some(response.status().as_u16()), None),
        Err(error) => (None, Some(if error.is_timeout() { "timeout".to_string() } else { error.to_string() })),
    };
    let delivery = Delivery {
        event_id: event.id.clone(),
        event_type: event.kind.clone(),
        endpoint_id: target.endpoint_id.clone(),
        url: target.url.clone(),
        attempt: number,
        status,
        error,
        at: Utc::now(),
    };
    let succeeded = delivery.succeeded();
    shared.webhooks.log(delivery);
    succeeded
}
