//! Key sources for `idflow decode` (a JWKS document, a PEM public key, an HMAC secret, an OIDC
//! discovery document), turned into the [`Jwks`] form that [`super::verify`] checks against. Also
//! the signature verdict for a token against those keys, explained in Envoy's words.
//!
//! Plain Rust: the caller reads files and fetches URLs, this module only parses what it is given.

use std::borrow::Cow;

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

use super::jwks::{self, Jwk, Jwks, KeyMaterial, KeyType, ParsedKeys};
use super::verify::{VerifyError, verify_jwt};
use super::{Inspection, TokenKind, quote_truncated};

/// Origin of a key set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A JWKS file (`--jwks FILE`).
    File,
    /// A JWKS URL (`--jwks URL`).
    Url,
    /// The `jwks_uri` of an issuer's OIDC discovery document (`--issuer URL`).
    Issuer,
    /// A PEM public key or certificate (`--key FILE`).
    Pem,
    /// An HMAC secret (`--secret`, `--secret-file`).
    Secret,
    /// The inline `jwks` or the `jwksUri` of a RequestAuthentication `jwtRules` entry that
    /// covers the workload (`--policies FILE --workload NS/NAME`).
    Policy,
}

/// The keys of one source, ready to verify with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySet {
    pub kind: SourceKind,
    /// The source for messages and JSON: a path, a URL, or the flag a secret came from; never the
    /// secret itself.
    pub label: String,
    /// The URL the JWKS was fetched from, for the refetch after a key rotation.
    pub url: Option<String>,
    pub jwks: Jwks,
    /// The `jwksUri` named in istiod's stand-in JWKS, when the set is that stand-in.
    pub istiod_stand_in: Option<String>,
}

/// Failure to turn a key source into keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("{source_label}: {error}")]
    Jwks {
        source_label: String,
        error: jwks::JwksError,
    },
    #[error("{source_label}: {reason}")]
    Pem {
        source_label: String,
        reason: String,
    },
    #[error(
        "{source_label}: the secret is empty; put the HMAC secret in the file or flag, as raw bytes"
    )]
    EmptySecret { source_label: String },
    #[error("OIDC discovery document {url}: {reason}")]
    Discovery { url: String, reason: String },
}

impl KeySet {
    /// Parses a JWKS document fetched or read from `label`. istiod's stand-in set is kept even
    /// though its key may not parse, so the verdict can name the failed fetch.
    pub fn from_jwks_text(
        kind: SourceKind,
        label: &str,
        url: Option<&str>,
        text: &str,
    ) -> Result<Self, KeyError> {
        let istiod_stand_in = jwks::istiod_fetch_failure(text);
        let jwks = match jwks::parse_jwks(text) {
            Ok(jwks) => jwks,
            Err(_) if istiod_stand_in.is_some() => Jwks::default(),
            Err(error) => {
                return Err(KeyError::Jwks {
                    source_label: label.to_owned(),
                    error,
                });
            }
        };
        Ok(Self {
            kind,
            label: label.to_owned(),
            url: url.map(str::to_owned),
            jwks,
            istiod_stand_in,
        })
    }

    /// Reads every PEM block of `text` (`PUBLIC KEY`, `RSA PUBLIC KEY` or `CERTIFICATE`) as one key
    /// without `kid` or `alg`, so it is a candidate for every token, as in a JWKS. A key that
    /// Envoy would drop from a JWKS ([`jwks::KeyDefect`]) is an error naming its block.
    pub fn from_pem(label: &str, text: &str) -> Result<Self, KeyError> {
        let error = |reason: String| KeyError::Pem {
            source_label: label.to_owned(),
            reason,
        };
        let blocks = pem_blocks(text).map_err(error)?;
        if blocks.is_empty() {
            return Err(error(
                "no PEM block found; expected `-----BEGIN PUBLIC KEY-----` (RSA, EC P-256/P-384/P-521 \
                 or Ed25519), `-----BEGIN RSA PUBLIC KEY-----` or `-----BEGIN CERTIFICATE-----`"
                    .to_owned(),
            ));
        }
        let mut keys = Vec::new();
        for (index, (label_text, der)) in blocks.iter().enumerate() {
            let material = pem_key(label_text, der)
                .map_err(|reason| error(format!("PEM block {}: {reason}", index + 1)))?;
            keys.push(jwk_from_material(index, material));
        }
        Ok(Self {
            kind: SourceKind::Pem,
            label: label.to_owned(),
            url: None,
            jwks: Jwks {
                keys,
                skipped: Vec::new(),
            },
            istiod_stand_in: None,
        })
    }

