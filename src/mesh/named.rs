//! The workloads a policy set names through its selectors, for a simulation without a cluster.
//! The Token view's what-if rows and `idflow check --workload` without `--labels` both take their
//! labels from here, so one name means one workload in both.

use std::collections::BTreeMap;

use super::crd::{PolicySet, WorkloadSelector};
use super::{Workload, WorkloadKind};

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
/// NOTE: that subset (here `version: v2`) gets no workload of its own. Pass `--labels` to
/// `idflow check` to ask about it. A selector in the root namespace also selects workloads of
/// other namespaces, but it names only one workload, in the root namespace, where Istio's
/// gateways usually run.
pub fn workloads(policies: &PolicySet) -> Vec<Workload> {
    let mut found: BTreeMap<(String, String), Workload> = BTreeMap::new();
    let selectors = policies
        .authorization
        .iter()
        .map(|policy| (&policy.metadata.namespace, &policy.spec.selector))
        .chain(
            policies
                .request_authentication
                .iter()
                .map(|policy| (&policy.metadata.namespace, &policy.spec.selector)),
        )
        .chain(
            policies
                .peer_authentication
                .iter()
                .map(|policy| (&policy.metadata.namespace, &policy.spec.selector)),
        );
    for (namespace, selector) in selectors {
        let Some(WorkloadSelector { match_labels }) = selector else {
            continue;
        };
        let Some(name) = selector_name(match_labels) else {
            continue;
        };
        let workload = Workload {
            namespace: namespace.clone(),
            name: name.clone(),
            labels: match_labels.clone(),
            service_account: name.clone(),
            kind: if match_labels.contains_key("istio") {
                WorkloadKind::Gateway
            } else {
                WorkloadKind::Sidecar
            },
        };
        found
            .entry((namespace.clone(), name))
            .and_modify(|known| {
                if selector_rank(&workload.labels) < selector_rank(&known.labels) {
                    *known = workload.clone();
                }
            })
            .or_insert(workload);
    }
    found.into_values().collect()
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
    workloads(policies)
        .into_iter()
        .find(|workload| workload.namespace == namespace && workload.name == name)
}

/// Returns labels as `key=value` pairs joined with `,`, the form `--labels` takes.
pub fn labels_text(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Orders the selectors that name one workload, so that the choice does not depend on the order
/// of the policies: fewest labels first, then a selector with `app`, then the labels themselves.
fn selector_rank(labels: &BTreeMap<String, String>) -> (usize, bool, &BTreeMap<String, String>) {
    (labels.len(), !labels.contains_key("app"), labels)
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
