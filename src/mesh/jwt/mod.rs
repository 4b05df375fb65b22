//! RequestAuthentication in the simulator: the `jwt_authn` filter istiod generates for a workload
//! and what that filter decides for a request, with the payload and request principal RBAC reads.

pub mod config;
pub mod engine;
pub mod extract;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::crd::RequestAuthentication;
use super::{MeshSettings, Protocol, Request, Stage, Step, Verdict};
use crate::model::Decision;

pub use config::{Built, JwtAuthnFilter, build};
pub use engine::{Outcome, Passed, Rejected};

/// The authn part of a verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Authn {
    /// Set when jwt_authn rejected the request itself.
    pub rejected: Option<Rejected>,
    /// The payload RBAC reads, when a token was accepted.
    pub payload: Option<Value>,
    /// The `envoy.filters.http.jwt_authn` dynamic metadata.
    pub metadata: Map<String, Value>,
    /// `iss/sub` of the accepted token.
    pub request_principal: Option<String>,
    /// Request headers as the next hop receives them.
    pub headers: Vec<(String, String)>,
    /// One step per provider and token tried.
    pub explanation: Vec<Step>,
    /// What the simulation had to assume.
    pub warnings: Vec<String>,
}

impl Authn {
    /// The verdict when jwt_authn rejected the request, for `workload` as `NAMESPACE/NAME`;
    /// `None` when the request goes on to RBAC.
    pub fn verdict(&self, workload: &str) -> Option<Verdict> {
        let rejected = self.rejected.as_ref()?;
        Some(Verdict {
            workload: workload.to_owned(),
            status: rejected.status,
            decision: Decision::Deny,
            stage: Stage::Authn,
            policy: rejected.policy.clone(),
            rule: None,
            response_code_details: rejected.response_code_details.clone(),
            request_principal: None,
            explanation: self.explanation.clone(),
            warnings: self.warnings.clone(),
        })
    }
}

/// Runs `request` through the `jwt_authn` filter istiod builds from `policies` (the
/// `RequestAuthentication`s that apply to the workload, already scoped). `jwks` maps a `jwksUri` or
/// an issuer to the JWKS istiod would have fetched; `settings.now` is the clock.
pub fn authenticate(
    policies: &[RequestAuthentication],
    jwks: &BTreeMap<String, String>,
    request: &Request,
    settings: &MeshSettings,
) -> Authn {
    let mut authn = Authn {
        rejected: None,
        payload: None,
        metadata: Map::new(),
        request_principal: None,
        headers: request.headers.clone(),
        explanation: Vec::new(),
        warnings: Vec::new(),
    };
    if request.protocol == Protocol::Tcp {
        // jwt_authn is an HTTP filter; a TCP connection never meets it.
        return authn;
    }
    let Some(built) = build(policies, jwks, settings) else {
        return authn;
    };
    authn.warnings.clone_from(&built.notes);
    let (outcome, steps) = engine::run(&built, request, settings.now.timestamp());
    authn.explanation = steps;
    match outcome {
        Outcome::Passed(passed) => {
            authn.payload = passed.payload;
            authn.metadata = passed.metadata;
            authn.request_principal = passed.request_principal;
            authn.headers = passed.headers;
        }
        Outcome::Rejected(rejected) => authn.rejected = Some(rejected),
    }
    authn
}

/// The `jwt_authn` filter istiod pushes for `policies`, or `None` when they hold no `jwtRules`.
pub fn envoy_config(
    policies: &[RequestAuthentication],
    jwks: &BTreeMap<String, String>,
    settings: &MeshSettings,
) -> Option<JwtAuthnFilter> {
    build(policies, jwks, settings).map(|built| built.filter)
}
