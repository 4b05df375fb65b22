//! The built-in formats, the classification of a line, and a parser that counts what it saw.

use std::sync::LazyLock;

use super::format::Format;
use super::matcher::Mismatch;
use super::{AccessLogEntry, ParseError, json};
use crate::flow::Observation;
use crate::model::HopRole;
use crate::redact::excerpt;
use crate::token::plural;

/// Istio's default TEXT format with `$cluster` as the upstream cluster operator.
macro_rules! istio_text_format {
    ($cluster:literal) => {
        concat!(
            r#"[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" "#,
            r"%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% ",
            r#""%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "#,
            r#"%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "#,
            r#""%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" "#,
            $cluster,
            r" %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% ",
            r"%REQUESTED_SERVER_NAME% %ROUTE_NAME%",
            "\n"
        )
    };
}

/// Istio's default TEXT format since Istio 1.23 (for proxies 1.23 and newer).
pub const ISTIO_TEXT_FORMAT: &str = istio_text_format!("%UPSTREAM_CLUSTER_RAW%");

/// Istio's default TEXT format up to Istio 1.22: `%UPSTREAM_CLUSTER%`, which may end in `;`.
pub const ISTIO_TEXT_FORMAT_LEGACY: &str = istio_text_format!("%UPSTREAM_CLUSTER%");

/// The fields the demo appends to Istio's default TEXT format: the edge request id, the mTLS
/// peer principal, the `Authorization` scheme (7 characters, never the token) and the claims
/// `jwt_authn` accepted, last because claim values may contain spaces.
pub const DEMO_EXTRA_FIELDS: &str = concat!(
    r#" "%REQ(X-EDGE-REQUEST-ID)%" "%DOWNSTREAM_PEER_URI_SAN%" "%REQ(AUTHORIZATION):7%" "#,
    r"%DYNAMIC_METADATA(envoy.filters.http.jwt_authn)%"
);

/// How many malformed lines a [`LogParser`] keeps as examples.
pub const MAX_MALFORMED_EXAMPLES: usize = 5;

/// Maximum characters of a line kept in a malformed example.
const EXAMPLE_CHARS: usize = 200;

/// The built-in TEXT formats in the order they are tried: the demo's before the plain ones.
static BUILT_IN: LazyLock<Vec<Format>> = LazyLock::new(|| {
    let plain = [ISTIO_TEXT_FORMAT, ISTIO_TEXT_FORMAT_LEGACY];
    let demo = plain.map(|format| format!("{}{DEMO_EXTRA_FIELDS}", format.trim_end()));
    // The strings are constants covered by a test, so a failure here cannot depend on input.
    demo.iter()
        .map(String::as_str)
        .chain(plain)
        .filter_map(|format| Format::compile(format).ok())
        .collect()
});

/// Returns the built-in TEXT formats: the demo's (both generations), then Istio's defaults.
pub fn built_in_formats() -> Vec<Format> {
    BUILT_IN.clone()
}

/// Parses one line in any format this module recognises: Istio's default TEXT (both
/// generations), the demo's TEXT format, and the JSON encoding.
pub fn parse_line(line: &str) -> Result<AccessLogEntry, ParseError> {
    classify_entry(&BUILT_IN, line).0.map(|parsed| parsed.value)
}

/// Parses one line as [`parse_line`] does and returns its observation at a proxy at `location`
/// (`NAMESPACE/WORKLOAD`): the same result as `parse_line(line)` then
/// [`AccessLogEntry::observe`], without building the entry of a TEXT line.
pub fn observe_line(line: &str, location: &str, role: HopRole) -> Result<Observation, ParseError> {
    classify_observation(&BUILT_IN, line, location, role)
        .0
        .map(|parsed| parsed.value)
}

/// Counts of the lines a [`LogParser`] has seen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParseStats {
    /// Lines that parsed into an entry.
    pub parsed: u64,
    /// Lines skipped because they are not access log lines (Envoy application logs, blanks).
    pub not_access_log: u64,
    /// Access log lines that did not parse (malformed or ambiguous).
    pub malformed: u64,
    /// The first malformed lines, at most [`MAX_MALFORMED_EXAMPLES`].
    pub malformed_examples: Vec<MalformedLine>,
    /// Parsed lines whose `Authorization` value carried the credential, not only its scheme:
    /// the proxy writes tokens into its log.
    pub credentials_logged: u64,
}

