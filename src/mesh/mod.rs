//! The mesh simulator: which Istio security policies apply to a workload, what istiod generates from
//! them for Envoy, and what that Envoy decides for a request, with the reason.
//!
//! The simulator follows istiod and Envoy in two steps, as the real system does: policies are
//! translated into the Envoy filter configs istiod would push (`jwt_authn`, RBAC), and requests are
//! evaluated against those configs the way Envoy evaluates them. The generated configs can be loaded
//! into a real Envoy, which is how the tests check the simulator.

pub mod check;
pub mod codec;
pub mod crd;
pub mod jwt;
pub mod load;
mod load_schema;
pub mod named;
pub mod rbac;
pub mod scope;
pub mod validate;
mod validate_rules;
pub mod warnings;

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A workload as the policies see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workload {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub service_account: String,
    pub kind: WorkloadKind,
}

/// The kind of proxy in front of a workload, which changes which policies attach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadKind {
    #[default]
    Sidecar,
    /// An Istio ingress or egress gateway deployment (selected by labels).
    Gateway,
    /// A Gateway API gateway (pods labelled `gateway.networking.k8s.io/gateway-name`).
    KubernetesGateway,
    Waypoint,
}

/// Transport of the port the request arrives on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    #[default]
    Http,
    Tcp,
}

/// One request (or TCP connection) arriving at a workload's proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub protocol: Protocol,
    /// Destination (workload) port.
    pub port: u16,
    pub method: String,
    /// Path as sent, query string included.
    pub path: String,
    /// `:authority`, with a port when the client sent one.
    pub host: String,
    /// Request headers as sent (names in any case), `Authorization` included.
    pub headers: Vec<(String, String)>,
    /// The mTLS peer certificate's URI SAN (`spiffe://TD/ns/NS/sa/SA`); `None` for plaintext.
    pub source_principal: Option<String>,
    /// The peer address of the connection (`source.ip`).
    pub source_ip: IpAddr,
    /// The workload address the connection arrived on (`destination.ip`).
    pub destination_ip: IpAddr,
    /// TLS SNI, when the connection used TLS.
    pub sni: Option<String>,
    /// How many `x-forwarded-for` entries to trust (the gateway's `numTrustedProxies`), which gives
    /// `remote.ip`.
    pub xff_trusted_hops: u32,
}

impl Default for Request {
    fn default() -> Self {
        Self {
            protocol: Protocol::Http,
            port: 8080,
            method: "GET".to_owned(),
            path: "/".to_owned(),
            host: String::new(),
            headers: Vec::new(),
            source_principal: None,
            source_ip: IpAddr::from([10, 0, 0, 1]),
            destination_ip: IpAddr::from([10, 0, 0, 2]),
            sni: None,
            xff_trusted_hops: 0,
        }
    }
}

/// Istio release whose semantics to follow, as `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct IstioVersion {
    pub major: u32,
    pub minor: u32,
}

impl IstioVersion {
    /// The release the simulator follows unless told otherwise.
    pub const DEFAULT: Self = Self {
        major: 1,
        minor: 28,
    };
}

/// Mesh-wide settings that change verdicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshSettings {
    /// `meshConfig.rootNamespace`; policies there apply mesh-wide.
    pub root_namespace: String,
    pub trust_domain: String,
    pub trust_domain_aliases: Vec<String>,
    pub istio_version: IstioVersion,
    /// The clock for `exp` and `nbf`.
    pub now: DateTime<Utc>,
}

impl Default for MeshSettings {
    fn default() -> Self {
        Self {
            root_namespace: "istio-system".to_owned(),
            trust_domain: "cluster.local".to_owned(),
            trust_domain_aliases: Vec::new(),
            istio_version: IstioVersion::DEFAULT,
            now: Utc::now(),
        }
    }
}

/// What the proxy decided for a request, in the `check` JSON contract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// `NAMESPACE/NAME`.
    pub workload: String,
    /// HTTP status the proxy returns; 200 when allowed (the application answers), 0 for a TCP
    /// connection closed by RBAC.
    pub status: u16,
    pub decision: crate::model::Decision,
    pub stage: Stage,
    /// The deciding policy as `NAMESPACE/NAME`: the one that denied, or for an allowed request the
    /// enforced ALLOW policy that matched (`None` when no ALLOW policy applies).
    pub policy: Option<String>,
    pub rule: Option<u32>,
    /// Exactly what Envoy logs as `%RESPONSE_CODE_DETAILS%` (or the connection termination details
    /// for TCP), e.g. `rbac_access_denied_matched_policy[none]`, `via_upstream` when allowed.
    pub response_code_details: String,
    /// `iss/sub` of the token jwt_authn accepted.
    pub request_principal: Option<String>,
    /// Every policy and rule considered, in evaluation order.
    pub explanation: Vec<Step>,
    /// Traps in the policies that apply (a stray `-`, `hosts` without `:*` …).
    pub warnings: Vec<String>,
}

/// The filter that decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Authn,
    Authz,
    /// No filter denied: the request goes to the application, unless the HTTP codec rejected it
    /// before any filter ran (400 for a request line or header name it rejects, 431 for headers
    /// over the size limit).
    None,
}

/// One step of the explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub stage: Stage,
    /// The policy considered, as `NAMESPACE/NAME`, when the step is about one.
    pub policy: Option<String>,
    pub rule: Option<u32>,
    /// `matched`, `not_matched`, `skipped`, `accepted`, `rejected`, …
    pub outcome: String,
    /// For a rule that did not match, the first clause that failed, in words.
    pub message: String,
}
