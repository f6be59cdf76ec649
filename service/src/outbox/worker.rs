//! The dispatcher as a background task: runs [`dispatch_due`] every `OUTBOX_POLL_MS`, at once
//! when woken (a signup notifies `state.outbox_wake` after it commits, so the welcome e-mail
//! does not wait for the next poll), and back to back while full batches keep coming.
//!
//! [`Application::run_until`](crate::app::Application::run_until) starts it and stops it after
//! the server's graceful shutdown; a round in progress finishes first.

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::dispatch::{DispatchError, dispatch_due};
use crate::state::AppState;

/// The running dispatcher.
pub struct OutboxWorker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

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
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(state, stopped));
        Some(OutboxWorker { stop, task })
    }

    /// Asks the dispatcher to stop and waits until it has.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(err) = self.task.await
            && err.is_panic()
        {
            tracing::error!("the e-mail outbox dispatcher panicked: {err}");
        }
    }
}

async fn run(state: AppState, mut stopped: watch::Receiver<bool>) {
    let interval = state.config.outbox.poll_interval();
    tracing::info!(poll = ?interval, batch = state.config.outbox.batch, "e-mail outbox dispatcher started");
    loop {
        dispatch_until_idle(&state, &stopped).await;
        tokio::select! {
            // A dropped sender (the application gone) stops it too.
            _ = stopped.changed() => break,
            _ = state.outbox_wake.notified() => {}
            _ = tokio::time::sleep(interval) => {}
        }
        if *stopped.borrow() {
            break;
        }
    }
    tracing::info!("e-mail outbox dispatcher stopped");
}

/// Rounds until one claims less than a full batch (nothing more is due right now).
async fn dispatch_until_idle(state: &AppState, stopped: &watch::Receiver<bool>) {
    let batch = usize::try_from(state.config.outbox.batch.max(1)).unwrap_or(usize::MAX);
    while !*stopped.borrow() {
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
