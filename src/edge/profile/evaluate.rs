//! What the EdgeWorker a profile describes decides for one token, in the order of Akamai's
//! `JWTValidator.validate`: parts, header and payload, `iss`, `sub`, `aud`, `exp`, `nbf`, `alg`,
//! then the signature against each key.

use std::fmt::{self, Write as _};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{EDGEWORKER_ERROR_STATUS, EdgeProfile, MissingToken, TokenLocation};
use crate::token::Inspection;
use crate::token::jwks::{Jwks, websafe_decode};
use crate::token::keys::KeySet;
use crate::token::verify::verify_signature_only;

/// Envoy's `jwt_authn` clock skew (`clock_skew_seconds` default), which Istio does not change.
pub(super) const ENVOY_CLOCK_SKEW_SECONDS: i64 = 60;

/// The edge's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileVerdict {
    /// The request goes on to origin (the mesh).
    Allow,
    /// The EdgeWorker responds to the client itself, so origin never receives the request.
    Deny,
    /// The EdgeWorker failed and the property continues on error: the request goes on unchecked.
    FailOpen,
}

/// A header as the next hop receives it.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ForwardedHeader {
    pub name: String,
    /// The value, with any token replaced by `<token sha256:…>`.
    pub value: String,
    /// The value with the token in it; never serialized.
    #[serde(skip)]
    revealed: Option<String>,
}

impl ForwardedHeader {
    fn plain(name: &str, value: String) -> Self {
        Self {
            name: name.to_owned(),
            value,
            revealed: None,
        }
    }

    /// Builds a header whose value contains `token` in place of the `{}` in `template`.
    fn with_token(name: &str, template: &str, token: &str, fingerprint: &str) -> Self {
        Self {
            name: name.to_owned(),
            value: template.replacen("{}", &format!("<token {fingerprint}>"), 1),
            revealed: Some(template.replacen("{}", token, 1)),
        }
    }

    /// Returns the value, with the token only when `show_secrets` is set.
    pub fn shown(&self, show_secrets: bool) -> &str {
        match &self.revealed {
            Some(value) if show_secrets => value,
            _ => &self.value,
        }
    }
}

impl fmt::Debug for ForwardedHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardedHeader")
            .field("name", &self.name)
            .field("value", &self.value)
            .finish_non_exhaustive()
    }
}

/// What the edge decides for one token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdgeDecision {
    pub verdict: ProfileVerdict,
    /// Status the EdgeWorker (or Akamai, when it fails) responds with. `None` when the request
    /// goes on to origin, whose status the edge passes back.
    pub status: Option<u16>,
    /// Why, in words.
    pub reason: String,
    /// The exact message Akamai's validator throws, when the verdict comes from one.
    pub edgeworker_error: Option<String>,
    /// Whether the token went through the validator and passed.
    pub validated: bool,
    /// Whether a key checked the signature.
    pub signature_checked: bool,
    /// Observations on this token: edge checks it slipped through, and mesh checks that would
    /// judge it differently.
    pub notes: Vec<String>,
    /// Identity headers the next hop receives, in order.
    pub forwarded_headers: Vec<ForwardedHeader>,
}

/// The token as the edge reads it from the request.
enum Located {
    /// No token where the edge looks. The reason names where it was instead.
    Missing(String),
    /// The header lacks the required scheme.
    SchemeRejected(String),
    /// The text handed to the validator, and notes on how it was found.
    Found { passed: String, notes: Vec<String> },
}

/// Outcome of the validator.
enum Checked {
    Passed {
        claims: Map<String, Value>,
        signature_checked: bool,
        notes: Vec<String>,
    },
    Failed {
        thrown: Option<String>,
        reason: String,
        notes: Vec<String>,
    },
    /// The EdgeWorker cannot run the check at all.
    Error(String),
}