    /// Makes one `oct` key of the raw secret bytes, with no `kid` or `alg`.
    pub fn from_secret(label: &str, secret: &[u8]) -> Result<Self, KeyError> {
        if secret.is_empty() {
            return Err(KeyError::EmptySecret {
                source_label: label.to_owned(),
            });
        }
        let key = Jwk {
            index: 0,
            kty: KeyType::Oct,
            kid: String::new(),
            alg: String::new(),
            crv: String::new(),
            material: KeyMaterial::Oct(secret.to_vec()),
            parsed: ParsedKeys::default(),
        };
        Ok(Self {
            kind: SourceKind::Secret,
            label: label.to_owned(),
            url: None,
            jwks: Jwks {
                keys: vec![key],
                skipped: Vec::new(),
            },
            istiod_stand_in: None,
        })
    }
}

/// Returns the discovery document URL for `issuer`: `/.well-known/openid-configuration`
/// appended after the issuer's path, as section 4 of the OIDC discovery specification says.
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// Reads `jwks_uri` from an OIDC discovery document fetched from `url` for `issuer`.
///
/// Returns the URI and, when the document's `issuer` differs from the one given, a warning:
/// OIDC discovery requires them to be equal, and Istio matches tokens by `iss`.
pub fn jwks_uri_from_discovery(
    url: &str,
    issuer: &str,
    text: &str,
) -> Result<(String, Option<String>), KeyError> {
    let url = crate::redact::hide_url_credentials(url);
    let error = |reason: &str| KeyError::Discovery {
        url: url.clone().into_owned(),
        reason: reason.to_owned(),
    };
    let value: Value = serde_json::from_str(text).map_err(|_| {
        error("the response is not JSON; check that the issuer URL is right (it is the token's `iss`)")
    })?;
    let jwks_uri = match value.get("jwks_uri") {
        Some(Value::String(uri)) if !uri.is_empty() => uri.clone(),
        Some(_) => return Err(error("`jwks_uri` is not a non-empty string")),
        None => {
            return Err(error(
                "`jwks_uri` is missing; pass the JWKS URL with --jwks instead",
            ));
        }
    };
    let warning = match value.get("issuer").and_then(Value::as_str) {
        Some(found) if found != issuer => Some(format!(
            "OIDC discovery document {url}: `issuer` is {} but {} was given; tokens carry the \
             document's issuer in `iss`",
            quote_truncated(found),
            quote_truncated(&crate::redact::hide_url_credentials(issuer))
        )),
        _ => None,
    };
    Ok((jwks_uri, warning))
}

/// Outcome of checking a token's signature, the `status` of the `decode` JSON `signature`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureStatus {
    /// A key verified the signature.
    Verified,
    /// A key matched by `kid` and `alg` was tried and the signature did not verify, or the token
    /// does not parse as Envoy reads it.
    Invalid,
    /// Nothing was checked: no keys, no usable keys, or a token with no signature to check.
    Unverified,
    /// No key matches the token's `kid` and `alg`.
    KeyNotFound,
}

/// The `signature` object of `decode -o json`, with the explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureReport {
    pub status: SignatureStatus,
    pub alg: Option<String>,
    pub kid: Option<String>,
    /// Label of the key set that decided (the one that verified, or the one whose key failed):
    /// a path, a URL or a flag name, never a secret.
    pub key_source: Option<String>,
    pub key_source_kind: Option<SourceKind>,
    /// Index of the deciding key in that set.
    pub key_index: Option<usize>,
    /// Envoy's status text for a failure, exactly as `jwt_authn` reports it.
    pub envoy_status: Option<&'static str>,
    pub message: String,
}

