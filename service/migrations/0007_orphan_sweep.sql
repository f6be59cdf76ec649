-- The sweep of orphan Stripe customers (service/src/onboarding/orphans.rs).
--
-- Who this database's service is, for Stripe: a signup writes `metadata[made_by]` =
-- `billing-service:<id>` on the Stripe customer it creates, and the sweep deletes only Stripe
-- customers that carry this database's id. A database gets its own id when it is migrated, so a
-- developer's database pointed at a Stripe account it shares with staging never sweeps staging's
-- customers. A copy of the database with its rows (a restore, a template) keeps the id with them.
CREATE TABLE service_identity (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    id        uuid    NOT NULL DEFAULT gen_random_uuid()
);
INSERT INTO service_identity DEFAULT VALUES;

-- Background work that one instance at a time does per interval takes a lease here: a row per
-- kind of work, claimed by moving `held_until` forward when it has passed (no transaction is held
-- across the work itself).
CREATE TABLE background_leases (
    name       text        PRIMARY KEY,
    held_until timestamptz NOT NULL
);
