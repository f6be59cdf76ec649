//! The state shared by the server task, the webhook worker and the `StripeFake` handle.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::request_log::RecordedRequest;
use super::store::Store;
use super::webhooks::WebhookHub;

/// Everything one running fake owns.
pub struct Shared {
    store: Mutex<Store>,
    faults_armed: AtomicBool,
    log_requests: AtomicBool,
    /// Webhook delivery: queue, log and switches.
    pub webhooks: WebhookHub,
}

impl Shared {
    /// A fresh fake with an empty store.
    pub fn new(webhooks: WebhookHub) -> Shared {
        Shared {
            store: Mutex::new(Store::default()),
            faults_armed: AtomicBool::new(false),
            log_requests: AtomicBool::new(false),
            webhooks,
        }
    }

    /// Locks the store. A panic elsewhere cannot poison the fake for later requests.
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether any fault was injected since the last reset (saves a lock on the hot path).
    pub fn has_faults(&self) -> bool {
        self.faults_armed.load(Ordering::Relaxed)
    }

    /// Remembers that faults are waiting.
    pub fn arm_faults(&self, armed: bool) {
        self.faults_armed.store(armed, Ordering::Relaxed);
    }

    /// Whether each request is logged through `tracing`.
    pub fn log_requests(&self) -> bool {
        self.log_requests.load(Ordering::Relaxed)
    }

    /// Turns request logging on or off.
    pub fn set_log_requests(&self, on: bool) {
        self.log_requests.store(on, Ordering::Relaxed);
    }

    /// Appends to the request log.
    pub fn record(&self, request: RecordedRequest) {
        self.lock().requests.push(request);
    }
}
