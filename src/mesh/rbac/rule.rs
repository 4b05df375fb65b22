//! One AuthorizationPolicy rule → one Envoy RBAC policy, as istiod's authz model does it: `when`
//! conditions are appended to every `from` (principals) or `to` (permissions) entry, and the
//! Source/Operation fields are put in front of them in a fixed order.

use super::builder::{perm_and, prin_and};
use super::config::{
    Authenticated, MetadataMatcher, PathMatcher, PathSegment, Permission, PermissionSet, Policy,
    Principal, PrincipalSet, StringMatcher, UriTemplate, ValueMatcher,
};
use super::matchers::{
    ISTIO_AUTHN_FILTER, cidr, header, host, jwt_claim, jwt_payload, names_in_brackets, or_values,
    quote_meta, string, string_with_prefix,
};
use crate::mesh::IstioVersion;
use crate::mesh::crd::Rule;

/// Generation settings for the rules of one filter.
pub(super) struct RuleContext {
    pub for_tcp: bool,
    /// ALLOW: a field that cannot be generated drops the whole rule (a smaller allow). Otherwise
    /// (DENY, AUDIT, CUSTOM) only that field is dropped (a wider deny).
    pub strict: bool,
    pub version: IstioVersion,
    /// The trust domain followed by its aliases.
    pub trust_domains: Vec<String>,
}

/// The outcome of one rule.
pub(super) enum Generated {
    /// The policy, with notes on the fields dropped from it.
    Policy(Policy, Vec<String>),
    /// istiod rejected the rule (an unknown `when` key).
    Invalid(String),
    /// A field could not be generated (HTTP-only on TCP, a bad address) in an ALLOW rule.
    Dropped(String),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Gen {
    DestIp,
    DestPort,
    Sni,
    EnvoyFilter,
    SrcIp,
    RemoteIp,
    SrcNamespace,
    SrcPrincipal,
    SrcServiceAccount,
    SrcTrustDomain,
    RequestPrincipal,
    Audiences,
    Presenter,
    Header,
    Claims,
    Host,
    Path,
    Method,
}

impl Gen {
    fn http_only(self) -> bool {
        matches!(
            self,
            Self::RequestPrincipal
                | Self::Audiences
                | Self::Presenter
                | Self::Header
                | Self::Claims
                | Self::Host
                | Self::Path
                | Self::Method
        )
    }

    /// Generators that see all values at once (JWT claims, `experimental.*` metadata).
    fn extended(self, version: IstioVersion) -> bool {
        match self {
            Self::Audiences | Self::Presenter | Self::Claims | Self::EnvoyFilter => true,
            Self::RequestPrincipal => version >= SPLIT_PRINCIPAL,
            _ => false,
        }
    }

    fn on_permission(self) -> bool {
        matches!(
            self,
            Self::DestIp
                | Self::DestPort
                | Self::Sni
                | Self::EnvoyFilter
                | Self::Host
                | Self::Path
                | Self::Method
        )
    }
}

/// From Istio 1.21 proxies have no `istio_authn` filter: request principals are split into
/// `iss` and `sub` matchers on the jwt_authn payload.
const SPLIT_PRINCIPAL: IstioVersion = IstioVersion {
    major: 1,
    minor: 21,
};

#[derive(Clone)]
struct Item<'a> {
    key: &'a str,
    values: Vec<String>,
    not_values: Vec<String>,
    kind: Gen,
}

fn when_gen(key: &str) -> Option<Gen> {
    Some(match key {
        "destination.ip" => Gen::DestIp,
        "destination.port" => Gen::DestPort,
        "connection.sni" => Gen::Sni,
        "source.ip" => Gen::SrcIp,
        "remote.ip" => Gen::RemoteIp,
        "source.namespace" => Gen::SrcNamespace,
        "source.principal" => Gen::SrcPrincipal,
        "source.serviceAccount" => Gen::SrcServiceAccount,
        "source.trustDomain" => Gen::SrcTrustDomain,
        "request.auth.principal" => Gen::RequestPrincipal,
        "request.auth.audiences" => Gen::Audiences,
        "request.auth.presenter" => Gen::Presenter,
        k if k.starts_with("experimental.envoy.filters.") => Gen::EnvoyFilter,
        k if k.starts_with("request.headers") => Gen::Header,
        k if k.starts_with("request.auth.claims") => Gen::Claims,
        _ => return None,
    })
}

