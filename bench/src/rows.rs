//! Event rows of the shape the store writes (aggregate type `agent`, real `AgentCreated`
//! and `AgentConfigUpdated` payloads, the metadata a command carries), and filling a
//! store with a large backlog of them by COPY rather than through HTTP.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use domain::agent::{
    AGENT_AGGREGATE_TYPE, AgentConfig, AgentConfigUpdated, AgentCreated, AgentEvent, ModelConfig,
};
use eventstore::CommandContext;
use projections::rebuild::copy_text::escape;
use sqlx::PgPool;
use uuid::Uuid;

/// One row of `events`, as the command bus would append it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub aggregate_id: Uuid,
    pub sequence: i64,
    pub event_type: &'static str,
    pub payload: String,
    pub metadata: String,
    pub event_id: Uuid,
    pub tenant_id: Uuid,
    pub occurred_at: DateTime<Utc>,
}

/// A configuration like the ones the API tests create.
pub fn agent_config(name: &str) -> AgentConfig {
    AgentConfig {
        name: name.to_owned(),
        description: "answers billing questions".to_owned(),
        model: ModelConfig {
            provider: "anthropic".to_owned(),
            name: "claude-sonnet".to_owned(),
            temperature: 0.7,
            max_output_tokens: 4096,
        },
        system_prompt: "You are helpful.".to_owned(),
        tool_ids: vec![Uuid::from_u128(1)],
        metadata: BTreeMap::from([("team".to_owned(), "billing".to_owned())]),
    }
}

/// Event `sequence` of agent `agent_id`: the creation at 1, config updates after it.
pub fn agent_event(tenant_id: Uuid, agent_id: Uuid, sequence: i64) -> EventRow {
    let now = Utc::now();
    let name = format!("agent-{}", &agent_id.simple().to_string()[24..]);
    let (event_type, event) = if sequence == 1 {
        (
            "AgentCreated",
            AgentEvent::AgentCreated(AgentCreated {
                agent_id,
                tenant_id,
                config: agent_config(&name),
                config_version: 1,
                created_at: now,
            }),
        )
    } else {
        let mut config = agent_config(&name);
        config.system_prompt = format!("You are helpful. Revision {sequence}.");
        (
            "AgentConfigUpdated",
            AgentEvent::AgentConfigUpdated(AgentConfigUpdated {
                config,
                config_version: u32::try_from(sequence).unwrap_or(u32::MAX),
                updated_at: now,
            }),
        )
    };
    let mut context = CommandContext::new(tenant_id, Uuid::now_v7().to_string(), now);
    context.causation_id = Uuid::now_v7();
    EventRow {
        aggregate_id: agent_id,
        sequence,
        event_type,
        payload: serde_json::to_string(&event).expect("events serialize"),
        metadata: serde_json::to_string(&context.to_metadata()).expect("metadata serializes"),
        event_id: Uuid::now_v7(),
        tenant_id,
        occurred_at: now,
    }
}

/// The columns [`EventRow::write_copy_line`] writes, in order.
pub const COPY_EVENTS: &str = "COPY events (aggregate_type, aggregate_id, sequence, event_type,
    event_version, payload, metadata, event_id, tenant_id, occurred_at) FROM STDIN";

impl EventRow {
    /// Appends the row in COPY's text format.
    pub fn write_copy_line(&self, out: &mut String) {
        let time = self
            .occurred_at
            .to_rfc3339_opts(SecondsFormat::Micros, true);
        write!(
            out,
            "{AGENT_AGGREGATE_TYPE}\t{}\t{}\t{}\t1\t",
            self.aggregate_id, self.sequence, self.event_type
        )
        .ok();
        escape(&self.payload, out);
        out.push('\t');
        escape(&self.metadata, out);
        writeln!(out, "\t{}\t{}\t{time}", self.event_id, self.tenant_id).ok();
    }
}

/// Fills the store with `agents` agents of `events_per_agent` events each (a creation
/// and config updates), interleaved as concurrent traffic would be: blocks of agents get
/// their first events, then their second ones, and so on. Each COPY of `chunk` rows is
/// its own transaction. Returns the tenant that owns them and the agents' ids.
pub async fn fill_backlog(
    pool: &PgPool,
    agents: usize,
    events_per_agent: usize,
) -> anyhow::Result<(Uuid, Vec<Uuid>)> {
    const BLOCK: usize = 10_000;
    const CHUNK_ROWS: usize = 20_000;
    let tenant_id = Uuid::now_v7();
    let ids: Vec<Uuid> = (0..agents).map(|_| Uuid::now_v7()).collect();
    let mut buffer = String::with_capacity(CHUNK_ROWS * 900);
    let mut rows_in_buffer = 0;
    for block in ids.chunks(BLOCK) {
        for sequence in 1..=i64::try_from(events_per_agent)? {
            for id in block {
                agent_event(tenant_id, *id, sequence).write_copy_line(&mut buffer);
                rows_in_buffer += 1;
                if rows_in_buffer == CHUNK_ROWS {
                    copy_in(pool, &buffer).await?;
                    buffer.clear();
                    rows_in_buffer = 0;
                }
            }
        }
    }
    if rows_in_buffer > 0 {
        copy_in(pool, &buffer).await?;
    }
    sqlx::query("ANALYZE events").execute(pool).await?;
    Ok((tenant_id, ids))
}

/// One COPY of text-format rows into `events`.
pub async fn copy_in(pool: &PgPool, rows: &str) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    let mut copy = conn.copy_in_raw(COPY_EVENTS).await?;
    copy.send(rows.as_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_carry_real_agent_events_in_ten_columns() {
        let row = agent_event(Uuid::now_v7(), Uuid::now_v7(), 2);
        let event: AgentEvent = serde_json::from_str(&row.payload).unwrap();
        assert!(matches!(event, AgentEvent::AgentConfigUpdated(_)));
        let mut line = String::new();
        row.write_copy_line(&mut line);
        assert_eq!(line.trim_end().split('\t').count(), 10);
        assert!(line.starts_with("agent\t"));
    }
}
