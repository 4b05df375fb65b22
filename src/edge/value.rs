//! Value conventions of Akamai records: DataStream 2 placeholders, percent-encoding, epoch seconds.

use std::str::FromStr;

use chrono::{DateTime, SecondsFormat};
use serde_json::Value;

use crate::redact::excerpt;

/// Maximum length of an input value quoted in an error message, in characters.
const QUOTE_MAX_CHARS: usize = 60;

/// Returns `text` shortened for an error message, with `…` when it was cut and tokens hidden.
pub(crate) fn quote(text: &str) -> String {
    excerpt(text, QUOTE_MAX_CHARS)
}

/// Returns the text of a DataStream 2 value, or `None` for the placeholders that mean absent.
///
/// DataStream 2 writes strings for every value in some streams and JSON numbers in others; both give
/// their text. `-`, `^`, an empty string and `null` mean the value is absent. Arrays and objects are
/// not DataStream 2 values, so they return `Err` with the JSON type's name.
pub(crate) fn ds2_text(value: &Value) -> Result<Option<String>, &'static str> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(match text.as_str() {
            "" | "-" | "^" => None,
            _ => Some(text.clone()),
        }),
        Value::Number(number) => Ok(Some(number.to_string())),
        Value::Bool(flag) => Ok(Some(flag.to_string())),
        Value::Array(_) => Err("an array"),
        Value::Object(_) => Err("an object"),
    }
}

/// Decodes `%XX` escapes, and `+` as a space when `plus_is_space` (form encoding).
///
/// A `%` not followed by two hex digits is kept as it is, and bytes that do not form UTF-8 become
/// U+FFFD, so decoding never fails.
pub(crate) fn percent_decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', high, low]) => hex_pair(*high, *low),
            _ => None,
        };
        if let Some(byte) = escaped {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(if plus_is_space && bytes[i] == b'+' {
            b' '
        } else {
            bytes[i]
        });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_pair(high: u8, low: u8) -> Option<u8> {
    let high = char::from(high).to_digit(16)?;
    let low = char::from(low).to_digit(16)?;
    u8::try_from(high * 16 + low).ok()
}

/// Converts Unix epoch seconds with an optional decimal fraction (`1718939899.742`) to RFC 3339 UTC
/// with milliseconds, the precision DataStream 2 reports.
///
/// The text is split at the decimal point instead of going through `f64`, so no rounding creeps in.
pub(crate) fn epoch_seconds_to_rfc3339(text: &str) -> Result<String, String> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let is_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if whole.is_empty() || !is_digits(whole) || !is_digits(fraction) {
        return Err("expected Unix seconds such as 1718939899.742".to_owned());
    }
    let seconds: i64 = whole
        .parse()
        .map_err(|_| "the seconds do not fit in a 64-bit integer".to_owned())?;
    let nanos_text: String = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(9)
        .collect();
    let nanos: u32 = nanos_text
        .parse()
        .map_err(|_| "the fraction is not a decimal number".to_owned())?;
    let time = DateTime::from_timestamp(seconds, nanos)
        .ok_or_else(|| "the time is out of range".to_owned())?;
    Ok(time.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Parses a number, treating an empty value and the `-` placeholder as absent. The error names
/// the value and what it should have been, e.g. "`fast` is not a valid CPU time in milliseconds".
pub(crate) fn parse_optional<T: FromStr>(text: &str, expected: &str) -> Result<Option<T>, String> {
    match text.trim() {
        "" | "-" => Ok(None),
        value => value
            .parse()
            .map(Some)
            .map_err(|_| format!("`{}` is not a valid {expected}", quote(value))),
    }
}
