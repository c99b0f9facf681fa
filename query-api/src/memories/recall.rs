//! Recall: ranked full-text search over an agent's memories (Postgres), and its most recent
//! memories (Redis).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use domain::api_key::Scope;
use domain::memory::MemoryKind;
use eventstore::web::{Authenticated, Problem, QueryParams, UuidPath};
use projections::memories::{self, MemorySearch, SearchResults};
use projections::memories_redis::{RECENT_PER_AGENT, RecentMemories};
use serde::Deserialize;

use super::{limit_param, require_agent};
use crate::AppState;
use crate::consistency::wait_for_token;

const MAX_QUERY_CHARS: usize = 500;
const MAX_TAGS: usize = 32;
const MAX_TAG_CHARS: usize = 64;

/// `GET /v1/agents/{id}/memories/search` query parameters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchMemoriesParams {
    /// Required: 1 to 500 characters, no control characters. Web-search syntax: words,
    /// `"quoted phrases"`, `or`, `-excluded`.
    #[param(required = true)]
    pub q: Option<String>,
    /// Only memories of this kind.
    pub kind: Option<MemoryKind>,
    /// Comma-separated; every one must be on a hit.
    pub tags: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<i64>,
}

/// `GET /v1/agents/{id}/memories/recent` query parameters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RecentMemoriesParams {
    /// 1 to 50, default 10.
    pub limit: Option<i64>,
}

