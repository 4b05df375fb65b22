//! A request run through a `jwt_authn` config the way Envoy's filter runs it: the requirement tree
//! of the matching rule (`requires_any`, `requires_all`, `provider_name`, `allow_missing`), each
//! provider's tokens checked last location first, and the effects of an accepted token.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::config::{Built, JwtProvider, JwtRequirement, Origin};
use super::extract::{Found, Location, extract, percent_decode};
use crate::mesh::{Request, Stage, Step};
use crate::token::jwks::{self, Jwks, NO_VALID_KEYS};
use crate::token::verify::{Jwt, parse_jwt, verify_jwt};

/// Status when no location contains a token.
pub const MISSED: &str = "Jwt is missing";
/// Status when the token's `iss` belongs to no provider listening at its location.
pub const UNKNOWN_ISSUER: &str = "Jwt issuer is not configured";
/// Status for an audience mismatch, the only one answered with 403.
pub const AUDIENCE_NOT_ALLOWED: &str = "Audiences in Jwt are not allowed";
/// Envoy's default `clock_skew_seconds`, which Istio keeps.
pub const CLOCK_SKEW_SECONDS: u64 = 60;

/// What jwt_authn did with the request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Passed(Passed),
    Rejected(Rejected),
}

/// A request jwt_authn let through.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Passed {
    /// The `envoy.filters.http.jwt_authn` dynamic metadata: metadata key to normalised payload.
    pub metadata: Map<String, Value>,
    /// The payload RBAC reads (the last one stored), absent when no token was accepted.
    pub payload: Option<Value>,
    /// `iss/sub` of that payload.
    pub request_principal: Option<String>,
    /// Request headers as the next filter and the application receive them.
    pub headers: Vec<(String, String)>,
}

/// A request jwt_authn answered itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// 401, or 403 for an audience mismatch.
    pub status: u16,
    /// The status text, which is also the response body.
    pub message: &'static str,
    /// `jwt_authn_access_denied{…}` with whitespace replaced by `_`, as Envoy logs it.
    pub response_code_details: String,
    /// The `www-authenticate` response header.
    pub www_authenticate: String,
    /// The RequestAuthentication (`NAMESPACE/NAME`) of the provider whose status Envoy returned,
    /// when one provider is known.
    pub policy: Option<String>,
}

/// A provider's failed verification: its status text and where the provider came from.
#[derive(Debug, Clone)]
struct Failure {
    message: &'static str,
    origin: Option<Origin>,
}

type Status = Result<(), Failure>;

struct Context<'a> {
    built: &'a Built,
    providers: &'a BTreeMap<String, JwtProvider>,
    jwks: BTreeMap<String, Result<Jwks, jwks::JwksError>>,
    headers: Vec<(String, String)>,
    /// The `:path`, query included, which an accepted token's query parameter is removed from.
    path: String,
    now: u64,
    metadata: Map<String, Value>,
    last_payload_key: Option<String>,
    steps: Vec<Step>,
}

/// Runs `request` through the filter `built` at `now` (Unix seconds), with the steps that explain
/// each provider tried.
pub fn run(built: &Built, request: &Request, now: i64) -> (Outcome, Vec<Step>) {
    let config = built.config();
    let mut context = Context {
        built,
        providers: &config.providers,
        jwks: BTreeMap::new(),
        headers: request.headers.clone(),
        path: request.path.clone(),
        now: u64::try_from(now).unwrap_or(0),
        metadata: Map::new(),
        last_payload_key: None,
        steps: Vec::new(),
    };

    if config.bypass_cors_preflight && is_cors_preflight(request) {
        context.step(
            None,
            "skipped",
            "a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method) skips \
             JWT checks"
                .to_owned(),
        );
        return (Outcome::Passed(context.passed()), context.steps);
    }
    let Some(rule) = config
        .rules
        .iter()
        .find(|rule| request.path.starts_with(&rule.route_match.prefix))
    else {
        context.step(
            None,
            "skipped",
            "no jwt_authn rule matches the path".to_owned(),
        );
        return (Outcome::Passed(context.passed()), context.steps);
    };
    let status = context.evaluate(&rule.requires);
    let outcome = match status {
        Ok(()) => {
            if context.last_payload_key.is_none() {
                context.step(
                    None,
                    "missing",
                    "no token at any configured location: the request goes on without a \
                     request principal"
                        .to_owned(),
                );
            }
            Outcome::Passed(context.passed())
        }
        Err(failure) => Outcome::Rejected(rejected(failure, request)),
    };
    (outcome, context.steps)
}

