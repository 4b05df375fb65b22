//! The one-pass split as it was before the scans over words, kept unchanged as the oracle
//! that the differential tests compare `split_unique` against, with copies of the helpers it
//! shared with the full search that have changed since.

use super::super::{MAX_LINE_BYTES, count_quotes, cut_to_max_len, last_token_end};
use crate::accesslog::fields::Shape;
use crate::accesslog::format::{Field, Segment};

/// Returns the byte span of each field of the only split of `line`, or `None` when this pass
/// cannot prove that there is exactly one. `literal_quotes` is the number of `"` in the literals
/// of `segments`.
pub(super) fn split_unique(
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
    for (index, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Literal(literal) => {
                if !line[pos..].starts_with(literal.as_str()) {
                    return None;
                }
                pos += literal.len();
            }
            Segment::Field(field) => {
                let next = match segments.get(index + 1) {
                    Some(Segment::Literal(literal)) => Some(literal.as_str()),
                    _ => None,
                };
                let is_last = index + 1 == segments.len();
                let end = unique_end(line, pos, field, next, is_last)?;
                spans.push((pos, end));
                pos = end;
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
/// (see `candidate_ends`), with a free-text field searched as one without quotes.
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
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut ends = UniqueEnd::default();
    let mut index = 0;
    while index < bytes.len() {
        // Skip the plain characters, which neither end the value nor change the braces.
        let plain = bytes[index..]
            .iter()
            .position(|&byte| TOKEN_STOPS[usize::from(byte)] || byte == first);
        index += plain.unwrap_or(bytes.len() - index);
        let Some(&byte) = bytes.get(index) else {
            break;
        };
        // The value may end before this character when the braces before it are closed. The
        // line's byte here is `byte`, so most places fail on it before the whole literal.
        if index > 0 && depth == 0 && byte == first && line[start + index..].starts_with(literal) {
            ends.add(start + index)?;
        }
        let (whitespace, width) = if byte.is_ascii() {
            (char::from(byte).is_whitespace(), 1)
        } else {
            let c = text[index..].chars().next()?;
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
    if index > 0 && fits(line, start + index, Some(literal), false) {
        ends.add(start + index)?;
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
    let region_len = rest
        .bytes()
        .position(|byte| byte == b'"')
        .unwrap_or(rest.len());
    if literal.starts_with('"') {
        // No `"` comes before `region_len`, so the literal can start only there.
        let end = start + region_len;
        return line[end..].starts_with(literal).then_some(end);
    }
    let mut ends = UniqueEnd::default();
    let mut unique = true;
    literal_starts(&line[start..], region_len, literal, |index| {
        unique = ends.add(start + index).is_some();
        unique
    });
    if unique { ends.0 } else { None }
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

/// Returns whether a field value may end at byte `end` of `line`: at the line's end when the field
/// is last, and where `next` starts when a literal follows.
fn fits(line: &str, end: usize, next: Option<&str>, is_last: bool) -> bool {
    // The first byte is compared before the whole literal: most ends fail there.
    (!is_last || end == line.len())
        && next.is_none_or(|literal| {
            literal.is_empty()
                || line.as_bytes().get(end) == literal.as_bytes().first()
                    && line[end..].starts_with(literal)
        })
}

/// Calls `visit`, in increasing order, with each byte offset up to `region_len` where `literal`
/// (not empty) starts in `rest`, until `visit` returns false.
fn literal_starts(
    rest: &str,
    region_len: usize,
    literal: &str,
    mut visit: impl FnMut(usize) -> bool,
) {
    let reach = (region_len + literal.len()).min(rest.len());
    let mut window = reach;
    while !rest.is_char_boundary(window) {
        window += 1;
    }
    // Overlapping matches count too: in `a" " "b` the literal `" "` starts at 1 and 3.
    let haystack = &rest[..window];
    let first = literal.chars().next().unwrap_or_default();
    let mut from = 0;
    // Looking for the literal's first character and then comparing is much cheaper than
    // a substring search started again after every match.
    while let Some(found) = haystack[from..].find(first) {
        let index = from + found;
        if index > region_len {
            break;
        }
        if haystack[index..].starts_with(literal) && !visit(index) {
            break;
        }
        from = index + first.len_utf8();
    }
}

fn number_end(text: &str) -> Option<usize> {
    if text.starts_with('-') {
        return Some(1);
    }
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    (digits > 0).then_some(digits)
}
