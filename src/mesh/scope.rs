//! Which policies apply to a workload, in the order istiod processes them, and why.
//!
//! This reproduces istiod's `ShouldAttachPolicy` and `ListAuthorizationPolicies` (Istio 1.28).
//! Policies are looked up in the root namespace, then the workload's namespace, then the
//! namespaces of the services a waypoint serves. Sidecars and classic gateways use `selector`
//! and ignore any policy with `targetRef`/`targetRefs`. Gateway API gateways honour `targetRefs`
//! to their Gateway and fall back to `selector`, while waypoints use `targetRefs` only.

use std::collections::BTreeMap;
use std::fmt;

use super::crd::{
    Action, AuthorizationPolicy, MtlsMode, ObjectMeta, PeerAuthentication, PolicySet,
    PolicyTargetReference, RequestAuthentication, WorkloadSelector,
};
use super::{MeshSettings, Workload, WorkloadKind};

/// The label that marks pods of a Gateway API gateway (and of a waypoint) with its Gateway name.
pub const GATEWAY_NAME_LABEL: &str = "gateway.networking.k8s.io/gateway-name";
/// The annotation that puts an AuthorizationPolicy in dry-run mode.
pub const DRY_RUN_ANNOTATION: &str = "istio.io/dry-run";
const GATEWAY_API_GROUP: &str = "gateway.networking.k8s.io";
const WAYPOINT_CLASS: &str = "istio-waypoint";

/// A service a waypoint serves, for `targetRefs` of kind `Service` or `ServiceEntry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    pub namespace: String,
    pub name: String,
    /// True for a `ServiceEntry`, false for a Kubernetes `Service`.
    pub service_entry: bool,
}

/// The reason a policy applies to the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attachment {
    /// No selector, in the root namespace.
    MeshWide,
    /// A selector in the root namespace that matches the workload's labels.
    MeshSelector,
    /// No selector, in the workload's namespace.
    NamespaceWide,
    /// A selector in the workload's namespace that matches its labels.
    Selector,
    /// A `targetRef`/`targetRefs` entry naming this workload's Gateway, Service or class.
    TargetRef { kind: String, name: String },
}

impl fmt::Display for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MeshWide => f.write_str("mesh-wide: root namespace, no selector"),
            Self::MeshSelector => {
                f.write_str("root namespace selector matches the workload labels")
            }
            Self::NamespaceWide => f.write_str("namespace-wide: no selector"),
            Self::Selector => f.write_str("selector matches the workload labels"),
            Self::TargetRef { kind, name } => write!(f, "targetRef to {kind} {name}"),
        }
    }
}

/// An AuthorizationPolicy that applies, with its dry-run state.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedAuthorization {
    pub policy: AuthorizationPolicy,
    /// True when `istio.io/dry-run` parses as true: the rules go to Envoy's shadow rules.
    pub dry_run: bool,
    pub attachment: Attachment,
}

/// A RequestAuthentication that applies.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedRequestAuthentication {
    pub policy: RequestAuthentication,
    pub attachment: Attachment,
}

/// The PeerAuthentication chosen at one level of the merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAuthenticationSource {
    /// `namespace/name`.
    pub policy: String,
    pub level: PeerLevel,
    pub mode: MtlsMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerLevel {
    Mesh,
    Namespace,
    Workload,
}

/// The merged mTLS mode of a workload, as istiod's `ComposePeerAuthentication` computes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectivePeerAuthentication {
    /// Workload-wide mode; never `Unset` (the default is `Permissive`).
    pub mode: MtlsMode,
    /// Port-level modes of the workload-level policy, already resolved.
    pub per_port: BTreeMap<u16, MtlsMode>,
    /// The policies that contributed, mesh first.
    pub sources: Vec<PeerAuthenticationSource>,
}

impl EffectivePeerAuthentication {
    /// Returns the mode on one workload (container) port.
    pub fn mode_for_port(&self, port: u16) -> MtlsMode {
        self.per_port.get(&port).copied().unwrap_or(self.mode)
    }
}

