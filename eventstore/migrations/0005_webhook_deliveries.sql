-- The webhook delivery worker's operational state: one row per (subscription, event) to
-- deliver, with its attempts, and a failure streak per subscription. Not a read model:
-- it records what happened outside (HTTP attempts), so it cannot be rebuilt from events.
CREATE TABLE webhook_deliveries
(
    id              uuid PRIMARY KEY,
    subscription_id uuid        NOT NULL,
    tenant_id       uuid        NOT NULL,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    -- The event's sequence in its aggregate: deliveries of one aggregate go out in this order.
    sequence        bigint      NOT NULL,
    -- The exact body every attempt sends (CloudEvents JSON), so retries sign the same bytes.
    payload         text        NOT NULL,
    -- pending, delivered, failed (given up) or cancelled (the subscription was deleted).
    status          text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    -- Attempts since the delivery was (re)queued; it is given up after the configured number.
    round_attempts  integer     NOT NULL DEFAULT 0,
    last_status     integer,
    last_error      text,
    last_attempt_at timestamptz,
    next_attempt_at timestamptz,
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subscription_id, event_id)
);

-- The worker takes the due head of each (subscription, aggregate) queue.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_queue
    ON webhook_deliveries (subscription_id, aggregate_type, aggregate_id, sequence)
    WHERE status = 'pending';
-- The delivery log, newest first.
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (subscription_id, id);

CREATE TABLE webhook_health
(
    subscription_id      uuid PRIMARY KEY,
    consecutive_failures integer     NOT NULL DEFAULT 0,
    -- Whether the worker marked the subscription failing (and so must recover it).
    marked_failing       boolean     NOT NULL DEFAULT false,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
