//! Envoy and Istio access log lines: the Istio default TEXT format (both generations), the JSON
//! encoding, and custom formats compiled from their `%OPERATOR%` format string. `RESPONSE_CODE_DETAILS`
//! is decoded into the component that decided the request and its reason.

mod claims;
mod fields;
mod format;
mod json;
mod matcher;
mod observe;
mod outcome;
mod parser;

use std::collections::BTreeMap;

pub use format::{Format, FormatError};
pub use outcome::{Outcome, RbacPolicyId, decode_outcome, parse_policy_id};
pub use parser::{
    DEMO_EXTRA_FIELDS, ISTIO_TEXT_FORMAT, ISTIO_TEXT_FORMAT_LEGACY, LogParser,
    MAX_MALFORMED_EXAMPLES, MalformedLine, ParseStats, built_in_formats, credentials_notice,
    observe_line, parse_line,
};

/// One parsed access log line. Absent values (`-`, `null`, empty) are `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessLogEntry {
    pub start_time: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub protocol: Option<String>,
    pub response_code: u16,
    pub response_flags: Option<String>,
    pub response_code_details: Option<String>,
    pub connection_termination_details: Option<String>,
    pub upstream_transport_failure_reason: Option<String>,
    pub bytes_received: Option<u64>,
    pub bytes_sent: Option<u64>,
    pub duration_ms: Option<u64>,
    pub upstream_service_time: Option<String>,
    pub x_forwarded_for: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub authority: Option<String>,
    pub upstream_host: Option<String>,
    /// Upstream cluster with the trailing `;` of `%UPSTREAM_CLUSTER%` removed.
    pub upstream_cluster: Option<String>,
    pub upstream_local_address: Option<String>,
    pub downstream_local_address: Option<String>,
    pub downstream_remote_address: Option<String>,
    pub requested_server_name: Option<String>,
    pub route_name: Option<String>,
    /// The forwarded edge request id header (default `x-edge-request-id`).
    pub edge_request_id: Option<String>,
    /// `%DOWNSTREAM_PEER_URI_SAN%`.
    pub peer_principal: Option<String>,
    /// The first characters of the `Authorization` header (`%REQ(AUTHORIZATION):7%`): the scheme only.
    pub authorization_scheme: Option<String>,
    /// Whether the format logs the `Authorization` header, so that an absent
    /// `authorization_scheme` means the request carried none rather than that it was not logged.
    pub authorization_logged: bool,
    /// Whether the logged `Authorization` value carried the credential itself, not only the
    /// scheme. The credential is never kept.
    pub authorization_credential: bool,
    /// Claims of the token `jwt_authn` accepted, from `%DYNAMIC_METADATA(envoy.filters.http.jwt_authn)%`.
    pub jwt_payload: Option<serde_json::Value>,
    /// Operators of a custom format that have no field above, by operator text.
    pub extra: BTreeMap<String, String>,
}

/// Errors from parsing one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// An Envoy application log line, a blank line, or text in no access log format.
    #[error("not an access log line: \"{0}\"")]
    NotAccessLog(String),
    /// An access log line whose `field` does not fit its format.
    #[error(
        "malformed access log line: {field}: {reason}; idflow reads Istio's default TEXT format, the demo's (README), and the JSON encoding, so set the proxy's access log to one of them"
    )]
    Malformed { field: String, reason: String },
    /// An access log line that splits into the format's fields in more than one way, because
    /// Envoy writes quotes inside header values unescaped.
    #[error(
        "ambiguous access log line: {} can be split in more than one way because a header value contains quotes; log this proxy in the JSON encoding",
        .fields.join(", ")
    )]
    Ambiguous { fields: Vec<String> },
}
