//! `X-Akamai-EdgeWorker-<Event>-Info` debug response headers, standard and enhanced.
//!
//! Akamai warns that the trace format may gain fields, and its own examples vary in spacing,
//! separators and field names. The parser is therefore tolerant: it splits on `;`, also splits
//! where a stray `:` comes before another `key=`, and keeps every key it does not know.

use std::collections::BTreeMap;

use super::EdgeError;
use super::status::{EwEvent, EwStatus, ResourceTier};
use super::value::{parse_optional, percent_decode};

const HEADER_PREFIX: &str = "x-akamai-edgeworker-";

/// One parsed `X-Akamai-EdgeWorker-<Event>-Info` value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EwInfo {
    /// The event handler, from the header name when one was given.
    pub event: Option<EwEvent>,
    /// The request id suffix of a subWorker trace header name: `10f5e61`, or `child.parent`.
    pub request_id: Option<String>,
    /// EdgeWorker id; `None` when the header leaves it empty.
    pub id: Option<u64>,
    /// Version without its `v` prefix; a flexible-composition revision looks like `c14e…_2`.
    pub version: Option<String>,
    /// EdgeWorker name, which may contain spaces.
    pub name: Option<String>,
    pub status: Option<EwStatus>,
    /// `status_msg` decoded (`+` as space, `%XX`), e.g. a stack then the exception message.
    pub status_message: Option<String>,
    /// `res_tier`, or `resource_tier` in the responseProvider multipart trace.
    pub resource_tier: Option<ResourceTier>,
    pub init_wall_time_ms: Option<f64>,
    pub wall_time_ms: Option<f64>,
    pub init_cpu_time_ms: Option<f64>,
    pub cpu_time_ms: Option<f64>,
    /// `memory_usage`, which the debug headers give in bytes (DataStream 2 uses KB).
    pub memory_usage_bytes: Option<u64>,
    /// `req_body`: `buffered`, `streamed`, `error` or `none`.
    pub request_body: Option<String>,
    /// `error=` of the older error form, e.g. `GenericError`.
    pub error: Option<EwStatus>,
    /// `error_text=` of the older error form, decoded.
    pub error_text: Option<String>,
    /// True when the value ended in `$`, Akamai's mark for a header cut at its size limit.
    pub truncated: bool,
    /// The last field of a truncated value, kept raw because it may be cut mid-value.
    pub truncated_tail: Option<String>,
    /// Keys this parser does not interpret (`sc_ver`, `pearl_ver`, `ew_exe_ip`, `heap_usage` …).
    pub other: BTreeMap<String, String>,
}

impl EwInfo {
    /// Returns the status that decides the outcome: `status=`, else the older `error=`.
    pub fn effective_status(&self) -> Option<&EwStatus> {
        self.status.as_ref().or(self.error.as_ref())
    }
}

/// Parses the value of an `X-Akamai-EdgeWorker-<Event>-Info` header.
pub fn parse_ew_info_header(value: &str) -> Result<EwInfo, EdgeError> {
    let header_error = |reason: &str| EdgeError::header(value, reason);
    let mut text = value.trim();
    let mut info = EwInfo::default();
    if let Some(cut) = text.strip_suffix('$') {
        info.truncated = true;
        text = cut;
    }

    let mut fields = split_fields(text);
    if info.truncated {
        info.truncated_tail = fields.pop().map(|(key, value)| join_field(key, value));
    }
    if fields.is_empty() && info.truncated_tail.is_none() {
        return Err(header_error("no `key=value` fields found"));
    }

    for (key, field_value) in fields {
        apply_field(&mut info, key, field_value).map_err(|reason| header_error(&reason))?;
    }
    Ok(info)
}

/// Stores one `key=value` field in `info`, or returns why its value is invalid.
fn apply_field(info: &mut EwInfo, key: &str, value: &str) -> Result<(), String> {
    let invalid = |expected: &str| format!("`{key}={value}` is invalid: expected {expected}");
    let ms = || parse_optional(value, &format!("`{key}` time in milliseconds"));
    match key.to_ascii_lowercase().as_str() {
        "ew" => parse_ew_field(value, info)?,
        "status" => info.status = Some(EwStatus::from_name(value)),
        "status_msg" => {
            info.status_message = non_placeholder(value).map(|msg| percent_decode(msg, true));
        }
        "res_tier" | "resource_tier" => {
            let id = value
                .parse()
                .map_err(|_| invalid("a tier id such as 200"))?;
            info.resource_tier = Some(ResourceTier::from_id(id));
        }
        "init_wall_time" => info.init_wall_time_ms = ms()?,
        "wall_time" => info.wall_time_ms = ms()?,
        "init_cpu_time" => info.init_cpu_time_ms = ms()?,
        "cpu_time" => info.cpu_time_ms = ms()?,
        "memory_usage" => {
            let bytes = value.parse().map_err(|_| invalid("a byte count"))?;
            info.memory_usage_bytes = Some(bytes);
        }
        "req_body" => info.request_body = Some(value.to_owned()),
        "error" => info.error = Some(EwStatus::from_name(value)),
        "error_text" => info.error_text = Some(percent_decode(value, true)),
        _ => {
            info.other.insert(key.to_owned(), value.to_owned());
        }
    }
    Ok(())
}