/// Generates the policy for one rule of a policy in `namespace`.
#[expect(
    clippy::too_many_lines,
    reason = "mirrors istiod's model constructor field by field"
)]
pub(super) fn generate(rule: &Rule, namespace: &str, ctx: &RuleContext) -> Generated {
    let mut base_perm = Vec::new();
    let mut base_prin = Vec::new();
    for cond in &rule.when {
        let Some(kind) = when_gen(&cond.key) else {
            return Generated::Invalid(format!(
                "unknown attribute {}",
                crate::redact::hide_tokens(&cond.key)
            ));
        };
        let item = Item {
            key: &cond.key,
            values: cond.values.clone(),
            not_values: cond.not_values.clone(),
            kind,
        };
        push(
            if kind.on_permission() {
                &mut base_perm
            } else {
                &mut base_prin
            },
            item,
            false,
        );
    }

    let mut principal_lists = Vec::new();
    for from in rule.from.as_deref().unwrap_or_default() {
        let mut merged = base_prin.clone();
        if let Some(s) = &from.source {
            let front = [
                ("source.ip", &s.ip_blocks, &s.not_ip_blocks, Gen::SrcIp),
                (
                    "remote.ip",
                    &s.remote_ip_blocks,
                    &s.not_remote_ip_blocks,
                    Gen::RemoteIp,
                ),
                (
                    "source.namespace",
                    &s.namespaces,
                    &s.not_namespaces,
                    Gen::SrcNamespace,
                ),
                (
                    "request.auth.principal",
                    &s.request_principals,
                    &s.not_request_principals,
                    Gen::RequestPrincipal,
                ),
                (
                    "source.principal",
                    &s.principals,
                    &s.not_principals,
                    Gen::SrcPrincipal,
                ),
                (
                    "source.serviceAccount",
                    &s.service_accounts,
                    &s.not_service_accounts,
                    Gen::SrcServiceAccount,
                ),
                (
                    "source.trustDomain",
                    &s.trust_domains,
                    &s.not_trust_domains,
                    Gen::SrcTrustDomain,
                ),
            ];
            for (key, values, not_values, kind) in front {
                let item = Item {
                    key,
                    values: values.clone(),
                    not_values: not_values.clone(),
                    kind,
                };
                push(&mut merged, item, true);
            }
        }
        principal_lists.push(merged);
    }
    if rule.from.as_deref().unwrap_or_default().is_empty() {
        principal_lists.push(base_prin);
    }

    let mut permission_lists = Vec::new();
    for to in rule.to.as_deref().unwrap_or_default() {
        let mut merged = base_perm.clone();
        if let Some(o) = &to.operation {
            let front = [
                ("destination.port", &o.ports, &o.not_ports, Gen::DestPort),
                ("request.url_path", &o.paths, &o.not_paths, Gen::Path),
                (":method", &o.methods, &o.not_methods, Gen::Method),
                (":authority", &o.hosts, &o.not_hosts, Gen::Host),
            ];
            for (key, values, not_values, kind) in front {
                let item = Item {
                    key,
                    values: values.clone(),
                    not_values: not_values.clone(),
                    kind,
                };
                push(&mut merged, item, true);
            }
        }
        permission_lists.push(merged);
    }
    if rule.to.as_deref().unwrap_or_default().is_empty() {
        permission_lists.push(base_perm);
    }

    let mut notes = Vec::new();
    let mut gen_ctx = GenContext {
        ctx,
        namespace,
        notes: &mut notes,
    };
    let mut permissions = Vec::new();
    for list in &permission_lists {
        match gen_ctx.list(list) {
            Ok(and) => permissions.push(perm_and(and.into_iter().map(Node::perm).collect())),
            Err(e) => return Generated::Dropped(e),
        }
    }
    let mut principals = Vec::new();
    for list in &principal_lists {
        match gen_ctx.list(list) {
            Ok(and) => principals.push(prin_and(and.into_iter().map(Node::prin).collect())),
            Err(e) => return Generated::Dropped(e),
        }
    }
    Generated::Policy(
        Policy {
            permissions,
            principals,
        },
        notes,
    )
}

fn push<'a>(list: &mut Vec<Item<'a>>, item: Item<'a>, front: bool) {
    if item.values.is_empty() && item.not_values.is_empty() {
        return;
    }
    // Source fields are inserted at the front, one after the other, so the last inserted leads.
    if front {
        list.insert(0, item);
    } else {
        list.push(item);
    }
}

