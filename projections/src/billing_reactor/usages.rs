//! Which events cost something, and how much: the usages one event causes.

use chrono::{DateTime, Utc};
use domain::billing::{BillingCommand, Meter, PriceBook, UsageSource};
use domain::memory::MEMORY_AGGREGATE_TYPE;
use domain::run::RUN_AGGREGATE_TYPE;
use domain::tool_invocation::TOOL_INVOCATION_AGGREGATE_TYPE;
use eventstore::{CloudEvent, CommandContext};
use uuid::Uuid;

/// Who the reactor's commands are issued by.
pub const BILLING_ACTOR: &str = "system:billing";

/// One usage to record, with everything its command needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    pub tenant_id: Uuid,
    pub meter: Meter,
    pub quantity: i64,
    /// The usage's idempotency key and claim: the causing event's id, followed by
    /// `:<meter>` when one event causes usage of several meters.
    pub key: String,
    pub source: UsageSource,
    /// When the causing event happened: the usage is charged to that day and month.
    pub occurred_at: DateTime<Utc>,
    pub correlation_id: Uuid,
}

impl Usage {
    /// The command recording this usage as of `now`.
    pub fn command(&self, now: DateTime<Utc>) -> BillingCommand {
        BillingCommand::RecordUsage {
            tenant_id: self.tenant_id,
            meter: self.meter,
            quantity: self.quantity,
            idempotency_key: self.key.clone(),
            source: self.source.clone(),
            price_book: PriceBook::current(),
            now,
        }
    }

    /// The command's context: the billing actor, correlated with the causing event and
    /// caused by it.
    pub fn context(&self) -> CommandContext {
        let mut context = CommandContext::new(self.tenant_id, BILLING_ACTOR, Utc::now());
        context.correlation_id = self.correlation_id;
        context.causation_id = self.source.event_id;
        context
    }
}

/// The usages `event` causes; none for events that cost nothing.
pub fn usages_of(event: &CloudEvent) -> Vec<Usage> {
    match (event.aggregatetype.as_str(), event.short_type()) {
        (MEMORY_AGGREGATE_TYPE, "MemoryRecorded") => {
            vec![usage(event, Meter::MemoryItems, 1, event.id.to_string())]
        }
        (TOOL_INVOCATION_AGGREGATE_TYPE, "InvocationSucceeded") => {
            vec![usage(
                event,
                Meter::ToolInvocations,
                1,
                event.id.to_string(),
            )]
        }
        // A model call's answer, recorded once per step by the run aggregate: the tokens
        // its provider reported.
        (RUN_AGGREGATE_TYPE, "ModelCallCompleted") => {
            token_usages(event, "/usage/input_tokens", "/usage/output_tokens")
        }
        _ => Vec::new(),
    }
}

/// The language-model tokens an event reports at two JSON pointers into its payload (such
/// as `/usage/input_tokens`): one usage per meter with a positive count, each keyed
/// `<event id>:<meter>` because both come from the same event.
pub fn token_usages(event: &CloudEvent, input_tokens: &str, output_tokens: &str) -> Vec<Usage> {
    [
        (Meter::LlmInputTokens, input_tokens),
        (Meter::LlmOutputTokens, output_tokens),
    ]
    .into_iter()
    .filter_map(|(meter, pointer)| {
        let quantity = event.data.pointer(pointer)?.as_i64()?;
        (quantity > 0).then(|| usage(event, meter, quantity, format!("{}:{meter}", event.id)))
    })
    .collect()
}

fn usage(event: &CloudEvent, meter: Meter, quantity: i64, key: String) -> Usage {
    Usage {
        tenant_id: event.tenantid,
        meter,
        quantity,
        key,
        source: UsageSource {
            event_id: event.id,
            aggregate_type: event.aggregatetype.clone(),
            aggregate_id: event.aggregateid.clone(),
            run_id: run_id(event),
        },
        occurred_at: event.time,
        correlation_id: event
            .correlationid
            .as_deref()
            .and_then(|id| Uuid::parse_str(id).ok())
            .unwrap_or(event.id),
    }
}

