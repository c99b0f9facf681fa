//! The checked-in contract: a JSON Schema per event type, the CloudEvents envelope, and
//! both OpenAPI documents, generated from the code. A test fails when they drift.

use std::path::{Path, PathBuf};

use domain::agent::{
    AGENT_AGGREGATE_TYPE, AgentArchived, AgentConfigUpdated, AgentCreated, AgentPaused,
    AgentPausedV1, AgentResumed,
};
use domain::api_key::{API_KEY_AGGREGATE_TYPE, ApiKeyExpirySet, ApiKeyIssued, ApiKeyRevoked};
use domain::billing::{
    BILLING_ACCOUNT_AGGREGATE_TYPE, BillingAccountOpened, CreditsGranted, InvoiceIssued,
    QuotaExceeded, QuotaRemoved, QuotaSet, UsageRecorded,
};
use domain::memory::{MEMORY_AGGREGATE_TYPE, MemoryForgotten, MemoryRecorded, MemoryRevised};
use domain::run::{
    MemoryWriteRecorded, ModelCallCompleted, ModelCallFailed, ModelCallStarted, RUN_AGGREGATE_TYPE,
    RunCancelled, RunCompleted, RunFailed, RunLeaseAcquired, RunLeaseExpired, RunLeaseReleased,
    RunStarted, RunTimedOut, ToolCallApproved, ToolCallCompleted, ToolCallFailed, ToolCallRejected,
    ToolCallRequested, ToolInvocationRecorded,
};
use domain::tenant::{TENANT_AGGREGATE_TYPE, TenantCreated};
use domain::tool::{
    TOOL_AGGREGATE_TYPE, ToolDeprecated, ToolDisabled, ToolRegistered, ToolVersionPublished,
};
use domain::tool_invocation::{
    InvocationFailed, InvocationRequested, InvocationStarted, InvocationSucceeded,
    InvocationTimedOut, TOOL_INVOCATION_AGGREGATE_TYPE,
};
use domain::webhook::{
    WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE, WebhookSubscriptionCreated, WebhookSubscriptionDeleted,
    WebhookSubscriptionFailing, WebhookSubscriptionPaused, WebhookSubscriptionRecovered,
    WebhookSubscriptionResumed,
};
use eventstore::CloudEvent;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

/// One generated file, relative to the schemas directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaFile {
    pub path: PathBuf,
    pub content: String,
}

/// Every event type in every version still in the store: (aggregate type, event type,
/// version, schema). An old version keeps its schema: stored events are never rewritten,
/// so subscribers still receive them as they were.
pub fn event_schemas() -> Vec<(&'static str, String, &'static str, Value)> {
    vec![
        event::<AgentCreated>(AGENT_AGGREGATE_TYPE, "1"),
        event::<AgentConfigUpdated>(AGENT_AGGREGATE_TYPE, "1"),
        older_event::<AgentPausedV1>(AGENT_AGGREGATE_TYPE, "AgentPaused", "1"),
        event::<AgentPaused>(AGENT_AGGREGATE_TYPE, "2"),
        event::<AgentResumed>(AGENT_AGGREGATE_TYPE, "1"),
        event::<AgentArchived>(AGENT_AGGREGATE_TYPE, "1"),
        event::<TenantCreated>(TENANT_AGGREGATE_TYPE, "1"),
        event::<ApiKeyIssued>(API_KEY_AGGREGATE_TYPE, "1"),
        event::<ApiKeyRevoked>(API_KEY_AGGREGATE_TYPE, "1"),
        event::<ApiKeyExpirySet>(API_KEY_AGGREGATE_TYPE, "1"),
        event::<MemoryRecorded>(MEMORY_AGGREGATE_TYPE, "1"),
        event::<MemoryRevised>(MEMORY_AGGREGATE_TYPE, "1"),
        event::<MemoryForgotten>(MEMORY_AGGREGATE_TYPE, "1"),
        event::<ToolRegistered>(TOOL_AGGREGATE_TYPE, "1"),
        event::<ToolVersionPublished>(TOOL_AGGREGATE_TYPE, "1"),
        event::<ToolDeprecated>(TOOL_AGGREGATE_TYPE, "1"),
        event::<ToolDisabled>(TOOL_AGGREGATE_TYPE, "1"),
        event::<InvocationRequested>(TOOL_INVOCATION_AGGREGATE_TYPE, "1"),
        event::<InvocationStarted>(TOOL_INVOCATION_AGGREGATE_TYPE, "1"),
        event::<InvocationSucceeded>(TOOL_INVOCATION_AGGREGATE_TYPE, "1"),
        event::<InvocationFailed>(TOOL_INVOCATION_AGGREGATE_TYPE, "1"),
        event::<InvocationTimedOut>(TOOL_INVOCATION_AGGREGATE_TYPE, "1"),
        event::<WebhookSubscriptionCreated>(WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE, "1"),
        event::<WebhookSubscriptionPaused>(WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE, "1"),
        event::<WebhookSubscriptionResumed>(WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE, "1"),
        event::<WebhookSubscriptionFailing>(WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE, "1"),
        event::<WebhookSubscriptionRecovered>(WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE, "1"),
        event::<WebhookSubscriptionDeleted>(WEBHOOK_SUBSCRIPTION_AGGREGATE_TYPE, "1"),
        event::<BillingAccountOpened>(BILLING_ACCOUNT_AGGREGATE_TYPE, "1"),
        event::<CreditsGranted>(BILLING_ACCOUNT_AGGREGATE_TYPE, "1"),
        event::<UsageRecorded>(BILLING_ACCOUNT_AGGREGATE_TYPE, "1"),
        event::<QuotaExceeded>(BILLING_ACCOUNT_AGGREGATE_TYPE, "1"),
        event::<QuotaSet>(BILLING_ACCOUNT_AGGREGATE_TYPE, "1"),
        event::<QuotaRemoved>(BILLING_ACCOUNT_AGGREGATE_TYPE, "1"),
        event::<InvoiceIssued>(BILLING_ACCOUNT_AGGREGATE_TYPE, "1"),
        event::<RunStarted>(RUN_AGGREGATE_TYPE, "1"),
        event::<RunLeaseAcquired>(RUN_AGGREGATE_TYPE, "1"),
        event::<RunLeaseReleased>(RUN_AGGREGATE_TYPE, "1"),
        event::<RunLeaseExpired>(RUN_AGGREGATE_TYPE, "1"),
        event::<ModelCallStarted>(RUN_AGGREGATE_TYPE, "1"),
        event::<ModelCallCompleted>(RUN_AGGREGATE_TYPE, "1"),
        event::<ModelCallFailed>(RUN_AGGREGATE_TYPE, "1"),
        event::<ToolCallRequested>(RUN_AGGREGATE_TYPE, "1"),
        event::<ToolCallApproved>(RUN_AGGREGATE_TYPE, "1"),
        event::<ToolCallRejected>(RUN_AGGREGATE_TYPE, "1"),
        event::<ToolInvocationRecorded>(RUN_AGGREGATE_TYPE, "1"),
        event::<ToolCallCompleted>(RUN_AGGREGATE_TYPE, "1"),
        event::<ToolCallFailed>(RUN_AGGREGATE_TYPE, "1"),
        event::<MemoryWriteRecorded>(RUN_AGGREGATE_TYPE, "1"),
        event::<RunCompleted>(RUN_AGGREGATE_TYPE, "1"),
        event::<RunFailed>(RUN_AGGREGATE_TYPE, "1"),
        event::<RunCancelled>(RUN_AGGREGATE_TYPE, "1"),
        event::<RunTimedOut>(RUN_AGGREGATE_TYPE, "1"),
    ]
}