impl SignatureReport {
    fn decided_by(&mut self, set: &KeySet) {
        self.key_source = Some(set.label.clone());
        self.key_source_kind = Some(set.kind);
    }
}

/// Settles which token Envoy's `jwt_authn` reads when whitespace splits the signature segment of
/// the value, from `report`, the signature check of that reading `as_sent`
/// ([`Inspection::as_sent`]). A signature that verifies makes the value one token with whitespace
/// inside: `as_sent` then replaces `inspection` and `report` is returned. One that fails gives
/// Envoy's status for the value as sent to `inspection`, the token alone, which the caller checks.
pub fn settle_as_sent(
    inspection: &mut Inspection,
    as_sent: Inspection,
    report: SignatureReport,
) -> Option<SignatureReport> {
    match (report.status, report.envoy_status) {
        (SignatureStatus::Verified, _) => {
            *inspection = as_sent;
            return Some(report);
        }
        (SignatureStatus::Invalid, Some(status)) => reject_as_sent(inspection, status),
        _ => {}
    }
    None
}

/// Records in `inspection` that Envoy's `jwt_authn` returns 401 `status` for the value as sent,
/// because the signature it reads with the whitespace skipped did not verify.
fn reject_as_sent(inspection: &mut Inspection, status: &'static str) {
    inspection
        .problems
        .retain(|problem| problem.code != "whitespace_in_signature");
    if super::codec_rejects(&inspection.problems) {
        return;
    }
    inspection
        .problems
        .extend(super::find::format_problem(Some(status)));
    inspection.problems.sort_by_key(|problem| problem.severity);
    inspection.mesh_reads_other = Some(status);
    inspection.mesh_format_status = Some(status);
}

/// Checks the inspected token against each key set in order and explains the outcome.
/// `load_failures` are the messages of key sources that could not be loaded; they are named when
/// nothing verified.
pub fn check_signature(
    inspection: &Inspection,
    sets: &[&KeySet],
    load_failures: &[String],
) -> SignatureReport {
    let mut report = check_token_signature(inspection, sets, load_failures);
    // Envoy reads a JWE or an opaque token found in `Authorization` (or pasted bare) and rejects
    // its format. Another header reaches Envoy only through `fromHeaders`.
    let mesh_reads_token = !inspection.mesh_finds_no_token
        && inspection
            .header_name
            .as_deref()
            .is_none_or(|name| name == "authorization");
    if inspection.kind != TokenKind::Jws && mesh_reads_token {
        report.envoy_status = inspection.signed().err();
    }
    if inspection.mesh_finds_no_token {
        // Envoy never reads this token, so it gives no status for it.
        report.envoy_status = None;
        report.message = format!(
            "{}. Envoy's jwt_authn finds no token in this value (no `Bearer ` prefix), so the \
             mesh lets the request on without a request principal",
            report.message
        );
    }
    let codec_rejects = super::codec_rejects(&inspection.problems);
    if let Some(status) = inspection.mesh_reads_other.filter(|_| !codec_rejects) {
        // The token verifies or not on its own, but the request sends it with other characters.
        report.envoy_status = Some(status);
        report.message = format!(
            "{}. From the value as sent, Envoy's jwt_authn reads the token with the characters \
             around it and returns 401 `{status}`",
            report.message
        );
    }
    if codec_rejects {
        // The codec responds with 400 before jwt_authn runs.
        report.envoy_status = None;
    }
    report
}

