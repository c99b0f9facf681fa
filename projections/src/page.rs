//! Cursor pagination shared by the list queries: fetch one row more than the page holds,
//! and if it came, the page has a successor that starts after its last row.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// The opaque cursor after the row with UUIDv7 `id`.
pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// The id a cursor points after; `None` for garbage.
pub fn decode_cursor(cursor: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    Uuid::from_slice(&bytes).ok()
}

/// Cuts `rows` (fetched with `LIMIT limit + 1`) to `limit` and returns the cursor of the
/// next page, made by `cursor_of` from the page's last row, when there is one.
pub fn split_page<T>(
    mut rows: Vec<T>,
    limit: i64,
    cursor_of: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or_default();
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(cursor_of);
    (rows, next)
}

/// The opaque cursor after the row at store `position`.
pub fn encode_position_cursor(position: i64) -> String {
    URL_SAFE_NO_PAD.encode(position.to_be_bytes())
}

/// The store position a cursor points after; `None` for garbage.
pub fn decode_position_cursor(cursor: &str) -> Option<i64> {
    let bytes: [u8; 8] = URL_SAFE_NO_PAD.decode(cursor).ok()?.try_into().ok()?;
    Some(i64::from_be_bytes(bytes)).filter(|position| *position >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_page_with_one_row_more_has_a_successor() {
        let (rows, next) = split_page(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!(rows, [1, 2]);
        assert_eq!(next.as_deref(), Some("2"));
        let (rows, next) = split_page(vec![1, 2], 2, |n| n.to_string());
        assert_eq!(rows, [1, 2]);
        assert_eq!(next, None);
    }

    #[test]
    fn a_cursor_round_trips_and_garbage_is_none() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)), Some(id));
        assert_eq!(decode_cursor("nope"), None);
    }

    #[test]
    fn position_cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(
            decode_position_cursor(&encode_position_cursor(42)),
            Some(42)
        );
        assert_eq!(decode_position_cursor("not a cursor"), None);
        assert_eq!(decode_position_cursor(&encode_position_cursor(-1)), None);
        assert_eq!(decode_position_cursor("AAAA"), None);
    }
}
