//! Read-your-writes: wait (bounded) until the read model includes a command's write.

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use eventstore::ConsistencyToken;
use eventstore::web::Problem;
use uuid::Uuid;

use crate::AppState;

/// Header carrying the token a command returned.
pub const CONSISTENCY_TOKEN_HEADER: &str = "x-consistency-token";

const FIRST_POLL: Duration = Duration::from_millis(2);
const LONGEST_POLL: Duration = Duration::from_millis(25);

/// Whether the token's write is in the event store under this tenant (asked once, when
/// the read model is not there yet, so a token of another tenant fails fast).
async fn write_exists(
    state: &AppState,
    tenant_id: Uuid,
    token: &ConsistencyToken,
) -> Result<bool, Problem> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM events
                         WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3
                           AND tenant_id = $4)",
    )
    .bind(&token.aggregate_type)
    .bind(&token.aggregate_id)
    .bind(i64::try_from(token.version).unwrap_or(i64::MAX))
    .bind(tenant_id)
    .fetch_one(&state.pool)
    .await
    .map_err(|err| Problem::internal(&err))
}

/// Returns once the read model has caught up with the request's consistency token (if
/// any); a 503 with `Retry-After` when it has not within the state's bound.
pub async fn wait_for_token(
    state: &AppState,
    tenant_id: Uuid,
    headers: &HeaderMap,
) -> Result<(), Problem> {
    let Some(value) = headers.get(CONSISTENCY_TOKEN_HEADER) else {
        return Ok(());
    };
    let token = value
        .to_str()
        .ok()
        .and_then(ConsistencyToken::decode)
        .ok_or_else(|| {
            Problem::invalid_field(
                "X-Consistency-Token",
                "not a token returned by the command API",
            )
        })?;
    let Ok(aggregate_id) = Uuid::parse_str(&token.aggregate_id) else {
        return Err(Problem::invalid_field(
            "X-Consistency-Token",
            "names no resource",
        ));
    };
    if projections::versions::version_table(&token.aggregate_type).is_none() {
        return Err(Problem::invalid_field(
            "X-Consistency-Token",
            format!("tokens for `{}` are not served here", token.aggregate_type),
        ));
    }
    let deadline = Instant::now() + state.consistency_wait;
    let mut pause = FIRST_POLL;
    loop {
        let version = projections::versions::read_model_version(
            &state.pool,
            &token.aggregate_type,
            tenant_id,
            aggregate_id,
        )
        .await
        .map_err(|err| Problem::internal(&err))?
        .unwrap_or_default();
        if version >= token.version {
            return Ok(());
        }
        if pause == FIRST_POLL && !write_exists(state, tenant_id, &token).await? {
            return Err(Problem::invalid_field(
                "X-Consistency-Token",
                "names a write this tenant never made",
            ));
        }
        let now = Instant::now();
        if now >= deadline {
            metrics::counter!("agentos_consistency_wait_timeouts_total").increment(1);
            return Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not-yet-consistent",
                format!(
                    "the read model has not caught up with that write within {} ms; retry",
                    state.consistency_wait.as_millis()
                ),
            )
            .with_retry_after(1));
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(LONGEST_POLL);
    }
}
