//! The `envoy.filters.http.jwt_authn` config istiod builds from the `RequestAuthentication`s of a
//! workload (`convertToEnvoyJwtConfig`), as typed structs in Envoy's proto-JSON form (camelCase keys,
//! `@type` URL), like the filters in istiod's golden files.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::mesh::crd::{JwtRule, RequestAuthentication};
use crate::mesh::{IstioVersion, MeshSettings};
use crate::token::jwks;

/// Filter name of Envoy's JWT filter.
pub const JWT_AUTHN_FILTER: &str = "envoy.filters.http.jwt_authn";
/// Dynamic metadata key istiod gives the payload from Istio 1.21 (the issuer before).
pub const PAYLOAD_METADATA_KEY: &str = "payload";

/// The filter as it sits in the HTTP filter chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtAuthnFilter {
    pub name: String,
    pub typed_config: TypedJwtAuthentication,
}

/// `typed_config` with its `@type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "@type")]
pub enum TypedJwtAuthentication {
    #[serde(
        rename = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
    )]
    JwtAuthentication(JwtAuthentication),
}

/// `envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JwtAuthentication {
    /// Sorted by name, as protobuf maps print.
    pub providers: BTreeMap<String, JwtProvider>,
    pub rules: Vec<RequirementRule>,
    #[serde(skip_serializing_if = "is_false")]
    pub bypass_cors_preflight: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` passes a reference
fn is_false(value: &bool) -> bool {
    !*value
}

/// `JwtProvider`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JwtProvider {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub issuer: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_jwks: Option<DataSource>,
    #[serde(skip_serializing_if = "is_false")]
    pub forward: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from_headers: Vec<JwtHeader>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from_params: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub from_cookies: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub forward_payload_header: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub payload_in_metadata: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalize_payload_in_metadata: Option<NormalizePayload>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub claim_to_headers: Vec<JwtClaimToHeader>,
}

/// `core.v3.DataSource` with an inline string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataSource {
    pub inline_string: String,
}

/// `JwtHeader`: a header location and the value prefix before the token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JwtHeader {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value_prefix: String,
}

/// `JwtProvider.NormalizePayload`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NormalizePayload {
    pub space_delimited_claims: Vec<String>,
}

/// `JwtClaimToHeader`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JwtClaimToHeader {
    pub header_name: String,
    pub claim_name: String,
}

/// `RequirementRule`: a route match and what it requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequirementRule {
    #[serde(rename = "match")]
    pub route_match: RouteMatch,
    pub requires: JwtRequirement,
}

/// The part of `route.v3.RouteMatch` istiod uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteMatch {
    pub prefix: String,
}

/// `JwtRequirement`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JwtRequirement {
    ProviderName(String),
    RequiresAny(RequirementList),
    RequiresAll(RequirementList),
    AllowMissing(Empty),
}

/// `JwtRequirementOrList` / `JwtRequirementAndList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequirementList {
    pub requirements: Vec<JwtRequirement>,
}

/// `google.protobuf.Empty`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// Where a provider came from: the RequestAuthentication and the index of its `jwtRules` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `NAMESPACE/NAME`.
    pub policy: String,
    pub rule: u32,
}

/// The generated filter with what the explanation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub filter: JwtAuthnFilter,
    /// Provider name to the policy and rule it came from.
    pub origins: BTreeMap<String, Origin>,
    /// What the build had to assume, such as a JWKS istiod would have fetched.
    pub notes: Vec<String>,
}

impl Built {
    /// The `JwtAuthentication` inside the filter.
    pub fn config(&self) -> &JwtAuthentication {
        let TypedJwtAuthentication::JwtAuthentication(config) = &self.filter.typed_config;
        config
    }
}

