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
/// selector names its workload by its `app` label. Without one, its `istio` label names a
/// release of Istio's gateway chart ([`chart_release`]). `istio=VALUE` names release `VALUE`
/// where a selector `app: VALUE` names a workload that it selects and no selector names
/// `istio-VALUE`. Else it names the usual `istio-VALUE`, so `istio=ingressgateway` names
/// `istio-ingressgateway`. Without either label, `app.kubernetes.io/name` or the first label
/// value names the workload. Policies without a selector apply to many workloads and name none.
///
/// Several selectors may name one workload, such as `app: orders` and `app: orders, version: v2`.
/// The workload takes the labels of the selector with the fewest, which every pod of that name
/// has, because the others select a subset of its pods. Among equals, a selector with `app` wins,
/// then the smallest labels in sort order. A release of the gateway chart also takes both labels
/// the chart gives its pods.
/// NOTE: that subset (here `version: v2`) gets no workload of its own. [`naming_selectors`] lists
/// the selectors of such subsets, and `idflow check` names them. A selector in `root_namespace`
/// selects workloads of every namespace, but without `app` it names workloads of other
/// namespaces only through the gateway chart's `istio` label, and else one in its own namespace.
pub fn workloads(policies: &PolicySet, root_namespace: &str) -> Vec<Workload> {
    let mut found: BTreeMap<(String, String), NamingSelector> = BTreeMap::new();
    for (namespace, name, selector) in all_naming_selectors(policies, root_namespace) {
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
        .map(|((namespace, name), selector)| {
            named_workload(policies, root_namespace, namespace, name, selector.labels)
        })
        .collect()
}

/// Lists the selectors of `policies` that name the workload `namespace/name`, in the order of
/// [`workloads`]' choice: the first gives the workload its labels.
pub fn naming_selectors(
    policies: &PolicySet,
    root_namespace: &str,
    namespace: &str,
    name: &str,
) -> Vec<NamingSelector> {
    let mut found: Vec<NamingSelector> = all_naming_selectors(policies, root_namespace)
        .into_iter()
        .filter(|(selector_namespace, selector_name, _)| {
            selector_namespace == namespace && selector_name == name
        })
        .map(|(_, _, selector)| selector)
        .collect();
    found.sort_by(|a, b| selector_order(a).cmp(&selector_order(b)));
    found
}

/// Returns the workload `namespace/name` of [`workload`], or a sidecar labelled `app=NAME` when
/// the selectors neither name it nor suggest it.
pub fn workload_or_default(
    policies: &PolicySet,
    root_namespace: &str,
    namespace: &str,
    name: &str,
) -> Workload {
    workload(policies, root_namespace, namespace, name).unwrap_or_else(|| Workload {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        labels: BTreeMap::from([("app".to_owned(), name.to_owned())]),
        service_account: name.to_owned(),
        kind: WorkloadKind::Sidecar,
    })
}

/// Returns the workload `namespace/name` of [`workloads`], if the selectors name it. Else, when
/// a selector on the gateway chart's `istio` label selects the release of that name
/// ([`chart_release`], unless another release takes the label), returns that release with both
/// labels the chart gives its pods. Such a release is no row of [`workloads`], because the
/// selector names another workload there.
pub fn workload(
    policies: &PolicySet,
    root_namespace: &str,
    namespace: &str,
    name: &str,
) -> Option<Workload> {
    let labels = if let Some(first) = naming_selectors(policies, root_namespace, namespace, name)
        .into_iter()
        .next()
    {
        first.labels
    } else {
        let release = chart_release(policies, root_namespace, namespace, name)?;
        if release.taken_by.is_some() {
            return None;
        }
        BTreeMap::new()
    };
    Some(named_workload(
        policies,
        root_namespace,
        namespace.to_owned(),
        name.to_owned(),
        labels,
    ))
}

/// The `istio` label that Istio's gateway chart gives the pods of a release, with the selectors
/// on it that make a workload of that name look like the release.
///
/// The chart labels the pods of release `NAME` with `app: NAME` and `istio: NAME` without an
/// `istio-` prefix (`gateway.selectorLabels` in the chart's `_helpers.tpl`), so a selector on
/// `istio: VALUE` alone cannot tell release `istio-VALUE` from release `VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartRelease {
    /// The `istio` label value: the release name without an `istio-` prefix.
    pub istio: String,
    /// The selectors, in the workload's namespace or the root namespace, with that `istio` label
    /// and no `app` label.
    pub selectors: Vec<NamingSelector>,
    /// For a release name without the prefix, the selector `app: istio-VALUE` of its namespace.
    /// It shows that release `istio-VALUE` runs there, so the selectors on `istio` are taken as
    /// meant for that one, and this release gets no `istio` label.
    pub taken_by: Option<NamingSelector>,
}

