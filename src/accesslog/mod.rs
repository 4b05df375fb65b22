//! Envoy and Istio access log lines: the Istio default TEXT format (both generations), the JSON
//! encoding, and custom formats compiled from their `%OPERATOR%` format string; `RESPONSE_CODE_DETAILS`
//! decoded into who answered and why.

use std::collections::BTreeMap;

use crate::flow::Observation;
use crate::model::{Hop, HopKind, HopRole};

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
    /// Claims of the token jwt_authn accepted, from `%DYNAMIC_METADATA(envoy.filters.http.jwt_authn)%`.
    pub jwt_payload: Option<serde_json::Value>,
    /// Operators of a custom format that have no field above, by operator text.
    pub extra: BTreeMap<String, String>,
}

/// Errors from parsing one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not an access log line: {0}")]
    NotAccessLog(String),
}

/// Parses one line in any format this module recognises.
pub fn parse_line(line: &str) -> Result<AccessLogEntry, ParseError> {
    Err(ParseError::NotAccessLog(line.chars().take(40).collect()))
}

impl AccessLogEntry {
    /// Builds the observation of this line at a proxy at `location` (`NAMESPACE/WORKLOAD`).
    pub fn observe(&self, location: &str, role: HopRole) -> Observation {
        let mut hop = Hop::new(HopKind::Mesh, location);
        hop.role = Some(role);
        Observation {
            hop,
            edge_request_id: self.edge_request_id.clone(),
            request_id: self.request_id.clone(),
            method: self.method.clone(),
            path: self.path.clone(),
            authority: self.authority.clone(),
            client_ip: None,
        }
    }
}
