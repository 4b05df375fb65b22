//! Istio security policies from the API server: which version is served, decoding `DynamicObject`s
//! into the `mesh::crd` types, and a store that turns watch events into a [`PolicySet`].

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde::de::DeserializeOwned;

use crate::mesh::crd::{AuthorizationPolicy, PeerAuthentication, PolicySet, RequestAuthentication};

/// API group of Istio's security resources.
pub const GROUP: &str = "security.istio.io";

/// Versions tried, preferred first. `v1` is served from Istio 1.20 on and stored from 1.28 on;
/// older installs serve only `v1beta1`. The specs are the same in both.
pub const VERSIONS: [&str; 2] = ["v1", "v1beta1"];

/// One of the three security resource kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PolicyKind {
    Authorization,
    RequestAuthentication,
    PeerAuthentication,
}

impl PolicyKind {
    pub const ALL: [Self; 3] = [
        Self::Authorization,
        Self::RequestAuthentication,
        Self::PeerAuthentication,
    ];

    /// Returns the resource kind, e.g. `AuthorizationPolicy`.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Authorization => "AuthorizationPolicy",
            Self::RequestAuthentication => "RequestAuthentication",
            Self::PeerAuthentication => "PeerAuthentication",
        }
    }

    /// Returns the plural resource name used in URLs, e.g. `authorizationpolicies`.
    pub fn plural(self) -> &'static str {
        match self {
            Self::Authorization => "authorizationpolicies",
            Self::RequestAuthentication => "requestauthentications",
            Self::PeerAuthentication => "peerauthentications",
        }
    }

    /// Returns the API resource of this kind at `version`.
    pub fn api_resource(self, version: &str) -> ApiResource {
        let gvk = GroupVersionKind::gvk(GROUP, version, self.kind());
        ApiResource::from_gvk_with_plural(&gvk, self.plural())
    }
}

/// Returns whether a discovery list (`GET /apis/security.istio.io/VERSION`) serves `kind`.
pub fn serves(list: &APIResourceList, kind: PolicyKind) -> bool {
    list.resources
        .iter()
        .any(|resource| resource.name == kind.plural())
}

/// Returns the first version in [`VERSIONS`] whose discovery list serves `kind`. Each entry is a
/// version and its discovery list, or `None` when the API server returned 404.
pub fn pick_version(
    kind: PolicyKind,
    discovered: &[(&'static str, Option<APIResourceList>)],
) -> Option<&'static str> {
    discovered
        .iter()
        .find(|(_, list)| list.as_ref().is_some_and(|list| serves(list, kind)))
        .map(|(version, _)| *version)
}

/// One decoded policy.
#[derive(Debug, Clone, PartialEq)]
pub enum Policy {
    Authorization(AuthorizationPolicy),
    RequestAuthentication(RequestAuthentication),
    PeerAuthentication(PeerAuthentication),
}

impl Policy {
    fn key(&self) -> PolicyKey {
        let (kind, metadata) = match self {
            Self::Authorization(policy) => (PolicyKind::Authorization, &policy.metadata),
            Self::RequestAuthentication(policy) => {
                (PolicyKind::RequestAuthentication, &policy.metadata)
            }
            Self::PeerAuthentication(policy) => (PolicyKind::PeerAuthentication, &policy.metadata),
        };
        (kind, metadata.namespace.clone(), metadata.name.clone())
    }
}

/// A policy that does not fit its CRD type.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot read {kind} \"{namespace}/{name}\": {reason}; the policy is left out until it is fixed"
)]
pub struct PolicyError {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub reason: String,
}

