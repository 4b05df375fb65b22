//! Splitting a line into the fields of a compiled format.
//!
//! Envoy writes header values unescaped, so a `"` inside a quoted field looks like the field's end.
//! The matcher therefore tries every candidate end of each field, keeps only splits that consume
//! the whole line, and reports a line that splits in two different ways as ambiguous.

mod fast;
mod words;

pub(crate) use fast::{count_quotes, split_unique};

use super::ParseError;
use super::fields::Shape;
use super::format::{Field, Segment};
use crate::redact::excerpt;

/// Maximum work on one line, counted as bytes scanned for candidate ends plus states tried.
/// Past it the line is rejected rather than searched further, which bounds the time spent on a
/// hostile line (a long run of `" "` in a user agent would otherwise take quadratic time). A
/// well-formed line costs about its length once per free-text quoted field (two in Istio's
/// format), so every line up to [`MAX_LINE_BYTES`] fits.
const MAX_WORK: usize = 2_000_000;

/// Maximum length of a TEXT line. Envoy limits request headers to 60 KiB by default
/// (`max_request_headers_kb`), and the header-derived fields are most of a line.
pub(crate) const MAX_LINE_BYTES: usize = 256 * 1024;

/// A line that did not match, with how far matching got (used to pick the closest format).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mismatch {
    /// Byte offset in the line of the furthest failure.
    pub(crate) progress: usize,
    /// Index of the segment that failed there.
    pub(crate) segment: usize,
    pub(crate) error: ParseError,
}

/// Returns the byte span of each field of the one split of `line` that matches `segments`.
pub(crate) fn split(segments: &[Segment], line: &str) -> Result<Vec<(usize, usize)>, Mismatch> {
    if line.len() > MAX_LINE_BYTES {
        return Err(too_long(segments, line));
    }
    let mut search = Search {
        segments,
        line,
        failed: FailedStates::new(segments.len(), line.len()),
        work: 0,
        furthest: None,
        current: Vec::with_capacity(segments.len()),
        ends: Vec::new(),
        solutions: Vec::new(),
    };
    search.walk(0, 0);
    let exhausted = search.work > MAX_WORK;
    let mut solutions = std::mem::take(&mut search.solutions);
    match (solutions.len(), exhausted) {
        (1, false) => Ok(solutions.remove(0)),
        (2.., _) => Err(search.ambiguity(&solutions[0], &solutions[1])),
        _ => Err(search.failure(exhausted)),
    }
}

/// The set of (segment, position) states known to lead to no complete split, as one bit per state.
/// A line up to [`MAX_LINE_BYTES`] with a few dozen segments needs a few MiB at most, and a
/// typical line a few KiB, which is cheaper than hashing every state.
struct FailedStates {
    bits: Vec<u64>,
    /// Positions per segment: the line's length plus one.
    stride: usize,
}

impl FailedStates {
    fn new(segments: usize, line_len: usize) -> Self {
        let stride = line_len + 1;
        Self {
            bits: vec![0; (segments * stride).div_ceil(64)],
            stride,
        }
    }

    fn contains(&self, segment: usize, pos: usize) -> bool {
        let index = segment * self.stride + pos;
        self.bits
            .get(index / 64)
            .is_some_and(|word| word & (1 << (index % 64)) != 0)
    }

    fn insert(&mut self, segment: usize, pos: usize) {
        let index = segment * self.stride + pos;
        if let Some(word) = self.bits.get_mut(index / 64) {
            *word |= 1 << (index % 64);
        }
    }
}

/// Rejects a line longer than [`MAX_LINE_BYTES`]. It counts as an access log line only when it
/// starts like one.
fn too_long(segments: &[Segment], line: &str) -> Mismatch {
    let starts_like_format = match segments.first() {
        Some(Segment::Literal(literal)) => line.starts_with(literal.as_str()),
        _ => true,
    };
    let field = segments
        .iter()
        .find_map(|segment| match segment {
            Segment::Field(field) => Some(field.display_name()),
            Segment::Literal(_) => None,
        })
        .unwrap_or_default();
    Mismatch {
        progress: 0,
        segment: if starts_like_format {
            segments.len()
        } else {
            0
        },
        error: ParseError::Malformed {
            field,
            reason: format!(
                "the line is {} bytes, longer than the {MAX_LINE_BYTES} bytes accepted for a TEXT line; log this proxy in the JSON encoding",
                line.len()
            ),
        },
    }
}

struct Search<'a> {
    segments: &'a [Segment],
    line: &'a str,
    /// States known to lead to no complete split.
    failed: FailedStates,
    work: usize,
    /// (position, segment) of the furthest failure seen.
    furthest: Option<(usize, usize)>,
    current: Vec<(usize, usize)>,
    /// The candidate ends of the fields being tried, one run per level of the search, so that
    /// no level allocates its own list.
    ends: Vec<usize>,
    solutions: Vec<Vec<(usize, usize)>>,
}

