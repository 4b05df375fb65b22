//! istiod's validating webhook for the three security kinds, with its messages.
//!
//! The message texts are istiod's (`pkg/config/validation` and `pkg/config/security` at Istio
//! 1.28); the webhook wraps each AuthorizationPolicy error as `invalid policy NAME.NAMESPACE: …`,
//! which [`ValidationError::webhook_message`] reproduces. A rejected object never reaches Envoy,
//! so callers should report it and leave it out of the simulation. Three checks come from CRD
//! rules (CEL and `maxLength`) rather than the webhook, and their wording is this module's.

use std::fmt;

use serde_json::Value;

use super::crd::{
    PeerAuthentication, PolicySet, PolicyTargetReference, RequestAuthentication, WorkloadSelector,
};
use super::validate_rules::validate_authorization;

/// Whether istiod rejects the object or admits it with a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// One webhook finding on one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub severity: Severity,
    /// `Kind namespace/name`.
    pub object: String,
    pub name: String,
    pub namespace: String,
    /// Dotted path of the field concerned, e.g. `spec.rules[1].to[0].operation.paths`.
    pub field: String,
    /// istiod's message text.
    pub message: String,
}

impl ValidationError {
    /// Formats the finding as istiod's webhook reports an AuthorizationPolicy error.
    pub fn webhook_message(&self) -> String {
        format!(
            "configuration is invalid: invalid policy {}.{}: {}",
            self.name, self.namespace, self.message
        )
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "rejected",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{} {label}, field `{}`: {}",
            self.object, self.field, self.message
        )
    }
}

/// Collects findings for one object.
pub(crate) struct Findings<'a> {
    pub kind: &'a str,
    pub name: &'a str,
    pub namespace: &'a str,
    pub out: &'a mut Vec<ValidationError>,
}

impl Findings<'_> {
    pub(crate) fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Error, field.into(), message.into());
    }

    pub(crate) fn warning(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.push(Severity::Warning, field.into(), message.into());
    }

    fn push(&mut self, severity: Severity, field: String, message: String) {
        self.out.push(ValidationError {
            severity,
            object: format!("{} {}/{}", self.kind, self.namespace, self.name),
            name: self.name.to_owned(),
            namespace: self.namespace.to_owned(),
            field,
            message,
        });
    }
}

/// Validates every object as istiod's webhook would, in load order.
pub fn validate(policies: &PolicySet) -> Vec<ValidationError> {
    let mut out = Vec::new();
    for policy in &policies.authorization {
        let mut findings = Findings {
            kind: "AuthorizationPolicy",
            name: &policy.metadata.name,
            namespace: &policy.metadata.namespace,
            out: &mut out,
        };
        validate_authorization(policy, &mut findings);
    }
    for policy in &policies.request_authentication {
        let mut findings = Findings {
            kind: "RequestAuthentication",
            name: &policy.metadata.name,
            namespace: &policy.metadata.namespace,
            out: &mut out,
        };
        validate_request_authentication(policy, &mut findings);
    }
    for policy in &policies.peer_authentication {
        let mut findings = Findings {
            kind: "PeerAuthentication",
            name: &policy.metadata.name,
            namespace: &policy.metadata.namespace,
            out: &mut out,
        };
        validate_peer_authentication(policy, &mut findings);
    }
    out
}

/// Checks `selector`, `targetRef` and `targetRefs` together, as istiod's
/// `validateOneOfSelectorType`, `validateWorkloadSelector` and `validatePolicyTargetReference` do.
pub(crate) fn validate_attachment(
    selector: Option<&WorkloadSelector>,
    target_ref: Option<&PolicyTargetReference>,
    target_refs: &[PolicyTargetReference],
    findings: &mut Findings<'_>,
) {
    let has_refs = target_ref.is_some() || !target_refs.is_empty();
    if selector.is_some() && has_refs {
        findings.error(
            "spec.selector",
            "only one of targetRefs or workloadSelector can be set",
        );
    }
    if target_ref.is_some() && !target_refs.is_empty() {
        findings.error(
            "spec.targetRef",
            "only one of targetRef or targetRefs can be set",
        );
    }
    if let Some(selector) = selector {
        validate_selector(selector, findings);
    }
    if target_refs.len() > 16 {
        findings.error("spec.targetRefs", "may not have more than 16 values");
    }
    let refs = target_ref
        .map(|r| ("spec.targetRef".to_owned(), r))
        .into_iter()
        .chain(
            target_refs
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("spec.targetRefs[{i}]"), r)),
        );
    for (field, reference) in refs {
        validate_target_ref(&field, reference, findings);
    }
}

fn validate_selector(selector: &WorkloadSelector, findings: &mut Findings<'_>) {
    if selector.match_labels.is_empty() {
        findings.warning(
            "spec.selector",
            "workload selector specified without labels",
        );
    }
    for (key, value) in &selector.match_labels {
        let field = format!("spec.selector.matchLabels.{key}");
        if key.is_empty() {
            findings.error(
                &field,
                format!("empty key is not supported in selector: \"{key}={value}\""),
            );
        }
        if key.contains('*') || value.contains('*') {
            findings.error(
                &field,
                format!("wildcard is not supported in selector: \"{key}={value}\""),
            );
        }
    }
}

