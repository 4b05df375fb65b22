//! Traps in policies that istiod accepts but that rarely do what their author meant.
//!
//! Each warning names the policy, the rule and the field, and gives what to write instead.

use std::fmt;

use super::crd::{Action, AuthorizationPolicy, Rule};
use super::scope::AppliedPolicies;
use super::{IstioVersion, Protocol, Workload, WorkloadKind};
use crate::redact::hide_tokens;

/// The kind of trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WarningCode {
    /// Two one-part rules next to each other, where one rule with both parts was likely meant.
    SplitRule,
    /// A `hosts` value without its `:*` port variant.
    HostWithoutPort,
    /// A request principal whose issuer no RequestAuthentication on the workload accepts.
    UnknownIssuer,
    /// `request.auth.claims[a.b]` names one claim called `a.b`, not the nested claim.
    DottedClaim,
    /// An HTTP-only field in a rule that reaches a TCP port.
    HttpOnlyOnTcp,
    /// A gateway strips the token that the workloads behind it need.
    TokenNotForwarded,
}

/// One trap found in an applied policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWarning {
    pub code: WarningCode,
    /// `Kind namespace/name`.
    pub policy: String,
    pub rule: Option<usize>,
    /// Dotted path of the field, e.g. `spec.rules[0].to[0].operation.hosts`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for PolicyWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, field `{}`: {}",
            self.policy, self.field, self.message
        )
    }
}

/// A workload port and the protocol the proxy serves it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortProtocol {
    pub port: u16,
    pub protocol: Protocol,
}

/// Finds the traps in the `AuthorizationPolicy` objects applied to `workload`, given its ports.
pub fn warnings(
    applied: &AppliedPolicies,
    workload: &Workload,
    ports: &[PortProtocol],
    version: IstioVersion,
) -> Vec<PolicyWarning> {
    let issuers: Vec<&str> = applied
        .request_authentication
        .iter()
        .flat_map(|ra| ra.policy.spec.jwt_rules.iter().map(|r| r.issuer.as_str()))
        .collect();
    let mut out = Vec::new();
    for applied_policy in &applied.authorization {
        let policy = &applied_policy.policy;
        let name = policy_name(policy);
        let rules = policy.spec.rules.as_deref().unwrap_or_default();
        split_rules(&name, rules, &mut out);
        for (i, rule) in rules.iter().enumerate() {
            hosts_without_port(&name, i, rule, workload, &mut out);
            unknown_issuers(&name, i, rule, &issuers, version, &mut out);
            dotted_claims(&name, i, rule, &mut out);
            for port in ports.iter().filter(|p| p.protocol == Protocol::Tcp) {
                http_only_on_tcp(&name, policy.spec.action, i, rule, port.port, &mut out);
            }
        }
    }
    out
}

fn policy_name(policy: &AuthorizationPolicy) -> String {
    format!(
        "AuthorizationPolicy {}/{}",
        policy.metadata.namespace, policy.metadata.name
    )
}

fn warning(
    code: WarningCode,
    policy: &str,
    rule: Option<usize>,
    field: String,
    message: String,
) -> PolicyWarning {
    PolicyWarning {
        code,
        policy: policy.to_owned(),
        rule,
        field,
        message,
    }
}

/// Returns the single part a rule has, when it has exactly one of `from`, `to` and `when`.
fn only_part(rule: &Rule) -> Option<&'static str> {
    let parts = [
        ("from", rule.from.as_ref().is_some_and(|f| !f.is_empty())),
        ("to", rule.to.as_ref().is_some_and(|t| !t.is_empty())),
        ("when", !rule.when.is_empty()),
    ];
    let mut present = parts.iter().filter(|(_, set)| *set);
    match (present.next(), present.next()) {
        (Some((name, _)), None) => Some(name),
        _ => None,
    }
}

