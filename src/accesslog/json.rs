//! Access log lines in Istio's JSON encoding (`accessLogEncoding: JSON`), with the demo's keys.

use serde_json::{Map, Value};

use super::fields::{self, Target};
use super::{AccessLogEntry, ParseError};
use crate::redact::excerpt;

/// Keys of Istio's default JSON encoding; a JSON object with none of them is not an access log.
const ISTIO_KEYS: [&str; 24] = [
    "start_time",
    "route_name",
    "method",
    "path",
    "protocol",
    "response_code",
    "response_flags",
    "response_code_details",
    "connection_termination_details",
    "bytes_received",
    "bytes_sent",
    "duration",
    "upstream_service_time",
    "x_forwarded_for",
    "user_agent",
    "request_id",
    "authority",
    "upstream_host",
    "upstream_cluster",
    "upstream_local_address",
    "downstream_local_address",
    "downstream_remote_address",
    "requested_server_name",
    "upstream_transport_failure_reason",
];

/// Parses one JSON access log line. Envoy renders values as numbers or strings depending on the
/// version and the format's typing, and an unset value as `null`, `""` or `"-"`: all are accepted.
pub(crate) fn parse(line: &str) -> Result<AccessLogEntry, ParseError> {
    let object: Map<String, Value> = match serde_json::from_str(line) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(not_access_log(line)),
        Err(error) => {
            return Err(ParseError::Malformed {
                field: "JSON".to_string(),
                reason: format!("invalid JSON ({error})"),
            });
        }
    };
    if is_application_log(&object) || !ISTIO_KEYS.iter().any(|key| object.contains_key(*key)) {
        return Err(not_access_log(line));
    }
    if !object.contains_key("response_code") {
        return Err(ParseError::Malformed {
            field: "response_code".to_string(),
            reason: "missing".to_string(),
        });
    }

    let mut entry = AccessLogEntry::default();
    for (key, value) in &object {
        let target = fields::target_for_json_key(key);
        if target == Target::JwtPayload
            && let Value::Object(_) = value
        {
            entry.jwt_payload = Some(value.clone());
            continue;
        }
        let text = match value {
            Value::Null => String::new(),
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        fields::store(&mut entry, target, key, &text).map_err(|reason| ParseError::Malformed {
            field: key.clone(),
            reason,
        })?;
    }
    Ok(entry)
}

/// Returns whether a JSON line is an Envoy or istio-proxy application log (keys `level` and
/// `msg`, or `message` as ztunnel writes).
pub(crate) fn is_application_log(object: &Map<String, Value>) -> bool {
    object.contains_key("level") && (object.contains_key("msg") || object.contains_key("message"))
}

fn not_access_log(line: &str) -> ParseError {
    ParseError::NotAccessLog(excerpt(line, 60))
}
