//! The component that decided a request at one proxy, decoded from `RESPONSE_CODE_DETAILS`, the connection
//! termination details of a TCP connection, and the response flags.

use super::AccessLogEntry;
use super::fields::closing_delimiter;
use crate::model::{DecidedBy, Decision};

/// The verdict of one proxy on a request and the component that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The action of THIS proxy: `deny` when one of its filters rejected the request, `error` for
    /// a local failure, `allow` when it forwarded (even if the upstream then returned 403).
    pub decision: Decision,
    pub decided_by: DecidedBy,
    /// The RBAC policy named in the details, when there is one.
    pub policy: Option<RbacPolicyId>,
    /// For RBAC the matched policy id or `none`, for `jwt_authn` the status text with spaces
    /// (`Jwt is expired`), otherwise the details verbatim.
    pub reason: Option<String>,
    /// The decoded text: `RESPONSE_CODE_DETAILS`, or the termination details of a TCP connection.
    pub details: Option<String>,
}

/// An Envoy RBAC policy id as istiod names it: `ns[NS]-policy[NAME]-rule[N]`, with the CUSTOM
/// forms `istio-ext-authz-[PROVIDER-]ns[…]…` and the `…-deny-due-to-bad-CUSTOM-action` suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacPolicyId {
    pub namespace: String,
    pub name: String,
    /// Index of the rule within the policy's `spec.rules`.
    pub rule: u32,
    /// Whether the id belongs to a CUSTOM (`ext_authz`) policy.
    pub custom: bool,
    /// The extension provider, present in CUSTOM ids from Istio 1.30.
    pub provider: Option<String>,
    /// Whether istiod generated this deny because the CUSTOM policy's provider is missing or invalid.
    pub bad_custom_action: bool,
}

const RBAC_DENIED: &str = "rbac_access_denied";
const RBAC_MATCHED: &str = "rbac_access_denied_matched_policy[";
const JWT_DENIED: &str = "jwt_authn_access_denied";
const CUSTOM_PREFIX: &str = "istio-ext-authz-";
const BAD_CUSTOM_SUFFIX: &str = "-deny-due-to-bad-CUSTOM-action";

/// Response flags that mean the proxy failed to reach or keep an upstream.
const UPSTREAM_FAILURE_FLAGS: [&str; 11] = [
    "UH", "UF", "UO", "NR", "URX", "UC", "UT", "LR", "UR", "NC", "UMSDR",
];

/// The values of a line that [`decode_outcome`] reads, borrowed from the line or from an entry.
#[derive(Debug, Clone, Default)]
pub(crate) struct OutcomeFields<'a> {
    pub(crate) response_code: u16,
    pub(crate) response_flags: Option<&'a str>,
    pub(crate) response_code_details: Option<&'a str>,
    pub(crate) connection_termination_details: Option<&'a str>,
    pub(crate) upstream_service_time: Option<&'a str>,
    pub(crate) upstream_host: Option<&'a str>,
}

impl<'a> OutcomeFields<'a> {
    pub(crate) fn of(entry: &'a AccessLogEntry) -> Self {
        Self {
            response_code: entry.response_code,
            response_flags: entry.response_flags.as_deref(),
            response_code_details: entry.response_code_details.as_deref(),
            connection_termination_details: entry.connection_termination_details.as_deref(),
            upstream_service_time: entry.upstream_service_time.as_deref(),
            upstream_host: entry.upstream_host.as_deref(),
        }
    }
}

/// Decodes which component decided the request logged in `entry`, and why.
pub fn decode_outcome(entry: &AccessLogEntry) -> Outcome {
    decode_fields(&OutcomeFields::of(entry))
}

/// Decodes which component decided the request whose values are `fields`, and why.
pub(crate) fn decode_fields(fields: &OutcomeFields) -> Outcome {
    let flags = fields.response_flags.unwrap_or("");
    let details = fields
        .response_code_details
        .or(fields.connection_termination_details);
    let mut outcome = match details {
        Some(details) => decode_details(details, flags, fields.response_code),
        None => decode_without_details(fields, flags),
    };
    outcome.details = details.map(str::to_string);
    outcome
}

