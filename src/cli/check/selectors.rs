//! The report of `idflow check` and `idflow envoy-config` on the workload `--workload` names: the
//! labels the policy selectors give it, the selectors that name it but were left out, and a name or
//! namespace that no policy uses.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::MeshArgs;
use crate::mesh::crd::{PolicySet, PolicyTargetReference};
use crate::mesh::named::{self, NamingSelector};
use crate::mesh::{Workload, WorkloadKind};

/// A selector that names the workload but does not select the labels taken for it, so its policy
/// was not evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotEvaluated {
    #[serde(flatten)]
    pub selector: NamingSelector,
    /// `--labels K=V,…`, the flag that evaluates the policy.
    pub labels_flag: String,
}

/// Warnings about the workload `--workload` names, and the selectors left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkloadReport {
    pub warnings: Vec<String>,
    pub not_evaluated: Vec<NotEvaluated>,
}

impl MeshArgs {
    /// Gives `workload` the labels and kind of the workload that the selectors of `policies` name
    /// as it, where `--labels` and `--kind` were not given. A name then means the same workload as
    /// in the Token view's what-if rows.
    ///
    /// Reports the selectors that name the workload too but select other labels. Warns when no
    /// policy is in the workload's namespace while others are, and when the selectors name other
    /// workloads of the namespace but not this one. Both are often typos.
    ///
    /// Without `--kind`, a warning names `--kind` when a policy's targetRefs name the workload's
    /// Gateway but it was taken for another kind.
    pub fn apply_policy_selectors(
        &self,
        workload: &mut Workload,
        policies: &PolicySet,
    ) -> WorkloadReport {
        let mut report = self.selector_report(workload, policies);
        if self.kind.is_none() {
            report
                .warnings
                .extend(target_ref_warnings(workload, policies));
        }
        report
    }

    fn selector_report(&self, workload: &mut Workload, policies: &PolicySet) -> WorkloadReport {
        let mut report = WorkloadReport::default();
        report
            .warnings
            .extend(namespace_warning(workload, policies, &self.root_namespace));
        if self.labels.is_some() {
            return report;
        }
        let root_namespace = &self.root_namespace;
        // A `--kind` other than a gateway means the workload is no release of the gateway chart.
        let release = named::chart_release(
            policies,
            root_namespace,
            &workload.namespace,
            &workload.name,
        )
        .filter(|_| matches!(self.kind, None | Some(super::KindArg::Gateway)));
        let named = named::workload(
            policies,
            root_namespace,
            &workload.namespace,
            &workload.name,
        )
        .filter(|_| {
            release.is_some()
                || !named::naming_selectors(
                    policies,
                    root_namespace,
                    &workload.namespace,
                    &workload.name,
                )
                .is_empty()
        });
        let Some(named) = named else {
            report
                .warnings
                .extend(unnamed_warning(workload, policies, root_namespace));
            report
                .warnings
                .extend(release.and_then(|release| release_warning(workload, &release, true)));
            return report;
        };
        workload.labels = named.labels;
        if self.kind.is_none() {
            workload.kind = named.kind;
        }

        let selectors = named::naming_selectors(
            policies,
            root_namespace,
            &workload.namespace,
            &workload.name,
        );
        report.warnings.extend(
            release.and_then(|release| release_warning(workload, &release, selectors.is_empty())),
        );
        let Some((evaluated, others)) = selectors.split_first() else {
            return report;
        };
        for (labels, group) in group_by_labels(others, &workload.labels) {
            report
                .warnings
                .push(left_out_warning(workload, evaluated, &labels, &group));
            let labels_flag = format!("--labels {}", named::labels_text(&labels));
            report
                .not_evaluated
                .extend(group.into_iter().map(|selector| NotEvaluated {
                    selector: selector.clone(),
                    labels_flag: labels_flag.clone(),
                }));
        }
        report
    }
}