/// Builds what istiod pushes for `policies` (the `RequestAuthentication`s that apply to the
/// workload, in istiod's order), or `None` when they hold no `jwtRules`.
///
/// `supplied_jwks` maps a `jwksUri` or an issuer to the JWKS text istiod would have fetched for
/// it; without one, istiod's stand-in set after a failed fetch is inlined, as istiod does.
pub fn build(
    policies: &[RequestAuthentication],
    supplied_jwks: &BTreeMap<String, String>,
    settings: &MeshSettings,
) -> Option<Built> {
    let mut rules: Vec<(&JwtRule, Origin)> = Vec::new();
    for policy in policies {
        let name = format!("{}/{}", policy.metadata.namespace, policy.metadata.name);
        for (index, rule) in policy.spec.jwt_rules.iter().enumerate() {
            let rule_index = u32::try_from(index).unwrap_or(u32::MAX);
            rules.push((
                rule,
                Origin {
                    policy: name.clone(),
                    rule: rule_index,
                },
            ));
        }
    }
    if rules.is_empty() {
        return None;
    }
    // istiod sorts the rules by issuer so the config is stable; equal issuers keep their order
    // here (istiod's sort does not promise that).
    rules.sort_by(|a, b| a.0.issuer.cmp(&b.0.issuer));

    let extended = settings.istio_version
        >= IstioVersion {
            major: 1,
            minor: 21,
        };
    let mut config = JwtAuthentication {
        bypass_cors_preflight: true,
        ..JwtAuthentication::default()
    };
    let mut origins = BTreeMap::new();
    let mut notes = Vec::new();
    let mut names = Vec::new();
    for (index, (rule, origin)) in rules.into_iter().enumerate() {
        let name = format!("origins-{index}");
        let inline = inline_jwks(rule, supplied_jwks, &mut notes);
        config
            .providers
            .insert(name.clone(), provider(rule, inline, extended));
        origins.insert(name.clone(), origin);
        names.push(name);
    }
    config.rules.push(RequirementRule {
        route_match: RouteMatch {
            prefix: "/".to_owned(),
        },
        requires: requirement(&names),
    });
    Some(Built {
        filter: JwtAuthnFilter {
            name: JWT_AUTHN_FILTER.to_owned(),
            typed_config: TypedJwtAuthentication::JwtAuthentication(config),
        },
        origins,
        notes,
    })
}

fn provider(rule: &JwtRule, inline_jwks: String, extended: bool) -> JwtProvider {
    JwtProvider {
        issuer: rule.issuer.clone(),
        audiences: rule.audiences.clone(),
        local_jwks: Some(DataSource {
            inline_string: inline_jwks,
        }),
        forward: rule.forward_original_token,
        from_headers: rule
            .from_headers
            .iter()
            .map(|header| JwtHeader {
                name: header.name.clone(),
                value_prefix: header.prefix.clone(),
            })
            .collect(),
        from_params: rule.from_params.clone(),
        from_cookies: rule.from_cookies.clone(),
        forward_payload_header: rule.output_payload_to_header.clone(),
        // Proxies from Istio 1.21 read claims from `payload`; older ones from the issuer's key.
        payload_in_metadata: if extended {
            PAYLOAD_METADATA_KEY.to_owned()
        } else {
            rule.issuer.clone()
        },
        // Space-delimited `scope`, `permission` and the rule's `spaceDelimitedClaims` become
        // lists, as AuthorizationPolicy expects.
        normalize_payload_in_metadata: extended.then(|| {
            let mut claims = vec!["scope".to_owned(), "permission".to_owned()];
            for claim in &rule.space_delimited_claims {
                if !claims.contains(claim) {
                    claims.push(claim.clone());
                }
            }
            NormalizePayload {
                space_delimited_claims: claims,
            }
        }),
        claim_to_headers: rule
            .output_claim_to_headers
            .iter()
            .map(|pair| JwtClaimToHeader {
                header_name: pair.header.clone(),
                claim_name: pair.claim.clone(),
            })
            .collect(),
    }
}