impl Search<'_> {
    fn done(&self) -> bool {
        self.solutions.len() >= 2 || self.work > MAX_WORK
    }

    /// Matches `segments[segment..]` against `line[pos..]` and returns whether a split was found.
    fn walk(&mut self, segment: usize, pos: usize) -> bool {
        if segment == self.segments.len() {
            if pos == self.line.len() {
                self.solutions.push(self.current.clone());
                return true;
            }
            self.note_failure(segment, pos);
            return false;
        }
        if self.failed.contains(segment, pos) {
            return false;
        }
        self.work += 1;
        if self.done() {
            return false;
        }
        let found = match &self.segments[segment] {
            Segment::Literal(literal) => {
                if self.line[pos..].starts_with(literal.as_str()) {
                    self.walk(segment + 1, pos + literal.len())
                } else {
                    self.note_failure(segment, pos);
                    false
                }
            }
            Segment::Field(field) => self.walk_field(segment, field, pos),
        };
        if !found {
            self.failed.insert(segment, pos);
        }
        found
    }

    fn walk_field(&mut self, segment: usize, field: &Field, pos: usize) -> bool {
        let next = match self.segments.get(segment + 1) {
            Some(Segment::Literal(literal)) => Some(literal.as_str()),
            _ => None,
        };
        let is_last = segment + 1 == self.segments.len();
        let base = self.ends.len();
        let longest = candidate_ends(self.line, pos, field, next, is_last, &mut self.ends);
        let top = self.ends.len();
        self.work += longest - pos;
        if top == base {
            if longest > pos || next.is_none() {
                // No end of this field is followed by the next literal: report the literal where
                // the longest value stops, which is where a reader would look.
                self.note_failure(segment + 1, longest);
            } else {
                self.note_failure(segment, pos);
            }
            return false;
        }
        let mut found = false;
        // Deeper levels push their ends above `top` and remove them before they return.
        for index in base..top {
            let end = self.ends[index];
            self.current.push((pos, end));
            found |= self.walk(segment + 1, end);
            self.current.pop();
            if self.done() {
                break;
            }
        }
        self.ends.truncate(base);
        found
    }

    /// Keeps the failure that got through the most segments, and of those the one furthest in the
    /// line. A free field stretched over most of the line can fail further in bytes with fewer
    /// fields matched, and naming where the natural split stops is what leads a reader to the fault.
    fn note_failure(&mut self, segment: usize, pos: usize) {
        if self.furthest.is_none_or(|(furthest, furthest_segment)| {
            (segment, pos) > (furthest_segment, furthest)
        }) {
            self.furthest = Some((pos, segment));
        }
    }

    /// Names the field at or after `segment`, or the last field before it when none follows.
    fn field_name(&self, segment: usize) -> String {
        let after = self.segments.iter().skip(segment);
        let before = self.segments.iter().take(segment).rev();
        after
            .chain(before)
            .find_map(|segment| match segment {
                Segment::Field(field) => Some(field.display_name()),
                Segment::Literal(_) => None,
            })
            .unwrap_or_default()
    }

    fn failure(&self, exhausted: bool) -> Mismatch {
        let (pos, segment) = self.furthest.unwrap_or((0, 0));
        // A literal that fails inside the line means the field before it ran into text it cannot
        // contain. A literal that fails at the end of the line means the fields after it are missing.
        let named = match (
            segment.checked_sub(1).map(|i| &self.segments[i]),
            &self.segments.get(segment),
        ) {
            (Some(Segment::Field(field)), Some(Segment::Literal(_))) if pos < self.line.len() => {
                field.display_name()
            }
            _ => self.field_name(segment),
        };
        let text = if pos >= self.line.len() {
            "end of line".to_string()
        } else {
            format!("\"{}\"", excerpt(&self.line[pos..], 40))
        };
        let reason = if exhausted {
            format!("the line splits in too many ways to check (stopped near {text})")
        } else {
            match self.segments.get(segment) {
                Some(Segment::Literal(literal)) => format!("expected \"{literal}\" at {text}"),
                Some(Segment::Field(field)) => {
                    format!("expected {} at {text}", describe(field))
                }
                None => format!("unexpected text after the last field at {text}"),
            }
        };
        Mismatch {
            progress: pos,
            segment,
            error: ParseError::Malformed {
                field: named,
                reason,
            },
        }
    }

    fn ambiguity(&self, first: &[(usize, usize)], second: &[(usize, usize)]) -> Mismatch {
        let fields = self
            .segments
            .iter()
            .filter_map(|segment| match segment {
                Segment::Field(field) => Some(field),
                Segment::Literal(_) => None,
            })
            .zip(first.iter().zip(second))
            .filter(|(_, (a, b))| a != b)
            .map(|(field, _)| field.display_name())
            .collect();
        Mismatch {
            progress: self.line.len(),
            segment: self.segments.len(),
            error: ParseError::Ambiguous { fields },
        }
    }
}

