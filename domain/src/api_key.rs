//! The API key aggregate: a secret that authenticates a tenant's callers with some scopes.
//!
//! The secret itself never enters an event: the caller hashes it (SHA-256, hex) and only
//! the hash is recorded. Lifecycle: `active` → `revoked` (final), and a key stops working
//! once its expiry time has passed.

mod scope;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::FieldError;
use crate::rules::{require_free_text, require_max_chars, require_not_blank, require_single_line};

pub use scope::Scope;

/// The aggregate type under which API key events are stored.
pub const API_KEY_AGGREGATE_TYPE: &str = "api_key";

const MAX_NAME_CHARS: usize = 100;
const MAX_REASON_CHARS: usize = 500;

/// Where a key is in its lifecycle at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyStatus {
    /// Authenticates requests.
    Active,
    /// Its expiry time has passed.
    Expired,
    /// Revoked for good.
    Revoked,
}

impl ApiKeyStatus {
    /// The status as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}

impl std::fmt::Display for ApiKeyStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to change an API key.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiKeyCommand {
    /// Issue a new key.
    IssueApiKey {
        /// The tenant the key acts for.
        tenant_id: Uuid,
        /// The id chosen by the caller.
        key_id: Uuid,
        /// A label, 1 to 100 characters, one line.
        name: String,
        /// At least one scope, each once.
        scopes: Vec<Scope>,
        /// SHA-256 of the secret, 64 lowercase hex digits.
        key_hash: String,
        /// When the key stops working; must be after `now`.
        expires_at: Option<DateTime<Utc>>,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Revoke an active or expired key for good.
    RevokeApiKey {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// Why, at most 500 characters.
        reason: Option<String>,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
    /// Make a key expire at `expires_at` (now or earlier: at once).
    ExpireApiKey {
        /// The caller's tenant.
        tenant_id: Uuid,
        /// The new expiry time.
        expires_at: DateTime<Utc>,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
}

/// Something that happened to an API key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub enum ApiKeyEvent {
    /// A key was issued.
    ApiKeyIssued(ApiKeyIssued),
    /// A key was revoked.
    ApiKeyRevoked(ApiKeyRevoked),
    /// A key's expiry time was set.
    ApiKeyExpirySet(ApiKeyExpirySet),
}

/// A key was issued; its secret was shown to the caller once and is not recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyIssued {
    /// The key's id.
    pub key_id: Uuid,
    /// The tenant it acts for.
    pub tenant_id: Uuid,
    /// Its label.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// SHA-256 of the secret, hex.
    pub key_hash: String,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
}

/// A key was revoked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyRevoked {
    /// Why, if the caller said.
    pub reason: Option<String>,
    /// When.
    pub revoked_at: DateTime<Utc>,
}

/// A key's expiry time was set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyExpirySet {
    /// When the key stops (or stopped) working.
    pub expires_at: DateTime<Utc>,
    /// When the change was made.
    pub set_at: DateTime<Utc>,
}

impl ApiKeyEvent {
    /// Every event type name.
    pub const TYPES: &'static [&'static str] =
        &["ApiKeyIssued", "ApiKeyRevoked", "ApiKeyExpirySet"];

    /// When the event happened.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            Self::ApiKeyIssued(event) => event.issued_at,
            Self::ApiKeyRevoked(event) => event.revoked_at,
            Self::ApiKeyExpirySet(event) => event.set_at,
        }
    }
}

impl DomainEvent for ApiKeyEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ApiKeyIssued(_) => "ApiKeyIssued",
            Self::ApiKeyRevoked(_) => "ApiKeyRevoked",
            Self::ApiKeyExpirySet(_) => "ApiKeyExpirySet",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// Why the API key aggregate rejected a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiKeyError {
    /// No such key, or it belongs to another tenant.
    #[error("API key not found")]
    NotFound,
    /// A key with this id already exists.
    #[error("API key already exists")]
    AlreadyExists,
    /// The command is not allowed in the key's status.
    #[error("cannot {action} an API key that is {status}")]
    InvalidTransition {
        /// `revoke` or `expire`.
        action: &'static str,
        /// The status that forbids it.
        status: ApiKeyStatus,
    },
    /// One or more fields break a rule.
    #[error("invalid API key fields")]
    Invalid(Vec<FieldError>),
}

