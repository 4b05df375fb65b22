//! The workloads a policy set names through its selectors, for a simulation without a cluster.
//! The Token view's what-if rows and `idflow check --workload` without `--labels` both take their
//! labels from here, so one name means one workload in both.

use std::collections::BTreeMap;

use serde::Serialize;

use super::crd::{ObjectMeta, PolicySet, WorkloadSelector};
use super::scope::GATEWAY_NAME_LABEL;
use super::{Workload, WorkloadKind};

/// A policy whose selector names a workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamingSelector {
    /// `AuthorizationPolicy`, `RequestAuthentication` or `PeerAuthentication`.
    pub kind: &'static str,
    /// The policy as `NAMESPACE/NAME`.
    pub policy: String,
    /// The selector's `matchLabels`.
    pub labels: BTreeMap<String, String>,
}

/// Lists the workloads that the selectors of `policies` name, sorted by namespace and name. A
/// selector names its workload by its `app` label. Without one, the `istio` gateway label
/// `istio=VALUE` gives `istio-VALUE`, so `istio=ingressgateway` names the usual
/// `istio-ingressgateway`, a gateway. Else `app.kubernetes.io/name` or the first label value names
/// it.
/// Policies without a selector apply to many workloads and name none.
///
/// Several selectors may name one workload, such as `app: orders` and `app: orders, version: v2`.
/// The workload takes the labels of the selector with the fewest, which every pod of that name
/// has, because the others select a subset of its pods. Among equals, a selector with `app` wins,
/// then the smallest labels in sort order.
/// NOTE: that subset (here `version: v2`) gets no workload of its own. [`naming_selectors`] lists
/// the selectors of such subsets, and `idflow check` names them. A selector in the root namespace
/// also selects workloads of other namespaces, but it names only one workload, in the root
/// namespace, where Istio's gateways usually run.
pub fn workloads(policies: &PolicySet) -> Vec<Workload> {
    let mut found: BTreeMap<(String, String), NamingSelector> = BTreeMap::new();
    for (namespace, name, selector) in all_naming_selectors(policies) {
        found
            .entry((namespace, name))
            .and_modify(|known| {
                if selector_order(&selector) < selector_order(known) {
                    *known = selector.clone();
                }
            })
            .or_insert(selector);
    }
    found
        .into_iter()
        .map(|((namespace, name), selector)| named_workload(namespace, name, selector.labels))
        .collect()
}

/// Lists the selectors of `policies` that name the workload `namespace/name`, in the order of
/// [`workloads`]' choice: the first gives the workload its labels.
pub fn naming_selectors(policies: &PolicySet, namespace: &str, name: &str) -> Vec<NamingSelector> {
    let mut found: Vec<NamingSelector> = all_naming_selectors(policies)
        .filter(|(selector_namespace, selector_name, _)| {
            selector_namespace == namespace && selector_name == name
        })
        .map(|(_, _, selector)| selector)
        .collect();
    found.sort_by(|a, b| selector_order(a).cmp(&selector_order(b)));
    found
}

/// Returns the workload `namespace/name` of [`workloads`], or a sidecar labelled `app=NAME` when
/// no selector names it.
pub fn workload_or_default(policies: &PolicySet, namespace: &str, name: &str) -> Workload {
    workload(policies, namespace, name).unwrap_or_else(|| Workload {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        labels: BTreeMap::from([("app".to_owned(), name.to_owned())]),
        service_account: name.to_owned(),
        kind: WorkloadKind::Sidecar,
    })
}

/// Returns the workload `namespace/name` of [`workloads`], if the selectors name it.
pub fn workload(policies: &PolicySet, namespace: &str, name: &str) -> Option<Workload> {
    let first = naming_selectors(policies, namespace, name)
        .into_iter()
        .next()?;
    Some(named_workload(
        namespace.to_owned(),
        name.to_owned(),
        first.labels,
    ))
}

/// Returns labels as `key=value` pairs joined with `,`, the form `--labels` takes.
pub fn labels_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Returns whether pod labels mark an Istio gateway deployment: an `istio` label ending in
/// `gateway` (`istio: ingressgateway`), or an `app` label `istio-…gateway`. Istio's Helm gateway
/// chart sets `app` to the gateway's name, by default `istio-ingressgateway`, and `istio` to that
/// name without `istio-`, unless its `labels` value sets them.
/// NOTE: a gateway released under another name (`app: istio-ingress, istio: ingress`) is missed
/// here. Pods from the cluster name their proxy in the `istio-proxy` container's arguments, which
/// `source::kube::workloads` reads first.
pub fn has_gateway_labels(labels: &BTreeMap<String, String>) -> bool {
    let istio = labels.get("istio");
    let app = labels.get("app");
    istio.is_some_and(|value| value.ends_with("gateway"))
        || app.is_some_and(|value| value.starts_with("istio-") && value.ends_with("gateway"))
}

