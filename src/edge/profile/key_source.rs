//! The `[keys]` section of an edge profile: the key source and the algorithm a PEM key is
//! imported for.

use std::path::PathBuf;

use super::parse::RawKeys;
use super::{KeySource, PEM_ALGORITHMS, Validator};

impl Validator<'_> {
    pub(super) fn pem_algorithm(&self, keys: &RawKeys) -> Result<Option<String>, String> {
        let Some(alg) = &keys.pem_algorithm else {
            return Ok(None);
        };
        if keys.pem.is_none() && keys.pem_file.is_none() {
            return Err(self.error(
                "keys",
                "pem_algorithm",
                "applies to a `pem` or `pem_file` key only; remove it, or give the PEM key",
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

/// Checks a JWKS URL: https, or plain http only on a loopback host.
fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|error| {
        format!("holds the invalid URL {url:?} ({error}); give an absolute https:// URL")
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
            "is the plain http URL {url:?}; use https, because http is allowed only on loopback \
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
    fn pem_algorithm_needs_pem() {
        let error = error("[keys]\npem_algorithm = \"RS512\"\n");
        assert!(error.contains("`keys.pem_algorithm`"), "{error}");
        assert!(error.contains("`pem` or `pem_file`"), "{error}");
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
