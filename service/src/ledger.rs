//! The credit ledger: append-only, one row per change, balance never negative.
//!
//! The balance is the `balance_after` of a customer's newest entry. Appending locks the
//! customer's row (`SELECT … FOR UPDATE`) for the rest of the transaction, so concurrent
//! requests for one customer queue up and each sees the balance the previous one left; the
//! schema's `CHECK (balance_after >= 0)` and an append-only trigger back this up.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use crate::domain::CustomerId;

/// Why credits moved, stored as text in `ledger_entries.source` (an unknown value is a
/// decoding error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum CreditSource {
    /// The 5 free credits on signup.
    TrialSignup,
    /// One credit consumed by a fix.
    Fix,
    /// Credits granted for a paid Pro invoice.
    ProInvoice,
}

impl CreditSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CreditSource::TrialSignup => "trial_signup",
            CreditSource::Fix => "fix",
            CreditSource::ProInvoice => "pro_invoice",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("not enough credits: the balance is {balance}, the change is {delta}")]
    InsufficientCredits { balance: i32, delta: i32 },
    #[error("a balance change of {delta} on {balance} overflows")]
    Overflow { balance: i32, delta: i32 },
}

/// The balance after applying `delta`: never negative, never overflowing.
pub fn next_balance(balance: i32, delta: i32) -> Result<i32, LedgerError> {
    let next = balance.checked_add(delta).ok_or(LedgerError::Overflow { balance, delta })?;
    if next < 0 {
        return Err(LedgerError::InsufficientCredits { balance, delta });
    }
    Ok(next)
}

/// One ledger row, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LedgerEntry {
    pub id: i64,
    pub delta: i32,
    pub balance_after: i32,
    pub source: CreditSource,
    pub reference: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Locks the customer's row until the transaction ends: the way every balance change for one
/// customer is serialized.
pub async fn lock_customer(conn: &mut PgConnection, customer: CustomerId) -> Result<(), sqlx::Error> {
    sqlx::query!("SELECT 1 AS locked FROM customers WHERE id = $1 FOR UPDATE", customer.0).fetch_optional(conn).await?;
    Ok(())
}

pub async fn balance(conn: &mut PgConnection, customer: CustomerId) -> Result<i32, sqlx::Error> {
    let balance = sqlx::query_scalar!(
        "SELECT balance_after FROM ledger_entries WHERE customer_id = $1 ORDER BY id DESC LIMIT 1",
        customer.0
    )
    .fetch_optional(conn)
    .await?;
    Ok(balance.unwrap_or(0))
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Appends one entry inside the caller's transaction (locking the customer first).
pub async fn append(
    conn: &mut PgConnection,
    customer: CustomerId,
    delta: i32,
    source: CreditSource,
    reference: Option<&str>,
    now: DateTime<Utc>,
) -> Result<LedgerEntry, AppendError> {
    lock_customer(conn, customer).await?;
    let current = balance(conn, customer).await?;
    let balance_after = next_balance(current, delta)?;
    let entry = sqlx::query_as!(
        LedgerEntry,
        r#"INSERT INTO ledger_entries (customer_id, delta, balance_after, source, reference, created_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           RETURNING id, delta, balance_after, source AS "source: CreditSource", reference, created_at"#,
        customer.0,
        delta,
        balance_after,
        source as _,
        reference,
        now
    )
    .fetch_one(conn)
    .await?;
    Ok(entry)
}

/// A page of a customer's entries, newest first, older than `before_id` when given.
pub async fn entries(
    conn: &mut PgConnection,
    customer: CustomerId,
    limit: i64,
    before_id: Option<i64>,
) -> Result<Vec<LedgerEntry>, sqlx::Error> {
    sqlx::query_as!(
        LedgerEntry,
        r#"SELECT id, delta, balance_after, source AS "source: CreditSource", reference, created_at FROM ledger_entries
           WHERE customer_id = $1 AND ($2::bigint IS NULL OR id < $2)
           ORDER BY id DESC LIMIT $3"#,
        customer.0,
        before_id,
        limit
    )
    .fetch_all(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_balance_moves_by_the_delta() {
        assert_eq!(next_balance(5, -1), Ok(4));
        assert_eq!(next_balance(0, 60), Ok(60));
        assert_eq!(next_balance(1, -1), Ok(0));
    }

    #[test]
    fn a_balance_never_goes_negative() {
        assert_eq!(next_balance(0, -1), Err(LedgerError::InsufficientCredits { balance: 0, delta: -1 }));
        assert_eq!(next_balance(3, -4), Err(LedgerError::InsufficientCredits { balance: 3, delta: -4 }));
    }

    #[test]
    fn a_balance_never_overflows() {
        assert_eq!(next_balance(i32::MAX, 1), Err(LedgerError::Overflow { balance: i32::MAX, delta: 1 }));
    }
}