/// Describes the values `field` accepts, for a message about a line that does not fit.
fn describe(field: &Field) -> String {
    let shape = match field.shape {
        Shape::Number => "a number or \"-\"",
        Shape::Token => "a value without spaces",
        Shape::NoQuote => "a value without quotes",
        Shape::Free => "a value",
    };
    match field.max_len {
        Some(max) => format!("{shape} of at most {max} characters"),
        None => shape.to_owned(),
    }
}

/// Appends to `out`, in increasing order, the byte offsets where a value of `field` starting at
/// `start` could end and be followed by `next`, and returns the end of the longest value the shape
/// allows.
fn candidate_ends(
    line: &str,
    start: usize,
    field: &Field,
    next: Option<&str>,
    is_last: bool,
    out: &mut Vec<usize>,
) -> usize {
    let rest = cut_to_max_len(&line[start..], field);
    let base = out.len();
    match field.shape {
        Shape::Number => out.extend(number_end(rest)),
        Shape::Token if is_last => out.extend(last_token_end(rest)),
        Shape::Token => token_ends(rest, out),
        Shape::NoQuote => {
            let stop = rest.find('"').unwrap_or(rest.len());
            free_ends(&line[start..], &rest[..stop], next, out);
        }
        Shape::Free => free_ends(&line[start..], rest, next, out),
    }
    let longest = if out.len() > base {
        out[out.len() - 1]
    } else {
        0
    };
    // Keep, as absolute offsets, the ends that end the line when the field is last and that the
    // next literal follows.
    let mut kept = base;
    for index in base..out.len() {
        let end = out[index];
        if fits(line, start + end, next, is_last) {
            out[kept] = start + end;
            kept += 1;
        }
    }
    out.truncate(kept);
    start + longest
}

/// Returns the part of `rest` that a value of `field` may take: at most its maximum length in
/// characters, when the format gives one.
#[inline]
fn cut_to_max_len<'a>(rest: &'a str, field: &Field) -> &'a str {
    match field.max_len {
        Some(max) => {
            let limit = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
            &rest[..limit]
        }
        None => rest,
    }
}

/// Returns whether a field value may end at byte `end` of `line`: at the line's end when the field
/// is last, and where `next` starts when a literal follows.
fn fits(line: &str, end: usize, next: Option<&str>, is_last: bool) -> bool {
    (!is_last || end == line.len())
        && next
            .is_none_or(|literal| words::starts_with_at(line.as_bytes(), end, literal.as_bytes()))
}

/// Appends the ends of a value that may contain anything within `region`, a prefix of `rest`.
/// When a literal follows, only the places where it starts (even past the region's end by its
/// length) count.
fn free_ends(rest: &str, region: &str, next: Option<&str>, out: &mut Vec<usize>) {
    match next {
        Some(literal) if !literal.is_empty() => {
            literal_starts(rest, region.len(), literal, |index| {
                out.push(index);
                true
            });
        }
        _ => char_ends(region, true, out),
    }
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
        if words::starts_with_at(haystack.as_bytes(), index, literal.as_bytes()) && !visit(index) {
            break;
        }
        from = index + first.len_utf8();
    }
}

/// Appends every char boundary of `text` (0 included when `allow_empty`).
fn char_ends(text: &str, allow_empty: bool, out: &mut Vec<usize>) {
    if allow_empty {
        out.push(0);
    }
    out.extend(text.char_indices().map(|(i, _)| i).skip(1));
    if !text.is_empty() {
        out.push(text.len());
    }
}

fn number_end(text: &str) -> Option<usize> {
    if text.starts_with('-') {
        return Some(1);
    }
    let digits = text
        .bytes()
        .position(|byte| !byte.is_ascii_digit())
        .unwrap_or(text.len());
    (digits > 0).then_some(digits)
}

/// Ends of a bare value: a run without whitespace, except that whitespace inside balanced `{…}`
/// belongs to the value. Envoy before the underscore change logged `jwt_authn` details with spaces,
/// e.g. `jwt_authn_access_denied{Jwt is expired}`, and only the braces delimit them.
fn token_ends(text: &str, out: &mut Vec<usize>) {
    let base = out.len();
    let mut depth = 0usize;
    for (index, c) in text.char_indices() {
        if c.is_whitespace() && depth == 0 {
            return;
        }
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth == 0 {
            out.push(index + c.len_utf8());
        }
    }
    if depth == 0 {
        return;
    }
    // An unclosed `{`: the braces delimit nothing, so fall back to the plain run.
    out.truncate(base);
    let run = text.find(char::is_whitespace).unwrap_or(text.len());
    char_ends(&text[..run], false, out);
}

/// End of a bare value that ends the format: the rest of the line. It may contain spaces only
/// when it is JSON (the `jwt_authn` payload), so an older format without the extra fields does
/// not swallow them into its last field.
fn last_token_end(text: &str) -> Option<usize> {
    let json = text.starts_with('{') || text.starts_with('[');
    (!text.is_empty() && (json || !text.contains(char::is_whitespace))).then_some(text.len())
}

#[cfg(test)]
mod tests;
