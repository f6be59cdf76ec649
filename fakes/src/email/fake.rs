//! [`EmailFake`]: the handle a test holds. Starts the e-mail API on a free port; stops on drop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::api::{EmailState, router};
use super::message::SentEmail;

/// A running fake e-mail API.
pub struct EmailFake {
    state: Arc<EmailState>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

/// Why waiting for messages gave up.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// Fewer messages than expected arrived before the deadline.
    #[error("expected {wanted} e-mail(s) within {deadline:?}, got {got}: {messages:?}")]
    Timeout { wanted: usize, got: usize, deadline: Duration, messages: Vec<SentEmail> },
}

impl EmailFake {
    /// Starts on `127.0.0.1` and a free port.
    pub async fn start() -> std::io::Result<EmailFake> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts on the given address.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<EmailFake> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(EmailState::default());
        let app = router(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(EmailFake { state, addr, task })
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Messages accepted so far, oldest first.
    pub fn messages(&self) -> Vec<SentEmail> {
        self.state.lock().messages.clone()
    }

    /// Waits until at least `n` messages arrived, or fails after `deadline`.
    pub async fn wait_for_messages(&self, n: usize, deadline: Duration) -> Result<Vec<SentEmail>, EmailError> {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let arrived = self.state.arrived.notified();
            let messages = self.messages();
            if messages.len() >= n {
                return Ok(messages);
            }
            // Wake on arrival, and re-check now and then in case a notification raced the check.
            let wait = until.saturating_duration_since(tokio::time::Instant::now()).min(Duration::from_millis(50));
            if wait.is_zero() {
                return Err(EmailError::Timeout { wanted: n, got: messages.len(), deadline, messages });
            }
            let _ = tokio::time::timeout(wait, arrived).await;
        }
    }

    /// The next `n` sends fail with 503.
    pub fn inject_failures(&self, n: usize) {
        self.state.lock().failures_left = n;
    }

    /// The next `n` sends are stored at once but answered only after `delay`: a slow API that
    /// did its work, whose client may have given up meanwhile.
    pub fn inject_slow_answers(&self, n: usize, delay: Duration) {
        let mut mailbox = self.state.lock();
        mailbox.slow_left = n;
        mailbox.slow_by = delay;
    }

    /// Forgets all messages, keys, pending failures and slow answers.
    pub fn reset(&self) {
        let mut mailbox = self.state.lock();
        mailbox.messages.clear();
        mailbox.by_key.clear();
        mailbox.failures_left = 0;
        mailbox.slow_left = 0;
    }
}

impl Drop for EmailFake {
    fn drop(&mut self) {
        self.task.abort();
    }
}
