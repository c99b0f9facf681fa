//! The tools and tool invocations read models: each event applies exactly once on top of
//! its aggregate's previous version, redelivery changes nothing, and a skipped version is a
//! loud gap.

use chrono::Utc;
use cqrs_es::DomainEvent;
use domain::tool::{
    HttpMethod, TOOL_AGGREGATE_TYPE, ToolDeprecated, ToolEvent, ToolKind, ToolRegistered,
    ToolVersion, ToolVersionPublished,
};
use domain::tool_invocation::{
    InvocationRequested, InvocationStarted, InvocationSucceeded, TOOL_INVOCATION_AGGREGATE_TYPE,
    ToolInvocationEvent,
};
use eventstore::CloudEvent;
use eventstore::envelope::cloud_event_type;
use eventstore::testing::TestEnv;
use projections::runner::Delivered;
use projections::tool_invocations::{
    InvocationListFilter, ToolInvocationsModel, ToolInvocationsProjection, get_invocation,
    list_invocations,
};
use projections::tools::{ToolsModel, ToolsProjection, get_tool, get_tool_version};
use projections::{Projection, ProjectionError};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::at;

/// `event` as the relay publishes it: sequence `sequence` of aggregate `id`, at stream
/// sequence and store position `stream_sequence`.
pub(crate) fn delivered<E: DomainEvent + Serialize>(
    tenant: Uuid,
    aggregate_type: &str,
    id: Uuid,
    sequence: u64,
    stream_sequence: u64,
    event: &E,
) -> Delivered {
    let tagged = serde_json::to_value(event).unwrap();
    let data = tagged
        .as_object()
        .unwrap()
        .values()
        .next()
        .cloned()
        .unwrap();
    Delivered {
        stream_sequence,
        event: CloudEvent {
            specversion: "1.0".to_owned(),
            id: Uuid::now_v7(),
            source: format!("/agentos/tenants/{tenant}"),
            event_type: cloud_event_type(aggregate_type, &event.event_type(), "1"),
            subject: format!("{aggregate_type}/{id}"),
            time: Utc::now(),
            datacontenttype: "application/json".to_owned(),
            tenantid: tenant,
            aggregatetype: aggregate_type.to_owned(),
            aggregateid: id.to_string(),
            sequence,
            position: i64::try_from(stream_sequence).unwrap(),
            correlationid: None,
            causationid: None,
            actor: None,
            data,
        },
    }
}

fn version(number: u32, schema: Value, minutes: i64) -> ToolVersion {
    ToolVersion {
        version: number,
        description: format!("version {number}"),
        input_schema: schema,
        output_schema: None,
        kind: ToolKind::Http {
            url: "https://tools.example.com/weather".to_owned(),
            method: HttpMethod::Post,
            timeout_ms: 1_000,
            retries: 1,
        },
        published_at: at(minutes),
    }
}

pub(crate) fn assert_gap(result: Result<usize, ProjectionError>) {
    assert!(
        matches!(result, Err(ProjectionError::VersionGap { .. })),
        "expected a version gap, got {result:?}"
    );
}

