//! Edge profile: a TOML description of what a JWT-validating EdgeWorker checks and forwards, the
//! verdict it would give a pasted token, and how its rules differ from a mesh's `jwtRules`.
//!
//! The defaults follow Akamai's `JWTValidator` module (`delivery/common/jwt/lib/jwt.js` in
//! `akamai/edgeworkers-examples`). It checks `exp` and `nbf` only when asked, because
//! `ignoreExpiration` and `ignoreNotBefore` default to true. It allows 60 s of clock tolerance,
//! skips the issuer and audience checks for a token that lacks the claim, and takes the algorithm
//! from the token's header. Its example bundles read `Authorization`, strip `Bearer ` with a
//! case-sensitive `replace`, and respond with 400 to any error.

mod decision;
mod differences;
mod evaluate;
mod js;
mod key_source;
mod no_token;
mod parse;
mod segments;
mod sent;
mod validate;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::token::keys::{KeySet, SourceKind};

pub use decision::{EdgeDecision, ForwardedHeader, ProfileVerdict};
pub use differences::{Difference, PolicyInFile};
pub use no_token::PastedRequest;
pub use sent::sent_header_value;

use parse::{RawMissing, RawProfile, line_of_key, parse_raw};

/// Algorithms Akamai's `JWTValidator` implements; `NONE` stands for `allowUnsecuredToken`.
pub const MODULE_ALGORITHMS: [&str; 13] = [
    "RS256", "RS384", "RS512", "HS256", "HS384", "HS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "ES512", "NONE",
];

/// Algorithms whose key an EdgeWorker can import from a PEM public key (`spki`), for
/// `keys.pem_algorithm`.
pub const PEM_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
];

/// Algorithm Akamai's RS256 example imports its RSA PEM key for:
/// `{name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256'}`.
pub const DEFAULT_PEM_ALGORITHM: &str = "RS256";

/// `clockTolerance` default of Akamai's `JWTValidator`, in seconds.
pub const DEFAULT_CLOCK_TOLERANCE_SECONDS: u32 = 60;

/// Status of every error response in Akamai's JWT example bundles (`respondWith(400, …)`).
pub const DEFAULT_DENY_STATUS: u16 = 400;

/// Status the client gets when the EdgeWorker itself fails and the property does not continue on
/// error: Akamai responds with `500 Internal Server Error`.
pub const EDGEWORKER_ERROR_STATUS: u16 = 500;

/// Header that carries the edge request id to the mesh unless the profile names another.
pub const DEFAULT_REQUEST_ID_HEADER: &str = "x-edge-request-id";

/// Token location the EdgeWorker reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum TokenLocation {
    /// A request header, name in lower case.
    Header(String),
    /// A query parameter.
    Query(String),
    /// A cookie.
    Cookie(String),
}

impl std::fmt::Display for TokenLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Header(name) => write!(f, "header `{name}`"),
            Self::Query(name) => write!(f, "query parameter `{name}`"),
            Self::Cookie(name) => write!(f, "cookie `{name}`"),
        }
    }
}

/// Action of the EdgeWorker for a request without a token at its location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingToken {
    /// Answer `missing_status` (the fixed ES256 example: 400 `Authorization header is missing!`).
    Deny,
    /// Let the request go on unchecked (the first RS256 example had no `else` branch).
    Forward,
}

/// Source of the EdgeWorker's verification keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JWKS file, resolved against the profile's folder.
    JwksFile(PathBuf),
    /// A JWKS URL: https, or http on loopback only.
    JwksUrl(String),
    /// A PEM public key written in the profile, as Akamai's examples keep it in a
    /// `PMUSER_JWT_*_PUBKEY` variable.
    Pem(String),
    /// A PEM public key file, resolved against the profile's folder.
    PemFile(PathBuf),
}

/// Token placement and headers the next hop receives from the EdgeWorker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarding {
    /// Whether the token stays where the client sent it (the EdgeWorker does not remove it).
    pub keep_token: bool,
    /// Header the EdgeWorker writes the validated token to, with `token_prefix` before it.
    pub token_header: Option<String>,
    pub token_prefix: String,
    /// Header carrying the edge request id.
    pub request_id_header: String,
    /// `(claim, header)` pairs: the claim's value is copied into the header.
    pub claims: Vec<(String, String)>,
}

