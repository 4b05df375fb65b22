//! Why a policy did not match: the first clause that failed, in words. Only called for policies
//! that did not match, so the matching path stays free of string building.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::redact::{hide_path_credentials, hide_tokens};

use super::context::Ctx;
use super::engine::{
    CHeader, CHeaderCheck, CPerm, CPolicy, CPrin, CStr, CStrKind, Cidr, MetaValue, principal_of,
};

/// Describes the first failing clause of a policy that did not match.
pub(super) fn why_not(p: &CPolicy, ctx: &Ctx<'_>) -> String {
    if !p.permissions.iter().any(|x| x.matches(ctx)) {
        return entries(&p.permissions, "to", |x| perm(x, ctx));
    }
    entries(&p.principals, "from", |x| prin(x, ctx))
}

fn entries<T>(list: &[T], label: &str, why: impl Fn(&T) -> String) -> String {
    if let [one] = list {
        return why(one);
    }
    let parts: Vec<String> = list
        .iter()
        .enumerate()
        .map(|(i, x)| format!("{label}[{i}]: {}", why(x)))
        .collect();
    parts.join("; ")
}

/// A leaf's subject and the request's value for it (`None` when absent). The text borrows from
/// the policy and the request where it can.
struct Leaf<'a> {
    subject: Cow<'a, str>,
    actual: Option<Cow<'a, str>>,
    pattern: Cow<'a, str>,
    absent: &'static str,
}

fn describe(s: &CStr) -> Cow<'_, str> {
    let body: Cow<'_, str> = match &s.kind {
        CStrKind::Exact(v) => v.into(),
        CStrKind::Prefix(v) => format!("prefix {v}").into(),
        CStrKind::Suffix(v) => format!("suffix {v}").into(),
        CStrKind::Contains(v) => format!("substring {v}").into(),
        CStrKind::Regex(r, _) if r == ".+" => "any non-empty value".into(),
        CStrKind::Regex(r, _) => format!("regex {r}").into(),
    };
    if s.ignore_case {
        format!("{body} (any case)").into()
    } else {
        body
    }
}

fn glob(s: &CStr) -> String {
    match &s.kind {
        CStrKind::Exact(v) => v.clone(),
        CStrKind::Prefix(v) => format!("{v}*"),
        CStrKind::Suffix(v) => format!("*{v}"),
        CStrKind::Regex(r, _) if r == ".+" => "*".to_owned(),
        _ => describe(s).into_owned(),
    }
}

fn cidr(c: &Cidr) -> String {
    format!("{}/{}", c.addr, c.len)
}

fn header_leaf<'a>(h: &'a CHeader, ctx: &'a Ctx<'_>) -> Leaf<'a> {
    let subject = match h.name.as_str() {
        ":authority" => "host".into(),
        ":method" => "method".into(),
        n => format!("header {n}").into(),
    };
    // Header values, sent or expected, may be tokens, and explanations are printed.
    let pattern = match &h.check {
        CHeaderCheck::Str(s) => hide_tokens(&describe(s)).into(),
        CHeaderCheck::Present(true) => "any value (present)".into(),
        CHeaderCheck::Present(false) => "absent".into(),
    };
    Leaf {
        subject,
        actual: ctx
            .header(&h.name)
            .map(|value| Cow::Owned(hide_tokens(&value))),
        pattern,
        absent: if ctx.http {
            "it is absent"
        } else {
            "a TCP connection has no headers"
        },
    }
}

fn perm_leaf<'a>(p: &'a CPerm, ctx: &'a Ctx<'_>) -> Option<Leaf<'a>> {
    let http_path = || ctx.http.then(|| hide_path_credentials(ctx.path.as_ref()));
    Some(match p {
        CPerm::Header(h) => header_leaf(h, ctx),
        CPerm::UrlPath(s) => Leaf {
            subject: "path".into(),
            actual: http_path(),
            pattern: describe(s),
            absent: "a TCP connection has no path",
        },
        CPerm::Template { template, .. } => Leaf {
            subject: "path".into(),
            actual: http_path(),
            pattern: format!("template {template}").into(),
            absent: "a TCP connection has no path",
        },
        CPerm::DestIp(c) => Leaf {
            subject: "destination ip".into(),
            actual: Some(ctx.req.destination_ip.to_string().into()),
            pattern: cidr(c).into(),
            absent: "",
        },
        CPerm::DestPort(n) => Leaf {
            subject: "port".into(),
            actual: Some(ctx.req.port.to_string().into()),
            pattern: n.to_string().into(),
            absent: "",
        },
        CPerm::Sni(s) => Leaf {
            subject: "SNI".into(),
            actual: ctx.req.sni.as_deref().map(Cow::Borrowed),
            pattern: describe(s),
            absent: "the connection sent no SNI",
        },
        CPerm::Metadata(m) => Leaf {
            subject: format!("metadata {}[{}]", m.filter, m.path.join(".")).into(),
            actual: m.lookup(ctx).map(meta_text),
            pattern: "the policy's values".into(),
            absent: "it is absent",
        },
        _ => return None,
    })
}

