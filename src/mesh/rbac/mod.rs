//! AuthorizationPolicy as Envoy enforces it: istiod's translation into RBAC filter configs
//! ([`build`]), and Envoy's RBAC engine evaluating a request against them ([`Engine`],
//! [`evaluate`], [`authorize`]).

pub mod builder;
pub mod config;
mod context;
mod engine;
mod explain;
mod index;
mod matchers;
mod regex_glob;
mod rule;
mod template;

pub use builder::{BuildSettings, Built, ExtAuthzProvider, ProviderKind, ScopedPolicy, build};
pub use context::normalize_path;
pub use engine::{Engine, EngineError};

use serde_json::Value;

use self::config::RbacAction;
use self::context::Ctx;
use crate::mesh::{MeshSettings, Request, Stage, Step};
use crate::model::Decision;

/// The RBAC part of a [`crate::mesh::Verdict`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacVerdict {
    /// 403 when denied over HTTP, 0 when a TCP connection is closed, 200 when allowed.
    pub status: u16,
    pub decision: Decision,
    pub stage: Stage,
    /// `NAMESPACE/NAME` of the deciding policy: the denying one, or the ALLOW one that matched.
    pub policy: Option<String>,
    pub rule: Option<u32>,
    /// `%RESPONSE_CODE_DETAILS%` (HTTP) or `%CONNECTION_TERMINATION_DETAILS%` (TCP).
    pub response_code_details: String,
    pub explanation: Vec<Step>,
    /// Notes istiod would log while building the filters (skipped rules, dropped fields).
    pub notes: Vec<String>,
}

/// Builds the filters for the policies that apply and evaluates the request against them.
/// `payload` is the claims object jwt_authn stored under `payload` for an accepted token, with
/// `scope` and `permission` already split into lists.
pub fn authorize(
    policies: &[ScopedPolicy<'_>],
    mesh: &MeshSettings,
    providers: &[ExtAuthzProvider],
    req: &Request,
    payload: Option<&Value>,
) -> Result<RbacVerdict, EngineError> {
    let built = build(
        policies,
        &BuildSettings {
            mesh,
            protocol: req.protocol,
            providers,
        },
    );
    let engine = Engine::new(&built.filters)?;
    let mut verdict = evaluate(&engine, req, payload);
    verdict.notes = built.notes;
    Ok(verdict)
}

/// Runs the request through the compiled filters in chain order. AUDIT, dry-run and CUSTOM
/// shadow rules are evaluated and explained but never decide; the first enforced DENY match, or
/// an enforced ALLOW filter with no match, denies.
pub fn evaluate(engine: &Engine, req: &Request, payload: Option<&Value>) -> RbacVerdict {
    let ctx = Ctx::new(req, payload);
    let mut steps = Vec::new();
    // The enforced ALLOW policy that let the request through, named as a denying one would be.
    let mut allowed_by = None;
    for filter in &engine.filters {
        if let Some(shadow) = &filter.shadow {
            let label = if filter.ext_authz_shadow {
                "CUSTOM (selects ext_authz)"
            } else {
                dry_label(shadow.action)
            };
            let _ = run(shadow, &ctx, label, &mut steps);
        }
        let Some(rules) = &filter.enforced else {
            continue;
        };
        let label = match rules.action {
            RbacAction::Allow => "ALLOW",
            RbacAction::Deny => "DENY",
            RbacAction::Log => "AUDIT (never decides)",
        };
        let first = run(rules, &ctx, label, &mut steps);
        let denied_by = match (rules.action, first) {
            (RbacAction::Deny, Some(id)) => Some(id.to_owned()),
            (RbacAction::Allow, None) => Some("none".to_owned()),
            (RbacAction::Allow, Some(id)) => {
                allowed_by = parse_policy_id(id);
                None
            }
            _ => None,
        };
        if let Some(id) = denied_by {
            let (policy, rule) = parse_policy_id(&id).map_or((None, None), |(ns, name, rule)| {
                (Some(format!("{ns}/{name}")), Some(rule))
            });
            return RbacVerdict {
                status: if ctx.http { 403 } else { 0 },
                decision: Decision::Deny,
                stage: Stage::Authz,
                policy,
                rule,
                response_code_details: format!(
                    "rbac_access_denied_matched_policy[{}]",
                    id.replace(char::is_whitespace, "_")
                ),
                explanation: steps,
                notes: Vec::new(),
            };
        }
    }
    let (policy, rule) = allowed_by.map_or((None, None), |(ns, name, rule)| {
        (Some(format!("{ns}/{name}")), Some(rule))
    });
    RbacVerdict {
        status: 200,
        decision: Decision::Allow,
        stage: Stage::None,
        policy,
        rule,
        response_code_details: "via_upstream".to_owned(),
        explanation: steps,
        notes: Vec::new(),
    }
}

/// Returns what Envoy decides for the request, without the explanation: `None` when allowed, else
/// the matched policy id (`none` when no ALLOW policy matched). Like Envoy, each rule set stops at
/// its first match in policy-id order, and shadow rules are skipped because they never decide.
/// Policies that the peer index rules out for the request's peer principal or namespace are not
/// evaluated, which changes no verdict because they cannot match.
pub fn decide<'e>(engine: &'e Engine, req: &Request, payload: Option<&Value>) -> Option<&'e str> {
    let ctx = Ctx::new(req, payload);
    let peer = req.source_principal.as_deref();
    for filter in &engine.filters {
        let Some(rules) = &filter.enforced else {
            continue;
        };
        let first = rules
            .index
            .candidates(peer)
            .map(|i| &rules.policies[i])
            .find(|named| named.policy.matches(&ctx))
            .map(|named| named.id.as_str());
        match (rules.action, first) {
            (RbacAction::Deny, Some(id)) => return Some(id),
            (RbacAction::Allow, None) => return Some("none"),
            _ => {}
        }
    }
    None
}

