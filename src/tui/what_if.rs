//! The Token view's what-if: for each known workload, what its proxy would decide for a
//! request that carries the pasted token where it was pasted. That is the pasted header with its
//! value as pasted, the pasted query parameter or cookie, or `Authorization` for a bare value,
//! with `Bearer ` in front when it has no scheme. Each verdict comes from [`check`], the function `idflow check` runs, with the
//! request built as `idflow check -H` or `--token` builds it, so the table and the command always
//! agree.

use std::collections::BTreeMap;

use crate::edge::profile::sent_header_value;
use crate::mesh::check::{DEFAULT_PORT, Mesh, bearer_header, check, service_host};
use crate::mesh::crd::PolicySet;
use crate::mesh::jwt::extract::{Location, extract, locations, percent_decode};
use crate::mesh::jwt::{self, config::JwtProvider};
use crate::mesh::named;
use crate::mesh::scope::policies_for;
use crate::mesh::validate::{Severity, validate};
use crate::mesh::{MeshSettings, Request, Stage, Verdict, Workload, WorkloadKind};
use crate::model::{Decision, Flow, HopKind, HopRole};
use crate::token::jwks::parse_jwks;
use crate::token::verify::{TokenVerifyError, VerifyError, parse_jwt, verify_token};
use crate::token::{Inspection, pasted_request};

/// A workload to ask, and the mTLS peer its requests arrive from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub workload: Workload,
    /// The peer principal (`spiffe://TD/ns/NS/sa/SA`) of the caller seen in flows, sent as the
    /// connection's mTLS peer; `None` sends plaintext, as `idflow check` does without
    /// `--source-principal`.
    pub source_principal: Option<String>,
}

/// The request each workload receives: `METHOD PATH`, with the token where `carrier` puts it.
#[derive(Clone, Copy)]
pub struct Probe<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The token, or `None` to send none.
    pub token: Option<&'a str>,
    pub carrier: &'a Carrier,
}

/// The place in the what-if request that carries the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carrier {
    /// `Authorization: Bearer TOKEN`, as `idflow check --token` sends it.
    Bearer,
    /// A header name and its whole value as pasted (`x-jwt`, `Tok <jwt>`), as `idflow check -H`
    /// sends it. The value contains the token.
    Header(String, String),
    /// A query parameter name and value as they appear in the pasted URL (percent-encoded). The
    /// pair is added to the path unless the path already has a parameter of that name.
    Param(String, String),
}

/// The location at which the workload's jwt_authn found the token, or the reason it found none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenFound {
    /// No token was sent.
    Missing,
    /// The token was read at this location, e.g. `authorization: Bearer`.
    At(String),
    /// The token was sent but the workload's rules read only these locations.
    NotAt(Vec<String>),
    /// No RequestAuthentication applies, so no filter reads the token.
    NotRead,
}

/// The signature of the token checked against the inline `jwks` of the workload's
/// RequestAuthentication rule for the token's issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    Verified,
    /// No key of the JWKS matches the token's `kid` and `alg`.
    KeyNotFound,
    /// A key matched but the signature did not verify, or the token does not parse.
    Invalid,
    /// The inline JWKS itself does not parse.
    BadJwks,
}

/// One row of the what-if table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `NAMESPACE/NAME`.
    pub workload: String,
    /// The mTLS peer principal the request came from; `None` for plaintext.
    pub peer: Option<String>,
    pub found: TokenFound,
    /// `None` when no rule for the token's issuer carries an inline JWKS.
    pub signature: Option<Signature>,
    /// The verdict, or why there is none.
    pub verdict: Result<Verdict, String>,
    /// The edge column: the edge profile's verdict for this token (`allow`, `deny 401`,
    /// `fail-open`), the same on every row; `None` without a profile, shown as "—".
    pub edge: Option<String>,
}