/// Returns the kind of workload whose pods carry `labels`. The Gateway API label
/// `gateway.networking.k8s.io/gateway-name`, which Istio puts on the pods it deploys for a
/// `Gateway`, marks a Gateway API gateway. Any `istio` label marks a gateway, because of the Istio
/// pods labelled `istio` (gateways, istiod), only gateways run an Envoy that enforces policies.
pub fn kind_for_labels(labels: &BTreeMap<String, String>) -> WorkloadKind {
    if labels.contains_key(GATEWAY_NAME_LABEL) {
        WorkloadKind::KubernetesGateway
    } else if labels.contains_key("istio") || has_gateway_labels(labels) {
        WorkloadKind::Gateway
    } else {
        WorkloadKind::Sidecar
    }
}

/// Builds the workload that a selector with `labels` names. A gateway named `istio-NAME` gets both
/// labels of Istio's gateway deployments, `app: istio-NAME` and `istio: NAME`, which the Helm
/// gateway chart and istioctl's profiles set, so that a selector on either one applies.
fn named_workload(namespace: String, name: String, labels: BTreeMap<String, String>) -> Workload {
    let kind = kind_for_labels(&labels);
    let mut labels = labels;
    if kind == WorkloadKind::Gateway
        && let Some(short) = name.strip_prefix("istio-")
    {
        labels
            .entry("app".to_owned())
            .or_insert_with(|| name.clone());
        labels
            .entry("istio".to_owned())
            .or_insert_with(|| short.to_owned());
    }
    Workload {
        namespace,
        service_account: name.clone(),
        name,
        labels,
        kind,
    }
}

/// Lists every selector of `policies` that names a workload, as (namespace, workload name,
/// selector).
fn all_naming_selectors(
    policies: &PolicySet,
) -> impl Iterator<Item = (String, String, NamingSelector)> + '_ {
    let authorization = policies.authorization.iter().map(|policy| {
        (
            "AuthorizationPolicy",
            &policy.metadata,
            &policy.spec.selector,
        )
    });
    let request_authentication = policies.request_authentication.iter().map(|policy| {
        (
            "RequestAuthentication",
            &policy.metadata,
            &policy.spec.selector,
        )
    });
    let peer_authentication = policies.peer_authentication.iter().map(|policy| {
        (
            "PeerAuthentication",
            &policy.metadata,
            &policy.spec.selector,
        )
    });
    authorization
        .chain(request_authentication)
        .chain(peer_authentication)
        .filter_map(naming_selector)
}

fn naming_selector(
    (kind, metadata, selector): (&'static str, &ObjectMeta, &Option<WorkloadSelector>),
) -> Option<(String, String, NamingSelector)> {
    let WorkloadSelector { match_labels } = selector.as_ref()?;
    let name = selector_name(match_labels)?;
    let selector = NamingSelector {
        kind,
        policy: format!("{}/{}", metadata.namespace, metadata.name),
        labels: match_labels.clone(),
    };
    Some((metadata.namespace.clone(), name, selector))
}

/// Orders the selectors that name one workload, so that the choice does not depend on the order
/// of the policies: fewest labels first, then a selector with `app`, then the labels themselves.
/// Selectors with equal labels are ordered by policy kind and name, so that messages cite the same
/// policy every time.
fn selector_order(
    selector: &NamingSelector,
) -> (usize, bool, &BTreeMap<String, String>, usize, &str) {
    let labels = &selector.labels;
    let kind_order = [
        "AuthorizationPolicy",
        "RequestAuthentication",
        "PeerAuthentication",
    ]
    .iter()
    .position(|kind| *kind == selector.kind)
    .unwrap_or(usize::MAX);
    (
        labels.len(),
        !labels.contains_key("app"),
        labels,
        kind_order,
        &selector.policy,
    )
}

fn selector_name(labels: &BTreeMap<String, String>) -> Option<String> {
    if let Some(app) = labels.get("app") {
        return Some(app.clone());
    }
    if let Some(gateway) = labels.get("istio") {
        return Some(format!("istio-{gateway}"));
    }
    labels
        .get("app.kubernetes.io/name")
        .or_else(|| labels.values().next())
        .cloned()
}
