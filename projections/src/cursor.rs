//! Cursor pagination over rows keyed by UUIDv7 ids: opaque cursors, and cutting a page
//! read with one row more than its limit.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// The opaque cursor after `id`.
pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// The id a cursor points after; `None` for garbage.
pub fn decode_cursor(cursor: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// Cuts `rows`, read with `limit + 1` as their limit, to `limit`; returns the cursor of
/// the next page (after the last row kept) when there is one.
pub fn next_page<T>(rows: &mut Vec<T>, limit: i64, id: impl Fn(&T) -> Uuid) -> Option<String> {
    let limit = usize::try_from(limit).unwrap_or_default();
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(|last| encode_cursor(id(last)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_none() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)), Some(id));
        assert_eq!(decode_cursor("nope"), None);
    }

    #[test]
    fn a_page_is_cut_to_its_limit_with_a_cursor_only_when_more_rows_follow() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let mut rows = ids.clone();
        assert_eq!(
            next_page(&mut rows, 2, |id| *id),
            Some(encode_cursor(ids[1]))
        );
        assert_eq!(rows, ids[..2]);
        let mut rows = ids.clone();
        assert_eq!(next_page(&mut rows, 3, |id| *id), None);
        assert_eq!(rows, ids);
    }
}
