//! Envoy's RBAC engine over the built filters: permission and principal trees compiled once
//! (regexes and path templates included), then evaluated per request. Policies stay in name
//! order, so the reported id is the first matching name in byte order, as Envoy's `std::map`
//! gives it.

use std::net::IpAddr;

use serde_json::Value;

use super::config::{
    CidrRange, Filter, FilterConfig, HeaderCheck, Permission, Principal, Rbac, RbacAction,
    StringMatcher, StringPattern, ValueMatcher,
};
use super::context::{Ctx, HeaderField};
use super::index::PeerIndex;
use super::matchers::{ISTIO_AUTHN_FILTER, JWT_AUTHN_FILTER};
use super::regex_glob::FullRegex;
use super::template::PathTemplate;

/// A config the engine cannot load.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    #[error("regex \"{regex}\" does not compile ({reason}); Envoy would reject the config too")]
    Regex { regex: String, reason: String },
    #[error("address \"{0}\" in a CIDR range is not an IP address; fix the policy value")]
    Cidr(String),
}

/// The compiled filters, in chain order.
#[derive(Debug)]
pub struct Engine {
    pub(super) filters: Vec<CompiledFilter>,
}

#[derive(Debug)]
pub(super) struct CompiledFilter {
    pub enforced: Option<CompiledRbac>,
    pub shadow: Option<CompiledRbac>,
    /// Whether these are the shadow rules of a CUSTOM filter, which select the requests sent to ext_authz.
    pub ext_authz_shadow: bool,
}

#[derive(Debug)]
pub(super) struct CompiledRbac {
    pub action: RbacAction,
    /// In policy-id order.
    pub policies: Vec<NamedPolicy>,
    /// The policies that can match each peer principal and peer namespace, so the verdict path
    /// tries only those.
    pub index: PeerIndex,
}

#[derive(Debug)]
pub(super) struct NamedPolicy {
    pub id: String,
    /// `NAMESPACE/NAME` and rule number of an Istio policy id, parsed once for the explanation.
    pub source: Option<(String, u32)>,
    pub policy: CPolicy,
}

#[derive(Debug)]
pub(super) struct CPolicy {
    pub permissions: Vec<CPerm>,
    pub principals: Vec<CPrin>,
}

#[derive(Debug)]
pub(super) enum CPerm {
    And(Vec<CPerm>),
    Or(Vec<CPerm>),
    Not(Box<CPerm>),
    Any(bool),
    Header(CHeader),
    UrlPath(CStr),
    Template {
        template: String,
        matcher: PathTemplate,
    },
    DestIp(Cidr),
    DestPort(u32),
    Sni(CStr),
    Metadata(CMeta),
}

#[derive(Debug)]
pub(super) enum CPrin {
    And(Vec<CPrin>),
    Or(Vec<CPrin>),
    Not(Box<CPrin>),
    Any(bool),
    Authenticated(Option<CStr>),
    DirectIp(Cidr),
    RemoteIp(Cidr),
    Header(CHeader),
    Metadata(CMeta),
    /// istiod's `iss` AND `sub` pair for one request principal value.
    RequestPrincipal {
        iss: CStr,
        sub: CStr,
    },
    FilterState {
        key: String,
        m: CStr,
    },
}

#[derive(Debug)]
pub(super) struct CHeader {
    pub name: String,
    pub field: HeaderField,
    pub check: CHeaderCheck,
    pub invert: bool,
}

#[derive(Debug)]
pub(super) enum CHeaderCheck {
    Str(CStr),
    Present(bool),
}

#[derive(Debug)]
pub(super) struct CMeta {
    pub filter: String,
    pub path: Vec<String>,
    pub value: CValue,
}

#[derive(Debug)]
pub(super) enum CValue {
    Str(CStr),
    Or(Vec<CValue>),
    List(Box<CValue>),
    Present(bool),
}

#[derive(Debug)]
pub(super) struct CStr {
    pub kind: CStrKind,
    pub ignore_case: bool,
}

