//! RequestAuthentication → jwt_authn: published JWS vectors, tokens minted here with fresh keys,
//! the requests measured against a real Envoy, field reports, and the config istiod generates.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair as _, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeZone, Utc};
use idflow::mesh::crd::RequestAuthentication;
use idflow::mesh::jwt::{self, Authn};
use idflow::mesh::{IstioVersion, MeshSettings, Request};
use idflow::token::jwks::parse_jwks;
use idflow::token::verify::{verify_signature_only, verify_token};
use serde_json::{Value, json};

const NOW: i64 = 1_700_000_000;
const ISS: &str = "https://idp.example.com/realms/shop";

// ---- keys and tokens minted for the tests ----

enum Key {
    Rsa(&'static RsaKeyPair),
    Ec(EcdsaKeyPair, &'static str),
    Ed(Ed25519KeyPair),
    Hmac(Vec<u8>),
}

fn rsa_key() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key"))
}

fn other_rsa_key() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key"))
}

fn ec_key(crv: &'static str) -> Key {
    let alg = if crv == "P-384" {
        &ECDSA_P384_SHA384_FIXED_SIGNING
    } else {
        &ECDSA_P256_SHA256_FIXED_SIGNING
    };
    Key::Ec(EcdsaKeyPair::generate(alg).expect("EC key"), crv)
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign(key: &Key, alg: &str, input: &[u8]) -> Vec<u8> {
    let rng = SystemRandom::new();
    match key {
        Key::Rsa(pair) => {
            let encoding: &'static dyn signature::RsaEncoding = match alg {
                "RS384" => &signature::RSA_PKCS1_SHA384,
                "RS512" => &signature::RSA_PKCS1_SHA512,
                "PS256" => &signature::RSA_PSS_SHA256,
                "PS384" => &signature::RSA_PSS_SHA384,
                "PS512" => &signature::RSA_PSS_SHA512,
                _ => &signature::RSA_PKCS1_SHA256,
            };
            let mut out = vec![0; pair.public_modulus_len()];
            pair.sign(encoding, &rng, input, &mut out)
                .expect("RSA sign");
            out
        }
        Key::Ec(pair, _) => pair.sign(&rng, input).expect("EC sign").as_ref().to_vec(),
        Key::Ed(pair) => pair.sign(input).as_ref().to_vec(),
        Key::Hmac(secret) => {
            let algorithm = match alg {
                "HS384" => aws_lc_rs::hmac::HMAC_SHA384,
                "HS512" => aws_lc_rs::hmac::HMAC_SHA512,
                _ => aws_lc_rs::hmac::HMAC_SHA256,
            };
            let key = aws_lc_rs::hmac::Key::new(algorithm, secret);
            aws_lc_rs::hmac::sign(&key, input).as_ref().to_vec()
        }
    }
}

