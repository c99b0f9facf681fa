//! Every aggregate's state survives a trip through JSON: the command bus stores it as a
//! snapshot, and a state that cannot be written (a map keyed by something other than a
//! string) or comes back different would corrupt later loads.

use cqrs_es::Aggregate;
use serde_json::Value;

use crate::agent::Agent;
use crate::api_key::ApiKey;
use crate::billing::{BillingAccount, Meter};
use crate::memory::Memory;
use crate::run::Run;
use crate::tool::Tool;
use crate::tool_invocation::ToolInvocation;
use crate::webhook::{WebhookSubscription, WebhookSubscriptionCreated, WebhookSubscriptionEvent};

fn round_trips<A: Aggregate>(events: Vec<A::Event>) {
    let mut aggregate = A::default();
    for event in events {
        aggregate.apply(event);
    }
    let written = serde_json::to_value(&aggregate).expect("the state serializes");
    let read: A = serde_json::from_value(written.clone()).expect("the state deserializes");
    assert_eq!(serde_json::to_value(&read).unwrap(), written);
    assert_ne!(written, serde_json::to_value(A::default()).unwrap());
}

#[test]
fn every_aggregate_state_survives_json() {
    round_trips::<Agent>(vec![crate::agent::fixtures::agent_created()]);
    round_trips::<Memory>(vec![
        crate::memory::fixtures::memory_recorded(),
        crate::memory::fixtures::memory_revised(2, 5),
    ]);
    round_trips::<Tool>(vec![crate::tool::fixtures::tool_registered()]);
    round_trips::<ToolInvocation>(vec![
        crate::tool_invocation::fixtures::invocation_requested(),
    ]);
    let now = crate::billing::fixtures::at(0);
    round_trips::<BillingAccount>(vec![
        crate::billing::fixtures::opened(),
        crate::billing::fixtures::granted(5_000, 5_000),
        crate::billing::fixtures::quota_set(
            Meter::MemoryItems,
            10,
            crate::billing::QuotaPeriod::Day,
        ),
        crate::billing::fixtures::used(Meter::MemoryItems, 3, "event-1", 4_700, now),
    ]);
    round_trips::<Run>(crate::run::fixtures::calling_tools(true));
    round_trips::<WebhookSubscription>(vec![WebhookSubscriptionEvent::WebhookSubscriptionCreated(
        WebhookSubscriptionCreated {
            subscription_id: uuid::Uuid::from_u128(1),
            tenant_id: uuid::Uuid::from_u128(2),
            url: "https://example.com/hooks".to_owned(),
            event_types: vec!["AgentCreated".to_owned()],
            secret_key_id: uuid::Uuid::from_u128(3),
            created_at: now,
        },
    )]);
    let _: Value = serde_json::to_value(ApiKey::default()).unwrap();
}
