//! The hop an access log line describes: verdict, who decided, and the identity the proxy saw.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::AccessLogEntry;
use super::outcome::decode_outcome;
use crate::flow::Observation;
use crate::model::{Hop, HopKind, HopRole, Identity};

impl AccessLogEntry {
    /// Builds the observation of this line at a proxy at `location` (`NAMESPACE/WORKLOAD`).
    pub fn observe(&self, location: &str, role: HopRole) -> Observation {
        let outcome = decode_outcome(self);
        let mut hop = Hop::new(HopKind::Mesh, location);
        hop.role = Some(role);
        hop.time = self.start_time.as_deref().and_then(to_utc_rfc3339);
        hop.status = self.response_code;
        hop.decision = outcome.decision;
        hop.decided_by = outcome.decided_by;
        hop.policy = outcome
            .policy
            .as_ref()
            .map(|policy| format!("{}/{}", policy.namespace, policy.name));
        hop.rule = outcome.policy.as_ref().map(|policy| policy.rule);
        hop.reason = outcome.reason;
        hop.details = outcome.details;
        hop.identity = self.identity();
        Observation {
            hop,
            edge_request_id: self.edge_request_id.clone(),
            request_id: self.request_id.clone(),
            method: self.method.clone(),
            path: self.path.clone(),
            authority: self.authority.clone(),
            client_ip: self.client_ip(),
        }
    }

    /// Returns the identity this proxy saw: the logged `Authorization` scheme, the claims of the
    /// token `jwt_authn` accepted, and the mTLS peer principal.
    pub fn identity(&self) -> Identity {
        let claims = self.jwt_claims();
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
                .as_ref()
                .map(|scheme| format!("authorization: {scheme}")),
            peer_principal: self.peer_principal.clone(),
            ..Identity::default()
        };
        if let Some((issuer_key, claims)) = claims {
            let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_string);
            identity.issuer = text("iss").or(issuer_key);
            identity.subject = text("sub");
            identity.audiences = match claims.get("aud") {
                Some(Value::String(audience)) => vec![audience.clone()],
                Some(Value::Array(list)) => list
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
                _ => Vec::new(),
            };
            if let (Some(issuer), Some(subject)) = (&identity.issuer, &identity.subject) {
                identity.request_principal = Some(format!("{issuer}/{subject}"));
            }
        }
        identity
    }

    /// Returns the claims in the `jwt_authn` metadata and the key they were stored under, if that
    /// key is the issuer. Istio sets `payload_in_metadata` to the issuer, so the metadata is
    /// `{"<issuer>": {claims}}`. A hand-written filter may use `payload`, and a format logging
    /// `…:payload` gives the claims directly.
    fn jwt_claims(&self) -> Option<(Option<String>, &Map<String, Value>)> {
        let Value::Object(metadata) = self.jwt_payload.as_ref()? else {
            return None;
        };
        if metadata.contains_key("iss") || metadata.contains_key("sub") {
            return Some((None, metadata));
        }
        metadata.iter().find_map(|(key, value)| match value {
            Value::Object(claims) => {
                let issuer = (key != "payload").then(|| key.clone());
                Some((issuer, claims))
            }
            _ => None,
        })
    }

    /// Returns the original client address: the first `x-forwarded-for` entry, else the
    /// downstream remote address without its port.
    pub fn client_ip(&self) -> Option<String> {
        let forwarded = self
            .x_forwarded_for
            .as_deref()
            .and_then(|list| list.split(',').next())
            .map(str::trim)
            .filter(|first| !first.is_empty());
        if let Some(first) = forwarded {
            return Some(first.to_string());
        }
        self.downstream_remote_address.as_deref().map(strip_port)
    }
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
