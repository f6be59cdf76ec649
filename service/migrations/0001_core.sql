-- Core of the billing service: customers, API keys, the credit ledger, fixes and the e-mail outbox.

CREATE TABLE customers (
    id                 uuid        PRIMARY KEY,
    email              text        NOT NULL,
    name               text        NOT NULL,
    source             text        NOT NULL,
    plan               text        NOT NULL DEFAULT 'trial' CHECK (plan IN ('trial', 'payg', 'pro')),
    stripe_customer_id text        UNIQUE,
    created_at         timestamptz NOT NULL
);
-- E-mail addresses are unique whatever their case.
CREATE UNIQUE INDEX customers_email_unique ON customers (lower(email));

CREATE TABLE api_keys (
    id          uuid        PRIMARY KEY,
    customer_id uuid        NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    -- SHA-256 of the key; the key itself is never stored.
    key_hash    bytea       NOT NULL UNIQUE,
    -- The first characters of the key, safe to show ("bk_3f9a…").
    key_prefix  text        NOT NULL,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX api_keys_customer ON api_keys (customer_id);

-- Append-only: every change of a customer's credit balance is one row; the balance is the
-- `balance_after` of the newest row, and can never go negative.
CREATE TABLE ledger_entries (
    id            bigserial   PRIMARY KEY,
    customer_id   uuid        NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    delta         integer     NOT NULL CHECK (delta <> 0),
    balance_after integer     NOT NULL CHECK (balance_after >= 0),
    source        text        NOT NULL,
    reference     text,
    created_at    timestamptz NOT NULL
);
CREATE INDEX ledger_entries_customer ON ledger_entries (customer_id, id DESC);
-- A grant for one outside reference (an invoice, say) is written at most once.
CREATE UNIQUE INDEX ledger_entries_reference ON ledger_entries (customer_id, source, reference)
    WHERE reference IS NOT NULL;

CREATE FUNCTION ledger_entries_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only: % is not allowed', TG_OP;
END;
$$;
CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_are_append_only();

CREATE TABLE fixes (
    id              uuid        PRIMARY KEY,
    customer_id     uuid        NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    description     text,
    paid_with       text        NOT NULL CHECK (paid_with IN ('credit', 'charge')),
    ledger_entry_id bigint      REFERENCES ledger_entries (id),
    created_at      timestamptz NOT NULL
);
CREATE INDEX fixes_customer ON fixes (customer_id, created_at DESC);

CREATE TABLE email_outbox (
    id          uuid        PRIMARY KEY,
    customer_id uuid        NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    template    text        NOT NULL,
    send_after  timestamptz NOT NULL,
    sent_at     timestamptz,
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text,
    UNIQUE (customer_id, template)
);
CREATE INDEX email_outbox_due ON email_outbox (send_after) WHERE sent_at IS NULL;