/// Flags neighbouring one-part rules. A stray `-` before `to:` (or `when:`) starts a second rule,
/// and rules are combined with OR, so each half matches on its own.
fn split_rules(policy: &str, rules: &[Rule], out: &mut Vec<PolicyWarning>) {
    for (i, pair) in rules.windows(2).enumerate() {
        let (Some(first), Some(second)) = (only_part(&pair[0]), only_part(&pair[1])) else {
            continue;
        };
        if first == second {
            continue;
        }
        out.push(warning(
            WarningCode::SplitRule,
            policy,
            Some(i + 1),
            format!("spec.rules[{}].{second}", i + 1),
            format!(
                "rule {i} has only `{first}` and rule {} only `{second}`; rules are ORed, so each matches on its own. If both must hold, remove the `-` before `{second}:` so they form one rule",
                i + 1
            ),
        ));
    }
}

/// `hosts` compares the whole `:authority`, port included, so `example.com` misses
/// `example.com:8080`.
fn hosts_without_port(
    policy: &str,
    i: usize,
    rule: &Rule,
    workload: &Workload,
    out: &mut Vec<PolicyWarning>,
) {
    for (j, to) in rule.to.iter().flatten().enumerate() {
        let Some(operation) = &to.operation else {
            continue;
        };
        for (name, values) in [
            ("hosts", &operation.hosts),
            ("notHosts", &operation.not_hosts),
        ] {
            for host in values {
                if host == "*" || host.ends_with('*') || host.contains(':') {
                    continue;
                }
                let with_port = format!("{host}:*");
                if values.contains(&with_port) {
                    continue;
                }
                let sidecar_note = if workload.kind == WorkloadKind::Sidecar {
                    " On a sidecar the Host header is set by the client, so prefer principals or ports."
                } else {
                    ""
                };
                out.push(warning(
                    WarningCode::HostWithoutPort,
                    policy,
                    Some(i),
                    format!("spec.rules[{i}].to[{j}].operation.{name}"),
                    format!(
                        "\"{host}\" does not match \"{host}:443\" or any authority with a port; add \"{with_port}\" next to it.{sidecar_note}"
                    ),
                ));
            }
        }
    }
}

/// Splits a request principal into its issuer part: at the last `/` from Istio 1.21 (where
/// istiod matches `iss` and `sub` separately), and the same for exact values before that.
fn issuer_of(value: &str) -> Option<&str> {
    value.rsplit_once('/').map(|(iss, _)| iss)
}

fn issuer_accepted(pattern: &str, issuers: &[&str]) -> bool {
    if pattern == "*" {
        return !issuers.is_empty();
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return issuers.iter().any(|i| i.ends_with(suffix));
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return issuers.iter().any(|i| i.starts_with(prefix));
    }
    issuers.contains(&pattern)
}

fn unknown_issuers(
    policy: &str,
    i: usize,
    rule: &Rule,
    issuers: &[&str],
    version: IstioVersion,
    out: &mut Vec<PolicyWarning>,
) {
    let mut candidates: Vec<(String, &String)> = Vec::new();
    for (j, from) in rule.from.iter().flatten().enumerate() {
        if let Some(source) = &from.source {
            let field = format!("spec.rules[{i}].from[{j}].source.requestPrincipals");
            candidates.extend(source.request_principals.iter().map(|v| (field.clone(), v)));
        }
    }
    for (j, condition) in rule.when.iter().enumerate() {
        if condition.key == "request.auth.principal" {
            let field = format!("spec.rules[{i}].when[{j}].values");
            candidates.extend(condition.values.iter().map(|v| (field.clone(), v)));
        }
    }
    let split_era = version
        >= IstioVersion {
            major: 1,
            minor: 21,
        };
    for (field, value) in candidates {
        // Before 1.21 a wildcard value was a glob over the whole `iss/sub`, so only exact
        // values have a known issuer there.
        if !split_era && value.contains('*') {
            continue;
        }
        let issuer = issuer_of(value).unwrap_or(value);
        if issuer_accepted(issuer, issuers) {
            continue;
        }
        let known = if issuers.is_empty() {
            "no RequestAuthentication applies to this workload, so no token is validated and no request principal is ever set".to_owned()
        } else {
            format!(
                "the RequestAuthentications here accept only {}",
                issuers.join(", ")
            )
        };
        out.push(warning(
            WarningCode::UnknownIssuer,
            policy,
            Some(i),
            field,
            format!(
                "\"{}\" needs a token from issuer \"{}\", but {known}; add a jwtRules entry with that issuer or correct the value (the format is ISSUER/SUBJECT)",
                hide_tokens(value),
                hide_tokens(issuer)
            ),
        ));
    }
}

