//! Every aggregate type and event type the domain records, and every upcaster of an
//! older event version: what subscribers may filter on, and how old events are read.

use cqrs_es::persist::EventUpcaster;

use crate::agent::{AGENT_AGGREGATE_TYPE, AgentEvent};
use crate::api_key::{API_KEY_AGGREGATE_TYPE, ApiKeyEvent};
use crate::billing::{BILLING_ACCOUNT_AGGREGATE_TYPE, BillingEvent};
use crate::memory::{MEMORY_AGGREGATE_TYPE, MemoryEvent};
use crate::run::{RUN_AGGREGATE_TYPE, RunEvent};
use crate::tenant::{TENANT_AGGREGATE_TYPE, TenantEvent};
use crate::tool::{TOOL_AGGREGATE_TYPE, ToolEvent};
use crate::tool_invocation::{TOOL_INVOCATION_AGGREGATE_TYPE, ToolInvocationEvent};
use crate::webhook::{WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE, WebhookSubscriptionEvent};

/// Each aggregate type with the names of its event types.
pub const EVENT_TYPES: &[(&str, &[&str])] = &[
    (AGENT_AGGREGATE_TYPE, AgentEvent::TYPES),
    (API_KEY_AGGREGATE_TYPE, ApiKeyEvent::TYPES),
    (BILLING_ACCOUNT_AGGREGATE_TYPE, BillingEvent::TYPES),
    (MEMORY_AGGREGATE_TYPE, MemoryEvent::TYPES),
    (RUN_AGGREGATE_TYPE, RunEvent::TYPES),
    (TENANT_AGGREGATE_TYPE, TenantEvent::TYPES),
    (TOOL_AGGREGATE_TYPE, ToolEvent::TYPES),
    (TOOL_INVOCATION_AGGREGATE_TYPE, ToolInvocationEvent::TYPES),
    (
        WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE,
        WebhookSubscriptionEvent::TYPES,
    ),
];

/// Whether `name` is an aggregate type, such as `agent`.
pub fn is_aggregate_type(name: &str) -> bool {
    EVENT_TYPES
        .iter()
        .any(|(aggregate_type, _)| *aggregate_type == name)
}

/// Whether `name` is an event type, such as `AgentCreated` (any version).
pub fn is_event_type(name: &str) -> bool {
    EVENT_TYPES.iter().any(|(_, types)| types.contains(&name))
}

/// Every upcaster of every aggregate. Event type names are unique across aggregates, so
/// each upcaster claims events by type and version alone.
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    crate::agent::upcasters()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn event_type_names_are_unique_across_aggregates() {
        let all: Vec<&str> = EVENT_TYPES
            .iter()
            .flat_map(|(_, types)| types.iter().copied())
            .collect();
        let unique: BTreeSet<&str> = all.iter().copied().collect();
        assert_eq!(unique.len(), all.len());
    }

    #[test]
    fn knows_aggregate_and_event_types_by_their_exact_names() {
        assert!(is_aggregate_type("agent"));
        assert!(is_aggregate_type("webhook_subscription"));
        assert!(!is_aggregate_type("Agent"));
        assert!(is_event_type("AgentCreated"));
        assert!(is_event_type("WebhookSubscriptionFailing"));
        assert!(!is_event_type("agentcreated"));
        assert!(!is_event_type("AgentCreated.v1"));
    }
}