fn event<T: ToSchema>(
    aggregate_type: &'static str,
    version: &'static str,
) -> (&'static str, String, &'static str, Value) {
    older_event::<T>(aggregate_type, &T::name(), version)
}

/// The schema of `T`, a type kept only to describe an older version of event `name`.
fn older_event<T: ToSchema>(
    aggregate_type: &'static str,
    name: &str,
    version: &'static str,
) -> (&'static str, String, &'static str, Value) {
    let name = name.to_owned();
    let id = format!("https://agentos.dev/schemas/events/{aggregate_type}/{name}.v{version}.json");
    (
        aggregate_type,
        name.clone(),
        version,
        json_schema::<T>(&id, &name),
    )
}

/// A standalone JSON Schema (2020-12) of `T`, its dependencies under `$defs`.
pub fn json_schema<T: ToSchema>(id: &str, title: &str) -> Value {
    let mut dependencies = Vec::new();
    T::schemas(&mut dependencies);
    let mut document = Map::new();
    document.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    document.insert("$id".into(), json!(id));
    document.insert("title".into(), json!(title));
    if let Ok(Value::Object(root)) = serde_json::to_value(T::schema()) {
        document.extend(root);
    }
    if !dependencies.is_empty() {
        let defs: Map<String, Value> = dependencies
            .into_iter()
            .map(|(name, schema)| (name, serde_json::to_value(schema).unwrap_or(Value::Null)))
            .collect();
        document.insert("$defs".into(), Value::Object(defs));
    }
    let text = Value::Object(document)
        .to_string()
        .replace("#/components/schemas/", "#/$defs/");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Every file the schemas directory should hold.
pub fn generate() -> Vec<SchemaFile> {
    let mut files: Vec<SchemaFile> = event_schemas()
        .into_iter()
        .map(|(aggregate_type, name, version, schema)| SchemaFile {
            path: PathBuf::from(format!("events/{aggregate_type}/{name}.v{version}.json")),
            content: pretty(&schema),
        })
        .collect();
    files.push(SchemaFile {
        path: PathBuf::from("events/cloudevent.json"),
        content: pretty(&json_schema::<CloudEvent>(
            "https://agentos.dev/schemas/events/cloudevent.json",
            "AgentOS CloudEvent",
        )),
    });
    for (name, document) in [
        ("command-api", command_api::openapi()),
        ("query-api", query_api::openapi()),
    ] {
        files.push(SchemaFile {
            path: PathBuf::from(format!("openapi/{name}.json")),
            content: pretty(&serde_json::to_value(document).unwrap_or(Value::Null)),
        });
    }
    files
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes every generated file under `dir`; returns how many.
pub fn write(dir: &Path) -> std::io::Result<usize> {
    let files = generate();
    for file in &files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, &file.content)?;
    }
    Ok(files.len())
}

/// The files under `dir` that differ from the code, are missing, or are left over.
pub fn check(dir: &Path) -> std::io::Result<Vec<String>> {
    let files = generate();
    let mut drifted = Vec::new();
    for file in &files {
        let on_disk = std::fs::read_to_string(dir.join(&file.path)).unwrap_or_default();
        if on_disk != file.content {
            drifted.push(file.path.display().to_string());
        }
    }
    for subdir in ["events", "openapi"] {
        for path in walk(&dir.join(subdir))? {
            let relative = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
            if path.extension().is_some_and(|e| e == "json")
                && !files.iter().any(|f| f.path == relative)
            {
                drifted.push(format!("{} (no longer generated)", relative.display()));
            }
        }
    }
    Ok(drifted)
}

fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    if !dir.exists() {
        return Ok(found);
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(walk(&path)?);
        } else {
            found.push(path);
        }
    }
    Ok(found)
}
