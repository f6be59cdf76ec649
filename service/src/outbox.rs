//! The e-mail outbox: messages scheduled in the same transaction as the change that causes
//! them, and sent later by a dispatcher, so an e-mail is never sent for a signup that rolled
//! back, nor lost for one that committed.
//!
//! This file schedules; [`dispatch`] sends what is due (exactly once, with retries), rendered
//! by [`templates`], and [`worker`] runs it in the background.

pub mod dispatch;
pub mod retry;
pub mod templates;
pub mod worker;

pub use dispatch::{DispatchError, DispatchReport, dispatch_due};
pub use worker::OutboxWorker;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// The welcome sequence: template name and days after signup.
pub const WELCOME_SEQUENCE: [(&str, i64); 5] =
    [("welcome", 0), ("getting_started", 1), ("setup_verification", 3), ("feature_discovery", 5), ("feedback", 7)];

/// The welcome sequence of a customer who signed up at `signup_at`, as the columns of its
/// `email_outbox` rows (inserted with the customer's other rows, in one statement: see
/// `onboarding`).
pub struct WelcomeSequence {
    pub ids: Vec<Uuid>,
    pub templates: Vec<&'static str>,
    pub send_after: Vec<DateTime<Utc>>,
}

/// The welcome sequence's rows for a signup at `signup_at`: each template, due its days later.
pub fn welcome_sequence(signup_at: DateTime<Utc>) -> WelcomeSequence {
    WelcomeSequence {
        ids: WELCOME_SEQUENCE.iter().map(|_| Uuid::new_v4()).collect(),
        templates: WELCOME_SEQUENCE.iter().map(|(template, _)| *template).collect(),
        send_after: WELCOME_SEQUENCE.iter().map(|(_, days)| signup_at + Duration::days(*days)).collect(),
    }
}
