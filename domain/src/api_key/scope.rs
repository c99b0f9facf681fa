//! What an API key may do.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One permission an API key can hold. `admin` implies every other scope.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum Scope {
    /// Read agents.
    #[serde(rename = "agents:read")]
    AgentsRead,
    /// Create and change agents.
    #[serde(rename = "agents:write")]
    AgentsWrite,
    /// Read and search memories.
    #[serde(rename = "memory:read")]
    MemoryRead,
    /// Record, revise and forget memories.
    #[serde(rename = "memory:write")]
    MemoryWrite,
    /// Read tools and invocations.
    #[serde(rename = "tools:read")]
    ToolsRead,
    /// Register and change tools.
    #[serde(rename = "tools:write")]
    ToolsWrite,
    /// Invoke tools.
    #[serde(rename = "tools:invoke")]
    ToolsInvoke,
    /// Read runs.
    #[serde(rename = "runs:read")]
    RunsRead,
    /// Start, cancel and approve runs.
    #[serde(rename = "runs:write")]
    RunsWrite,
    /// Read balances, usage and invoices.
    #[serde(rename = "billing:read")]
    BillingRead,
    /// Grant credits, set quotas, close periods.
    #[serde(rename = "billing:write")]
    BillingWrite,
    /// Read the audit log and event history.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// Everything, including managing API keys.
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    /// Every scope, in a stable order.
    pub const ALL: &'static [Scope] = &[
        Scope::AgentsRead,
        Scope::AgentsWrite,
        Scope::MemoryRead,
        Scope::MemoryWrite,
        Scope::ToolsRead,
        Scope::ToolsWrite,
        Scope::ToolsInvoke,
        Scope::RunsRead,
        Scope::RunsWrite,
        Scope::BillingRead,
        Scope::BillingWrite,
        Scope::AuditRead,
        Scope::Admin,
    ];

    /// The scope as written in JSON, such as `agents:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AgentsRead => "agents:read",
            Self::AgentsWrite => "agents:write",
            Self::MemoryRead => "memory:read",
            Self::MemoryWrite => "memory:write",
            Self::ToolsRead => "tools:read",
            Self::ToolsWrite => "tools:write",
            Self::ToolsInvoke => "tools:invoke",
            Self::RunsRead => "runs:read",
            Self::RunsWrite => "runs:write",
            Self::BillingRead => "billing:read",
            Self::BillingWrite => "billing:write",
            Self::AuditRead => "audit:read",
            Self::Admin => "admin",
        }
    }

    /// Whether a key holding `held` may act under `self`.
    pub fn granted_by(self, held: &[Scope]) -> bool {
        held.contains(&Scope::Admin) || held.contains(&self)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .iter()
            .copied()
            .find(|scope| scope.as_str() == text)
            .ok_or_else(|| format!("`{text}` is not a scope"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_round_trips_through_its_text_and_json() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>().unwrap(), *scope);
            let json = serde_json::to_string(scope).unwrap();
            assert_eq!(json, format!("\"{}\"", scope.as_str()));
        }
        assert!("agents:delete".parse::<Scope>().is_err());
    }

    #[test]
    fn admin_grants_every_scope_and_others_only_themselves() {
        assert!(Scope::BillingWrite.granted_by(&[Scope::Admin]));
        assert!(Scope::AgentsRead.granted_by(&[Scope::AgentsRead]));
        assert!(!Scope::AgentsWrite.granted_by(&[Scope::AgentsRead]));
        assert!(!Scope::Admin.granted_by(&[Scope::AgentsRead, Scope::AgentsWrite]));
    }
}
