//! The service's background tasks (the e-mail outbox dispatcher, the charge reconciler, the
//! sweep of expired signup answers, the orphan sweep): each runs its loop on a task of its own until asked to stop, and stopping waits
//! for the round in progress to finish. [`Application::run_until`](crate::app::Application::run_until)
//! starts them and stops them after the server's graceful shutdown.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running background task.
pub struct Background {
    name: &'static str,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Background {
    /// Spawns `work` with the signal it watches to know when to stop.
    pub fn spawn<F, Fut>(name: &'static str, work: F) -> Background
    where
        F: FnOnce(Stop) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(work(Stop(stopped)));
        Background { name, stop, task }
    }

    /// Asks the task to stop and waits until it has (a round in progress finishes).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(err) = self.task.await
            && err.is_panic()
        {
            tracing::error!("the {} panicked: {err}", self.name);
        }
    }
}

/// What a background task watches to know when to stop.
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Whether a stop was asked.
    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits `interval`; says whether to stop (asked meanwhile, or the application gone).
    pub async fn pause(&mut self, interval: Duration) -> bool {
        self.pause_unless_woken(interval, std::future::pending()).await
    }

    /// Waits `interval`, or until `wake` completes; says whether to stop.
    pub async fn pause_unless_woken(&mut self, interval: Duration, wake: impl Future<Output = ()>) -> bool {
        tokio::select! {
            // A dropped sender (the application gone) stops it too.
            _ = self.0.changed() => true,
            () = wake => self.requested(),
            () = tokio::time::sleep(interval) => self.requested(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn a_task_runs_its_rounds_until_stopped_and_stopping_waits_for_it() {
        let rounds = Arc::new(AtomicU32::new(0));
        let counted = rounds.clone();
        let task = Background::spawn("test task", |mut stop| async move {
            loop {
                counted.fetch_add(1, Ordering::SeqCst);
                if stop.pause(Duration::from_millis(10)).await {
                    break;
                }
            }
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while rounds.load(Ordering::SeqCst) < 3 {
            assert!(tokio::time::Instant::now() < deadline, "no third round in 10 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        task.stop().await;
        let after_stop = rounds.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), after_stop, "no round once stop() returned");
    }

    #[tokio::test]
    async fn a_wake_ends_the_pause_early_without_stopping_and_a_dropped_sender_stops() {
        let (sender, receiver) = watch::channel(false);
        let mut stop = Stop(receiver);
        let woken =
            tokio::time::timeout(Duration::from_secs(10), stop.pause_unless_woken(Duration::from_secs(3600), async {}));
        assert!(!woken.await.expect("the wake ended the pause"), "a wake is not a stop");
        drop(sender);
        let gone = tokio::time::timeout(Duration::from_secs(10), stop.pause(Duration::from_secs(3600)));
        assert!(gone.await.expect("the dropped sender ended the pause"), "the application gone stops it");
    }
}