#[derive(Debug)]
pub(super) enum CStrKind {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    Regex(String, FullRegex),
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Cidr {
    pub addr: IpAddr,
    pub len: u32,
}

impl Engine {
    /// Compiles the RBAC filters of a chain; ext_authz filters are left to the CUSTOM marker.
    pub fn new(filters: &[Filter]) -> Result<Self, EngineError> {
        let mut out = Vec::new();
        for f in filters {
            let (FilterConfig::HttpRbac(r) | FilterConfig::NetworkRbac(r)) = &f.typed_config else {
                continue;
            };
            out.push(CompiledFilter {
                enforced: r.rules.as_ref().map(compile_rbac).transpose()?,
                shadow: r.shadow_rules.as_ref().map(compile_rbac).transpose()?,
                ext_authz_shadow: r.shadow_rules_stat_prefix == "istio_ext_authz_",
            });
        }
        Ok(Self { filters: out })
    }
}

fn compile_rbac(rbac: &Rbac) -> Result<CompiledRbac, EngineError> {
    let mut policies = Vec::with_capacity(rbac.policies.len());
    for (id, p) in &rbac.policies {
        let policy = CPolicy {
            permissions: p.permissions.iter().map(perm).collect::<Result<_, _>>()?,
            principals: p.principals.iter().map(prin).collect::<Result<_, _>>()?,
        };
        let source = super::parse_policy_id(id)
            .map(|(namespace, name, rule)| (format!("{namespace}/{name}"), rule));
        policies.push(NamedPolicy {
            id: id.clone(),
            source,
            policy,
        });
    }
    Ok(CompiledRbac {
        action: rbac.action,
        index: PeerIndex::new(policies.iter().map(|p| &p.policy)),
        policies,
    })
}

fn string(m: &StringMatcher) -> Result<CStr, EngineError> {
    let fold = |s: &String| {
        if m.ignore_case {
            s.to_ascii_lowercase()
        } else {
            s.clone()
        }
    };
    let kind = match &m.pattern {
        StringPattern::Exact(s) => CStrKind::Exact(fold(s)),
        StringPattern::Prefix(s) => CStrKind::Prefix(fold(s)),
        StringPattern::Suffix(s) => CStrKind::Suffix(fold(s)),
        StringPattern::Contains(s) => CStrKind::Contains(fold(s)),
        // Envoy's RE2 matches the whole value; RE2 and the regex crate share the syntax istiod
        // emits (no look-around, no back-references).
        StringPattern::SafeRegex(r) => CStrKind::Regex(r.regex.clone(), full_regex(&r.regex)?),
    };
    Ok(CStr {
        kind,
        ignore_case: m.ignore_case,
    })
}

fn full_regex(re: &str) -> Result<FullRegex, EngineError> {
    FullRegex::new(re).map_err(|e| EngineError::Regex {
        regex: re.to_owned(),
        reason: e.to_string(),
    })
}

fn cidr(c: &CidrRange) -> Result<Cidr, EngineError> {
    let addr: IpAddr = c
        .address_prefix
        .parse()
        .map_err(|_| EngineError::Cidr(c.address_prefix.clone()))?;
    Ok(Cidr {
        addr,
        len: c.prefix_len,
    })
}

fn header(h: &super::config::HeaderMatcher) -> Result<CHeader, EngineError> {
    let name = h.name.to_ascii_lowercase();
    Ok(CHeader {
        field: HeaderField::of(&name),
        name,
        check: match &h.check {
            HeaderCheck::StringMatch(s) => CHeaderCheck::Str(string(s)?),
            HeaderCheck::PresentMatch(b) => CHeaderCheck::Present(*b),
        },
        invert: h.invert_match,
    })
}

fn value(v: &ValueMatcher) -> Result<CValue, EngineError> {
    Ok(match v {
        ValueMatcher::StringMatch(s) => CValue::Str(string(s)?),
        ValueMatcher::OrMatch(o) => CValue::Or(
            o.value_matchers
                .iter()
                .map(value)
                .collect::<Result<_, _>>()?,
        ),
        ValueMatcher::ListMatch(l) => CValue::List(Box::new(value(&l.one_of)?)),
        ValueMatcher::PresentMatch(b) => CValue::Present(*b),
    })
}

fn meta(m: &super::config::MetadataMatcher) -> Result<CMeta, EngineError> {
    Ok(CMeta {
        filter: m.filter.clone(),
        path: m.path.iter().map(|p| p.key.clone()).collect(),
        value: value(&m.value)?,
    })
}

/// Compiles a path template: `*` is one segment, `**` any number of segments.
fn template(t: &str) -> Result<PathTemplate, EngineError> {
    PathTemplate::new(t).map_err(|e| EngineError::Regex {
        regex: t.to_owned(),
        reason: e.to_string(),
    })
}

fn perm(p: &Permission) -> Result<CPerm, EngineError> {
    Ok(match p {
        Permission::AndRules(s) => CPerm::And(s.rules.iter().map(perm).collect::<Result<_, _>>()?),
        Permission::OrRules(s) => CPerm::Or(s.rules.iter().map(perm).collect::<Result<_, _>>()?),
        Permission::NotRule(n) => CPerm::Not(Box::new(perm(n)?)),
        Permission::Any(b) => CPerm::Any(*b),
        Permission::Header(h) => CPerm::Header(header(h)?),
        Permission::UrlPath(m) => CPerm::UrlPath(string(&m.path)?),
        Permission::UriTemplate(t) => CPerm::Template {
            template: t.typed_config.path_template.clone(),
            matcher: template(&t.typed_config.path_template)?,
        },
        Permission::DestinationIp(c) => CPerm::DestIp(cidr(c)?),
        Permission::DestinationPort(n) => CPerm::DestPort(*n),
        Permission::RequestedServerName(s) => CPerm::Sni(string(s)?),
        Permission::Metadata(m) => CPerm::Metadata(meta(m)?),
    })
}

fn prin(p: &Principal) -> Result<CPrin, EngineError> {
    Ok(match p {
        Principal::AndIds(s) => {
            if let Some(rp) = request_principal(&s.ids)? {
                return Ok(rp);
            }
            CPrin::And(s.ids.iter().map(prin).collect::<Result<_, _>>()?)
        }
        Principal::OrIds(s) => CPrin::Or(s.ids.iter().map(prin).collect::<Result<_, _>>()?),
        Principal::NotId(n) => CPrin::Not(Box::new(prin(n)?)),
        Principal::Any(b) => CPrin::Any(*b),
        Principal::Authenticated(a) => {
            CPrin::Authenticated(a.principal_name.as_ref().map(string).transpose()?)
        }
        Principal::DirectRemoteIp(c) => CPrin::DirectIp(cidr(c)?),
        Principal::RemoteIp(c) => CPrin::RemoteIp(cidr(c)?),
        Principal::Header(h) => CPrin::Header(header(h)?),
        Principal::Metadata(m) => CPrin::Metadata(meta(m)?),
        Principal::FilterState(f) => CPrin::FilterState {
            key: f.key.clone(),
            m: string(&f.string_match)?,
        },
    })
}

/// Recognises istiod's `and_ids [payload.iss, payload.sub]` pair, to explain it as one request
/// principal; the match is the same.
fn request_principal(ids: &[Principal]) -> Result<Option<CPrin>, EngineError> {
    fn claim<'p>(p: &'p Principal, name: &str) -> Option<&'p StringMatcher> {
        match p {
            Principal::Metadata(m)
                if m.filter == JWT_AUTHN_FILTER
                    && m.path.len() == 2
                    && m.path[0].key == "payload"
                    && m.path[1].key == name =>
            {
                match &m.value {
                    ValueMatcher::StringMatch(s) => Some(s),
                    _ => None,
                }
            }
            _ => None,
        }
    }
    if let [a, b] = ids
        && let (Some(iss), Some(sub)) = (claim(a, "iss"), claim(b, "sub"))
    {
        return Ok(Some(CPrin::RequestPrincipal {
            iss: string(iss)?,
            sub: string(sub)?,
        }));
    }
    Ok(None)
}