/// Returns the warning for `count` lines that logged a whole `Authorization` value, or `None`
/// for none.
pub fn credentials_notice(count: u64) -> Option<String> {
    (count > 0).then(|| {
        let lines = plural(usize::try_from(count).unwrap_or(usize::MAX), "access log line");
        format!(
            "{lines} logged the whole Authorization header, token included, so the proxy writes credentials into its log; log only the scheme with %REQ(AUTHORIZATION):7% (idflow keeps only the scheme)"
        )
    })
}

/// One malformed line kept as an example.
#[derive(Debug, Clone, PartialEq)]
pub struct MalformedLine {
    /// 1-based number of the line among those given to the parser.
    pub line_number: u64,
    /// The start of the line, at most 200 characters.
    pub excerpt: String,
    pub error: ParseError,
}

/// A parser for a stream of lines: tries the format that matched last first, because a file
/// is usually in one format, and counts parsed, skipped and malformed lines.
#[derive(Debug, Clone)]
pub struct LogParser {
    formats: Vec<Format>,
    stats: ParseStats,
    lines: u64,
}

impl Default for LogParser {
    fn default() -> Self {
        Self::new()
    }
}

impl LogParser {
    /// Creates a parser for the built-in formats.
    pub fn new() -> Self {
        Self::with_formats(Vec::new())
    }

    /// Creates a parser that tries `custom` formats (in order) before the built-in ones.
    pub fn with_formats(custom: Vec<Format>) -> Self {
        let mut formats = custom;
        formats.extend(built_in_formats());
        Self {
            formats,
            stats: ParseStats::default(),
            lines: 0,
        }
    }

    /// Parses one line and counts it.
    pub fn parse(&mut self, line: &str) -> Result<AccessLogEntry, ParseError> {
        self.count(line, classify_entry)
    }

    /// Parses one line, counts it and returns its observation at a proxy at `location`
    /// (`NAMESPACE/WORKLOAD`). The result, the counts and the order of the formats afterwards are
    /// those of [`LogParser::parse`] then [`AccessLogEntry::observe`], but a TEXT line's values
    /// are read in place and only those the observation keeps are copied.
    pub fn parse_observation(
        &mut self,
        line: &str,
        location: &str,
        role: HopRole,
    ) -> Result<Observation, ParseError> {
        self.count(line, |formats, line| {
            classify_observation(formats, line, location, role)
        })
    }

    /// Classifies one line with `classify`, moves the matching format to the front and counts
    /// the result.
    fn count<T>(
        &mut self,
        line: &str,
        classify: impl FnOnce(&[Format], &str) -> Classified<T>,
    ) -> Result<T, ParseError> {
        self.lines += 1;
        let (result, matched) = classify(&self.formats, line);
        if let Some(index) = matched {
            // Move the matching format to the front, keeping the others in order.
            self.formats[..=index].rotate_right(1);
        }
        match &result {
            Ok(parsed) => {
                self.stats.parsed += 1;
                self.stats.credentials_logged += u64::from(parsed.credential_logged);
            }
            Err(ParseError::NotAccessLog(_)) => self.stats.not_access_log += 1,
            Err(error) => {
                self.stats.malformed += 1;
                if self.stats.malformed_examples.len() < MAX_MALFORMED_EXAMPLES {
                    self.stats.malformed_examples.push(MalformedLine {
                        line_number: self.lines,
                        excerpt: excerpt(line.trim_end(), EXAMPLE_CHARS),
                        error: error.clone(),
                    });
                }
            }
        }
        result.map(|parsed| parsed.value)
    }

    /// Returns the counts so far.
    pub fn stats(&self) -> &ParseStats {
        &self.stats
    }

    /// Returns the formats in the order they are tried next.
    pub fn formats(&self) -> &[Format] {
        &self.formats
    }
}