/// Decodes an object from a watch into the policy type of `kind`.
pub fn decode(kind: PolicyKind, object: &DynamicObject) -> Result<Policy, PolicyError> {
    let error = |reason: String| PolicyError {
        kind: kind.kind(),
        namespace: object.metadata.namespace.clone().unwrap_or_default(),
        name: object.metadata.name.clone().unwrap_or_default(),
        reason,
    };
    let value = serde_json::to_value(object).map_err(|e| error(e.to_string()))?;
    let typed = match kind {
        PolicyKind::Authorization => from_value(value).map(Policy::Authorization),
        PolicyKind::RequestAuthentication => from_value(value).map(Policy::RequestAuthentication),
        PolicyKind::PeerAuthentication => from_value(value).map(Policy::PeerAuthentication),
    };
    typed.map_err(|e| error(e.to_string()))
}

fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, serde_json::Error> {
    serde_json::from_value(value)
}

/// Kind, namespace and name.
type PolicyKey = (PolicyKind, String, String);

/// The policies seen so far, updated from watch events.
#[derive(Debug, Clone, Default)]
pub struct PolicyStore {
    policies: BTreeMap<PolicyKey, Policy>,
}

impl PolicyStore {
    /// Adds or replaces one policy.
    pub fn apply(&mut self, policy: Policy) {
        self.policies.insert(policy.key(), policy);
    }

    /// Removes one policy.
    pub fn delete(&mut self, kind: PolicyKind, namespace: &str, name: &str) {
        self.policies
            .remove(&(kind, namespace.to_owned(), name.to_owned()));
    }

    /// Replaces every policy of `kind` in `namespace` (all namespaces for `None`) after a relist.
    pub fn replace(&mut self, kind: PolicyKind, namespace: Option<&str>, policies: Vec<Policy>) {
        self.policies.retain(|(held_kind, held_namespace, _), _| {
            *held_kind != kind || namespace.is_some_and(|namespace| namespace != held_namespace)
        });
        for policy in policies {
            self.apply(policy);
        }
    }

    /// Returns the policies as the simulator takes them, sorted by kind, namespace and name.
    pub fn snapshot(&self) -> PolicySet {
        let mut set = PolicySet::default();
        for policy in self.policies.values() {
            match policy {
                Policy::Authorization(policy) => set.authorization.push(policy.clone()),
                Policy::RequestAuthentication(policy) => {
                    set.request_authentication.push(policy.clone());
                }
                Policy::PeerAuthentication(policy) => set.peer_authentication.push(policy.clone()),
            }
        }
        set
    }

    /// Returns how many policies are held.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// Returns true when no policy is held.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::crd::{Action, MtlsMode};

    fn object(json: &str) -> DynamicObject {
        serde_json::from_str(json).expect("fixture is a DynamicObject")
    }

    const AUTHZ_V1: &str = include_str!("fixtures/authorizationpolicy-v1.json");
    const REQUEST_AUTHN_V1BETA1: &str = include_str!("fixtures/requestauthentication-v1beta1.json");
    const PEER_AUTHN_V1BETA1: &str = include_str!("fixtures/peerauthentication-v1beta1.json");

    fn authorization(json: &str) -> AuthorizationPolicy {
        match decode(PolicyKind::Authorization, &object(json)) {
            Ok(Policy::Authorization(policy)) => policy,
            other => panic!("expected an AuthorizationPolicy, got {other:?}"),
        }
    }

    #[test]
    fn decode_v1_authorization_action() {
        assert_eq!(authorization(AUTHZ_V1).spec.action, Action::Deny);
    }

    #[test]
    fn decode_v1_authorization_metadata() {
        let policy = authorization(AUTHZ_V1);
        assert_eq!(
            (
                policy.metadata.namespace.as_str(),
                policy.metadata.name.as_str()
            ),
            ("shop", "deny-admin")
        );
    }

    #[test]
    fn decode_v1_authorization_paths() {
        let policy = authorization(AUTHZ_V1);
        let rules = policy.spec.rules.expect("rules");
        let operation = rules[0].to.as_ref().expect("to")[0]
            .operation
            .clone()
            .expect("operation");
        assert_eq!(operation.paths, ["/admin/*"]);
    }

