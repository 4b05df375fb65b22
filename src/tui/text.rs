//! Word wrapping and padding for views that lay out their own columns.

use ratatui::text::{Line, Span};

/// Splits `text` into lines of at most `width` characters, breaking at spaces where it can and
/// inside words longer than a line (SPIFFE ids, fingerprints). Always returns at least one line.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let word_len = word.chars().count();
        let current_len = current.chars().count();
        if current_len > 0 && current_len + 1 + word_len <= width {
            current.push(' ');
            current.push_str(word);
            continue;
        }
        if current_len > 0 {
            lines.push(std::mem::take(&mut current));
        }
        let mut chars: Vec<char> = word.chars().collect();
        while chars.len() > width {
            lines.push(chars.drain(..width).collect());
        }
        current = chars.into_iter().collect();
    }
    lines.push(current);
    lines
}

/// Pads or cuts `line` to exactly `width` columns.
pub fn pad(line: Line<'static>, width: usize) -> Line<'static> {
    let mut spans = Vec::new();
    let mut used = 0;
    for span in line.spans {
        let room = width.saturating_sub(used);
        if room == 0 {
            break;
        }
        let text: String = span.content.chars().take(room).collect();
        used += text.chars().count();
        spans.push(Span::styled(text, span.style));
    }
    if used < width {
        spans.push(Span::raw(" ".repeat(width - used)));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_cases() {
        let cases: [(&str, usize, &[&str]); 4] = [
            ("short", 10, &["short"]),
            ("one two three", 7, &["one two", "three"]),
            ("abcdefghij", 4, &["abcd", "efgh", "ij"]),
            ("", 5, &[""]),
        ];
        for (text, width, expected) in cases {
            assert_eq!(wrap(text, width), expected, "{text:?} at {width}");
        }
    }

    #[test]
    fn pad_fills_width() {
        let line = pad(Line::from("ab"), 5);
        assert_eq!(line.width(), 5);
    }

    #[test]
    fn pad_cuts_width() {
        let line = pad(Line::from(vec![Span::raw("abc"), Span::raw("def")]), 4);
        assert_eq!(line.to_string(), "abcd");
    }
}