impl Default for EffectivePeerAuthentication {
    fn default() -> Self {
        Self {
            mode: MtlsMode::Permissive,
            per_port: BTreeMap::new(),
            sources: Vec::new(),
        }
    }
}

/// Everything that applies to one workload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppliedPolicies {
    /// `namespace/name` of the workload.
    pub workload: String,
    /// In istiod's processing order: CUSTOM, AUDIT, DENY, ALLOW; within each, root namespace
    /// first, then load order (istiod sorts by creation time, which files do not carry).
    pub authorization: Vec<AppliedAuthorization>,
    /// Root namespace first, then the workload's namespace.
    pub request_authentication: Vec<AppliedRequestAuthentication>,
    pub peer_authentication: EffectivePeerAuthentication,
    /// Things worth knowing, such as an invalid dry-run value or an ignored targetRef.
    pub notices: Vec<String>,
}

impl AppliedPolicies {
    /// Returns the enforced `AuthorizationPolicy` objects with one action, in order.
    pub fn enforced(&self, action: Action) -> impl Iterator<Item = &AuthorizationPolicy> {
        self.authorization
            .iter()
            .filter(move |a| !a.dry_run && a.policy.spec.action == action)
            .map(|a| &a.policy)
    }
}

/// Finds the policies that apply to `workload`. Waypoints also need the services they serve,
/// which [`policies_for_services`] takes.
pub fn policies_for(
    policies: &PolicySet,
    workload: &Workload,
    settings: &MeshSettings,
) -> AppliedPolicies {
    policies_for_services(policies, workload, settings, &[])
}

/// Finds the policies that apply to `workload`, which serves `services` (used by waypoints).
pub fn policies_for_services(
    policies: &PolicySet,
    workload: &Workload,
    settings: &MeshSettings,
    services: &[ServiceRef],
) -> AppliedPolicies {
    let matcher = Matcher {
        workload,
        root: &settings.root_namespace,
        services,
    };
    let mut applied = AppliedPolicies {
        workload: format!("{}/{}", workload.namespace, workload.name),
        ..AppliedPolicies::default()
    };

    let mut authorization = Vec::new();
    for namespace in matcher.namespaces() {
        for policy in policies
            .authorization
            .iter()
            .filter(|p| p.metadata.namespace == namespace)
        {
            let spec = &policy.spec;
            let attached = matcher.attach(
                &policy.metadata,
                spec.selector.as_ref(),
                spec.target_ref.as_ref(),
                &spec.target_refs,
                &mut applied.notices,
            );
            if let Some(attachment) = attached {
                let dry_run = dry_run(&policy.metadata, &mut applied.notices);
                authorization.push(AppliedAuthorization {
                    policy: policy.clone(),
                    dry_run,
                    attachment,
                });
            }
        }
        for policy in policies
            .request_authentication
            .iter()
            .filter(|p| p.metadata.namespace == namespace)
        {
            let spec = &policy.spec;
            let attached = matcher.attach(
                &policy.metadata,
                spec.selector.as_ref(),
                spec.target_ref.as_ref(),
                &spec.target_refs,
                &mut applied.notices,
            );
            if let Some(attachment) = attached {
                applied
                    .request_authentication
                    .push(AppliedRequestAuthentication {
                        policy: policy.clone(),
                        attachment,
                    });
            }
        }
    }
    // istiod builds the CUSTOM filter, then AUDIT, DENY and ALLOW, each from its own list.
    for action in [Action::Custom, Action::Audit, Action::Deny, Action::Allow] {
        applied.authorization.extend(
            authorization
                .iter()
                .filter(|a| a.policy.spec.action == action)
                .cloned(),
        );
    }
    applied.peer_authentication = compose_peer_authentication(
        &policies.peer_authentication,
        workload,
        &settings.root_namespace,
    );
    applied
}

struct Matcher<'a> {
    workload: &'a Workload,
    root: &'a str,
    services: &'a [ServiceRef],
}

