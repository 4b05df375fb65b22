//! Akamai's `JWTValidator.validate` steps for one token, in its order: parts, header and payload,
//! `iss`, `aud`, `exp`, `nbf`, `alg`, then the signature against each key.

use chrono::{DateTime, Utc};

use super::EdgeProfile;
use super::js::JsValue;
use super::key_source::{describe_public_key, fitting_algorithms};
use super::segments::{
    decode_failure_reason, extra_text, json_parses_at_edge, mesh_format_status, parse_segment,
};
use crate::token::Inspection;
use crate::token::jwks::Jwks;
use crate::token::keys::KeySet;
use crate::token::verify::verify_signature_as;

/// Envoy's `jwt_authn` clock skew (`clock_skew_seconds` default), which Istio does not change.
pub(super) const ENVOY_CLOCK_SKEW_SECONDS: i64 = 60;

/// Outcome of the validator.
pub(super) enum Checked {
    Passed {
        /// The payload as `JSON.parse` returned it.
        claims: JsValue,
        signature_checked: bool,
        notes: Vec<String>,
    },
    Failed {
        thrown: Option<String>,
        reason: String,
        notes: Vec<String>,
    },
    /// The EdgeWorker cannot run the check at all: the reason, and the notes made before it failed.
    Error { reason: String, notes: Vec<String> },
}

