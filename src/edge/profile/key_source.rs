//! The `[keys]` section of an edge profile: the key source, the algorithm a PEM key is imported
//! for, and whether WebCrypto's `importKey` takes the key for that algorithm.

use std::path::PathBuf;

use super::parse::RawKeys;
use super::{DEFAULT_PEM_ALGORITHM, EdgeProfile, KeySource, PEM_ALGORITHMS, Validator};
use crate::token::jwks::{Jwk, KeyType};
use crate::token::keys::{KeySet, SourceKind};

impl Validator<'_> {
    /// Reads `keys.pem_algorithm`, which applies to the profile's `pem` or `pem_file` key or, in a
    /// profile without a key source, to the PEM keys given with `--key`.
    pub(super) fn pem_algorithm(&self, keys: &RawKeys) -> Result<Option<String>, String> {
        let Some(alg) = &keys.pem_algorithm else {
            return Ok(None);
        };
        if keys.jwks.is_some() {
            return Err(self.error(
                "keys",
                "pem_algorithm",
                "applies to PEM keys only (`keys.pem`, `keys.pem_file` or `--key`), but this \
                 profile reads a JWKS; remove it",
            ));
        }
        let name = alg.to_ascii_uppercase();
        if !PEM_ALGORITHMS.contains(&name.as_str()) {
            return Err(self.error(
                "keys",
                "pem_algorithm",
                &format!(
                    "is {alg:?}, which no PEM public key is imported for; use one of {}",
                    PEM_ALGORITHMS.join(", ")
                ),
            ));
        }
        Ok(Some(name))
    }

    pub(super) fn key_source(&self, keys: RawKeys) -> Result<Option<KeySource>, String> {
        let given: Vec<(&str, String)> = [
            ("jwks", keys.jwks),
            ("pem", keys.pem),
            ("pem_file", keys.pem_file),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|value| (key, value)))
        .collect();
        let (key, value) = match given.as_slice() {
            [] => return Ok(None),
            [(key, value)] => (*key, value.clone()),
            [_, (second, _), ..] => {
                return Err(self.error(
                    "keys",
                    second,
                    "is set together with another key source; keep exactly one of `jwks`, `pem` \
                     and `pem_file`",
                ));
            }
        };
        if value.trim().is_empty() {
            return Err(self.error("keys", key, "is empty; give a path, a URL or a PEM key"));
        }
        Ok(Some(match key {
            "jwks" if value.contains("://") => {
                check_url(&value).map_err(|problem| self.error("keys", key, &problem))?;
                KeySource::JwksUrl(value)
            }
            "jwks" => KeySource::JwksFile(PathBuf::from(value)),
            "pem" => {
                if !value.contains("-----BEGIN ") {
                    return Err(self.error(
                        "keys",
                        key,
                        "holds no PEM block; paste the key from `-----BEGIN PUBLIC KEY-----` to \
                         `-----END PUBLIC KEY-----`, or use `pem_file`",
                    ));
                }
                KeySource::Pem(value)
            }
            _ => KeySource::PemFile(PathBuf::from(value)),
        }))
    }
}

impl EdgeProfile {
    /// Returns whether the EdgeWorker imports the keys of `set` from PEM: the profile's `pem` or
    /// `pem_file` key, or, in a profile without a key source, keys given with `--key`.
    pub(super) fn imports_pem(&self, set: &KeySet) -> bool {
        match &self.key_source {
            Some(KeySource::Pem(_) | KeySource::PemFile(_)) => true,
            Some(KeySource::JwksFile(_) | KeySource::JwksUrl(_)) => false,
            // NOTE: `decode` merges the sets of all key flags into one that takes the first
            // flag's kind, so with `--key` and `--jwks` together this follows the first flag.
            None => set.kind == SourceKind::Pem,
        }
    }

    /// Returns the algorithm the EdgeWorker imports a PEM key of type `kty` for:
    /// `keys.pem_algorithm`, or, as Akamai's examples import their keys, ES256 for an EC key and
    /// RS256 for any other.
    pub(super) fn imported_algorithm(&self, kty: KeyType) -> &str {
        match (&self.pem_algorithm, kty) {
            (Some(imported), _) => imported,
            (None, KeyType::Ec) => "ES256",
            (None, _) => DEFAULT_PEM_ALGORITHM,
        }
    }

    /// Returns why WebCrypto's `importKey` rejects a PEM key of `set` for the algorithm the
    /// EdgeWorker imports it for, or `None` when every key imports. The EdgeWorker then throws
    /// before it validates any token.
    pub fn pem_import_failure(&self, set: &KeySet) -> Option<String> {
        if !self.imports_pem(set) {
            return None;
        }
        set.jwks
            .keys
            .iter()
            .find_map(|key| self.key_import_failure(set, key))
    }