fn dry_label(action: RbacAction) -> &'static str {
    match action {
        RbacAction::Allow => "dry-run ALLOW (never decides)",
        RbacAction::Deny => "dry-run DENY (never decides)",
        RbacAction::Log => "dry-run AUDIT (never decides)",
    }
}

/// Evaluates every policy of one rule set, recording a step each; returns the first matching id.
fn run<'r>(
    rules: &'r engine::CompiledRbac,
    ctx: &Ctx<'_>,
    label: &str,
    steps: &mut Vec<Step>,
) -> Option<&'r str> {
    let mut first = None;
    steps.reserve(rules.policies.len());
    for named in &rules.policies {
        let id = named.id.as_str();
        let matched = named.policy.matches(ctx);
        let message = if matched {
            format!("{label} policy {id} matched")
        } else {
            format!(
                "{label} policy {id}: {}",
                explain::why_not(&named.policy, ctx)
            )
        };
        let (policy, rule) = named
            .source
            .as_ref()
            .map_or((None, None), |(policy, rule)| {
                (Some(policy.clone()), Some(*rule))
            });
        steps.push(Step {
            stage: Stage::Authz,
            policy,
            rule,
            outcome: if matched { "matched" } else { "not_matched" }.to_owned(),
            message,
        });
        if matched && first.is_none() {
            first = Some(id);
        }
    }
    first
}

/// `(namespace, name, rule)` of an Istio RBAC policy id, with or without the CUSTOM prefix and
/// the bad-provider suffix. Kubernetes names cannot hold `[` or `]`, so brackets delimit.
pub fn parse_policy_id(id: &str) -> Option<(&str, &str, u32)> {
    let start = id.find("ns[")?;
    let rest = &id[start + 3..];
    let (ns, rest) = rest.split_once("]-policy[")?;
    let (name, rest) = rest.split_once("]-rule[")?;
    let (rule, _) = rest.split_once(']')?;
    Some((ns, name, rule.parse().ok()?))
}