impl EdgeProfile {
    /// Decides what the EdgeWorker does with the token in `inspection` at time `now`. `keys` are
    /// the keys of the profile's key source, or `None` when it could not be loaded (then the
    /// EdgeWorker fails), or, for a profile without a key source, the keys the caller has.
    pub fn evaluate(
        &self,
        inspection: &Inspection,
        keys: Option<&KeySet>,
        now: DateTime<Utc>,
    ) -> EdgeDecision {
        let (passed, mut notes) = match self.locate(inspection) {
            Located::Missing(reason) => return self.missing(inspection, &reason),
            Located::SchemeRejected(reason) => {
                return self.deny(&reason, None, Vec::new());
            }
            Located::Found { passed, notes } => (passed, notes),
        };
        match self.validate(&passed, inspection, keys, now) {
            Checked::Passed {
                claims,
                signature_checked,
                notes: check_notes,
            } => {
                notes.extend(check_notes);
                let mut forwarded = self.original_token(inspection);
                forwarded.extend(self.written_headers(inspection, &claims, &mut notes));
                forwarded.push(self.request_id());
                EdgeDecision {
                    verdict: ProfileVerdict::Allow,
                    status: None,
                    reason: format!(
                        "the token passed the edge's checks ({}); the request goes on to origin",
                        self.checks_made(signature_checked)
                    ),
                    edgeworker_error: None,
                    validated: true,
                    signature_checked,
                    notes,
                    forwarded_headers: forwarded,
                }
            }
            Checked::Failed {
                thrown,
                reason,
                notes: check_notes,
            } => {
                notes.extend(check_notes);
                self.deny(&reason, thrown, notes)
            }
            Checked::Error(reason) => self.edgeworker_failed(&reason, notes, inspection),
        }
    }

    /// Finds the token at the location the profile gives.
    fn locate(&self, inspection: &Inspection) -> Located {
        let token = inspection.token.expose();
        if let Some(pasted) = &inspection.header_name {
            let same = matches!(&self.location, TokenLocation::Header(name) if name == pasted);
            if !same {
                return Located::Missing(format!(
                    "the token came in header `{pasted}`, but the edge reads {}",
                    self.location
                ));
            }
        }
        if !matches!(self.location, TokenLocation::Header(_)) {
            return Located::Found {
                passed: token.to_owned(),
                notes: Vec::new(),
            };
        }
        let value = match &inspection.scheme {
            Some(scheme) => format!("{scheme} {token}"),
            None => token.to_owned(),
        };
        if self.scheme.is_empty() {
            return Located::Found {
                passed: value,
                notes: Vec::new(),
            };
        }
        let mut notes = Vec::new();
        let stripped = if self.scheme_case_sensitive {
            // The examples call `jwt.replace('Bearer ', '')`, which removes the first occurrence
            // anywhere in the value, case-sensitively.
            value
                .find(&self.scheme)
                .map(|_| value.replacen(&self.scheme, "", 1))
        } else {
            value
                .get(..self.scheme.len())
                .filter(|prefix| prefix.eq_ignore_ascii_case(&self.scheme))
                .map(|_| value[self.scheme.len()..].trim_start().to_owned())
        };
        match stripped {
            Some(passed) => {
                if !value.starts_with(&self.scheme) {
                    notes.push(format!(
                        "the edge accepted the scheme {:?}, which is not `{}` exactly; Envoy's \
                         prefix match is case-sensitive, so the mesh treats the forwarded token as \
                         missing (no request principal; 403 where a policy requires one)",
                        inspection.scheme.as_deref().unwrap_or_default(),
                        self.scheme.trim_end()
                    ));
                }
                Located::Found { passed, notes }
            }
            None if self.scheme_required => Located::SchemeRejected(format!(
                "the header value does not start with the scheme {:?}, which the edge requires",
                self.scheme
            )),
            None => {
                if inspection.scheme.is_none() {
                    notes.push(format!(
                        "the token has no scheme; the edge validates it as it is, but Envoy looks \
                         for `{}` and treats the token as missing",
                        self.scheme.trim_end()
                    ));
                }
                Located::Found {
                    passed: value,
                    notes,
                }
            }
        }
    }

