//! What the EdgeWorker a profile describes decides for one token: where it finds the token, how
//! it responds, and what it forwards.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::decision::{EdgeDecision, ForwardedHeader, ProfileVerdict};
use super::validate::Checked;
use super::{EDGEWORKER_ERROR_STATUS, EdgeProfile, MissingToken, TokenLocation};
use crate::token::Inspection;
use crate::token::keys::KeySet;

/// The token as the edge reads it from the request.
enum Located {
    /// No token where the edge looks. The reason names where it was instead.
    Missing(String),
    /// The header lacks the required scheme.
    SchemeRejected(String),
    /// The text handed to the validator, and notes on how it was found.
    Found { passed: String, notes: Vec<String> },
}

impl EdgeProfile {
    /// Decides what the EdgeWorker does with the token in `inspection` at time `now`, for a header
    /// value rebuilt from the scheme and the token. `keys` are the keys of the profile's key
    /// source, or `None` when it could not be loaded (then the EdgeWorker fails), or, for a profile
    /// without a key source, the keys the caller has.
    pub fn evaluate(
        &self,
        inspection: &Inspection,
        keys: Option<&KeySet>,
        now: DateTime<Utc>,
    ) -> EdgeDecision {
        self.evaluate_sent(inspection, None, keys, now)
    }

    /// Decides as [`EdgeProfile::evaluate`] does, for the header value `sent` exactly as the
    /// request carries it (see [`sent_header_value`]). The EdgeWorker reads that value, whitespace
    /// and extra text included, so the validator may receive more than the token. `None` rebuilds
    /// the value from the scheme and the token.
    pub fn evaluate_sent(
        &self,
        inspection: &Inspection,
        sent: Option<&str>,
        keys: Option<&KeySet>,
        now: DateTime<Utc>,
    ) -> EdgeDecision {
        let (passed, mut notes) = match self.locate(inspection, sent) {
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

    /// Finds the token at the location the profile gives, in the header value `sent` when the
    /// caller has it.
    fn locate(&self, inspection: &Inspection, sent: Option<&str>) -> Located {
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
        let value = match (sent, &inspection.scheme) {
            // HTTP parsers strip whitespace around a field value, so `getHeader` returns the rest.
            (Some(sent), _) => sent.trim_matches([' ', '\t']).to_owned(),
            (None, Some(scheme)) => format!("{scheme} {token}"),
            (None, None) => token.to_owned(),
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

/// Returns `Scheme {}` or `{}` for a header value as the client wrote it.
fn scheme_template(scheme: Option<&str>) -> String {
    match scheme {
        Some(scheme) => format!("{scheme} {{}}"),
        None => "{}".to_owned(),
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
