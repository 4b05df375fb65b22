//! The mapping from Envoy operators and Istio JSON keys to entry fields, the shapes their values
//! take, and the storing of a logged value.

use super::AccessLogEntry;
use super::claims::Metadata;
use super::observe::ObservedFields;
use crate::redact::{authorization_scheme, carries_credential, excerpt};

/// The entry field an operator or JSON key fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    StartTime,
    Method,
    Path,
    Protocol,
    ResponseCode,
    ResponseFlags,
    ResponseCodeDetails,
    ConnectionTerminationDetails,
    UpstreamTransportFailureReason,
    BytesReceived,
    BytesSent,
    Duration,
    UpstreamServiceTime,
    XForwardedFor,
    UserAgent,
    RequestId,
    Authority,
    UpstreamHost,
    UpstreamCluster,
    UpstreamLocalAddress,
    DownstreamLocalAddress,
    DownstreamRemoteAddress,
    RequestedServerName,
    RouteName,
    EdgeRequestId,
    PeerPrincipal,
    Authorization,
    JwtPayload,
    /// No field of its own: the value goes to [`AccessLogEntry::extra`].
    Extra,
}

/// The characters a value may contain, which lets a line be split although Envoy escapes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Digits, or `-` when absent.
    Number,
    /// No whitespace outside `{…}` (see the matcher), no other limit.
    Token,
    /// May contain spaces but never a double quote: values Envoy generates or validates.
    NoQuote,
    /// Anything, quotes included, because Envoy writes header values unescaped.
    Free,
}

/// Maps an operator to the entry field it fills. `arg` is the text inside the parentheses.
pub(crate) fn target_for_operator(name: &str, arg: Option<&str>) -> Target {
    let header = arg.map(str::to_ascii_uppercase);
    match (name, header.as_deref()) {
        ("START_TIME", _) => Target::StartTime,
        ("PROTOCOL", None) => Target::Protocol,
        ("RESPONSE_CODE", None) => Target::ResponseCode,
        ("RESPONSE_FLAGS", None) => Target::ResponseFlags,
        ("RESPONSE_CODE_DETAILS", None) => Target::ResponseCodeDetails,
        ("CONNECTION_TERMINATION_DETAILS", None) => Target::ConnectionTerminationDetails,
        ("UPSTREAM_TRANSPORT_FAILURE_REASON", None) => Target::UpstreamTransportFailureReason,
        ("BYTES_RECEIVED", None) => Target::BytesReceived,
        ("BYTES_SENT", None) => Target::BytesSent,
        ("DURATION", None) => Target::Duration,
        ("UPSTREAM_HOST", None) => Target::UpstreamHost,
        ("UPSTREAM_CLUSTER" | "UPSTREAM_CLUSTER_RAW", None) => Target::UpstreamCluster,
        ("UPSTREAM_LOCAL_ADDRESS", None) => Target::UpstreamLocalAddress,
        ("DOWNSTREAM_LOCAL_ADDRESS", None) => Target::DownstreamLocalAddress,
        ("DOWNSTREAM_REMOTE_ADDRESS", None) => Target::DownstreamRemoteAddress,
        ("REQUESTED_SERVER_NAME", None) => Target::RequestedServerName,
        ("ROUTE_NAME", None) => Target::RouteName,
        ("DOWNSTREAM_PEER_URI_SAN", None) => Target::PeerPrincipal,
        ("RESP", Some("X-ENVOY-UPSTREAM-SERVICE-TIME")) => Target::UpstreamServiceTime,
        ("DYNAMIC_METADATA", Some("ENVOY.FILTERS.HTTP.JWT_AUTHN")) => Target::JwtPayload,
        ("REQ", Some(header)) => target_for_request_header(header),
        _ => Target::Extra,
    }
}

fn target_for_request_header(header: &str) -> Target {
    match header {
        ":METHOD" => Target::Method,
        ":PATH" | "X-ENVOY-ORIGINAL-PATH?:PATH" => Target::Path,
        "X-FORWARDED-FOR" => Target::XForwardedFor,
        "USER-AGENT" => Target::UserAgent,
        "X-REQUEST-ID" => Target::RequestId,
        ":AUTHORITY" | "HOST" | ":AUTHORITY?HOST" => Target::Authority,
        "X-EDGE-REQUEST-ID" => Target::EdgeRequestId,
        "AUTHORIZATION" => Target::Authorization,
        _ => Target::Extra,
    }
}

