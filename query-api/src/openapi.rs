//! The router and its OpenAPI 3.1 document.

use axum::Router;
use eventstore::web::Problem;
use eventstore::web::openapi::{BearerAuth, into_app};
use eventstore::web::ops::Dependencies;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::memories::{self, recall};
use crate::{
    AppState, agents, api_keys, audit, billing, events, invocations, runs, tools, webhooks,
};

#[derive(OpenApi)]
#[openapi(
    info(license(name = "Apache-2.0", identifier = "Apache-2.0"), title = "AgentOS query API", version = "1", description = "Reads from AgentOS read models. Send a command's consistency token as `X-Consistency-Token` to read your own write."),
    components(schemas(Problem, domain::FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "agents", description = "Agent read models"),
        (name = "api-keys", description = "API keys of the caller's tenant (scope `admin`)"),
        (name = "memories", description = "An agent's memories: current content, revision history, ranked recall (scope `memory:read`)"),
        (name = "tools", description = "Tools with all their versions, and tool invocations with their outcomes (scope `tools:read`)"),
        (name = "events", description = "The tenant's events as Server-Sent Events (scope `audit:read`)"),
        (name = "webhooks", description = "Webhook subscriptions and their delivery logs (scope `admin`)"),
        (name = "billing", description = "The caller's billing account, usage, invoices and ledger (scope `billing:read`). Money is in integer micro-units."),
        (name = "audit", description = "Event history, correlations and point-in-time state from the event store (scope `audit:read`)"),
        (name = "runs", description = "Runs with their steps, an agent's runs, and a run's events as Server-Sent Events (scope `runs:read`)"),
    )
)]
struct ApiDoc;

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(agents::list_agents))
        .routes(routes!(agents::get_agent))
        .routes(routes!(agents::get_agent_status))
        .routes(routes!(api_keys::list_api_keys))
        .routes(routes!(api_keys::get_api_key))
        .routes(routes!(memories::get_memory))
        .routes(routes!(memories::get_memory_history))
        .routes(routes!(memories::list_memories))
        .routes(routes!(recall::search_memories))
        .routes(routes!(recall::recent_memories))
        .routes(routes!(tools::list_tools))
        .routes(routes!(tools::get_tool))
        .routes(routes!(tools::get_tool_version))
        .routes(routes!(invocations::list_invocations))
        .routes(routes!(invocations::get_invocation))
        .routes(routes!(events::stream_events))
        .routes(routes!(webhooks::list_webhooks))
        .routes(routes!(webhooks::get_webhook))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(billing::get_account))
        .routes(routes!(billing::get_usage))
        .routes(routes!(billing::list_invoices))
        .routes(routes!(billing::get_invoice))
        .routes(routes!(billing::get_ledger))
        .routes(routes!(audit::list_audit_events))
        .routes(routes!(audit::list_correlated_events))
        .routes(routes!(audit::get_aggregate_state))
        .routes(routes!(runs::get_run))
        .routes(routes!(runs::list_agent_runs))
        .routes(routes!(runs::events::run_events))
}

/// The query API's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

/// The whole app: reads, `/openapi.json`, `/docs`, health and metrics.
pub fn router(state: AppState, dependencies: Dependencies) -> Router {
    into_app(api_router(), state, dependencies)
}
