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
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::CustomerId;

/// The welcome sequence: template name and days after signup.
pub const WELCOME_SEQUENCE: [(&str, i64); 5] =
    [("welcome", 0), ("getting_started", 1), ("setup_verification", 3), ("feature_discovery", 5), ("feedback", 7)];

/// Schedules the whole welcome sequence for a new customer.
pub async fn schedule_welcome_sequence(
    conn: &mut PgConnection,
    customer: CustomerId,
    signup_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for (template, days) in WELCOME_SEQUENCE {
        sqlx::query!(
            "INSERT INTO email_outbox (id, customer_id, template, send_after) VALUES ($1, $2, $3, $4)",
            Uuid::new_v4(),
            customer.0,
            template,
            signup_at + Duration::days(days)
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