/// A generated matcher before it is known whether it sits in a permission or a principal.
enum Node {
    Perm(Permission),
    Prin(Principal),
    Or(Vec<Node>),
    Not(Box<Node>),
    And(Vec<Node>),
    Any,
}

impl Node {
    fn perm(self) -> Permission {
        match self {
            Self::Perm(p) => p,
            Self::Or(v) => Permission::OrRules(PermissionSet {
                rules: v.into_iter().map(Self::perm).collect(),
            }),
            Self::And(v) => Permission::AndRules(PermissionSet {
                rules: v.into_iter().map(Self::perm).collect(),
            }),
            Self::Not(n) => Permission::NotRule(Box::new(n.perm())),
            Self::Any | Self::Prin(_) => Permission::Any(true),
        }
    }

    fn prin(self) -> Principal {
        match self {
            Self::Prin(p) => p,
            Self::Or(v) => Principal::OrIds(PrincipalSet {
                ids: v.into_iter().map(Self::prin).collect(),
            }),
            Self::And(v) => Principal::AndIds(PrincipalSet {
                ids: v.into_iter().map(Self::prin).collect(),
            }),
            Self::Not(n) => Principal::NotId(Box::new(n.prin())),
            Self::Any | Self::Perm(_) => Principal::Any(true),
        }
    }
}

struct GenContext<'a> {
    ctx: &'a RuleContext,
    namespace: &'a str,
    notes: &'a mut Vec<String>,
}