/// The state of one API key.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    id: Option<Uuid>,
    tenant_id: Option<Uuid>,
    name: String,
    scopes: Vec<Scope>,
    key_hash: String,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    issued_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// The key's id, or `None` before it is issued.
    pub fn id(&self) -> Option<Uuid> {
        self.id
    }

    /// The tenant it acts for.
    pub fn tenant_id(&self) -> Option<Uuid> {
        self.tenant_id
    }

    /// Its label.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What it may do.
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// SHA-256 of the secret, hex.
    pub fn key_hash(&self) -> &str {
        &self.key_hash
    }

    /// When it stops working, if ever.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    /// When it was revoked, if it was.
    pub fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.revoked_at
    }

    /// Its status at `now`, or `None` before it is issued.
    pub fn status_at(&self, now: DateTime<Utc>) -> Option<ApiKeyStatus> {
        self.id?;
        Some(if self.revoked_at.is_some() {
            ApiKeyStatus::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            ApiKeyStatus::Expired
        } else {
            ApiKeyStatus::Active
        })
    }

    fn decide(&self, command: ApiKeyCommand) -> Result<ApiKeyEvent, ApiKeyError> {
        match command {
            ApiKeyCommand::IssueApiKey {
                tenant_id,
                key_id,
                name,
                scopes,
                key_hash,
                expires_at,
                now,
            } => {
                if self.id.is_some() {
                    return Err(ApiKeyError::AlreadyExists);
                }
                validate_issue(&name, &scopes, &key_hash, expires_at, now)?;
                Ok(ApiKeyEvent::ApiKeyIssued(ApiKeyIssued {
                    key_id,
                    tenant_id,
                    name: name.trim().to_owned(),
                    scopes,
                    key_hash,
                    expires_at,
                    issued_at: now,
                }))
            }
            ApiKeyCommand::RevokeApiKey {
                tenant_id,
                reason,
                now,
            } => {
                let status = self.owned_by(tenant_id, now)?;
                if status == ApiKeyStatus::Revoked {
                    return Err(ApiKeyError::InvalidTransition {
                        action: "revoke",
                        status,
                    });
                }
                if let Some(reason) = &reason {
                    let mut errors = Vec::new();
                    require_max_chars(&mut errors, "reason", reason, MAX_REASON_CHARS);
                    require_free_text(&mut errors, "reason", reason);
                    if !errors.is_empty() {
                        return Err(ApiKeyError::Invalid(errors));
                    }
                }
                Ok(ApiKeyEvent::ApiKeyRevoked(ApiKeyRevoked {
                    reason,
                    revoked_at: now,
                }))
            }
            ApiKeyCommand::ExpireApiKey {
                tenant_id,
                expires_at,
                now,
            } => {
                let status = self.owned_by(tenant_id, now)?;
                if status != ApiKeyStatus::Active {
                    return Err(ApiKeyError::InvalidTransition {
                        action: "expire",
                        status,
                    });
                }
                Ok(ApiKeyEvent::ApiKeyExpirySet(ApiKeyExpirySet {
                    expires_at,
                    set_at: now,
                }))
            }
        }
    }

    fn owned_by(&self, tenant_id: Uuid, now: DateTime<Utc>) -> Result<ApiKeyStatus, ApiKeyError> {
        match (self.tenant_id, self.status_at(now)) {
            (Some(owner), Some(status)) if owner == tenant_id => Ok(status),
            _ => Err(ApiKeyError::NotFound),
        }
    }
}

fn validate_issue(
    name: &str,
    scopes: &[Scope],
    key_hash: &str,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), ApiKeyError> {
    let mut errors = Vec::new();
    require_not_blank(&mut errors, "name", name);
    require_max_chars(&mut errors, "name", name, MAX_NAME_CHARS);
    require_single_line(&mut errors, "name", name);
    if scopes.is_empty() {
        errors.push(FieldError::new("scopes", "must name at least one scope"));
    }
    let mut seen = scopes.to_vec();
    seen.sort();
    seen.dedup();
    if seen.len() != scopes.len() {
        errors.push(FieldError::new("scopes", "must not contain duplicates"));
    }
    let is_hex_digest = key_hash.len() == 64
        && key_hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !is_hex_digest {
        errors.push(FieldError::new(
            "key_hash",
            "must be 64 lowercase hex digits",
        ));
    }
    if expires_at.is_some_and(|at| at <= now) {
        errors.push(FieldError::new("expires_at", "must be in the future"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiKeyError::Invalid(errors))
    }
}

impl Aggregate for ApiKey {
    const TYPE: &'static str = API_KEY_AGGREGATE_TYPE;
    type Command = ApiKeyCommand;
    type Event = ApiKeyEvent;
    type Error = ApiKeyError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let event = self.decide(command)?;
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ApiKeyEvent::ApiKeyIssued(issued) => {
                self.id = Some(issued.key_id);
                self.tenant_id = Some(issued.tenant_id);
                self.name = issued.name;
                self.scopes = issued.scopes;
                self.key_hash = issued.key_hash;
                self.expires_at = issued.expires_at;
                self.issued_at = Some(issued.issued_at);
            }
            ApiKeyEvent::ApiKeyRevoked(revoked) => self.revoked_at = Some(revoked.revoked_at),
            ApiKeyEvent::ApiKeyExpirySet(set) => self.expires_at = Some(set.expires_at),
        }
    }
}

#[cfg(test)]
mod tests;