/// Checks the token alone, as [`check_signature`] describes.
fn check_token_signature(
    inspection: &Inspection,
    sets: &[&KeySet],
    load_failures: &[String],
) -> SignatureReport {
    let mut report = SignatureReport {
        status: SignatureStatus::Unverified,
        alg: None,
        kid: None,
        key_source: None,
        key_source_kind: None,
        key_index: None,
        envoy_status: None,
        message: String::new(),
    };
    match inspection.kind {
        TokenKind::Jwe => {
            "a JWE is encrypted, not signed: there is no signature to check, and Envoy's jwt_authn \
             rejects it"
                .clone_into(&mut report.message);
            return report;
        }
        TokenKind::Opaque => {
            "an opaque token has no signature to check; only its issuer can validate it (token \
             introspection)"
                .clone_into(&mut report.message);
            return report;
        }
        TokenKind::Jws => {}
    }
    let jwt = match inspection.signed() {
        Ok(jwt) => jwt,
        Err(status) => return malformed(report, inspection.token.expose(), status),
    };
    report.alg = Some(jwt.alg.to_owned());
    report.kid = (!jwt.kid.is_empty()).then(|| jwt.kid.to_owned());

    let mut stand_in = None;
    let mut failure: Option<(&KeySet, VerifyError)> = None;
    for set in sets {
        match verify_jwt(&jwt, &set.jwks) {
            Ok(index) => {
                report.status = SignatureStatus::Verified;
                report.decided_by(set);
                report.key_index = Some(index);
                report.message = format!(
                    "verified with the key at index {index} ({}) of {}",
                    describe_key(&set.jwks, index),
                    set.label
                );
                return report;
            }
            Err(VerifyError::KidAlgMismatch { .. }) => {
                if stand_in.is_none() {
                    stand_in = set.istiod_stand_in.as_ref().map(|uri| (set, uri));
                }
            }
            Err(error) => {
                failure.get_or_insert((set, error));
            }
        }
    }

    if let Some((set, error)) = failure {
        report.status = SignatureStatus::Invalid;
        report.decided_by(set);
        report.envoy_status = Some(error.envoy_status());
        report.message = format!("{}: {error} (keys of {})", error.envoy_status(), set.label);
    } else if let Some((set, uri)) = stand_in {
        report.status = SignatureStatus::KeyNotFound;
        report.decided_by(set);
        let consequence = if set.jwks.keys.is_empty() {
            // Envoy 1.40: `Provider … in jwt_authn config has invalid local jwks`.
            "Envoy cannot use this stand-in key either (its modulus spells the URI and is even or \
             under 512 bits), so it rejects the whole jwt_authn config and the proxy keeps its \
             previous configuration"
                .to_owned()
        } else {
            report.envoy_status = Some(jwks::KID_ALG_MISMATCH);
            format!(
                "so Envoy rejects every token with `{}`",
                jwks::KID_ALG_MISMATCH
            )
        };
        report.message = format!(
            "istiod could not fetch the JWKS from {uri}: {} contains the stand-in key istiod inlines \
             after a failed fetch, {consequence}. Make the jwksUri reachable from istiod (DNS, \
             egress, CA) and wait for its next refresh",
            set.label,
        );
    } else if sets.is_empty() {
        report.message = if load_failures.is_empty() {
            "no keys given; pass --jwks, --issuer, --key or --secret-file to verify".to_owned()
        } else {
            format!(
                "no keys could be loaded, so nothing was verified: {}",
                load_failures.join("; ")
            )
        };
    } else {
        report.status = SignatureStatus::KeyNotFound;
        report.envoy_status = Some(jwks::KID_ALG_MISMATCH);
        report.message = no_match_message(report.kid.as_deref(), jwt.alg, sets, load_failures);
    }
    report
}

/// Explains a kid/alg mismatch by listing the keys each set offers.
fn no_match_message(
    kid: Option<&str>,
    alg: &str,
    sets: &[&KeySet],
    load_failures: &[String],
) -> String {
    let offered: Vec<String> = sets
        .iter()
        .map(|set| format!("{} offers {}", set.label, list_keys(&set.jwks)))
        .collect();
    let mut message = format!(
        "{}: no key has `kid` {} and an `alg` of {} or none; {}",
        jwks::KID_ALG_MISMATCH,
        kid.map_or_else(|| "(none)".to_owned(), quote_truncated),
        quote_truncated(alg),
        offered.join("; ")
    );
    if !load_failures.is_empty() {
        message.push_str("; not loaded: ");
        message.push_str(&load_failures.join("; "));
    }
    message
}

