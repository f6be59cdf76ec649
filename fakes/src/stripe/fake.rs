//! [`StripeFake`]: the handle a test holds. Starting it binds a port and spawns the server and
//! the webhook worker; every method reads or steers the same state the HTTP API serves, and
//! dropping the handle stops both tasks. [`StripeFakeBuilder`] chooses the address, the account's
//! API version and a retention limit for long runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::clock_runner;
use super::context::Ctx;
use super::domain::clocks::begin_advance;
use super::domain::webhook_endpoints::{NewEndpoint, register};
use super::error::ApiError;
use super::fault::Fault;
use super::invoice_retries::InvoiceRetries;
use super::request_log::RecordedRequest;
use super::server;
use super::shared::Shared;
use super::stats::{Stats, stats};
use super::versions::ApiVersion;
use super::webhooks::{self, Delivery, RetryPolicy, WebhookEndpointInfo, WebhookHub};

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

/// Options of a fake before it starts: `StripeFake::builder().retain(100_000).start().await`.
#[derive(Debug, Clone)]
pub struct StripeFakeBuilder {
    addr: SocketAddr,
    api_version: ApiVersion,
    strict_api_versions: bool,
    retain: Option<usize>,
    invoice_retries: InvoiceRetries,
}

impl StripeFakeBuilder {
    /// Where to listen (default `127.0.0.1:0`, a free port).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// The account's default API version (requests without `Stripe-Version`, events): any
    /// well-formed version (one the fake does not know is answered in the shapes of the nearest
    /// older release it knows); a malformed one is an error that says the form.
    pub fn api_version(mut self, name: &str) -> Result<Self, ApiError> {
        self.api_version = ApiVersion::parse(name)?;
        Ok(self)
    }

    /// Refuses `Stripe-Version`s (and webhook endpoints' `api_version`s) the fake does not know
    /// with a 400 that lists the ones it does, instead of answering them in the nearest older
    /// release's shapes. Off by default. With it, an unknown account version fails [`start`](Self::start).
    pub fn strict_api_versions(mut self, strict: bool) -> Self {
        self.strict_api_versions = strict;
        self
    }

    /// Keeps at most `n` events, requests, idempotency results and delivery attempts, dropping
    /// (and counting) the oldest: memory stays bounded in long load runs. Objects are all kept.
    pub fn retain(mut self, n: usize) -> Self {
        self.retain = Some(n);
        self
    }

    /// When failed subscription invoices are tried again and what their subscription becomes
    /// after the last try (default: 3, 5 and 7 days after the attempt before, then `unpaid`).
    pub fn invoice_retries(mut self, retries: InvoiceRetries) -> Self {
        self.invoice_retries = retries;
        self
    }

    /// Binds and starts the fake. Fails on a port that is taken, and on an account version the
    /// fake does not know when it is strict (`InvalidInput`, saying which versions it knows).
    pub async fn start(self) -> std::io::Result<StripeFake> {
        let (hub, queue) = WebhookHub::new();
        let hub = Arc::new(hub);
        let shared = Arc::new(Shared::new(hub.clone()));
        {
            let mut store = shared.lock();
            store.versions.strict = self.strict_api_versions;
            store.invoice_retries = self.invoice_retries;
            // Refused when strict; otherwise logged once with the shapes that will answer it.
            store.account_version = store
                .versions
                .resolve(self.api_version.name())
                .map_err(|refused| std::io::Error::new(std::io::ErrorKind::InvalidInput, refused.to_string()))?;
        }
        let listener = TcpListener::bind(self.addr).await?;
        let addr = listener.local_addr()?;
        shared.set_retention(self.retain);
        let tasks =
            vec![tokio::spawn(server::serve(listener, shared.clone())), tokio::spawn(webhooks::run(hub, queue))];
        Ok(StripeFake { shared, addr, tasks })
    }
}

impl StripeFake {
    /// Options before starting (address, API version and strictness, retention, invoice retries).
    pub fn builder() -> StripeFakeBuilder {
        StripeFakeBuilder {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_version: ApiVersion::LATEST,
            strict_api_versions: false,
            retain: None,
            invoice_retries: InvoiceRetries::default(),
        }
    }

    /// Starts on `127.0.0.1` and a free port.
    pub async fn start() -> std::io::Result<StripeFake> {
        Self::builder().start().await
    }

    /// Starts on the given address (port 0 picks a free one).
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<StripeFake> {
        Self::builder().addr(addr).start().await
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash; clients call `{base_url}/v1/...`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Forgets every object, event, fault, idempotency key, request and delivery (the API version,
    /// invoice retries and retention limit stay).
    pub fn reset(&self) {
        self.shared.reset();
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

    /// Every request retained, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.to_vec()
    }

    /// Every event retained, oldest first.
    pub fn events(&self) -> Vec<Value> {
        let store = self.shared.lock();
        store.events.iter().map(|(_, e)| e.value(&|id| store.price(id))).collect()
    }

    /// Every webhook delivery attempt retained, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.webhooks.deliveries()
    }

    /// Objects per kind, and what each log retains and dropped.
    pub fn stats(&self) -> Stats {
        stats(&self.shared)
    }

    /// Changes the retention limit (`None`: keep everything); lowering it drops at once.
    pub fn set_retention(&self, limit: Option<usize>) {
        self.shared.set_retention(limit);
    }

    /// Registers an endpoint for all events and returns its signing secret.
    pub fn add_webhook_endpoint(&self, url: &str) -> WebhookEndpointInfo {
        self.add_webhook_endpoint_with_secret(url, None)
    }

    /// Registers an endpoint for all events, signing with `secret` if given (`whsec_...`).
    pub fn add_webhook_endpoint_with_secret(&self, url: &str, secret: Option<&str>) -> WebhookEndpointInfo {
        let endpoint = register(
            &mut self.shared.lock(),
            NewEndpoint { url, enabled_events: vec!["*".to_string()], description: None, secret, api_version: None },
        );
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

    /// Changes when failed subscription invoices are tried again and what follows the last try;
    /// invoices already waiting keep the `next_payment_attempt` they have.
    pub fn set_invoice_retries(&self, retries: InvoiceRetries) {
        self.shared.lock().invoice_retries = retries;
    }

    /// The retry schedule in force.
    pub fn invoice_retries(&self) -> InvoiceRetries {
        self.shared.lock().invoice_retries.clone()
    }

    /// Logs each request through `tracing` (off by default: it costs throughput).
    pub fn set_log_requests(&self, on: bool) {
        self.shared.set_log_requests(on);
    }

    /// Any stored object by id, as the API returns it in the newest version.
    pub fn object(&self, id: &str) -> Option<Value> {
        self.shared.lock().get(id)
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

    /// Advances a test clock to `to` (unix seconds), running the renewals, cancellations and
    /// invoice retries that fall due, and returns the clock once it is `ready`.
    pub async fn advance_clock(&self, clock_id: &str, to: i64) -> Result<Value, WaitError> {
        let followup = {
            let mut store = self.shared.lock();
            let mut ctx = Ctx::background(&mut store);
            begin_advance(&mut ctx, clock_id, to)?;
            let followup = ctx.followups.pop();
            let events = std::mem::take(&mut store.outbox);
            self.shared.webhooks.enqueue(events);
            followup
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
