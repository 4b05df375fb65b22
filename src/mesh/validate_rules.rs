//! istiod's AuthorizationPolicy checks: action and provider, rules, sources, operations and `when`
//! conditions, path templates (Istio 1.22 and later) and service accounts (Istio 1.25 and later).

use std::net::IpAddr;

use super::crd::{Action, AuthorizationPolicy, Condition, Operation, Rule, Source};
use super::validate::{Findings, validate_attachment};
use crate::redact::hide_tokens;

const NO_RULES_TAIL: &str = "without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request";

pub(crate) fn validate_authorization(policy: &AuthorizationPolicy, findings: &mut Findings<'_>) {
    let spec = &policy.spec;
    validate_attachment(
        spec.selector.as_ref(),
        spec.target_ref.as_ref(),
        &spec.target_refs,
        findings,
    );
    let rules = spec.rules.as_deref().unwrap_or_default();
    match spec.action {
        Action::Custom => {
            if spec.rules.is_none() {
                findings.error("spec.rules", format!("CUSTOM action {NO_RULES_TAIL}"));
            }
            if spec.provider.as_ref().is_none_or(|p| p.name.is_empty()) {
                findings.error("spec.provider.name", "`provider.name` must not be empty");
            }
        }
        action => {
            if spec.provider.is_some() {
                findings.error(
                    "spec.provider",
                    format!(
                        "`provider` must not be with non CUSTOM action, found {}",
                        action_name(action)
                    ),
                );
            }
        }
    }
    if spec.action == Action::Deny && rules.is_empty() {
        findings.error("spec.rules", format!("DENY action {NO_RULES_TAIL}"));
    }
    for (i, rule) in rules.iter().enumerate() {
        validate_rule(rule, i, spec.action, findings);
    }
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Allow => "ALLOW",
        Action::Deny => "DENY",
        Action::Audit => "AUDIT",
        Action::Custom => "CUSTOM",
    }
}

fn validate_rule(rule: &Rule, i: usize, action: Action, findings: &mut Findings<'_>) {
    let base = format!("spec.rules[{i}]");
    if rule.from.as_ref().is_some_and(Vec::is_empty) {
        findings.error(
            format!("{base}.from"),
            format!("`from` must not be empty, found at rule {i}"),
        );
    }
    for (j, from) in rule.from.iter().flatten().enumerate() {
        let field = format!("{base}.from[{j}].source");
        match &from.source {
            None => findings.error(
                &field,
                format!("`from.source` must not be nil, found at rule {i}"),
            ),
            Some(source) => validate_source(source, i, &field, action, findings),
        }
    }
    if rule.to.as_ref().is_some_and(Vec::is_empty) {
        findings.error(
            format!("{base}.to"),
            format!("`to` must not be empty, found at rule {i}"),
        );
    }
    for (j, to) in rule.to.iter().flatten().enumerate() {
        let field = format!("{base}.to[{j}].operation");
        match &to.operation {
            None => findings.error(
                &field,
                format!("`to.operation` must not be nil, found at rule {i}"),
            ),
            Some(operation) => validate_operation(operation, i, &field, findings),
        }
    }
    for (j, condition) in rule.when.iter().enumerate() {
        validate_condition(condition, &format!("{base}.when[{j}]"), action, findings);
    }
}

/// Lists the source fields with istiod's Go names, which its messages use.
fn source_fields(source: &Source) -> [(&'static str, &'static str, &[String]); 14] {
    [
        ("Principals", "principals", &source.principals),
        ("NotPrincipals", "notPrincipals", &source.not_principals),
        (
            "RequestPrincipals",
            "requestPrincipals",
            &source.request_principals,
        ),
        (
            "NotRequestPrincipals",
            "notRequestPrincipals",
            &source.not_request_principals,
        ),
        ("Namespaces", "namespaces", &source.namespaces),
        ("NotNamespaces", "notNamespaces", &source.not_namespaces),
        (
            "ServiceAccounts",
            "serviceAccounts",
            &source.service_accounts,
        ),
        (
            "NotServiceAccounts",
            "notServiceAccounts",
            &source.not_service_accounts,
        ),
        ("IpBlocks", "ipBlocks", &source.ip_blocks),
        ("NotIpBlocks", "notIpBlocks", &source.not_ip_blocks),
        ("RemoteIpBlocks", "remoteIpBlocks", &source.remote_ip_blocks),
        (
            "NotRemoteIpBlocks",
            "notRemoteIpBlocks",
            &source.not_remote_ip_blocks,
        ),
        ("TrustDomains", "trustDomains", &source.trust_domains),
        (
            "NotTrustDomains",
            "notTrustDomains",
            &source.not_trust_domains,
        ),
    ]
}