/// The verdict for a token `jwt_verify_lib` refuses to parse; `alg` none is unsigned rather than
/// invalid, because nothing was signed.
fn malformed(mut report: SignatureReport, token: &str, status: &'static str) -> SignatureReport {
    let header = token
        .split('.')
        .next()
        .and_then(jwks::websafe_decode)
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    let alg = header
        .as_ref()
        .and_then(|header| header.get("alg"))
        .and_then(Value::as_str);
    report.alg = alg.map(str::to_owned);
    report.kid = header
        .as_ref()
        .and_then(|header| header.get("kid"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    report.envoy_status = Some(status);
    if alg.is_some_and(|alg| alg.eq_ignore_ascii_case("none")) {
        report.message = format!(
            "unsigned token (`alg` none): there is no signature to check, and Envoy's jwt_authn \
             rejects it with `{status}`"
        );
    } else {
        report.status = SignatureStatus::Invalid;
        report.message =
            format!("the token does not parse as Envoy's jwt_authn reads it: {status}");
    }
    report
}

/// Describes a key by its `kid`, type and `alg`: `kid "k1", RSA, alg RS256`. A batch describes
/// the verifying key of every token, so the text is kept with the key.
fn describe_key(jwks: &Jwks, index: usize) -> Cow<'_, str> {
    match jwks.keys.iter().find(|key| key.index == index) {
        Some(key) => Cow::Borrowed(key.parsed.description.get_or_init(|| describe(key))),
        None => Cow::Owned(format!("index {index}")),
    }
}

/// Writes the text of [`describe_key`].
fn describe(key: &Jwk) -> String {
    let mut text = String::with_capacity(80);
    if key.kid.is_empty() {
        text.push_str("no kid");
    } else {
        text.push_str("kid ");
        text.push_str(&quote_truncated(&key.kid));
    }
    text.push_str(", ");
    match key.kty {
        KeyType::Rsa => text.push_str("RSA"),
        KeyType::Ec => {
            text.push_str("EC ");
            text.push_str(&key.crv);
        }
        KeyType::Oct => text.push_str("HMAC secret"),
        KeyType::Okp => text.push_str(&key.crv),
    }
    text.push_str(", ");
    if key.alg.is_empty() {
        text.push_str("no alg");
    } else {
        text.push_str("alg ");
        text.push_str(&key.alg);
    }
    text
}

/// Lists the usable keys of a set by `kid` and `alg`, for the no-match explanation.
fn list_keys(jwks: &Jwks) -> String {
    if jwks.keys.is_empty() {
        return "no usable key".to_owned();
    }
    let keys: Vec<String> = jwks
        .keys
        .iter()
        .map(|key| format!("[{}]", describe_key(jwks, key.index)))
        .collect();
    keys.join(" ")
}

fn jwk_from_material(index: usize, material: KeyMaterial) -> Jwk {
    let (kty, crv) = match &material {
        KeyMaterial::Rsa { .. } => (KeyType::Rsa, String::new()),
        KeyMaterial::Ec { x, .. } => {
            let crv = match x.len() {
                48 => "P-384",
                66 => "P-521",
                _ => "P-256",
            };
            (KeyType::Ec, crv.to_owned())
        }
        KeyMaterial::Oct(_) => (KeyType::Oct, String::new()),
        KeyMaterial::Okp(_) => (KeyType::Okp, "Ed25519".to_owned()),
    };
    Jwk {
        index,
        kty,
        kid: String::new(),
        alg: String::new(),
        crv,
        material,
        parsed: ParsedKeys::default(),
    }
}

/// Splits PEM text into `(label, DER bytes)` blocks. Text outside the blocks is ignored, as
/// OpenSSL does.
fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for line in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            body.push_str(line);
        }
        if !closed {
            return Err(format!("the `{label}` block has no `{end}` line"));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| format!("the `{label}` block is not valid base64"))?;
        blocks.push((label.to_owned(), der));
    }
    Ok(blocks)
}