impl Row {
    /// Returns the jwt_authn result as Envoy words it (`Jwt is expired`), or `ok` for an accepted
    /// token.
    pub fn authn_text(&self) -> String {
        let Ok(verdict) = &self.verdict else {
            return "-".to_owned();
        };
        // No listener took the connection, or the HTTP codec rejected the request (400, or 431 for
        // headers over the limit) before jwt_authn ran.
        if verdict.response_code_details == "filter_chain_not_found"
            || verdict.response_code_details.starts_with("http1.")
        {
            return "not reached".to_owned();
        }
        if let Some(status) = verdict
            .response_code_details
            .strip_prefix("jwt_authn_access_denied{")
            .and_then(|rest| rest.strip_suffix('}'))
        {
            // Envoy logs the status text with each space as `_`. No status text contains `_`, so
            // the replacement can be undone.
            return status.replace('_', " ");
        }
        match (&verdict.request_principal, &self.found) {
            (Some(_), _) => "ok".to_owned(),
            (None, TokenFound::NotRead) => "not checked".to_owned(),
            (None, _) => "no token".to_owned(),
        }
    }
}

impl Row {
    /// Returns the policy (`NAMESPACE/NAME`) and rule that decided: the verdict's for a denial,
    /// and for an allowed request the ALLOW rule that matched, which the verdict does not name.
    /// `None` when nothing decided (no policy applies, or none of its kind).
    pub fn decided_by(&self) -> Option<(String, Option<u32>)> {
        let verdict = self.verdict.as_ref().ok()?;
        if let Some(policy) = &verdict.policy {
            return Some((policy.clone(), verdict.rule));
        }
        if verdict.decision != Decision::Allow {
            return None;
        }
        // The RBAC explanation words each ALLOW rule's step as `ALLOW policy <id>: …`.
        verdict
            .explanation
            .iter()
            .rev()
            .find(|step| {
                step.stage == Stage::Authz
                    && step.outcome == "matched"
                    && step.message.starts_with("ALLOW policy")
            })
            .and_then(|step| Some((step.policy.clone()?, step.rule)))
    }
}

/// Evaluates `probe` at every target, in order. Policies that istiod's webhook would reject give
/// every row an error instead of a verdict, as `idflow check` exits with status 2 for them.
pub fn evaluate(mesh: &Mesh<'_>, targets: &[Target], probe: Probe<'_>) -> Vec<Row> {
    let rejected = validate(mesh.policies)
        .iter()
        .filter(|error| error.severity == Severity::Error)
        .count();
    targets
        .iter()
        .map(|target| {
            let request = request(target, probe);
            let verdict = if rejected > 0 {
                Err(format!(
                    "istiod's webhook would reject {rejected} field(s) of these policies, so no \
                     verdict is given; run idflow check on them to see which"
                ))
            } else {
                check(mesh, &target.workload, &request).map_err(|error| error.to_string())
            };
            let (found, read) =
                token_found(mesh, &target.workload, &request, probe.token.is_some());
            // The signature of the token as jwt_authn reads it from the request, whitespace and
            // trailing text included, else of the decoded token.
            let checked = read.as_deref().or(probe.token);
            Row {
                workload: format!("{}/{}", target.workload.namespace, target.workload.name),
                peer: target.source_principal.clone(),
                found,
                signature: checked.and_then(|token| signature(mesh, &target.workload, token)),
                verdict,
                edge: None,
            }
        })
        .collect()
}

/// Builds the request `idflow check --workload … --method M --path P` sends with `--token T`,
/// with `-H 'NAME: VALUE'` or with the query parameter in `--path`, as `probe.carrier` selects.
/// `--source-principal` comes from `target.source_principal` when one is set.
pub fn request(target: &Target, probe: Probe<'_>) -> Request {
    let mut path = probe.path.to_owned();
    let mut headers = Vec::new();
    if let Some(token) = probe.token {
        match probe.carrier {
            Carrier::Bearer => headers.push(bearer_header(token)),
            Carrier::Header(name, value) => headers.push((name.clone(), value.clone())),
            Carrier::Param(name, value) => path = with_query_parameter(&path, name, value),
        }
    }
    Request {
        port: DEFAULT_PORT,
        method: probe.method.to_owned(),
        path,
        host: service_host(&target.workload, DEFAULT_PORT),
        headers,
        source_principal: target.source_principal.clone(),
        ..Request::default()
    }
}