/// `request.auth.claims[a.b]` is one claim named `a.b`; nested claims are written `[a][b]`.
fn dotted_claims(policy: &str, i: usize, rule: &Rule, out: &mut Vec<PolicyWarning>) {
    for (j, condition) in rule.when.iter().enumerate() {
        let Some(inner) = condition
            .key
            .strip_prefix("request.auth.claims[")
            .and_then(|rest| rest.strip_suffix(']'))
        else {
            continue;
        };
        // Claim names that are URLs or namespaced (`https://x.io/roles`) legitimately hold dots.
        if !inner.contains('.') || inner.contains(['/', ':', '[', ']']) {
            continue;
        }
        let nested: String = inner.split('.').fold(String::new(), |mut out, part| {
            out.push('[');
            out.push_str(part);
            out.push(']');
            out
        });
        out.push(warning(
            WarningCode::DottedClaim,
            policy,
            Some(i),
            format!("spec.rules[{i}].when[{j}].key"),
            format!(
                "`{}` names one top-level claim called \"{inner}\"; for the nested claim write `request.auth.claims{nested}`",
                condition.key
            ),
        ));
    }
}

/// Lists the HTTP-only fields a rule uses, as dotted paths.
fn http_only_fields(i: usize, rule: &Rule) -> Vec<String> {
    let mut fields = Vec::new();
    for (j, from) in rule.from.iter().flatten().enumerate() {
        let Some(source) = &from.source else { continue };
        for (name, values) in [
            ("requestPrincipals", &source.request_principals),
            ("notRequestPrincipals", &source.not_request_principals),
        ] {
            if !values.is_empty() {
                fields.push(format!("spec.rules[{i}].from[{j}].source.{name}"));
            }
        }
    }
    for (j, to) in rule.to.iter().flatten().enumerate() {
        let Some(operation) = &to.operation else {
            continue;
        };
        for (name, values) in [
            ("hosts", &operation.hosts),
            ("notHosts", &operation.not_hosts),
            ("methods", &operation.methods),
            ("notMethods", &operation.not_methods),
            ("paths", &operation.paths),
            ("notPaths", &operation.not_paths),
        ] {
            if !values.is_empty() {
                fields.push(format!("spec.rules[{i}].to[{j}].operation.{name}"));
            }
        }
    }
    for (j, condition) in rule.when.iter().enumerate() {
        if condition.key.starts_with("request.headers")
            || condition.key.starts_with("request.auth.")
        {
            fields.push(format!("spec.rules[{i}].when[{j}] ({})", condition.key));
        }
    }
    fields
}

/// Tells whether the rule limits ports, so a TCP port outside the list is not affected.
fn rule_excludes_port(rule: &Rule, port: u16) -> bool {
    let port = port.to_string();
    let operations: Vec<_> = rule
        .to
        .iter()
        .flatten()
        .filter_map(|t| t.operation.as_ref())
        .collect();
    !operations.is_empty()
        && operations
            .iter()
            .all(|op| !op.ports.is_empty() && !op.ports.contains(&port))
}