fn is_cors_preflight(request: &Request) -> bool {
    let has = |name: &str| {
        request
            .headers
            .iter()
            .any(|(header, value)| header.eq_ignore_ascii_case(name) && !value.is_empty())
    };
    request.method == "OPTIONS" && has("origin") && has("access-control-request-method")
}

fn rejected(failure: Failure, request: &Request) -> Rejected {
    let message = failure.message;
    let scheme = request
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("x-forwarded-proto"))
        .map_or("http", |(_, value)| value.as_str());
    let mut www_authenticate = format!(
        "Bearer realm=\"{scheme}://{}{}\"",
        request.host, request.path
    );
    if message != MISSED {
        www_authenticate.push_str(", error=\"invalid_token\"");
    }
    Rejected {
        status: if message == AUDIENCE_NOT_ALLOWED {
            403
        } else {
            401
        },
        message,
        response_code_details: response_code_details(message),
        www_authenticate,
        policy: failure.origin.map(|origin| origin.policy),
    }
}

/// `jwt_authn_access_denied{…}` with every whitespace character replaced by `_`.
pub fn response_code_details(message: &str) -> String {
    let text: String = message
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    format!("jwt_authn_access_denied{{{text}}}")
}

impl Context<'_> {
    /// Records a step, once: istiod's requirement tree names each provider twice (alone, then
    /// with `allow_missing`), and Envoy checks it both times with the same result.
    fn step(&mut self, origin: Option<&Origin>, outcome: &str, message: String) {
        let step = Step {
            stage: Stage::Authn,
            policy: origin.map(|origin| origin.policy.clone()),
            rule: origin.map(|origin| origin.rule),
            outcome: outcome.to_owned(),
            message,
        };
        if !self.steps.contains(&step) {
            self.steps.push(step);
        }
    }

    fn passed(&self) -> Passed {
        let payload = self
            .last_payload_key
            .as_ref()
            .and_then(|key| self.metadata.get(key))
            .cloned();
        let claim = |name: &str| {
            payload
                .as_ref()
                .and_then(|payload| payload.get(name))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Passed {
            request_principal: payload
                .as_ref()
                .map(|_| format!("{}/{}", claim("iss"), claim("sub"))),
            payload,
            metadata: self.metadata.clone(),
            headers: self.headers.clone(),
        }
    }

    fn evaluate(&mut self, requirement: &JwtRequirement) -> Status {
        match requirement {
            JwtRequirement::ProviderName(name) => self.verify_provider(Some(name), false),
            JwtRequirement::AllowMissing(_) => self.verify_provider(None, true),
            JwtRequirement::RequiresAll(list) => {
                for child in &list.requirements {
                    self.evaluate(child)?;
                }
                Ok(())
            }
            JwtRequirement::RequiresAny(list) => {
                let allow_missing = list
                    .requirements
                    .iter()
                    .any(|child| matches!(child, JwtRequirement::AllowMissing(_)));
                let mut children: Vec<&JwtRequirement> = list
                    .requirements
                    .iter()
                    .filter(|child| !matches!(child, JwtRequirement::AllowMissing(_)))
                    .collect();
                let allow_missing_only = [requirement_allow_missing()];
                if children.is_empty() && allow_missing {
                    children = allow_missing_only.iter().collect();
                }
                let mut failures = Vec::new();
                for child in children {
                    match self.evaluate(child) {
                        Ok(()) => return Ok(()),
                        Err(status) => failures.push(status),
                    }
                }
                // Envoy prefers a real error to `Jwt issuer is not configured`, and that to
                // `Jwt is missing`; among real errors the last child's wins. The provider of the
                // chosen status is the one that decided.
                let mut status = Failure {
                    message: MISSED,
                    origin: None,
                };
                for failure in failures {
                    let real = failure.message != MISSED && failure.message != UNKNOWN_ISSUER;
                    if real || status.message == MISSED {
                        status = failure;
                    }
                }
                if allow_missing && status.message == MISSED {
                    return Ok(());
                }
                Err(status)
            }
        }
    }

    /// One provider's verifier (`name`), or the verifier of every provider for a lone
    /// `allow_missing`. A provider's verifier stops at the first bad token; the other reports
    /// the token it checked last.
    fn verify_provider(&mut self, name: Option<&String>, allow_missing: bool) -> Status {
        let providers: Vec<(&String, &JwtProvider)> = match name {
            Some(name) => self.providers.get_key_value(name).into_iter().collect(),
            None => self.providers.iter().collect(),
        };
        // Envoy drops client-sent copies of the headers it will write, so they cannot be forged.
        for (_, provider) in &providers {
            let mut written = vec![provider.forward_payload_header.as_str()];
            written.extend(
                provider
                    .claim_to_headers
                    .iter()
                    .map(|pair| pair.header_name.as_str()),
            );
            self.headers.retain(|(header, _)| {
                !written
                    .iter()
                    .any(|name| !name.is_empty() && header.eq_ignore_ascii_case(name))
            });
        }
        let configs: Vec<&JwtProvider> = providers.iter().map(|(_, provider)| *provider).collect();
        let found = extract(&configs, &self.headers, &self.path);
        let origin = name.and_then(|name| self.built.origins.get(name));
        if found.is_empty() {
            let failure = Failure {
                message: MISSED,
                origin: origin.cloned(),
            };
            self.step(
                origin,
                "missing",
                format!("{}: no token at its locations", provider_label(name)),
            );
            return Err(failure);
        }
        let mut status = Ok(());
        for token in found.iter().rev() {
            status = self.verify_token(token, name);
            if status.is_err() && !allow_missing {
                return status;
            }
        }
        status
    }

    fn verify_token(&mut self, found: &Found, name: Option<&String>) -> Status {
        let label = format!("{}, token from {}", provider_label(name), found.location);
        let jwt = match parse_jwt(&found.token) {
            Ok(jwt) => jwt,
            Err(message) => {
                let origin = name.and_then(|name| self.built.origins.get(name)).cloned();
                self.step(origin.as_ref(), "rejected", format!("{label}: {message}"));
                return Err(Failure { message, origin });
            }
        };
        let provider_name = match name {
            Some(name) => Some(name.clone()),
            None => self.provider_for_issuer(&jwt.iss),
        };
        let origin = provider_name
            .as_ref()
            .and_then(|name| self.built.origins.get(name))
            .cloned();
        let result = if found.issuers.allows(&jwt.iss) {
            match &provider_name {
                Some(provider_name) => self.check(&jwt, provider_name),
                None => Err((UNKNOWN_ISSUER, String::new())),
            }
        } else {
            Err((UNKNOWN_ISSUER, String::new()))
        };
        match result {
            Ok(key_index) => {
                let provider_name = provider_name.unwrap_or_default();
                let effects = self.accept(found, &jwt, &provider_name);
                self.step(
                    origin.as_ref(),
                    "accepted",
                    format!(
                        "{label}: issuer {:?}, subject {:?}, verified by key {key_index}{effects}",
                        jwt.iss, jwt.sub
                    ),
                );
                Ok(())
            }
            Err((status, detail)) => {
                let detail = if status == UNKNOWN_ISSUER {
                    format!(" (the token's issuer is {:?})", jwt.iss)
                } else {
                    detail
                };
                self.step(
                    origin.as_ref(),
                    "rejected",
                    format!("{label}: {status}{detail}"),
                );
                Err(Failure {
                    message: status,
                    origin,
                })
            }
        }
    }

    /// First provider whose issuer is `issuer`, else the first without an issuer.
    fn provider_for_issuer(&self, issuer: &str) -> Option<String> {
        self.providers
            .iter()
            .find(|(_, provider)| provider.issuer == issuer)
            .or_else(|| {
                self.providers
                    .iter()
                    .find(|(_, provider)| provider.issuer.is_empty())
            })
            .map(|(name, _)| name.clone())
    }

    /// Times, audiences, then keys, as Envoy's authenticator orders them. Returns the index of
    /// the key that verified, or the status with a detail for the explanation.
    fn check(&mut self, jwt: &Jwt, name: &str) -> Result<usize, (&'static str, String)> {
        let Some(provider) = self.providers.get(name) else {
            return Err((UNKNOWN_ISSUER, String::new()));
        };
        if self.now.saturating_add(CLOCK_SKEW_SECONDS) < jwt.nbf {
            return Err((
                "Jwt not yet valid",
                format!(
                    " (nbf {} is more than 60 s after now, {})",
                    jwt.nbf, self.now
                ),
            ));
        }
        if jwt.exp != 0 && self.now > jwt.exp.saturating_add(CLOCK_SKEW_SECONDS) {
            return Err((
                "Jwt is expired",
                format!(
                    " (exp {} is more than 60 s before now, {})",
                    jwt.exp, self.now
                ),
            ));
        }
        if !audiences_allowed(&provider.audiences, &jwt.audiences) {
            return Err((
                AUDIENCE_NOT_ALLOWED,
                format!(
                    " (token aud {:?}, allowed {:?})",
                    jwt.audiences, provider.audiences
                ),
            ));
        }
        let inline = provider
            .local_jwks
            .as_ref()
            .map(|source| source.inline_string.as_str())
            .unwrap_or_default();
        let keys = self
            .jwks
            .entry(name.to_owned())
            .or_insert_with(|| jwks::parse_jwks(inline));
        verify_signature(jwt, inline, keys, CHECK_JWKS_FLAG)
    }

    /// Applies what an accepted token changes, and says what in words.
    fn accept(&mut self, found: &Found, jwt: &Jwt, name: &str) -> String {
        let Some(provider) = self.providers.get(name) else {
            return String::new();
        };
        let mut effects = Vec::new();
        if !provider.forward_payload_header.is_empty() {
            self.headers.push((
                provider.forward_payload_header.to_ascii_lowercase(),
                jwt.payload_segment.clone(),
            ));
            effects.push(format!(
                "payload sent in {}",
                provider.forward_payload_header
            ));
        }
        for pair in &provider.claim_to_headers {
            if let Some(value) = claim_header_value(&jwt.payload, &pair.claim_name) {
                self.headers
                    .push((pair.header_name.to_ascii_lowercase(), value));
                effects.push(format!(
                    "claim {} sent in {}",
                    pair.claim_name, pair.header_name
                ));
            }
        }
        if provider.forward {
            effects.push("token forwarded".to_owned());
        } else if let Location::Header { name: header, .. } = &found.location {
            self.headers
                .retain(|(name, _)| !name.eq_ignore_ascii_case(header));
            effects.push(format!("{header} removed"));
        } else if let Location::Param(param) = &found.location {
            // Envoy removes the parameter from the query (measured with 1.40), so the verifiers
            // that run after this one no longer find the token there, even when this provider
            // then fails on another token.
            self.path = without_query_param(&self.path, param);
            effects.push(format!("{} removed", found.location));
        } else {
            effects.push(format!("{} kept", found.location));
        }
        if !provider.payload_in_metadata.is_empty() {
            let spaced = provider
                .normalize_payload_in_metadata
                .as_ref()
                .map(|normalize| normalize.space_delimited_claims.as_slice())
                .unwrap_or_default();
            self.metadata.insert(
                provider.payload_in_metadata.clone(),
                Value::Object(normalize(&jwt.payload, spaced)),
            );
            self.last_payload_key = Some(provider.payload_in_metadata.clone());
        }
        if effects.is_empty() {
            String::new()
        } else {
            format!("; {}", effects.join(", "))
        }
    }
}