    /// Runs Akamai's validator steps on `passed`, the text the EdgeWorker hands to `validate`.
    fn validate(
        &self,
        passed: &str,
        inspection: &Inspection,
        keys: Option<&KeySet>,
        now: DateTime<Utc>,
    ) -> Checked {
        let mut notes = Vec::new();
        let fail = |thrown: Option<&str>, reason: String, notes: Vec<String>| Checked::Failed {
            thrown: thrown.map(str::to_owned),
            reason,
            notes,
        };
        let parts: Vec<&str> = passed.split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return fail(
                Some(
                    "JWT malformed: Invalid number of parts for JWT token. expected 3 or 2 (unsecured JWT)!",
                ),
                format!(
                    "the token has {} dot-separated parts; the validator takes 2 or 3",
                    parts.len()
                ),
                notes,
            );
        }
        if parts[0].trim().is_empty() {
            return fail(
                Some("JWT malformed: jwt header cannot be empty"),
                "the header segment is empty".to_owned(),
                notes,
            );
        }
        if parts[1].trim().is_empty() {
            return fail(
                Some("JWT malformed: jwt payload cannot be empty"),
                "the payload segment is empty".to_owned(),
                notes,
            );
        }
        let not_stripped = passed != inspection.token.expose();
        let (Some(header), Some(claims)) = (json_object(parts[0]), json_object(parts[1])) else {
            let failure_reason = if not_stripped {
                "the validator received the header value with its scheme still in front, so the \
                 first segment is not base64url JSON and decoding it throws"
            } else {
                "a segment is not base64url-encoded JSON, so decoding it throws"
            };
            return fail(None, failure_reason.to_owned(), notes);
        };

        if let Some(failure) = self.check_claim("iss", &self.issuers, &claims, &mut notes) {
            return fail(Some(&failure.0), failure.1, notes);
        }
        if let Some(failure) = self.check_audience(&claims, &mut notes) {
            return fail(Some(&failure.0), failure.1, notes);
        }
        if let Some(failure) = self.check_times(&claims, now, &mut notes) {
            return fail(Some(&failure.0), failure.1, notes);
        }

