//! The identity convention for the DataStream 2 `customField`: the EdgeWorker writes what it decided
//! and saw as form-urlencoded `k=v&k=v`, with the keys `ew_verdict`, `ew_reason`, `tok_loc`, `iss`,
//! `sub`, `aud` (comma-separated), `tok_fp`, `fwd` and `fail_open`, all optional.

use std::collections::BTreeMap;

use super::EdgeError;
use super::value::percent_decode;
use crate::model::{Decision, Identity};
use crate::redact::{authorization_scheme, hide_tokens};

const KNOWN_KEYS: &[&str] = &[
    "ew_verdict",
    "ew_reason",
    "tok_loc",
    "iss",
    "sub",
    "aud",
    "tok_fp",
    "fwd",
    "fail_open",
];

/// The EdgeWorker's report in `customField`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EdgeCustomField {
    /// `ew_verdict`: `allow`, `deny` or `error`.
    pub verdict: Option<Decision>,
    /// `ew_reason`, free text such as `issuer not accepted`.
    pub reason: Option<String>,
    /// `tok_loc`: where the token was found (`authorization:Bearer`), or `none`.
    pub token_location: Option<String>,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub audiences: Vec<String>,
    /// `tok_fp`: `sha256:` and the first 16 hex digits of SHA-256 over the token.
    pub token_fingerprint: Option<String>,
    /// `fwd`: what the edge forwarded to origin (`authorization` or `none`).
    pub forwarded: Option<String>,
    /// `fail_open=1`: an EdgeWorker error let the request through.
    pub fail_open: bool,
    /// Keys outside the convention, decoded.
    pub other: BTreeMap<String, String>,
}

impl EdgeCustomField {
    /// Returns the identity the edge saw, in the shared model's form.
    pub fn identity(&self) -> Identity {
        let token_present = match self.token_location.as_deref() {
            Some("none") => Some(false),
            Some(_) => Some(true),
            None if self.issuer.is_some()
                || self.subject.is_some()
                || self.token_fingerprint.is_some() =>
            {
                Some(true)
            }
            None => None,
        };
        let request_principal = match (&self.issuer, &self.subject) {
            (Some(issuer), Some(subject)) => Some(format!("{issuer}/{subject}")),
            _ => None,
        };
        Identity {
            token_present,
            token_location: self
                .token_location
                .as_deref()
                .filter(|location| *location != "none")
                .map(location_display),
            issuer: self.issuer.clone(),
            subject: self.subject.clone(),
            audiences: self.audiences.clone(),
            request_principal,
            peer_principal: None,
            token_fingerprint: self.token_fingerprint.clone(),
        }
    }
}

/// Keeps the header name and only the scheme of a `tok_loc` value such as
/// `authorization:Bearer`, so that an EdgeWorker that logged the whole header passes on no token.
fn scheme_only_location(location: &str) -> String {
    match location.split_once(':') {
        Some((header, value)) => match authorization_scheme(value) {
            Some(scheme) => format!("{header}:{scheme}"),
            None => format!("{header}:"),
        },
        None => location.to_owned(),
    }
}

/// Rewrites `authorization:Bearer` as `authorization: Bearer`, the form the mesh side logs.
fn location_display(location: &str) -> String {
    match location.split_once(':') {
        Some((header, scheme)) if !scheme.trim().is_empty() => {
            format!("{}: {}", header.trim(), scheme.trim())
        }
        Some((header, _)) => header.trim().to_owned(),
        None => location.trim().to_owned(),
    }
}

/// Parses `customField` by the identity convention.
///
/// Returns `None` when the text contains none of the convention's keys (a client IP, free text), so the
/// caller keeps it verbatim only. A known key with an invalid value gives an error that names it,
/// while the other keys are still read.
pub fn parse_custom_field(text: &str) -> (Option<EdgeCustomField>, Vec<EdgeError>) {
    let pairs: Vec<(String, String)> = text
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (percent_decode(key, true), percent_decode(value, true)))
        .collect();
    if !pairs
        .iter()
        .any(|(key, _)| KNOWN_KEYS.contains(&key.as_str()))
    {
        return (None, Vec::new());
    }

    let mut custom = EdgeCustomField::default();
    let mut problems = Vec::new();
    for (key, value) in pairs {
        let value = value.trim().to_owned();
        let invalid =
            |expected: &str| EdgeError::field(&format!("customField {key}"), &value, expected);
        let text = (!value.is_empty()).then(|| value.clone());
        match key.as_str() {
            "ew_verdict" => match value.as_str() {
                "allow" => custom.verdict = Some(Decision::Allow),
                "deny" => custom.verdict = Some(Decision::Deny),
                "error" => custom.verdict = Some(Decision::Error),
                _ => problems.push(invalid("expected `allow`, `deny` or `error`")),
            },
            "ew_reason" => custom.reason = text.as_deref().map(hide_tokens),
            "tok_loc" => custom.token_location = text.as_deref().map(scheme_only_location),
            "iss" => custom.issuer = text,
            "sub" => custom.subject = text,
            "aud" => {
                custom.audiences = value
                    .split(',')
                    .map(str::trim)
                    .filter(|audience| !audience.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            "tok_fp" => custom.token_fingerprint = text,
            "fwd" => custom.forwarded = text,
            "fail_open" => match value.as_str() {
                "1" => custom.fail_open = true,
                "0" | "" => custom.fail_open = false,
                _ => problems.push(invalid("expected `1` or `0`")),
            },
            _ => {
                custom.other.insert(key, value);
            }
        }
    }
    (Some(custom), problems)
}