/// The `idflow check` flag that supplies the JWKS of a `jwksUri`, for explanations.
pub const CHECK_JWKS_FLAG: &str = "--jwks ISSUER_OR_URI=FILE";

/// Verifies the signature of `jwt` with `keys`, parsed from a provider's inline JWKS `inline`, as
/// Envoy's authenticator does after the time and audience checks. Returns the index of the key
/// that verified, or Envoy's status with a detail for the explanation. When `inline` is istiod's
/// stand-in key set, the detail states that istiod could not fetch the `jwksUri` and that
/// `jwks_flag` supplies the keys.
pub fn verify_signature(
    jwt: &Jwt,
    inline: &str,
    keys: &Result<Jwks, jwks::JwksError>,
    jwks_flag: &str,
) -> Result<usize, (&'static str, String)> {
    // istiod's stand-in explains the failure better than the error it causes.
    let stand_in = jwks::istiod_fetch_failure(inline).map(|uri| {
        format!(
            " (istiod could not fetch the JWKS from {uri:?} and inlined a stand-in key, so \
             every token fails until it can. Check istiod's logs and its route to the JWKS URI, \
             or give the keys with {jwks_flag})"
        )
    });
    let keys = match keys {
        Ok(keys) => keys,
        Err(error) => {
            return Err((
                NO_VALID_KEYS,
                stand_in.unwrap_or_else(|| format!(" ({error})")),
            ));
        }
    };
    verify_jwt(&jwt.signed(), keys).map_err(|error| {
        let detail = stand_in.unwrap_or_else(|| format!(" ({error})"));
        (error.envoy_status(), detail)
    })
}

