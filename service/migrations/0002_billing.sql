-- Billing: payment methods with recorded consent, one-off charges for fixes, Pro
-- subscriptions, and the Stripe events already applied.

ALTER TABLE customers ADD COLUMN default_payment_method text;

-- What the customer agreed to, and when, each time a payment method was added.
CREATE TABLE billing_consents (
    id                uuid        PRIMARY KEY,
    customer_id       uuid        NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    payment_method_id text        NOT NULL,
    consent_text      text        NOT NULL,
    given_at          timestamptz NOT NULL
);
CREATE INDEX billing_consents_customer ON billing_consents (customer_id);

-- One row per successful charge of a fix beyond the credits.
CREATE TABLE charges (
    id                       uuid        PRIMARY KEY,
    customer_id              uuid        NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    fix_id                   uuid        NOT NULL UNIQUE,
    amount_cents             bigint      NOT NULL CHECK (amount_cents > 0),
    currency                 text        NOT NULL,
    plan                     text        NOT NULL,
    stripe_payment_intent_id text        NOT NULL UNIQUE,
    created_at               timestamptz NOT NULL
);

ALTER TABLE fixes ADD COLUMN charge_id uuid REFERENCES charges (id);

CREATE TABLE subscriptions (
    id                     uuid        PRIMARY KEY,
    customer_id            uuid        NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    stripe_subscription_id text        NOT NULL UNIQUE,
    status                 text        NOT NULL,
    cancel_at_period_end   boolean     NOT NULL DEFAULT false,
    current_period_end     timestamptz,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL
);
-- At most one subscription per customer that is live (or being paid for).
CREATE UNIQUE INDEX subscriptions_one_live ON subscriptions (customer_id)
    WHERE status IN ('active', 'past_due', 'trialing', 'unpaid');

-- Every Stripe event applied, by id: stored in the same transaction as its effects, so an
-- event is applied at most once whatever the number or order of deliveries.
CREATE TABLE stripe_events (
    event_id    text        PRIMARY KEY,
    type        text        NOT NULL,
    outcome     text        NOT NULL,
    received_at timestamptz NOT NULL
);