/// Source fields a CUSTOM rule cannot use, because ext_authz runs before jwt_authn and before
/// the peer identity is matched.
const CUSTOM_UNSUPPORTED_SOURCE: [&str; 8] = [
    "Principals",
    "NotPrincipals",
    "RequestPrincipals",
    "NotRequestPrincipals",
    "Namespaces",
    "NotNamespaces",
    "ServiceAccounts",
    "NotServiceAccounts",
];

fn validate_source(
    source: &Source,
    i: usize,
    field: &str,
    action: Action,
    findings: &mut Findings<'_>,
) {
    let fields = source_fields(source);
    if fields.iter().all(|(_, _, values)| values.is_empty()) {
        findings.error(
            field,
            format!("`from.source` must not be empty, found at rule {i}"),
        );
    }
    for (go_name, name, values) in fields {
        let path = format!("{field}.{name}");
        if values.iter().any(String::is_empty) {
            findings.error(
                &path,
                format!("empty value not allowed, found in {go_name}"),
            );
        }
        if go_name.ends_with("IpBlocks") {
            for message in ip_errors(values) {
                findings.error(&path, message);
            }
        }
        if go_name.ends_with("TrustDomains") {
            for message in wildcard_errors(values) {
                findings.error(&path, message);
            }
        }
        if action == Action::Custom
            && !values.is_empty()
            && CUSTOM_UNSUPPORTED_SOURCE.contains(&go_name)
        {
            findings.error(
                &path,
                format!("From.{go_name} is currently not supported with CUSTOM action"),
            );
        }
    }
    validate_service_accounts(source, i, field, findings);
}

fn validate_service_accounts(source: &Source, i: usize, field: &str, findings: &mut Findings<'_>) {
    let accounts = [
        (
            "ServiceAccounts",
            "serviceAccounts",
            &source.service_accounts,
        ),
        (
            "NotServiceAccounts",
            "notServiceAccounts",
            &source.not_service_accounts,
        ),
    ];
    let any_accounts = accounts.iter().any(|(_, _, values)| !values.is_empty());
    let identity_fields = [
        &source.principals,
        &source.not_principals,
        &source.namespaces,
        &source.not_namespaces,
    ];
    if any_accounts && identity_fields.iter().any(|values| !values.is_empty()) {
        findings.error(
            field,
            format!("cannot set serviceAccounts with namespaces or principals, found at rule {i}"),
        );
    }
    for (go_name, name, values) in accounts {
        let path = format!("{field}.{name}");
        if values.len() > 16 {
            findings.error(&path, "may not have more than 16 values");
        }
        for value in values {
            if value.contains('*') {
                findings.error(&path, format!("wildcard not allowed, found in {go_name}"));
            } else if value.split('/').count() > 2 || value.starts_with('/') || value.ends_with('/')
            {
                findings.error(
                    &path,
                    format!("expected format 'serviceAccount' or 'namespace/serviceAccount', found \"{value}\" in {go_name}"),
                );
            }
        }
    }
}