/// Parses an Info header given its name too, taking the event handler and any subWorker request id
/// suffix from the name (`X-Akamai-EdgeWorker-onClientRequest-Info-10f5d16.10f5e61`).
pub fn parse_ew_info_header_named(name: &str, value: &str) -> Result<EwInfo, EdgeError> {
    let (event, request_id) = parse_ew_info_header_name(name)?;
    let mut info = parse_ew_info_header(value)?;
    info.event = Some(event);
    info.request_id = request_id;
    Ok(info)
}

/// Parses an Info header name into its event handler and optional subWorker request id suffix.
pub fn parse_ew_info_header_name(name: &str) -> Result<(EwEvent, Option<String>), EdgeError> {
    let invalid = |reason: &str| EdgeError::HeaderName {
        name: super::value::quote(name),
        reason: reason.to_owned(),
    };
    let lower = name.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix(HEADER_PREFIX)
        .ok_or_else(|| invalid("it does not start with `X-Akamai-EdgeWorker-`"))?;
    let (event_name, suffix) = rest
        .split_once("-info")
        .ok_or_else(|| invalid("it has no `-Info` part"))?;
    let event = EwEvent::from_name(event_name)
        .ok_or_else(|| invalid("the event handler name is not one EdgeWorkers has"))?;
    let request_id = match suffix {
        "" => None,
        _ => Some(
            suffix
                .strip_prefix('-')
                .filter(|id| !id.is_empty())
                .ok_or_else(|| invalid("expected `-<request id>` after `-Info`"))?
                .to_owned(),
        ),
    };
    Ok((event, request_id))
}

/// Splits the value into `(key, value)` pairs on `;`, and also where a stray `:` is placed before the
/// next `key=` (`res_tier=200: init_wall_time=0`). The `ew=` field is never split on `:` because its
/// name follows one.
fn split_fields(text: &str) -> Vec<(&str, &str)> {
    let mut fields = Vec::new();
    for part in text
        .split(';')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let mut rest = part;
        while let Some((field, next)) = split_stray_colon(rest) {
            fields.push(key_value(field));
            rest = next;
        }
        fields.push(key_value(rest));
    }
    fields
}

fn split_stray_colon(part: &str) -> Option<(&str, &str)> {
    if key_value(part).0.eq_ignore_ascii_case("ew") {
        return None;
    }
    part.match_indices(':').find_map(|(at, _)| {
        let next = part[at + 1..].trim_start();
        starts_with_key(next).then(|| (part[..at].trim_end(), next))
    })
}

/// Returns true when `text` starts with `identifier=`.
fn starts_with_key(text: &str) -> bool {
    let key_len = text
        .bytes()
        .take_while(|byte| byte.is_ascii_alphanumeric() || *byte == b'_')
        .count();
    key_len > 0
        && text.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && text[key_len..].starts_with('=')
}

fn key_value(part: &str) -> (&str, &str) {
    match part.split_once('=') {
        Some((key, value)) => (key.trim(), value.trim()),
        None => (part.trim(), ""),
    }
}

fn join_field(key: &str, value: &str) -> String {
    if value.is_empty() {
        key.to_owned()
    } else {
        format!("{key}={value}")
    }
}

/// Parses `<id> v<version>:<name>`; the id and the version may be empty and the space after `:` is
/// optional.
fn parse_ew_field(text: &str, info: &mut EwInfo) -> Result<(), String> {
    let text = text.trim_start();
    let (id, rest) = match text.find(char::is_whitespace) {
        Some(at) if text[..at].bytes().all(|byte| byte.is_ascii_digit()) => {
            (&text[..at], text[at..].trim_start())
        }
        _ if text.starts_with('v') => ("", text),
        _ => (text, ""),
    };
    if !id.is_empty() {
        let parsed = id
            .parse()
            .map_err(|_| format!("EdgeWorker id `{id}` is not a number"))?;
        info.id = Some(parsed);
    }
    let (version, name) = rest.split_once(':').unwrap_or((rest, ""));
    let version = version.trim();
    let version = version.strip_prefix('v').unwrap_or(version);
    info.version = (!version.is_empty()).then(|| version.to_owned());
    let name = name.trim();
    info.name = (!name.is_empty()).then(|| name.to_owned());
    Ok(())
}

fn non_placeholder(text: &str) -> Option<&str> {
    (!text.is_empty() && text != "-").then_some(text)
}