/// Returns a warning that names the `istio` label assumed for a release of Istio's gateway chart,
/// or left out because another release takes it, with the `--labels` value that undoes the
/// choice. A release named `istio-NAME` that a selector names gets no warning, because the chart
/// gives such a release that label by default. `guessed` is true when no selector names the
/// workload.
fn release_warning(
    workload: &Workload,
    release: &named::ChartRelease,
    guessed: bool,
) -> Option<String> {
    let location = format!("{}/{}", workload.namespace, workload.name);
    let selecting: Vec<&NamingSelector> = release.selectors.iter().collect();
    let (policies, plural) = policy_names(&selecting);
    let select = if plural { "select" } else { "selects" };
    let istio = &release.istio;
    if let Some(taken) = &release.taken_by {
        let mut labels = workload.labels.clone();
        labels.insert("istio".to_owned(), istio.clone());
        return Some(format!(
            "{policies} {select} istio={istio}, which Istio's gateway chart gives to the pods of \
             release {istio} and of release istio-{istio}. The selector {taken_labels} of \
             {taken_kind} {taken_policy} names release istio-{istio}, so {location} was taken \
             without istio={istio}. If {location} is a release of the chart too, pass --labels \
             {labels}",
            taken_labels = named::labels_text(&taken.labels),
            taken_kind = taken.kind,
            taken_policy = taken.policy,
            labels = named::labels_text(&labels),
        ));
    }
    if !guessed && workload.name.starts_with("istio-") {
        return None;
    }
    let mut without = workload.labels.clone();
    without.remove("istio");
    Some(format!(
        "{location} was taken as a gateway of Istio's gateway chart labelled {labels}, because \
         {policies} {select} istio={istio} and the chart gives that label to the pods of release \
         {name}. If {location} is not such a gateway, pass --labels {without}",
        labels = named::labels_text(&workload.labels),
        name = workload.name,
        without = named::labels_text(&without),
    ))
}

/// Returns the policies of `selectors` as `KIND NAMESPACE/NAME`, joined with `,` and `and`, and
/// whether there are several.
fn policy_names(selectors: &[&NamingSelector]) -> (String, bool) {
    let names: Vec<String> = selectors
        .iter()
        .map(|selector| format!("{} {}", selector.kind, selector.policy))
        .collect();
    match names.as_slice() {
        [one] => (one.clone(), false),
        [first @ .., last] => (format!("{} and {last}", first.join(", ")), true),
        [] => (String::new(), true),
    }
}

/// Groups the selectors that do not select a workload with `labels`, in their order, by their
/// labels.
fn group_by_labels<'a>(
    selectors: &'a [NamingSelector],
    labels: &BTreeMap<String, String>,
) -> Vec<(BTreeMap<String, String>, Vec<&'a NamingSelector>)> {
    let mut groups: Vec<(BTreeMap<String, String>, Vec<&NamingSelector>)> = Vec::new();
    for selector in selectors.iter().filter(|selector| {
        !selector
            .labels
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
    }) {
        match groups
            .iter_mut()
            .find(|(labels, _)| *labels == selector.labels)
        {
            Some((_, group)) => group.push(selector),
            None => groups.push((selector.labels.clone(), vec![selector])),
        }
    }
    groups
}

fn left_out_warning(
    workload: &Workload,
    evaluated: &NamingSelector,
    labels: &BTreeMap<String, String>,
    group: &[&NamingSelector],
) -> String {
    let (policies, plural) = policy_names(group);
    let pronoun = if plural {
        ("them", "they were")
    } else {
        ("it", "it was")
    };
    format!(
        "the selector {labels} of {policies} also names {namespace}/{name} but does not select \
         the labels taken for it ({evaluated_labels}, from {evaluated_kind} {evaluated_policy}), so {were} \
         not evaluated. To evaluate {them}, pass --labels {labels}",
        labels = named::labels_text(labels),
        namespace = workload.namespace,
        name = workload.name,
        evaluated_labels = named::labels_text(&workload.labels),
        evaluated_kind = evaluated.kind,
        evaluated_policy = evaluated.policy,
        were = pronoun.1,
        them = pronoun.0,
    )
}