impl EdgeProfile {
    /// Runs Akamai's validator steps on `passed`, the text the EdgeWorker hands to `validate`.
    pub(super) fn validate(
        &self,
        passed: &str,
        inspection: &Inspection,
        keys: Option<&KeySet>,
        now: DateTime<Utc>,
    ) -> Checked {
        // The mesh's verdict on the token's format does not depend on the edge's, so the note
        // comes with the edge's allow and deny.
        let mut notes: Vec<String> = mesh_rejection_note(inspection).into_iter().collect();
        let fail = |thrown: Option<&str>, reason: String, notes: Vec<String>| Checked::Failed {
            thrown: thrown.map(str::to_owned),
            reason,
            notes,
        };
        let (part_count, header, claims) = match self.parse_parts(passed, Some(inspection)) {
            Ok(parts) => parts,
            Err((thrown, reason)) => return fail(thrown, reason, notes),
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

        let (alg, written_alg) = match header.get("alg") {
            Some(JsValue::String(alg)) if !alg.is_empty() => {
                (alg.to_ascii_uppercase(), alg.as_str())
            }
            Some(value) if value.is_truthy() => {
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
                // The note from `mesh_rejection_note` gives Envoy's 401 for `alg` none.
                notes.push(
                    "the edge accepts this unsigned token (`alg` none, allowUnsecuredToken) \
                     without a signature check"
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
                Some(&format!("{written_alg} is not supported at the moment")),
                format!(
                    "`alg` {} is not in the edge's algorithms ({})",
                    jose_spelling(&alg),
                    self.algorithms.join(", ")
                ),
                notes,
            );
        }
        self.check_signature(passed, inspection, part_count, &alg, keys, claims, notes)
    }

    /// Splits `passed` into its parts and parses the header and payload as the module does.
    /// Returns the number of parts, the header and the payload, or the thrown message and reason.
    pub(super) fn parse_parts(
        &self,
        passed: &str,
        inspection: Option<&Inspection>,
    ) -> Result<(usize, JsValue, JsValue), (Option<&'static str>, String)> {
        let parts: Vec<&str> = passed.split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err((
                Some(
                    "JWT malformed: Invalid number of parts for JWT token. expected 3 or 2 (unsecured JWT)!",
                ),
                format!(
                    "the validator takes 2 or 3 dot-separated parts and received {}",
                    parts.len()
                ),
            ));
        }
        if parts[0].trim().is_empty() {
            return Err((
                Some("JWT malformed: jwt header cannot be empty"),
                "the header segment is empty".to_owned(),
            ));
        }
        if parts[1].trim().is_empty() {
            return Err((
                Some("JWT malformed: jwt payload cannot be empty"),
                "the payload segment is empty".to_owned(),
            ));
        }
        let (Some(header), Some(claims)) = (parse_segment(parts[0]), parse_segment(parts[1]))
        else {
            return Err((None, decode_failure_reason(passed, inspection)));
        };
        if header == JsValue::Null || (claims == JsValue::Null && self.reads_payload()) {
            return Err((
                None,
                "the header or payload is JSON `null`, so reading a member of it throws a \
                 TypeError"
                    .to_owned(),
            ));
        }
        Ok((parts.len(), header, claims))
    }

    /// Returns whether the module reads a member of the payload: only for the checks the profile
    /// turns on.
    fn reads_payload(&self) -> bool {
        !self.issuers.is_empty() || !self.audiences.is_empty() || self.check_exp || self.check_nbf
    }

    /// Checks a string claim (`iss`) as the module does: only when the profile lists values and the
    /// token's claim is truthy, unless the profile requires the claim.
    fn check_claim(
        &self,
        claim: &str,
        accepted: &[String],
        claims: &JsValue,
        notes: &mut Vec<String>,
    ) -> Option<(String, String)> {
        if accepted.is_empty() {
            return None;
        }
        let expected = accepted.join(" or ");
        match claims.get(claim) {
            Some(JsValue::String(value)) if accepted.contains(value) => None,
            Some(value) if value.is_truthy() => Some((
                format!("JWT malformed: invalid {claim}, expected {expected}"),
                format!(
                    "`{claim}` {} is not one the edge accepts ({expected})",
                    describe_value(value)
                ),
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
        claims: &JsValue,
        notes: &mut Vec<String>,
    ) -> Option<(String, String)> {
        if self.audiences.is_empty() {
            return None;
        }
        let expected = self.audiences.join(" or ");
        let thrown = format!("JWT malformed: invalid aud, expected {expected}");
        // `includes` compares strictly, so only a string member can match.
        let values: Vec<&JsValue> = match claims.get("aud") {
            Some(aud @ JsValue::String(text)) if !text.is_empty() => vec![aud],
            Some(JsValue::Array(items)) => items.iter().collect(),
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
        let matches =
            |aud: &&JsValue| matches!(aud, JsValue::String(text) if self.audiences.contains(text));
        if values.iter().any(matches) {
            return None;
        }
        let listed: Vec<String> = values.iter().map(|aud| aud.to_js_string()).collect();
        Some((
            thrown,
            format!(
                "`aud` [{}] holds none of the edge's audiences ({expected})",
                listed.join(", ")
            ),
        ))
    }

    /// Checks `exp` and `nbf` when the profile turns the checks on, and notes what a skipped check
    /// let through.
    fn check_times(
        &self,
        claims: &JsValue,
        now: DateTime<Utc>,
        notes: &mut Vec<String>,
    ) -> Option<(String, String)> {
        #[allow(clippy::cast_precision_loss)] // Unix seconds stay far below 2^52.
        let now_seconds = now.timestamp() as f64;
        let tolerance = f64::from(self.clock_tolerance_seconds);
        let number = |claim: &str| match claims.get(claim) {
            Some(JsValue::Number(value)) => Some(*value),
            _ => None,
        };
        let (exp, nbf) = (number("exp"), number("nbf"));
        if self.check_exp {
            let Some(exp) = exp else {
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
        } else if let Some(exp) = exp
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
            let Some(nbf) = nbf else {
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
        } else if let Some(nbf) = nbf
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
    #[allow(clippy::too_many_arguments)] // The validator's state at its last step.
    fn check_signature(
        &self,
        passed: &str,
        inspection: &Inspection,
        part_count: usize,
        alg: &str,
        keys: Option<&KeySet>,
        claims: JsValue,
        mut notes: Vec<String>,
    ) -> Checked {
        let Some(set) = keys else {
            if let Some(source) = &self.key_source {
                return Checked::Error {
                    reason: format!(
                        "the key source ({}) could not be loaded, so the EdgeWorker cannot import \
                         a key",
                        describe_source(source)
                    ),
                    notes,
                };
            }
            notes.push(
                "the signature was not checked: the profile names no key source and no keys were \
                 given"
                    .to_owned(),
            );
            if passed.contains(char::is_whitespace) {
                // NOTE: whitespace only inside the signature segment would still verify; this
                // assumes it sits in the signed header or payload text.
                notes.push(format!(
                    "the text the validator received contains whitespace, which the signed text \
                     lacked, so with its key the EdgeWorker would respond with {} `JWT token \
                     signature verification failed!`; remove the whitespace from the header value",
                    self.deny_status
                ));
            }
            return Checked::Passed {
                claims,
                signature_checked: false,
                notes,
            };
        };
        if set.jwks.keys.is_empty() {
            return Checked::Error {
                reason: format!(
                    "{} contains no usable key, so the EdgeWorker cannot import one",
                    set.label
                ),
                notes,
            };
        }
        if let Some(reason) = self.pem_import_failure(set) {
            return Checked::Error { reason, notes };
        }
        let thrown = "JWT token signature verification failed!";
        if part_count < 3 {
            return Checked::Failed {
                thrown: None,
                reason: "the token has no signature segment, so decoding it throws".to_owned(),
                notes,
            };
        }
        if let Some(failed) = self.pem_import_mismatch(alg, set, thrown) {
            return Checked::Failed {
                thrown: failed.0,
                reason: failed.1,
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
        // The module verifies with the upper-cased `alg`, so `rs256` passes there.
        match verify_signature_as(passed, &jwks, Some(alg)) {
            Ok(_) => Checked::Passed {
                claims,
                signature_checked: true,
                notes,
            },
            Err(error) => {
                let reason = match extra_text(passed, inspection) {
                    // The module signs over the text it received, which the issuer never signed.
                    Some(extra) => format!(
                        "the validator received {extra}, so the signed text it checks differs \
                         from the one the issuer signed and no key of {} verifies the signature",
                        set.label
                    ),
                    None => format!("no key of {} verifies the signature: {error}", set.label),
                };
                Checked::Failed {
                    thrown: Some(thrown.to_owned()),
                    reason,
                    notes,
                }
            }
        }
    }
}

impl EdgeProfile {
    /// Returns the thrown message and the reason when the PEM key cannot verify an `alg` token,
    /// or `None` when WebCrypto may verify it. `importKey` binds an RSA key to its family and
    /// hash, so RS512 against a key imported for RS256 is hashed with SHA-256 and fails. An ECDSA
    /// key is bound to its family only, because the module passes the hash to `verify`. A key of
    /// another family makes `verify` throw a DOMException.
    fn pem_import_mismatch(
        &self,
        alg: &str,
        set: &KeySet,
        thrown: &str,
    ) -> Option<(Option<String>, String)> {
        let first = set.jwks.keys.first()?;
        if !self.imports_pem(set) {
            return None;
        }
        let imported = self.imported_algorithm(first.kty);
        let (family, imported_family) = (webcrypto_family(alg), webcrypto_family(imported));
        // `keys.pem_algorithm` applies to the profile's PEM key and to one given with `--key`.
        let fix = if fitting_algorithms(first).contains(&alg) {
            format!(
                "set `keys.pem_algorithm` to {alg} in {} if the EdgeWorker imports the key for \
                 {alg}",
                self.origin
            )
        } else {
            format!(
                "{} cannot be imported for {alg}, so the token needs a key of another type",
                describe_public_key(first)
            )
        };
        if family != imported_family {
            return Some((
                None,
                format!(
                    "the EdgeWorker imported the PEM key for {imported} ({imported_family}), so \
                     `crypto.subtle.verify` rejects it for the {alg} token ({family}) and throws; \
                     {fix}"
                ),
            ));
        }
        if family == "ECDSA" || alg == imported {
            return None;
        }
        Some((
            Some(thrown.to_owned()),
            format!(
                "the EdgeWorker imported the PEM key for {imported}, so WebCrypto hashes with \
                 SHA-{} and the {alg} signature does not verify; {fix}",
                &imported[2..]
            ),
        ))
    }
}

/// Returns the note that the mesh rejects the token whatever the edge decides, when decode's
/// reading of it fails a format or claim type check of Envoy's `jwt_authn`
/// ([`mesh_format_status`]), with Envoy's 401 status.
fn mesh_rejection_note(inspection: &Inspection) -> Option<String> {
    let status = mesh_format_status(inspection)?;
    if json_parses_at_edge(inspection.token.expose(), status) {
        return Some(format!(
            "JavaScript's JSON.parse at the edge accepts the token's JSON, but Envoy's jwt_authn \
             rejects it with 401 `{status}`, so the mesh rejects this token whatever the edge \
             decides"
        ));
    }
    let reads = if inspection.mesh_reads_other.is_some() {
        "reads the token with the characters around it and rejects the value"
    } else {
        "rejects this token"
    };
    Some(format!(
        "Envoy's jwt_authn {reads} with 401 `{status}` on every workload that a \
         RequestAuthentication selects, so the mesh rejects it whatever the edge decides"
    ))
}

/// Returns the JOSE spelling of an upper-cased `alg`, which differs only for `EdDSA`.
fn jose_spelling(upper: &str) -> &str {
    if upper == "EDDSA" { "EdDSA" } else { upper }
}

/// Returns the WebCrypto algorithm Akamai's JWT module verifies a JWS `alg` with.
pub(super) fn webcrypto_family(alg: &str) -> &'static str {
    match alg.get(..2) {
        Some("RS") => "RSASSA-PKCS1-v1_5",
        Some("PS") => "RSA-PSS",
        Some("ES") => "ECDSA",
        _ => "HMAC",
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

/// Describes a key source without its contents.
pub(super) fn describe_source(source: &super::KeySource) -> String {
    match source {
        super::KeySource::JwksFile(path) => format!("JWKS file {}", path.display()),
        super::KeySource::JwksUrl(url) => {
            format!("JWKS URL {}", crate::redact::hide_url_credentials(url))
        }
        super::KeySource::Pem(_) => "the PEM key in the profile".to_owned(),
        super::KeySource::PemFile(path) => format!("PEM file {}", path.display()),
    }
}

/// Describes a claim for a reason: a string in quotes, anything else as `String()` writes it.
fn describe_value(value: &JsValue) -> String {
    match value {
        JsValue::String(text) => format!("{text:?}"),
        other => other.to_js_string(),
    }
}

/// Formats a number of seconds as a whole number.
fn seconds(value: f64) -> String {
    format!("{:.0}", value.trunc())
}