/// A validated edge profile.
// Each flag is an independent switch of the TOML file.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeProfile {
    /// Label from the file's `name`, or the file name.
    pub name: String,
    /// The file (or other origin) the profile came from, for messages.
    pub origin: String,
    pub location: TokenLocation,
    /// Authorization scheme stripped before validation (`Bearer `); empty passes the whole
    /// header value to the validator. Headers only.
    pub scheme: String,
    pub scheme_case_sensitive: bool,
    /// Whether a header value without the scheme is rejected rather than validated as it is.
    pub scheme_required: bool,
    pub missing_token: MissingToken,
    /// Path prefixes where a request without a token goes on unchecked.
    pub public_paths: Vec<String>,
    /// Accepted `iss` values; empty accepts any.
    pub issuers: Vec<String>,
    /// Accepted `aud` values (any one of them); empty skips the check.
    pub audiences: Vec<String>,
    /// Whether a token without `iss` (or `aud`) passes the issuer (or audience) check, as in
    /// Akamai's module.
    pub skip_absent_claims: bool,
    /// Allowed `alg` values, upper case.
    pub algorithms: Vec<String>,
    pub clock_tolerance_seconds: u32,
    pub check_exp: bool,
    pub check_nbf: bool,
    pub key_source: Option<KeySource>,
    /// Algorithm, upper case, the EdgeWorker imports a PEM key for: the `pem` or `pem_file` key,
    /// or, in a profile without a key source, a key given with `--key`. `importKey` binds the
    /// family, the curve, and for RSA the hash. `None` takes it from the key as Akamai's examples
    /// do: RS256 for an RSA key, ES256 for an EC key. Unused with a JWKS.
    pub pem_algorithm: Option<String>,
    pub deny_status: u16,
    pub missing_status: u16,
    /// Whether the property continues on error, so a failing EdgeWorker lets the request through.
    pub fail_open: bool,
    pub forward: Forwarding,
}

impl EdgeProfile {
    /// Reads and validates the profile at `path`; relative key paths are resolved against its
    /// folder.
    pub fn load(path: &Path) -> Result<EdgeProfile, String> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| {
            format!("cannot read the edge profile {origin:?}: {error}; check the path")
        })?;
        let mut profile = Self::from_toml(&text, &origin)?;
        let folder = path.parent().unwrap_or_else(|| Path::new(""));
        profile.key_source = profile.key_source.map(|source| match source {
            KeySource::JwksFile(file) => KeySource::JwksFile(folder.join(file)),
            KeySource::PemFile(file) => KeySource::PemFile(folder.join(file)),
            other => other,
        });
        Ok(profile)
    }

    /// Parses and validates a profile; `origin` names it in errors (a path, or `<inline>`).
    pub fn from_toml(text: &str, origin: &str) -> Result<EdgeProfile, String> {
        let raw = parse_raw(text, origin)?;
        Validator { text, origin }.profile(raw)
    }

    /// Loads the keys of a file or inline key source. Returns `Ok(None)` for a profile without a
    /// key source, and an error for a JWKS URL (its fetch needs the caller's fetch settings), a
    /// file that cannot be read or parsed, or a PEM key that `importKey` rejects for
    /// `keys.pem_algorithm`.
    pub fn local_keys(&self) -> Result<Option<KeySet>, String> {
        let read = |path: &Path, what: &str| {
            std::fs::read_to_string(path).map_err(|error| {
                format!(
                    "cannot read the {what} {:?}: {error}; check the path",
                    path.display().to_string()
                )
            })
        };
        let keys = match &self.key_source {
            None => return Ok(None),
            Some(KeySource::JwksFile(path)) => {
                let label = path.display().to_string();
                let text = read(path, "JWKS file of the edge profile")?;
                KeySet::from_jwks_text(SourceKind::File, &label, None, &text)
            }
            Some(KeySource::JwksUrl(url)) => {
                return Err(format!(
                    "the edge profile {} fetches its keys from {}; only `idflow decode \
                     --edge-profile` fetches them",
                    self.origin,
                    crate::redact::hide_url_credentials(url)
                ));
            }
            Some(KeySource::Pem(text)) => {
                KeySet::from_pem(&format!("the PEM key of {}", self.origin), text)
            }
            Some(KeySource::PemFile(path)) => {
                let text = read(path, "PEM key file of the edge profile")?;
                KeySet::from_pem(&path.display().to_string(), &text)
            }
        };
        let keys = keys.map_err(|error| error.to_string())?;
        if let Some(failure) = self.pem_import_failure(&keys) {
            return Err(format!("{}: {failure}", self.origin));
        }
        Ok(Some(keys))
    }

    /// Returns whether a request to `path` may go on without a token.
    pub fn is_public_path(&self, path: &str) -> bool {
        self.public_paths
            .iter()
            .any(|prefix| path.starts_with(prefix))
    }
}

/// Turns the raw file into a profile, with errors that point at the offending line.
struct Validator<'a> {
    text: &'a str,
    origin: &'a str,
}