fn validate_operation(operation: &Operation, i: usize, field: &str, findings: &mut Findings<'_>) {
    let fields: [(&str, &str, &[String]); 8] = [
        ("Ports", "ports", &operation.ports),
        ("NotPorts", "notPorts", &operation.not_ports),
        ("Methods", "methods", &operation.methods),
        ("NotMethods", "notMethods", &operation.not_methods),
        ("Paths", "paths", &operation.paths),
        ("NotPaths", "notPaths", &operation.not_paths),
        ("Hosts", "hosts", &operation.hosts),
        ("NotHosts", "notHosts", &operation.not_hosts),
    ];
    if fields.iter().all(|(_, _, values)| values.is_empty()) {
        findings.error(
            field,
            format!("`to.operation` must not be empty, found at rule {i}"),
        );
    }
    for (go_name, name, values) in fields {
        let path = format!("{field}.{name}");
        if values.iter().any(String::is_empty) {
            findings.error(
                &path,
                format!("empty value not allowed, found in {go_name}"),
            );
        }
        if go_name.ends_with("Ports") {
            for message in port_errors(values) {
                findings.error(&path, message);
            }
        }
        if go_name.ends_with("Paths")
            && let Some(message) = path_template_error(go_name, values)
        {
            findings.error(&path, message);
        }
    }
}

fn validate_condition(
    condition: &Condition,
    field: &str,
    action: Action,
    findings: &mut Findings<'_>,
) {
    let key = condition.key.as_str();
    if key.is_empty() {
        findings.error(format!("{field}.key"), "`key` must not be empty");
        return;
    }
    if condition.values.is_empty() && condition.not_values.is_empty() {
        findings.error(
            field,
            format!(
                "at least one of `values` or `notValues` must be set for key {}",
                hide_tokens(key)
            ),
        );
    } else {
        for (label, name, values) in [
            ("value", "values", &condition.values),
            ("notValue", "notValues", &condition.not_values),
        ] {
            if let Some(message) = attribute_error(key, values) {
                findings.error(
                    format!("{field}.{name}"),
                    format!(
                        "invalid `{label}` for `key` {}: {message}",
                        hide_tokens(key)
                    ),
                );
            }
        }
    }
    let identity_key = matches!(
        key,
        "source.namespace" | "source.serviceAccount" | "source.trustDomain" | "source.principal"
    ) || key.starts_with("request.auth.");
    if action == Action::Custom && identity_key {
        findings.error(
            format!("{field}.key"),
            format!("when.{key} is currently not supported with CUSTOM action"),
        );
    }
}

/// istiod's `ValidateAttribute`: the key must be known, and some keys constrain their values.
fn attribute_error(key: &str, values: &[String]) -> Option<String> {
    let plain = [
        "source.namespace",
        "source.principal",
        "source.serviceAccount",
        "source.trustDomain",
        "request.auth.principal",
        "request.auth.audiences",
        "request.auth.presenter",
        "connection.sni",
    ];
    if plain.contains(&key) {
        return None;
    }
    if matches!(key, "source.ip" | "remote.ip" | "destination.ip") {
        return ip_errors(values).into_iter().next();
    }
    if key == "destination.port" {
        return port_errors(values).into_iter().next();
    }
    let map_prefixes = [
        "request.headers",
        "request.auth.claims",
        "experimental.envoy.filters.",
    ];
    if map_prefixes.iter().any(|prefix| key.starts_with(prefix)) {
        return map_key_error(key);
    }
    if key == "destination.namespace" {
        return Some(format!(
            "attribute {key} is replaced by the metadata.namespace"
        ));
    }
    if key.starts_with("destination.labels") {
        return Some(format!(
            "attribute {key} is replaced by the workload selector"
        ));
    }
    if matches!(key, "destination.name" | "destination.user") {
        return Some(format!(
            "deprecated attribute {key}: only supported in v1alpha1"
        ));
    }
    Some(format!("unknown attribute: {}", hide_tokens(key)))
}

/// Checks that a map key has a non-empty `[name]` after at least one character.
fn map_key_error(key: &str) -> Option<String> {
    let valid = key.ends_with(']')
        && key
            .find('[')
            .is_some_and(|open| open > 0 && open < key.len() - 2);
    (!valid).then(|| format!("bad key ({}): should have format a[b]", hide_tokens(key)))
}

