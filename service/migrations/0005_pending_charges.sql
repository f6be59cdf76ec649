-- Money is never lost or doubled, whatever fails: a charge is recorded as pending, with the
-- Stripe idempotency key that names its one PaymentIntent, in the same transaction that decides
-- to charge, before Stripe is called; it is settled when Stripe answers, by the reconciler, or by
-- the payment_intent.* webhooks. A fix exists before its charge does.

ALTER TABLE charges ALTER COLUMN stripe_payment_intent_id DROP NOT NULL;
ALTER TABLE charges ADD COLUMN status text NOT NULL DEFAULT 'succeeded'
    CHECK (status IN ('pending', 'succeeded', 'failed'));
ALTER TABLE charges ALTER COLUMN status DROP DEFAULT;
-- The key sent with the PaymentIntent request: one key, one intent, never reused. Rows from
-- before this migration were charged with the key of the old scheme.
ALTER TABLE charges ADD COLUMN stripe_idempotency_key text;
UPDATE charges SET stripe_idempotency_key = 'fix-charge-' || fix_id;
ALTER TABLE charges ALTER COLUMN stripe_idempotency_key SET NOT NULL;
ALTER TABLE charges ADD CONSTRAINT charges_stripe_idempotency_key_unique UNIQUE (stripe_idempotency_key);
-- What was sent, so a re-send with the same key carries the same parameters (Stripe refuses a
-- reused key with different ones).
ALTER TABLE charges ADD COLUMN stripe_customer_id text;
ALTER TABLE charges ADD COLUMN payment_method text;
-- How it ended, when it did.
ALTER TABLE charges ADD COLUMN settled_at timestamptz;
ALTER TABLE charges ADD COLUMN failure_code text;
ALTER TABLE charges ADD COLUMN failure_message text;
-- The reconciler's bookkeeping: attempts so far, and when to look at the charge next.
ALTER TABLE charges ADD COLUMN reconcile_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE charges ADD COLUMN next_reconcile_at timestamptz;
ALTER TABLE charges ADD CONSTRAINT charges_settled_when_not_pending
    CHECK ((status = 'pending') = (settled_at IS NULL));
ALTER TABLE charges ADD CONSTRAINT charges_succeeded_has_its_intent
    CHECK (status <> 'succeeded' OR stripe_payment_intent_id IS NOT NULL);

-- A fix may be charged again after a failed charge (a declined card, since replaced), but it
-- has at most one charge that is pending or succeeded.
ALTER TABLE charges DROP CONSTRAINT charges_fix_id_key;
CREATE UNIQUE INDEX charges_one_live_per_fix ON charges (fix_id) WHERE status <> 'failed';
CREATE INDEX charges_pending ON charges (next_reconcile_at) WHERE status = 'pending';
CREATE INDEX charges_customer ON charges (customer_id);

-- A fix paid with a credit is `paid` at once; one paid with a charge is `pending` until the
-- charge settles, then `paid` or `failed` (nothing taken, nothing charged).
ALTER TABLE fixes ADD COLUMN status text NOT NULL DEFAULT 'paid'
    CHECK (status IN ('pending', 'paid', 'failed'));
ALTER TABLE fixes ALTER COLUMN status DROP DEFAULT;

-- Client Idempotency-Keys already used, with a digest of the request they came with: the same
-- key with another request is refused instead of being answered with the first one's result.
-- Written in the same transaction as the request's effects.
CREATE TABLE idempotency_keys (
    -- 'signup', or the customer id for an authenticated route
    scope       text        NOT NULL,
    key         text        NOT NULL,
    route       text        NOT NULL,
    fingerprint bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
