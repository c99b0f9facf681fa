-- The hash chain over every event in global commit order, extended by the relay in the
-- same transaction as its checkpoint. `chain_index` is the event's place in commit order
-- (1, 2, 3, … without gaps); `position` is not commit order, so it cannot serve.
CREATE TABLE audit_chain
(
    chain_index    bigint      PRIMARY KEY CHECK (chain_index > 0),
    event_id       uuid        NOT NULL UNIQUE,
    transaction_id xid8        NOT NULL,
    position       bigint      NOT NULL,
    -- SHA-256 over the previous hash and the event's canonical (RFC 8785) envelope.
    hash           bytea       NOT NULL CHECK (length(hash) = 32)
);

-- Ed25519 signatures over a chain head (index, event, position, hash), taken every N
-- events or T seconds and on demand, and published to the audit stream.
CREATE TABLE audit_checkpoints
(
    chain_index    bigint      PRIMARY KEY REFERENCES audit_chain (chain_index),
    event_id       uuid        NOT NULL,
    position       bigint      NOT NULL,
    hash           bytea       NOT NULL CHECK (length(hash) = 32),
    public_key     bytea       NOT NULL CHECK (length(public_key) = 32),
    signature      bytea       NOT NULL CHECK (length(signature) = 64),
    signed_at      timestamptz NOT NULL,
    published      boolean     NOT NULL DEFAULT false
);

-- Audit reads walk one tenant's events in commit order, or one request's events.
DROP INDEX events_tenant_position;
CREATE INDEX events_tenant_commit_order ON events (tenant_id, transaction_id, position);
CREATE INDEX events_tenant_correlation ON events (tenant_id, (metadata ->> 'correlation_id'));
