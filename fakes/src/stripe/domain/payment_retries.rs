//! Failed subscription payments tried again (Stripe's dunning): a renewal whose payment fails
//! leaves its invoice `open` with `next_payment_attempt` set from the account's schedule
//! ([`InvoiceRetries`](crate::stripe::invoice_retries::InvoiceRetries)) and the subscription
//! `past_due`. When a test clock reaches that moment, the invoice is charged again with the payment
//! method Stripe would use *now* (the subscription's `default_payment_method`, else the
//! customer's `invoice_settings.default_payment_method`), so a card fixed in the meantime pays:
//!
//! - paid: `invoice.paid`, `invoice.payment_succeeded`, and the subscription `active` again
//!   (`customer.subscription.updated`);
//! - declined with tries left: `invoice.payment_failed` with `attempt_count` one higher and the
//!   next `next_payment_attempt`;
//! - declined on the last try: `invoice.payment_failed` with `next_payment_attempt: null`, then
//!   the subscription becomes what the settings say — `unpaid` (`customer.subscription.updated`),
//!   `canceled` (`customer.subscription.deleted`, reason `payment_failed`), or stays `past_due`.
//!
//! Only invoices of `past_due` subscriptions are retried: a canceled subscription's open invoice is
//! not collected any more, and an `unpaid` one's has no attempt left. Paying an invoice by hand
//! (`POST /v1/invoices/{id}/pay`) reactivates the subscription the same way, `unpaid` included.

use serde_json::{Value, json};

use super::invoicing::{Attempt, invoice_payment_method, pay};
use super::subscription_cycle::cancel_now;
use crate::stripe::context::{Ctx, previous_attributes};
use crate::stripe::invoice_retries::AfterFinalRetry;
use crate::stripe::kinds::Kind;
use crate::stripe::store::Store;

/// Statuses a paid invoice brings back to `active`.
const REACTIVATED: [&str; 3] = ["past_due", "unpaid", "incomplete"];

/// The open invoice on clock `clock` whose retry comes first, if it comes by `to`: `(when, id)`.
pub fn next_retry(store: &Store, clock: &str, to: i64) -> Option<(i64, String)> {
    store
        .ids(Kind::Subscription, Some(("test_clock", clock)))
        .iter()
        .filter(|id| store.get(id).is_some_and(|s| s["status"] == "past_due"))
        .flat_map(|subscription| store.ids(Kind::Invoice, Some(("subscription", subscription))))
        .filter_map(|id| store.get(&id))
        .filter(|invoice| invoice["status"] == "open")
        .filter_map(|invoice| Some((invoice["next_payment_attempt"].as_i64()?, invoice["id"].as_str()?.to_string())))
        .filter(|(when, _)| *when <= to)
        .min()
}

/// Tries an open invoice again at `at`, with the payment method its customer has now, and moves
/// its subscription on as the outcome says (see the module's doc).
pub fn retry(ctx: &mut Ctx<'_>, invoice_id: &str, at: i64) {
    let Some(mut invoice) = ctx.store.get(invoice_id) else { return };
    if invoice["status"] != "open" {
        return;
    }
    let payment_method = invoice_payment_method(ctx.store, &invoice);
    let outcome = pay(ctx, &mut invoice, payment_method, Attempt::Scheduled, at);
    if outcome.paid {
        reactivate(ctx, &invoice, at);
    } else if invoice["next_payment_attempt"].is_null() {
        after_final_retry(ctx, &invoice, at);
    }
}

/// A paid invoice makes its `past_due`, `unpaid` or `incomplete` subscription `active` again.
pub fn reactivate(ctx: &mut Ctx<'_>, invoice: &Value, at: i64) {
    let Some(id) = invoice["parent"]["subscription_details"]["subscription"].as_str() else { return };
    let Some(before) = ctx.store.get(id) else { return };
    if !before["status"].as_str().is_some_and(|status| REACTIVATED.contains(&status)) {
        return;
    }
    let mut after = before.clone();
    after["status"] = json!("active");
    let text = ctx.store.replace(&after).unwrap_or_default();
    ctx.emit_text("customer.subscription.updated", text, previous_attributes(&before, &after), at);
}

/// The last try of a `past_due` subscription's invoice failed: the subscription becomes what the
/// account's settings say.
pub fn after_final_retry(ctx: &mut Ctx<'_>, invoice: &Value, at: i64) {
    let Some(id) = invoice["parent"]["subscription_details"]["subscription"].as_str() else { return };
    let Some(before) = ctx.store.get(id) else { return };
    if before["status"] != "past_due" {
        return;
    }
    match ctx.store.invoice_retries.after_final_retry {
        AfterFinalRetry::PastDue => {}
        AfterFinalRetry::Unpaid => {
            let mut after = before.clone();
            after["status"] = json!("unpaid");
            let text = ctx.store.replace(&after).unwrap_or_default();
            ctx.emit_text("customer.subscription.updated", text, previous_attributes(&before, &after), at);
        }
        AfterFinalRetry::Canceled => {
            let mut ending = before;
            ending["cancellation_details"]["reason"] = json!("payment_failed");
            ctx.store.replace(&ending);
            cancel_now(ctx, id, at);
        }
    }
}