    #[test]
    fn decode_v1_authorization_principals() {
        let policy = authorization(AUTHZ_V1);
        let rules = policy.spec.rules.expect("rules");
        let source = rules[0].from.as_ref().expect("from")[0]
            .source
            .clone()
            .expect("source");
        assert_eq!(source.not_request_principals, ["*"]);
    }

    #[test]
    fn decode_v1beta1_request_authentication() {
        let decoded = decode(
            PolicyKind::RequestAuthentication,
            &object(REQUEST_AUTHN_V1BETA1),
        );
        let Ok(Policy::RequestAuthentication(policy)) = decoded else {
            panic!("expected a RequestAuthentication, got {decoded:?}");
        };
        assert_eq!(
            policy.spec.jwt_rules[0].issuer,
            "https://issuer.example.test"
        );
        assert_eq!(policy.api_version, "security.istio.io/v1beta1");
    }

    #[test]
    fn decode_v1beta1_peer_authentication() {
        let decoded = decode(PolicyKind::PeerAuthentication, &object(PEER_AUTHN_V1BETA1));
        let Ok(Policy::PeerAuthentication(policy)) = decoded else {
            panic!("expected a PeerAuthentication, got {decoded:?}");
        };
        assert_eq!(
            policy.spec.mtls.map(|mtls| mtls.mode),
            Some(MtlsMode::Strict)
        );
    }

    #[test]
    fn decode_bad_spec_names_policy() {
        let bad = r#"{"apiVersion":"security.istio.io/v1","kind":"AuthorizationPolicy",
            "metadata":{"name":"broken","namespace":"shop"},"spec":{"action":"MAYBE"}}"#;
        let error = decode(PolicyKind::Authorization, &object(bad)).expect_err("invalid action");
        assert!(error.to_string().contains("\"shop/broken\""), "{error}");
    }

    fn discovery(plurals: &[&str]) -> APIResourceList {
        let resources: Vec<serde_json::Value> = plurals
            .iter()
            .map(|plural| {
                serde_json::json!({"name": plural, "singularName": "", "namespaced": true,
                    "kind": "X", "verbs": ["get", "list", "watch"]})
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "groupVersion": "security.istio.io/v1", "resources": resources
        }))
        .expect("discovery fixture")
    }

    #[test]
    fn pick_prefers_v1() {
        let discovered = [
            ("v1", Some(discovery(&["authorizationpolicies"]))),
            ("v1beta1", Some(discovery(&["authorizationpolicies"]))),
        ];
        assert_eq!(
            pick_version(PolicyKind::Authorization, &discovered),
            Some("v1")
        );
    }

    #[test]
    fn pick_falls_back_to_v1beta1() {
        let discovered = [
            ("v1", None),
            ("v1beta1", Some(discovery(&["authorizationpolicies"]))),
        ];
        assert_eq!(
            pick_version(PolicyKind::Authorization, &discovered),
            Some("v1beta1")
        );
    }

    #[test]
    fn pick_none_without_crds() {
        let discovered = [("v1", None), ("v1beta1", None)];
        assert_eq!(
            pick_version(PolicyKind::PeerAuthentication, &discovered),
            None
        );
    }

    #[test]
    fn store_replace_keeps_other_namespaces() {
        let mut store = PolicyStore::default();
        store.apply(Policy::Authorization(authorization(AUTHZ_V1)));
        let mut other = authorization(AUTHZ_V1);
        other.metadata.namespace = "istio-system".to_owned();
        store.apply(Policy::Authorization(other));
        store.replace(PolicyKind::Authorization, Some("shop"), Vec::new());
        let names: Vec<String> = store
            .snapshot()
            .authorization
            .iter()
            .map(|policy| policy.metadata.namespace.clone())
            .collect();
        assert_eq!(names, ["istio-system"]);
    }

    #[test]
    fn store_delete_removes() {
        let mut store = PolicyStore::default();
        store.apply(Policy::Authorization(authorization(AUTHZ_V1)));
        store.delete(PolicyKind::Authorization, "shop", "deny-admin");
        assert!(store.is_empty());
    }
}
