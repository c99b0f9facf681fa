//! Streaming the event history as NDJSON: pages read with a keyset over the commit order
//! and written as they come, so a response of any length holds one page in memory.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use eventstore::StoreError;
use eventstore::audit::history::{self, AuditCursor, AuditFilter, AuditRecord};
use eventstore::web::Problem;
use sqlx::PgPool;

/// The media type of the audit streams.
pub const NDJSON: &str = "application/x-ndjson";

const PAGE: i64 = 500;

struct Pages {
    pool: PgPool,
    filter: AuditFilter,
    cursor: AuditCursor,
    remaining: i64,
    first: Option<Vec<AuditRecord>>,
    exhausted: bool,
}

/// Up to `limit` events matching `filter` after `cursor`, one JSON object a line. The
/// first page is read before answering, so a failing store is a 500, not a cut stream.
pub async fn stream_events(
    pool: PgPool,
    filter: AuditFilter,
    cursor: AuditCursor,
    limit: i64,
) -> Result<Response, Problem> {
    let want = limit.min(PAGE);
    let first = history::read_page(&pool, &filter, cursor, want)
        .await
        .map_err(|err| Problem::internal(&err))?;
    let pages = Pages {
        pool,
        filter,
        cursor,
        remaining: limit,
        first: Some(first),
        exhausted: false,
    };
    let body = futures::stream::try_unfold(pages, next_page);
    let mut response = Body::from_stream(body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    Ok(response)
}

async fn next_page(mut pages: Pages) -> Result<Option<(Bytes, Pages)>, StoreError> {
    if pages.remaining <= 0 || pages.exhausted {
        return Ok(None);
    }
    let want = pages.remaining.min(PAGE);
    let page = match pages.first.take() {
        Some(page) => page,
        None => history::read_page(&pages.pool, &pages.filter, pages.cursor, want)
            .await
            .inspect_err(|err| tracing::error!(%err, "audit stream cut short"))?,
    };
    pages.exhausted = i64::try_from(page.len()).unwrap_or(i64::MAX) < want;
    let Some(last) = page.last() else {
        return Ok(None);
    };
    pages.cursor = AuditCursor::decode(&last.cursor).unwrap_or(pages.cursor);
    pages.remaining -= i64::try_from(page.len()).unwrap_or(i64::MAX);
    let mut lines = Vec::with_capacity(page.len() * 1024);
    for record in &page {
        serde_json::to_writer(&mut lines, record)?;
        lines.push(b'\n');
    }
    Ok(Some((Bytes::from(lines), pages)))
}