/// Reads the public key of one PEM block.
fn pem_key(label: &str, der: &[u8]) -> Result<KeyMaterial, String> {
    match label {
        "PUBLIC KEY" => spki_key(der),
        "RSA PUBLIC KEY" => rsa_key(der),
        "CERTIFICATE" => certificate_spki(der).and_then(spki_key),
        _ if label.contains("PRIVATE KEY") => Err(format!(
            "`{label}` is a private key; give the public key instead (`openssl pkey -in KEY \
             -pubout`), and keep the private key out of tools"
        )),
        _ => Err(format!(
            "`{label}` is not a supported PEM type; use `PUBLIC KEY`, `RSA PUBLIC KEY` or \
             `CERTIFICATE`"
        )),
    }
}

const OID_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
const OID_RSA_PSS: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A];
const OID_EC: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x23];
const OID_ED25519: &[u8] = &[0x2B, 0x65, 0x70];

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_EXPLICIT_0: u8 = 0xA0;

/// Reads one DER element: its tag, its content and the bytes after it.
fn der_element(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    const BAD: &str = "the DER structure is truncated or malformed";
    let (&tag, rest) = input.split_first().ok_or(BAD)?;
    let (&first, mut rest) = rest.split_first().ok_or(BAD)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 || count > 4 || rest.len() < count {
            return Err(BAD.to_owned());
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes
            .iter()
            .fold(0_usize, |len, &byte| (len << 8) | usize::from(byte))
    };
    if rest.len() < len {
        return Err(BAD.to_owned());
    }
    let (content, after) = rest.split_at(len);
    Ok((tag, content, after))
}

/// Reads an element that must have `tag`.
fn der_expect<'a>(input: &'a [u8], tag: u8, what: &str) -> Result<(&'a [u8], &'a [u8]), String> {
    let (found, content, rest) = der_element(input)?;
    if found == tag {
        Ok((content, rest))
    } else {
        Err(format!("expected {what} in the DER structure"))
    }
}

/// Returns the `SubjectPublicKeyInfo` of an X.509 certificate (RFC 5280 §4.1).
fn certificate_spki(der: &[u8]) -> Result<&[u8], String> {
    let (certificate, _) = der_expect(der, TAG_SEQUENCE, "a certificate")?;
    let (mut tbs, _) = der_expect(certificate, TAG_SEQUENCE, "tbsCertificate")?;
    // Skip the optional version, then serial, signature, issuer, validity and subject.
    if tbs.first() == Some(&TAG_EXPLICIT_0) {
        tbs = der_element(tbs)?.2;
    }
    for _ in 0..5 {
        tbs = der_element(tbs)?.2;
    }
    let (tag, _, rest) = der_element(tbs)?;
    if tag != TAG_SEQUENCE {
        return Err("expected subjectPublicKeyInfo in the certificate".to_owned());
    }
    // The whole element, tag and length included, is what `spki_key` reads.
    Ok(&tbs[..tbs.len() - rest.len()])
}