/// Maps a key of Istio's default JSON encoding, or of the demo's extra keys, to the entry field.
pub(crate) fn target_for_json_key(key: &str) -> Target {
    match key {
        "start_time" => Target::StartTime,
        "method" => Target::Method,
        "path" => Target::Path,
        "protocol" => Target::Protocol,
        "response_code" => Target::ResponseCode,
        "response_flags" => Target::ResponseFlags,
        "response_code_details" => Target::ResponseCodeDetails,
        "connection_termination_details" => Target::ConnectionTerminationDetails,
        "upstream_transport_failure_reason" => Target::UpstreamTransportFailureReason,
        "bytes_received" => Target::BytesReceived,
        "bytes_sent" => Target::BytesSent,
        "duration" => Target::Duration,
        "upstream_service_time" => Target::UpstreamServiceTime,
        "x_forwarded_for" => Target::XForwardedFor,
        "user_agent" => Target::UserAgent,
        "request_id" => Target::RequestId,
        "authority" => Target::Authority,
        "upstream_host" => Target::UpstreamHost,
        "upstream_cluster" => Target::UpstreamCluster,
        "upstream_local_address" => Target::UpstreamLocalAddress,
        "downstream_local_address" => Target::DownstreamLocalAddress,
        "downstream_remote_address" => Target::DownstreamRemoteAddress,
        "requested_server_name" => Target::RequestedServerName,
        "route_name" => Target::RouteName,
        "edge_request_id" => Target::EdgeRequestId,
        "peer_principal" => Target::PeerPrincipal,
        // `authorization` is the name a format that logs the whole header would give it.
        "authorization_scheme" => Target::Authorization,
        key if key.eq_ignore_ascii_case("authorization") => Target::Authorization,
        "jwt_authn" => Target::JwtPayload,
        _ => Target::Extra,
    }
}

impl Target {
    /// Returns the shape of values this field takes when the format puts it alone between quotes.
    ///
    /// NOTE: request ids, `x-forwarded-for` and `:authority` are header values a client can set, so
    /// `NoQuote` is an assumption. Envoy regenerates `x-request-id` at the edge, rejects an
    /// `:authority` with a quote, and appends the client address to `x-forwarded-for`. A line that
    /// breaks it is reported as malformed rather than split wrongly.
    pub(crate) fn quoted_shape(self) -> Shape {
        match self {
            Self::ResponseCode | Self::BytesReceived | Self::BytesSent | Self::Duration => {
                Shape::Number
            }
            Self::StartTime
            | Self::XForwardedFor
            | Self::RequestId
            | Self::Authority
            | Self::UpstreamHost
            | Self::UpstreamCluster
            | Self::UpstreamLocalAddress
            | Self::DownstreamLocalAddress
            | Self::DownstreamRemoteAddress
            | Self::RequestedServerName
            | Self::EdgeRequestId
            | Self::PeerPrincipal => Shape::NoQuote,
            _ => Shape::Free,
        }
    }

    /// Returns the shape of values this field takes outside quotes.
    pub(crate) fn bare_shape(self) -> Shape {
        match self.quoted_shape() {
            Shape::Number => Shape::Number,
            _ => Shape::Token,
        }
    }
}

/// Returns the value, or `None` for the ways Envoy writes an absent one (`-`, empty).
pub(crate) fn present(value: &str) -> Option<&str> {
    match value {
        "" | "-" => None,
        other => Some(other),
    }
}

/// Stores `value` (as logged, `-` for absent) in the entry field `target`. `key` names the
/// operator or JSON key for `extra` and for errors. Returns the reason when the value is invalid.
pub(crate) fn store(
    entry: &mut AccessLogEntry,
    target: Target,
    key: &str,
    value: &str,
) -> Result<(), String> {
    if target == Target::Authorization {
        entry.authorization_logged = true;
    }
    let Some(value) = present(value) else {
        return Ok(());
    };
    let text = || Some(value.to_owned());
    match target {
        Target::StartTime => entry.start_time = text(),
        Target::Method => entry.method = text(),
        Target::Path => entry.path = text(),
        Target::Protocol => entry.protocol = text(),
        Target::ResponseCode => entry.response_code = parse_number(value)?,
        Target::ResponseFlags => entry.response_flags = text(),
        Target::ResponseCodeDetails => entry.response_code_details = text(),
        Target::ConnectionTerminationDetails => entry.connection_termination_details = text(),
        Target::UpstreamTransportFailureReason => entry.upstream_transport_failure_reason = text(),
        Target::BytesReceived => entry.bytes_received = Some(parse_number(value)?),
        Target::BytesSent => entry.bytes_sent = Some(parse_number(value)?),
        Target::Duration => entry.duration_ms = Some(parse_number(value)?),
        Target::UpstreamServiceTime => entry.upstream_service_time = text(),
        Target::XForwardedFor => entry.x_forwarded_for = text(),
        Target::UserAgent => entry.user_agent = text(),
        Target::RequestId => entry.request_id = text(),
        Target::Authority => entry.authority = text(),
        Target::UpstreamHost => entry.upstream_host = text(),
        Target::UpstreamCluster => entry.upstream_cluster = Some(strip_stat_suffix(value)),
        Target::UpstreamLocalAddress => entry.upstream_local_address = text(),
        Target::DownstreamLocalAddress => entry.downstream_local_address = text(),
        Target::DownstreamRemoteAddress => entry.downstream_remote_address = text(),
        Target::RequestedServerName => entry.requested_server_name = text(),
        Target::RouteName => entry.route_name = text(),
        Target::EdgeRequestId => entry.edge_request_id = text(),
        Target::PeerPrincipal => entry.peer_principal = text(),
        Target::Authorization => {
            entry.authorization_scheme = authorization_scheme(value).map(str::to_owned);
            entry.authorization_credential = carries_credential(value);
        }
        Target::JwtPayload => match serde_json::from_str(value) {
            Ok(payload) => entry.jwt_payload = Some(payload),
            Err(error) => return Err(invalid_json(&error)),
        },
        Target::Extra => {
            entry.extra.insert(key.to_string(), value.to_string());
        }
    }
    Ok(())
}