        let alg = match header.get("alg") {
            Some(Value::String(alg)) if !alg.is_empty() => alg.to_ascii_uppercase(),
            Some(value) if is_truthy(value) => {
                return fail(
                    None,
                    "the header's `alg` is not a string, so `toUpperCase` throws".to_owned(),
                    notes,
                );
            }
            _ => {
                return fail(
                    Some("JWT malformed: expected alg field in JWT header"),
                    "the header has no `alg`".to_owned(),
                    notes,
                );
            }
        };
        if alg == "NONE" {
            if self.algorithms.iter().any(|allowed| allowed == "NONE") {
                notes.push(
                    "the edge accepts this unsigned token (`alg` none, allowUnsecuredToken); \
                     Envoy's jwt_authn rejects it with 401 `Jwt header [alg] is not supported`"
                        .to_owned(),
                );
                return Checked::Passed {
                    claims,
                    signature_checked: false,
                    notes,
                };
            }
            return fail(
                Some("Unsecured JWT Token are not allowed"),
                "the token is unsigned (`alg` none) and the profile does not allow NONE".to_owned(),
                notes,
            );
        }
        if !self.algorithms.contains(&alg) {
            return fail(
                Some(&format!("{alg} is not supported at the moment")),
                format!(
                    "`alg` {alg} is not in the edge's algorithms ({})",
                    self.algorithms.join(", ")
                ),
                notes,
            );
        }
        self.check_signature(passed, parts.len(), keys, claims, notes)
    }

    /// Checks a string claim (`iss`) as the module does: only when the profile lists values and the
    /// token's claim is truthy, unless the profile requires the claim.
    fn check_claim(
        &self,
        claim: &str,
        accepted: &[String],
        claims: &Map<String, Value>,
        notes: &mut Vec<String>,
    ) -> Option<(String, String)> {
        if accepted.is_empty() {
            return None;
        }
        let expected = accepted.join(" or ");
        match claims.get(claim) {
            Some(Value::String(value)) if accepted.contains(value) => None,
            Some(value) if is_truthy(value) => Some((
                format!("JWT malformed: invalid {claim}, expected {expected}"),
                format!("`{claim}` {value} is not one the edge accepts ({expected})"),
            )),
            _ if self.skip_absent_claims => {
                notes.push(format!(
                    "the token has no `{claim}`, so the edge skipped its `{claim}` check, as \
                     Akamai's validator does; the mesh matches tokens to jwtRules by `iss`"
                ));
                None
            }
            _ => Some((
                format!("JWT malformed: invalid {claim}, expected {expected}"),
                format!("the token has no `{claim}` and the edge requires one"),
            )),
        }
    }

    /// Checks `aud`: a string or a list that must contain one accepted audience.
    fn check_audience(
        &self,
        claims: &Map<String, Value>,
        notes: &mut Vec<String>,
    ) -> Option<(String, String)> {
        if self.audiences.is_empty() {
            return None;
        }
        let expected = self.audiences.join(" or ");
        let thrown = format!("JWT malformed: invalid aud, expected {expected}");
        let values: Vec<&str> = match claims.get("aud") {
            Some(Value::String(aud)) if !aud.is_empty() => vec![aud.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ if self.skip_absent_claims => {
                notes.push(
                    "the token has no `aud` the validator reads (a string or a list), so the edge \
                     skipped its audience check, as Akamai's validator does"
                        .to_owned(),
                );
                return None;
            }
            _ => {
                return Some((
                    thrown,
                    "the token has no `aud` and the edge requires one".to_owned(),
                ));
            }
        };
        if values
            .iter()
            .any(|aud| self.audiences.iter().any(|accepted| accepted == aud))
        {
            return None;
        }
        Some((
            thrown,
            format!(
                "`aud` [{}] holds none of the edge's audiences ({expected})",
                values.join(", ")
            ),
        ))
    }

    /// Checks `exp` and `nbf` when the profile turns the checks on, and notes what a skipped check
    /// let through.
    fn check_times(
        &self,
        claims: &Map<String, Value>,
        now: DateTime<Utc>,
        notes: &mut Vec<String>,
    ) -> Option<(String, String)> {
        #[allow(clippy::cast_precision_loss)] // Unix seconds stay far below 2^52.
        let now_seconds = now.timestamp() as f64;
        let tolerance = f64::from(self.clock_tolerance_seconds);
        let exp = claims.get("exp");
        let nbf = claims.get("nbf");
        if self.check_exp {
            let Some(exp) = exp.and_then(Value::as_f64) else {
                return Some((
                    "JWT malformed: exp must be number".to_owned(),
                    "the token has no numeric `exp`, which the edge requires when it checks expiry"
                        .to_owned(),
                ));
            };
            if exp != 0.0 && now_seconds > exp + tolerance {
                return Some((
                    "JWT expired".to_owned(),
                    format!(
                        "the token expired {} s ago, past the edge's {} s clock tolerance",
                        seconds(now_seconds - exp),
                        self.clock_tolerance_seconds
                    ),
                ));
            }
        } else if let Some(exp) = exp.and_then(Value::as_f64)
            && now_seconds > exp
        {
            let ago = now_seconds - exp;
            let mesh = mesh_time_verdict(ago, "Jwt is expired");
            notes.push(format!(
                "the token expired {} s ago; the edge does not check `exp`, so it lets the token \
                 through, and {mesh}",
                seconds(ago)
            ));
        }
        if self.check_nbf {
            let Some(nbf) = nbf.and_then(Value::as_f64) else {
                return Some((
                    "JWT malformed: nbf must be number".to_owned(),
                    "the token has no numeric `nbf`, which the edge requires when it checks \
                     not-before; the mesh accepts tokens without `nbf`"
                        .to_owned(),
                ));
            };
            if nbf != 0.0 && nbf > now_seconds + tolerance {
                return Some((
                    "JWT not active".to_owned(),
                    format!(
                        "the token is valid only in {} s, past the edge's {} s clock tolerance",
                        seconds(nbf - now_seconds),
                        self.clock_tolerance_seconds
                    ),
                ));
            }
        } else if let Some(nbf) = nbf.and_then(Value::as_f64)
            && nbf > now_seconds
        {
            let ahead = nbf - now_seconds;
            let mesh = mesh_time_verdict(ahead, "Jwt not yet valid");
            notes.push(format!(
                "the token is not valid for another {} s; the edge does not check `nbf`, so it \
                 lets the token through, and {mesh}",
                seconds(ahead)
            ));
        }
        None
    }

    /// Tries every key, as the module does with its list of keys: the `kid` plays no part.
    fn check_signature(
        &self,
        passed: &str,
        part_count: usize,
        keys: Option<&KeySet>,
        claims: Map<String, Value>,
        mut notes: Vec<String>,
    ) -> Checked {
        let Some(set) = keys else {
            if let Some(source) = &self.key_source {
                return Checked::Error(format!(
                    "the key source ({}) could not be loaded, so the EdgeWorker cannot import a key",
                    describe_source(source)
                ));
            }
            notes.push(
                "the signature was not checked: the profile names no key source and no keys were \
                 given"
                    .to_owned(),
            );
            return Checked::Passed {
                claims,
                signature_checked: false,
                notes,
            };
        };
        if set.jwks.keys.is_empty() {
            return Checked::Error(format!(
                "{} contains no usable key, so the EdgeWorker cannot import one",
                set.label
            ));
        }
        let thrown = "JWT token signature verification failed!";
        if part_count < 3 {
            return Checked::Failed {
                thrown: None,
                reason: "the token has no signature segment, so decoding it throws".to_owned(),
                notes,
            };
        }
        let jwks = Jwks {
            keys: set
                .jwks
                .keys
                .iter()
                .map(|key| {
                    let mut key = key.clone();
                    key.kid.clear();
                    key
                })
                .collect(),
            skipped: Vec::new(),
        };
        match verify_signature_only(passed, &jwks) {
            Ok(_) => Checked::Passed {
                claims,
                signature_checked: true,
                notes,
            },
            Err(error) => Checked::Failed {
                thrown: Some(thrown.to_owned()),
                reason: format!("no key of {} verifies the signature: {error}", set.label),
                notes,
            },
        }
    }

    /// Names the checks that ran, for the allow reason.
    fn checks_made(&self, signature_checked: bool) -> String {
        let mut checks = Vec::new();
        if !self.issuers.is_empty() {
            checks.push("issuer");
        }
        if !self.audiences.is_empty() {
            checks.push("audience");
        }
        if self.check_exp {
            checks.push("exp");
        }
        if self.check_nbf {
            checks.push("nbf");
        }
        checks.push("alg");
        if signature_checked {
            checks.push("signature");
        }
        checks.join(", ")
    }

    fn deny(&self, reason: &str, thrown: Option<String>, notes: Vec<String>) -> EdgeDecision {
        EdgeDecision {
            verdict: ProfileVerdict::Deny,
            status: Some(self.deny_status),
            reason: format!(
                "{reason}; the EdgeWorker responds with {}",
                self.deny_status
            ),
            edgeworker_error: thrown,
            validated: false,
            signature_checked: false,
            notes,
            forwarded_headers: Vec::new(),
        }
    }

    fn missing(&self, inspection: &Inspection, reason: &str) -> EdgeDecision {
        let mut reason = format!("no token where the edge looks: {reason}");
        let (verdict, status, forwarded) = match self.missing_token {
            MissingToken::Deny => {
                let _ = write!(
                    reason,
                    "; the EdgeWorker responds with {}",
                    self.missing_status
                );
                (ProfileVerdict::Deny, Some(self.missing_status), Vec::new())
            }
            MissingToken::Forward => {
                reason.push_str(
                    "; the EdgeWorker lets the request go on unchecked, which looks like a \
                     validated request downstream",
                );
                let mut forwarded = self.original_token(inspection);
                forwarded.push(self.request_id());
                (ProfileVerdict::Allow, None, forwarded)
            }
        };
        if !self.public_paths.is_empty() {
            let _ = write!(
                reason,
                " (requests to paths starting with {} go on without a token)",
                self.public_paths.join(", ")
            );
        }
        EdgeDecision {
            verdict,
            status,
            reason,
            edgeworker_error: None,
            validated: false,
            signature_checked: false,
            notes: Vec::new(),
            forwarded_headers: forwarded,
        }
    }

    fn edgeworker_failed(
        &self,
        reason: &str,
        notes: Vec<String>,
        inspection: &Inspection,
    ) -> EdgeDecision {
        if self.fail_open {
            let mut forwarded = self.original_token(inspection);
            forwarded.push(self.request_id());
            return EdgeDecision {
                verdict: ProfileVerdict::FailOpen,
                status: None,
                reason: format!(
                    "the EdgeWorker fails: {reason}; the property continues on error, so the \
                     request goes on to origin unchecked"
                ),
                edgeworker_error: None,
                validated: false,
                signature_checked: false,
                notes,
                forwarded_headers: forwarded,
            };
        }
        EdgeDecision {
            verdict: ProfileVerdict::Deny,
            status: Some(EDGEWORKER_ERROR_STATUS),
            reason: format!(
                "the EdgeWorker fails: {reason}; without continue on error Akamai responds with \
                 {EDGEWORKER_ERROR_STATUS}"
            ),
            edgeworker_error: None,
            validated: false,
            signature_checked: false,
            notes,
            forwarded_headers: Vec::new(),
        }
    }

    /// Returns the token where the client sent it, unless the EdgeWorker removes it from its own
    /// location.
    fn original_token(&self, inspection: &Inspection) -> Vec<ForwardedHeader> {
        let token = inspection.token.expose();
        let fingerprint = &inspection.fingerprint;
        let at_edge_location = match (&inspection.header_name, &self.location) {
            (Some(pasted), TokenLocation::Header(name)) => pasted == name,
            (Some(_), _) => false,
            (None, _) => true,
        };
        if at_edge_location && !self.forward.keep_token {
            return Vec::new();
        }
        let header = match (&inspection.header_name, &self.location) {
            (Some(pasted), _) => ForwardedHeader::with_token(
                pasted,
                &scheme_template(inspection.scheme.as_deref()),
                token,
                fingerprint,
            ),
            (None, TokenLocation::Header(name)) => ForwardedHeader::with_token(
                name,
                &scheme_template(inspection.scheme.as_deref()),
                token,
                fingerprint,
            ),
            (None, TokenLocation::Query(name)) => {
                ForwardedHeader::with_token(":path", &format!("…?{name}={{}}"), token, fingerprint)
            }
            (None, TokenLocation::Cookie(name)) => {
                ForwardedHeader::with_token("cookie", &format!("{name}={{}}"), token, fingerprint)
            }
        };
        vec![header]
    }

    /// Headers the EdgeWorker writes after a successful validation: the token copy and the claims.
    fn written_headers(
        &self,
        inspection: &Inspection,
        claims: &Map<String, Value>,
        notes: &mut Vec<String>,
    ) -> Vec<ForwardedHeader> {
        let mut headers = Vec::new();
        if let Some(name) = &self.forward.token_header {
            let template = format!("{}{{}}", self.forward.token_prefix);
            headers.push(ForwardedHeader::with_token(
                name,
                &template,
                inspection.token.expose(),
                &inspection.fingerprint,
            ));
        }
        for (claim, header) in &self.forward.claims {
            let Some(value) = claims.get(claim) else {
                notes.push(format!(
                    "the token has no `{claim}` claim, so the edge does not set `{header}`"
                ));
                continue;
            };
            headers.push(ForwardedHeader::plain(header, js_string(value)));
        }
        headers
    }

    fn request_id(&self) -> ForwardedHeader {
        ForwardedHeader::plain(
            &self.forward.request_id_header,
            "<edge request id>".to_owned(),
        )
    }
}

