//! Differences that depend on what the mesh's `jwt_authn` reads and verifies: the algorithms a
//! rule's keys verify, and the token Envoy reads from a header value with another prefix.

use std::collections::BTreeMap;

use super::Collector;
use crate::edge::profile::EdgeProfile;
use crate::mesh::crd::JwtRule;
use crate::mesh::jwt::authenticate;
use crate::mesh::{MeshSettings, Request};
use crate::token::jwks::KeyType;
use crate::token::keys::{KeySet, SourceKind};

impl EdgeProfile {
    /// Lists the algorithms the keys of `rule`'s inline JWKS verify at the mesh but the edge
    /// rejects: EdDSA always, because Akamai's JWT module does not implement it, and those that
    /// `checks.algorithms` leaves out.
    // NOTE: a rule with `jwksUri` gets no such difference, because its keys are not known here.
    pub(super) fn algorithm_differences(&self, rule: &JwtRule, out: &mut Collector<'_>) {
        if rule.jwks.trim().is_empty() {
            return;
        }
        let Ok(set) = KeySet::from_jwks_text(SourceKind::File, &rule.issuer, None, &rule.jwks)
        else {
            return;
        };
        let mut rejected: Vec<&str> = Vec::new();
        for key in &set.jwks.keys {
            for alg in mesh_algorithms(key.kty, &key.crv) {
                if !self.algorithms.iter().any(|allowed| allowed == alg) && !rejected.contains(alg)
                {
                    rejected.push(alg);
                }
            }
        }
        if rejected.is_empty() {
            return;
        }
        let thrown = if rejected.contains(&"EdDSA") {
            "`EdDSA is not supported at the moment`, as Akamai's JWT module implements no EdDSA"
        } else {
            "`<alg> is not supported at the moment`"
        };
        out.add(
            Some(&rule.issuer),
            "algorithm_not_at_edge",
            format!(
                "the JWKS of the jwtRules entry for `{}` verifies {} tokens at the mesh, but the \
                 edge rejects them with {} {thrown}; sign with an algorithm both accept, or add \
                 it to `checks.algorithms` where the module implements it",
                rule.issuer,
                rejected.join(", "),
                self.deny_status
            ),
        );
    }
}

/// Says what Envoy's `jwt_authn` reads from `name: PREFIX<jwt>` when it looks after `mesh_prefix`,
/// and how it responds; `None` when it reads exactly the token. With the caller's token the mesh
/// simulator decides. Without one, the rule of the mesh's extractor decides: Envoy searches the
/// value for `mesh_prefix` (an empty one matches at the start) and reads from the first base64url
/// character after it to the end.
pub(super) fn prefix_reading(
    name: &str,
    prefix: &str,
    mesh_prefix: &str,
    out: &Collector<'_>,
) -> Option<String> {
    let no_token = "Envoy finds no token without that prefix, so the mesh sees no token: no \
                    request principal, and 403 where a policy requires one";
    if let Some(token) = out.token
        && !out.compared.is_empty()
    {
        let request = Request {
            headers: vec![(name.to_owned(), format!("{prefix}{token}"))],
            ..Request::default()
        };
        let authn = authenticate(
            out.compared,
            &BTreeMap::new(),
            &request,
            &MeshSettings::default(),
        );
        return match (&authn.rejected, &authn.request_principal) {
            (Some(rejected), _) => Some(format!(
                "Envoy reads {} as the token and responds with {} `{}` ({})",
                read_text(prefix, mesh_prefix),
                rejected.status,
                rejected.message,
                rejected.response_code_details
            )),
            (None, None) => Some(no_token.to_owned()),
            (None, Some(_)) => None,
        };
    }
    let Some(position) = prefix.find(mesh_prefix) else {
        return Some(no_token.to_owned());
    };
    let rest = &prefix[position + mesh_prefix.len()..];
    if mesh_prefix.is_empty()
        || rest.contains(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Some(format!(
            "Envoy reads {} as the token, so the JWT header segment does not decode and \
             jwt_authn responds with 401 (`Jwt header is an invalid JSON` or `Jwt header is an \
             invalid Base64url encoded`, depending on the token)",
            read_text(prefix, mesh_prefix)
        ));
    }
    None
}