impl CStr {
    pub fn matches(&self, v: &str) -> bool {
        let ic = self.ignore_case;
        match &self.kind {
            CStrKind::Exact(p) => {
                if ic {
                    v.eq_ignore_ascii_case(p)
                } else {
                    v == p
                }
            }
            CStrKind::Prefix(p) => {
                v.len() >= p.len()
                    && if ic {
                        v.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
                    } else {
                        v.starts_with(p.as_str())
                    }
            }
            CStrKind::Suffix(p) => {
                v.len() >= p.len()
                    && if ic {
                        v.as_bytes()[v.len() - p.len()..].eq_ignore_ascii_case(p.as_bytes())
                    } else {
                        v.ends_with(p.as_str())
                    }
            }
            CStrKind::Contains(p) => {
                if ic {
                    // `p` is already lower-case, so this is `v` lower-cased containing `p`.
                    p.is_empty()
                        || v.as_bytes()
                            .windows(p.len())
                            .any(|w| w.eq_ignore_ascii_case(p.as_bytes()))
                } else {
                    v.contains(p.as_str())
                }
            }
            CStrKind::Regex(_, re) => re.is_match(v),
        }
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let len = self.len.min(32);
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let len = self.len.min(128);
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }
}

impl CHeader {
    /// Matches each value of a repeated header on its own, as Envoy's RBAC header matcher does
    /// since the CVE-2026-26308 fix (seen in Envoy 1.40); older Envoy matched the values joined
    /// with `,`, so `x-role: user` plus `x-role: admin` escaped an exact `admin` rule.
    pub fn matches(&self, ctx: &Ctx<'_>) -> bool {
        let mut values = ctx.header_values(self.field, &self.name).peekable();
        let m = match &self.check {
            CHeaderCheck::Present(want) => values.peek().is_some() == *want,
            CHeaderCheck::Str(_) if values.peek().is_none() => return false,
            CHeaderCheck::Str(s) => values.any(|value| s.matches(value)),
        };
        m != self.invert
    }
}

