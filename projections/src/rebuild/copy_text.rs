//! PostgreSQL's COPY text format: tab-separated columns, `\N` for NULL, and backslash
//! escapes for backslash, tab, newline and carriage return.

use std::borrow::Cow;

/// Appends `text` escaped as one COPY text column.
pub fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// One column as COPY wrote it, unescaped (borrowed when it holds no escape).
pub fn unescape(column: &str) -> Cow<'_, str> {
    if !column.contains('\\') {
        return Cow::Borrowed(column);
    }
    let mut out = String::with_capacity(column.len());
    let mut chars = column.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('v') => out.push('\u{b}'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_unescaping_round_trip() {
        let text = "a\\b\tc\nd\re \"quoted\\n\"";
        let mut escaped = String::new();
        escape(text, &mut escaped);
        assert!(!escaped.contains('\t') && !escaped.contains('\n'));
        assert_eq!(unescape(&escaped), text);
        assert!(matches!(unescape("plain"), Cow::Borrowed("plain")));
    }
}
