//! Istio security resources (`security.istio.io` v1 and v1beta1): AuthorizationPolicy,
//! RequestAuthentication and PeerAuthentication, as they arrive from YAML, JSON or the API server.
//!
//! Field names follow the CRDs (camelCase on the wire). Repeated fields are `Vec`s because protobuf
//! cannot tell an empty list from an absent one, except where istiod's validation can (`from`,
//! `to`, `rules`), which are `Option<Vec<_>>`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Kubernetes object metadata, the parts policies use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectMeta {
    pub name: String,
    /// Empty when the file left it out; loaders fill in the default namespace.
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339; istiod keeps the oldest PeerAuthentication when several apply at one level.
    pub creation_timestamp: Option<String>,
}

/// `selector` of a policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkloadSelector {
    pub match_labels: BTreeMap<String, String>,
}

/// `targetRef` / `targetRefs` entry (Gateway API style).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicyTargetReference {
    pub group: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

/// An AuthorizationPolicy object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthorizationPolicy {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: AuthorizationPolicySpec,
}

/// `spec` of an AuthorizationPolicy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthorizationPolicySpec {
    pub selector: Option<WorkloadSelector>,
    pub target_ref: Option<PolicyTargetReference>,
    pub target_refs: Vec<PolicyTargetReference>,
    /// `None` when absent: an ALLOW policy without rules allows nothing.
    pub rules: Option<Vec<Rule>>,
    pub action: Action,
    pub provider: Option<ExtensionProvider>,
}

/// `action` of an AuthorizationPolicy; ALLOW when absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    #[default]
    Allow,
    Deny,
    Audit,
    Custom,
}

/// `provider` of a CUSTOM policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExtensionProvider {
    pub name: String,
}

/// One rule: at least one `from`, one `to` and every `when` must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Rule {
    pub from: Option<Vec<RuleFrom>>,
    pub to: Option<Vec<RuleTo>>,
    pub when: Vec<Condition>,
}

/// A `from` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RuleFrom {
    pub source: Option<Source>,
}

/// A `to` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RuleTo {
    pub operation: Option<Operation>,
}

/// Source fields: every field set in one source must match, and any one value of a field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Source {
    pub principals: Vec<String>,
    pub not_principals: Vec<String>,
    pub request_principals: Vec<String>,
    pub not_request_principals: Vec<String>,
    pub namespaces: Vec<String>,
    pub not_namespaces: Vec<String>,
    /// Istio 1.25 and later.
    pub service_accounts: Vec<String>,
    pub not_service_accounts: Vec<String>,
    pub ip_blocks: Vec<String>,
    pub not_ip_blocks: Vec<String>,
    pub remote_ip_blocks: Vec<String>,
    pub not_remote_ip_blocks: Vec<String>,
    /// Istio 1.30 and later ("extended" CRD channel).
    pub trust_domains: Vec<String>,
    pub not_trust_domains: Vec<String>,
}

/// Operation fields: every field set in one operation must match, and any one value of a field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Operation {
    pub hosts: Vec<String>,
    pub not_hosts: Vec<String>,
    pub ports: Vec<String>,
    pub not_ports: Vec<String>,
    pub methods: Vec<String>,
    pub not_methods: Vec<String>,
    pub paths: Vec<String>,
    pub not_paths: Vec<String>,
}

/// A `when` condition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Condition {
    pub key: String,
    pub values: Vec<String>,
    pub not_values: Vec<String>,
}

/// A RequestAuthentication object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RequestAuthentication {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: RequestAuthenticationSpec,
}

/// `spec` of a RequestAuthentication.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RequestAuthenticationSpec {
    pub selector: Option<WorkloadSelector>,
    pub target_ref: Option<PolicyTargetReference>,
    pub target_refs: Vec<PolicyTargetReference>,
    pub jwt_rules: Vec<JwtRule>,
}

/// One `jwtRules` entry: an issuer and how its tokens are found, verified and passed on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JwtRule {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub jwks_uri: String,
    /// Inline JWKS as a JSON string.
    pub jwks: String,
    pub from_headers: Vec<JwtHeader>,
    pub from_params: Vec<String>,
    pub from_cookies: Vec<String>,
    pub output_payload_to_header: String,
    pub forward_original_token: bool,
    pub output_claim_to_headers: Vec<ClaimToHeader>,
    pub timeout: Option<String>,
    /// Claims besides `scope` and `permission` that jwt_authn splits on spaces into lists.
    pub space_delimited_claims: Vec<String>,
}