/// Go's `netip.ParsePrefix` / `ParseAddr` rules as istiod's `ValidateIPs` applies them.
pub(crate) fn ip_errors(values: &[String]) -> Vec<String> {
    let mut errors = Vec::new();
    for value in values {
        let value = hide_tokens(value);
        if let Some((address, bits)) = value.split_once('/') {
            let reason = match address.parse::<IpAddr>() {
                Err(_) => Some("ParseAddr: unable to parse IP".to_owned()),
                Ok(ip) => {
                    let max = if ip.is_ipv4() { 32 } else { 128 };
                    match bits.parse::<u8>() {
                        Ok(n) if n <= max => None,
                        Ok(_) => Some("prefix length out of range".to_owned()),
                        Err(_) => Some(format!("bad bits after slash: \"{bits}\"")),
                    }
                }
            };
            if let Some(reason) = reason {
                // NOTE: the tail after the value approximates Go's netip error text.
                errors.push(format!(
                    "bad CIDR range ({value}): netip.ParsePrefix(\"{value}\"): {reason}"
                ));
            }
        } else if value.parse::<IpAddr>().is_err() {
            errors.push(format!("bad IP address ({value})"));
        }
    }
    errors
}

/// istiod's `ValidatePorts`: Go `strconv.ParseInt(v, 10, 32)`, then 0..=65535. A value longer
/// than any port, which may be a token pasted in the wrong place, is described by its length
/// instead of quoted.
fn port_errors(values: &[String]) -> Vec<String> {
    let mut errors = Vec::new();
    for raw in values {
        let value = if raw.chars().count() > 24 {
            format!("a {}-character value", raw.chars().count())
        } else {
            hide_tokens(raw)
        };
        match raw.parse::<i32>() {
            Err(err) => {
                let reason = if matches!(
                    err.kind(),
                    std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
                ) {
                    "value out of range"
                } else {
                    "invalid syntax"
                };
                errors.push(format!(
                    "bad port ({value}): strconv.ParseInt: parsing \"{value}\": {reason}"
                ));
            }
            // istiod formats a nil error here, so the message really ends in `<nil>`.
            Ok(port) if !(0..=65535).contains(&port) => {
                errors.push(format!("bad port ({value}): <nil>"));
            }
            Ok(_) => {}
        }
    }
    errors
}

/// Checks path templates as istiod's `CheckValidPathTemplate` does (Istio 1.22 and later).
/// `{*}` is one segment and `{**}` any number of them, so `{**}` must be the last operator.
/// Literal segments of a template must be RFC 3986 pchars.
fn path_template_error(go_name: &str, paths: &[String]) -> Option<String> {
    for original in paths {
        let has_template = original.contains("{*}") || original.contains("{**}");
        let path = original.trim_matches('/');
        let mut found_any = false;
        for glob in path.split('/') {
            let operator = glob == "{*}" || glob == "{**}";
            if operator && found_any {
                return Some(format!(
                    "invalid or unsupported path {path}, found in {go_name}. {{**}} is not the last operator"
                ));
            }
            if operator {
                found_any |= glob == "{**}";
                continue;
            }
            if glob.contains(['{', '}']) {
                return Some(format!(
                    "invalid or unsupported path {path}, found in {go_name}. Contains '{{' or '}}' beyond a supported path template"
                ));
            }
            if has_template && !is_valid_literal(glob) {
                return Some(format!(
                    "invalid or unsupported path {path}, found in {go_name}. Contains segment {glob} with invalid string literal"
                ));
            }
        }
    }
    None
}

fn is_valid_literal(glob: &str) -> bool {
    !glob.is_empty()
        && glob
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~%!$&'()+,;:@=".contains(c))
}

/// Checks trust domain wildcards as istiod's `CheckWildcardValues` does: one `*` at most, and
/// only at the start or the end.
fn wildcard_errors(values: &[String]) -> Vec<String> {
    let mut errors = Vec::new();
    for value in values {
        let count = value.matches('*').count();
        if count > 1 {
            errors.push(format!(
                "invalid value {value:?}: at most one wildcard is allowed"
            ));
        } else if count == 1 && !value.starts_with('*') && !value.ends_with('*') {
            errors.push(format!(
                "invalid value {value:?}: wildcard is only allowed at the start or end"
            ));
        }
    }
    errors
}
