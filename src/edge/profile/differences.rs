//! Differences between an edge profile and a mesh's RequestAuthentication `jwtRules`: each place
//! where they judge the same token differently, in words, with the status the stricter side returns.

mod mesh_reading;

use serde::Serialize;

use super::segments::json_only_at_edge;
use super::validate::ENVOY_CLOCK_SKEW_SECONDS;
use super::{EdgeProfile, MissingToken, TokenLocation};
use crate::mesh::crd::{JwtRule, RequestAuthentication};
use mesh_reading::prefix_reading;

/// One difference between the edge and the mesh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `NAMESPACE/NAME` of the RequestAuthentication, or `None` for a trait of the edge alone that
    /// matters to every mesh rule.
    pub policy: Option<String>,
    /// The file the RequestAuthentication was read from, given only when another file contains one
    /// with the same `NAMESPACE/NAME`.
    pub file: Option<String>,
    /// The `jwtRules` issuer it concerns, when it concerns one rule.
    pub issuer: Option<String>,
    /// Stable `snake_case` identifier for scripts.
    pub code: &'static str,
    pub message: String,
}

impl Difference {
    /// Returns what the difference concerns, for text output: `NAMESPACE/NAME`, with `(FILE)`
    /// after it when [`Difference::file`] is set, or `edge` for a trait of the edge alone.
    pub fn subject(&self) -> String {
        match (&self.policy, &self.file) {
            (Some(policy), Some(file)) => format!("{policy} ({file})"),
            (Some(policy), None) => policy.clone(),
            (None, _) => "edge".to_owned(),
        }
    }
}

/// A RequestAuthentication and the file it was read from.
#[derive(Debug, Clone, Copy)]
pub struct PolicyInFile<'a> {
    pub policy: &'a RequestAuthentication,
    /// The file's path as the user gave it.
    pub file: &'a str,
}

/// A place a token can travel in: a header with a value prefix, a query parameter or a cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Place {
    Header { name: String, prefix: String },
    Param(String),
    Cookie(String),
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Header { name, prefix } if prefix.is_empty() => write!(f, "`{name}`"),
            Self::Header { name, prefix } => write!(f, "`{name}: {prefix}`"),
            Self::Param(name) => write!(f, "query parameter `{name}`"),
            Self::Cookie(name) => write!(f, "cookie `{name}`"),
        }
    }
}

/// Collects differences for one policy.
struct Collector<'a> {
    policy: Option<String>,
    file: Option<String>,
    /// The `RequestAuthentication` objects whose `jwtRules` one `jwt_authn` filter contains: the
    /// compared one alone, or every one covering the workload. The mesh's `jwt_authn` runs on them for a
    /// forwarded value.
    compared: &'a [RequestAuthentication],
    /// The `jwtRules` of [`Collector::compared`].
    mesh_rules: &'a [JwtRule],
    /// The token the differences are listed for, when the caller has one.
    token: Option<&'a str>,
    found: &'a mut Vec<Difference>,
}

impl Collector<'_> {
    fn add(&mut self, issuer: Option<&str>, code: &'static str, message: String) {
        self.found.push(Difference {
            policy: self.policy.clone(),
            file: self.file.clone(),
            issuer: issuer.map(str::to_owned),
            code,
            message,
        });
    }
}

impl EdgeProfile {
    /// Lists each difference between this edge and the `jwtRules` of `policies` (the
    /// RequestAuthentications that apply to a workload), policy by policy. Empty without policies.
    pub fn differences(&self, policies: &[RequestAuthentication]) -> Vec<Difference> {
        self.differences_for(policies, None)
    }

    /// Lists the differences as [`EdgeProfile::differences`] does. With `token`, a difference
    /// that depends on the token names the status the mesh's `jwt_authn` returns for it.
    pub fn differences_for(
        &self,
        policies: &[RequestAuthentication],
        token: Option<&str>,
    ) -> Vec<Difference> {
        let unfiled: Vec<(&RequestAuthentication, Option<&str>)> =
            policies.iter().map(|policy| (policy, None)).collect();
        self.collect_differences(&unfiled, token, false)
    }