impl Matcher<'_> {
    fn namespaces(&self) -> Vec<&str> {
        let mut namespaces = vec![self.root, self.workload.namespace.as_str()];
        namespaces.extend(self.services.iter().map(|s| s.namespace.as_str()));
        let mut unique = Vec::new();
        for namespace in namespaces {
            if !unique.contains(&namespace) {
                unique.push(namespace);
            }
        }
        unique
    }

    fn gateway_name(&self) -> Option<&str> {
        self.workload
            .labels
            .get(GATEWAY_NAME_LABEL)
            .map(String::as_str)
    }

    fn is_waypoint(&self) -> bool {
        self.workload.kind == WorkloadKind::Waypoint
    }

    fn is_gateway_api(&self) -> bool {
        self.gateway_name().is_some()
            || matches!(
                self.workload.kind,
                WorkloadKind::KubernetesGateway | WorkloadKind::Waypoint
            )
    }

    /// Decides whether a policy attaches, as istiod's `ShouldAttachPolicy` does.
    fn attach(
        &self,
        meta: &ObjectMeta,
        selector: Option<&WorkloadSelector>,
        target_ref: Option<&PolicyTargetReference>,
        target_refs: &[PolicyTargetReference],
        notices: &mut Vec<String>,
    ) -> Option<Attachment> {
        // The legacy singular `targetRef` counts only when `targetRefs` is empty.
        let refs: Vec<&PolicyTargetReference> = if target_refs.is_empty() {
            target_ref.into_iter().collect()
        } else {
            target_refs.iter().collect()
        };
        if !self.is_gateway_api() {
            if !refs.is_empty() {
                if self.selected(selector) {
                    notices.push(format!(
                        "{}/{} has targetRefs, so it is ignored on this {} (only Gateway API gateways and waypoints use targetRefs)",
                        meta.namespace,
                        meta.name,
                        kind_word(self.workload.kind)
                    ));
                }
                return None;
            }
            return self.selector_attachment(meta, selector);
        }
        if refs.is_empty() {
            // Gateway API gateways honour selectors (ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY,
            // default true); waypoints never do.
            if self.is_waypoint() {
                if self.selected(selector) && selector.is_some() {
                    notices.push(format!(
                        "{}/{} uses a selector, which waypoints ignore; attach it with targetRefs",
                        meta.namespace, meta.name
                    ));
                }
                return None;
            }
            return self.selector_attachment(meta, selector);
        }
        refs.into_iter()
            .find_map(|r| self.target_attachment(meta, r))
    }

    fn selected(&self, selector: Option<&WorkloadSelector>) -> bool {
        selector.is_none_or(|s| {
            s.match_labels
                .iter()
                .all(|(k, v)| self.workload.labels.get(k) == Some(v))
        })
    }

    fn selector_attachment(
        &self,
        meta: &ObjectMeta,
        selector: Option<&WorkloadSelector>,
    ) -> Option<Attachment> {
        if !self.selected(selector) {
            return None;
        }
        let root = meta.namespace == self.root;
        Some(match (root, selector.is_some()) {
            (true, false) => Attachment::MeshWide,
            (true, true) => Attachment::MeshSelector,
            (false, false) => Attachment::NamespaceWide,
            (false, true) => Attachment::Selector,
        })
    }

    fn target_attachment(
        &self,
        meta: &ObjectMeta,
        reference: &PolicyTargetReference,
    ) -> Option<Attachment> {
        let group = canonical_group(&reference.group);
        let hit = || {
            Some(Attachment::TargetRef {
                kind: reference.kind.clone(),
                name: reference.name.clone(),
            })
        };
        if self.is_waypoint() {
            let service_kind = match (group, reference.kind.as_str()) {
                ("core", "Service") => Some(false),
                ("networking.istio.io", "ServiceEntry") => Some(true),
                _ => None,
            };
            if let Some(entry) = service_kind {
                let served = self.services.iter().any(|s| {
                    s.service_entry == entry
                        && s.name == reference.name
                        && s.namespace == meta.namespace
                });
                if served {
                    return hit();
                }
            }
            if meta.namespace == self.root
                && group == GATEWAY_API_GROUP
                && reference.kind == "GatewayClass"
                && reference.name == WAYPOINT_CLASS
            {
                return hit();
            }
        }
        if meta.namespace != self.workload.namespace {
            return None;
        }
        if !(reference.namespace.is_empty() || reference.namespace == self.workload.namespace) {
            return None;
        }
        let gateway = self.gateway_name().unwrap_or(&self.workload.name);
        (group == GATEWAY_API_GROUP && reference.kind == "Gateway" && reference.name == gateway)
            .then(hit)
            .flatten()
    }
}

