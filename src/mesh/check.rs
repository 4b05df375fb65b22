//! The whole simulation for one request at one workload: scope the policies, run jwt_authn, then the
//! RBAC filters, in the order istiod chains them, and explain the verdict.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::crd::{MtlsMode, PolicySet, RequestAuthentication};
use super::rbac::{self, BuildSettings, ExtAuthzProvider, ScopedPolicy};
use super::scope::{AppliedPolicies, policies_for};
use super::warnings::{PortProtocol, warnings};
use super::{MeshSettings, Protocol, Request, Stage, Step, Verdict, Workload, codec, jwt};
use crate::model::Decision;

/// What the simulation needs besides the request: the policies, the JWKS istiod would have fetched
/// (by `jwksUri` or issuer), and the mesh's ext_authz providers for CUSTOM policies.
#[derive(Debug, Clone, Copy)]
pub struct Mesh<'a> {
    pub policies: &'a PolicySet,
    pub jwks: &'a BTreeMap<String, String>,
    pub providers: &'a [ExtAuthzProvider],
    pub settings: &'a MeshSettings,
}

/// Errors that stop a simulation.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("the RBAC config built for {workload} could not be compiled: {source}")]
    Engine {
        workload: String,
        #[source]
        source: rbac::EngineError,
    },
    #[error("the generated Envoy config for {workload} could not be serialized: {source}")]
    Serialize {
        workload: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The Envoy filters istiod would put in front of a workload's port, in chain order, as Envoy's
/// proto-JSON: ready to place before the router (HTTP) or `tcp_proxy` (TCP).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EnvoyFilters {
    pub http_filters: Vec<Value>,
    pub network_filters: Vec<Value>,
    /// Notes from the build, such as a JWKS istiod would have fetched or a config Envoy rejects,
    /// worded as in `check`'s warnings. Not part of the config.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// The destination port `idflow check` sends to unless `--port` names another.
pub const DEFAULT_PORT: u16 = 8080;

/// Returns the header `idflow check --token` adds: `authorization: Bearer TOKEN`.
pub fn bearer_header(token: &str) -> (String, String) {
    ("authorization".to_owned(), format!("Bearer {token}"))
}

/// Returns the `:authority` of a request to the workload's own service on `port`, which
/// `idflow check` sends unless `--host` names another.
pub fn service_host(workload: &Workload, port: u16) -> String {
    format!(
        "{}.{}.svc.cluster.local:{port}",
        workload.name, workload.namespace
    )
}

/// Simulates `request` at `workload` and returns the verdict with its explanation.
pub fn check(
    mesh: &Mesh<'_>,
    workload: &Workload,
    request: &Request,
) -> Result<Verdict, CheckError> {
    let name = format!("{}/{}", workload.namespace, workload.name);
    let applied = policies_for(mesh.policies, workload, mesh.settings);
    let mut notes = policy_warnings(&applied, workload, request, mesh.settings);

    if let Some(verdict) = strict_mtls_refusal(&applied, &name, request, &notes) {
        return Ok(verdict);
    }
    if let Some(verdict) = codec::rejection(&name, request, &notes) {
        return Ok(verdict);
    }

    let request_authentications = request_authentications(&applied);
    let authn = jwt::authenticate(&request_authentications, mesh.jwks, request, mesh.settings);
    notes.extend(authn.warnings.iter().cloned());
    if let Some(mut verdict) = authn.verdict(&name) {
        verdict.warnings = notes;
        return Ok(verdict);
    }

    // RBAC runs after jwt_authn and sees the headers as jwt_authn left them (a verified token's
    // `Authorization` header is gone unless the rule forwards it).
    let after_authn = Request {
        headers: authn.headers.clone(),
        ..request.clone()
    };
    let scoped = scoped_policies(&applied);
    let rbac_verdict = rbac::authorize(
        &scoped,
        mesh.settings,
        mesh.providers,
        &after_authn,
        authn.payload.as_ref(),
    )
    .map_err(|source| CheckError::Engine {
        workload: name.clone(),
        source,
    })?;
    notes.extend(rbac_verdict.notes);

    let mut explanation = authn.explanation;
    explanation.extend(rbac_verdict.explanation);
    let response_code_details =
        if rbac_verdict.decision == Decision::Allow && request.protocol == Protocol::Http {
            "via_upstream".to_owned()
        } else {
            rbac_verdict.response_code_details
        };
    Ok(Verdict {
        workload: name,
        status: rbac_verdict.status,
        decision: rbac_verdict.decision,
        stage: rbac_verdict.stage,
        policy: rbac_verdict.policy,
        rule: rbac_verdict.rule,
        response_code_details,
        request_principal: authn.request_principal,
        explanation,
        warnings: notes,
    })
}

/// Builds the filters istiod would generate for `workload` on a port of `protocol`.
pub fn envoy_filters(
    mesh: &Mesh<'_>,
    workload: &Workload,
    protocol: Protocol,
) -> Result<EnvoyFilters, CheckError> {
    let name = format!("{}/{}", workload.namespace, workload.name);
    let serialize = |source| CheckError::Serialize {
        workload: name.clone(),
        source,
    };
    let applied = policies_for(mesh.policies, workload, mesh.settings);
    let scoped = scoped_policies(&applied);
    let built = rbac::build(
        &scoped,
        &BuildSettings {
            mesh: mesh.settings,
            protocol,
            providers: mesh.providers,
        },
    );

    let mut filters = Vec::with_capacity(built.filters.len() + 1);
    for filter in &built.filters {
        filters.push(serde_json::to_value(filter).map_err(serialize)?);
    }
    if protocol == Protocol::Tcp {
        return Ok(EnvoyFilters {
            http_filters: Vec::new(),
            network_filters: filters,
            warnings: Vec::new(),
        });
    }

    // istiod chains the CUSTOM pair (shadow RBAC, ext_authz) first, then jwt_authn, then AUDIT, DENY
    // and ALLOW RBAC.
    let request_authentications = request_authentications(&applied);
    let mut warnings = Vec::new();
    if let Some(built) = jwt::build(&request_authentications, mesh.jwks, mesh.settings) {
        let after_custom = filters
            .iter()
            .rposition(|filter| filter["name"] == "envoy.filters.http.ext_authz")
            .map_or(0, |index| index + 1);
        filters.insert(
            after_custom,
            serde_json::to_value(built.filter).map_err(serialize)?,
        );
        warnings = built.notes;
    }
    Ok(EnvoyFilters {
        http_filters: filters,
        network_filters: Vec::new(),
        warnings,
    })
}

fn request_authentications(applied: &AppliedPolicies) -> Vec<RequestAuthentication> {
    applied
        .request_authentication
        .iter()
        .map(|applied| applied.policy.clone())
        .collect()
}

fn scoped_policies(applied: &AppliedPolicies) -> Vec<ScopedPolicy<'_>> {
    applied
        .authorization
        .iter()
        .map(|applied| ScopedPolicy {
            policy: &applied.policy,
            dry_run: applied.dry_run,
        })
        .collect()
}

