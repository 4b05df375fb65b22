//! The data model shared by the parsers, the correlator, the TUI and the headless output:
//! flows of hops, the identity each hop saw, verdicts and findings.
//!
//! Field names here are the NDJSON contract of `idflow replay` and `idflow follow`, so a rename is a
//! breaking change for scripts.

use serde::Serialize;

/// One client request followed from the edge through the mesh, with its hops in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flow {
    /// The correlation id that joined the hops (the edge request id, else `x-request-id`).
    pub id: String,
    /// Which key joined the hops of this flow.
    pub correlated_by: CorrelationKey,
    /// Start time of the earliest hop, RFC 3339 in UTC, when any hop logged one.
    pub time: Option<String>,
    pub method: Option<String>,
    /// Request path as the first hop logged it, query string included.
    pub path: Option<String>,
    pub hops: Vec<Hop>,
    pub findings: Vec<Finding>,
}

/// The key that joined the records of one flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationKey {
    /// The edge request id forwarded in a neutral header (default `x-edge-request-id`).
    EdgeRequestId,
    /// Envoy's `x-request-id`.
    XRequestId,
    /// Time, method, path and client address, because no id was shared.
    Heuristic,
    /// A record that nothing else joined.
    None,
}

/// One place where the request was seen and judged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hop {
    pub kind: HopKind,
    /// Where it ran: `edge` plus the EdgeWorker, or `NAMESPACE/WORKLOAD` of the proxy.
    #[serde(rename = "where")]
    pub location: String,
    /// The proxy's role, for mesh hops.
    pub role: Option<HopRole>,
    /// Start time at this hop, RFC 3339 in UTC.
    pub time: Option<String>,
    /// HTTP status this hop returned, 0 for a TCP connection.
    pub status: u16,
    pub decision: Decision,
    pub decided_by: DecidedBy,
    /// The deciding AuthorizationPolicy as `NAMESPACE/NAME`.
    pub policy: Option<String>,
    /// The index of the deciding rule within that policy.
    pub rule: Option<u32>,
    /// Why: for jwt_authn the status text (`Jwt is expired`), for RBAC the matched policy id or `none`,
    /// for an EdgeWorker its reason.
    pub reason: Option<String>,
    /// The raw `RESPONSE_CODE_DETAILS` (or the edge's equivalent), kept verbatim.
    pub details: Option<String>,
    pub identity: Identity,
}

impl Hop {
    /// Creates a hop at `location` whose verdict is not known yet.
    pub fn new(kind: HopKind, location: impl Into<String>) -> Self {
        Self {
            kind,
            location: location.into(),
            role: None,
            time: None,
            status: 0,
            decision: Decision::Unknown,
            decided_by: DecidedBy::Other,
            policy: None,
            rule: None,
            reason: None,
            details: None,
            identity: Identity::default(),
        }
    }
}

/// Kind of hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HopKind {
    Edge,
    Mesh,
}

/// Role of a mesh proxy, which orders hops inside a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HopRole {
    Gateway,
    Sidecar,
    Waypoint,
}

/// What a hop did with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Deny,
    /// The hop failed (an EdgeWorker error, an upstream 5xx) rather than judging the request.
    Error,
    /// The record does not say.
    Unknown,
}

/// Who produced the hop's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    Edgeworker,
    JwtAuthn,
    Rbac,
    ExtAuthz,
    Upstream,
    Other,
}

/// The identity as one hop saw it. Never holds a token: at most its fingerprint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Whether a credential was present at this hop: `Some(false)` when the record shows it absent,
    /// `None` when the record does not say.
    pub token_present: Option<bool>,
    /// Where the token was carried, e.g. `authorization: Bearer` or `authorization: bearer`.
    pub token_location: Option<String>,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub audiences: Vec<String>,
    /// Istio request principal, `iss/sub`.
    pub request_principal: Option<String>,
    /// mTLS peer principal, `spiffe://TD/ns/NS/sa/SA`.
    pub peer_principal: Option<String>,
    /// A short hash of the token, for comparing tokens between hops without storing them.
    pub token_fingerprint: Option<String>,
}

impl Identity {
    /// Returns true when the hop saw no identity at all (no token, no claims, no principal).
    pub fn is_empty(&self) -> bool {
        self.token_present != Some(true)
            && self.issuer.is_none()
            && self.subject.is_none()
            && self.request_principal.is_none()
            && self.token_fingerprint.is_none()
    }
}

/// A named, explained problem found in a flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// One sentence naming the hops and the evidence.
    pub message: String,
    /// Indexes into [`Flow::hops`] of the hops this finding is about.
    pub hops: Vec<usize>,
}

/// The kinds of finding; the names are part of the JSON contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    IdentityDropped,
    IdentityMismatch,
    VerdictDisagreement,
    TokenRejected,
    EdgeFailOpen,
    UnattributedDeny,
}

impl FindingKind {
    /// Returns the contract name, e.g. `identity-dropped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdentityDropped => "identity-dropped",
            Self::IdentityMismatch => "identity-mismatch",
            Self::VerdictDisagreement => "verdict-disagreement",
            Self::TokenRejected => "token-rejected",
            Self::EdgeFailOpen => "edge-fail-open",
            Self::UnattributedDeny => "unattributed-deny",
        }
    }
}
