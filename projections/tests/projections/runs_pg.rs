//! The runs read models: each run event applies exactly once through the aggregate's own
//! fold, the touched step is written beside the run, redelivery changes nothing, and a
//! skipped version is a loud gap.

use cqrs_es::Aggregate;
use domain::agent::ModelConfig;
use domain::run::{
    Message, ModelCallCompleted, ModelCallStarted, ModelUsage, RUN_AGGREGATE_TYPE, Role, Run,
    RunEvent, RunLeaseAcquired, RunStarted, ToolCallRequest, ToolCallRequested,
};
use eventstore::testing::TestEnv;
use projections::Projection;
use projections::runner::Delivered;
use projections::runs::{RunListFilter, RunsModel, RunsProjection, get_run, list_runs};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::at;
use crate::tools_pg::{assert_gap, delivered};

const TOOL: Uuid = Uuid::from_u128(7);

fn history(tenant: Uuid, agent: Uuid, run: Uuid) -> Vec<RunEvent> {
    let call = ToolCallRequest {
        tool_call_id: "c1".to_owned(),
        tool_id: TOOL,
        tool_name: "weather".to_owned(),
        arguments: json!({"city": "Oslo"}),
    };
    vec![
        RunEvent::RunStarted(RunStarted {
            run_id: run,
            tenant_id: tenant,
            agent_id: agent,
            agent_config_version: 1,
            model: ModelConfig {
                provider: "scripted".to_owned(),
                name: "demo".to_owned(),
                temperature: 0.0,
                max_output_tokens: 10,
            },
            system_prompt: String::new(),
            tool_ids: vec![TOOL],
            input: vec![Message::text(Role::User, "Weather?")],
            max_steps: 5,
            budget_micros: 1_000,
            idempotency_key: None,
            created_at: at(0),
        }),
        RunEvent::RunLeaseAcquired(RunLeaseAcquired {
            engine_id: "engine-1".to_owned(),
            lease_generation: 1,
            lease_until: at(2),
            acquired_at: at(1),
        }),
        RunEvent::ModelCallStarted(ModelCallStarted {
            step: 1,
            messages_in: 1,
            estimated_cost_micros: 100,
            started_at: at(2),
        }),
        RunEvent::ModelCallCompleted(ModelCallCompleted {
            step: 1,
            output: Message {
                role: Role::Assistant,
                content: String::new(),
                tool_call_id: None,
                tool_calls: vec![call.clone()],
            },
            usage: ModelUsage {
                input_tokens: 12,
                output_tokens: 3,
            },
            latency_ms: 5,
            cost_micros: 81,
            spent_micros: 81,
            completed_at: at(3),
        }),
        RunEvent::ToolCallRequested(ToolCallRequested {
            step: 2,
            model_call_step: 1,
            tool_call_id: call.tool_call_id,
            tool_id: TOOL,
            tool_name: call.tool_name,
            arguments: call.arguments,
            requires_approval: true,
            requested_at: at(3),
        }),
    ]
}

fn deliveries(tenant: Uuid, run: Uuid, events: &[RunEvent]) -> Vec<Delivered> {
    (1..)
        .zip(events)
        .map(|(n, event)| delivered(tenant, RUN_AGGREGATE_TYPE, run, n, n, event))
        .collect()
}

#[tokio::test]
async fn run_events_apply_once_through_the_aggregates_fold_and_gaps_are_refused() {
    let env = TestEnv::new().await;
    let projection = RunsProjection::new(env.pool.clone(), RunsModel);
    projection.prepare().await.unwrap();
    let (tenant, agent, run) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let events = history(tenant, agent, run);
    let all = deliveries(tenant, run, &events);

    // A version past the next one is a gap; nothing of the batch is applied.
    assert_gap(projection.apply(&[all[0].clone(), all[2].clone()]).await);
    assert!(get_run(&env.pool, tenant, run).await.unwrap().is_none());

    assert_eq!(projection.apply(&all[..3]).await.unwrap(), 3);
    assert_eq!(projection.apply(&all[3..]).await.unwrap(), 2);
    let view = get_run(&env.pool, tenant, run)
        .await
        .unwrap()
        .expect("the run");
    let mut folded = Run::default();
    for event in events {
        folded.apply(event);
    }
    assert_eq!(view.version, 5);
    assert_eq!(view.status, "requires_action");
    assert_eq!(view.spent_micros, folded.spent_micros());
    assert_eq!(view.usage, folded.usage());
    assert_eq!(view.steps.as_deref(), Some(folded.steps()));
    assert_eq!(view.pending_approvals.len(), 1);
    assert_eq!(view.pending_approvals[0].tool_call_id, "c1");

    // A redelivered batch, from a fresh checkpoint, changes nothing.
    sqlx::query("UPDATE projection_checkpoints SET stream_sequence = 0")
        .execute(&env.pool)
        .await
        .unwrap();
    projection.apply(&all).await.unwrap();
    let again = get_run(&env.pool, tenant, run)
        .await
        .unwrap()
        .expect("the run");
    assert_eq!(again, view);

    let filter = RunListFilter {
        agent_id: agent,
        status: Some("requires_action".to_owned()),
        limit: 10,
        cursor: None,
    };
    let listed = list_runs(&env.pool, tenant, &filter).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].steps, None, "lists leave steps out");
    assert!(
        get_run(&env.pool, Uuid::now_v7(), run)
            .await
            .unwrap()
            .is_none()
    );
    env.cleanup().await;
}