/// The run an event belongs to: the run itself, or the run its payload names at the top
/// or in its `source`.
fn run_id(event: &CloudEvent) -> Option<Uuid> {
    if event.aggregatetype == RUN_AGGREGATE_TYPE
        && let Ok(run) = event.aggregateid.parse()
    {
        return Some(run);
    }
    ["/run_id", "/source/run_id"]
        .into_iter()
        .find_map(|pointer| event.data.pointer(pointer)?.as_str()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(aggregate_type: &str, event_type: &str, data: serde_json::Value) -> CloudEvent {
        CloudEvent {
            specversion: "1.0".into(),
            id: Uuid::now_v7(),
            source: "/agentos/tenants/t".into(),
            event_type: format!("agentos.{aggregate_type}.{event_type}.v1"),
            subject: format!("{aggregate_type}/a1"),
            time: Utc::now(),
            datacontenttype: "application/json".into(),
            tenantid: Uuid::now_v7(),
            aggregatetype: aggregate_type.into(),
            aggregateid: "a1".into(),
            sequence: 1,
            position: 1,
            correlationid: Some(Uuid::from_u128(9).to_string()),
            causationid: None,
            actor: Some("key".into()),
            data,
        }
    }

    #[test]
    fn a_recorded_memory_is_one_memory_item_keyed_by_its_event() {
        let run = Uuid::now_v7();
        let recorded = event(
            "memory",
            "MemoryRecorded",
            json!({"source": {"run_id": run}}),
        );
        let usages = usages_of(&recorded);
        assert_eq!(usages.len(), 1);
        let usage = &usages[0];
        assert_eq!((usage.meter, usage.quantity), (Meter::MemoryItems, 1));
        assert_eq!(usage.key, recorded.id.to_string());
        assert_eq!(usage.tenant_id, recorded.tenantid);
        assert_eq!(usage.source.event_id, recorded.id);
        assert_eq!(usage.source.aggregate_type, "memory");
        assert_eq!(usage.source.aggregate_id, "a1");
        assert_eq!(usage.source.run_id, Some(run));
        assert_eq!(usage.occurred_at, recorded.time);
    }

    #[test]
    fn a_succeeded_tool_invocation_is_one_tool_invocation() {
        let succeeded = event("tool_invocation", "InvocationSucceeded", json!({}));
        let usages = usages_of(&succeeded);
        assert_eq!(usages.len(), 1);
        assert_eq!(
            (usages[0].meter, usages[0].quantity),
            (Meter::ToolInvocations, 1)
        );
        assert_eq!(usages[0].source.run_id, None);
    }

    #[test]
    fn other_events_cost_nothing() {
        for (aggregate_type, event_type) in [
            ("memory", "MemoryRevised"),
            ("memory", "MemoryForgotten"),
            ("tool_invocation", "InvocationRequested"),
            ("tool_invocation", "InvocationFailed"),
            ("agent", "AgentCreated"),
            ("billing_account", "UsageRecorded"),
            ("run", "RunStarted"),
            ("tool", "MemoryRecorded"),
        ] {
            let other = event(aggregate_type, event_type, json!({}));
            assert_eq!(usages_of(&other), [], "{aggregate_type} {event_type}");
        }
    }

    #[test]
    fn token_counts_become_one_usage_per_meter_keyed_by_event_and_meter() {
        let step = event(
            "run",
            "SomeModelCallStep",
            json!({"usage": {"input_tokens": 1200, "output_tokens": 0}, "run_id": Uuid::from_u128(5)}),
        );
        let usages = token_usages(&step, "/usage/input_tokens", "/usage/output_tokens");
        assert_eq!(usages.len(), 1, "a zero count records nothing");
        assert_eq!(
            (usages[0].meter, usages[0].quantity),
            (Meter::LlmInputTokens, 1200)
        );
        assert_eq!(usages[0].key, format!("{}:llm_input_tokens", step.id));
        assert_eq!(usages[0].source.run_id, Some(Uuid::from_u128(5)));
        let both = event("run", "SomeModelCallStep", json!({"in": 3, "out": 4}));
        let keys: Vec<_> = token_usages(&both, "/in", "/out")
            .into_iter()
            .map(|usage| (usage.meter, usage.quantity))
            .collect();
        assert_eq!(
            keys,
            [(Meter::LlmInputTokens, 3), (Meter::LlmOutputTokens, 4)]
        );
        assert_eq!(token_usages(&both, "/missing", "/also/missing"), []);
    }

    #[test]
    fn a_model_call_answer_costs_its_input_and_output_tokens_on_its_run() {
        let run = Uuid::now_v7();
        let mut answer = event(
            "run",
            "ModelCallCompleted",
            json!({"step": 1, "usage": {"input_tokens": 120, "output_tokens": 30}}),
        );
        answer.aggregateid = run.to_string();
        let usages = usages_of(&answer);
        let charged: Vec<_> = usages.iter().map(|u| (u.meter, u.quantity)).collect();
        assert_eq!(
            charged,
            [(Meter::LlmInputTokens, 120), (Meter::LlmOutputTokens, 30)]
        );
        assert!(usages.iter().all(|u| u.source.run_id == Some(run)));
        assert_eq!(usages[1].key, format!("{}:llm_output_tokens", answer.id));
    }

    #[test]
    fn commands_carry_the_billing_actor_and_the_causing_event() {
        let recorded = event("memory", "MemoryRecorded", json!({}));
        let usage = &usages_of(&recorded)[0];
        let context = usage.context();
        assert_eq!(context.actor, BILLING_ACTOR);
        assert_eq!(context.tenant_id, recorded.tenantid);
        assert_eq!(context.correlation_id, Uuid::from_u128(9));
        assert_eq!(context.causation_id, recorded.id);
        let BillingCommand::RecordUsage {
            idempotency_key,
            price_book,
            now,
            ..
        } = usage.command(recorded.time)
        else {
            panic!("not a usage");
        };
        assert_eq!(idempotency_key, recorded.id.to_string());
        assert_eq!(price_book, PriceBook::current());
        assert_eq!(now, recorded.time);
    }
}
