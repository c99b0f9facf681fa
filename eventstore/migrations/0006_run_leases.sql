-- The lease an engine holds on a run, as extended by its heartbeats (which are not events:
-- one event per heartbeat would flood the store). A row is written in the same transaction
-- as the `RunLeaseAcquired` event and deleted with the release or expiry; heartbeats
-- compare-and-set `lease_until` on (run, generation, engine). The reaper marks an expired
-- row `reaped` before it expires the lease on the run, so a late heartbeat cannot revive it.
CREATE TABLE run_leases
(
    run_id           uuid PRIMARY KEY,
    tenant_id        uuid        NOT NULL,
    engine_id        text        NOT NULL,
    lease_generation integer     NOT NULL,
    lease_until      timestamptz NOT NULL,
    reaped           boolean     NOT NULL DEFAULT false
);

CREATE INDEX run_leases_lease_until ON run_leases (lease_until);