impl GenContext<'_> {
    /// Builds the AND list of one `from` or `to` entry, or `[any]` when it has no fields.
    fn list(&mut self, items: &[Item<'_>]) -> Result<Vec<Node>, String> {
        let mut and = Vec::new();
        for item in items {
            self.item(item, &mut and)?;
        }
        if and.is_empty() {
            and.push(Node::Any);
        }
        Ok(and)
    }

    /// `or(values…)` and `not(or(notValues…))` of one field.
    fn item(&mut self, item: &Item<'_>, out: &mut Vec<Node>) -> Result<(), String> {
        let values = self.migrate(item, &item.values);
        let not_values = self.migrate(item, &item.not_values);
        if item.kind.extended(self.ctx.version) {
            for (vals, negate) in [(&values, false), (&not_values, true)] {
                if vals.is_empty() {
                    continue;
                }
                match self.check(item, self.extended(item, vals)) {
                    Ok(Some(n)) if negate => out.push(Node::Not(Box::new(n))),
                    Ok(Some(n)) => out.push(n),
                    Ok(None) => {}
                    Err(e) => return Err(e),
                }
            }
            return Ok(());
        }
        for (vals, negate) in [(&values, false), (&not_values, true)] {
            let mut or = Vec::new();
            for v in vals {
                if let Some(n) = self.check(item, self.single(item, v))? {
                    or.push(n);
                }
            }
            if !or.is_empty() {
                let n = Node::Or(or);
                out.push(if negate { Node::Not(Box::new(n)) } else { n });
            }
        }
        Ok(())
    }

    /// istiod's error rule: fatal to an ALLOW rule, otherwise the field is left out.
    fn check(
        &mut self,
        item: &Item<'_>,
        r: Result<Option<Node>, String>,
    ) -> Result<Option<Node>, String> {
        match r {
            Ok(n) => Ok(n),
            Err(e) if self.ctx.strict => Err(e),
            Err(e) => {
                let note = format!("field {} left out: {e}", item.key);
                if !self.notes.contains(&note) {
                    self.notes.push(note);
                }
                Ok(None)
            }
        }
    }

    /// Trust-domain alias expansion of `source.principal` and `source.trustDomain` values.
    fn migrate(&self, item: &Item<'_>, values: &[String]) -> Vec<String> {
        if item.kind == Gen::SrcTrustDomain {
            return expand_trust_domain_values(values, &self.ctx.trust_domains);
        }
        if item.kind != Gen::SrcPrincipal {
            return values.to_vec();
        }
        let mut out = Vec::new();
        for v in values {
            for p in expand_trust_domains(v, &self.ctx.trust_domains) {
                out.push(p);
            }
        }
        out
    }

    fn single(&self, item: &Item<'_>, v: &str) -> Result<Option<Node>, String> {
        if self.ctx.for_tcp && item.kind.http_only() {
            return Err(format!("\"{}\" is HTTP only", item.key));
        }
        let authenticated = |m: StringMatcher| {
            Node::Prin(Principal::Authenticated(Authenticated {
                principal_name: Some(m),
            }))
        };
        Ok(Some(match item.kind {
            Gen::DestIp => Node::Perm(Permission::DestinationIp(cidr(v)?)),
            Gen::DestPort => Node::Perm(Permission::DestinationPort(
                v.parse::<u16>()
                    .map_err(|_| format!("bad port (\"{v}\")"))?
                    .into(),
            )),
            Gen::Sni => Node::Perm(Permission::RequestedServerName(string(v))),
            Gen::SrcIp => Node::Prin(Principal::DirectRemoteIp(cidr(v)?)),
            Gen::RemoteIp => Node::Prin(Principal::RemoteIp(cidr(v)?)),
            Gen::SrcNamespace => {
                let ns = quote_meta(v).replace("\\*", ".*");
                authenticated(StringMatcher::regex(format!(".*/ns/{ns}/.*")))
            }
            Gen::SrcPrincipal => authenticated(string_with_prefix(v, "spiffe://")),
            Gen::SrcTrustDomain => authenticated(trust_domain_matcher(v)),
            Gen::SrcServiceAccount => {
                let (ns, sa) = v.split_once('/').unwrap_or((self.namespace, v));
                authenticated(StringMatcher::regex(format!(
                    "spiffe://.+/ns/{ns}/(.+/|)sa/{sa}(/.+)?"
                )))
            }
            // Before Istio 1.21 the whole `iss/sub` string was matched on istio_authn's metadata.
            Gen::RequestPrincipal => Node::Prin(Principal::Metadata(MetadataMatcher {
                filter: ISTIO_AUTHN_FILTER.to_owned(),
                path: vec![PathSegment {
                    key: "request.auth.principal".to_owned(),
                }],
                value: ValueMatcher::StringMatch(string(v)),
            })),
            Gen::Header => {
                let name = item.key.trim_start_matches("request.headers");
                let inner = name
                    .strip_prefix('[')
                    .and_then(|n| n.strip_suffix(']'))
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| format!("bad key ({}): should have format a[b]", item.key))?;
                Node::Prin(Principal::Header(header(inner, v)))
            }
            Gen::Host => Node::Perm(Permission::Header(host(v))),
            Gen::Method => Node::Perm(Permission::Header(header(":method", v))),
            Gen::Path => {
                if v.contains("{*}") || v.contains("{**}") {
                    let template = v.replace("{**}", "**").replace("{*}", "*");
                    Node::Perm(Permission::UriTemplate(UriTemplate::new(template)))
                } else {
                    Node::Perm(Permission::UrlPath(PathMatcher { path: string(v) }))
                }
            }
            Gen::EnvoyFilter | Gen::Audiences | Gen::Presenter | Gen::Claims => {
                return Err(format!("unimplemented for {}", item.key));
            }
        }))
    }

    fn extended(&self, item: &Item<'_>, values: &[String]) -> Result<Option<Node>, String> {
        if self.ctx.for_tcp && item.kind.http_only() {
            return Err(format!("\"{}\" is HTTP only", item.key));
        }
        let metadata = |m: MetadataMatcher| Node::Prin(Principal::Metadata(m));
        Ok(Some(match item.kind {
            Gen::Audiences => metadata(jwt_claim(&["aud".to_owned()], values)),
            Gen::Presenter => metadata(jwt_claim(&["azp".to_owned()], values)),
            Gen::Claims => {
                let claims = names_in_brackets(item.key.trim_start_matches("request.auth.claims"))?;
                metadata(jwt_claim(&claims, values))
            }
            Gen::EnvoyFilter => {
                let rest = item.key.trim_start_matches("experimental.");
                let (filter, key) = rest
                    .trim_end_matches(']')
                    .split_once('[')
                    .ok_or_else(|| format!("invalid key: {}", item.key))?;
                let value_matchers = values
                    .iter()
                    .map(
                        |v| match v.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
                            Some(inner) => ValueMatcher::ListMatch(super::config::ListMatcher {
                                one_of: Box::new(ValueMatcher::StringMatch(string(inner))),
                            }),
                            None => ValueMatcher::StringMatch(string(v)),
                        },
                    )
                    .collect();
                Node::Perm(Permission::Metadata(MetadataMatcher {
                    filter: filter.to_owned(),
                    path: vec![PathSegment {
                        key: key.to_owned(),
                    }],
                    value: or_values(value_matchers),
                }))
            }
            Gen::RequestPrincipal => {
                let mut or: Vec<Node> = values.iter().map(|v| split_principal(v)).collect();
                if or.len() == 1 {
                    or.remove(0)
                } else {
                    Node::Or(or)
                }
            }
            _ => return self.single(item, values.first().map_or("", String::as_str)),
        }))
    }
}