/// Returns `path` without every `name=value` pair of its query whose decoded name is `param`, and
/// without the `?` when no pair is left.
fn without_query_param(path: &str, param: &str) -> String {
    let Some((before, query)) = path.split_once('?') else {
        return path.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(name, _)| name);
            !pair.is_empty() && percent_decode(name) != param
        })
        .collect();
    if kept.is_empty() {
        before.to_owned()
    } else {
        format!("{before}?{}", kept.join("&"))
    }
}

fn requirement_allow_missing() -> JwtRequirement {
    JwtRequirement::AllowMissing(super::config::Empty {})
}

fn provider_label(name: Option<&String>) -> String {
    name.map_or_else(
        || "any provider".to_owned(),
        |name| format!("provider {name}"),
    )
}

/// Envoy compares audiences after removing an `http://` or `https://` scheme and a trailing `/`;
/// no configured audience means no check.
fn audiences_allowed(allowed: &[String], token: &[String]) -> bool {
    fn sanitize(audience: &str) -> &str {
        let audience = audience
            .strip_prefix("http://")
            .or_else(|| audience.strip_prefix("https://"))
            .unwrap_or(audience);
        audience.strip_suffix('/').unwrap_or(audience)
    }
    allowed.is_empty()
        || token.iter().any(|aud| {
            allowed
                .iter()
                .any(|allowed| sanitize(allowed) == sanitize(aud))
        })
}

