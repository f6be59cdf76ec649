//! The dispatcher as a background task: runs [`dispatch_due`] every `OUTBOX_POLL_MS`, at once
//! when woken (a signup notifies `state.outbox_wake` after it commits, so the welcome e-mail
//! does not wait for the next poll), and back to back while full batches keep coming.
//!
//! [`Application::run_until`](crate::app::Application::run_until) starts it and stops it after
//! the server's graceful shutdown; a round in progress finishes first.

use super::dispatch::{DispatchError, dispatch_due};
use crate::background::{Background, Stop};
use crate::state::AppState;

/// The running dispatcher.
pub struct OutboxWorker(Background);

impl OutboxWorker {
    /// Starts the dispatcher, or says once that it is off (no `EMAIL_API_BASE`) and returns
    /// `None`.
    pub fn start(state: AppState) -> Option<OutboxWorker> {
        if state.email.is_none() {
            tracing::info!(
                "EMAIL_API_BASE is unset: the e-mail outbox dispatcher is off, scheduled e-mails stay queued"
            );
            return None;
        }
        Some(OutboxWorker(Background::spawn("e-mail outbox dispatcher", |stop| run(state, stop))))
    }

    /// Asks the dispatcher to stop and waits until it has.
    pub async fn stop(self) {
        self.0.stop().await;
    }
}

async fn run(state: AppState, mut stop: Stop) {
    let interval = state.config.outbox.poll_interval();
    tracing::info!(poll = ?interval, batch = state.config.outbox.batch, "e-mail outbox dispatcher started");
    loop {
        dispatch_until_idle(&state, &stop).await;
        if stop.pause_unless_woken(interval, state.outbox_wake.notified()).await {
            break;
        }
    }
    tracing::info!("e-mail outbox dispatcher stopped");
}

/// Rounds until one claims less than a full batch (nothing more is due right now).
async fn dispatch_until_idle(state: &AppState, stop: &Stop) {
    let batch = usize::try_from(state.config.outbox.batch.max(1)).unwrap_or(usize::MAX);
    while !stop.requested() {
        match dispatch_due(state).await {
            Ok(report) if report.claimed >= batch => continue,
            Ok(_) => return,
            Err(DispatchError::Disabled) => return,
            Err(err) => {
                tracing::warn!("e-mail outbox round failed, trying again at the next poll: {err}");
                return;
            }
        }
    }
}
