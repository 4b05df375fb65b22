//! The hop an access log line describes: verdict, who decided, and the identity the proxy saw.

use chrono::{DateTime, SecondsFormat, Utc};

use super::AccessLogEntry;
use super::claims::Metadata;
use super::outcome::{OutcomeFields, decode_fields};
use crate::flow::Observation;
use crate::model::{Hop, HopKind, HopRole, Identity};
use crate::redact::hide_path_credentials;

/// The values of one line that its observation uses, borrowed from the line or from an entry.
/// Absent values are `None`, as in [`AccessLogEntry`].
#[derive(Debug, Default)]
pub(crate) struct ObservedFields<'a> {
    pub(crate) start_time: Option<&'a str>,
    pub(crate) method: Option<&'a str>,
    pub(crate) path: Option<&'a str>,
    pub(crate) authority: Option<&'a str>,
    pub(crate) request_id: Option<&'a str>,
    pub(crate) edge_request_id: Option<&'a str>,
    pub(crate) outcome: OutcomeFields<'a>,
    pub(crate) x_forwarded_for: Option<&'a str>,
    pub(crate) downstream_remote_address: Option<&'a str>,
    pub(crate) peer_principal: Option<&'a str>,
    pub(crate) authorization_scheme: Option<&'a str>,
    pub(crate) authorization_logged: bool,
    pub(crate) authorization_credential: bool,
    /// The `jwt_authn` metadata when it is a JSON object.
    pub(crate) metadata: Option<Metadata<'a>>,
}

impl AccessLogEntry {
    /// Builds the observation of this line at a proxy at `location` (`NAMESPACE/WORKLOAD`).
    pub fn observe(&self, location: &str, role: HopRole) -> Observation {
        self.observed_fields().observe(location, role)
    }

    /// Returns the identity this proxy saw: the logged `Authorization` scheme, the claims of the
    /// token `jwt_authn` accepted, and the mTLS peer principal.
    pub fn identity(&self) -> Identity {
        self.observed_fields().identity()
    }

    /// Returns the original client address: the first `x-forwarded-for` entry, else the
    /// downstream remote address without its port.
    pub fn client_ip(&self) -> Option<String> {
        client_ip(
            self.x_forwarded_for.as_deref(),
            self.downstream_remote_address.as_deref(),
        )
    }

    fn observed_fields(&self) -> ObservedFields<'_> {
        ObservedFields {
            start_time: self.start_time.as_deref(),
            method: self.method.as_deref(),
            path: self.path.as_deref(),
            authority: self.authority.as_deref(),
            request_id: self.request_id.as_deref(),
            edge_request_id: self.edge_request_id.as_deref(),
            outcome: OutcomeFields::of(self),
            x_forwarded_for: self.x_forwarded_for.as_deref(),
            downstream_remote_address: self.downstream_remote_address.as_deref(),
            peer_principal: self.peer_principal.as_deref(),
            authorization_scheme: self.authorization_scheme.as_deref(),
            authorization_logged: self.authorization_logged,
            authorization_credential: self.authorization_credential,
            metadata: self.jwt_payload.as_ref().and_then(Metadata::from_value),
        }
    }
}

impl ObservedFields<'_> {
    /// Builds the observation of the line at a proxy at `location` (`NAMESPACE/WORKLOAD`).
    pub(crate) fn observe(self, location: &str, role: HopRole) -> Observation {
        let outcome = decode_fields(&self.outcome);
        let mut hop = Hop::new(HopKind::Mesh, location);
        hop.role = Some(role);
        hop.time = self.start_time.and_then(to_utc_rfc3339);
        hop.status = self.outcome.response_code;
        hop.decision = outcome.decision;
        hop.decided_by = outcome.decided_by;
        hop.policy = outcome
            .policy
            .as_ref()
            .map(|policy| [policy.namespace.as_str(), "/", &policy.name].concat());
        hop.rule = outcome.policy.as_ref().map(|policy| policy.rule);
        hop.reason = outcome.reason;
        hop.details = outcome.details;
        let text = |value: Option<&str>| value.map(str::to_owned);
        let (edge_request_id, request_id) = (text(self.edge_request_id), text(self.request_id));
        let path = self
            .path
            .map(|path| hide_path_credentials(path).into_owned());
        let (method, authority) = (text(self.method), text(self.authority));
        let client_ip = client_ip(self.x_forwarded_for, self.downstream_remote_address);
        hop.identity = self.identity();
        Observation {
            hop,
            edge_request_id,
            request_id,
            method,
            path,
            authority,
            client_ip,
        }
    }

    fn identity(self) -> Identity {
        let claims = self.metadata.and_then(Metadata::claims);
        // A payload without a logged scheme means jwt_authn accepted a token from another location.
        let token_present = if self.authorization_scheme.is_some() || claims.is_some() {
            Some(true)
        } else if self.authorization_logged {
            Some(false)
        } else {
            None
        };
        let mut identity = Identity {
            token_present,
            token_location: self
                .authorization_scheme
                .map(|scheme| ["authorization: ", scheme].concat()),
            peer_principal: self.peer_principal.map(str::to_owned),
            ..Identity::default()
        };
        if let Some(claims) = claims {
            identity.issuer = claims.issuer.map(Into::into);
            identity.subject = claims.subject.map(Into::into);
            identity.audiences = claims.audiences;
            if let (Some(issuer), Some(subject)) = (&identity.issuer, &identity.subject) {
                identity.request_principal = Some([issuer.as_str(), "/", subject].concat());
            }
        }
        identity
    }
}

fn client_ip(
    x_forwarded_for: Option<&str>,
    downstream_remote_address: Option<&str>,
) -> Option<String> {
    let forwarded = x_forwarded_for
        .and_then(|list| list.split(',').next())
        .map(str::trim)
        .filter(|first| !first.is_empty());
    if let Some(first) = forwarded {
        return Some(first.to_string());
    }
    downstream_remote_address.map(strip_port)
}

/// Removes the port from `IPv4:port` or `[IPv6]:port`, and keeps an address without a port.
fn strip_port(address: &str) -> String {
    if let Some(bracketed) = address.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or(bracketed).to_string();
    }
    match address.split_once(':') {
        Some((host, port)) if !port.contains(':') => host.to_string(),
        _ => address.to_string(),
    }
}

/// Returns an RFC 3339 time in UTC with milliseconds, or `None` when `time` is not RFC 3339 (a
/// custom `%START_TIME(…)%` format).
fn to_utc_rfc3339(time: &str) -> Option<String> {
    // The form Envoy logs by default is already the result.
    if crate::flow::time::canonical_utc_millis(time).is_some() {
        return Some(time.to_owned());
    }
    let parsed = DateTime::parse_from_rfc3339(time).ok()?;
    Some(
        parsed
            .with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::Millis, true),
    )
}
