//! What the EdgeWorker a profile describes decides for one token: where it finds the token, how
//! it responds, and what it forwards.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::decision::{EdgeDecision, ForwardedHeader, ProfileVerdict};
use super::js::JsValue;
use super::segments::decode_failure_reason;
use super::validate::Checked;
use super::{EDGEWORKER_ERROR_STATUS, EdgeProfile, MissingToken, TokenLocation};
use crate::token::Inspection;
use crate::token::keys::KeySet;

/// The token as the edge reads it from the request.
pub(super) enum Located {
    /// No token where the edge looks. The reason names where it was instead.
    Missing(String),
    /// The header lacks the required scheme.
    SchemeRejected(String),
    /// The text handed to the validator, and notes on how it was found.
    Found {
        passed: String,
        notes: Vec<String>,
        /// The name of the cookie whose value came in double quotes. The validator receives
        /// the quotes with the value.
        quoted_cookie: Option<String>,
    },
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
        self.evaluate_request(inspection, sent, None, keys, now)
    }

    /// Decides as [`EdgeProfile::evaluate_sent`] does, for a request to `path` when the caller
    /// knows it. The profile's public paths let a request with no token where the edge looks go
    /// on, so a token elsewhere in the request (another header, the query, a cookie) changes
    /// nothing there.
    pub fn evaluate_request(
        &self,
        inspection: &Inspection,
        sent: Option<&str>,
        path: Option<&str>,
        keys: Option<&KeySet>,
        now: DateTime<Utc>,
    ) -> EdgeDecision {
        let (passed, notes, quoted_cookie) = match self.locate(inspection, sent) {
            Located::Missing(reason) => {
                return match path.filter(|path| self.is_public_path(path)) {
                    Some(path) => self.public_pass(&reason, path, self.original_token(inspection)),
                    None => self.missing(Some(inspection), &reason),
                };
            }
            Located::SchemeRejected(reason) => {
                return self.deny(&reason, None, Vec::new());
            }
            Located::Found {
                passed,
                notes,
                quoted_cookie,
            } => (passed, notes, quoted_cookie),
        };
        self.judge(&passed, notes, quoted_cookie, inspection, keys, now)
    }

    /// Runs the validator on `passed`, the text the EdgeWorker found for the token in
    /// `inspection`, and decides from its outcome. `notes` are those made while finding the text.
    pub(super) fn judge(
        &self,
        passed: &str,
        mut notes: Vec<String>,
        quoted_cookie: Option<String>,
        inspection: &Inspection,
        keys: Option<&KeySet>,
        now: DateTime<Utc>,
    ) -> EdgeDecision {
        match self.validate(passed, inspection, keys, now) {
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
                // The validator's reason takes text around the token for what `replace` left of
                // the scheme, but around a cookie value that text is the cookie's quotes.
                let reason = match quoted_cookie {
                    Some(name) if reason == decode_failure_reason(passed, Some(inspection)) => {
                        format!(
                            "the validator received the value of cookie `{name}` with its double \
                             quotes, so a segment is not base64url JSON and decoding it throws"
                        )
                    }
                    _ => reason,
                };
                self.deny(&reason, thrown, notes)
            }
            Checked::Error {
                reason,
                notes: check_notes,
            } => {
                notes.extend(check_notes);
                self.edgeworker_failed(&reason, notes, inspection)
            }
        }
    }

    /// Finds the token at the location the profile gives, in the header value `sent` when the
    /// caller has it.
    fn locate(&self, inspection: &Inspection, sent: Option<&str>) -> Located {
        let token = inspection.token.expose();
        if let Some(parameter) = &inspection.query_parameter {
            return self.locate_in_query(parameter, token);
        }
        match (self.pasted_header(inspection), &self.location) {
            (Some("cookie"), TokenLocation::Cookie(name)) => {
                return locate_cookie(name, inspection, sent);
            }
            (Some(pasted), TokenLocation::Header(name)) if pasted == name => {}
            (Some(pasted), _) => {
                let found_in = match (&inspection.header_name, &inspection.scheme) {
                    (None, Some(scheme)) => {
                        format!("the pasted `{scheme} <jwt>` is an `Authorization` header value")
                    }
                    _ => format!("the token came in header `{pasted}`"),
                };
                return Located::Missing(format!(
                    "{found_in}, but the edge reads {}",
                    self.location
                ));
            }
            (None, TokenLocation::Query(_) | TokenLocation::Cookie(_)) => {
                return Located::Found {
                    passed: token.to_owned(),
                    notes: Vec::new(),
                    quoted_cookie: None,
                };
            }
            (None, TokenLocation::Header(_)) => {}
        }
        let value = match (sent, &inspection.scheme) {
            // HTTP parsers strip whitespace around a field value, so `getHeader` returns the rest.
            (Some(sent), _) => sent.trim_matches([' ', '\t']).to_owned(),
            (None, Some(scheme)) => format!("{scheme} {token}"),
            (None, None) => token.to_owned(),
        };
        // A bare token is judged as sent where the edge reads it, after the edge's scheme, as
        // decode judges it for the mesh as sent in `Authorization: Bearer`.
        let value = if inspection.header_name.is_none() && inspection.scheme.is_none() {
            format!("{}{value}", self.scheme)
        } else {
            value
        };
        self.strip_scheme(value, Some(inspection))
    }

    /// Removes the profile's scheme from the header `value` as the EdgeWorker does. The notes on
    /// how the mesh reads the same value need the `inspection` of the token, when there is one.
    pub(super) fn strip_scheme(&self, value: String, inspection: Option<&Inspection>) -> Located {
        if self.scheme.is_empty() {
            return Located::Found {
                passed: value,
                notes: Vec::new(),
                quoted_cookie: None,
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
                let exact = value.starts_with(&self.scheme);
                if !exact && !self.scheme_case_sensitive {
                    let mesh = inspection
                        .and_then(mesh_reading)
                        .map(|mesh| format!("; {mesh}"))
                        .unwrap_or_default();
                    let written = match inspection {
                        Some(inspection) => inspection.scheme.as_deref().unwrap_or_default(),
                        None => value[..self.scheme.len()].trim_end(),
                    };
                    notes.push(format!(
                        "the edge accepted the scheme {written:?}, which is not `{}` exactly{mesh}",
                        self.scheme.trim_end()
                    ));
                }
                Located::Found {
                    passed,
                    notes,
                    quoted_cookie: None,
                }
            }
            None if self.scheme_required => Located::SchemeRejected(format!(
                "the header value does not start with the scheme {:?}, which the edge requires",
                self.scheme
            )),
            None => {
                if let Some(inspection) = inspection
                    && inspection.scheme.is_none()
                    && let Some(mesh) = mesh_reading(inspection)
                {
                    notes.push(format!(
                        "the token has no scheme; the edge validates it as it is, but {mesh}"
                    ));
                }
                Located::Found {
                    passed: value,
                    notes,
                    quoted_cookie: None,
                }
            }
        }
    }

    /// Finds `token`, which a URL or curl command sends in query parameter `parameter`: the edge
    /// reads it only when the profile names that parameter.
    fn locate_in_query(&self, parameter: &str, token: &str) -> Located {
        match &self.location {
            TokenLocation::Query(name) if name == parameter => Located::Found {
                passed: token.to_owned(),
                notes: Vec::new(),
                quoted_cookie: None,
            },
            location => Located::Missing(format!(
                "the token came in query parameter `{parameter}`, but the edge reads {location}"
            )),
        }
    }

    /// Returns the header the pasted token came in: the header of a pasted line, or
    /// `authorization` for a value with a scheme (`Bearer <jwt>`) when the profile reads a query
    /// parameter or a cookie, whose values hold no space. `None` for a bare token, and for a value
    /// with a scheme when the profile reads a header, which the edge then reads where it looks.
    fn pasted_header<'a>(&self, inspection: &'a Inspection) -> Option<&'a str> {
        match (&inspection.header_name, &inspection.scheme, &self.location) {
            (Some(name), _, _) => Some(name),
            (None, Some(_), TokenLocation::Query(_) | TokenLocation::Cookie(_)) => {
                Some("authorization")
            }
            (None, _, _) => None,
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

    pub(super) fn deny(
        &self,
        reason: &str,
        thrown: Option<String>,
        notes: Vec<String>,
    ) -> EdgeDecision {
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

    /// Decides for a request without a token where the edge looks. `inspection` is the token
    /// the request carries elsewhere, which goes on with it, or `None` for a request without one.
    pub(super) fn missing(&self, inspection: Option<&Inspection>, reason: &str) -> EdgeDecision {
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
                let mut forwarded = inspection
                    .map(|inspection| self.original_token(inspection))
                    .unwrap_or_default();
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

    /// Decides for a request to the public `path` that has no token where the edge looks, for
    /// `reason`. The request goes on with the headers in `forwarded` and the edge's request id.
    pub(super) fn public_pass(
        &self,
        reason: &str,
        path: &str,
        mut forwarded: Vec<ForwardedHeader>,
    ) -> EdgeDecision {
        forwarded.push(self.request_id());
        EdgeDecision {
            verdict: ProfileVerdict::Allow,
            status: None,
            reason: format!(
                "{reason}. Its path {path:?} starts with a public path ({}), so the \
                 EdgeWorker lets the request go on without a token",
                self.public_paths.join(", ")
            ),
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
        let pasted = self.pasted_header(inspection);
        let at_edge_location = match (pasted, &self.location) {
            (Some(pasted), TokenLocation::Header(name)) => pasted == name,
            (Some(pasted), TokenLocation::Cookie(_)) => pasted == "cookie",
            (Some(_), TokenLocation::Query(_)) => false,
            (None, _) => true,
        };
        if at_edge_location && !self.forward.keep_token {
            return Vec::new();
        }
        let header = match (pasted, &self.location) {
            (Some("cookie") | None, TokenLocation::Cookie(name)) => {
                ForwardedHeader::with_token("cookie", &format!("{name}={{}}"), token, fingerprint)
            }
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
        };
        vec![header]
    }

    /// Headers the EdgeWorker writes after a successful validation: the token copy and the claims.
    fn written_headers(
        &self,
        inspection: &Inspection,
        claims: &JsValue,
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
            headers.push(ForwardedHeader::plain(header, value.to_js_string()));
        }
        headers
    }

    pub(super) fn request_id(&self) -> ForwardedHeader {
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

/// Finds the token in cookie `name` of the `Cookie` header value `sent`, as an EdgeWorker reads
/// it with the `cookies` module: the first cookie of that name.
fn locate_cookie(name: &str, inspection: &Inspection, sent: Option<&str>) -> Located {
    let token = inspection.token.expose();
    let Some(sent) = sent else {
        // NOTE: the `Cookie` header value is read back from a header line, a JSON object of
        // headers and a curl command, but not from other text, so the cookie name is not checked
        // there.
        return Located::Found {
            passed: token.to_owned(),
            notes: vec![format!(
                "idflow could not read the cookie names back from this input, so it judged the \
                 token as if it were in cookie `{name}`, which the edge reads"
            )],
            quoted_cookie: None,
        };
    };
    let Some(value) = cookie_value(sent, name) else {
        return Located::Missing(format!(
            "the `Cookie` header has no cookie `{name}`, which the edge reads"
        ));
    };
    let mut notes = Vec::new();
    let unquoted = value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'));
    let quoted_cookie = (unquoted == Some(token)).then(|| name.to_owned());
    if quoted_cookie.is_some() {
        // NOTE: it is not known whether `get` of the `cookies` module removes double quotes
        // around a value, so the value keeps them, as the header carries it.
        notes.push(format!(
            "cookie `{name}` carries the token in double quotes. idflow decoded the token without \
             them. Whether the edge's `cookies` module removes them is not known, so idflow judges \
             the value with its quotes, as the header carries it"
        ));
    } else if value != token {
        notes.push(format!(
            "the edge validates the value of cookie `{name}`, not the token shown, which is in \
             another cookie"
        ));
    }
    Located::Found {
        passed: value.to_owned(),
        notes,
        quoted_cookie,
    }
}

/// Returns the value of the first cookie called `name` in a `Cookie` header value.
pub(super) fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (cookie, value) = pair.split_once('=')?;
        (cookie.trim() == name).then(|| value.trim())
    })
}

/// Returns what Envoy's `jwt_authn` does with the pasted value, as decode reads it, when it finds
/// no token there. Text around the token that Envoy reads with it gets the validator's note.
fn mesh_reading(inspection: &Inspection) -> Option<String> {
    inspection.mesh_finds_no_token.then(|| {
        "Envoy's jwt_authn looks for the case-sensitive prefix `Bearer ` and finds none, so the \
         mesh treats the token as missing (no request principal; 403 where a policy requires one)"
            .to_owned()
    })
}