    /// Lists the differences as [`EdgeProfile::differences_for`] does, for policies read from
    /// files. When two files contain policies with the same `NAMESPACE/NAME`, which a cluster
    /// would keep as one object, their differences name the file each came from.
    pub fn differences_in_files(
        &self,
        policies: &[PolicyInFile<'_>],
        token: Option<&str>,
    ) -> Vec<Difference> {
        self.filed_differences(policies, token, false)
    }

    /// Lists the differences as [`EdgeProfile::differences_in_files`] does, for the
    /// `RequestAuthentication` objects that cover one workload (root namespace, workload
    /// namespace and selector). Istio merges their `jwtRules` into one `jwt_authn` filter, so
    /// the mesh accepts an issuer when any of them has an entry for it.
    pub fn workload_differences_in_files(
        &self,
        policies: &[PolicyInFile<'_>],
        token: Option<&str>,
    ) -> Vec<Difference> {
        self.filed_differences(policies, token, true)
    }

    fn filed_differences(
        &self,
        policies: &[PolicyInFile<'_>],
        token: Option<&str>,
        merged: bool,
    ) -> Vec<Difference> {
        let filed: Vec<(&RequestAuthentication, Option<&str>)> = policies
            .iter()
            .map(|entry| (entry.policy, Some(entry.file)))
            .collect();
        self.collect_differences(&filed, token, merged)
    }

    /// Collects the differences of each policy. With `merged`, the policies share one
    /// `jwt_authn` filter, so the checks of the mesh as a whole read the `jwtRules` of all.
    fn collect_differences(
        &self,
        policies: &[(&RequestAuthentication, Option<&str>)],
        token: Option<&str>,
        merged: bool,
    ) -> Vec<Difference> {
        let mut found = Vec::new();
        if policies.is_empty() {
            return found;
        }
        self.edge_only(&mut Collector {
            policy: None,
            file: None,
            compared: &[],
            mesh_rules: &[],
            token,
            found: &mut found,
        });
        let all_policies: Vec<RequestAuthentication> =
            policies.iter().map(|&(policy, _)| policy.clone()).collect();
        let all_rules: Vec<JwtRule> = all_policies
            .iter()
            .flat_map(|policy| policy.spec.jwt_rules.iter().cloned())
            .collect();
        let name_of = |policy: &RequestAuthentication| {
            format!("{}/{}", policy.metadata.namespace, policy.metadata.name)
        };
        for &(policy, file) in policies {
            let name = name_of(policy);
            // NOTE: two policies of one name in the same file stay alike in the output.
            let collides = policies
                .iter()
                .any(|&(other, other_file)| other_file != file && name_of(other) == name);
            let (compared, mesh_rules) = if merged {
                (all_policies.as_slice(), all_rules.as_slice())
            } else {
                (
                    std::slice::from_ref(policy),
                    policy.spec.jwt_rules.as_slice(),
                )
            };
            let mut collector = Collector {
                policy: Some(name),
                file: file.filter(|_| collides).map(str::to_owned),
                compared,
                mesh_rules,
                token,
                found: &mut found,
            };
            self.policy_differences(&policy.spec.jwt_rules, &mut collector);
        }
        found
    }

    /// Traits of the edge that leave the mesh as the only check.
    fn edge_only(&self, out: &mut Collector<'_>) {
        if self.fail_open {
            out.add(
                None,
                "fail_open",
                "an EdgeWorker error lets the request through unchecked (continue on error); the \
                 mesh is then the only check of the token"
                    .to_owned(),
            );
        }
        if self.missing_token == MissingToken::Forward {
            out.add(
                None,
                "missing_token_forwarded",
                format!(
                    "a request without a token in {} goes on unchecked, which looks like a \
                     validated request downstream; the mesh lets it pass without a request \
                     principal, and a policy that requires one responds with 403",
                    self.location
                ),
            );
        }
        if let Some(status) = out.token.and_then(json_only_at_edge) {
            out.add(
                None,
                "json_accepted_only_at_edge",
                format!(
                    "JavaScript's JSON.parse at the edge accepts this token's JSON (a number past \
                     the double range, a lone surrogate escape, a repeated member name or a \
                     non-object segment), but the mesh rejects it with 401 `{status}`"
                ),
            );
        }
        if self.algorithms.iter().any(|alg| alg == "NONE") {
            out.add(
                None,
                "unsigned_accepted",
                "the edge accepts unsigned tokens (`alg` none); the mesh rejects them with 401 \
                 `Jwt header [alg] is not supported`"
                    .to_owned(),
            );
        }
    }

    fn policy_differences(&self, rules: &[JwtRule], out: &mut Collector<'_>) {
        if rules.is_empty() {
            if !out.mesh_rules.is_empty() {
                // Another RequestAuthentication of the workload gives the filter its rules.
                return;
            }
            out.add(
                None,
                "mesh_checks_no_token",
                "the RequestAuthentication has no jwtRules, so the mesh checks no token".to_owned(),
            );
            return;
        }
        self.issuer_differences(rules, out);
        let relevant: Vec<&JwtRule> = rules
            .iter()
            .filter(|rule| self.issuers.is_empty() || self.issuers.contains(&rule.issuer))
            .collect();
        for rule in &relevant {
            self.algorithm_differences(rule, out);
            self.audience_differences(rule, out);
            self.location_differences(rule, out);
            self.claim_header_differences(rule, out);
            if !rule.forward_original_token {
                out.add(
                    Some(&rule.issuer),
                    "token_removed_by_mesh",
                    format!(
                        "the jwtRules entry for `{}` does not set forwardOriginalToken, so Envoy \
                         removes the token after verifying it and later hops see no token",
                        rule.issuer
                    ),
                );
            }
        }
        if relevant
            .iter()
            .any(|rule| self.reads_original_with_prefix(rule))
        {
            self.scheme_differences(out);
        }
        self.time_differences(out);
    }

    fn issuer_differences(&self, rules: &[JwtRule], out: &mut Collector<'_>) {
        let mesh: Vec<&str> = out
            .mesh_rules
            .iter()
            .map(|rule| rule.issuer.as_str())
            .collect();
        if self.issuers.is_empty() {
            out.add(
                None,
                "issuer_unchecked",
                format!(
                    "the edge accepts any issuer; the mesh accepts only {} and responds with 401 `Jwt \
                     issuer is not configured` for others",
                    quoted_list(&mesh)
                ),
            );
            return;
        }
        for issuer in &self.issuers {
            if !mesh.contains(&issuer.as_str()) {
                out.add(
                    Some(issuer),
                    "issuer_not_in_mesh",
                    format!(
                        "the edge accepts issuer `{issuer}` but the mesh has no jwtRules entry \
                         for it and responds with 401 `Jwt issuer is not configured`"
                    ),
                );
            }
        }
        for issuer in rules.iter().map(|rule| rule.issuer.as_str()) {
            if !self.issuers.iter().any(|accepted| accepted == issuer) {
                out.add(
                    Some(issuer),
                    "issuer_not_at_edge",
                    format!(
                        "the mesh accepts issuer `{issuer}` but the edge rejects its tokens with {}",
                        self.deny_status
                    ),
                );
            }
        }
        if self.skip_absent_claims {
            out.add(
                None,
                "absent_iss_passes_edge",
                "a token without `iss` passes the edge, whose issuer check skips absent claims; \
                 the mesh responds with 401 `Jwt issuer is not configured`"
                    .to_owned(),
            );
        }
    }

    fn audience_differences(&self, rule: &JwtRule, out: &mut Collector<'_>) {
        let issuer = Some(rule.issuer.as_str());
        let mesh: Vec<&str> = rule.audiences.iter().map(String::as_str).collect();
        let edge_audiences = quoted_list(
            &self
                .audiences
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        if mesh.is_empty() {
            if !self.audiences.is_empty() {
                out.add(
                    issuer,
                    "audience_checked_only_at_edge",
                    format!(
                        "the edge requires audience {} but the mesh does not check `aud` for `{}`",
                        edge_audiences, rule.issuer
                    ),
                );
            }
            return;
        }
        let rejected = "the mesh responds with 403 `Audiences in Jwt are not allowed`";
        let responds = "responds with 403 `Audiences in Jwt are not allowed`";
        if self.audiences.is_empty() {
            out.add(
                issuer,
                "audience_unchecked",
                format!(
                    "the edge does not check `aud`; the mesh requires {} for `{}` and {responds} \
                     otherwise",
                    quoted_list(&mesh),
                    rule.issuer
                ),
            );
            return;
        }
        for audience in &self.audiences {
            if !mesh.contains(&audience.as_str()) {
                out.add(
                    issuer,
                    "audience_mismatch",
                    format!(
                        "the edge accepts audience `{audience}` but the mesh requires {} for \
                         `{}`; for a token with only that audience {rejected}",
                        quoted_list(&mesh),
                        rule.issuer
                    ),
                );
            }
        }
        for audience in &mesh {
            if !self.audiences.iter().any(|accepted| accepted == audience) {
                out.add(
                    issuer,
                    "audience_not_at_edge",
                    format!(
                        "the mesh accepts audience `{audience}` for `{}` but the edge accepts only \
                         {}, so it rejects a token with only that audience with {} `JWT \
                         malformed: invalid aud`; add `{audience}` to `checks.audiences` if the \
                         edge should accept it",
                        rule.issuer, edge_audiences, self.deny_status
                    ),
                );
            }
        }
        if self.skip_absent_claims {
            out.add(
                issuer,
                "absent_aud_passes_edge",
                format!(
                    "a token without `aud` passes the edge, whose audience check skips absent \
                     claims; {rejected}"
                ),
            );
        }
    }

    /// Returns the places the next hop finds the token in.
    fn forwarded_places(&self) -> Vec<Place> {
        let mut places = Vec::new();
        if self.forward.keep_token {
            places.push(match &self.location {
                TokenLocation::Header(name) => Place::Header {
                    name: name.clone(),
                    prefix: self.scheme.clone(),
                },
                TokenLocation::Query(name) => Place::Param(name.clone()),
                TokenLocation::Cookie(name) => Place::Cookie(name.clone()),
            });
        }
        if let Some(name) = &self.forward.token_header {
            places.push(Place::Header {
                name: name.clone(),
                prefix: self.forward.token_prefix.clone(),
            });
        }
        places
    }

    fn location_differences(&self, rule: &JwtRule, out: &mut Collector<'_>) {
        let issuer = Some(rule.issuer.as_str());
        let mesh = mesh_places(rule);
        let mesh_text = mesh
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" or ");
        let forwarded = self.forwarded_places();
        let consequence = "the mesh sees no token: no request principal, and 403 where a policy \
                           requires one";
        if forwarded.is_empty() {
            out.add(
                issuer,
                "token_not_forwarded",
                format!(
                    "the edge removes the token and forwards none, but the mesh reads \
                     {mesh_text} for `{}`; {consequence}",
                    rule.issuer
                ),
            );
            return;
        }
        let readable = forwarded
            .iter()
            .any(|place| mesh.iter().any(|read| same_place(place, read)));
        if !readable {
            let edge_text = forwarded
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" and ");
            // Another rule that reads a forwarded place makes Envoy find the token there, and its
            // provider rejects a token of this issuer (Envoy 1.40, a tester's two-rule setup).
            let mesh_rules = out.mesh_rules;
            let other_reader = mesh_rules.iter().find(|other| {
                other.issuer != rule.issuer
                    && mesh_places(other)
                        .iter()
                        .any(|read| forwarded.iter().any(|place| same_place(place, read)))
            });
            let consequence = match other_reader {
                Some(other) => format!(
                    "the jwtRules entry for `{}` reads that place, so Envoy finds the token there \
                     and responds with 401 `Jwt issuer is not configured`",
                    other.issuer
                ),
                None => consequence.to_owned(),
            };
            out.add(
                issuer,
                "token_location_mismatch",
                format!(
                    "the edge forwards the token in {edge_text} but the mesh reads {mesh_text} \
                     for `{}`; {consequence}",
                    rule.issuer
                ),
            );
            return;
        }
        // Same header, other prefix: the written copy is the one the edge controls.
        for place in &forwarded {
            let Place::Header { name, prefix } = place else {
                continue;
            };
            let is_original = self.forward.keep_token
                && matches!(&self.location, TokenLocation::Header(original) if original == name);
            for read in &mesh {
                if let Place::Header {
                    name: mesh_name,
                    prefix: mesh_prefix,
                } = read
                    && mesh_name == name
                    && mesh_prefix != prefix
                    && !(is_original && self.scheme.is_empty())
                {
                    let Some(reading) = prefix_reading(name, prefix, mesh_prefix, out) else {
                        continue;
                    };
                    let mesh_reads = if mesh_prefix.is_empty() {
                        "reads its whole value".to_owned()
                    } else {
                        format!("reads it after {mesh_prefix:?}")
                    };
                    out.add(
                        issuer,
                        "token_prefix_mismatch",
                        format!(
                            "the edge forwards `{name}` with the prefix {prefix:?} but the mesh \
                             {mesh_reads} for `{}`; {reading}",
                            rule.issuer
                        ),
                    );
                }
            }
        }
    }

    /// Returns whether the mesh reads the client's original header with a value prefix.
    fn reads_original_with_prefix(&self, rule: &JwtRule) -> bool {
        let TokenLocation::Header(original) = &self.location else {
            return false;
        };
        self.forward.keep_token
            && mesh_places(rule).iter().any(|place| {
                matches!(place, Place::Header { name, prefix } if name == original && !prefix.is_empty())
            })
    }

    fn scheme_differences(&self, out: &mut Collector<'_>) {
        if self.scheme.is_empty() {
            out.add(
                None,
                "scheme_not_stripped",
                format!(
                    "the edge hands the whole header value to the validator, so `Bearer <jwt>` \
                     fails at the edge ({}) while the mesh accepts it; a token sent without a \
                     scheme passes the edge, and the mesh treats that one as missing",
                    self.deny_status
                ),
            );
            return;
        }
        let scheme = self.scheme.trim_end();
        if !self.scheme_case_sensitive {
            out.add(
                None,
                "scheme_case",
                format!(
                    "the edge accepts lower-case `{}`; Envoy's prefix match is case-sensitive, so \
                     the mesh treats such a token as missing",
                    scheme.to_ascii_lowercase()
                ),
            );
        }
        if !self.scheme_required {
            out.add(
                None,
                "scheme_optional",
                format!(
                    "the edge also accepts a token without the `{scheme}` scheme; the mesh finds \
                     no prefix and treats that token as missing"
                ),
            );
        }
    }

    fn time_differences(&self, out: &mut Collector<'_>) {
        let skew = ENVOY_CLOCK_SKEW_SECONDS;
        if self.check_exp {
            out.add(
                None,
                "exp_required_at_edge",
                "the edge rejects a token without `exp` (`JWT malformed: exp must be number`); the \
                 mesh accepts it"
                    .to_owned(),
            );
        } else {
            out.add(
                None,
                "exp_unchecked",
                format!(
                    "the edge does not check `exp`; the mesh rejects expired tokens after {skew} s \
                     leeway (401 `Jwt is expired`)"
                ),
            );
        }
        if self.check_nbf {
            out.add(
                None,
                "nbf_required_at_edge",
                "the edge rejects a token without `nbf` (`JWT malformed: nbf must be number`); the \
                 mesh accepts it, because `nbf` is optional"
                    .to_owned(),
            );
        } else {
            out.add(
                None,
                "nbf_unchecked",
                format!(
                    "the edge does not check `nbf`; the mesh rejects tokens used more than {skew} s \
                     before `nbf` (401 `Jwt not yet valid`)"
                ),
            );
        }
        if (self.check_exp || self.check_nbf) && i64::from(self.clock_tolerance_seconds) != skew {
            out.add(
                None,
                "clock_tolerance",
                format!(
                    "the edge allows {} s of clock skew on `exp` and `nbf`; the mesh allows {skew} s",
                    self.clock_tolerance_seconds
                ),
            );
        }
    }

    fn claim_header_differences(&self, rule: &JwtRule, out: &mut Collector<'_>) {
        for output in &rule.output_claim_to_headers {
            let header = output.header.to_ascii_lowercase();
            if let Some((claim, _)) = self
                .forward
                .claims
                .iter()
                .find(|(_, edge_header)| *edge_header == header)
            {
                out.add(
                    Some(&rule.issuer),
                    "claim_header_overwritten",
                    format!(
                        "the edge sets `{header}` from `{claim}` and the mesh overwrites it from \
                         `{}`",
                        output.claim
                    ),
                );
            }
        }
    }
}

/// Returns whether the mesh finds a token forwarded at `place` when it reads `read`: a header by
/// name whatever the prefix, other places exactly.
fn same_place(place: &Place, read: &Place) -> bool {
    match (place, read) {
        (
            Place::Header { name, .. },
            Place::Header {
                name: mesh_name, ..
            },
        ) => name == mesh_name,
        _ => place == read,
    }
}

/// Returns the places Envoy reads a token from for `rule`: its locations, or Istio's defaults
/// (`Authorization: Bearer ` and the `access_token` query parameter) when it lists none.
fn mesh_places(rule: &JwtRule) -> Vec<Place> {
    let mut places: Vec<Place> = rule
        .from_headers
        .iter()
        .map(|header| Place::Header {
            name: header.name.to_ascii_lowercase(),
            prefix: header.prefix.clone(),
        })
        .collect();
    places.extend(rule.from_params.iter().cloned().map(Place::Param));
    places.extend(rule.from_cookies.iter().cloned().map(Place::Cookie));
    if places.is_empty() {
        places.push(Place::Header {
            name: "authorization".to_owned(),
            prefix: "Bearer ".to_owned(),
        });
        places.push(Place::Param("access_token".to_owned()));
    }
    places
}

fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