/// Reads a `SubjectPublicKeyInfo` (RFC 5280 §4.1.2.7).
fn spki_key(der: &[u8]) -> Result<KeyMaterial, String> {
    let (spki, _) = der_expect(der, TAG_SEQUENCE, "SubjectPublicKeyInfo")?;
    let (algorithm, rest) = der_expect(spki, TAG_SEQUENCE, "an AlgorithmIdentifier")?;
    let (bits, _) = der_expect(rest, TAG_BIT_STRING, "the public key BIT STRING")?;
    let Some((0, key)) = bits.split_first() else {
        return Err("the public key BIT STRING has unused bits".to_owned());
    };
    let (oid, parameters) = der_expect(algorithm, TAG_OID, "the key algorithm OID")?;
    if oid == OID_RSA || oid == OID_RSA_PSS {
        return rsa_key(key);
    }
    if oid == OID_ED25519 {
        return jwks::okp_material(key.to_vec()).map_err(|defect| defect.to_string());
    }
    if oid != OID_EC {
        return Err(
            "the key type is not supported; use an RSA, EC (P-256, P-384, P-521) or Ed25519 key"
                .to_owned(),
        );
    }
    let (curve_oid, _) = der_expect(parameters, TAG_OID, "the EC curve OID")?;
    let curve = match curve_oid {
        OID_P256 => "P-256",
        OID_P384 => "P-384",
        OID_P521 => "P-521",
        _ => return Err("the EC curve is not P-256, P-384 or P-521".to_owned()),
    };
    let coordinate_len = jwks::coordinate_len(curve);
    match key.split_first() {
        Some((0x04, point)) if point.len() == 2 * coordinate_len => {
            let (x, y) = point.split_at(coordinate_len);
            jwks::ec_material(curve, x, y).map_err(|defect| defect.to_string())
        }
        Some((0x02 | 0x03, _)) => Err(
            "the EC point is compressed; export it uncompressed (`openssl ec -pubin -pubout \
             -conv_form uncompressed`)"
                .to_owned(),
        ),
        _ => Err("the EC point has the wrong length for its curve".to_owned()),
    }
}

/// Reads a PKCS #1 `RSAPublicKey` (RFC 8017 §A.1.1).
fn rsa_key(der: &[u8]) -> Result<KeyMaterial, String> {
    let (sequence, _) = der_expect(der, TAG_SEQUENCE, "RSAPublicKey")?;
    let (n, rest) = der_expect(sequence, TAG_INTEGER, "the RSA modulus")?;
    let (e, _) = der_expect(rest, TAG_INTEGER, "the RSA exponent")?;
    jwks::rsa_material(n, e).map_err(|defect| defect.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_url_joins_path() {
        assert_eq!(
            discovery_url("https://idp.example.com/realms/shop/"),
            "https://idp.example.com/realms/shop/.well-known/openid-configuration"
        );
    }

    #[test]
    fn discovery_missing_jwks_uri() {
        let error =
            jwks_uri_from_discovery("https://i/d", "https://i", r#"{"issuer":"https://i"}"#)
                .expect_err("no jwks_uri");
        assert_eq!(
            error.to_string(),
            "OIDC discovery document https://i/d: `jwks_uri` is missing; pass the JWKS URL with \
             --jwks instead"
        );
    }

    #[test]
    fn discovery_issuer_mismatch_warns() {
        let text = r#"{"issuer":"https://other","jwks_uri":"https://i/certs"}"#;
        let (_, warning) =
            jwks_uri_from_discovery("https://i/d", "https://i", text).expect("parses");
        assert!(warning.is_some_and(|warning| warning.contains("\"https://other\"")));
    }

    #[test]
    fn private_key_rejected() {
        let text = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let error = KeySet::from_pem("k.pem", text).expect_err("private");
        assert!(error.to_string().contains("is a private key"));
    }

    #[test]
    fn unterminated_pem_block() {
        let error = KeySet::from_pem("k.pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n")
            .expect_err("no end line");
        assert_eq!(
            error.to_string(),
            "k.pem: the `PUBLIC KEY` block has no `-----END PUBLIC KEY-----` line"
        );
    }

    #[test]
    fn empty_secret_rejected() {
        assert!(KeySet::from_secret("--secret", b"").is_err());
    }

    #[test]
    fn der_long_length() {
        let mut der = vec![0x04, 0x81, 0x80];
        der.extend(std::iter::repeat_n(7, 0x80));
        let (tag, content, rest) = der_element(&der).expect("parses");
        assert_eq!((tag, content.len(), rest.len()), (0x04, 0x80, 0));
    }

    #[test]
    fn der_truncated() {
        assert!(der_element(&[0x30, 0x05, 0x00]).is_err());
    }
}