fn decode_details(details: &str, flags: &str, status: u16) -> Outcome {
    if details == "via_upstream" {
        return outcome(Decision::Allow, DecidedBy::Upstream, None);
    }
    if let Some(inner) = details.strip_prefix(RBAC_MATCHED) {
        let id = bracket_content(inner).unwrap_or(inner);
        let mut outcome = outcome(Decision::Deny, DecidedBy::Rbac, Some(id.to_string()));
        outcome.policy = parse_policy_id(id);
        return outcome;
    }
    if details == RBAC_DENIED {
        // Envoy before the matched policy was added to the details logs no policy id.
        return outcome(Decision::Deny, DecidedBy::Rbac, None);
    }
    if let Some(rest) = details.strip_prefix(JWT_DENIED) {
        // Envoy replaces whitespace in the status text with `_`; older versions kept the spaces.
        let reason = rest
            .strip_prefix('{')
            .and_then(|inner| inner.strip_suffix('}'))
            .map(|text| text.replace('_', " "));
        return outcome(Decision::Deny, DecidedBy::JwtAuthn, reason);
    }
    let ext_authz = match details {
        "ext_authz_denied" => Some((Decision::Deny, "the external authorizer denied the request")),
        "ext_authz_error" => Some((
            Decision::Error,
            "the external authorizer failed or timed out",
        )),
        "ext_authz_invalid" => Some((
            Decision::Error,
            "the external authorizer returned an invalid response",
        )),
        _ => None,
    };
    if let Some((decision, reason)) = ext_authz {
        return outcome(decision, DecidedBy::ExtAuthz, Some(reason.to_string()));
    }
    if has_flag(flags, "UAEX") {
        return outcome(
            Decision::Deny,
            DecidedBy::ExtAuthz,
            Some(details.to_string()),
        );
    }
    let decision = if details == "filter_chain_not_found" {
        // No filter chain accepted the connection: plaintext to a STRICT mTLS port, for example.
        Decision::Deny
    } else if status >= 500
        || details.starts_with("upstream_")
        || details == "no_healthy_upstream"
        || UPSTREAM_FAILURE_FLAGS
            .iter()
            .any(|flag| has_flag(flags, flag))
    {
        Decision::Error
    } else if (400..500).contains(&status) {
        Decision::Deny
    } else {
        Decision::Unknown
    };
    outcome(decision, DecidedBy::Other, Some(details.to_string()))
}

/// Decodes a line without details: formats before Istio 1.9, or custom formats that omit them.
fn decode_without_details(fields: &OutcomeFields, flags: &str) -> Outcome {
    if has_flag(flags, "UAEX") {
        return outcome(Decision::Deny, DecidedBy::ExtAuthz, None);
    }
    if UPSTREAM_FAILURE_FLAGS
        .iter()
        .any(|flag| has_flag(flags, flag))
    {
        return outcome(Decision::Error, DecidedBy::Other, Some(flags.to_string()));
    }
    // NOTE: without details, an upstream service time (HTTP) or an upstream host on a TCP
    // connection is the only sign that the request was forwarded, because a local reply has neither.
    let forwarded = fields.upstream_service_time.is_some()
        || (fields.response_code == 0 && fields.upstream_host.is_some());
    if forwarded {
        return outcome(Decision::Allow, DecidedBy::Upstream, None);
    }
    if fields.response_code >= 500 {
        return outcome(Decision::Error, DecidedBy::Other, None);
    }
    outcome(Decision::Unknown, DecidedBy::Other, None)
}

fn outcome(decision: Decision, decided_by: DecidedBy, reason: Option<String>) -> Outcome {
    Outcome {
        decision,
        decided_by,
        policy: None,
        reason,
        details: None,
    }
}

/// Returns whether `flags` (comma-separated, as Envoy logs several) contains `flag`.
fn has_flag(flags: &str, flag: &str) -> bool {
    flags.split(',').any(|f| f == flag)
}

/// Returns the text up to the `]` that closes an already opened `[`, counting nested brackets,
/// when that `]` ends `text`.
fn bracket_content(text: &str) -> Option<&str> {
    let end = closing_delimiter(text, '[', ']')?;
    (end + 1 == text.len()).then_some(&text[..end])
}

/// Parses an RBAC policy id generated by istiod; `none` and other ids give `None`.
pub fn parse_policy_id(id: &str) -> Option<RbacPolicyId> {
    let (custom, provider, rest) = match id.strip_prefix(CUSTOM_PREFIX) {
        Some(after) => {
            let at = after.find("ns[")?;
            let provider = after[..at].strip_suffix('-').map(str::to_string);
            if at > 0 && provider.is_none() {
                return None;
            }
            (true, provider, &after[at..])
        }
        None => (false, None, id),
    };
    let (namespace, rest) = take_bracketed(rest, "ns[")?;
    let (name, rest) = take_bracketed(rest, "-policy[")?;
    let (rule, rest) = take_bracketed(rest, "-rule[")?;
    let bad_custom_action = match rest {
        "" => false,
        BAD_CUSTOM_SUFFIX => true,
        _ => return None,
    };
    Some(RbacPolicyId {
        namespace: namespace.to_string(),
        name: name.to_string(),
        rule: rule.parse().ok()?,
        custom,
        provider,
        bad_custom_action,
    })
}

/// Splits `PREFIX…]` off `text`, returning the bracket content and what follows.
fn take_bracketed<'a>(text: &'a str, prefix: &str) -> Option<(&'a str, &'a str)> {
    let inner = text.strip_prefix(prefix)?;
    let end = closing_delimiter(inner, '[', ']')?;
    Some((&inner[..end], &inner[end + 1..]))
}