/// Returns a warning for each policy of the workload's namespace whose targetRefs name the
/// Gateway called as the workload, when the workload was taken for a kind that ignores
/// targetRefs (a sidecar or an Istio gateway).
fn target_ref_warnings(workload: &Workload, policies: &PolicySet) -> Vec<String> {
    if matches!(
        workload.kind,
        WorkloadKind::KubernetesGateway | WorkloadKind::Waypoint
    ) {
        return Vec::new();
    }
    let authorization = policies.authorization.iter().map(|policy| {
        let spec = &policy.spec;
        (
            "AuthorizationPolicy",
            &policy.metadata,
            spec.target_ref.as_ref(),
            &spec.target_refs,
        )
    });
    let authentication = policies.request_authentication.iter().map(|policy| {
        let spec = &policy.spec;
        (
            "RequestAuthentication",
            &policy.metadata,
            spec.target_ref.as_ref(),
            &spec.target_refs,
        )
    });
    let names_workload =
        |target: &PolicyTargetReference| target.kind == "Gateway" && target.name == workload.name;
    authorization
        .chain(authentication)
        .filter(|(_, metadata, target_ref, target_refs)| {
            metadata.namespace == workload.namespace
                && target_refs.iter().chain(*target_ref).any(names_workload)
        })
        .map(|(kind, metadata, _, _)| {
            format!(
                "{kind} {}/{} targets the Gateway {name}, but {}/{name} was taken as a {}, which \
                 ignores targetRefs, so the policy was not evaluated. If {name} is a Gateway API \
                 gateway, pass --kind kubernetes-gateway",
                metadata.namespace,
                metadata.name,
                workload.namespace,
                kind_word(workload.kind),
                name = workload.name,
            )
        })
        .collect()
}

/// Returns the `--kind` value of `kind`.
pub fn kind_word(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Sidecar => "sidecar",
        WorkloadKind::Gateway => "gateway",
        WorkloadKind::KubernetesGateway => "kubernetes-gateway",
        WorkloadKind::Waypoint => "waypoint",
    }
}

/// Returns a warning when the selectors name other workloads of the namespace but not this one.
fn unnamed_warning(
    workload: &Workload,
    policies: &PolicySet,
    root_namespace: &str,
) -> Option<String> {
    let others: Vec<String> = named::workloads(policies, root_namespace)
        .into_iter()
        .filter(|other| other.namespace == workload.namespace)
        .map(|other| format!("{}/{}", other.namespace, other.name))
        .collect();
    if others.is_empty() {
        return None;
    }
    Some(format!(
        "no policy selector names {}/{}, so it was taken as a sidecar labelled {}. The selectors \
         in its namespace name {}. Check the name, or pass --labels",
        workload.namespace,
        workload.name,
        named::labels_text(&workload.labels),
        others.join(", ")
    ))
}

/// Returns a warning when no policy is in the workload's namespace but some are in another one
/// than the root namespace. Policies of the root namespace apply to every namespace (Istio's
/// `meshConfig.rootNamespace`), so on their own they are no sign of a mistyped namespace.
fn namespace_warning(
    workload: &Workload,
    policies: &PolicySet,
    root_namespace: &str,
) -> Option<String> {
    let namespaces: BTreeSet<&str> = policies
        .authorization
        .iter()
        .map(|policy| &policy.metadata)
        .chain(
            policies
                .request_authentication
                .iter()
                .map(|policy| &policy.metadata),
        )
        .chain(
            policies
                .peer_authentication
                .iter()
                .map(|policy| &policy.metadata),
        )
        .map(|metadata| metadata.namespace.as_str())
        .collect();
    if namespaces.contains(workload.namespace.as_str()) {
        return None;
    }
    let others: Vec<&str> = namespaces
        .iter()
        .copied()
        .filter(|namespace| *namespace != root_namespace)
        .collect();
    if others.is_empty() {
        return None;
    }

    let location = format!("{}/{}", workload.namespace, workload.name);
    let (applies, holder) = if namespaces.contains(root_namespace) {
        (
            format!("only those of the root namespace {root_namespace} apply to {location}"),
            "The others are",
        )
    } else {
        (format!("none applies to {location}"), "They are")
    };
    let noun = if others.len() == 1 {
        "namespace"
    } else {
        "namespaces"
    };
    Some(format!(
        "no policy in the -f files is in namespace {}, so {applies}. {holder} in {noun} {}. Check \
         the namespace in --workload",
        workload.namespace,
        others.join(", ")
    ))
}
