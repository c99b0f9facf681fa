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
    info(title = "AgentOS query API", version = "1", description = "Reads from AgentOS read models. Send a command's consistency token as `X-Consistency-Token` to read your own write."),
    components(schemas(Problem, domain::FieldError)),
    modifiers(&BearerAuth),
    tags((name = "agents", description = "Agent read models"))
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
        .routes(routes!(agents::list_agents))
        .routes(routes!(agents::get_agent))
        .routes(routes!(agents::get_agent_status))
}

/// The query API's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

/// The whole app: reads, `/openapi.json`, `/docs`, health and metrics.
pub fn router(state: AppState, dependencies: Dependencies) -> Router {
    let (routes, api) = api_router().with_state(state).split_for_parts();
    let routes = routes.merge(SwaggerUi::new("/docs").url("/openapi.json", api));
    stack::finish(routes, dependencies)
}
