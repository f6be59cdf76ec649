//! The account's retry settings for failed subscription payments (Stripe's Dashboard: Billing →
//! Revenue recovery → Retries): when a failed invoice is tried again, and what its subscription
//! becomes once the last try failed. Only the settings live here, below the store that keeps
//! them; `domain::payment_retries` carries the retries out as a test clock reaches them.
//!
//! Stripe's Smart Retries choose each moment with a model of the card network, which a fake
//! cannot reproduce; the fake follows a fixed schedule instead, as Stripe's "custom retry
//! schedule" does: each retry a number of days after the attempt before it. The default,
//! 3, 5 and 7 days, is that schedule's classic setting: four attempts in all (the renewal's own
//! and three retries) over 15 days, then the subscription becomes `unpaid`, the setting that
//! keeps the subscription (and its open invoice) in place.

use serde::{Deserialize, Serialize};

const DAY: i64 = 86_400;

/// Most retries a schedule may hold (Stripe's Smart Retries go up to 8 tries).
pub const MOST_RETRIES: usize = 16;

/// Most days between two attempts (Stripe retries for at most two months).
pub const MOST_DAYS: u32 = 60;

/// What a subscription becomes when the last retry of its invoice failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterFinalRetry {
    /// `unpaid`: the subscription stays, its invoice stays open, later invoices are made but not
    /// charged; paying the latest invoice makes it `active` again.
    #[default]
    Unpaid,
    /// `canceled`, with `customer.subscription.deleted` (`cancellation_details.reason`:
    /// `payment_failed`).
    Canceled,
    /// Left `past_due`: nothing changes.
    PastDue,
}

impl AfterFinalRetry {
    /// Parses `unpaid`, `canceled` or `past_due`.
    pub fn parse(text: &str) -> Result<AfterFinalRetry, String> {
        match text {
            "unpaid" => Ok(AfterFinalRetry::Unpaid),
            "canceled" => Ok(AfterFinalRetry::Canceled),
            "past_due" => Ok(AfterFinalRetry::PastDue),
            other => {
                Err(format!("after the final retry a subscription is unpaid, canceled or past_due, not {other:?}"))
            }
        }
    }

    /// The subscription status it names.
    pub fn as_str(self) -> &'static str {
        match self {
            AfterFinalRetry::Unpaid => "unpaid",
            AfterFinalRetry::Canceled => "canceled",
            AfterFinalRetry::PastDue => "past_due",
        }
    }
}

/// When a failed subscription invoice is tried again, and what happens when no try is left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRetries {
    /// Days after the previous attempt at which each retry runs, in order; empty: no retries.
    pub days: Vec<u32>,
    /// What the subscription becomes when the last retry failed.
    pub after_final_retry: AfterFinalRetry,
}

impl Default for InvoiceRetries {
    fn default() -> Self {
        InvoiceRetries { days: vec![3, 5, 7], after_final_retry: AfterFinalRetry::Unpaid }
    }
}

impl InvoiceRetries {
    /// A schedule of `days` (each 1 to [`MOST_DAYS`], at most [`MOST_RETRIES`] of them), or what
    /// is wrong with it.
    pub fn new(days: Vec<u32>, after_final_retry: AfterFinalRetry) -> Result<InvoiceRetries, String> {
        if days.len() > MOST_RETRIES {
            return Err(format!("at most {MOST_RETRIES} retries, not {}", days.len()));
        }
        if let Some(bad) = days.iter().find(|d| !(1..=MOST_DAYS).contains(*d)) {
            return Err(format!("each retry is 1 to {MOST_DAYS} days after the attempt before it, not {bad}"));
        }
        Ok(InvoiceRetries { days, after_final_retry })
    }

    /// Parses a comma-separated list of days (`3,5,7`; empty or `none` for no retries).
    pub fn parse_days(text: &str) -> Result<Vec<u32>, String> {
        let text = text.trim();
        if text.is_empty() || text == "none" {
            return Ok(Vec::new());
        }
        text.split(',')
            .map(|day| day.trim().parse::<u32>().map_err(|_| format!("{day:?} is not a whole number of days")))
            .collect()
    }

    /// When the next attempt runs after `attempts` attempts, the last of them at `last`; `None`
    /// when that was the last one.
    pub fn next_attempt(&self, attempts: i64, last: i64) -> Option<i64> {
        let retry = usize::try_from(attempts).ok()?.checked_sub(1)?;
        self.days.get(retry).map(|days| last.saturating_add(i64::from(*days) * DAY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_tries_four_times_over_fifteen_days_then_leaves_the_subscription_unpaid() {
        let retries = InvoiceRetries::default();
        assert_eq!(retries.next_attempt(1, 0), Some(3 * DAY));
        assert_eq!(retries.next_attempt(2, 3 * DAY), Some(8 * DAY));
        assert_eq!(retries.next_attempt(3, 8 * DAY), Some(15 * DAY));
        assert_eq!(retries.next_attempt(4, 15 * DAY), None);
        assert_eq!(retries.after_final_retry, AfterFinalRetry::Unpaid);
    }

    #[test]
    fn no_attempt_yet_schedules_nothing() {
        assert_eq!(InvoiceRetries::default().next_attempt(0, 0), None);
    }

    #[test]
    fn a_schedule_is_parsed_and_bounded() {
        assert_eq!(InvoiceRetries::parse_days("1, 2,3"), Ok(vec![1, 2, 3]));
        assert_eq!(InvoiceRetries::parse_days("none"), Ok(vec![]));
        assert!(InvoiceRetries::parse_days("3,x").unwrap_err().contains("\"x\""));
        assert!(InvoiceRetries::new(vec![0], AfterFinalRetry::Unpaid).is_err());
        assert!(InvoiceRetries::new(vec![61], AfterFinalRetry::Unpaid).is_err());
        assert!(InvoiceRetries::new(vec![1; 17], AfterFinalRetry::Unpaid).is_err());
        assert!(InvoiceRetries::new(vec![], AfterFinalRetry::Canceled).is_ok());
        assert_eq!(AfterFinalRetry::parse("canceled"), Ok(AfterFinalRetry::Canceled));
        assert!(AfterFinalRetry::parse("cancelled").is_err());
    }
}
