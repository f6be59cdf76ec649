//! Runs a test clock's advance in the background: the API answers `advance` at once with
//! `status: "advancing"` and this runs right after in a task, as Stripe's clocks finish in the
//! background; the Rust helper (`StripeFake::advance_clock`) runs it inline instead.

use std::sync::Arc;

use super::context::{Ctx, Followup};
use super::domain::clocks;
use super::shared::Shared;

/// Starts the follow-up in a background task.
pub fn spawn(shared: Arc<Shared>, followup: Followup) {
    tokio::spawn(async move {
        // Let the `advancing` response reach the client first.
        tokio::task::yield_now().await;
        run(&shared, followup);
    });
}

/// Runs the follow-up now and queues the events it emitted.
pub fn run(shared: &Shared, followup: Followup) {
    let mut store = shared.lock();
    let mut ctx = Ctx::background(&mut store);
    match followup {
        Followup::AdvanceClock { clock_id, to } => clocks::finish_advance(&mut ctx, &clock_id, to),
    }
    // Queued before the lock is released: whoever sees the clock `ready` also sees these
    // deliveries as pending, so waiting for deliveries to go idle cannot return too early.
    let events = std::mem::take(&mut store.outbox);
    shared.webhooks.enqueue(events);
}
