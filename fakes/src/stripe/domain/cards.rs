//! Stripe's test payment-method tokens (`pm_card_visa`, `pm_card_chargeDeclined`, …) and how each
//! card behaves when charged or set up for later use.
//!
//! The behaviour travels with the card's `last4` (Stripe's own test numbers end in these digits),
//! and the card with the payment method's id (see [`payment_method_id`]), so charging decides an
//! outcome without reading the stored object. Attaching never fails
//! (the billing journeys attach a declining card and watch the renewal fail); a SetupIntent, which
//! exists to verify a card, fails on the declining ones, while `pm_card_chargeCustomerFail` sets up
//! fine and declines every later charge, as in Stripe test mode.

use serde_json::{Value, json};

use crate::stripe::ids::{id_tag, new_tagged_id};

/// What happens when a card is charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// The charge succeeds.
    Succeeds,
    /// The issuer declines with this `decline_code`.
    Declines(&'static str),
    /// 3-D Secure is needed; off-session charges fail with `authentication_required`.
    RequiresAuthentication,
}

/// A test card a token stands for.
#[derive(Debug, Clone, Copy)]
pub struct TestCard {
    /// The token clients send (`pm_card_visa`).
    pub token: &'static str,
    /// Card brand (`visa`, `mastercard`).
    pub brand: &'static str,
    /// Last four digits of Stripe's test number.
    pub last4: &'static str,
    /// Funding type.
    pub funding: &'static str,
}

const CARDS: &[TestCard] = &[
    TestCard { token: "pm_card_visa", brand: "visa", last4: "4242", funding: "credit" },
    TestCard { token: "pm_card_mastercard", brand: "mastercard", last4: "4444", funding: "credit" },
    TestCard { token: "pm_card_visa_debit", brand: "visa", last4: "5556", funding: "debit" },
    TestCard { token: "pm_card_amex", brand: "amex", last4: "8431", funding: "credit" },
    TestCard { token: "pm_card_chargeDeclined", brand: "visa", last4: "0002", funding: "credit" },
    TestCard { token: "pm_card_chargeDeclinedInsufficientFunds", brand: "visa", last4: "9995", funding: "credit" },
    TestCard { token: "pm_card_chargeCustomerFail", brand: "visa", last4: "0341", funding: "credit" },
    TestCard { token: "pm_card_authenticationRequired", brand: "visa", last4: "3184", funding: "credit" },
];

/// The test card for a token, if it is one the fake knows.
pub fn card_for_token(token: &str) -> Option<&'static TestCard> {
    CARDS.iter().find(|card| card.token == token)
}

/// A new payment method id for this test card. Every payment method the fake stores is made
/// from a test card and its card never changes, so the id names the card (see [`card_of`]):
/// charging, the benchmark's hot path, then needs no read of the stored object.
pub fn payment_method_id(card: &TestCard) -> String {
    let index = CARDS.iter().position(|c| c.token == card.token).unwrap_or_default();
    new_tagged_id("pm", index as u8)
}

/// The test card of a payment method made by [`payment_method_id`].
pub fn card_of(payment_method_id: &str) -> Option<&'static TestCard> {
    CARDS.get(usize::from(id_tag(payment_method_id)?))
}

fn last4(payment_method: &Value) -> &str {
    payment_method.pointer("/card/last4").and_then(Value::as_str).unwrap_or_default()
}

/// How a card with these last four digits behaves when charged.
pub fn charge_outcome(last4: &str) -> ChargeOutcome {
    match last4 {
        "0002" | "0341" => ChargeOutcome::Declines("generic_decline"),
        "9995" => ChargeOutcome::Declines("insufficient_funds"),
        "3184" => ChargeOutcome::RequiresAuthentication,
        _ => ChargeOutcome::Succeeds,
    }
}

/// How a stored payment method behaves when a SetupIntent verifies it.
pub fn setup_outcome_of(payment_method: &Value) -> ChargeOutcome {
    match last4(payment_method) {
        "0341" => ChargeOutcome::Succeeds,
        other => charge_outcome(other),
    }
}

/// The issuing country of every test card.
pub const CARD_COUNTRY: &str = "US";

/// `(exp_month, exp_year)` of every test card.
pub const CARD_EXPIRY: (i64, i64) = (12, 2034);

/// The card's fingerprint (the same for every payment method made from it, as in Stripe).
pub fn fingerprint(card: &TestCard) -> String {
    format!("fake{}{}", card.brand, card.last4)
}

/// The `card` hash of a payment method made from this test card.
pub fn card_details(card: &TestCard) -> Value {
    json!({
        "brand": card.brand,
        "checks": {"address_line1_check": null, "address_postal_code_check": null, "cvc_check": "pass"},
        "country": CARD_COUNTRY,
        "display_brand": card.brand,
        "exp_month": CARD_EXPIRY.0,
        "exp_year": CARD_EXPIRY.1,
        "fingerprint": fingerprint(card),
        "funding": card.funding,
        "generated_from": null,
        "last4": card.last4,
        "networks": {"available": [card.brand], "preferred": null},
        "three_d_secure_usage": {"supported": true},
        "wallet": null,
        "regulated_status": "unregulated",
    })
}

/// Stripe's message for a decline code.
pub fn decline_message(decline_code: &str) -> &'static str {
    match decline_code {
        "insufficient_funds" => "Your card has insufficient funds.",
        _ => "Your card was declined.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(token: &str) -> Value {
        json!({ "card": card_details(card_for_token(token).expect("known token")) })
    }

    #[test]
    fn a_declining_token_maps_to_a_declining_card() {
        assert_eq!(
            charge_outcome(last4(&method("pm_card_chargeDeclinedInsufficientFunds"))),
            ChargeOutcome::Declines("insufficient_funds")
        );
    }

    #[test]
    fn a_payment_method_id_names_its_card() {
        for card in CARDS {
            assert_eq!(card_of(&payment_method_id(card)).map(|c| c.token), Some(card.token));
        }
    }

    #[test]
    fn the_visa_token_succeeds() {
        assert_eq!(charge_outcome(last4(&method("pm_card_visa"))), ChargeOutcome::Succeeds);
    }

    #[test]
    fn the_customer_fail_card_sets_up_but_declines_charges() {
        let card = method("pm_card_chargeCustomerFail");
        assert_eq!(setup_outcome_of(&card), ChargeOutcome::Succeeds);
        assert_eq!(charge_outcome(last4(&card)), ChargeOutcome::Declines("generic_decline"));
    }
}