fn jwk(key: &Key, kid: &str) -> Value {
    match key {
        Key::Rsa(pair) => {
            let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
            json!({"kty": "RSA", "kid": kid, "n": b64(&public.n), "e": b64(&public.e)})
        }
        Key::Ec(pair, crv) => {
            let point = pair.public_key().as_ref();
            let half = (point.len() - 1) / 2;
            json!({"kty": "EC", "kid": kid, "crv": crv,
                   "x": b64(&point[1..=half]), "y": b64(&point[1 + half..])})
        }
        Key::Ed(pair) => {
            json!({"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(pair.public_key().as_ref())})
        }
        Key::Hmac(secret) => json!({"kty": "oct", "kid": kid, "k": b64(secret)}),
    }
}

fn mint(key: &Key, header: &Value, claims: &Value) -> String {
    let alg = header["alg"].as_str().unwrap_or("RS256");
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = sign(key, alg, input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

fn claims() -> Value {
    json!({"iss": ISS, "sub": "u-1", "aud": "orders-api", "exp": NOW + 3600, "iat": NOW})
}

fn rs256(claims: &Value) -> String {
    mint(
        &Key::Rsa(rsa_key()),
        &json!({"alg": "RS256", "kid": "k1"}),
        claims,
    )
}

fn jwks_text(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

fn main_jwks() -> String {
    jwks_text(&[jwk(&Key::Rsa(rsa_key()), "k1")])
}

// ---- policies, requests, runs ----

fn policy(name: &str, rules: Value) -> RequestAuthentication {
    let mut value = json!({
        "apiVersion": "security.istio.io/v1",
        "kind": "RequestAuthentication",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {},
    });
    value["spec"]["jwtRules"] = rules;
    serde_json::from_value(value).expect("policy")
}

fn default_policy() -> RequestAuthentication {
    policy(
        "jwt",
        json!([{"issuer": ISS, "audiences": ["orders-api"], "jwks": main_jwks()}]),
    )
}

fn settings() -> MeshSettings {
    MeshSettings {
        now: Utc.timestamp_opt(NOW, 0).single().expect("time"),
        ..MeshSettings::default()
    }
}

fn request(headers: &[(&str, &str)], path: &str) -> Request {
    Request {
        path: path.to_owned(),
        host: "orders.shop:8080".to_owned(),
        headers: headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect(),
        ..Request::default()
    }
}

fn run(policies: &[RequestAuthentication], headers: &[(&str, &str)], path: &str) -> Authn {
    jwt::authenticate(
        policies,
        &BTreeMap::new(),
        &request(headers, path),
        &settings(),
    )
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// `(status, response code details)`; `(200, "")` when jwt_authn lets the request on.
fn verdict(authn: &Authn) -> (u16, String) {
    authn
        .rejected
        .as_ref()
        .map_or((200, String::new()), |rejected| {
            (rejected.status, rejected.response_code_details.clone())
        })
}

fn header<'a>(authn: &'a Authn, name: &str) -> Option<&'a str> {
    authn
        .headers
        .iter()
        .find(|(header, _)| header.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

fn denied(status: u16, text: &str) -> (u16, String) {
    (status, format!("jwt_authn_access_denied{{{text}}}"))
}

// ---- published vectors ----

#[test]
fn rfc_vectors_verify() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jwt");
    for name in [
        "rfc7515-a1-hs256.json",
        "rfc7515-a2-rs256.json",
        "rfc7515-a3-es256.json",
        "rfc8037-a4-ed25519.json",
    ] {
        let text = std::fs::read_to_string(dir.join(name)).expect("fixture");
        let fixture: Value = serde_json::from_str(&text).expect("fixture JSON");
        let jwks = parse_jwks(&fixture["jwks"].to_string()).expect("JWKS");
        let token = fixture["token"].as_str().unwrap_or_default();
        assert_eq!(verify_signature_only(token, &jwks), Ok(0), "{name}");
    }
}

#[test]
fn istio_demo_token() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/istio-jwt-samples");
    let (Ok(token), Ok(jwks)) = (
        std::fs::read_to_string(dir.join("demo.jwt")),
        std::fs::read_to_string(dir.join("jwks.json")),
    ) else {
        println!(
            "skipped: Istio's demo token and JWKS are not in {}",
            dir.display()
        );
        return;
    };
    let policies = [policy(
        "jwt",
        json!([{"issuer": "testing@secure.istio.io", "jwks": jwks}]),
    )];
    let authn = run(&policies, &[("authorization", &bearer(token.trim()))], "/");
    assert_eq!(
        authn.request_principal.as_deref(),
        Some("testing@secure.istio.io/testing@secure.istio.io")
    );
}

// ---- signature algorithms ----

#[test]
fn algorithms_verify() {
    let hmac = Key::Hmac(b"a shared secret of thirty-two by".to_vec());
    let cases = [
        ("RS256", Key::Rsa(rsa_key())),
        ("RS384", Key::Rsa(rsa_key())),
        ("RS512", Key::Rsa(rsa_key())),
        ("PS256", Key::Rsa(rsa_key())),
        ("PS384", Key::Rsa(rsa_key())),
        ("PS512", Key::Rsa(rsa_key())),
        ("ES256", ec_key("P-256")),
        ("ES384", ec_key("P-384")),
        (
            "EdDSA",
            Key::Ed(Ed25519KeyPair::generate().expect("Ed25519 key")),
        ),
        ("HS256", hmac),
        ("HS384", Key::Hmac(b"another secret".to_vec())),
        ("HS512", Key::Hmac(b"a third secret".to_vec())),
    ];
    for (alg, key) in cases {
        let jwks = parse_jwks(&jwks_text(&[jwk(&key, "k")])).expect("JWKS");
        let token = mint(&key, &json!({"alg": alg, "kid": "k"}), &claims());
        assert_eq!(verify_token(&token, &jwks), Ok(0), "{alg}");
    }
}

#[test]
fn second_key_verifies() {
    let jwks = jwks_text(&[
        jwk(&Key::Rsa(other_rsa_key()), ""),
        jwk(&Key::Rsa(rsa_key()), ""),
    ]);
    let jwks = parse_jwks(&jwks).expect("JWKS");
    let token = mint(&Key::Rsa(rsa_key()), &json!({"alg": "RS256"}), &claims());
    assert_eq!(verify_token(&token, &jwks), Ok(1));
}

// ---- the table measured with a real Envoy, and field reports ----

#[test]
fn measured_with_envoy() {
    let valid = rs256(&claims());
    let expired = rs256(&json!({"iss": ISS, "sub": "u-1", "aud": "orders-api", "exp": NOW - 3600}));
    let wrong_aud = rs256(&json!({"iss": ISS, "sub": "u-1", "aud": "account"}));
    let wrong_iss = rs256(&json!({"iss": "https://other.example.com", "sub": "u-1"}));
    let unknown_kid = mint(
        &Key::Rsa(other_rsa_key()),
        &json!({"alg": "RS256", "kid": "k9"}),
        &claims(),
    );
    let wrong_key = mint(
        &Key::Rsa(other_rsa_key()),
        &json!({"alg": "RS256", "kid": "k1"}),
        &claims(),
    );
    let future = rs256(&json!({"iss": ISS, "sub": "u-1", "aud": "orders-api", "nbf": NOW + 3600}));
    let cases = [
        ("no token", None, (200, String::new())),
        ("valid", Some(bearer(&valid)), (200, String::new())),
        (
            "expired",
            Some(bearer(&expired)),
            denied(401, "Jwt_is_expired"),
        ),
        (
            "wrong audience",
            Some(bearer(&wrong_aud)),
            denied(403, "Audiences_in_Jwt_are_not_allowed"),
        ),
        (
            "wrong issuer",
            Some(bearer(&wrong_iss)),
            denied(401, "Jwt_issuer_is_not_configured"),
        ),
        (
            "unknown kid",
            Some(bearer(&unknown_kid)),
            denied(401, "Jwks_doesn't_have_key_to_match_kid_or_alg_from_Jwt"),
        ),
        (
            "right kid, wrong key",
            Some(bearer(&wrong_key)),
            denied(401, "Jwt_verification_fails"),
        ),
        (
            "not a JWT",
            Some("Bearer not.a.jwt".to_owned()),
            denied(401, "Jwt_header_is_an_invalid_JSON"),
        ),
        (
            "nbf ahead",
            Some(bearer(&future)),
            denied(401, "Jwt_not_yet_valid"),
        ),
        (
            "lower-case scheme",
            Some(format!("bearer {valid}")),
            (200, String::new()),
        ),
    ];
    let policies = [default_policy()];
    for (case, value, expected) in cases {
        let headers: Vec<(&str, &str)> = value
            .as_deref()
            .map(|value| ("Authorization", value))
            .into_iter()
            .collect();
        assert_eq!(verdict(&run(&policies, &headers, "/")), expected, "{case}");
    }
}

#[test]
fn valid_principal() {
    let authn = run(
        &[default_policy()],
        &[("authorization", &bearer(&rs256(&claims())))],
        "/",
    );
    assert_eq!(
        authn.request_principal.as_deref(),
        Some(&*format!("{ISS}/u-1"))
    );
}

#[test]
fn lower_case_scheme_no_principal() {
    let value = format!("bearer {}", rs256(&claims()));
    let authn = run(&[default_policy()], &[("authorization", &value)], "/");
    assert_eq!(authn.request_principal, None);
}

#[test]
fn b11_opaque_token() {
    let authn = run(
        &[default_policy()],
        &[("authorization", "Bearer 9f1c2e7a5b8d4c3e")],
        "/metrics",
    );
    assert_eq!(
        verdict(&authn),
        denied(
            401,
            "Jwt_is_not_in_the_form_of_Header.Payload.Signature_with_two_dots_and_3_sections"
        )
    );
}

#[test]
fn b12_no_scheme_missing() {
    let authn = run(
        &[default_policy()],
        &[("authorization", &rs256(&claims()))],
        "/",
    );
    assert_eq!(verdict(&authn), (200, String::new()));
}

#[test]
fn b13_trailing_junk() {
    let token = rs256(&claims());
    let cases = [
        (
            format!("Bearer {token} .abc"),
            denied(
                401,
                "Jwt_is_not_in_the_form_of_Header.Payload.Signature_with_two_dots_and_3_sections",
            ),
        ),
        // The junk lengthens the signature: whole base64 groups decode to other bytes, a lone
        // extra character breaks the base64.
        (
            format!("Bearer {token} ab"),
            denied(401, "Jwt_verification_fails"),
        ),
        (
            format!("Bearer {token} abc"),
            denied(401, "Jwt_signature_is_an_invalid_Base64url_encoded"),
        ),
    ];
    for (value, expected) in cases {
        let authn = run(&[default_policy()], &[("authorization", &value)], "/");
        assert_eq!(verdict(&authn), expected, "{value:.12}");
    }
}

#[test]
fn b16_istiod_fetch_failure() {
    let uri = "https://idp.example.com/realms/shop/protocol/openid-connect/certs";
    let policies = [policy("jwt", json!([{"issuer": ISS, "jwksUri": uri}]))];
    let authn = run(
        &policies,
        &[("authorization", &bearer(&rs256(&claims())))],
        "/",
    );
    assert_eq!(
        verdict(&authn),
        denied(401, "Jwks_doesn't_have_key_to_match_kid_or_alg_from_Jwt")
    );
    let explained = authn
        .explanation
        .iter()
        .any(|step| step.message.contains("istiod could not fetch the JWKS"));
    assert!(explained, "{:?}", authn.explanation);
}

#[test]
fn b16_stand_in_short_uri() {
    // With a short URI the stand-in modulus fails the JWKS parse, so that path is the one explained.
    let uri = "https://idp.example.com/.well-known/jwks.json";
    let policies = [policy("jwt", json!([{"issuer": ISS, "jwksUri": uri}]))];
    let token = mint(&Key::Rsa(rsa_key()), &json!({"alg": "RS256"}), &claims());
    let authn = run(&policies, &[("authorization", &bearer(&token))], "/");
    assert_eq!(verdict(&authn).0, 401);
    let explained = authn
        .explanation
        .iter()
        .any(|step| step.message.contains("istiod could not fetch the JWKS"));
    assert!(explained, "{:?}", authn.explanation);
}

#[test]
fn explanation_steps_not_repeated() {
    let rules = json!([
        {"issuer": ISS, "jwks": main_jwks()},
        {"issuer": "https://other.example.com", "jwks": main_jwks()},
    ]);
    let policies = [policy("jwt", rules)];
    for headers in [&[][..], &[("authorization", "Bearer a.b.c")][..]] {
        let authn = run(&policies, headers, "/");
        for (index, step) in authn.explanation.iter().enumerate() {
            assert!(
                !authn.explanation[..index].contains(step),
                "repeated step {step:?} in {:?}",
                authn.explanation
            );
        }
    }
}

#[test]
fn supplied_jwks_by_uri() {
    let uri = "https://idp.example.com/certs";
    let policies = [policy("jwt", json!([{"issuer": ISS, "jwksUri": uri}]))];
    let jwks = BTreeMap::from([(uri.to_owned(), main_jwks())]);
    let token = bearer(&rs256(&claims()));
    let request = request(&[("authorization", &token)], "/");
    let authn = jwt::authenticate(&policies, &jwks, &request, &settings());
    assert_eq!(verdict(&authn), (200, String::new()));
}

#[test]
fn b18_audience_is_403() {
    let token = rs256(&json!({"iss": ISS, "sub": "u-2", "aud": ["account"], "azp": "web-ui"}));
    let authn = run(
        &[default_policy()],
        &[("authorization", &bearer(&token))],
        "/api/orders",
    );
    assert_eq!(
        verdict(&authn),
        denied(403, "Audiences_in_Jwt_are_not_allowed")
    );
}

#[test]
fn rejection_sets_www_authenticate() {
    let authn = run(
        &[default_policy()],
        &[("authorization", "Bearer x.y")],
        "/a?b=1",
    );
    let value = authn.rejected.map(|rejected| rejected.www_authenticate);
    assert_eq!(
        value.as_deref(),
        Some("Bearer realm=\"http://orders.shop:8080/a?b=1\", error=\"invalid_token\"")
    );
}

#[test]
fn verdict_names_policy() {
    let authn = run(&[default_policy()], &[("authorization", "Bearer x.y")], "/");
    let policy = authn
        .verdict("shop/orders")
        .and_then(|verdict| verdict.policy);
    assert_eq!(policy.as_deref(), Some("shop/jwt"));
}

#[test]
fn alg_none_rejected() {
    let unsigned = format!(
        "{}.{}.",
        b64(br#"{"alg":"none"}"#),
        b64(claims().to_string().as_bytes())
    );
    let authn = run(
        &[default_policy()],
        &[("authorization", &bearer(&unsigned))],
        "/",
    );
    // `jwt_verify_lib` skips the empty signature segment, so it reads two segments (Envoy 1.40).
    assert_eq!(
        verdict(&authn),
        denied(
            401,
            "Jwt_is_not_in_the_form_of_Header.Payload.Signature_with_two_dots_and_3_sections"
        )
    );

    let with_signature = format!("{unsigned}c2ln");
    let authn = run(
        &[default_policy()],
        &[("authorization", &bearer(&with_signature))],
        "/",
    );
    assert_eq!(
        verdict(&authn),
        denied(401, "Jwt_header_[alg]_is_not_supported")
    );
}

#[test]
fn hs256_with_oct_key() {
    let key = Key::Hmac(b"0123456789abcdef0123456789abcdef".to_vec());
    let jwks = jwks_text(&[jwk(&key, "h")]);
    let policies = [policy("jwt", json!([{"issuer": ISS, "jwks": jwks}]))];
    let token = mint(&key, &json!({"alg": "HS256", "kid": "h"}), &claims());
    let authn = run(&policies, &[("authorization", &bearer(&token))], "/");
    assert_eq!(
        authn.request_principal.as_deref(),
        Some(&*format!("{ISS}/u-1"))
    );
}

#[test]
fn clock_skew() {
    let cases = [
        (
            "exp 60 s ago",
            json!({"exp": NOW - 60}),
            (200, String::new()),
        ),
        (
            "exp 61 s ago",
            json!({"exp": NOW - 61}),
            denied(401, "Jwt_is_expired"),
        ),
        (
            "nbf in 60 s",
            json!({"nbf": NOW + 60}),
            (200, String::new()),
        ),
        (
            "nbf in 61 s",
            json!({"nbf": NOW + 61}),
            denied(401, "Jwt_not_yet_valid"),
        ),
    ];
    for (case, times, expected) in cases {
        let mut claims = json!({"iss": ISS, "sub": "u-1", "aud": "orders-api"});
        if let (Some(claims), Some(times)) = (claims.as_object_mut(), times.as_object()) {
            claims.extend(times.clone());
        }
        let authn = run(
            &[default_policy()],
            &[("authorization", &bearer(&rs256(&claims)))],
            "/",
        );
        assert_eq!(verdict(&authn), expected, "{case}");
    }
}

// ---- locations, multiple tokens, what the next hop receives ----

#[test]
fn multiple_tokens_one_bad() {
    let valid = rs256(&claims());
    let path = "/?access_token=not.a.jwt";
    let authn = run(
        &[default_policy()],
        &[("authorization", &bearer(&valid))],
        path,
    );
    assert_eq!(
        verdict(&authn),
        denied(401, "Jwt_header_is_an_invalid_JSON")
    );
}

#[test]
fn multiple_tokens_both_valid() {
    let valid = rs256(&claims());
    let path = format!("/?access_token={valid}");
    let authn = run(
        &[default_policy()],
        &[("authorization", &bearer(&valid))],
        &path,
    );
    assert_eq!(verdict(&authn), (200, String::new()));
}

#[test]
fn from_headers_with_prefix() {
    let policies = [policy(
        "jwt",
        json!([{"issuer": ISS, "jwks": main_jwks(),
                "fromHeaders": [{"name": "x-jwt-assertion", "prefix": "Token "}]}]),
    )];
    let token = rs256(&claims());
    let cases = [
        (format!("Token {token}"), Some(format!("{ISS}/u-1"))),
        (token.clone(), None),
    ];
    for (value, expected) in cases {
        let authn = run(&policies, &[("X-Jwt-Assertion", &value)], "/");
        assert_eq!(authn.request_principal, expected, "{value:.8}");
    }
}

#[test]
fn from_headers_replaces_default() {
    let policies = [policy(
        "jwt",
        json!([{"issuer": ISS, "jwks": main_jwks(), "fromHeaders": [{"name": "x-jwt"}]}]),
    )];
    let authn = run(
        &policies,
        &[("authorization", &bearer(&rs256(&claims())))],
        "/",
    );
    assert_eq!(authn.request_principal, None);
}

#[test]
fn from_params() {
    let policies = [policy(
        "jwt",
        json!([{"issuer": ISS, "jwks": main_jwks(), "fromParams": ["jwt"]}]),
    )];
    let path = format!("/orders?jwt={}", rs256(&claims()));
    let authn = run(&policies, &[], &path);
    assert_eq!(
        authn.request_principal.as_deref(),
        Some(&*format!("{ISS}/u-1"))
    );
}

#[test]
fn from_cookies() {
    let policies = [policy(
        "jwt",
        json!([{"issuer": ISS, "jwks": main_jwks(), "fromCookies": ["session"]}]),
    )];
    let cookie = format!("theme=dark; session={}", rs256(&claims()));
    let authn = run(&policies, &[("cookie", &cookie)], "/");
    assert_eq!(
        authn.request_principal.as_deref(),
        Some(&*format!("{ISS}/u-1"))
    );
}

#[test]
fn authorization_removed() {
    let authn = run(
        &[default_policy()],
        &[("Authorization", &bearer(&rs256(&claims())))],
        "/",
    );
    assert_eq!(header(&authn, "authorization"), None);
}

#[test]
fn authorization_forwarded() {
    let policies = [policy(
        "jwt",
        json!([{"issuer": ISS, "jwks": main_jwks(), "forwardOriginalToken": true}]),
    )];
    let value = bearer(&rs256(&claims()));
    let authn = run(&policies, &[("Authorization", &value)], "/");
    assert_eq!(header(&authn, "authorization"), Some(value.as_str()));
}

#[test]
fn claims_and_payload_to_headers() {
    let policies = [policy(
        "jwt",
        json!([{"issuer": ISS, "jwks": main_jwks(),
                "outputPayloadToHeader": "x-jwt-payload",
                "outputClaimToHeaders": [{"header": "x-sub", "claim": "sub"},
                                         {"header": "x-tenant", "claim": "org.tenant"}]}]),
    )];
    let claims = json!({"iss": ISS, "sub": "u-1", "org": {"tenant": "t-7"}});
    let token = rs256(&claims);
    let payload_segment = token.split('.').nth(1).unwrap_or_default().to_owned();
    let authn = run(
        &policies,
        &[("authorization", &bearer(&token)), ("x-sub", "forged")],
        "/",
    );
    assert_eq!(header(&authn, "x-sub"), Some("u-1"));
    assert_eq!(header(&authn, "x-tenant"), Some("t-7"));
    assert_eq!(
        header(&authn, "x-jwt-payload"),
        Some(payload_segment.as_str())
    );
}

#[test]
fn scope_normalised_in_metadata() {
    let claims = json!({"iss": ISS, "sub": "u-1", "aud": "orders-api", "scope": "read write"});
    let authn = run(
        &[default_policy()],
        &[("authorization", &bearer(&rs256(&claims)))],
        "/",
    );
    let scope = authn
        .payload
        .as_ref()
        .map(|payload| payload["scope"].clone());
    assert_eq!(scope, Some(json!(["read", "write"])));
}

#[test]
fn second_issuer_same_location() {
    let other = Key::Hmac(b"second issuer secret".to_vec());
    let policies = [
        default_policy(),
        policy(
            "partner",
            json!([{"issuer": "https://partner.example.com", "jwks": jwks_text(&[jwk(&other, "p")])}]),
        ),
    ];
    let token = mint(
        &other,
        &json!({"alg": "HS256", "kid": "p"}),
        &json!({"iss": "https://partner.example.com", "sub": "svc"}),
    );
    let authn = run(&policies, &[("authorization", &bearer(&token))], "/");
    assert_eq!(
        authn.request_principal.as_deref(),
        Some("https://partner.example.com/svc")
    );
}

#[test]
fn tcp_skips_jwt() {
    let request = Request {
        protocol: idflow::mesh::Protocol::Tcp,
        headers: vec![("authorization".to_owned(), "Bearer junk".to_owned())],
        ..Request::default()
    };
    let authn = jwt::authenticate(&[default_policy()], &BTreeMap::new(), &request, &settings());
    assert_eq!(verdict(&authn), (200, String::new()));
}

// ---- the config istiod generates ----

fn config_json(policies: &[RequestAuthentication], settings: &MeshSettings) -> Value {
    let filter = jwt::envoy_config(policies, &BTreeMap::new(), settings);
    serde_json::to_value(filter).expect("config JSON")
}

#[test]
fn builder_one_rule() {
    let policies = [policy(
        "jwt",
        json!([{"issuer": "testing@secure.istio.io", "audiences": ["sim-audience"], "jwks": "{}"}]),
    )];
    let expected = json!({
        "name": "envoy.filters.http.jwt_authn",
        "typedConfig": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {
                "origins-0": {
                    "issuer": "testing@secure.istio.io",
                    "audiences": ["sim-audience"],
                    "localJwks": {"inlineString": "{}"},
                    "payloadInMetadata": "payload",
                    "normalizePayloadInMetadata": {"spaceDelimitedClaims": ["scope", "permission"]}
                }
            },
            "rules": [{
                "match": {"prefix": "/"},
                "requires": {"requiresAny": {"requirements": [
                    {"providerName": "origins-0"},
                    {"allowMissing": {}}
                ]}}
            }],
            "bypassCorsPreflight": true
        }
    });
    assert_eq!(config_json(&policies, &settings()), expected);
}

#[test]
fn builder_sorts_by_issuer() {
    let policies = [
        policy(
            "b",
            json!([{"issuer": "https://b.example.com", "jwks": "{}"}]),
        ),
        policy(
            "a",
            json!([{"issuer": "https://a.example.com", "jwks": "{}"}]),
        ),
    ];
    let config = config_json(&policies, &settings());
    let providers = &config["typedConfig"]["providers"];
    assert_eq!(providers["origins-0"]["issuer"], "https://a.example.com");
    assert_eq!(
        config["typedConfig"]["rules"][0]["requires"],
        json!({"requiresAny": {"requirements": [
            {"providerName": "origins-0"},
            {"providerName": "origins-1"},
            {"requiresAll": {"requirements": [
                {"requiresAny": {"requirements": [{"providerName": "origins-0"}, {"allowMissing": {}}]}},
                {"requiresAny": {"requirements": [{"providerName": "origins-1"}, {"allowMissing": {}}]}}
            ]}}
        ]}})
    );
}

#[test]
fn builder_locations_and_outputs() {
    let policies = [policy(
        "jwt",
        json!([{"issuer": ISS, "jwks": "{}", "forwardOriginalToken": true,
                "fromHeaders": [{"name": "x-jwt", "prefix": "Token "}],
                "fromParams": ["jwt"], "fromCookies": ["session"],
                "outputPayloadToHeader": "x-payload",
                "outputClaimToHeaders": [{"header": "x-sub", "claim": "sub"}]}]),
    )];
    let provider = &config_json(&policies, &settings())["typedConfig"]["providers"]["origins-0"];
    let cases = [
        ("forward", json!(true)),
        (
            "fromHeaders",
            json!([{"name": "x-jwt", "valuePrefix": "Token "}]),
        ),
        ("fromParams", json!(["jwt"])),
        ("fromCookies", json!(["session"])),
        ("forwardPayloadHeader", json!("x-payload")),
        (
            "claimToHeaders",
            json!([{"headerName": "x-sub", "claimName": "sub"}]),
        ),
    ];
    for (field, expected) in cases {
        assert_eq!(provider[field], expected, "{field}");
    }
}

#[test]
fn builder_before_istio_1_21() {
    let old = MeshSettings {
        istio_version: IstioVersion {
            major: 1,
            minor: 20,
        },
        ..settings()
    };
    let config = config_json(&[default_policy()], &old);
    let provider = &config["typedConfig"]["providers"]["origins-0"];
    assert_eq!(provider["payloadInMetadata"], ISS);
    assert_eq!(provider.get("normalizePayloadInMetadata"), None);
}

#[test]
fn builder_no_rules() {
    assert_eq!(
        config_json(&[policy("empty", json!([]))], &settings()),
        Value::Null
    );
}