/// Returns where the what-if request carries the token of `inspection`, found in `pasted`. That
/// is the header it was pasted in with the value as pasted, the query parameter of the pasted
/// URL or the cookie, else `Authorization` with the bare value as pasted. A `Set-Cookie` value is
/// sent back as `Cookie: NAME=TOKEN`.
pub fn carrier(pasted: &str, inspection: &Inspection) -> Carrier {
    let token = inspection.token.expose();
    if let Some(name) = &inspection.query_parameter {
        let url = pasted_request(pasted).and_then(|request| request.url);
        let raw = url.as_deref().and_then(|url| raw_query_pair(url, name));
        let (raw_name, raw_value) = raw.unwrap_or_else(|| (name.clone(), token.to_owned()));
        return Carrier::Param(raw_name, raw_value);
    }
    let Some(name) = &inspection.header_name else {
        // A bare value is the `Authorization` value as pasted, trailing text and whitespace
        // included, with `Bearer ` in front when it has no scheme of its own.
        return match sent_header_value(pasted, inspection) {
            Some(value) if inspection.scheme.is_some() => {
                Carrier::Header("authorization".to_owned(), value)
            }
            Some(value) => Carrier::Header("authorization".to_owned(), format!("Bearer {value}")),
            None => Carrier::Bearer,
        };
    };
    match (
        sent_header_value(pasted, inspection),
        &inspection.cookie_name,
    ) {
        (Some(value), _) => Carrier::Header(name.clone(), value),
        (None, Some(cookie)) => Carrier::Header(name.clone(), format!("{cookie}={token}")),
        (None, None) => Carrier::Bearer,
    }
}

/// Returns the first `name=value` pair of the query of `url` whose name percent-decodes to
/// `name`, both as written in the URL.
fn raw_query_pair(url: &str, name: &str) -> Option<(String, String)> {
    let query = url.split_once('?')?.1.split('#').next().unwrap_or_default();
    query.split('&').find_map(|pair| {
        let (pair_name, value) = pair.split_once('=')?;
        (percent_decode(pair_name) == name).then(|| (pair_name.to_owned(), value.to_owned()))
    })
}

/// Returns `path` with `name=value` added to its query, or `path` unchanged when its query already
/// has a parameter `name` (after percent-decoding, as Envoy compares names).
fn with_query_parameter(path: &str, name: &str, value: &str) -> String {
    let decoded_name = percent_decode(name);
    if let Some((_, query)) = path.split_once('?') {
        let present = query.split('&').any(|pair| {
            let pair_name = pair
                .split_once('=')
                .map_or(pair, |(pair_name, _)| pair_name);
            percent_decode(pair_name) == decoded_name
        });
        if present {
            return path.to_owned();
        }
        let separator = if query.is_empty() { "" } else { "&" };
        return format!("{path}{separator}{name}={value}");
    }
    format!("{path}?{name}={value}")
}

/// Returns where the workload's jwt_authn finds the token in `request`, with the token it reads
/// there when it finds one.
fn token_found(
    mesh: &Mesh<'_>,
    workload: &Workload,
    request: &Request,
    sent: bool,
) -> (TokenFound, Option<String>) {
    let applied = policies_for(mesh.policies, workload, mesh.settings);
    let policies: Vec<_> = applied
        .request_authentication
        .iter()
        .map(|applied| applied.policy.clone())
        .collect();
    let Some(built) = jwt::build(&policies, mesh.jwks, mesh.settings) else {
        return (TokenFound::NotRead, None);
    };
    if !sent {
        return (TokenFound::Missing, None);
    }
    let providers: Vec<&JwtProvider> = built.config().providers.values().collect();
    match extract(&providers, &request.headers, &request.path)
        .into_iter()
        .next()
    {
        Some(found) => (
            TokenFound::At(location_label(&found.location)),
            Some(found.token),
        ),
        None => (
            TokenFound::NotAt(locations(&providers).keys().map(location_label).collect()),
            None,
        ),
    }
}

/// Returns a location in the short form the table shows: `authorization: Bearer`, `?access_token`,
/// `cookie session`.
pub fn location_label(location: &Location) -> String {
    match location {
        Location::Header { name, prefix } if prefix.trim().is_empty() => name.clone(),
        Location::Header { name, prefix } => format!("{name}: {}", prefix.trim()),
        Location::Param(name) => format!("?{name}"),
        Location::Cookie(name) => format!("cookie {name}"),
    }
}

