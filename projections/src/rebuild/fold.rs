//! Folding one agent's events, in sequence order, into its `agents` row in memory: the
//! same outcome as applying them one by one with [`crate::agents::apply_event`] (which
//! the live projector and the rebuild's catch-up use), without a statement per event.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use domain::agent::{AgentConfig, AgentEvent};
use uuid::Uuid;

use super::copy_text::escape;
use crate::ProjectionError;

/// The columns [`FoldedAgent::write_copy_line`] writes, in order.
pub const AGENT_COLUMNS: &str = "id, tenant_id, name, description, status, model, system_prompt, \
     tool_ids, metadata, config_version, version, created_at, updated_at, archived_at";

/// An agent folded up to `version`.
#[derive(Debug)]
pub struct FoldedAgent {
    id: Uuid,
    tenant_id: Uuid,
    status: &'static str,
    version: i64,
    created_at: DateTime<Utc>,
    /// The creation's config, until a config update replaces it.
    created_config: Option<(AgentConfig, u32)>,
    /// The latest config update, kept as stored: only the last one is ever decoded.
    updated_config: Option<String>,
    /// The time of the last event when it was not a config change (that one's time is
    /// in its payload).
    status_changed_at: Option<DateTime<Utc>>,
    archived_at: Option<DateTime<Utc>>,
}

impl FoldedAgent {
    /// The agent as its creation (event 1) leaves it.
    pub fn created(id: Uuid, sequence: i64, payload: &str) -> Result<Self, ProjectionError> {
        match serde_json::from_str(payload)? {
            AgentEvent::AgentCreated(created) if sequence == 1 => Ok(Self {
                id,
                tenant_id: created.tenant_id,
                status: "active",
                version: 1,
                created_at: created.created_at,
                created_config: Some((created.config, created.config_version)),
                updated_config: None,
                status_changed_at: None,
                archived_at: None,
            }),
            _ => Err(gap(id, sequence, 0)),
        }
    }

    /// Applies the agent's next event; anything but the next sequence is a gap.
    pub fn apply(
        &mut self,
        sequence: i64,
        event_type: &str,
        payload: String,
    ) -> Result<(), ProjectionError> {
        if sequence != self.version + 1 {
            return Err(gap(self.id, sequence, self.version));
        }
        if event_type == "AgentConfigUpdated" {
            self.updated_config = Some(payload);
            self.status_changed_at = None;
        } else {
            let (status, at) = match serde_json::from_str(&payload)? {
                AgentEvent::AgentPaused(paused) => ("paused", paused.paused_at),
                AgentEvent::AgentResumed(resumed) => ("active", resumed.resumed_at),
                AgentEvent::AgentArchived(archived) => {
                    self.archived_at = Some(archived.archived_at);
                    ("archived", archived.archived_at)
                }
                // A second creation is a duplicate the live model skips; a config
                // update arrives under its own type above.
                AgentEvent::AgentCreated(_) => return Ok(()),
                AgentEvent::AgentConfigUpdated(_) => {
                    self.updated_config = Some(payload);
                    self.status_changed_at = None;
                    self.version = sequence;
                    return Ok(());
                }
            };
            self.status = status;
            self.status_changed_at = Some(at);
        }
        self.version = sequence;
        Ok(())
    }

    /// Appends the row in COPY's text format, in [`AGENT_COLUMNS`] order.
    pub fn write_copy_line(self, out: &mut String) -> Result<(), ProjectionError> {
        let (config, config_version, config_at) = match (self.updated_config, self.created_config) {
            (Some(payload), _) => match serde_json::from_str(&payload)? {
                AgentEvent::AgentConfigUpdated(updated) => {
                    (updated.config, updated.config_version, updated.updated_at)
                }
                _ => return Err(gap(self.id, self.version, self.version)),
            },
            (None, Some((config, version))) => (config, version, self.created_at),
            (None, None) => return Err(gap(self.id, self.version, 0)),
        };
        let time = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Micros, true);
        write!(out, "{}\t{}\t", self.id, self.tenant_id).ok();
        escape(&config.name, out);
        out.push('\t');
        escape(&config.description, out);
        write!(out, "\t{}\t", self.status).ok();
        escape(&serde_json::to_string(&config.model)?, out);
        out.push('\t');
        escape(&config.system_prompt, out);
        out.push_str("\t{");
        for (n, tool) in config.tool_ids.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            write!(out, "{tool}").ok();
        }
        out.push_str("}\t");
        escape(&serde_json::to_string(&config.metadata)?, out);
        let updated_at = self.status_changed_at.unwrap_or(config_at);
        let archived_at = self.archived_at.map_or_else(|| "\\N".to_owned(), time);
        writeln!(
            out,
            "\t{config_version}\t{}\t{}\t{}\t{archived_at}",
            self.version,
            time(self.created_at),
            time(updated_at),
        )
        .ok();
        Ok(())
    }
}

fn gap(id: Uuid, sequence: i64, found: i64) -> ProjectionError {
    ProjectionError::VersionGap {
        aggregate_id: id.to_string(),
        expected: u64::try_from(sequence - 1).unwrap_or_default(),
        found: u64::try_from(found).unwrap_or_default(),
    }
}
