//! PS256 tokens whose RSASSA-PSS salt is not as long as the digest, in a real Envoy and in
//! `idflow decode`. Envoy's jwt_authn sets no salt length on `BoringSSL`'s verifier. Envoy 1.40
//! accepted only a salt as long as the digest, the length JWT libraries sign with. It rejected
//! salts of 0, 20 and 48 bytes and openssl's `max` with 401, for 1024- and 2048-bit keys alike.
//! idflow must reach the same verdict for each.

mod envoy_harness;
mod support;

use std::net::{IpAddr, Ipv4Addr};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use envoy_harness::Probe;
use envoy_harness::client::WireRequest;
use envoy_harness::envoy::{self, Layout};
use serde_json::{Value, json};
use support::{OpensslRsaKey, decode_json, openssl_ps256, openssl_rsa_key};

const ISSUER: &str = "https://idp.example.test";

/// Salt lengths as `openssl`'s `rsa_pss_saltlen` takes them.
const SALTS: [&str; 5] = ["0", "20", "digest", "48", "max"];

fn jwks(key: &OpensslRsaKey) -> String {
    json!({"keys": [{"kty": "RSA", "kid": "pss-1", "n": URL_SAFE_NO_PAD.encode(&key.modulus), "e": "AQAB"}]})
        .to_string()
}

fn token(key: &OpensslRsaKey, salt: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "PS256", "kid": "pss-1"}).to_string());
    let claims = json!({"iss": ISSUER, "sub": format!("salt-{salt}"), "exp": now + 3600});
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    let signature = URL_SAFE_NO_PAD.encode(openssl_ps256(key, &input, salt));
    format!("{input}.{signature}")
}

/// jwt_authn with one required provider holding `jwks`.
fn filters(jwks: &str) -> Vec<Value> {
    vec![
        json!({"name": "envoy.filters.http.jwt_authn", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"origins-0": {
                "issuer": ISSUER,
                "local_jwks": {"inline_string": jwks},
            }},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "origins-0"}}],
        }}),
    ]
}

/// Returns Envoy's status for each token.
fn envoy_statuses(jwks: &str, tokens: &[String]) -> Vec<u16> {
    let probes: Vec<Probe> = tokens
        .iter()
        .enumerate()
        .map(|(n, token)| Probe {
            id: format!("pss-{n}"),
            wire: WireRequest {
                method: "GET".to_owned(),
                path: "/".to_owned(),
                host: "orders.shop.svc.cluster.local".to_owned(),
                headers: vec![("Authorization".to_owned(), format!("Bearer {token}"))],
                peer: None,
                source_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                sni: None,
            },
        })
        .collect();
    let layout = Layout {
        http_filters: filters(jwks),
        network_filters: Vec::new(),
        tcp: false,
        port: envoy::free_port(),
        upstream_port: envoy::free_port(),
        xff_trusted_hops: 0,
    };
    let dir = envoy_harness::scratch_dir("pss-salt");
    envoy_harness::run_in_envoy(&envoy::binary(), &dir, &layout, &probes, "spiffe://t", &[])
        .unwrap_or_else(|error| panic!("{error}"))
        .into_iter()
        .map(|result| result.status)
        .collect()
}

fn check_salts(bits: u32) {
    let key = openssl_rsa_key(bits);
    let jwks = jwks(&key);
    let tokens: Vec<String> = SALTS.iter().map(|salt| token(&key, salt)).collect();
    let statuses = envoy_statuses(&jwks, &tokens);

    let jwks_path =
        std::env::temp_dir().join(format!("idflow-pss-{bits}-{}.json", std::process::id()));
    std::fs::write(&jwks_path, &jwks).expect("JWKS written");
    let jwks_path = jwks_path.to_str().expect("UTF-8 path");
    let mut seen = Vec::new();
    for ((salt, token), status) in SALTS.iter().zip(&tokens).zip(statuses) {
        let (code, json) = decode_json(&format!("Bearer {token}"), &["--jwks", jwks_path]);
        let verdict = json["signature"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        seen.push((*salt, status, verdict, code));
    }
    for (salt, status, verdict, code) in &seen {
        let expected = if *salt == "digest" {
            (200, "verified", 0)
        } else {
            (401, "invalid", 1)
        };
        assert_eq!(
            (*status, verdict.as_str(), *code),
            expected,
            "{bits}-bit key, salt {salt}: (Envoy's status, idflow's verdict, exit status)"
        );
    }
}

#[test]
fn pss_salts_2048_bit_key() {
    check_salts(2048);
}

#[test]
fn pss_salts_1024_bit_key() {
    check_salts(1024);
}
