-- A signup made with an Idempotency-Key answers its retry with the first answer (issue 16).
-- That answer holds the customer's only API key, so it is kept sealed (ChaCha20-Poly1305) with
-- a key derived from the client's Idempotency-Key, which is never stored: the row is found by
-- another value derived from it (`lookup`). See service/src/onboarding/replay.rs.
CREATE TABLE signup_replays (
    lookup        bytea       PRIMARY KEY,
    -- The request's digest: a retry with the same key and another body is refused (422).
    fingerprint   bytea       NOT NULL,
    customer_id   uuid        NOT NULL REFERENCES customers (id),
    sealed_answer bytea       NOT NULL,
    created_at    timestamptz NOT NULL,
    -- Kept this long (SIGNUP_REPLAY_HOURS); ignored after, then deleted by a sweep.
    expires_at    timestamptz NOT NULL
);
CREATE INDEX signup_replays_expires_at ON signup_replays (expires_at);

-- Signup keys used to be kept here in plaintext, which would open their sealed answers; the
-- signups they named have no answer kept, so their retries behave as before (409).
DELETE FROM idempotency_keys WHERE scope = 'signup';
