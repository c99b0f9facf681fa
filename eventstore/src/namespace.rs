//! Names of everything the platform creates in NATS, derived from one namespace so tests
//! (and side-by-side deployments) never see each other's streams or subjects.

/// A namespace such as `agentos`: stream `AGENTOS_EVENTS`, subjects `agentos.events.>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace(String);

impl Namespace {
    /// Accepts lowercase ASCII letters, digits and `_`, starting with a letter.
    pub fn new(name: impl Into<String>) -> Result<Self, String> {
        let name = name.into();
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if valid && name.len() <= 48 {
            Ok(Self(name))
        } else {
            Err(format!(
                "namespace `{name}` must be 1-48 lowercase letters, digits or `_`, starting with a letter"
            ))
        }
    }

    /// The namespace itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JetStream stream that holds every event.
    pub fn stream(&self) -> String {
        format!("{}_EVENTS", self.0.to_ascii_uppercase())
    }

    /// The prefix of every event subject.
    pub fn subject_prefix(&self) -> String {
        format!("{}.events", self.0)
    }

    /// `<prefix>.<tenant>.<aggregate_type>.<aggregate_id>`.
    pub fn event_subject(&self, tenant: &str, aggregate_type: &str, aggregate_id: &str) -> String {
        format!("{}.events.{tenant}.{aggregate_type}.{aggregate_id}", self.0)
    }

    /// A filter for every event of one aggregate type, across tenants.
    pub fn aggregate_type_filter(&self, aggregate_type: &str) -> String {
        format!("{}.events.*.{aggregate_type}.*", self.0)
    }

    /// A filter for one tenant's events, narrowed to an aggregate type, one aggregate, or
    /// both: `<prefix>.<tenant>.<aggregate_type or *>.<aggregate_id or *>`, or
    /// `<prefix>.<tenant>.>` when neither is given.
    pub fn tenant_filter(
        &self,
        tenant: &str,
        aggregate_type: Option<&str>,
        aggregate_id: Option<&str>,
    ) -> String {
        match (aggregate_type, aggregate_id) {
            (None, None) => format!("{}.events.{tenant}.>", self.0),
            (aggregate_type, aggregate_id) => self.event_subject(
                tenant,
                aggregate_type.unwrap_or("*"),
                aggregate_id.unwrap_or("*"),
            ),
        }
    }

    /// The JetStream stream that holds the signed audit checkpoints.
    pub fn audit_stream(&self) -> String {
        format!("{}_AUDIT", self.0.to_ascii_uppercase())
    }

    /// The subject signed audit checkpoints are published on (outside `<ns>.events.>`).
    pub fn audit_checkpoint_subject(&self) -> String {
        format!("{}.audit.checkpoints", self.0)
    }

    /// Core-NATS subject that wakes the relay after an append commits.
    pub fn relay_wake_subject(&self) -> String {
        format!("{}.internal.relay.wake", self.0)
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self("agentos".to_owned())
    }
}

impl std::fmt::Display for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_the_designed_names_for_the_default_namespace() {
        let ns = Namespace::default();
        assert_eq!(ns.stream(), "AGENTOS_EVENTS");
        assert_eq!(
            ns.event_subject("t", "agent", "a"),
            "agentos.events.t.agent.a"
        );
        assert_eq!(
            ns.aggregate_type_filter("agent"),
            "agentos.events.*.agent.*"
        );
        assert_eq!(ns.audit_stream(), "AGENTOS_AUDIT");
        assert_eq!(ns.audit_checkpoint_subject(), "agentos.audit.checkpoints");
        assert!(
            !ns.audit_checkpoint_subject()
                .starts_with(&format!("{}.", ns.subject_prefix()))
        );
    }

    #[test]
    fn narrows_a_tenants_filter_by_aggregate_type_and_id() {
        let ns = Namespace::default();
        assert_eq!(ns.tenant_filter("t", None, None), "agentos.events.t.>");
        assert_eq!(
            ns.tenant_filter("t", Some("agent"), None),
            "agentos.events.t.agent.*"
        );
        assert_eq!(
            ns.tenant_filter("t", None, Some("a1")),
            "agentos.events.t.*.a1"
        );
        assert_eq!(
            ns.tenant_filter("t", Some("agent"), Some("a1")),
            "agentos.events.t.agent.a1"
        );
    }

    #[test]
    fn rejects_names_that_would_break_subjects() {
        assert!(Namespace::new("a.b").is_err());
        assert!(Namespace::new("").is_err());
        assert!(Namespace::new("Upper").is_err());
        assert!(Namespace::new("t_0abc").is_ok());
    }
}
