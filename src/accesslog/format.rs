//! Envoy `%OPERATOR%` format strings compiled into a matcher for the lines they produce.

use super::fields::{self, Shape, Target, closing_delimiter};
use super::matcher;
use super::observe::ObservedFields;
use super::{AccessLogEntry, ParseError};
use crate::redact::excerpt;

/// Errors from compiling a format string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error(
        "invalid access log format: the operator starting at byte {at} (\"{text}\") has no closing `%`; close it or write `%%` for a literal percent sign"
    )]
    Unterminated { at: usize, text: String },
    #[error(
        "invalid access log format: \"{text}\" at byte {at} is not an operator; operators are upper-case names like `%RESPONSE_CODE%`, and `%%` is a literal percent sign"
    )]
    InvalidOperator { at: usize, text: String },
    #[error(
        "invalid access log format: the maximum length in \"{operator}\" is not a number; write it as `%REQ(HEADER):N%`"
    )]
    InvalidMaxLength { operator: String },
    #[error(
        "invalid access log format: \"{0}\" contains no `%OPERATOR%`; give the proxy's accessLogFormat"
    )]
    NoOperator(String),
}

/// A compiled access log format.
#[derive(Debug, Clone, PartialEq)]
pub struct Format {
    pub(crate) segments: Vec<Segment>,
    /// The number of `"` in the literals, which every line of this format contains at least.
    pub(crate) literal_quotes: usize,
    source: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Segment {
    Literal(String),
    Field(Field),
}

/// One operator of a format, with what it fills and what its values may look like.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Field {
    /// The operator as written without its `%` signs, e.g. `REQ(AUTHORIZATION):7`.
    pub(crate) operator: String,
    /// The operator without its maximum length, the key for [`AccessLogEntry::extra`].
    pub(crate) key: String,
    pub(crate) target: Target,
    pub(crate) shape: Shape,
    /// `:N` of `%OP(ARG):N%`: Envoy cuts the value to at most N characters.
    pub(crate) max_len: Option<usize>,
}

impl Field {
    /// Returns the operator as it appears in a format string, e.g. `%ROUTE_NAME%`.
    pub(crate) fn display_name(&self) -> String {
        format!("%{}%", self.operator)
    }
}

impl Format {
    /// Compiles an Envoy format string: literals, `%OP%`, `%OP(ARG)%`, `%OP(ARG):N%` and `%%`.
    pub fn compile(format: &str) -> Result<Self, FormatError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = format;
        while let Some(percent) = rest.find('%') {
            literal.push_str(&rest[..percent]);
            let at = format.len() - rest.len() + percent;
            let after = &rest[percent + 1..];
            if let Some(tail) = after.strip_prefix('%') {
                literal.push('%');
                rest = tail;
                continue;
            }
            let (operator, tail) = split_operator(after, at)?;
            if !literal.is_empty() {
                segments.push(Segment::Literal(std::mem::take(&mut literal)));
            }
            segments.push(Segment::Field(operator));
            rest = tail;
        }
        literal.push_str(rest);
        let literal = literal.trim_end_matches(['\n', '\r']).to_string();
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        if !segments.iter().any(|s| matches!(s, Segment::Field(_))) {
            return Err(FormatError::NoOperator(excerpt(format, 60)));
        }
        assign_shapes(&mut segments);
        let literal_quotes = segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(text) => matcher::count_quotes(text),
                Segment::Field(_) => 0,
            })
            .sum();
        Ok(Self {
            segments,
            literal_quotes,
            source: format.to_string(),
        })
    }

    /// Returns the format string this was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Matches a whole line against this format and fills an entry from its fields.
    pub fn parse(&self, line: &str) -> Result<AccessLogEntry, ParseError> {
        self.try_parse(line).map_err(|mismatch| mismatch.error)
    }

    /// Returns whether both formats split every line the same way: the same literals, and
    /// fields of the same shapes (Istio's two TEXT generations differ only in an operator name).
    pub(crate) fn same_shape(&self, other: &Self) -> bool {
        self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|pair| match pair {
                    (Segment::Literal(a), Segment::Literal(b)) => a == b,
                    (Segment::Field(a), Segment::Field(b)) => {
                        a.shape == b.shape && a.max_len == b.max_len && a.target == b.target
                    }
                    _ => false,
                })
    }

    /// Like [`Format::parse`], and on failure also reports how far into the line matching got.
    pub(crate) fn try_parse(&self, line: &str) -> Result<AccessLogEntry, matcher::Mismatch> {
        let mut entry = AccessLogEntry::default();
        self.try_fill(line, |field, value| {
            fields::store(&mut entry, field.target, &field.key, value)
        })?;
        Ok(entry)
    }

    /// Like [`Format::try_parse`], but keeps only the values an observation uses, as slices of
    /// `line`.
    pub(crate) fn try_observe<'l>(
        &self,
        line: &'l str,
    ) -> Result<ObservedFields<'l>, matcher::Mismatch> {
        let mut observed = ObservedFields::default();
        self.try_fill(line, |field, value| {
            fields::store_observed(&mut observed, field.target, value)
        })?;
        Ok(observed)
    }

    /// Splits `line` into this format's fields and hands each value to `store`, in the order of
    /// the format, until `store` rejects one.
    fn try_fill<'l>(
        &self,
        line: &'l str,
        mut store: impl FnMut(&Field, &'l str) -> Result<(), String>,
    ) -> Result<(), matcher::Mismatch> {
        let line = line.trim_end_matches(['\n', '\r']);
        // The fast path returns a split only when it is the only one, so the full search, with
        // its error messages, runs only on the lines it cannot decide.
        let spans = match matcher::split_unique(&self.segments, self.literal_quotes, line) {
            Some(spans) => spans,
            None => matcher::split(&self.segments, line)?,
        };
        let fields = self.segments.iter().filter_map(|segment| match segment {
            Segment::Field(field) => Some(field),
            Segment::Literal(_) => None,
        });
        for (field, (start, end)) in fields.zip(spans) {
            if let Err(reason) = store(field, &line[start..end]) {
                return Err(matcher::Mismatch {
                    progress: start,
                    segment: self.segments.len(),
                    error: ParseError::Malformed {
                        field: field.display_name(),
                        reason,
                    },
                });
            }
        }
        Ok(())
    }
}