/// Returns the text Envoy reads from `PREFIX<jwt>` after `mesh_prefix`, for messages.
fn read_text(prefix: &str, mesh_prefix: &str) -> String {
    let rest = prefix
        .find(mesh_prefix)
        .map_or(prefix, |position| &prefix[position + mesh_prefix.len()..]);
    let start = rest
        .find(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        .unwrap_or(rest.len());
    if mesh_prefix.is_empty() {
        format!("the whole value `{prefix}<jwt>`")
    } else {
        format!("`{}<jwt>`", &rest[start..])
    }
}

/// Returns the `alg` values Envoy's `jwt_authn` verifies with a key of type `kty` (and curve `crv`
/// for EC keys).
fn mesh_algorithms(kty: KeyType, crv: &str) -> &'static [&'static str] {
    match (kty, crv) {
        (KeyType::Rsa, _) => &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
        (KeyType::Ec, "P-384") => &["ES384"],
        (KeyType::Ec, "P-521") => &["ES512"],
        (KeyType::Ec, _) => &["ES256"],
        (KeyType::Oct, _) => &["HS256", "HS384", "HS512"],
        (KeyType::Okp, _) => &["EdDSA"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519_JWKS: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;

    fn reading(prefix: &str, mesh_prefix: &str) -> Option<String> {
        let mut found = Vec::new();
        let out = Collector {
            policy: None,
            file: None,
            compared: &[],
            mesh_rules: &[],
            token: None,
            found: &mut found,
        };
        prefix_reading("authorization", prefix, mesh_prefix, &out)
    }

    fn algorithm_codes(profile_text: &str, jwks: &str) -> Vec<String> {
        let profile = EdgeProfile::from_toml(profile_text, "<inline>").expect("a valid profile");
        let rule = JwtRule {
            issuer: "https://idp.test".to_owned(),
            jwks: jwks.to_owned(),
            ..JwtRule::default()
        };
        let mut found = Vec::new();
        let mut out = Collector {
            policy: None,
            file: None,
            compared: &[],
            mesh_rules: &[],
            token: None,
            found: &mut found,
        };
        profile.algorithm_differences(&rule, &mut out);
        found
            .into_iter()
            .map(|difference| difference.message)
            .collect()
    }

    #[test]
    fn empty_mesh_prefix_reads_whole_value() {
        let message = reading("Bearer ", "").expect("a difference");
        assert!(message.contains("whole value `Bearer <jwt>`"), "{message}");
        assert!(message.contains("401"), "{message}");
    }

    #[test]
    fn shorter_mesh_prefix_reads_token() {
        assert_eq!(reading("Bearer ", "Bearer"), None);
    }

    #[test]
    fn other_mesh_prefix_finds_no_token() {
        let message = reading("Token ", "Bearer ").expect("a difference");
        assert!(message.contains("no token"), "{message}");
    }

    #[test]
    fn eddsa_key_listed() {
        let messages = algorithm_codes("", ED25519_JWKS);
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(
            messages[0].contains("EdDSA is not supported at the moment"),
            "{messages:?}"
        );
    }

    #[test]
    fn uri_rule_not_listed() {
        assert!(algorithm_codes("", "").is_empty());
    }

    #[test]
    fn curve_algorithms() {
        assert_eq!(mesh_algorithms(KeyType::Ec, "P-384"), ["ES384"]);
        assert_eq!(mesh_algorithms(KeyType::Okp, "Ed25519"), ["EdDSA"]);
        assert_eq!(mesh_algorithms(KeyType::Rsa, "").len(), 6);
    }
}