/// istiod cannot evaluate HTTP-only fields on a TCP filter chain: an ALLOW rule that uses one is
/// dropped whole, and in a DENY or AUDIT rule the field is dropped, so the rule matches more.
fn http_only_on_tcp(
    policy: &str,
    action: Action,
    i: usize,
    rule: &Rule,
    port: u16,
    out: &mut Vec<PolicyWarning>,
) {
    if action == Action::Custom || rule_excludes_port(rule, port) {
        return;
    }
    let fields = http_only_fields(i, rule);
    let Some(first) = fields.first() else { return };
    let message = if action == Action::Allow {
        format!(
            "TCP port {port}: rule {i} uses the HTTP-only field {first}, so istiod drops the whole rule on this port and it allows nothing; put the TCP conditions (ports, principals, namespaces, ipBlocks) in a rule of their own"
        )
    } else {
        let istiod = if action == Action::Deny && rule_has_only_http(rule) {
            " (istiod: configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port)"
        } else {
            ""
        };
        format!(
            "TCP port {port}: istiod drops the HTTP-only field {first} from rule {i}, so the rule matches more connections than written{istiod}; add `ports` to the rule to keep it off TCP ports"
        )
    };
    out.push(warning(
        WarningCode::HttpOnlyOnTcp,
        policy,
        Some(i),
        first.clone(),
        message,
    ));
}

/// Tells whether every field the rule sets is HTTP-only.
fn rule_has_only_http(rule: &Rule) -> bool {
    let tcp_source = rule
        .from
        .iter()
        .flatten()
        .filter_map(|f| f.source.as_ref())
        .any(|s| {
            [
                &s.principals,
                &s.not_principals,
                &s.namespaces,
                &s.not_namespaces,
                &s.service_accounts,
                &s.not_service_accounts,
                &s.ip_blocks,
                &s.not_ip_blocks,
                &s.remote_ip_blocks,
                &s.not_remote_ip_blocks,
            ]
            .iter()
            .any(|values| !values.is_empty())
        });
    let tcp_operation = rule
        .to
        .iter()
        .flatten()
        .filter_map(|t| t.operation.as_ref())
        .any(|op| !op.ports.is_empty() || !op.not_ports.is_empty());
    let tcp_condition = rule
        .when
        .iter()
        .any(|c| !c.key.starts_with("request.headers") && !c.key.starts_with("request.auth."));
    !tcp_source && !tcp_operation && !tcp_condition
}

/// Flags gateway jwtRules that strip the token the backend needs. Envoy removes a verified token
/// unless `forwardOriginalToken: true`, so a backend that requires a request principal sees none.
pub fn forwarding_warnings(
    gateway: &AppliedPolicies,
    backend: &AppliedPolicies,
) -> Vec<PolicyWarning> {
    let required: Vec<(String, usize)> = backend
        .authorization
        .iter()
        .filter(|a| a.policy.spec.action == Action::Allow)
        .flat_map(|a| {
            let name = policy_name(&a.policy);
            let rules = a.policy.spec.rules.as_deref().unwrap_or_default();
            rules
                .iter()
                .enumerate()
                .filter(|(_, rule)| requires_request_principal(rule))
                .map(move |(i, _)| (name.clone(), i))
                .collect::<Vec<_>>()
        })
        .collect();
    let Some((backend_policy, backend_rule)) = required.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for applied in &gateway.request_authentication {
        let ra = &applied.policy;
        for (k, rule) in ra.spec.jwt_rules.iter().enumerate() {
            if rule.forward_original_token {
                continue;
            }
            out.push(warning(
                WarningCode::TokenNotForwarded,
                &format!(
                    "RequestAuthentication {}/{}",
                    ra.metadata.namespace, ra.metadata.name
                ),
                None,
                format!("spec.jwtRules[{k}].forwardOriginalToken"),
                format!(
                    "the gateway {} removes the token from issuer \"{}\" after verifying it, but {backend_policy} rule {backend_rule} on {} requires a request principal, which then never matches; set `forwardOriginalToken: true` on this jwtRules entry",
                    gateway.workload, rule.issuer, backend.workload
                ),
            ));
        }
    }
    out
}

fn requires_request_principal(rule: &Rule) -> bool {
    let in_source = rule
        .from
        .iter()
        .flatten()
        .filter_map(|f| f.source.as_ref())
        .any(|s| !s.request_principals.is_empty());
    let in_when = rule
        .when
        .iter()
        .any(|c| c.key.starts_with("request.auth.") && !c.values.is_empty());
    in_source || in_when
}