/// Splits the listed string claims on spaces into lists, as `normalize_payload_in_metadata` does.
fn normalize(payload: &Map<String, Value>, claims: &[String]) -> Map<String, Value> {
    let mut normalized = payload.clone();
    for claim in claims {
        if let Some(Value::String(text)) = payload.get(claim) {
            let parts: Vec<Value> = text
                .split(' ')
                .filter(|part| !part.is_empty())
                .map(|part| Value::String(part.to_owned()))
                .collect();
            if !parts.is_empty() {
                normalized.insert(claim.clone(), Value::Array(parts));
            }
        }
    }
    normalized
}

/// The header value Envoy writes for a claim (`a.b` reads nested objects): strings as they are,
/// whole non-negative numbers as integers, booleans as `true`/`false`, objects and lists as
/// base64 of their JSON.
fn claim_header_value(payload: &Map<String, Value>, claim: &str) -> Option<String> {
    let mut parts = claim.split('.');
    let mut value = payload.get(parts.next()?)?;
    for part in parts {
        value = value.get(part)?;
    }
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => match (number.as_u64(), number.as_f64()) {
            (Some(whole), _) => whole.to_string(),
            // C++ `std::to_string(double)` prints six decimals.
            (None, Some(float)) => format!("{float:.6}"),
            (None, None) => return None,
        },
        Value::Array(_) | Value::Object(_) => {
            base64::engine::general_purpose::STANDARD.encode(value.to_string())
        }
        Value::Null => return None,
    };
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_underscores() {
        assert_eq!(
            response_code_details("Jwt is expired"),
            "jwt_authn_access_denied{Jwt_is_expired}"
        );
    }

    #[test]
    fn audience_scheme_ignored() {
        assert!(audiences_allowed(
            &["https://api.example.com/".to_owned()],
            &["api.example.com".to_owned()]
        ));
    }

    #[test]
    fn scope_split() {
        let payload = serde_json::json!({"scope": "read  write"});
        let payload = payload.as_object().cloned().unwrap_or_default();
        let normalized = normalize(&payload, &["scope".to_owned()]);
        assert_eq!(normalized["scope"], serde_json::json!(["read", "write"]));
    }

    #[test]
    fn claim_values() {
        let payload = serde_json::json!({"n": 7, "b": true, "o": {"k": "v"}});
        let payload = payload.as_object().cloned().unwrap_or_default();
        assert_eq!(claim_header_value(&payload, "n").as_deref(), Some("7"));
        assert_eq!(claim_header_value(&payload, "b").as_deref(), Some("true"));
        assert_eq!(claim_header_value(&payload, "o.k").as_deref(), Some("v"));
    }

    #[test]
    fn query_param_removed() {
        let cases = [
            ("/a?access_token=t", "/a"),
            ("/a?x=1&access_token=t&y=2", "/a?x=1&y=2"),
            ("/a?access%5Ftoken=t&access_token=u", "/a"),
            ("/a?access_token", "/a"),
            ("/a?x=1", "/a?x=1"),
            ("/a", "/a"),
        ];
        for (path, expected) in cases {
            assert_eq!(
                without_query_param(path, "access_token"),
                expected,
                "{path}"
            );
        }
    }
}
