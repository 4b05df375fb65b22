//! AuthorizationPolicy → Envoy RBAC filters, as istiod's authz builder generates them: one filter
//! per action in the order CUSTOM (shadow RBAC + ext_authz), AUDIT, DENY, ALLOW; one policy per
//! rule, named `ns[NS]-policy[NAME]-rule[N]`; dry-run policies in `shadow_rules`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::config::{
    EnvoyGrpc, ExtAuthz, Filter, FilterConfig, GrpcService, HttpService, HttpUri, MetadataMatcher,
    PathSegment, Permission, PermissionSet, Policy, Principal, PrincipalSet, Rbac, RbacAction,
    RbacFilter, StringMatcher, ValueMatcher,
};
use super::rule::{Generated, RuleContext, generate};
use crate::mesh::crd::{Action, AuthorizationPolicy};
use crate::mesh::{IstioVersion, MeshSettings, Protocol};

const DRY_RUN_ANNOTATION: &str = "istio.io/dry-run";
const SHADOW_ALLOW_PREFIX: &str = "istio_dry_run_allow_";
const SHADOW_DENY_PREFIX: &str = "istio_dry_run_deny_";
const EXT_AUTHZ_SHADOW_PREFIX: &str = "istio_ext_authz_";
const TCP_STAT_PREFIX: &str = "tcp.";
const BAD_CUSTOM_SUFFIX: &str = "-deny-due-to-bad-CUSTOM-action";

/// A policy that applies to the workload, with whether it only runs in dry-run.
#[derive(Debug, Clone, Copy)]
pub struct ScopedPolicy<'a> {
    pub policy: &'a AuthorizationPolicy,
    pub dry_run: bool,
}

impl<'a> ScopedPolicy<'a> {
    /// Wraps the policy, dry-run when its `istio.io/dry-run` annotation is true. The value is parsed
    /// as Go's `strconv.ParseBool` parses it, and istiod enforces a policy whose value does not parse.
    pub fn new(policy: &'a AuthorizationPolicy) -> Self {
        let dry_run = policy
            .metadata
            .annotations
            .get(DRY_RUN_ANNOTATION)
            .is_some_and(|v| matches!(v.as_str(), "1" | "t" | "T" | "TRUE" | "true" | "True"));
        Self { policy, dry_run }
    }
}

/// A mesh extension provider that CUSTOM policies name (`meshConfig.extensionProviders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtAuthzProvider {
    pub name: String,
    pub kind: ProviderKind,
    /// The service host, e.g. `ext-authz.foo.svc.cluster.local`.
    pub service: String,
    pub port: u16,
    /// istiod's default is 600 s.
    pub timeout: Option<Duration>,
    pub fail_open: bool,
}

/// The protocol an ext_authz provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Grpc,
    Http,
}

/// Settings of a build besides the policies.
#[derive(Debug, Clone, Copy)]
pub struct BuildSettings<'a> {
    pub mesh: &'a MeshSettings,
    pub protocol: Protocol,
    pub providers: &'a [ExtAuthzProvider],
}

/// The generated filters in chain order, and what istiod would have logged while building them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Built {
    pub filters: Vec<Filter>,
    /// Rules skipped or changed, e.g. `skipped rule ns[foo]-policy[p]-rule[0] on TCP filter chain: …`.
    pub notes: Vec<String>,
}

/// Builds the RBAC (and ext_authz) filters for the policies that apply to one workload.
pub fn build(policies: &[ScopedPolicy<'_>], settings: &BuildSettings<'_>) -> Built {
    let mut out = Built::default();
    let of = |a: Action| -> Vec<ScopedPolicy<'_>> {
        policies
            .iter()
            .copied()
            .filter(|p| p.policy.spec.action == a)
            .collect()
    };
    build_custom(&of(Action::Custom), settings, &mut out);
    for (action, rbac_action) in [
        (Action::Audit, RbacAction::Log),
        (Action::Deny, RbacAction::Deny),
        (Action::Allow, RbacAction::Allow),
    ] {
        let chosen = of(action);
        if chosen.is_empty() {
            continue;
        }
        let (rules, shadow) = build_rules(&chosen, rbac_action, settings, None, &mut out.notes);
        let shadow_prefix = match shadow.as_ref().map_or(RbacAction::Allow, |s| s.action) {
            RbacAction::Allow => SHADOW_ALLOW_PREFIX,
            RbacAction::Deny => SHADOW_DENY_PREFIX,
            RbacAction::Log => "",
        };
        out.filters.push(rbac_filter(
            settings.protocol,
            RbacFilter {
                rules,
                shadow_rules: shadow,
                shadow_rules_stat_prefix: shadow_prefix.to_owned(),
                stat_prefix: String::new(),
            },
        ));
    }
    out
}

