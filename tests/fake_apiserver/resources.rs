//! The resource types the fake API server serves, as discovery describes them.

/// One served resource type.
#[derive(Debug)]
pub struct ResourceType {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// Served versions, preferred first.
    pub versions: &'static [&'static str],
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub verbs: &'static [&'static str],
    /// Subresources and their verbs, e.g. `("log", &["get"])`.
    pub subresources: &'static [(&'static str, &'static [&'static str])],
}

/// The group of Istio's security CRDs, which [`super::ClusterState::set_istio_crds`] can remove.
pub const ISTIO_SECURITY: &str = "security.istio.io";

const BUILTIN_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// The verb order apiextensions-apiserver lists for every custom resource.
const CRD_VERBS: &[&str] = &[
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "create",
    "update",
    "watch",
];
const STATUS: (&str, &[&str]) = ("status", &["get", "patch", "update"]);
const ISTIO_CATEGORIES: &[&str] = &["istio-io", "security-istio-io"];
const ISTIO_VERSIONS: &[&str] = &["v1", "v1beta1"];

pub const RESOURCES: &[ResourceType] = &[
    ResourceType {
        group: "",
        versions: &["v1"],
        plural: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        verbs: BUILTIN_VERBS,
        subresources: &[("log", &["get"]), STATUS],
    },
    ResourceType {
        group: "",
        versions: &["v1"],
        plural: "serviceaccounts",
        singular: "serviceaccount",
        kind: "ServiceAccount",
        namespaced: true,
        short_names: &["sa"],
        categories: &[],
        verbs: BUILTIN_VERBS,
        subresources: &[],
    },
    ResourceType {
        group: "",
        versions: &["v1"],
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        verbs: &[
            "create", "delete", "get", "list", "patch", "update", "watch",
        ],
        subresources: &[STATUS],
    },
    ResourceType {
        group: "apps",
        versions: &["v1"],
        plural: "replicasets",
        singular: "replicaset",
        kind: "ReplicaSet",
        namespaced: true,
        short_names: &["rs"],
        categories: &["all"],
        verbs: BUILTIN_VERBS,
        subresources: &[STATUS],
    },
    ResourceType {
        group: "apps",
        versions: &["v1"],
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: &["all"],
        verbs: BUILTIN_VERBS,
        subresources: &[STATUS],
    },
    istio_crd(
        "authorizationpolicies",
        "authorizationpolicy",
        "AuthorizationPolicy",
        &["ap"],
    ),
    istio_crd(
        "requestauthentications",
        "requestauthentication",
        "RequestAuthentication",
        &["ra"],
    ),
    istio_crd(
        "peerauthentications",
        "peerauthentication",
        "PeerAuthentication",
        &["pa"],
    ),
];

/// Describes one of Istio's security CRDs: namespaced, served at v1 and v1beta1, with `status`.
const fn istio_crd(
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    short_names: &'static [&'static str],
) -> ResourceType {
    ResourceType {
        group: ISTIO_SECURITY,
        versions: ISTIO_VERSIONS,
        plural,
        singular,
        kind,
        namespaced: true,
        short_names,
        categories: ISTIO_CATEGORIES,
        verbs: CRD_VERBS,
        subresources: &[STATUS],
    }
}

impl ResourceType {
    /// `apiVersion` for one served version: `v1` or `GROUP/VERSION`.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_owned()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// Returns whether this type comes from a `CustomResourceDefinition` rather than being built in.
    pub fn is_custom(&self) -> bool {
        self.group == ISTIO_SECURITY
    }
}

/// Finds the type served at `GROUP/VERSION/PLURAL`.
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural && r.versions.contains(&version))
}

/// Finds the type of an object with this `kind` in this group.
pub fn by_kind(group: &str, kind: &str) -> Option<&'static ResourceType> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.kind == kind)
}

/// Groups under `/apis` in the order discovery lists them.
pub fn groups() -> Vec<&'static str> {
    let mut groups: Vec<&str> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if !groups.contains(&r.group) {
            groups.push(r.group);
        }
    }
    groups
}
