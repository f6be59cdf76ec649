//! [`StripeFake`]: the handle a test holds. Starting it binds a port and spawns the server and
//! the webhook worker; every method reads or steers the same state the HTTP API serves, and
//! dropping the handle stops both tasks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::context::Ctx;
use super::error::ApiError;
use super::fault::Fault;
use super::request_log::RecordedRequest;
use super::resources::{test_clocks, webhook_endpoints};
use super::shared::Shared;
use super::webhooks::{self, Delivery, RetryPolicy, WebhookEndpointInfo, WebhookHub};
use super::{clock_runner, server};

/// A running, stateful fake of the Stripe API. Stops when dropped.
pub struct StripeFake {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

/// Why waiting on the fake gave up.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// Deliveries were still in flight when the deadline passed.
    #[error("webhook deliveries still in flight after {0:?}: {1} pending")]
    DeliveriesBusy(Duration, usize),
    /// The test clock did not become ready in time.
    #[error("test clock {0} still advancing after {1:?}")]
    ClockBusy(String, Duration),
    /// The clock could not be advanced (unknown id, time in the past, …).
    #[error("cannot advance the test clock: {0}")]
    Api(#[from] ApiError),
}

impl StripeFake {
    /// Starts on `127.0.0.1` and a free port.
    pub async fn start() -> std::io::Result<StripeFake> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts on the given address (port 0 picks a free one).
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<StripeFake> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (hub, queue) = WebhookHub::new();
        let shared = Arc::new(Shared::new(hub));
        let tasks = vec![
            tokio::spawn(server::serve(listener, shared.clone())),
            tokio::spawn(webhooks::run(shared.clone(), queue)),
        ];
        Ok(StripeFake { shared, addr, tasks })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash; clients call `{base_url}/v1/...`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Forgets every object, event, fault, idempotency key, request and delivery.
    pub fn reset(&self) {
        self.shared.lock().reset();
        self.shared.arm_faults(false);
        self.shared.webhooks.reset();
    }

    /// Makes the next matching requests fail (see [`Fault`]).
    pub fn inject_fault(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
        self.shared.arm_faults(true);
    }

    /// The faults still armed, with how many more requests each will affect (a fault's use is
    /// counted when a request matches it, before its effect — a latency — plays out).
    pub fn armed_faults(&self) -> Vec<Fault> {
        self.shared.lock().faults.clone()
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.to_vec()
    }

    /// Every event emitted, oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.shared.lock().events.iter().map(|e| e.value()).collect()
    }

    /// Every webhook delivery attempt, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.webhooks.deliveries()
    }

    /// Registers an endpoint for all events and returns its signing secret.
    pub fn add_webhook_endpoint(&self, url: &str) -> WebhookEndpointInfo {
        self.add_webhook_endpoint_with_secret(url, None)
    }

    /// Registers an endpoint for all events, signing with `secret` if given (`whsec_...`).
    pub fn add_webhook_endpoint_with_secret(&self, url: &str, secret: Option<&str>) -> WebhookEndpointInfo {
        let mut store = self.shared.lock();
        let endpoint = webhook_endpoints::insert(&mut store, url, vec!["*".to_string()], None, secret);
        WebhookEndpointInfo {
            id: endpoint["id"].as_str().unwrap_or_default().to_string(),
            secret: endpoint["secret"].as_str().unwrap_or_default().to_string(),
            url: url.to_string(),
        }
    }

    /// Delivers every event twice.
    pub fn set_duplicate_deliveries(&self, on: bool) {
        self.shared.webhooks.set_duplicate(on);
    }

    /// Delivers the events pending at a time in random order.
    pub fn set_shuffle_deliveries(&self, on: bool) {
        self.shared.webhooks.set_shuffle(on);
    }

    /// Changes delivery retries (default: 50 ms doubling, 5 attempts, 5 s timeout).
    pub fn set_retry_policy(&self, policy: RetryPolicy) {
        self.shared.webhooks.set_policy(policy);
    }

    /// Logs each request through `tracing` (off by default: it costs throughput).
    pub fn set_log_requests(&self, on: bool) {
        self.shared.set_log_requests(on);
    }

    /// Any stored object by id, as the API would return it.
    pub fn object(&self, id: &str) -> Option<Value> {
        self.shared.lock().get_owned(id)
    }

    /// Waits until no event is queued and no delivery or retry is pending.
    pub async fn wait_for_deliveries_idle(&self, deadline: Duration) -> Result<(), WaitError> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let pending = self.shared.webhooks.in_flight();
            if pending == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= until {
                return Err(WaitError::DeliveriesBusy(deadline, pending));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Advances a test clock to `to` (unix seconds), running renewals and cancellations that fall
    /// due, and returns the clock once it is `ready`.
    pub async fn advance_clock(&self, clock_id: &str, to: i64) -> Result<Value, WaitError> {
        let followup = {
            let mut store = self.shared.lock();
            let mut ctx = Ctx::background(&mut store);
            test_clocks::begin_advance(&mut ctx, clock_id, to)?;
            ctx.followups.pop()
        };
        if let Some(followup) = followup {
            clock_runner::run(&self.shared, followup);
        }
        self.object(clock_id).ok_or_else(|| WaitError::ClockBusy(clock_id.to_string(), Duration::ZERO))
    }
}

impl Drop for StripeFake {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
