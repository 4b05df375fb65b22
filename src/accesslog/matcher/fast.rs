//! A split in one pass for the lines whose split is provably the only one.
//!
//! A line is the format's literals with the field values between them, so its count of `"` is
//! the literals' count plus the values'. When the two counts are equal, no value of any split
//! contains a `"`, and a free-text field can be searched as one without quotes, which ends at
//! the next `"` at the latest. When the line has more quotes, and all of them lie in a
//! last field that cannot start any later (the JSON of the `jwt_authn` claims in the demo's
//! format), the other values of every split contain none either. If, searched that way, every
//! field has exactly one candidate end and the walk takes the whole line, no other split exists
//! and the full search would find this one. Any other line returns `None`, so the full search
//! decides it and reports its errors and ambiguities.
//!
//! NOTE: the full search gives up on a line past its work budget (`MAX_WORK`) even when the split
//! is unique. This path does not count that work, so it accepts such a line where the full
//! search would reject it. On the demo's format the full search stays within the budget for one
//! value of any length up to `MAX_LINE_BYTES` (a test checks several fields), but on a custom
//! format with many free-text fields a long line may exceed it.

use super::words::{find_byte, find_token_stop, starts_with_at};
use super::{MAX_LINE_BYTES, cut_to_max_len, fits, last_token_end, number_end};
use crate::accesslog::fields::Shape;
use crate::accesslog::format::{Field, Segment};

/// Returns the byte span of each field of the only split of `line`, or `None` when this pass
/// cannot prove that there is exactly one. `literal_quotes` is the number of `"` in the literals
/// of `segments`.
pub(crate) fn split_unique(
    segments: &[Segment],
    literal_quotes: usize,
    line: &str,
) -> Option<Vec<(usize, usize)>> {
    if line.len() > MAX_LINE_BYTES {
        return None;
    }
    let excess = count_quotes(line).checked_sub(literal_quotes)?;
    let mut spans = Vec::with_capacity(segments.len());
    let mut pos = 0;
    let mut index = 0;
    while let Some(segment) = segments.get(index) {
        match segment {
            Segment::Literal(literal) => {
                if !starts_with_at(line.as_bytes(), pos, literal.as_bytes()) {
                    return None;
                }
                pos += literal.len();
                index += 1;
            }
            Segment::Field(field) => {
                let next = match segments.get(index + 1) {
                    Some(Segment::Literal(literal)) => Some(literal.as_str()),
                    _ => None,
                };
                let is_last = index + 1 == segments.len();
                let end = unique_end(line, pos, field, next, is_last)?;
                spans.push((pos, end));
                // `unique_end` returns only an end where the next literal starts, so the walk
                // goes on after that literal without comparing it again.
                pos = end + next.map_or(0, str::len);
                index += 1 + usize::from(next.is_some());
            }
        }
    }
    if pos != line.len() {
        return None;
    }
    if excess > 0 && !excess_in_last_field(segments, line, &spans, excess) {
        return None;
    }
    Some(spans)
}

/// Returns the number of `"` in `text`.
pub(crate) fn count_quotes(text: &str) -> usize {
    // A byte-wide count per chunk of at most 255 bytes cannot overflow, and lets the compiler
    // compare and add 16 bytes at a time.
    text.as_bytes()
        .chunks(255)
        .map(|chunk| {
            let count = chunk.iter().fold(0u8, |count, &byte| {
                count.wrapping_add(u8::from(byte == b'"'))
            });
            usize::from(count)
        })
        .sum()
}

/// The bytes at which a bare value's scan must look closer: ASCII whitespace (as
/// [`char::is_whitespace`] has it), braces, and the first byte of a non-ASCII character.
const TOKEN_STOPS: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < table.len() {
        table[byte] = matches!(byte, 0x09..=0x0d | 0x20 | 0x7b | 0x7d | 0x80..);
        byte += 1;
    }
    table
};

/// Returns the end of a value of `field` starting at `start` when it is the only candidate end
/// (see `candidate_ends`), with a free-text field searched as one without quotes. The literal
/// `next`, when there is one, starts at the end returned.
fn unique_end(
    line: &str,
    start: usize,
    field: &Field,
    next: Option<&str>,
    is_last: bool,
) -> Option<usize> {
    let rest = cut_to_max_len(&line[start..], field);
    let end = match field.shape {
        Shape::Number => number_end(rest)?,
        Shape::Token if is_last => last_token_end(rest)?,
        Shape::Token => return unique_token_end(line, start, rest, next?),
        Shape::NoQuote | Shape::Free => return unique_quoteless_end(line, start, rest, next?),
    };
    fits(line, start + end, next, is_last).then_some(start + end)
}

