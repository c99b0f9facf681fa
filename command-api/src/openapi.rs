//! The router and its OpenAPI 3.1 document.

use axum::Router;
use eventstore::web::ops::Dependencies;
use eventstore::web::{Problem, stack};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::{AppState, agents};

#[derive(OpenApi)]
#[openapi(
    info(title = "AgentOS command API", version = "1", description = "Commands that change AgentOS state. Every accepted command appends events; the response carries a consistency token for the query API."),
    components(schemas(Problem, domain::FieldError)),
    modifiers(&BearerAuth),
    tags((name = "agents", description = "Agent lifecycle and configuration"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(agents::create_agent))
        .routes(routes!(agents::update_agent_config))
        .routes(routes!(agents::pause_agent))
        .routes(routes!(agents::resume_agent))
        .routes(routes!(agents::archive_agent))
}

/// The command API's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

/// The whole app: commands, `/openapi.json`, `/docs`, health and metrics.
pub fn router(state: AppState, dependencies: Dependencies) -> Router {
    let (routes, api) = api_router().with_state(state).split_for_parts();
    let routes = routes.merge(SwaggerUi::new("/docs").url("/openapi.json", api));
    stack::finish(routes, dependencies)
}