/// Splits `%NAME(ARG):N%` off the text after its opening `%`. The argument may itself contain
/// `%` (as in `%START_TIME(%Y-%m-%d)%`), so it ends at the matching parenthesis.
fn split_operator(after: &str, at: usize) -> Result<(Field, &str), FormatError> {
    let unterminated = || FormatError::Unterminated {
        at,
        text: excerpt(&format!("%{after}"), 40),
    };
    let name_len = after
        .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .unwrap_or(after.len());
    let name = &after[..name_len];
    if name.is_empty() {
        return Err(FormatError::InvalidOperator {
            at,
            text: excerpt(&format!("%{after}"), 20),
        });
    }

    let mut rest = &after[name_len..];
    let mut arg = None;
    if rest.starts_with('(') {
        let close = closing_delimiter(&rest[1..], '(', ')').ok_or_else(unterminated)?;
        arg = Some(&rest[1..=close]);
        rest = &rest[close + 2..];
    }

    let key_len = after.len() - rest.len();
    let mut max_len = None;
    if let Some(limit) = rest.strip_prefix(':') {
        let digits = limit.find('%').ok_or_else(unterminated)?;
        let operator = format!("{}:{}", &after[..key_len], &limit[..digits]);
        let parsed = limit[..digits]
            .parse()
            .map_err(|_| FormatError::InvalidMaxLength { operator })?;
        max_len = Some(parsed);
        rest = &limit[digits..];
    }

    let Some(tail) = rest.strip_prefix('%') else {
        return Err(if rest.is_empty() {
            unterminated()
        } else {
            FormatError::InvalidOperator {
                at,
                text: excerpt(&format!("%{after}"), 20),
            }
        });
    };

    let operator = after[..after.len() - rest.len()].to_string();
    let field = Field {
        key: after[..key_len].to_string(),
        operator,
        target: fields::target_for_operator(name, arg),
        shape: Shape::Token,
        max_len,
    };
    Ok((field, tail))
}

/// Gives each field its shape. A field is quoted when it is alone between two `"` (with an
/// odd number of quotes before it) or between `[` and `]`, as `%START_TIME%` is in Istio's
/// format. Only a quoted field may contain spaces, and quotes where its shape allows them.
fn assign_shapes(segments: &mut [Segment]) {
    let mut quotes_before = 0usize;
    for index in 0..segments.len() {
        let before = index.checked_sub(1).and_then(|i| literal_at(segments, i));
        let after = literal_at(segments, index + 1);
        let encloses = |open: char, close: char| {
            before.is_some_and(|l| l.ends_with(open)) && after.is_some_and(|l| l.starts_with(close))
        };
        let bracketed = encloses('[', ']');
        let quoted = encloses('"', '"') && quotes_before % 2 == 1;
        match &mut segments[index] {
            Segment::Literal(text) => quotes_before += text.matches('"').count(),
            Segment::Field(field) => {
                field.shape = if quoted || bracketed {
                    field.target.quoted_shape()
                } else {
                    field.target.bare_shape()
                };
            }
        }
    }
}

fn literal_at(segments: &[Segment], index: usize) -> Option<&str> {
    match segments.get(index) {
        Some(Segment::Literal(text)) => Some(text),
        _ => None,
    }
}
