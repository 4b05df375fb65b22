//! The mesh's verdict for a token whose issuer has a `jwtRules` entry covering `--workload` but
//! whose `jwksUri` could not be fetched, in the words `idflow check` uses for it.

use crate::mesh::jwt::engine::verify_signature;
use crate::token::jwks;
use crate::token::verify::parse_jwt;

/// A `jwtRules` entry covering `--workload` whose `jwksUri` fetch failed.
pub(super) struct UnfetchedRule {
    /// `RequestAuthentication NS/NAME jwtRules[N]`.
    pub label: String,
    pub issuer: String,
    pub jwks_uri: String,
}

/// Returns the sentence to add to the signature message for `token` of `issuer` on `workload`,
/// or `None` when no entry in `unfetched` has that issuer or the token does not parse. istiod
/// inlines a stand-in key set when it cannot fetch a `jwksUri`, so the workload's Envoy responds
/// with the status `idflow check` returns for that key set.
// NOTE: only the signature is checked here. For an expired token or a wrong audience, check
// reports that status first, as Envoy does.
pub(super) fn unfetched_rule_verdict(
    unfetched: &[UnfetchedRule],
    token: &str,
    issuer: Option<&str>,
    workload: &str,
) -> Option<String> {
    let rule = unfetched
        .iter()
        .find(|rule| Some(rule.issuer.as_str()) == issuer)?;
    let jwt = parse_jwt(token).ok()?;
    let inline = jwks::istiod_fetch_failure_jwks(&rule.jwks_uri);
    let keys = jwks::parse_jwks(&inline);
    let (status, detail) = verify_signature(&jwt, &inline, &keys, "--jwks FILE").err()?;
    Some(format!(
        ". {} has the token's issuer, but its jwksUri could not be fetched, so the Envoy of \
         {workload} responds with 401 `{status}`{detail}",
        rule.label
    ))
}
