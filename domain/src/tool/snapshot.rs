//! What an invocation needs to know about a tool, copied out of it when the call is requested.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Tool, ToolStatus, ToolVersion};

/// A tool as it stood when a call was requested: the version in force, or the one asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ToolSnapshot {
    /// The tool's id.
    pub tool_id: Uuid,
    /// The tool's name.
    pub name: String,
    /// The tool's status at that moment.
    pub status: ToolStatus,
    /// The version the call will use.
    pub version: ToolVersion,
}

impl Tool {
    /// The snapshot an invocation is requested with: `version` or, when `None`, the latest.
    /// `None` when the tool does not exist, belongs to another tenant, or lacks that version.
    pub fn snapshot(&self, tenant_id: Uuid, version: Option<u32>) -> Option<ToolSnapshot> {
        let (status, _) = self.owned_by(tenant_id).ok()?;
        let version = match version {
            Some(number) => self.version(number),
            None => self.latest(),
        }?;
        Some(ToolSnapshot {
            tool_id: self.id?,
            name: self.name.clone()?,
            status,
            version: version.clone(),
        })
    }
}