    fn key_import_failure(&self, set: &KeySet, key: &Jwk) -> Option<String> {
        let imported = self.imported_algorithm(key.kty);
        let fitting = fitting_algorithms(key);
        if fitting.contains(&imported) {
            return None;
        }
        let place = if set.jwks.keys.len() > 1 {
            format!("PEM block {} of {}", key.index + 1, set.label)
        } else {
            set.label.clone()
        };
        let contains = format!("{place} contains {}", describe_public_key(key));
        if fitting.is_empty() {
            return Some(format!(
                "{contains}, and no algorithm of Akamai's JWT module fits it, because the module \
                 implements no EdDSA; give an RSA or EC public key"
            ));
        }
        let setting = match &self.pem_algorithm {
            Some(alg) => format!("`keys.pem_algorithm` is {alg}"),
            None => format!(
                "`keys.pem_algorithm` is unset, so the EdgeWorker imports the key for {imported} \
                 as Akamai's examples do"
            ),
        };
        let rejects = match (key.kty, imported.get(..2)) {
            (KeyType::Ec, Some("ES")) => format!(
                "which `importKey` with namedCurve {} rejects",
                named_curve(imported)
            ),
            _ => format!(
                "which WebCrypto's `importKey` cannot import for {}",
                super::validate::webcrypto_family(imported)
            ),
        };
        let fix = match fitting {
            [only] => format!("set `keys.pem_algorithm` to {only}"),
            _ => format!("set `keys.pem_algorithm` to one of {}", fitting.join(", ")),
        };
        Some(format!("{setting}, but {contains}, {rejects}; {fix}"))
    }
}

/// Returns the algorithms a PEM key of this type and curve can be imported for.
pub(super) fn fitting_algorithms(key: &Jwk) -> &'static [&'static str] {
    match (key.kty, key.crv.as_str()) {
        (KeyType::Rsa, _) => &PEM_ALGORITHMS[..6],
        (KeyType::Ec, "P-256") => &["ES256"],
        (KeyType::Ec, "P-384") => &["ES384"],
        (KeyType::Ec, _) => &["ES512"],
        (KeyType::Okp | KeyType::Oct, _) => &[],
    }
}

/// Returns the WebCrypto `namedCurve` an ES* algorithm is imported with.
fn named_curve(alg: &str) -> &'static str {
    match alg {
        "ES256" => "P-256",
        "ES384" => "P-384",
        _ => "P-521",
    }
}

/// Describes a public key by type and curve: `an EC P-256 public key`.
pub(super) fn describe_public_key(key: &Jwk) -> String {
    match key.kty {
        KeyType::Rsa => "an RSA public key".to_owned(),
        KeyType::Ec => format!("an EC {} public key", key.crv),
        KeyType::Okp => "an Ed25519 public key".to_owned(),
        KeyType::Oct => "an HMAC secret".to_owned(),
    }
}

/// Checks a JWKS URL: https, or plain http only on a loopback host.
fn check_url(url: &str) -> Result<(), String> {
    let url_text = crate::redact::hide_url_credentials(url);
    let parsed = reqwest::Url::parse(url).map_err(|error| {
        format!("holds the invalid URL {url_text:?} ({error}); give an absolute https:// URL")
    })?;
    let host = parsed.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!(
            "is the plain http URL {url_text:?}; use https, because http is allowed only on loopback \
             (127.0.0.1, ::1, localhost)"
        )),
        scheme => Err(format!(
            "uses the URL scheme {scheme:?}; give an https:// URL or a file path"
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::edge::profile::EdgeProfile;

    fn error(text: &str) -> String {
        EdgeProfile::from_toml(text, "edge.toml").expect_err("an invalid profile")
    }

    #[test]
    fn pem_algorithm_jwks_rejected() {
        let error = error("[keys]\njwks = \"k.json\"\npem_algorithm = \"RS512\"\n");
        assert!(error.contains("`keys.pem_algorithm`"), "{error}");
        assert!(
            error.contains("`keys.pem`, `keys.pem_file` or `--key`"),
            "{error}"
        );
    }

    #[test]
    fn pem_algorithm_hmac_rejected() {
        let error = error("[keys]\npem_file = \"k.pem\"\npem_algorithm = \"HS256\"\n");
        assert!(error.contains("\"HS256\""), "{error}");
        assert!(error.contains("RS256, RS384"), "{error}");
    }

    #[test]
    fn pem_algorithm_upper_cased() {
        let profile = EdgeProfile::from_toml(
            "[keys]\npem_file = \"k.pem\"\npem_algorithm = \"rs512\"\n",
            "e",
        )
        .expect("a valid profile");
        assert_eq!(profile.pem_algorithm.as_deref(), Some("RS512"));
    }
}