/// Result of classifying one line: the value, and the index of the matching format.
type Classified<T> = (Result<Parsed<T>, ParseError>, Option<usize>);

/// A parsed line and whether its `Authorization` value carried the credential.
struct Parsed<T> {
    value: T,
    credential_logged: bool,
}

impl Parsed<AccessLogEntry> {
    fn entry(entry: AccessLogEntry) -> Self {
        Self {
            credential_logged: entry.authorization_credential,
            value: entry,
        }
    }

    fn observe(self, location: &str, role: HopRole) -> Parsed<Observation> {
        Parsed {
            value: self.value.observe(location, role),
            credential_logged: self.credential_logged,
        }
    }
}

/// Classifies one line against `formats` into an entry.
fn classify_entry(formats: &[Format], line: &str) -> Classified<AccessLogEntry> {
    classify(
        formats,
        line,
        |format, line| format.try_parse(line).map(Parsed::entry),
        |line| json::parse(line).map(Parsed::entry),
    )
}

/// Classifies one line against `formats` into its observation at `location`. A JSON line goes
/// through its entry, because the JSON parser builds the whole object anyway.
fn classify_observation(
    formats: &[Format],
    line: &str,
    location: &str,
    role: HopRole,
) -> Classified<Observation> {
    classify(
        formats,
        line,
        |format, line| {
            let fields = format.try_observe(line)?;
            Ok(Parsed {
                credential_logged: fields.authorization_credential,
                value: fields.observe(location, role),
            })
        },
        |line| Ok(Parsed::entry(json::parse(line)?).observe(location, role)),
    )
}

/// Classifies one line against `formats`, reading a TEXT line that matches a format with
/// `parse_text` and a JSON line with `parse_json`.
fn classify<T>(
    formats: &[Format],
    line: &str,
    parse_text: impl Fn(&Format, &str) -> Result<T, Mismatch>,
    parse_json: impl FnOnce(&str) -> Result<T, ParseError>,
) -> (Result<T, ParseError>, Option<usize>) {
    let line = line.trim_end_matches(['\n', '\r']);
    let trimmed = line.trim_start();
    if trimmed.trim_end().is_empty() {
        return (
            Err(ParseError::NotAccessLog("empty line".to_string())),
            None,
        );
    }
    if trimmed.starts_with('{') {
        return (parse_json(trimmed), None);
    }
    if is_application_log(line) {
        return (Err(ParseError::NotAccessLog(excerpt(line, 60))), None);
    }
    let mut best: Option<Mismatch> = None;
    for (index, format) in formats.iter().enumerate() {
        if formats[..index]
            .iter()
            .any(|tried| tried.same_shape(format))
        {
            continue;
        }
        match parse_text(format, line) {
            Ok(value) => return (Ok(value), Some(index)),
            Err(mismatch) => {
                let better = best.as_ref().is_none_or(|best| {
                    ambiguous(&mismatch.error) && !ambiguous(&best.error)
                        || !ambiguous(&best.error) && mismatch.progress > best.progress
                });
                if better {
                    best = Some(mismatch);
                }
            }
        }
    }
    let error = match best {
        // A line that fails before the second literal of every format (`[` and `] "` in the
        // Istio formats) does not look like an access log at all.
        Some(mismatch) if mismatch.segment >= 3 => mismatch.error,
        _ => ParseError::NotAccessLog(excerpt(line, 60)),
    };
    (Err(error), None)
}

fn ambiguous(error: &ParseError) -> bool {
    matches!(error, ParseError::Ambiguous { .. })
}

/// Returns whether a line is an Envoy or pilot-agent application log: an RFC 3339 timestamp,
/// then a tab.
fn is_application_log(line: &str) -> bool {
    // An RFC 3339 time starts with the digits of its year, so a line that does not (a TEXT access
    // log line starts with `[`) needs no search for a tab.
    line.as_bytes().first().is_some_and(u8::is_ascii_digit)
        && line
            .split_once('\t')
            .is_some_and(|(time, _)| chrono::DateTime::parse_from_rfc3339(time).is_ok())
}