/// Returns what the mesh does with a token `seconds` past `exp` (or before `nbf`): Envoy rejects
/// it with `status` beyond its clock skew.
fn mesh_time_verdict(seconds: f64, status: &str) -> String {
    #[allow(clippy::cast_precision_loss)] // The skew is a small constant.
    let skew = ENVOY_CLOCK_SKEW_SECONDS as f64;
    if seconds > skew {
        format!("the mesh rejects it with 401 `{status}`")
    } else {
        format!("the mesh still accepts it within its {ENVOY_CLOCK_SKEW_SECONDS} s clock skew")
    }
}

/// Returns `Scheme {}` or `{}` for a header value as the client wrote it.
fn scheme_template(scheme: Option<&str>) -> String {
    match scheme {
        Some(scheme) => format!("{scheme} {{}}"),
        None => "{}".to_owned(),
    }
}

/// Describes a key source without its contents.
pub(super) fn describe_source(source: &super::KeySource) -> String {
    match source {
        super::KeySource::JwksFile(path) => format!("JWKS file {}", path.display()),
        super::KeySource::JwksUrl(url) => format!("JWKS URL {url}"),
        super::KeySource::Pem(_) => "the PEM key in the profile".to_owned(),
        super::KeySource::PemFile(path) => format!("PEM file {}", path.display()),
    }
}

/// Decodes a base64url segment holding a JSON object, or `None`.
fn json_object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = websafe_decode(segment)?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// JavaScript truthiness of a JSON value.
fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|number| number != 0.0),
        Value::String(text) => !text.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Converts a claim as JavaScript's `String(value)` does before `setHeader`.
fn js_string(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Null => String::new(),
                other => js_string(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".to_owned(),
        Value::Number(number) => number
            .as_i64()
            .map_or_else(|| number.to_string(), |whole| whole.to_string()),
        other => other.to_string(),
    }
}

/// Formats a number of seconds as a whole number.
fn seconds(value: f64) -> String {
    format!("{:.0}", value.trunc())
}