fn signature(mesh: &Mesh<'_>, workload: &Workload, token: &str) -> Option<Signature> {
    let issuer = parse_jwt(token).ok()?.iss.clone();
    let applied = policies_for(mesh.policies, workload, mesh.settings);
    // Each rule for the issuer is a provider of its own, and Envoy accepts the token when any of
    // them verifies it, so the first rule that verifies decides, else the first rule's outcome.
    let outcomes = applied
        .request_authentication
        .iter()
        .flat_map(|applied| &applied.policy.spec.jwt_rules)
        .filter(|rule| rule.issuer == issuer && !rule.jwks.is_empty())
        .map(|rule| {
            let Ok(keys) = parse_jwks(&rule.jwks) else {
                return Signature::BadJwks;
            };
            match verify_token(token, &keys) {
                Ok(_) => Signature::Verified,
                Err(TokenVerifyError::Signature(VerifyError::KidAlgMismatch { .. })) => {
                    Signature::KeyNotFound
                }
                Err(_) => Signature::Invalid,
            }
        });
    let mut first = None;
    for outcome in outcomes {
        if outcome == Signature::Verified {
            return Some(outcome);
        }
        first.get_or_insert(outcome);
    }
    first
}

/// Lists the workloads that `policies` select ([`named::workloads`], as `idflow check` reads
/// `--workload` without `--labels`) and that `flows` pass through, sorted by namespace and name. A
/// workload seen only in flows gets `app=NAME`, as `idflow check` assumes. The root namespace is
/// the default one, as in the settings the Token view evaluates these targets with.
pub fn targets(policies: &PolicySet, flows: &[Flow]) -> Vec<Target> {
    let root_namespace = MeshSettings::default().root_namespace;
    let mut found: BTreeMap<(String, String), Target> = named::workloads(policies, &root_namespace)
        .into_iter()
        .map(|workload| {
            let key = (workload.namespace.clone(), workload.name.clone());
            let target = Target {
                workload,
                source_principal: None,
            };
            (key, target)
        })
        .collect();

    for hop in flows
        .iter()
        .flat_map(|flow| &flow.hops)
        .filter(|hop| hop.kind == HopKind::Mesh)
    {
        let Some((namespace, name)) = hop.location.split_once('/') else {
            continue;
        };
        found
            .entry((namespace.to_owned(), name.to_owned()))
            .or_insert_with(|| {
                // The labels `idflow check --workload` takes for this name, such as both labels
                // of a gateway chart release that a selector on `istio` suggests.
                let mut workload =
                    named::workload_or_default(policies, &root_namespace, namespace, name);
                if hop.role == Some(HopRole::Gateway) {
                    workload.kind = WorkloadKind::Gateway;
                }
                Target {
                    workload,
                    source_principal: None,
                }
            });
    }
    for ((namespace, name), target) in &mut found {
        target.source_principal = caller_in_flows(flows, &format!("{namespace}/{name}"));
    }
    found.into_values().collect()
}

