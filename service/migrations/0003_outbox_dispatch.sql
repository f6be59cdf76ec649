-- Dispatch of the e-mail outbox: when a failed send may be tried again, and when the
-- dispatcher gave up on a message.

-- NULL means "at send_after"; set after a failed attempt, with exponential backoff.
ALTER TABLE email_outbox ADD COLUMN next_attempt_at timestamptz;
-- Set once the last allowed attempt failed; such a message is never tried again.
ALTER TABLE email_outbox ADD COLUMN failed_at timestamptz;

-- What the dispatcher scans for: messages neither sent nor given up on.
DROP INDEX email_outbox_due;
CREATE INDEX email_outbox_pending ON email_outbox (send_after) WHERE sent_at IS NULL AND failed_at IS NULL;