/// Returns the only end, within `text` (the part of the line from `start` that the field may
/// take), of a bare value followed by `literal`. It follows `token_ends`, and gives up on a `{`
/// that is never closed, where `token_ends` starts again without the braces.
fn unique_token_end(line: &str, start: usize, text: &str, literal: &str) -> Option<usize> {
    let first = *literal.as_bytes().first()?;
    let bytes = line.as_bytes();
    let limit = start + text.len();
    let mut depth = 0usize;
    let mut ends = UniqueEnd::default();
    let mut index = start;
    loop {
        // Skip the plain characters, which neither end the value nor change the braces.
        index = find_token_stop(bytes, index, limit, first);
        let Some(&byte) = bytes[..limit].get(index) else {
            break;
        };
        if !TOKEN_STOPS[usize::from(byte)] && byte != first {
            // The search also stops at `|`, `~`, DEL and control characters, which are plain.
            index += 1;
            continue;
        }
        // The value may end before this character when the braces before it are closed. The
        // line's byte here is `byte`, so most places fail on it before the whole literal.
        if index > start
            && depth == 0
            && byte == first
            && starts_with_at(bytes, index, literal.as_bytes())
        {
            ends.add(index)?;
        }
        let (whitespace, width) = if byte.is_ascii() {
            (char::from(byte).is_whitespace(), 1)
        } else {
            let c = line[index..].chars().next()?;
            (c.is_whitespace(), c.len_utf8())
        };
        if whitespace && depth == 0 {
            return ends.0;
        }
        match byte {
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        index += width;
    }
    if depth > 0 {
        return None;
    }
    if index > start && fits(line, index, Some(literal), false) {
        ends.add(index)?;
    }
    ends.0
}

/// The one candidate end found so far.
#[derive(Default)]
struct UniqueEnd(Option<usize>);

impl UniqueEnd {
    /// Records a candidate end, and returns `None` when it is the second.
    fn add(&mut self, end: usize) -> Option<()> {
        if self.0.is_some() {
            return None;
        }
        self.0 = Some(end);
        Some(())
    }
}

/// Returns the only end of a value without quotes followed by `literal`, within `rest` (the part
/// of the line from `start` that the field may take).
fn unique_quoteless_end(line: &str, start: usize, rest: &str, literal: &str) -> Option<usize> {
    if literal.is_empty() {
        return None;
    }
    let bytes = line.as_bytes();
    let region_end = find_byte(bytes, start, start + rest.len(), b'"');
    if literal.starts_with('"') {
        // No `"` comes before `region_end`, so the literal can start only there.
        return starts_with_at(bytes, region_end, literal.as_bytes()).then_some(region_end);
    }
    // The literal may start anywhere up to the first `"`, and reach past it.
    let first = literal.as_bytes()[0];
    let limit = region_end + 1;
    let mut ends = UniqueEnd::default();
    let mut at = start;
    loop {
        at = find_byte(bytes, at, limit, first);
        if at >= limit.min(bytes.len()) {
            return ends.0;
        }
        if starts_with_at(bytes, at, literal.as_bytes()) {
            ends.add(at)?;
        }
        at += 1;
    }
}

/// Returns whether the `excess` quotes of `line` beyond the literals' all lie in the value of the
/// last field, and whether that field can start nowhere later. Then every split's last value
/// contains all of them and its other values none.
fn excess_in_last_field(
    segments: &[Segment],
    line: &str,
    spans: &[(usize, usize)],
    excess: usize,
) -> bool {
    let [.., Segment::Literal(literal), Segment::Field(_)] = segments else {
        return false;
    };
    let Some(&(start, _)) = spans.last() else {
        return false;
    };
    if count_quotes(&line[start..]) != excess {
        return false;
    }
    // Another split's last value starts after another occurrence of the literal before it. An
    // occurrence that starts earlier gives a longer value, with at least as many quotes.
    let mut from = start + 1 - literal.len();
    while !line.is_char_boundary(from) {
        from += 1;
    }
    !line[from..].contains(literal.as_str())
}

#[cfg(test)]
mod tests {
    use super::TOKEN_STOPS;

    #[test]
    fn token_stops_match_whitespace() {
        for byte in 0..=0x7fu8 {
            let c = char::from(byte);
            let expected = c.is_whitespace() || c == '{' || c == '}';
            assert_eq!(TOKEN_STOPS[usize::from(byte)], expected, "byte {byte:#04x}");
        }
        for byte in 0x80..=0xffu8 {
            assert!(TOKEN_STOPS[usize::from(byte)], "byte {byte:#04x}");
        }
    }
}
