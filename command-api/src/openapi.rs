//! The router and its OpenAPI 3.1 document.

use axum::Router;
use eventstore::web::Problem;
use eventstore::web::openapi::{BearerAuth, into_app};
use eventstore::web::ops::Dependencies;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{AppState, agents, api_keys, billing, invocations, memories, runs, tools, webhooks};

#[derive(OpenApi)]
#[openapi(
    info(license(name = "Apache-2.0", identifier = "Apache-2.0"), title = "AgentOS command API", version = "1", description = "Commands that change AgentOS state. Every accepted command appends events; the response carries a consistency token for the query API."),
    components(schemas(Problem, domain::FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "agents", description = "Agent lifecycle and configuration"),
        (name = "api-keys", description = "API keys of the caller's tenant (scope `admin`)"),
        (name = "memories", description = "An agent's memories: recorded, revised, forgotten for good (scope `memory:write`)"),
        (name = "tools", description = "Tools agents call, in numbered versions, and requests to call them (scopes `tools:write`, `tools:invoke`)"),
        (name = "webhooks", description = "Webhook subscriptions of the caller's tenant and redelivery (scope `admin`)"),
        (name = "billing", description = "The caller's billing account: credits, quotas, invoices (scope `billing:write`). Usage is recorded from the events that cause it; a command that would consume a meter whose quota is used up answers 402 `quota-exceeded`."),
        (name = "runs", description = "Runs of agents: start, cancel, approve or reject tool calls (scope `runs:write`)"),
    )
)]
struct ApiDoc;

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(agents::create_agent))
        .routes(routes!(agents::update_agent_config))
        .routes(routes!(agents::pause_agent))
        .routes(routes!(agents::resume_agent))
        .routes(routes!(agents::archive_agent))
        .routes(routes!(api_keys::issue_api_key))
        .routes(routes!(api_keys::revoke_api_key))
        .routes(routes!(api_keys::expire_api_key))
        .routes(routes!(memories::record_memory))
        .routes(routes!(memories::revise_memory))
        .routes(routes!(memories::forget_memory))
        .routes(routes!(tools::register_tool))
        .routes(routes!(tools::publish_tool_version))
        .routes(routes!(tools::deprecate_tool))
        .routes(routes!(tools::disable_tool))
        .routes(routes!(invocations::request_invocation))
        .routes(routes!(webhooks::create_webhook))
        .routes(routes!(webhooks::pause_webhook))
        .routes(routes!(webhooks::resume_webhook))
        .routes(routes!(webhooks::delete_webhook))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(billing::grant_credits))
        .routes(routes!(billing::set_quota, billing::remove_quota))
        .routes(routes!(billing::close_period))
        .routes(routes!(runs::start_run))
        .routes(routes!(runs::cancel_run))
        .routes(routes!(runs::approve_tool_call))
}

/// The command API's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

/// The whole app: commands, `/openapi.json`, `/docs`, health and metrics.
pub fn router(state: AppState, dependencies: Dependencies) -> Router {
    into_app(api_router(), state, dependencies)
}
