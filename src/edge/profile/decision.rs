//! The edge's decision for one token: verdict, status, reason, and the headers the next hop
//! receives, with tokens redacted.

use std::fmt;

use serde::Serialize;

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
    pub(super) fn plain(name: &str, value: String) -> Self {
        Self {
            name: name.to_owned(),
            value,
            revealed: None,
        }
    }

    /// Builds a header whose value contains `token` in place of the `{}` in `template`.
    pub(super) fn with_token(name: &str, template: &str, token: &str, fingerprint: &str) -> Self {
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
