//! The state one running fake owns, shared by the server's connections, the clock runner and the
//! `StripeFake` handle: the store behind its lock, the webhook hub, and switches read on every
//! request without taking the lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::store::Store;
use super::webhooks::WebhookHub;

/// Everything one running fake owns.
pub struct Shared {
    store: Mutex<Store>,
    faults_armed: AtomicBool,
    log_requests: AtomicBool,
    /// Webhook delivery: queue, log and switches.
    pub webhooks: Arc<WebhookHub>,
}

impl Shared {
    /// A fresh fake with an empty store.
    pub fn new(webhooks: Arc<WebhookHub>) -> Shared {
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

    /// Bounds what is retained (events, requests, idempotency results, delivery attempts).
    pub fn set_retention(&self, limit: Option<usize>) {
        self.lock().set_retention(limit);
        self.webhooks.set_retention(limit);
    }

    /// Forgets everything but the settings.
    pub fn reset(&self) {
        self.lock().reset();
        self.arm_faults(false);
        self.webhooks.reset();
    }
}