impl CMeta {
    /// Looks up the value at the path; `None` when the metadata or the key is missing.
    pub fn lookup<'v>(&self, ctx: &Ctx<'v>) -> Option<MetaValue<'v>> {
        if self.filter == ISTIO_AUTHN_FILTER {
            // Proxies before Istio 1.21 kept `iss/sub` under `request.auth.principal`.
            return (self.path == ["request.auth.principal"])
                .then(|| ctx.payload.and_then(principal_of).map(MetaValue::Owned))?;
        }
        if self.filter != JWT_AUTHN_FILTER
            || self.path.first().map(String::as_str) != Some("payload")
        {
            return None;
        }
        let mut v = ctx.payload?;
        for key in &self.path[1..] {
            v = v.get(key)?;
        }
        Some(MetaValue::Borrowed(v))
    }

    pub fn matches(&self, ctx: &Ctx<'_>) -> bool {
        match self.lookup(ctx) {
            Some(MetaValue::Borrowed(v)) => self.value.matches(v),
            Some(MetaValue::Owned(s)) => self.value.matches(&Value::String(s)),
            None => false,
        }
    }
}

/// A metadata value found for a matcher.
pub(super) enum MetaValue<'v> {
    Borrowed(&'v Value),
    Owned(String),
}

/// Returns the request principal `iss/sub` of a payload, or `None` without an `iss`.
pub(super) fn principal_of(payload: &Value) -> Option<String> {
    let iss = payload.get("iss")?.as_str()?;
    let sub = payload.get("sub").and_then(Value::as_str).unwrap_or("");
    Some(format!("{iss}/{sub}"))
}

impl CValue {
    pub fn matches(&self, v: &Value) -> bool {
        match self {
            Self::Str(s) => v.as_str().is_some_and(|x| s.matches(x)),
            Self::Or(all) => all.iter().any(|m| m.matches(v)),
            Self::List(one) => v
                .as_array()
                .is_some_and(|a| a.iter().any(|e| one.matches(e))),
            Self::Present(want) => v.is_null() != *want,
        }
    }
}

impl CPerm {
    pub fn matches(&self, ctx: &Ctx<'_>) -> bool {
        match self {
            Self::And(v) => v.iter().all(|p| p.matches(ctx)),
            Self::Or(v) => v.iter().any(|p| p.matches(ctx)),
            Self::Not(p) => !p.matches(ctx),
            Self::Any(b) => *b,
            Self::Header(h) => h.matches(ctx),
            Self::UrlPath(s) => ctx.http && s.matches(&ctx.path),
            Self::Template { matcher, .. } => ctx.http && matcher.matches(&ctx.path),
            Self::DestIp(c) => c.contains(ctx.req.destination_ip),
            Self::DestPort(p) => u32::from(ctx.req.port) == *p,
            Self::Sni(s) => s.matches(ctx.req.sni.as_deref().unwrap_or("")),
            Self::Metadata(m) => m.matches(ctx),
        }
    }
}

impl CPrin {
    pub fn matches(&self, ctx: &Ctx<'_>) -> bool {
        match self {
            Self::And(v) => v.iter().all(|p| p.matches(ctx)),
            Self::Or(v) => v.iter().any(|p| p.matches(ctx)),
            Self::Not(p) => !p.matches(ctx),
            Self::Any(b) => *b,
            Self::Authenticated(m) => match (&ctx.req.source_principal, m) {
                (Some(p), Some(m)) => m.matches(p),
                (Some(_), None) => true,
                (None, _) => false,
            },
            Self::DirectIp(c) => c.contains(ctx.req.source_ip),
            Self::RemoteIp(c) => c.contains(ctx.remote_ip),
            Self::Header(h) => h.matches(ctx),
            Self::Metadata(m) => m.matches(ctx),
            Self::RequestPrincipal { iss, sub } => ctx.payload.is_some_and(|p| {
                p.get("iss")
                    .and_then(Value::as_str)
                    .is_some_and(|v| iss.matches(v))
                    && p.get("sub")
                        .and_then(Value::as_str)
                        .is_some_and(|v| sub.matches(v))
            }),
            Self::FilterState { key, m } => {
                key == "io.istio.peer_principal"
                    && ctx
                        .req
                        .source_principal
                        .as_deref()
                        .is_some_and(|p| m.matches(p))
            }
        }
    }
}

impl CPolicy {
    pub fn matches(&self, ctx: &Ctx<'_>) -> bool {
        self.permissions.iter().any(|p| p.matches(ctx))
            && self.principals.iter().any(|p| p.matches(ctx))
    }
}