#[tokio::test]
async fn tool_versions_apply_once_and_a_skipped_version_is_a_gap() {
    let env = TestEnv::new().await;
    let projection = ToolsProjection::new(env.pool.clone(), ToolsModel);
    projection.prepare().await.unwrap();
    let (tenant, tool) = (Uuid::now_v7(), Uuid::now_v7());
    let deliver = |sequence: u64, stream: u64, event: ToolEvent| {
        delivered(tenant, TOOL_AGGREGATE_TYPE, tool, sequence, stream, &event)
    };
    let registered = deliver(
        1,
        1,
        ToolEvent::ToolRegistered(ToolRegistered {
            tool_id: tool,
            tenant_id: tenant,
            name: "weather".to_owned(),
            version: version(1, json!({"type": "object"}), 0),
        }),
    );
    let second = deliver(
        2,
        2,
        ToolEvent::ToolVersionPublished(ToolVersionPublished {
            version: version(2, json!({"required": ["city"]}), 1),
        }),
    );
    let deprecated = deliver(
        3,
        3,
        ToolEvent::ToolDeprecated(ToolDeprecated {
            reason: Some("use v3".to_owned()),
            deprecated_at: at(2),
        }),
    );

    assert_gap(projection.apply(std::slice::from_ref(&second)).await);
    assert_eq!(get_tool(&env.pool, tenant, tool).await.unwrap(), None);
    let batch = [registered, second, deprecated];
    assert_eq!(projection.apply(&batch).await.unwrap(), 3);

    let view = get_tool(&env.pool, tenant, tool).await.unwrap().unwrap();
    assert_eq!(view.tool.status, "deprecated");
    assert_eq!(view.tool.latest_version, 2);
    assert_eq!(view.tool.version, 3);
    assert_eq!(view.tool.status_reason.as_deref(), Some("use v3"));
    assert_eq!(view.versions.len(), 2);
    let first = get_tool_version(&env.pool, tenant, tool, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.input_schema.0, json!({"type": "object"}));
    assert_eq!(
        get_tool(&env.pool, Uuid::now_v7(), tool).await.unwrap(),
        None
    );

    // Redelivered past the checkpoint (a rebuild overlap): skipped, nothing changes.
    let again: Vec<Delivered> = batch
        .iter()
        .map(|event| Delivered {
            stream_sequence: event.stream_sequence + 10,
            event: event.event.clone(),
        })
        .collect();
    projection.apply(&again).await.unwrap();
    assert_eq!(
        get_tool(&env.pool, tenant, tool).await.unwrap().unwrap(),
        view
    );
    env.cleanup().await;
}

#[tokio::test]
async fn an_invocation_moves_through_its_lifecycle_once() {
    let env = TestEnv::new().await;
    let projection = ToolInvocationsProjection::new(env.pool.clone(), ToolInvocationsModel);
    projection.prepare().await.unwrap();
    let (tenant, invocation, agent) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let deliver = |sequence: u64, event: ToolInvocationEvent| {
        delivered(
            tenant,
            TOOL_INVOCATION_AGGREGATE_TYPE,
            invocation,
            sequence,
            sequence,
            &event,
        )
    };
    let requested = deliver(
        1,
        ToolInvocationEvent::InvocationRequested(InvocationRequested {
            invocation_id: invocation,
            tenant_id: tenant,
            tool_id: Uuid::now_v7(),
            tool_name: "weather".to_owned(),
            tool_version: 2,
            kind: version(2, json!({}), 0).kind,
            output_schema: None,
            agent_id: agent,
            run_id: None,
            step: Some(3),
            tool_call_id: None,
            arguments: json!({"city": "Oslo"}),
            idempotency_key: "k".to_owned(),
            requested_at: at(0),
        }),
    );
    let started = deliver(
        2,
        ToolInvocationEvent::InvocationStarted(InvocationStarted {
            executor: "tool-executor-a".to_owned(),
            attempt: 1,
            started_at: at(1),
        }),
    );
    let succeeded = deliver(
        3,
        ToolInvocationEvent::InvocationSucceeded(InvocationSucceeded {
            output: json!({"temperature_c": 3}),
            duration_ms: 42,
            completed_at: at(2),
        }),
    );

    assert_gap(projection.apply(std::slice::from_ref(&started)).await);
    projection.apply(&[requested, started]).await.unwrap();
    assert_gap(
        projection
            .apply(&[Delivered {
                stream_sequence: 4,
                event: CloudEvent {
                    sequence: 4,
                    ..succeeded.event.clone()
                },
            }])
            .await,
    );
    projection.apply(&[succeeded]).await.unwrap();

    let view = get_invocation(&env.pool, tenant, invocation)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.status, "succeeded");
    assert_eq!(view.tool_version, 2);
    assert_eq!(view.attempt, 1);
    assert_eq!(view.executor.as_deref(), Some("tool-executor-a"));
    assert_eq!(view.duration_ms, Some(42));
    assert_eq!(
        view.output.map(|output| output.0),
        Some(json!({"temperature_c": 3}))
    );
    assert_eq!(view.version, 3);
    let by_agent = InvocationListFilter {
        agent_id: Some(agent),
        limit: 10,
        ..Default::default()
    };
    let listed = list_invocations(&env.pool, tenant, &by_agent)
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    let other_agent = InvocationListFilter {
        agent_id: Some(Uuid::now_v7()),
        limit: 10,
        ..Default::default()
    };
    let none = list_invocations(&env.pool, tenant, &other_agent)
        .await
        .unwrap();
    assert!(none.items.is_empty());
    env.cleanup().await;
}