/// Stores `value` (as logged, `-` for absent) in `fields` when the observation uses it, and
/// checks it as [`store`] does, so that a line fails here exactly when it fails there.
pub(crate) fn store_observed<'a>(
    fields: &mut ObservedFields<'a>,
    target: Target,
    value: &'a str,
) -> Result<(), String> {
    if target == Target::Authorization {
        fields.authorization_logged = true;
    }
    let Some(value) = present(value) else {
        return Ok(());
    };
    match target {
        Target::StartTime => fields.start_time = Some(value),
        Target::Method => fields.method = Some(value),
        Target::Path => fields.path = Some(value),
        Target::ResponseCode => fields.outcome.response_code = parse_number(value)?,
        Target::ResponseFlags => fields.outcome.response_flags = Some(value),
        Target::ResponseCodeDetails => fields.outcome.response_code_details = Some(value),
        Target::ConnectionTerminationDetails => {
            fields.outcome.connection_termination_details = Some(value);
        }
        Target::BytesReceived | Target::BytesSent | Target::Duration => {
            parse_number::<u64>(value)?;
        }
        Target::UpstreamServiceTime => fields.outcome.upstream_service_time = Some(value),
        Target::XForwardedFor => fields.x_forwarded_for = Some(value),
        Target::RequestId => fields.request_id = Some(value),
        Target::Authority => fields.authority = Some(value),
        Target::UpstreamHost => fields.outcome.upstream_host = Some(value),
        Target::DownstreamRemoteAddress => fields.downstream_remote_address = Some(value),
        Target::EdgeRequestId => fields.edge_request_id = Some(value),
        Target::PeerPrincipal => fields.peer_principal = Some(value),
        Target::Authorization => {
            fields.authorization_scheme = authorization_scheme(value);
            fields.authorization_credential = carries_credential(value);
        }
        Target::JwtPayload => {
            fields.metadata = Metadata::from_json(value).map_err(|error| invalid_json(&error))?;
        }
        Target::Protocol
        | Target::UpstreamTransportFailureReason
        | Target::UserAgent
        | Target::UpstreamCluster
        | Target::UpstreamLocalAddress
        | Target::DownstreamLocalAddress
        | Target::RequestedServerName
        | Target::RouteName
        | Target::Extra => {}
    }
    Ok(())
}

fn invalid_json(error: &serde_json::Error) -> String {
    format!("invalid JSON ({error})")
}

fn parse_number<T: std::str::FromStr + TryFrom<u64>>(value: &str) -> Result<T, String> {
    // Up to 19 digits fit a u64, and reading them directly is several times cheaper than the
    // general parse, which still decides (and words the error for) every other value.
    if (1..=19).contains(&value.len()) && value.bytes().all(|byte| byte.is_ascii_digit()) {
        let number = value
            .bytes()
            .fold(0u64, |number, byte| number * 10 + u64::from(byte - b'0'));
        if let Ok(number) = T::try_from(number) {
            return Ok(number);
        }
    }
    value.trim().parse().map_err(|_| {
        // A JSON log writes a number too large for its field in exponent form (`1e+20`). That is
        // still a number, so the message reports it as out of range rather than as not a number.
        let expected = if value.trim().parse::<f64>().is_ok_and(f64::is_finite) {
            "a whole number in the field's range"
        } else {
            "a number"
        };
        format!("expected {expected}, found \"{}\"", excerpt(value, 40))
    })
}

/// Removes one trailing `;`: Istio sets each cluster's `alt_stat_name` to its name plus `;`, and
/// `%UPSTREAM_CLUSTER%` prints that stat name (Istio 1.22 and older formats, and the JSON
/// encoding up to its fix).
fn strip_stat_suffix(cluster: &str) -> String {
    cluster.strip_suffix(';').unwrap_or(cluster).to_string()
}

/// Returns the byte index of the `close` that ends a group whose `open` came just before `text`,
/// counting nested groups.
pub(crate) fn closing_delimiter(text: &str, open: char, close: char) -> Option<usize> {
    let mut depth = 1usize;
    for (index, c) in text.char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(index);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::parse_number;

    #[test]
    fn number_errors_tell_range_from_text() {
        assert_eq!(parse_number::<u16>("404"), Ok(404));
        assert_eq!(
            parse_number::<u16>("1e+20"),
            Err("expected a whole number in the field's range, found \"1e+20\"".to_owned())
        );
        assert_eq!(
            parse_number::<u16>("70000"),
            Err("expected a whole number in the field's range, found \"70000\"".to_owned())
        );
        assert_eq!(
            parse_number::<u16>("abc"),
            Err("expected a number, found \"abc\"".to_owned())
        );
    }
}