/// The group/kind pairs a targetRef may name, in istiod's order and format.
const ALLOWED_TARGETS: [(&str, &str); 4] = [
    ("gateway.networking.k8s.io", "Gateway"),
    ("core", "Service"),
    ("networking.istio.io", "ServiceEntry"),
    ("gateway.networking.k8s.io", "GatewayClass"),
];

fn validate_target_ref(
    field: &str,
    reference: &PolicyTargetReference,
    findings: &mut Findings<'_>,
) {
    if reference.name.is_empty() {
        findings.error(format!("{field}.name"), "targetRef name must be set");
    }
    if !reference.namespace.is_empty() {
        findings.error(
            format!("{field}.namespace"),
            "targetRef namespace must not be set; cross namespace referencing is not supported",
        );
    }
    let group = if reference.group.is_empty() {
        "core"
    } else {
        reference.group.as_str()
    };
    if !ALLOWED_TARGETS.contains(&(group, reference.kind.as_str())) {
        let allowed: Vec<String> = ALLOWED_TARGETS
            .iter()
            .map(|(g, k)| format!("{g}/{k}"))
            .collect();
        findings.error(
            format!("{field}.kind"),
            format!(
                "targetRef must be to one of [{}] but was {group}/{}",
                allowed.join(" "),
                reference.kind
            ),
        );
    }
}

fn validate_request_authentication(policy: &RequestAuthentication, findings: &mut Findings<'_>) {
    let spec = &policy.spec;
    validate_attachment(
        spec.selector.as_ref(),
        spec.target_ref.as_ref(),
        &spec.target_refs,
        findings,
    );
    for (i, rule) in spec.jwt_rules.iter().enumerate() {
        let field = format!("spec.jwtRules[{i}]");
        if rule.issuer.is_empty() && rule.jwks_uri.is_empty() {
            findings.error(
                format!("{field}.issuer"),
                "issuer or jwksUri must be non-empty string",
            );
        }
        if rule.audiences.iter().any(String::is_empty) {
            findings.error(
                format!("{field}.audiences"),
                "audience must be non-empty string",
            );
        }
        if !rule.jwks_uri.is_empty() {
            validate_jwks_uri(&rule.jwks_uri, &format!("{field}.jwksUri"), findings);
        }
        if !rule.jwks.is_empty() {
            validate_jwks(&rule.jwks, &format!("{field}.jwks"), findings);
        }
        if !rule.jwks.is_empty() && !rule.jwks_uri.is_empty() {
            findings.error(&field, "only one of jwks or jwksUri can be set");
        }
        if rule.from_headers.iter().any(|h| h.name.is_empty()) {
            findings.error(
                format!("{field}.fromHeaders"),
                "location header name must be non-empty string",
            );
        }
        if rule.from_params.iter().any(String::is_empty) {
            findings.error(
                format!("{field}.fromParams"),
                "location query must be non-empty string",
            );
        }
        if rule.from_cookies.iter().any(String::is_empty) {
            findings.error(
                format!("{field}.fromCookies"),
                "cookie name must be non-empty string",
            );
        }
        if rule
            .output_claim_to_headers
            .iter()
            .any(|c| c.claim.is_empty() || c.header.is_empty())
        {
            findings.error(
                format!("{field}.outputClaimToHeaders"),
                "outputClaimToHeaders header and claim value must be non-empty string",
            );
        }
    }
}

fn validate_jwks_uri(uri: &str, field: &str, findings: &mut Findings<'_>) {
    let scheme = uri.split_once("://").map_or("", |(scheme, _)| scheme);
    if !matches!(scheme, "http" | "https") {
        findings.error(field, format!("URI scheme \"{scheme}\" is not supported"));
    }
    if uri.len() > 2048 {
        findings.error(field, "jwksUri must be at most 2048 characters");
    }
}

fn validate_jwks(jwks: &str, field: &str, findings: &mut Findings<'_>) {
    let keys = match serde_json::from_str::<Value>(jwks) {
        Ok(Value::Object(map)) => match map.get("keys") {
            Some(Value::Array(keys)) => keys.clone(),
            // A single JWK is accepted as well.
            _ => vec![Value::Object(map)],
        },
        Ok(_) => {
            findings.error(field, "jwks parse error: expected a JSON object");
            return;
        }
        Err(err) => {
            // NOTE: istiod's tail comes from its JWK library; ours comes from serde_json.
            findings.error(field, format!("jwks parse error: {err}"));
            return;
        }
    };
    for (i, key) in keys.iter().enumerate() {
        // RSA, EC and OKP private keys carry the private exponent or scalar `d`.
        if key.get("d").is_some() {
            findings.warning(
                field,
                format!("jwks key at index {i} contains private key material; only public keys are used for verification"),
            );
        }
    }
}

fn validate_peer_authentication(policy: &PeerAuthentication, findings: &mut Findings<'_>) {
    let spec = &policy.spec;
    if let Some(selector) = &spec.selector {
        validate_selector(selector, findings);
    }
    let has_labels = spec
        .selector
        .as_ref()
        .is_some_and(|s| !s.match_labels.is_empty());
    if !has_labels && !spec.port_level_mtls.is_empty() {
        findings.error(
            "spec.portLevelMtls",
            "mesh/namespace peer authentication cannot have port level mTLS",
        );
    }
    for port in spec.port_level_mtls.keys() {
        let in_range = port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
        if !in_range {
            findings.error(
                format!("spec.portLevelMtls.{port}"),
                "port must be in range 1..65535",
            );
        }
    }
}
