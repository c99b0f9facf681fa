-- Reservations a command makes in the same transaction as its events: a tool name per
-- tenant, an API key's hash, the causing event of a usage record. The primary key makes
-- a second reservation of the same key fail the whole command.
CREATE TABLE unique_claims
(
    scope          text        NOT NULL,
    claim_key      text        NOT NULL,
    tenant_id      uuid        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   text        NOT NULL,
    claimed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, claim_key)
);

-- Data keys that encrypt content inside events. Deleting a key makes what it encrypted
-- unrecoverable (crypto-shredding) while the events themselves stay untouched.
CREATE TABLE data_keys
(
    key_id     uuid PRIMARY KEY,
    tenant_id  uuid        NOT NULL,
    material   bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Tenants and API keys are event-sourced aggregates now; these tables were written directly.
DROP TABLE api_keys;
DROP TABLE tenants;
