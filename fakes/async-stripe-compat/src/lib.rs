//! What the async-stripe compatibility tests share: a webhook receiver on a free local port that
//! keeps every delivery as it arrived (the raw body and its `Stripe-Signature` header), so that
//! the test can check them with async-stripe's own verifier, byte for byte as a service would.
//!
//! The tests themselves are in `tests/`; this crate is a workspace of its own (see README.md).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One webhook delivery as received.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The body, exactly as sent (the signature covers these bytes).
    pub payload: String,
    /// The `Stripe-Signature` header (empty if absent).
    pub signature: String,
}

/// A webhook endpoint for the fake to deliver to. Stops when dropped.
pub struct WebhookReceiver {
    /// `http://127.0.0.1:PORT/webhooks/stripe`
    pub url: String,
    received: Arc<Mutex<Vec<Delivery>>>,
    server: JoinHandle<()>,
}

impl WebhookReceiver {
    /// Listens on `127.0.0.1` and a free port; answers every delivery 200.
    pub async fn start() -> std::io::Result<WebhookReceiver> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/webhooks/stripe", listener.local_addr()?);
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new().route("/webhooks/stripe", post(receive)).with_state(received.clone());
        let server = tokio::spawn(async move {
            // The server ends only when the receiver is dropped (the task is aborted).
            let _ = axum::serve(listener, app).await;
        });
        Ok(WebhookReceiver { url, received, server })
    }

    /// Every delivery so far, in arrival order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.received.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(State(received): State<Arc<Mutex<Vec<Delivery>>>>, headers: HeaderMap, payload: String) {
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    received.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(Delivery { payload, signature });
}