#[utoipa::path(
    get, path = "/v1/agents/{id}/memories/search", tag = "memories",
    params(
        ("id" = uuid::Uuid, Path, description = "Agent id"),
        SearchMemoriesParams,
        ("X-Consistency-Token" = Option<String>, Header, description = "Wait until this write is visible"),
    ),
    responses(
        (status = 200, description = "Best first; an empty list when nothing matches", body = SearchResults),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// Recalls an agent's memories matching `q`, best first.
///
/// Matching uses Postgres full text (`websearch_to_tsquery('english', q)` against the
/// content, English stemming), served by a GIN index. Each hit's score, from 0 to 1, is
///
/// `0.6 · r / (r + 1) + 0.25 · importance + 0.15 · 0.5^(age_days / 30)`
///
/// where `r` is `ts_rank_cd` (cover density: how many query terms occur and how close
/// together) and `age_days` is the time since the memory's last revision, so recency halves
/// every 30 days. Ties go to the newer memory. Forgotten memories have no content and never
/// match.
pub async fn search_memories(
    State(state): State<AppState>,
    auth: Authenticated,
    UuidPath(agent_id): UuidPath,
    QueryParams(params): QueryParams<SearchMemoriesParams>,
    headers: HeaderMap,
) -> Result<Json<SearchResults>, Problem> {
    let principal = auth.require(Scope::MemoryRead)?;
    let search = MemorySearch {
        agent_id,
        query: query_param(params.q)?,
        kind: params.kind,
        tags: tags_param(params.tags.as_deref())?,
        limit: limit_param(params.limit, 20, 100)?,
    };
    wait_for_token(&state, principal.tenant_id, &headers).await?;
    require_agent(&state, &principal, agent_id).await?;
    memories::search_memories(&state.pool, principal.tenant_id, &search)
        .await
        .map(Json)
        .map_err(|err| Problem::internal(&err))
}

fn query_param(q: Option<String>) -> Result<String, Problem> {
    let Some(q) = q else {
        return Err(Problem::invalid_field("q", "is required"));
    };
    if q.trim().is_empty() {
        return Err(Problem::invalid_field("q", "must not be empty"));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(Problem::invalid_field(
            "q",
            format!("must be at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    // Postgres text cannot hold NUL at all; the other control characters are never useful.
    if q.chars().any(char::is_control) {
        return Err(Problem::invalid_field(
            "q",
            "must not contain control characters",
        ));
    }
    Ok(q)
}

/// The comma-separated tags, each as tags are recorded: 1 to 64 characters, no control
/// characters, at most 32 of them.
fn tags_param(tags: Option<&str>) -> Result<Vec<String>, Problem> {
    let Some(tags) = tags else {
        return Ok(Vec::new());
    };
    let tags: Vec<String> = tags.split(',').map(str::to_owned).collect();
    if tags.len() > MAX_TAGS {
        return Err(Problem::invalid_field(
            "tags",
            format!("must name at most {MAX_TAGS} tags"),
        ));
    }
    for tag in &tags {
        if tag.trim().is_empty() || tag.chars().count() > MAX_TAG_CHARS {
            return Err(Problem::invalid_field(
                "tags",
                format!("each tag must be 1 to {MAX_TAG_CHARS} characters"),
            ));
        }
        if tag.chars().any(char::is_control) {
            return Err(Problem::invalid_field(
                "tags",
                "must not contain control characters",
            ));
        }
    }
    Ok(tags)
}

#[utoipa::path(
    get, path = "/v1/agents/{id}/memories/recent", tag = "memories",
    params(("id" = uuid::Uuid, Path, description = "Agent id"), RecentMemoriesParams),
    responses(
        (status = 200, description = "Most recently recorded or revised first, from the hot (Redis) read model", body = RecentMemories),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
/// An agent's most recently recorded or revised memories, from the hot read model (which
/// keeps the latest 50 per agent and may trail a write by a moment).
pub async fn recent_memories(
    State(state): State<AppState>,
    auth: Authenticated,
    UuidPath(agent_id): UuidPath,
    QueryParams(params): QueryParams<RecentMemoriesParams>,
) -> Result<Json<RecentMemories>, Problem> {
    let principal = auth.require(Scope::MemoryRead)?;
    let most = i64::try_from(RECENT_PER_AGENT).unwrap_or(i64::MAX);
    let limit = limit_param(params.limit, 10, most)?;
    require_agent(&state, &principal, agent_id).await?;
    let items = state
        .memory_cache
        .recent(
            principal.tenant_id,
            agent_id,
            usize::try_from(limit).unwrap_or_default(),
        )
        .await
        .map_err(|err| Problem::internal(&err))?;
    Ok(Json(RecentMemories { items }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(problem: Problem) -> String {
        problem.errors[0].field.clone()
    }

    #[test]
    fn a_query_is_required_not_blank_short_and_free_of_control_characters() {
        assert_eq!(query_param(Some("refunds".into())).unwrap(), "refunds");
        assert_eq!(query_param(Some("q".repeat(500))).unwrap().len(), 500);
        for bad in [
            None,
            Some(String::new()),
            Some("  ".into()),
            Some("q".repeat(501)),
        ] {
            assert_eq!(field(query_param(bad).unwrap_err()), "q");
        }
        for control in ["a\0b", "a\nb", "a\tb", "a\u{7f}b"] {
            assert_eq!(field(query_param(Some(control.into())).unwrap_err()), "q");
        }
    }

    #[test]
    fn tags_are_comma_separated_and_each_follows_the_tag_rules() {
        assert_eq!(tags_param(None).unwrap(), Vec::<String>::new());
        assert_eq!(tags_param(Some("a,b c")).unwrap(), ["a", "b c"]);
        let many = vec!["t"; 33].join(",");
        let long = "t".repeat(65);
        for bad in [
            "",
            "a,,b",
            " ",
            many.as_str(),
            long.as_str(),
            "a\0",
            "a\u{1b}",
        ] {
            assert_eq!(field(tags_param(Some(bad)).unwrap_err()), "tags", "{bad:?}");
        }
        assert_eq!(
            tags_param(Some(&vec!["t"; 32].join(","))).unwrap().len(),
            32
        );
    }

    #[test]
    fn limits_default_and_stay_in_range() {
        assert_eq!(limit_param(None, 20, 100).unwrap(), 20);
        assert_eq!(limit_param(Some(1), 20, 100).unwrap(), 1);
        assert_eq!(limit_param(Some(100), 20, 100).unwrap(), 100);
        for bad in [0, -1, 101] {
            assert_eq!(field(limit_param(Some(bad), 20, 100).unwrap_err()), "limit");
        }
    }
}
