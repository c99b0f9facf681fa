//! The tenant aggregate: an organisation that owns agents, keys and a billing account.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::FieldError;
use crate::rules::{require_max_chars, require_not_blank, require_single_line};

/// The aggregate type under which tenant events are stored.
pub const TENANT_AGGREGATE_TYPE: &str = "tenant";

const MAX_NAME_CHARS: usize = 100;

/// A request to change a tenant.
#[derive(Debug, Clone, PartialEq)]
pub enum TenantCommand {
    /// Create a tenant.
    CreateTenant {
        /// The id chosen by the caller.
        tenant_id: Uuid,
        /// Display name, 1 to 100 characters, one line.
        name: String,
        /// When the command was accepted.
        now: DateTime<Utc>,
    },
}

/// Something that happened to a tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub enum TenantEvent {
    /// The tenant was created.
    TenantCreated(TenantCreated),
}

/// A tenant was created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TenantCreated {
    /// The new tenant's id.
    pub tenant_id: Uuid,
    /// Its display name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl TenantEvent {
    /// Every event type name.
    pub const TYPES: &'static [&'static str] = &["TenantCreated"];
}

impl DomainEvent for TenantEvent {
    fn event_type(&self) -> String {
        match self {
            Self::TenantCreated(_) => "TenantCreated".to_owned(),
        }
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

/// Why the tenant aggregate rejected a command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TenantError {
    /// A tenant with this id already exists.
    #[error("tenant already exists")]
    AlreadyExists,
    /// One or more fields break a rule.
    #[error("invalid tenant fields")]
    Invalid(Vec<FieldError>),
}

/// The state of one tenant.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    id: Option<Uuid>,
    name: String,
    created_at: Option<DateTime<Utc>>,
}

impl Tenant {
    /// The tenant's id, or `None` before it is created.
    pub fn id(&self) -> Option<Uuid> {
        self.id
    }

    /// The display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the tenant has been created.
    pub fn exists(&self) -> bool {
        self.id.is_some()
    }

    fn decide(&self, command: TenantCommand) -> Result<TenantEvent, TenantError> {
        match command {
            TenantCommand::CreateTenant {
                tenant_id,
                name,
                now,
            } => {
                if self.exists() {
                    return Err(TenantError::AlreadyExists);
                }
                let mut errors = Vec::new();
                require_not_blank(&mut errors, "name", &name);
                require_max_chars(&mut errors, "name", &name, MAX_NAME_CHARS);
                require_single_line(&mut errors, "name", &name);
                if !errors.is_empty() {
                    return Err(TenantError::Invalid(errors));
                }
                Ok(TenantEvent::TenantCreated(TenantCreated {
                    tenant_id,
                    name: name.trim().to_owned(),
                    created_at: now,
                }))
            }
        }
    }
}

impl Aggregate for Tenant {
    const TYPE: &'static str = TENANT_AGGREGATE_TYPE;
    type Command = TenantCommand;
    type Event = TenantEvent;
    type Error = TenantError;
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
            TenantEvent::TenantCreated(created) => {
                self.id = Some(created.tenant_id);
                self.name = created.name;
                self.created_at = Some(created.created_at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;

    use super::*;

    const TENANT: Uuid = Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0001);

    fn at(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
    }

    fn create(name: &str) -> TenantCommand {
        TenantCommand::CreateTenant {
            tenant_id: TENANT,
            name: name.to_owned(),
            now: at(0),
        }
    }

    fn created() -> TenantEvent {
        TenantEvent::TenantCreated(TenantCreated {
            tenant_id: TENANT,
            name: "acme".to_owned(),
            created_at: at(0),
        })
    }

    #[test]
    fn creates_a_tenant_with_a_trimmed_name() {
        TestFramework::<Tenant>::with(())
            .given_no_previous_events()
            .when(create("  acme "))
            .then_expect_events(vec![created()]);
    }

    #[test]
    fn rejects_creating_a_tenant_twice() {
        TestFramework::<Tenant>::with(())
            .given(vec![created()])
            .when(create("acme"))
            .then_expect_error(TenantError::AlreadyExists);
    }

    #[test]
    fn rejects_a_blank_or_multi_line_name() {
        TestFramework::<Tenant>::with(())
            .given_no_previous_events()
            .when(create(" "))
            .then_expect_error(TenantError::Invalid(vec![FieldError::new(
                "name",
                "must not be empty",
            )]));
        TestFramework::<Tenant>::with(())
            .given_no_previous_events()
            .when(create("a\nb"))
            .then_expect_error(TenantError::Invalid(vec![FieldError::new(
                "name",
                "must not contain control characters",
            )]));
    }

    #[test]
    fn rejects_a_name_of_101_characters() {
        TestFramework::<Tenant>::with(())
            .given_no_previous_events()
            .when(create(&"n".repeat(101)))
            .then_expect_error(TenantError::Invalid(vec![FieldError::new(
                "name",
                "must be at most 100 characters",
            )]));
    }
}
