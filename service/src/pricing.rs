//! Every price and credit amount of the service, in one place: what a customer pays and gets
//! on each plan. Everything else (the charge of a fix, the Pro price in Stripe, the consent text
//! a customer agrees to, the usage summary) reads them from here.

use crate::domain::{Cents, Plan};

/// Credits granted on signup (ledger source `trial_signup`).
pub const TRIAL_CREDITS: i32 = 5;

/// Credits granted for each paid Pro invoice (ledger source `pro_invoice`).
pub const PRO_CREDITS_PER_INVOICE: i32 = 60;

/// Pro costs $599 a month.
pub const PRO_MONTHLY_PRICE: Cents = Cents(59_900);

/// Price of a fix beyond the credits on pay-as-you-go (and the rate a trial moves to once a
/// payment method is added).
pub const PAYG_FIX_PRICE: Cents = Cents(2_900);

/// Price of a fix beyond the credits on Pro.
pub const PRO_FIX_PRICE: Cents = Cents(1_500);

/// What a fix beyond the credits costs on `plan`.
pub fn fix_price(plan: Plan) -> Cents {
    match plan {
        Plan::Pro => PRO_FIX_PRICE,
        Plan::Trial | Plan::PayAsYouGo => PAYG_FIX_PRICE,
    }
}

/// The words a customer agrees to when adding a payment method, stored with each consent.
pub fn consent_text() -> String {
    format!(
        "I authorise charges to this payment method for fixes beyond my credits ({PAYG_FIX_PRICE} each on pay-as-you-go, {PRO_FIX_PRICE} on Pro) and for the Pro subscription ({PRO_MONTHLY_PRICE} a month, {PRO_CREDITS_PER_INVOICE} credits included) if I subscribe."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fix_beyond_the_credits_costs_29_dollars_or_15_on_pro() {
        assert_eq!(fix_price(Plan::Trial), Cents(2_900));
        assert_eq!(fix_price(Plan::PayAsYouGo), Cents(2_900));
        assert_eq!(fix_price(Plan::Pro), Cents(1_500));
    }

    #[test]
    fn the_consent_text_names_the_prices_it_authorises() {
        let text = consent_text();
        for price in ["$29.00", "$15.00", "$599.00", "60 credits"] {
            assert!(text.contains(price), "{text}");
        }
    }
}
