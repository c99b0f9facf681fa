//! Sample values shared by the agent tests.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use super::{AgentConfig, AgentCreated, AgentEvent, ModelConfig};

pub(crate) const TENANT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0001);
pub(crate) const OTHER_TENANT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0002);
/// Who the tests' commands come from (an API key id, as the command API passes it).
pub(crate) const ACTOR: &str = "0196a000-0000-7000-8000-0000000000c1";
pub(crate) const AGENT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_00a1);

/// A fixed instant `minutes` after a reference time, so tests never read the clock.
pub(crate) fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

pub(crate) fn valid_config() -> AgentConfig {
    AgentConfig {
        name: "Support bot".to_owned(),
        description: "Answers billing questions".to_owned(),
        model: ModelConfig {
            provider: "anthropic".to_owned(),
            name: "claude-sonnet".to_owned(),
            temperature: 0.7,
            max_output_tokens: 4_096,
        },
        system_prompt: "You are a helpful support agent.".to_owned(),
        tool_ids: vec![Uuid::from_u128(1), Uuid::from_u128(2)],
        metadata: BTreeMap::from([("team".to_owned(), "billing".to_owned())]),
    }
}

pub(crate) fn agent_created() -> AgentEvent {
    AgentEvent::AgentCreated(AgentCreated {
        agent_id: AGENT,
        tenant_id: TENANT,
        config: valid_config(),
        config_version: 1,
        created_at: at(0),
    })
}