/// Returns the note for an inline JWKS without one key Envoy can use: Envoy 1.40 then rejects the
/// whole `jwt_authn` config (`Provider … has invalid local jwks`), so the proxy rejects the
/// listener update and keeps its previous configuration.
fn rejected_jwks_note(rule: &JwtRule, inline: &str) -> Option<String> {
    let error = jwks::parse_jwks(inline).err()?;
    let stand_in = if jwks::istiod_fetch_failure(inline).is_some() {
        " This is the stand-in key istiod inlines when it cannot fetch the jwksUri. Its modulus \
         spells the URI, and Envoy wants an odd modulus of at least 512 bits."
    } else {
        ""
    };
    Some(format!(
        "Envoy rejects this jwt_authn config: the JWKS of issuer {:?} has no usable key ({}). \
         The proxy rejects the listener update and keeps its previous configuration, so this \
         workload's RequestAuthentication and AuthorizationPolicy changes do not take effect and \
         idflow's verdicts for it may not be what the proxy does.{stand_in}",
        rule.issuer,
        // Some of Envoy's statuses end with a period of their own.
        error.status.trim_end_matches('.')
    ))
}

/// The inline JWKS: the rule's own, or the one supplied for its `jwksUri` or issuer, or istiod's
/// stand-in after a failed fetch.
fn inline_jwks(
    rule: &JwtRule,
    supplied: &BTreeMap<String, String>,
    notes: &mut Vec<String>,
) -> String {
    let by_uri = (!rule.jwks_uri.is_empty())
        .then(|| supplied.get(&rule.jwks_uri))
        .flatten();
    let given = (!rule.jwks.is_empty())
        .then_some(&rule.jwks)
        .or_else(|| by_uri.or_else(|| supplied.get(&rule.issuer)));
    if let Some(text) = given {
        notes.extend(rejected_jwks_note(rule, text));
        return text.clone();
    }
    let stand_in = jwks::istiod_fetch_failure_jwks(&rule.jwks_uri);
    let consequence = if jwks::parse_jwks(&stand_in).is_ok() {
        "so every token of this issuer fails"
    } else {
        // Envoy 1.40: `Provider … in jwt_authn config has invalid local jwks`.
        "but here even that key is unusable to Envoy (its modulus spells the jwksUri and is even \
         or under 512 bits). So a failed fetch makes Envoy reject the whole jwt_authn config and \
         the proxy keep its previous configuration, and idflow's verdicts assume the proxy took \
         the config. Pass --jwks ISSUER_OR_URI=FILE to simulate the real keys"
    };
    // Istio's RequestAuthentication reference: without `jwksUri`, istiod finds the key set
    // through the issuer's OIDC discovery document.
    let note = if rule.jwks_uri.is_empty() {
        format!(
            "no JWKS was supplied for issuer {:?}, which names no jwksUri, so istiod fetches its \
             keys through OIDC discovery ({}/.well-known/openid-configuration). The simulation \
             uses the stand-in JWKS istiod inlines when that fetch fails, {consequence}",
            rule.issuer,
            rule.issuer.trim_end_matches('/')
        )
    } else {
        format!(
            "no JWKS was supplied for issuer {:?} (jwksUri {:?}), so the simulation uses the \
             stand-in JWKS istiod inlines when it cannot fetch the keys, {consequence}",
            rule.issuer, rule.jwks_uri
        )
    };
    notes.push(note);
    stand_in
}

/// One provider: `requires_any [provider, allow_missing]`. Several: `requires_any` of each
/// provider and a `requires_all` of those pairs, so that a token, when present, must be valid
/// for its provider, while providers sharing a location do not fail each other.
fn requirement(names: &[String]) -> JwtRequirement {
    let optional = |name: &String| {
        JwtRequirement::RequiresAny(RequirementList {
            requirements: vec![
                JwtRequirement::ProviderName(name.clone()),
                JwtRequirement::AllowMissing(Empty {}),
            ],
        })
    };
    if let [only] = names {
        return optional(only);
    }
    let mut any: Vec<JwtRequirement> = names
        .iter()
        .map(|name| JwtRequirement::ProviderName(name.clone()))
        .collect();
    any.push(JwtRequirement::RequiresAll(RequirementList {
        requirements: names.iter().map(optional).collect(),
    }));
    JwtRequirement::RequiresAny(RequirementList { requirements: any })
}