/// A `fromHeaders` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JwtHeader {
    pub name: String,
    pub prefix: String,
}

/// An `outputClaimToHeaders` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClaimToHeader {
    pub header: String,
    pub claim: String,
}

/// A PeerAuthentication object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PeerAuthentication {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: PeerAuthenticationSpec,
}

/// `spec` of a PeerAuthentication.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PeerAuthenticationSpec {
    pub selector: Option<WorkloadSelector>,
    pub mtls: Option<Mtls>,
    /// Port number (as a string key, as in YAML) to its mode.
    pub port_level_mtls: BTreeMap<String, Mtls>,
}

/// `mtls` of a PeerAuthentication.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Mtls {
    pub mode: MtlsMode,
}

/// mTLS mode; UNSET inherits from the parent scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MtlsMode {
    #[default]
    Unset,
    Disable,
    Permissive,
    Strict,
}

/// All security resources loaded from files or the cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicySet {
    pub authorization: Vec<AuthorizationPolicy>,
    pub request_authentication: Vec<RequestAuthentication>,
    pub peer_authentication: Vec<PeerAuthentication>,
}

impl PolicySet {
    /// Moves every policy of `other` into this set, after the ones it has. An object with the
    /// kind, namespace and name of one already here replaces it in place, as a later `kubectl
    /// apply` of another file would. Returns `KIND NAMESPACE/NAME` of each object replaced.
    pub fn append(&mut self, other: PolicySet) -> Vec<String> {
        let mut replaced = Vec::new();
        merge(
            "AuthorizationPolicy",
            &mut self.authorization,
            other.authorization,
            |policy| &policy.metadata,
            &mut replaced,
        );
        merge(
            "RequestAuthentication",
            &mut self.request_authentication,
            other.request_authentication,
            |policy| &policy.metadata,
            &mut replaced,
        );
        merge(
            "PeerAuthentication",
            &mut self.peer_authentication,
            other.peer_authentication,
            |policy| &policy.metadata,
            &mut replaced,
        );
        replaced
    }
}

impl PolicySet {
    /// Returns `KIND NAMESPACE/NAME` of each object, the form [`PolicySet::append`] reports.
    pub fn object_names(&self) -> Vec<String> {
        let name =
            |kind: &str, meta: &ObjectMeta| format!("{kind} {}/{}", meta.namespace, meta.name);
        self.authorization
            .iter()
            .map(|policy| name("AuthorizationPolicy", &policy.metadata))
            .chain(
                self.request_authentication
                    .iter()
                    .map(|policy| name("RequestAuthentication", &policy.metadata)),
            )
            .chain(
                self.peer_authentication
                    .iter()
                    .map(|policy| name("PeerAuthentication", &policy.metadata)),
            )
            .collect()
    }
}

/// Adds `added` to `objects`, each replacing an object of the same namespace and name.
fn merge<T>(
    kind: &str,
    objects: &mut Vec<T>,
    added: Vec<T>,
    meta: fn(&T) -> &ObjectMeta,
    replaced: &mut Vec<String>,
) {
    for object in added {
        let name = format!("{kind} {}/{}", meta(&object).namespace, meta(&object).name);
        if replace_or_push(objects, object, |old, new| {
            same_object(meta(old), meta(new))
        }) {
            replaced.push(name);
        }
    }
}

/// Returns whether two objects' metadata name one object: the same namespace and name.
fn same_object(one: &ObjectMeta, other: &ObjectMeta) -> bool {
    one.namespace == other.namespace && one.name == other.name
}

/// Adds `object` to `objects` in place of the first one that `same` matches, or at the end.
/// Returns whether it replaced one.
fn replace_or_push<T>(objects: &mut Vec<T>, object: T, same: impl Fn(&T, &T) -> bool) -> bool {
    if let Some(index) = objects.iter().position(|old| same(old, &object)) {
        objects[index] = object;
        return true;
    }
    objects.push(object);
    false
}