impl Validator<'_> {
    fn error(&self, section: &str, key: &str, problem: &str) -> String {
        let dotted = if section.is_empty() {
            key.to_owned()
        } else {
            format!("{section}.{key}")
        };
        self.error_at(section, key, &format!("`{dotted}` {problem}"))
    }

    /// Returns `ORIGIN:LINE: message` for the line of `key` in `[section]`. A key of a table
    /// (`forward.claims`) written inline under its parent points at the parent's key.
    fn error_at(&self, section: &str, key: &str, message: &str) -> String {
        let line = match section.rsplit_once('.') {
            Some((parent, table)) if !self.text.contains(&format!("[{section}]")) => {
                line_of_key(self.text, parent, table)
            }
            _ => line_of_key(self.text, section, key),
        };
        format!("{}:{line}: {message}", self.origin)
    }

    fn profile(&self, raw: RawProfile) -> Result<EdgeProfile, String> {
        let location = self.location(&raw)?;
        let scheme = raw.token.scheme.unwrap_or_else(|| "Bearer ".to_owned());
        if !matches!(location, TokenLocation::Header(_)) && raw.token.scheme_required == Some(true)
        {
            return Err(self.error(
                "token",
                "scheme_required",
                "applies to headers only; remove it, or read the token from a header",
            ));
        }
        for path in &raw.token.public_paths {
            if !path.starts_with('/') {
                return Err(self.error(
                    "token",
                    "public_paths",
                    &format!(
                        "holds {path:?}, which is not a path; write prefixes such as \"/public/\""
                    ),
                ));
            }
        }
        let algorithms = self.algorithms(raw.checks.algorithms)?;
        for (key, values) in [
            ("issuers", &raw.checks.issuers),
            ("audiences", &raw.checks.audiences),
        ] {
            if values.iter().any(|value| value.trim().is_empty()) {
                return Err(self.error(
                    "checks",
                    key,
                    "holds an empty string, which Akamai's validator rejects as an option; remove it",
                ));
            }
        }
        let deny_status = self.status("deny_status", raw.response.deny_status)?;
        let missing_status = self.status("missing_status", raw.response.missing_status)?;
        let forward = self.forwarding(raw.forward)?;
        let name = raw.name.unwrap_or_else(|| {
            Path::new(self.origin).file_name().map_or_else(
                || self.origin.to_owned(),
                |name| name.to_string_lossy().into_owned(),
            )
        });
        Ok(EdgeProfile {
            name,
            origin: self.origin.to_owned(),
            location,
            scheme,
            scheme_case_sensitive: raw.token.scheme_case_sensitive.unwrap_or(true),
            scheme_required: raw.token.scheme_required.unwrap_or(false),
            missing_token: match raw.token.missing {
                Some(RawMissing::Forward) => MissingToken::Forward,
                Some(RawMissing::Deny) | None => MissingToken::Deny,
            },
            public_paths: raw.token.public_paths,
            issuers: raw.checks.issuers,
            audiences: raw.checks.audiences,
            skip_absent_claims: raw.checks.skip_absent_claims.unwrap_or(true),
            algorithms,
            clock_tolerance_seconds: raw
                .checks
                .clock_tolerance_seconds
                .unwrap_or(DEFAULT_CLOCK_TOLERANCE_SECONDS),
            check_exp: raw.checks.check_exp.unwrap_or(false),
            check_nbf: raw.checks.check_nbf.unwrap_or(false),
            pem_algorithm: self.pem_algorithm(&raw.keys)?,
            key_source: self.key_source(raw.keys)?,
            deny_status,
            missing_status,
            fail_open: raw.response.fail_open.unwrap_or(false),
            forward,
        })
    }

    fn location(&self, raw: &RawProfile) -> Result<TokenLocation, String> {
        let token = &raw.token;
        let given: Vec<(&str, &String)> = [
            ("header", token.header.as_ref()),
            ("query", token.query.as_ref()),
            ("cookie", token.cookie.as_ref()),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|value| (key, value)))
        .collect();
        match given.as_slice() {
            [] => Ok(TokenLocation::Header("authorization".to_owned())),
            [(key, value)] => {
                if value.trim().is_empty() || value.contains(char::is_whitespace) {
                    return Err(self.error(
                        "token",
                        key,
                        &format!(
                            "is {value:?}; give a name without spaces, e.g. \"Authorization\""
                        ),
                    ));
                }
                Ok(match *key {
                    "header" => TokenLocation::Header(value.to_ascii_lowercase()),
                    "query" => TokenLocation::Query((*value).clone()),
                    _ => TokenLocation::Cookie((*value).clone()),
                })
            }
            [_, (second, _), ..] => Err(self.error(
                "token",
                second,
                "is set together with another location; keep exactly one of `header`, `query` \
                 and `cookie`",
            )),
        }
    }

    fn algorithms(&self, algorithms: Option<Vec<String>>) -> Result<Vec<String>, String> {
        let Some(algorithms) = algorithms else {
            // Without `allowUnsecuredToken` the module accepts every algorithm but `none`.
            return Ok(MODULE_ALGORITHMS[..12]
                .iter()
                .map(|alg| (*alg).to_owned())
                .collect());
        };
        if algorithms.is_empty() {
            return Err(self.error(
                "checks",
                "algorithms",
                "is empty, so no token could pass; list at least one, e.g. [\"RS256\"]",
            ));
        }
        let mut upper = Vec::new();
        for alg in algorithms {
            let name = alg.to_ascii_uppercase();
            if !MODULE_ALGORITHMS.contains(&name.as_str()) {
                return Err(self.error(
                    "checks",
                    "algorithms",
                    &format!(
                        "holds {alg:?}, which Akamai's JWT module does not implement; use some of {}",
                        MODULE_ALGORITHMS.join(", ")
                    ),
                ));
            }
            upper.push(name);
        }
        Ok(upper)
    }

    fn status(&self, key: &str, status: Option<u16>) -> Result<u16, String> {
        let status = status.unwrap_or(DEFAULT_DENY_STATUS);
        if !(200..=599).contains(&status) {
            return Err(self.error(
                "response",
                key,
                &format!("is {status}; `respondWith` takes a status from 200 to 599, e.g. 401"),
            ));
        }
        Ok(status)
    }

    fn forwarding(&self, raw: parse::RawForward) -> Result<Forwarding, String> {
        let token_header = match raw.token_header {
            Some(header) => {
                Some(self.header_name(("forward", "token_header"), &header, "x-jwt")?)
            }
            None => None,
        };
        if raw.token_prefix.is_some() && token_header.is_none() {
            return Err(self.error(
                "forward",
                "token_prefix",
                "is set without `forward.token_header`; name the header the prefix goes into",
            ));
        }
        let request_id_header = self.header_name(
            ("forward", "request_id_header"),
            raw.request_id_header
                .as_deref()
                .unwrap_or(DEFAULT_REQUEST_ID_HEADER),
            DEFAULT_REQUEST_ID_HEADER,
        )?;
        let mut claims = Vec::new();
        for (claim, header) in raw.claims {
            let suggestion = claim_header_suggestion(&claim);
            let header = self.header_name(("forward.claims", &claim), &header, &suggestion)?;
            claims.push((claim, header));
        }
        Ok(Forwarding {
            keep_token: raw.keep_token.unwrap_or(true),
            token_header,
            token_prefix: raw.token_prefix.unwrap_or_default(),
            request_id_header,
            claims,
        })
    }

    /// Checks a header the EdgeWorker sets, named by the TOML key `(section, key)`: an RFC 9110
    /// token, and not one of the `Akamai-*` and `X-Ak*` names that `setHeader` may not touch.
    /// `suggestion` is a neutral name for the same purpose, for the message.
    fn header_name(
        &self,
        (section, key): (&str, &str),
        name: &str,
        suggestion: &str,
    ) -> Result<String, String> {
        // A claim's entry is named by its table, so that `forward.claims` reads as the key.
        let subject = if section == "forward.claims" {
            format!("`forward.claims` names the header {name:?} for claim `{key}`")
        } else {
            format!("`{section}.{key}` names the header {name:?}")
        };
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
        if !valid {
            return Err(self.error_at(
                section,
                key,
                &format!(
                    "{subject}, which is not a valid header name; use letters, digits and `-`"
                ),
            ));
        }
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("akamai-") || lower.starts_with("x-ak") {
            return Err(self.error_at(
                section,
                key,
                &format!(
                    "{subject}, but an EdgeWorker cannot set `Akamai-*` or `X-Ak*` headers; pick \
                     a neutral name such as {suggestion:?}"
                ),
            ));
        }
        Ok(lower)
    }
}

/// Returns a neutral header name for claim `claim`, as the sample profile names them:
/// `x-user-sub` for `sub`, or `x-user-claim` when the claim name is not a header name.
fn claim_header_suggestion(claim: &str) -> String {
    let usable = !claim.is_empty()
        && claim
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if usable {
        format!("x-user-{}", claim.to_ascii_lowercase().replace('_', "-"))
    } else {
        "x-user-claim".to_owned()
    }
}
