//! Envoy's RBAC and ext_authz filter configs in proto-JSON form (camelCase keys, `@type` URLs), as
//! istiod pushes them and as its golden files print them. Serializing and deserializing round-trip,
//! so a printed config can be read back and evaluated.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `@type` of the HTTP RBAC filter config.
pub const HTTP_RBAC_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC";
/// `@type` of the network (L4) RBAC filter config.
pub const NETWORK_RBAC_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC";
/// `@type` of a path template matcher.
pub const URI_TEMPLATE_TYPE: &str =
    "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig";

/// One filter in a listener's chain: its well-known name and typed config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub name: String,
    pub typed_config: FilterConfig,
}

/// Typed config of a filter, identified by `@type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "@type")]
pub enum FilterConfig {
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC")]
    HttpRbac(RbacFilter),
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC")]
    NetworkRbac(RbacFilter),
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz")]
    HttpExtAuthz(ExtAuthz),
    #[serde(rename = "type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz")]
    NetworkExtAuthz(ExtAuthz),
}

impl Filter {
    /// Returns the RBAC config when this is an RBAC filter (HTTP or network).
    pub fn rbac(&self) -> Option<&RbacFilter> {
        match &self.typed_config {
            FilterConfig::HttpRbac(r) | FilterConfig::NetworkRbac(r) => Some(r),
            FilterConfig::HttpExtAuthz(_) | FilterConfig::NetworkExtAuthz(_) => None,
        }
    }
}

/// The RBAC filter (`envoy.filters.http.rbac` or `envoy.filters.network.rbac`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RbacFilter {
    /// Enforced rules; absent means the filter enforces nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Rbac>,
    /// Rules evaluated only for stats and metadata; they never decide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow_rules: Option<Rbac>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub shadow_rules_stat_prefix: String,
    /// Network filter only (`tcp.` in Istio).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stat_prefix: String,
}

/// `envoy.config.rbac.v3.RBAC`: an action and named policies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Rbac {
    #[serde(skip_serializing_if = "RbacAction::is_allow")]
    pub action: RbacAction,
    /// Sorted by name, as Envoy keeps them: the first matching name is the one reported.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub policies: BTreeMap<String, Policy>,
}

/// Effect of a matching policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RbacAction {
    #[default]
    Allow,
    Deny,
    /// Istio's AUDIT: marks the request for logging, never denies.
    Log,
}

impl RbacAction {
    #[expect(
        clippy::trivially_copy_pass_by_ref,
        reason = "serde's skip_serializing_if passes a reference"
    )]
    fn is_allow(&self) -> bool {
        *self == Self::Allow
    }
}

/// A policy matches when any permission and any principal match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Policy {
    pub permissions: Vec<Permission>,
    pub principals: Vec<Principal>,
}

/// Permission: the request's action and target (`envoy.config.rbac.v3.Permission`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Permission {
    AndRules(PermissionSet),
    OrRules(PermissionSet),
    NotRule(Box<Permission>),
    Any(bool),
    Header(HeaderMatcher),
    UrlPath(PathMatcher),
    UriTemplate(UriTemplate),
    DestinationIp(CidrRange),
    DestinationPort(u32),
    RequestedServerName(StringMatcher),
    Metadata(MetadataMatcher),
}

/// `rules` of `and_rules` / `or_rules`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PermissionSet {
    pub rules: Vec<Permission>,
}

/// Principal: the request's sender (`envoy.config.rbac.v3.Principal`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Principal {
    AndIds(PrincipalSet),
    OrIds(PrincipalSet),
    NotId(Box<Principal>),
    Any(bool),
    Authenticated(Authenticated),
    DirectRemoteIp(CidrRange),
    RemoteIp(CidrRange),
    Header(HeaderMatcher),
    Metadata(MetadataMatcher),
    FilterState(FilterStateMatcher),
}

/// `ids` of `and_ids` / `or_ids`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PrincipalSet {
    pub ids: Vec<Principal>,
}

/// The peer certificate's identity (URI SAN, else DNS SAN, else subject).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Authenticated {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_name: Option<StringMatcher>,
}

/// A filter state object compared as a string (waypoints keep the peer principal there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilterStateMatcher {
    pub key: String,
    pub string_match: StringMatcher,
}