/// Returns the gateway chart release `namespace/name` as the selectors of `policies` suggest it,
/// or `None` when no selector in its namespace or in `root_namespace` has its `istio` label
/// without an `app` label.
pub fn chart_release(
    policies: &PolicySet,
    root_namespace: &str,
    namespace: &str,
    name: &str,
) -> Option<ChartRelease> {
    let istio = name.strip_prefix(GATEWAY_CHART_PREFIX).unwrap_or(name);
    let all: Vec<(String, NamingSelector)> = policy_selectors(policies).collect();
    let mut selectors: Vec<NamingSelector> = all
        .iter()
        .filter(|(selector_namespace, selector)| {
            (selector_namespace == namespace || selector_namespace == root_namespace)
                && istio_only_value(&selector.labels) == Some(istio)
        })
        .map(|(_, selector)| selector.clone())
        .collect();
    if selectors.is_empty() {
        return None;
    }
    selectors.sort_by(|a, b| selector_order(a).cmp(&selector_order(b)));
    let taken_by = if name.starts_with(GATEWAY_CHART_PREFIX) {
        None
    } else {
        app_selector(&all, namespace, &format!("{GATEWAY_CHART_PREFIX}{istio}")).cloned()
    };
    Some(ChartRelease {
        istio: istio.to_owned(),
        selectors,
        taken_by,
    })
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

/// Builds the workload `namespace/name` that a selector with `labels` names. A release of Istio's
/// gateway chart ([`chart_release`], unless another release takes the label) and a gateway named
/// `istio-NAME` get both labels of the chart's pods. These are `app: RELEASE` and `istio:
/// RELEASE` without the `istio-` prefix, which istioctl's profiles set too, so that a selector on
/// either applies.
fn named_workload(
    policies: &PolicySet,
    root_namespace: &str,
    namespace: String,
    name: String,
    labels: BTreeMap<String, String>,
) -> Workload {
    let mut labels = labels;
    let release = chart_release(policies, root_namespace, &namespace, &name)
        .filter(|release| release.taken_by.is_none())
        .map(|release| release.istio);
    let prefixed_gateway = (kind_for_labels(&labels) == WorkloadKind::Gateway)
        .then(|| name.strip_prefix(GATEWAY_CHART_PREFIX))
        .flatten()
        .map(str::to_owned);
    if let Some(istio) = release.or(prefixed_gateway) {
        labels
            .entry("app".to_owned())
            .or_insert_with(|| name.clone());
        labels.entry("istio".to_owned()).or_insert(istio);
    }
    Workload {
        namespace,
        service_account: name.clone(),
        name,
        kind: kind_for_labels(&labels),
        labels,
    }
}

/// The prefix that Istio's gateway chart strips from a release name for the `istio` label.
const GATEWAY_CHART_PREFIX: &str = "istio-";

/// Lists every selector of `policies` that names a workload, as (namespace, workload name,
/// selector). A selector on `istio` without `app` names the releases of the gateway chart that
/// [`unprefixed_releases`] finds, else `istio-VALUE` in its own namespace.
fn all_naming_selectors(
    policies: &PolicySet,
    root_namespace: &str,
) -> Vec<(String, String, NamingSelector)> {
    let selectors: Vec<(String, NamingSelector)> = policy_selectors(policies).collect();
    let mut named = Vec::with_capacity(selectors.len());
    for (namespace, selector) in &selectors {
        if let Some(istio) = istio_only_value(&selector.labels) {
            let releases = unprefixed_releases(&selectors, root_namespace, namespace, istio);
            if releases.is_empty() {
                let name = format!("{GATEWAY_CHART_PREFIX}{istio}");
                named.push((namespace.clone(), name, selector.clone()));
            }
            for release_namespace in releases {
                named.push((release_namespace, istio.to_owned(), selector.clone()));
            }
        } else if let Some(name) = selector_name(&selector.labels) {
            named.push((namespace.clone(), name, selector.clone()));
        }
    }
    named
}

/// Lists the namespaces where a selector `app: ISTIO` names a workload that a selector on
/// `istio: ISTIO` in `namespace` selects (there, or anywhere from `root_namespace`), and no
/// selector `app: istio-ISTIO` names release `istio-ISTIO`. That workload is then taken as the
/// gateway chart's release `ISTIO`, so the selector on `istio` gets no row of its own.
fn unprefixed_releases(
    selectors: &[(String, NamingSelector)],
    root_namespace: &str,
    namespace: &str,
    istio: &str,
) -> Vec<String> {
    let prefixed = format!("{GATEWAY_CHART_PREFIX}{istio}");
    let mut found: Vec<String> = selectors
        .iter()
        .filter(|(app_namespace, selector)| {
            (app_namespace == namespace || namespace == root_namespace)
                && selector.labels.get("app").map(String::as_str) == Some(istio)
                && app_selector(selectors, app_namespace, &prefixed).is_none()
        })
        .map(|(app_namespace, _)| app_namespace.clone())
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Returns the first selector of `namespace` whose `app` label is `app`.
fn app_selector<'a>(
    selectors: &'a [(String, NamingSelector)],
    namespace: &str,
    app: &str,
) -> Option<&'a NamingSelector> {
    selectors
        .iter()
        .filter(|(selector_namespace, _)| selector_namespace == namespace)
        .map(|(_, selector)| selector)
        .find(|selector| selector.labels.get("app").map(String::as_str) == Some(app))
}

/// Returns the `istio` label of a selector that has no `app` label.
fn istio_only_value(labels: &BTreeMap<String, String>) -> Option<&str> {
    if labels.contains_key("app") {
        return None;
    }
    labels.get("istio").map(String::as_str)
}

/// Lists the selector of each policy that has one, as (namespace, selector).
fn policy_selectors(policies: &PolicySet) -> impl Iterator<Item = (String, NamingSelector)> + '_ {
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
        .filter_map(policy_selector)
}

fn policy_selector(
    (kind, metadata, selector): (&'static str, &ObjectMeta, &Option<WorkloadSelector>),
) -> Option<(String, NamingSelector)> {
    let WorkloadSelector { match_labels } = selector.as_ref()?;
    let selector = NamingSelector {
        kind,
        policy: format!("{}/{}", metadata.namespace, metadata.name),
        labels: match_labels.clone(),
    };
    Some((metadata.namespace.clone(), selector))
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

/// Returns the name of the workload that a selector names, unless it selects on `istio` without
/// `app`. That is its `app` label, else `app.kubernetes.io/name`, else its first label value.
fn selector_name(labels: &BTreeMap<String, String>) -> Option<String> {
    labels
        .get("app")
        .or_else(|| labels.get("app.kubernetes.io/name"))
        .or_else(|| labels.values().next())
        .cloned()
}