/// Returns the mTLS peer principal of the newest flow that reached `location` (`NAMESPACE/NAME`)
/// with one, because it names the caller as it is now.
pub fn caller_in_flows(flows: &[Flow], location: &str) -> Option<String> {
    flows
        .iter()
        .rev()
        .flat_map(|flow| &flow.hops)
        .filter(|hop| hop.kind == HopKind::Mesh && hop.location == location)
        .find_map(|hop| hop.identity.peer_principal.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::crd::{AuthorizationPolicy, RequestAuthentication};
    use crate::model::{CorrelationKey, Hop};

    fn selected(namespace: &str, labels: &[(&str, &str)]) -> AuthorizationPolicy {
        let labels: BTreeMap<&str, &str> = labels.iter().copied().collect();
        serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": namespace, "name": "p"},
            "spec": {"selector": {"matchLabels": labels}},
        }))
        .expect("a valid AuthorizationPolicy")
    }

    fn names(targets: &[Target]) -> Vec<String> {
        targets
            .iter()
            .map(|target| format!("{}/{}", target.workload.namespace, target.workload.name))
            .collect()
    }

    #[test]
    fn targets_named_by_labels() {
        let policies = PolicySet {
            authorization: vec![
                selected("shop", &[("app", "orders"), ("version", "v2")]),
                selected("istio-system", &[("istio", "ingressgateway")]),
                selected("shop", &[("tier", "cache")]),
            ],
            ..PolicySet::default()
        };
        let targets = targets(&policies, &[]);
        assert_eq!(
            names(&targets),
            [
                "istio-system/istio-ingressgateway",
                "shop/cache",
                "shop/orders"
            ]
        );
        assert_eq!(targets[0].workload.kind, WorkloadKind::Gateway);
        assert_eq!(targets[2].workload.labels.len(), 2, "every selector label");
    }

    #[test]
    fn targets_skip_namespace_wide() {
        let wide: RequestAuthentication = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": "shop", "name": "all"},
            "spec": {"jwtRules": [{"issuer": "https://idp.shop.test"}]},
        }))
        .expect("a valid RequestAuthentication");
        let policies = PolicySet {
            request_authentication: vec![wide],
            ..PolicySet::default()
        };
        assert!(targets(&policies, &[]).is_empty());
    }

    #[test]
    fn targets_from_flows_with_caller() {
        let mut old = Hop::new(HopKind::Mesh, "shop/orders");
        old.identity.peer_principal = Some("spiffe://cluster.local/ns/a/sa/old".to_owned());
        let mut new = Hop::new(HopKind::Mesh, "shop/orders");
        new.identity.peer_principal = Some("spiffe://cluster.local/ns/a/sa/new".to_owned());
        let flows: Vec<Flow> = [old, new]
            .into_iter()
            .enumerate()
            .map(|(index, hop)| Flow {
                id: index.to_string(),
                correlated_by: CorrelationKey::EdgeRequestId,
                time: None,
                method: None,
                path: None,
                hops: vec![Hop::new(HopKind::Edge, "edge/ew-1"), hop],
                findings: Vec::new(),
            })
            .collect();
        let targets = targets(&PolicySet::default(), &flows);
        assert_eq!(names(&targets), ["shop/orders"]);
        assert_eq!(
            targets[0].workload.labels.get("app").map(String::as_str),
            Some("orders")
        );
        assert_eq!(
            targets[0].source_principal.as_deref(),
            Some("spiffe://cluster.local/ns/a/sa/new"),
            "the newest caller"
        );
    }

    /// A request that the codec rejects never reaches jwt_authn, so the token is neither found
    /// nor missing there.
    #[test]
    fn authn_not_reached_after_codec() {
        let row = |status: u16, details: &str| Row {
            workload: "shop/orders".to_owned(),
            peer: None,
            found: TokenFound::At("authorization: Bearer".to_owned()),
            signature: None,
            verdict: Ok(Verdict {
                workload: "shop/orders".to_owned(),
                status,
                decision: crate::model::Decision::Deny,
                stage: Stage::None,
                policy: None,
                rule: None,
                response_code_details: details.to_owned(),
                request_principal: None,
                explanation: Vec::new(),
                warnings: Vec::new(),
            }),
            edge: None,
        };
        assert_eq!(
            row(431, "http1.headers_too_large").authn_text(),
            "not reached"
        );
        assert_eq!(row(400, "http1.codec_error").authn_text(), "not reached");
        assert_eq!(
            row(403, "rbac_access_denied_matched_policy[none]").authn_text(),
            "no token"
        );
    }

    #[test]
    fn query_parameter_added_once() {
        assert_eq!(with_query_parameter("/y", "t", "a"), "/y?t=a");
        assert_eq!(with_query_parameter("/y?", "t", "a"), "/y?t=a");
        assert_eq!(with_query_parameter("/y?b=1", "t", "a"), "/y?b=1&t=a");
        assert_eq!(with_query_parameter("/y?%74=b", "t", "a"), "/y?%74=b");
    }

    #[test]
    fn location_labels() {
        let cases = [
            (
                Location::Header {
                    name: "authorization".to_owned(),
                    prefix: "Bearer ".to_owned(),
                },
                "authorization: Bearer",
            ),
            (
                Location::Header {
                    name: "x-jwt".to_owned(),
                    prefix: String::new(),
                },
                "x-jwt",
            ),
            (Location::Param("access_token".to_owned()), "?access_token"),
            (Location::Cookie("session".to_owned()), "cookie session"),
        ];
        for (location, expected) in cases {
            assert_eq!(location_label(&location), expected);
        }
    }
}
