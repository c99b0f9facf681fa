//! OpenAPI glue both APIs share: the bearer scheme and serving the document.

use axum::Router;
use utoipa::Modify;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use super::ops::Dependencies;
use super::stack;

/// Adds the `api_key` bearer security scheme the operations refer to.
#[derive(Debug)]
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// An API's routes with its state, `/openapi.json`, the `/docs` page and the shared stack.
pub fn into_app<S>(api: OpenApiRouter<S>, state: S, dependencies: Dependencies) -> Router
where
    S: Clone + Send + Sync + 'static,
{
    let (routes, document) = api.with_state(state).split_for_parts();
    let routes = routes.merge(SwaggerUi::new("/docs").url("/openapi.json", document));
    stack::finish(routes, dependencies)
}
