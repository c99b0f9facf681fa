//! Events of aggregates whose domain other slices own (memories, tool invocations), made
//! up for tests of what reacts to them, and appended the way the command bus appends.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::CommandContext;
use crate::repository::{AppendFacts, EventRepository};

/// Appends one event as the command bus does (same transaction shape, same envelope
/// columns), so the relay publishes it like any other. The payload is stored tagged with
/// `event_type`, as cqrs-es stores events. Returns the event id the store gave it.
pub async fn append_foreign_event(
    pool: &PgPool,
    tenant_id: Uuid,
    (aggregate_type, aggregate_id, sequence): (&str, &str, usize),
    event_type: &str,
    data: Value,
    occurred_at: DateTime<Utc>,
) -> Uuid {
    let context = CommandContext::new(tenant_id, "test", occurred_at);
    let event = cqrs_es::persist::SerializedEvent::new(
        aggregate_id.to_owned(),
        sequence,
        aggregate_type.to_owned(),
        event_type.to_owned(),
        "1".to_owned(),
        json!({ event_type: data }),
        serde_json::to_value(context.to_metadata()).expect("metadata"),
    );
    EventRepository::new(pool.clone())
        .append(&[event], &AppendFacts::of(&context), &[])
        .await
        .expect("append a foreign event");
    sqlx::query_scalar(
        "SELECT event_id FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(i64::try_from(sequence).expect("sequence"))
    .fetch_one(pool)
    .await
    .expect("the appended event")
}

/// A new memory of `tenant_id` recorded at `at`, written by `run_id` if given; returns
/// the `MemoryRecorded` event's id.
pub async fn memory_recorded(
    pool: &PgPool,
    tenant_id: Uuid,
    run_id: Option<Uuid>,
    at: DateTime<Utc>,
) -> Uuid {
    let memory_id = Uuid::now_v7();
    let data = json!({
        "memory_id": memory_id,
        "tenant_id": tenant_id,
        "agent_id": Uuid::now_v7(),
        "kind": "fact",
        "content": {"key_id": Uuid::now_v7(), "nonce": "bm9uY2U=", "ciphertext": "c2VhbGVk"},
        "content_chars": 6,
        "tags": [],
        "importance": 0.5,
        "source": {"run_id": run_id, "step": null, "tool_call_id": null},
        "revision": 1,
        "recorded_at": at,
    });
    let memory = memory_id.to_string();
    append_foreign_event(
        pool,
        tenant_id,
        ("memory", &memory, 1),
        "MemoryRecorded",
        data,
        at,
    )
    .await
}

/// A tool invocation of `tenant_id`, requested and then succeeded at `at`; returns the
/// `InvocationSucceeded` event's id.
pub async fn tool_invocation_succeeded(pool: &PgPool, tenant_id: Uuid, at: DateTime<Utc>) -> Uuid {
    let invocation_id = Uuid::now_v7();
    let invocation = invocation_id.to_string();
    let requested = json!({
        "invocation_id": invocation_id,
        "tenant_id": tenant_id,
        "tool_id": Uuid::now_v7(),
        "tool_name": "search",
        "tool_version": 1,
        "arguments": {"query": "invoices"},
        "requested_at": at,
    });
    let aggregate = ("tool_invocation", invocation.as_str(), 1);
    append_foreign_event(
        pool,
        tenant_id,
        aggregate,
        "InvocationRequested",
        requested,
        at,
    )
    .await;
    let succeeded = json!({"output": {"hits": 3}, "duration_ms": 12, "completed_at": at});
    let aggregate = ("tool_invocation", invocation.as_str(), 2);
    append_foreign_event(
        pool,
        tenant_id,
        aggregate,
        "InvocationSucceeded",
        succeeded,
        at,
    )
    .await
}