fn meta_text(v: MetaValue<'_>) -> Cow<'_, str> {
    match v {
        MetaValue::Borrowed(serde_json::Value::String(s)) => s.into(),
        MetaValue::Owned(s) => s.into(),
        MetaValue::Borrowed(v) => v.to_string().into(),
    }
}

fn prin_leaf<'a>(p: &'a CPrin, ctx: &'a Ctx<'_>) -> Option<Leaf<'a>> {
    const NO_JWT: &str = "the request carried no valid JWT";
    let peer = || ctx.req.source_principal.as_deref().map(Cow::Borrowed);
    Some(match p {
        CPrin::Authenticated(m) => Leaf {
            subject: "peer principal".into(),
            actual: peer(),
            pattern: m.as_ref().map_or("any mTLS peer".into(), describe),
            absent: "the connection is not mTLS",
        },
        CPrin::FilterState { m, .. } => Leaf {
            subject: "peer principal".into(),
            actual: peer(),
            pattern: describe(m),
            absent: "the connection is not mTLS",
        },
        CPrin::DirectIp(c) => Leaf {
            subject: "source ip".into(),
            actual: Some(ctx.req.source_ip.to_string().into()),
            pattern: cidr(c).into(),
            absent: "",
        },
        CPrin::RemoteIp(c) => Leaf {
            subject: "remote ip".into(),
            actual: Some(ctx.remote_ip.to_string().into()),
            pattern: cidr(c).into(),
            absent: "",
        },
        CPrin::Header(h) => header_leaf(h, ctx),
        CPrin::RequestPrincipal { iss, sub } => {
            let actual = ctx.payload.and_then(principal_of);
            let empty_sub = actual.as_deref().is_some_and(|a| a.ends_with('/'));
            Leaf {
                subject: if empty_sub {
                    "request principal (empty or absent sub)".into()
                } else {
                    "request principal".into()
                },
                actual: actual.map(Cow::Owned),
                pattern: format!("{}/{}", glob(iss), glob(sub)).into(),
                absent: NO_JWT,
            }
        }
        CPrin::Metadata(m) => {
            let claim = m.path.get(1..).map(|p| p.join(".")).unwrap_or_default();
            Leaf {
                subject: format!("claim {claim}").into(),
                actual: m.lookup(ctx).map(meta_text),
                pattern: "the policy's values".into(),
                absent: if ctx.payload.is_some() {
                    "the token has no such claim"
                } else {
                    NO_JWT
                },
            }
        }
        _ => return None,
    })
}

fn leaf_message(l: &Leaf, verb: &str) -> String {
    match &l.actual {
        None => format!("no {}: {}", l.subject, l.absent),
        Some(a) => format!("{} {a} {verb}", l.subject),
    }
}

fn or_message(leaves: &[Leaf]) -> String {
    let Some(first) = leaves.first() else {
        return "an empty alternative never matches".to_owned();
    };
    if first.actual.is_none() {
        return leaf_message(first, "");
    }
    let exact_only = leaves.iter().all(|l| !l.pattern.contains(' '));
    if leaves.len() == 1 && !exact_only {
        return leaf_message(first, &format!("does not match {}", first.pattern));
    }
    let mut list = String::new();
    for (i, l) in leaves.iter().enumerate() {
        if i > 0 {
            list.push_str(", ");
        }
        let _ = write!(list, "{}", l.pattern);
    }
    leaf_message(first, &format!("is not one of [{list}]"))
}

fn perm(p: &CPerm, ctx: &Ctx<'_>) -> String {
    match p {
        CPerm::And(v) => v
            .iter()
            .find(|x| !x.matches(ctx))
            .map_or_else(String::new, |x| perm(x, ctx)),
        CPerm::Or(v) => match v
            .iter()
            .map(|x| perm_leaf(x, ctx))
            .collect::<Option<Vec<_>>>()
        {
            Some(leaves) => or_message(&leaves),
            None => entries(v, "any of", |x| perm(x, ctx)),
        },
        CPerm::Not(inner) => match &**inner {
            CPerm::Any(true) => "the policy has no rules, so it matches nothing".to_owned(),
            CPerm::Or(v) => excluded(
                v.iter()
                    .find(|x| x.matches(ctx))
                    .and_then(|x| perm_leaf(x, ctx)),
            ),
            other => excluded(perm_leaf(other, ctx)),
        },
        CPerm::Any(_) => "matches nothing".to_owned(),
        leaf => or_message(&perm_leaf(leaf, ctx).into_iter().collect::<Vec<_>>()),
    }
}

fn prin(p: &CPrin, ctx: &Ctx<'_>) -> String {
    match p {
        CPrin::And(v) => v
            .iter()
            .find(|x| !x.matches(ctx))
            .map_or_else(String::new, |x| prin(x, ctx)),
        CPrin::Or(v) => match v
            .iter()
            .map(|x| prin_leaf(x, ctx))
            .collect::<Option<Vec<_>>>()
        {
            Some(leaves) => or_message(&leaves),
            None => entries(v, "any of", |x| prin(x, ctx)),
        },
        CPrin::Not(inner) => match &**inner {
            CPrin::Any(true) => "the policy has no rules, so it matches nothing".to_owned(),
            CPrin::Or(v) => excluded(
                v.iter()
                    .find(|x| x.matches(ctx))
                    .and_then(|x| prin_leaf(x, ctx)),
            ),
            other => excluded(prin_leaf(other, ctx)),
        },
        CPrin::Any(_) => "matches nothing".to_owned(),
        leaf => or_message(&prin_leaf(leaf, ctx).into_iter().collect::<Vec<_>>()),
    }
}

fn excluded(leaf: Option<Leaf>) -> String {
    match leaf {
        Some(l) => match &l.actual {
            Some(a) => format!("{} {a} matches the excluded {}", l.subject, l.pattern),
            None => format!(
                "no {}: {}, which the exclusion matches",
                l.subject, l.absent
            ),
        },
        None => "an excluded value matched".to_owned(),
    }
}