fn policy_warnings(
    applied: &AppliedPolicies,
    workload: &Workload,
    request: &Request,
    settings: &MeshSettings,
) -> Vec<String> {
    let ports = [PortProtocol {
        port: request.port,
        protocol: request.protocol,
    }];
    let mut notes: Vec<String> = applied.notices.clone();
    notes.extend(
        warnings(applied, workload, &ports, settings.istio_version)
            .iter()
            .map(ToString::to_string),
    );
    notes
}

/// A STRICT PeerAuthentication port has only the mTLS filter chain, so Envoy finds no chain for a
/// plaintext connection and closes it before any HTTP filter runs.
fn strict_mtls_refusal(
    applied: &AppliedPolicies,
    workload: &str,
    request: &Request,
    notes: &[String],
) -> Option<Verdict> {
    if request.source_principal.is_some()
        || applied.peer_authentication.mode_for_port(request.port) != MtlsMode::Strict
    {
        return None;
    }
    let sources = applied
        .peer_authentication
        .sources
        .iter()
        .map(|source| source.policy.clone())
        .collect::<Vec<_>>();
    Some(Verdict {
        workload: workload.to_owned(),
        status: 0,
        decision: Decision::Deny,
        stage: Stage::Authn,
        policy: sources.first().cloned(),
        rule: None,
        response_code_details: "filter_chain_not_found".to_owned(),
        request_principal: None,
        explanation: vec![Step {
            stage: Stage::Authn,
            policy: sources.first().cloned(),
            rule: None,
            outcome: "rejected".to_owned(),
            message: format!(
                "port {} requires mTLS (PeerAuthentication STRICT from {}), and the connection is plaintext",
                request.port,
                if sources.is_empty() {
                    "the mesh default".to_owned()
                } else {
                    sources.join(", ")
                }
            ),
        }],
        warnings: notes.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::size::ENVOY_HEADERS_LIMIT_BYTES;

    fn verdict_for(request: &Request) -> Verdict {
        let policies = PolicySet::default();
        let jwks = BTreeMap::new();
        let settings = MeshSettings::default();
        let mesh = Mesh {
            policies: &policies,
            jwks: &jwks,
            providers: &[],
            settings: &settings,
        };
        let workload = Workload {
            namespace: "shop".to_owned(),
            name: "orders".to_owned(),
            ..Workload::default()
        };
        check(&mesh, &workload, request).expect("the check runs")
    }

    #[test]
    fn codec_rejects_before_filters() {
        let mut request = Request {
            path: "/api#top".to_owned(),
            ..Request::default()
        };
        let fragment = verdict_for(&request);
        assert_eq!(fragment.status, 400);
        assert_eq!(fragment.response_code_details, "path_normalization_failed");

        request.path = "/api".to_owned();
        request
            .headers
            .push(("x-big".to_owned(), "a".repeat(ENVOY_HEADERS_LIMIT_BYTES)));
        let large = verdict_for(&request);
        assert_eq!(large.status, 431);
        assert_eq!(large.response_code_details, "http1.headers_too_large");

        request.headers.clear();
        assert_eq!(verdict_for(&request).status, 200);
    }

    #[test]
    fn codec_rejects_request_lines() {
        let cases = [
            ("GET", "/", None),
            ("MSEARCH", "/", None),
            ("get", "/", Some("http1.codec_error")),
            ("M-SEARCH", "/", Some("http1.codec_error")),
            ("GET", "/caf\u{e9}", Some("http1.codec_error")),
            ("GET", "/caf%C3%A9", None),
            ("CONNECT", "/", Some("http1.invalid_url")),
        ];
        for (method, path, details) in cases {
            let request = Request {
                method: method.to_owned(),
                path: path.to_owned(),
                ..Request::default()
            };
            let verdict = verdict_for(&request);

            let expected_status = if details.is_some() { 400 } else { 200 };
            assert_eq!(verdict.status, expected_status, "{method} {path}");
            if let Some(details) = details {
                assert_eq!(verdict.response_code_details, details, "{method} {path}");
            }
        }
    }

    #[test]
    fn codec_rejects_header_name() {
        let request = Request {
            headers: vec![("x(tenant)".to_owned(), "acme".to_owned())],
            ..Request::default()
        };
        let verdict = verdict_for(&request);

        assert_eq!(verdict.status, 400);
        assert_eq!(verdict.response_code_details, "http1.codec_error");
    }
}
