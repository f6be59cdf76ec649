//! One dispatch round: claim the due e-mails, send them, record what happened.
//!
//! Exactly once with any number of service instances, and no transaction held across the
//! e-mail API call: the round claims up to `OUTBOX_BATCH` due rows by pushing their
//! `next_attempt_at` past a lease (one statement, `FOR UPDATE SKIP LOCKED`, so two dispatchers
//! never claim the same row), sends them side by side, then records each outcome in a short
//! transaction. If the process dies between a send and its record, the lease runs out, the row
//! is claimed again and sent again with the same idempotency key (the row's id), which the
//! e-mail API delivers once.
//!
//! A failed send is tried again after a backoff ([`RetryPolicy`]); after the last attempt the
//! row gets `failed_at` and is never tried again. "Now" is `state.clock`, so tests move time.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::retry::{AfterFailure, RetryPolicy};
use super::templates::{Template, UnknownTemplate};
use crate::email::{EmailClient, EmailError, OutgoingEmail};
use crate::state::AppState;

/// Why a round could not run. A failed send is not one of these: it is recorded on its row.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("the e-mail outbox dispatcher is off: set EMAIL_API_BASE to send e-mails")]
    Disabled,
    #[error("the e-mail outbox could not be read or updated: {0}")]
    Database(#[from] sqlx::Error),
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Due rows this round claimed.
    pub claimed: usize,
    /// Sent and recorded.
    pub sent: usize,
    /// Failed, to be tried again later.
    pub retrying: usize,
    /// Failed for the last time: marked failed.
    pub gave_up: usize,
}

/// A due row, with what it takes to render and address it.
#[derive(Debug)]
struct DueEmail {
    id: Uuid,
    template: String,
    attempts: i32,
    email: String,
    name: String,
}

/// Why one message was not sent.
#[derive(Debug, thiserror::Error)]
enum SendFailure {
    #[error(transparent)]
    Api(#[from] EmailError),
    /// Retrying cannot help: give up at once.
    #[error(transparent)]
    Template(#[from] UnknownTemplate),
}

/// How much longer than one send's timeout a claim lasts.
const CLAIM_MARGIN: std::time::Duration = std::time::Duration::from_secs(30);

/// Sends every e-mail due now (one batch) and records the outcome of each.
pub async fn dispatch_due(state: &AppState) -> Result<DispatchReport, DispatchError> {
    let client = state.email.as_ref().ok_or(DispatchError::Disabled)?;
    let policy = RetryPolicy::from_config(&state.config.outbox);
    let batch = i64::from(state.config.outbox.batch.max(1));

    let now = state.clock.now();
    let lease =
        chrono::Duration::from_std(state.config.email.timeout() + CLAIM_MARGIN).unwrap_or(chrono::Duration::hours(1));
    let due = sqlx::query_as!(
        DueEmail,
        "UPDATE email_outbox o SET next_attempt_at = $3
         FROM customers c
         WHERE c.id = o.customer_id AND o.id IN (
             SELECT id FROM email_outbox
             WHERE sent_at IS NULL AND failed_at IS NULL
               AND send_after <= $1 AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
             ORDER BY send_after
             LIMIT $2
             FOR UPDATE SKIP LOCKED)
         RETURNING o.id, o.template, o.attempts, c.email, c.name",
        now,
        batch,
        now + lease
    )
    .fetch_all(&state.pool)
    .await?;
    if due.is_empty() {
        return Ok(DispatchReport::default());
    }

    // Sent side by side: the round takes as long as the slowest send, not the sum.
    let outcomes = futures_util::future::join_all(due.iter().map(|row| send(client, row))).await;

    let mut tx = state.pool.begin().await?;
    let mut report = DispatchReport { claimed: due.len(), ..DispatchReport::default() };
    let mut sent = Vec::new();
    let mut sent_templates = Vec::new();
    let now = state.clock.now();
    for (row, outcome) in due.iter().zip(outcomes) {
        match outcome {
            Ok(message_id) => {
                sent.push(row.id);
                tracing::info!(outbox_id = %row.id, template = %row.template, message_id, "e-mail sent");
                report.sent += 1;
                sent_templates.push(row.template.as_str());
            }
            Err(failure) => {
                state.metrics.email_send_failure(&row.template);
                let decision = match failure {
                    SendFailure::Template(_) => AfterFailure::GiveUp,
                    SendFailure::Api(_) => policy.after_failure(attempts_after(row)),
                };
                record_failure(&mut tx, row, &failure, decision, now).await?;
                match decision {
                    AfterFailure::RetryIn(delay) => {
                        report.retrying += 1;
                        tracing::warn!(outbox_id = %row.id, template = %row.template, attempts = attempts_after(row),
                            retry_in = ?delay, error = %failure, "e-mail not sent; will retry");
                    }
                    AfterFailure::GiveUp => {
                        report.gave_up += 1;
                        tracing::error!(outbox_id = %row.id, template = %row.template, attempts = attempts_after(row),
                            error = %failure, "e-mail not sent; giving up, the message is marked failed");
                    }
                }
            }
        }
    }
    record_sent(&mut tx, &sent, now).await?;
    tx.commit().await?;
    // Counted after the commit, so the counter matches the rows marked sent.
    for template in sent_templates {
        state.metrics.email_sent(template);
    }
    Ok(report)
}

async fn send(client: &EmailClient, row: &DueEmail) -> Result<String, SendFailure> {
    let rendered = Template::parse(&row.template)?.render(&row.name);
    let email = OutgoingEmail {
        to: row.email.clone(),
        template: row.template.clone(),
        subject: rendered.subject,
        body: rendered.body,
        idempotency_key: row.id.to_string(),
    };
    Ok(client.send(&email).await?)
}

fn attempts_after(row: &DueEmail) -> u32 {
    u32::try_from(row.attempts).unwrap_or(0).saturating_add(1)
}

/// Marks the rows sent, in one statement for the whole round.
async fn record_sent(conn: &mut PgConnection, sent: &[Uuid], now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    if sent.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "UPDATE email_outbox SET sent_at = $2, attempts = attempts + 1, next_attempt_at = NULL WHERE id = ANY($1)",
        sent,
        now
    )
    .execute(conn)
    .await?;
    Ok(())
}

async fn record_failure(
    conn: &mut PgConnection,
    row: &DueEmail,
    failure: &SendFailure,
    decision: AfterFailure,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let (next_attempt_at, failed_at) = match decision {
        // The policy caps delays at an hour, so the conversion cannot fail in practice.
        AfterFailure::RetryIn(delay) => {
            (Some(now + chrono::Duration::from_std(delay).unwrap_or_else(|_| chrono::Duration::hours(1))), None)
        }
        AfterFailure::GiveUp => (None, Some(now)),
    };
    sqlx::query!(
        "UPDATE email_outbox
         SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3, failed_at = $4
         WHERE id = $1",
        row.id,
        failure.to_string(),
        next_attempt_at,
        failed_at
    )
    .execute(conn)
    .await?;
    Ok(())
}