/// Splits a request principal pattern at the last `/` into `iss` and `sub` matchers (Istio 1.21+).
fn split_principal(value: &str) -> Node {
    let any = || StringMatcher::regex(".+");
    let (iss, sub, found) = match value.rfind('/') {
        Some(i) => (&value[..i], &value[i + 1..], true),
        None => (value, "", false),
    };
    let (m_iss, m_sub) = if value == "*" {
        (any(), any())
    } else if value.starts_with('*') {
        if found {
            let m_iss = if iss == "*" {
                any()
            } else {
                StringMatcher::suffix(iss.trim_start_matches('*'))
            };
            (m_iss, StringMatcher::exact(sub))
        } else {
            (any(), StringMatcher::suffix(value.trim_start_matches('*')))
        }
    } else if let Some(rest) = value.strip_suffix('*') {
        if found {
            let m_sub = if sub == "*" {
                any()
            } else {
                StringMatcher::prefix(sub.strip_suffix('*').unwrap_or(sub))
            };
            (StringMatcher::exact(iss), m_sub)
        } else {
            (StringMatcher::prefix(rest), any())
        }
    } else {
        (StringMatcher::exact(iss), StringMatcher::exact(sub))
    };
    let claim = |name: &str, m: StringMatcher| {
        Node::Prin(Principal::Metadata(jwt_payload(
            &[name.to_owned()],
            ValueMatcher::StringMatch(m),
        )))
    };
    Node::And(vec![claim("iss", m_iss), claim("sub", m_sub)])
}

/// Expands a `source.principal` value over the trust domain and its aliases. A value whose trust
/// domain is in the bundle, or is `cluster.local`, becomes one value per bundle member; other
/// values, and values not of the form `TD/ns/NS/sa/SA`, stay as written.
fn expand_trust_domains(principal: &str, bundle: &[String]) -> Vec<String> {
    let parts: Vec<&str> = principal.split('/').collect();
    if parts.len() != 5 || parts[0] == "*" || bundle.is_empty() {
        return vec![principal.to_owned()];
    }
    let td = parts[0];
    let in_bundle = bundle.iter().any(|b| glob_match(td, b));
    if !in_bundle && td != "cluster.local" {
        return vec![principal.to_owned()];
    }
    let rest = &principal[td.len()..];
    let mut out: Vec<String> = Vec::new();
    for member in bundle {
        let candidate = if td.starts_with('*') && member.ends_with(&td[1..]) {
            principal.to_owned()
        } else {
            format!("{member}{rest}")
        };
        if !out.contains(&candidate) {
            out.push(candidate);
        }
    }
    out
}

/// `pattern` (with at most a leading or trailing `*`) matches `s`.
fn glob_match(pattern: &str, s: &str) -> bool {
    if pattern == "*" {
        true
    } else if let Some(rest) = pattern.strip_prefix('*') {
        s.ends_with(rest)
    } else if let Some(rest) = pattern.strip_suffix('*') {
        s.starts_with(rest)
    } else {
        pattern == s
    }
}

/// Expands trust domain values: a value naming the mesh's trust domain or one of its aliases stands
/// for all of them, as `source.principal` values do.
fn expand_trust_domain_values(values: &[String], trust_domains: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        let expanded: Vec<String> = if trust_domains.iter().any(|td| td == value) {
            trust_domains.to_vec()
        } else {
            vec![value.clone()]
        };
        for td in expanded {
            if !out.contains(&td) {
                out.push(td);
            }
        }
    }
    out
}

/// Builds the `source.trustDomain` matcher on the peer's URI SAN (Istio 1.30): `*` is any SPIFFE
/// id, an exact domain is the prefix `spiffe://TD/`, and one leading or trailing `*` matches any
/// characters except `/` inside the domain.
fn trust_domain_matcher(value: &str) -> StringMatcher {
    if value == "*" {
        return StringMatcher::prefix("spiffe://".to_owned());
    }
    if let Some(rest) = value.strip_suffix('*') {
        return StringMatcher::regex(format!("spiffe://{}[^/]*/.*", quote_meta(rest)));
    }
    if let Some(rest) = value.strip_prefix('*') {
        return StringMatcher::regex(format!("spiffe://[^/]*{}/.*", quote_meta(rest)));
    }
    StringMatcher::prefix(format!("spiffe://{value}/"))
}