/// `envoy.type.matcher.v3.StringMatcher`: one pattern plus `ignoreCase`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StringMatcher {
    #[serde(flatten)]
    pub pattern: StringPattern,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_case: bool,
}

/// The pattern of a [`StringMatcher`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StringPattern {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
    /// RE2 syntax in Envoy, matched against the whole value.
    SafeRegex(RegexMatcher),
}

/// `envoy.type.matcher.v3.RegexMatcher`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegexMatcher {
    pub regex: String,
}

impl StringMatcher {
    pub fn exact(v: impl Into<String>) -> Self {
        Self::new(StringPattern::Exact(v.into()))
    }
    pub fn prefix(v: impl Into<String>) -> Self {
        Self::new(StringPattern::Prefix(v.into()))
    }
    pub fn suffix(v: impl Into<String>) -> Self {
        Self::new(StringPattern::Suffix(v.into()))
    }
    pub fn regex(v: impl Into<String>) -> Self {
        Self::new(StringPattern::SafeRegex(RegexMatcher { regex: v.into() }))
    }
    fn new(pattern: StringPattern) -> Self {
        Self {
            pattern,
            ignore_case: false,
        }
    }
    /// Returns the same matcher, case-insensitive.
    #[must_use]
    pub fn ignoring_case(mut self) -> Self {
        self.ignore_case = true;
        self
    }
}

/// `envoy.config.route.v3.HeaderMatcher`, the parts Istio uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderMatcher {
    pub name: String,
    #[serde(flatten)]
    pub check: HeaderCheck,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invert_match: bool,
}

/// Check a [`HeaderMatcher`] applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HeaderCheck {
    StringMatch(StringMatcher),
    PresentMatch(bool),
}

/// `envoy.type.matcher.v3.PathMatcher`: the path without query and fragment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathMatcher {
    pub path: StringMatcher,
}

/// The `uri_template` permission: a typed extension holding a path template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UriTemplate {
    pub name: String,
    pub typed_config: UriTemplateConfig,
}

/// `UriTemplateMatchConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UriTemplateConfig {
    #[serde(rename = "@type")]
    pub type_url: String,
    /// `*` is one path segment, `**` any number of segments.
    pub path_template: String,
}

impl UriTemplate {
    pub fn new(path_template: impl Into<String>) -> Self {
        Self {
            name: "uri-template".to_owned(),
            typed_config: UriTemplateConfig {
                type_url: URI_TEMPLATE_TYPE.to_owned(),
                path_template: path_template.into(),
            },
        }
    }
}

/// `envoy.config.core.v3.CidrRange`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CidrRange {
    pub address_prefix: String,
    #[serde(default)]
    pub prefix_len: u32,
}

/// `envoy.type.matcher.v3.MetadataMatcher`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataMatcher {
    pub filter: String,
    pub path: Vec<PathSegment>,
    pub value: ValueMatcher,
}

/// One key of a metadata path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathSegment {
    pub key: String,
}

/// `envoy.type.matcher.v3.ValueMatcher`, the kinds Istio emits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ValueMatcher {
    StringMatch(StringMatcher),
    OrMatch(OrMatcher),
    ListMatch(ListMatcher),
    PresentMatch(bool),
}

/// `value_matchers` of an `or_match`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrMatcher {
    pub value_matchers: Vec<ValueMatcher>,
}

/// `list_match`: a list with one element matching `one_of`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMatcher {
    pub one_of: Box<ValueMatcher>,
}

/// The ext_authz filter (HTTP or network), the fields istiod sets for a gRPC or HTTP provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExtAuthz {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub failure_mode_allow: bool,
    /// ext_authz runs only when the CUSTOM shadow rules matched a policy of its provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_enabled_metadata: Option<MetadataMatcher>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_service: Option<GrpcService>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_service: Option<HttpService>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stat_prefix: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub transport_api_version: String,
}

/// `grpc_service` of ext_authz.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GrpcService {
    pub envoy_grpc: EnvoyGrpc,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub timeout: String,
}

/// `envoy_grpc` of a gRPC service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnvoyGrpc {
    pub authority: String,
    pub cluster_name: String,
}

/// `http_service` of ext_authz.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpService {
    pub server_uri: HttpUri,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path_prefix: String,
}

/// `server_uri` of an HTTP service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpUri {
    pub uri: String,
    pub cluster: String,
    pub timeout: String,
}