fn canonical_group(group: &str) -> &str {
    if group.is_empty() { "core" } else { group }
}

fn kind_word(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Sidecar => "sidecar",
        WorkloadKind::Gateway => "gateway",
        WorkloadKind::KubernetesGateway => "Gateway API gateway",
        WorkloadKind::Waypoint => "waypoint",
    }
}

/// Reads `istio.io/dry-run` with Go's `strconv.ParseBool`; an invalid value leaves the policy
/// enforced, as istiod does after logging the parse error.
fn dry_run(meta: &ObjectMeta, notices: &mut Vec<String>) -> bool {
    let Some(value) = meta.annotations.get(DRY_RUN_ANNOTATION) else {
        return false;
    };
    if let Some(flag) = parse_go_bool(value) {
        return flag;
    }
    notices.push(format!(
        "{}/{}: failed to parse the value of {DRY_RUN_ANNOTATION}: \"{value}\" is not a Go boolean (use true or false), so the policy is enforced",
        meta.namespace, meta.name
    ));
    false
}

/// Go's `strconv.ParseBool`.
pub fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Merges `PeerAuthentication` objects as istiod's `ComposePeerAuthentication` does: one mesh-level (root
/// namespace, no labels), one namespace-level (no labels) and one workload-level (labels, not in
/// the root namespace) policy, applied in that order, skipping UNSET; port-level UNSET inherits
/// the workload result. Root-namespace policies with labels are ignored.
fn compose_peer_authentication(
    policies: &[PeerAuthentication],
    workload: &Workload,
    root: &str,
) -> EffectivePeerAuthentication {
    let mut mesh = None;
    let mut namespace = None;
    let mut workload_level = None;
    for policy in policies {
        let labels = policy
            .spec
            .selector
            .as_ref()
            .map(|s| &s.match_labels)
            .filter(|labels| !labels.is_empty());
        let in_root = policy.metadata.namespace == root;
        let in_workload_ns = policy.metadata.namespace == workload.namespace;
        // NOTE: istiod keeps the oldest policy per level (creationTimestamp); files carry no
        // timestamp, so the first one loaded wins here.
        match labels {
            None if in_root => {
                mesh.get_or_insert(policy);
            }
            None if in_workload_ns => {
                namespace.get_or_insert(policy);
            }
            Some(labels)
                if !in_root
                    && in_workload_ns
                    && labels
                        .iter()
                        .all(|(k, v)| workload.labels.get(k) == Some(v)) =>
            {
                workload_level.get_or_insert(policy);
            }
            _ => {}
        }
    }

    let mut effective = EffectivePeerAuthentication::default();
    for (level, policy) in [
        (PeerLevel::Mesh, mesh),
        (PeerLevel::Namespace, namespace),
        (PeerLevel::Workload, workload_level),
    ] {
        let Some(policy) = policy else { continue };
        let mode = policy
            .spec
            .mtls
            .as_ref()
            .map_or(MtlsMode::Unset, |m| m.mode);
        effective.sources.push(PeerAuthenticationSource {
            policy: format!("{}/{}", policy.metadata.namespace, policy.metadata.name),
            level,
            mode,
        });
        if mode != MtlsMode::Unset {
            effective.mode = mode;
        }
        if level == PeerLevel::Workload {
            for (port, mtls) in &policy.spec.port_level_mtls {
                let Ok(port) = port.parse::<u16>() else {
                    continue;
                };
                let mode = if mtls.mode == MtlsMode::Unset {
                    effective.mode
                } else {
                    mtls.mode
                };
                effective.per_port.insert(port, mode);
            }
        }
    }
    effective
}