fn rbac_filter(protocol: Protocol, mut config: RbacFilter) -> Filter {
    match protocol {
        Protocol::Http => Filter {
            name: "envoy.filters.http.rbac".to_owned(),
            typed_config: FilterConfig::HttpRbac(config),
        },
        Protocol::Tcp => {
            TCP_STAT_PREFIX.clone_into(&mut config.stat_prefix);
            Filter {
                name: "envoy.filters.network.rbac".to_owned(),
                typed_config: FilterConfig::NetworkRbac(config),
            }
        }
    }
}

/// Builds the enforced and the shadow (dry-run) rules of one action.
fn build_rules(
    policies: &[ScopedPolicy<'_>],
    action: RbacAction,
    settings: &BuildSettings<'_>,
    custom_prefix: Option<&str>,
    notes: &mut Vec<String>,
) -> (Option<Rbac>, Option<Rbac>) {
    let mut enforced = BTreeMap::new();
    let mut shadow = BTreeMap::new();
    let (mut has_enforced, mut has_shadow) = (false, false);
    let ctx = RuleContext {
        for_tcp: settings.protocol == Protocol::Tcp,
        strict: action == RbacAction::Allow,
        version: settings.mesh.istio_version,
        trust_domains: trust_domain_bundle(settings.mesh),
    };
    for scoped in policies {
        let target = if scoped.dry_run {
            has_shadow = true;
            &mut shadow
        } else {
            has_enforced = true;
            &mut enforced
        };
        let meta = &scoped.policy.metadata;
        let spec = &scoped.policy.spec;
        let name = |i: usize| {
            format!(
                "{}ns[{}]-policy[{}]-rule[{i}]",
                custom_prefix.unwrap_or(""),
                meta.namespace,
                meta.name
            )
        };
        let rules = spec.rules.as_deref().unwrap_or_default();
        for (i, rule) in rules.iter().enumerate() {
            let id = name(i);
            match generate(rule, &meta.namespace, &ctx) {
                Generated::Policy(p, rule_notes) => {
                    notes.extend(rule_notes.into_iter().map(|n| format!("rule {id}: {n}")));
                    target.insert(id, p);
                }
                Generated::Invalid(why) => notes.push(format!("skipped invalid rule {id}: {why}")),
                Generated::Dropped(why) => notes.push(format!("skipped rule {id}: {why}")),
            }
        }
        if rules.is_empty() {
            // A policy without rules becomes one policy that never matches ("allow nothing").
            target.insert(name(0), never_matching());
        }
    }
    let wrap = |present: bool, policies: BTreeMap<String, Policy>| {
        present.then_some(Rbac { action, policies })
    };
    (wrap(has_enforced, enforced), wrap(has_shadow, shadow))
}

fn never_matching() -> Policy {
    Policy {
        permissions: vec![Permission::NotRule(Box::new(Permission::Any(true)))],
        principals: vec![Principal::NotId(Box::new(Principal::Any(true)))],
    }
}

/// `[trust domain] + aliases`, the bundle principals are expanded over.
fn trust_domain_bundle(mesh: &MeshSettings) -> Vec<String> {
    let mut bundle = vec![mesh.trust_domain.clone()];
    for alias in &mesh.trust_domain_aliases {
        if !bundle.contains(alias) {
            bundle.push(alias.clone());
        }
    }
    bundle
}

/// CUSTOM policies: per provider, an RBAC filter whose shadow rules record which CUSTOM policy
/// matched, then an ext_authz filter that runs only when one did. When the provider is unknown, or
/// the workload has several providers, istiod turns the CUSTOM rules into DENY rules instead.
#[expect(
    clippy::too_many_lines,
    reason = "one pass over istiod's CUSTOM cases; split when it grows"
)]
fn build_custom(policies: &[ScopedPolicy<'_>], settings: &BuildSettings<'_>, out: &mut Built) {
    if policies.is_empty() {
        return;
    }
    let version = settings.mesh.istio_version;
    // Istio 1.30 put the provider name in the policy names (multi-provider support).
    let per_provider = version
        >= IstioVersion {
            major: 1,
            minor: 30,
        };
    let mut by_provider: BTreeMap<&str, Vec<ScopedPolicy<'_>>> = BTreeMap::new();
    for p in policies {
        let provider = p
            .policy
            .spec
            .provider
            .as_ref()
            .map_or("", |x| x.name.as_str());
        by_provider.entry(provider).or_default().push(*p);
    }
    let several = by_provider.len() > 1;
    let groups: Vec<(&str, Vec<ScopedPolicy<'_>>)> = if per_provider {
        by_provider.into_iter().collect()
    } else {
        vec![("", policies.to_vec())]
    };
    for (provider_name, group) in groups {
        let prefix = if per_provider {
            format!("istio-ext-authz-{provider_name}-")
        } else {
            "istio-ext-authz-".to_owned()
        };
        // CUSTOM dry-run still calls ext_authz in istiod: the rules are built as enforced.
        let group: Vec<ScopedPolicy<'_>> = group
            .into_iter()
            .map(|p| ScopedPolicy {
                dry_run: false,
                ..p
            })
            .collect();
        let (rules, _) = build_rules(
            &group,
            RbacAction::Deny,
            settings,
            Some(&prefix),
            &mut out.notes,
        );
        let rules = rules.unwrap_or(Rbac {
            action: RbacAction::Deny,
            policies: BTreeMap::new(),
        });
        let provider = if several {
            out.notes.push(format!(
                "only 1 provider can be used per workload, found multiple providers; the CUSTOM \
                 rules of provider \"{provider_name}\" deny instead"
            ));
            None
        } else {
            let named = group[0]
                .policy
                .spec
                .provider
                .as_ref()
                .map_or("", |x| x.name.as_str());
            let found = settings.providers.iter().find(|p| p.name == named);
            if found.is_none() {
                out.notes.push(format!(
                    "CUSTOM provider \"{named}\" is not among the mesh extension providers; its \
                     rules deny instead"
                ));
            }
            found
        };
        if let Some(p) = provider
            && settings.protocol == Protocol::Tcp
            && p.kind == ProviderKind::Http
        {
            out.notes.push(format!(
                "CUSTOM provider \"{}\" speaks HTTP and cannot serve a TCP filter chain; no \
                 ext_authz filter is built for it",
                p.name
            ));
            continue;
        }
        match provider {
            None => out.filters.push(rbac_filter(
                settings.protocol,
                RbacFilter {
                    rules: Some(bad_custom_deny(rules)),
                    ..RbacFilter::default()
                },
            )),
            Some(provider) => {
                out.filters.push(rbac_filter(
                    settings.protocol,
                    RbacFilter {
                        shadow_rules: Some(rules),
                        shadow_rules_stat_prefix: EXT_AUTHZ_SHADOW_PREFIX.to_owned(),
                        ..RbacFilter::default()
                    },
                ));
                let marker = prefix.trim_end_matches('-');
                out.filters
                    .push(ext_authz_filter(provider, marker, settings.protocol));
            }
        }
    }
}

fn bad_custom_deny(rules: Rbac) -> Rbac {
    Rbac {
        action: RbacAction::Deny,
        policies: rules
            .policies
            .into_iter()
            .map(|(k, v)| (format!("{k}{BAD_CUSTOM_SUFFIX}"), v))
            .collect(),
    }
}

fn ext_authz_filter(provider: &ExtAuthzProvider, marker: &str, protocol: Protocol) -> Filter {
    let timeout = proto_duration(provider.timeout.unwrap_or(Duration::from_secs(600)));
    let cluster = format!("outbound|{}||{}", provider.port, provider.service);
    let (rbac_name, name) = match protocol {
        Protocol::Http => ("envoy.filters.http.rbac", "envoy.filters.http.ext_authz"),
        Protocol::Tcp => (
            "envoy.filters.network.rbac",
            "envoy.filters.network.ext_authz",
        ),
    };
    let mut config = ExtAuthz {
        failure_mode_allow: provider.fail_open,
        filter_enabled_metadata: Some(MetadataMatcher {
            filter: rbac_name.to_owned(),
            path: vec![PathSegment {
                key: format!("{EXT_AUTHZ_SHADOW_PREFIX}shadow_effective_policy_id"),
            }],
            value: ValueMatcher::StringMatch(StringMatcher::prefix(marker)),
        }),
        transport_api_version: "V3".to_owned(),
        ..ExtAuthz::default()
    };
    match provider.kind {
        ProviderKind::Grpc => {
            config.grpc_service = Some(GrpcService {
                envoy_grpc: EnvoyGrpc {
                    authority: provider.service.clone(),
                    cluster_name: cluster,
                },
                timeout,
            });
        }
        ProviderKind::Http => {
            config.http_service = Some(HttpService {
                server_uri: HttpUri {
                    uri: format!("http://{}:{}", provider.service, provider.port),
                    cluster,
                    timeout,
                },
                path_prefix: String::new(),
            });
        }
    }
    let typed_config = match protocol {
        Protocol::Http => FilterConfig::HttpExtAuthz(config),
        Protocol::Tcp => {
            TCP_STAT_PREFIX.clone_into(&mut config.stat_prefix);
            FilterConfig::NetworkExtAuthz(config)
        }
    };
    Filter {
        name: name.to_owned(),
        typed_config,
    }
}

/// Formats a duration in proto-JSON form: seconds with up to nine decimals, e.g. `0.002s`.
fn proto_duration(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        return format!("{}s", d.as_secs());
    }
    let frac = format!("{nanos:09}");
    format!("{}.{}s", d.as_secs(), frac.trim_end_matches('0'))
}

/// `and_rules` of permissions (helper shared with the rule generator).
pub(super) fn perm_and(rules: Vec<Permission>) -> Permission {
    Permission::AndRules(PermissionSet { rules })
}

/// `and_ids` of principals (helper shared with the rule generator).
pub(super) fn prin_and(ids: Vec<Principal>) -> Principal {
    Principal::AndIds(PrincipalSet { ids })
}
