//! Token cases found by comparing `idflow check`, `idflow decode` and the edge verdict with a real
//! Envoy 1.40 and with Akamai's JWT module (`delivery/common/jwt` in akamai/edgeworkers-examples).
//!
//! The Envoy filters here are written by hand the way istiod writes them, not taken from
//! `idflow envoy-config`, so Envoy's verdict does not depend on the code under test. Each
//! `jwtRules` entry becomes an `origins-N` provider under `requires_any` with `allow_missing` and
//! `payload_in_metadata: payload`, and RBAC matches request principals on `payload.iss` and
//! `payload.sub`. `envoy_matches_recorded_verdicts` sends every case to that Envoy and checks the
//! verdicts the other tests expect. Tests marked `#[ignore = "finding: …"]` fail today: each
//! assert expects what Envoy or the `EdgeWorker` returns.

mod envoy_harness;
#[path = "what_if/mint.rs"]
mod mint;
mod support;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P521_SHA512_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeZone, Utc};
use idflow::mesh::check::Mesh;
use idflow::mesh::load::load_policy_file;
use idflow::mesh::{MeshSettings, Workload, WorkloadKind};
use idflow::tui::what_if::{self, Probe as WhatIfProbe, Target};
use serde_json::{Value, json};
use support::{OpensslRsaKey, decode_json, openssl_rs256, openssl_rsa_key, problem_codes};

use envoy_harness::client::WireRequest;
use envoy_harness::envoy::{self, Layout};
use envoy_harness::{EnvoyResult, Probe};

/// The audience the `RequestAuthentication` requires.
const AUDIENCE: &str = "orders";
/// The issuer of the second `jwtRules` entry in [`Setup::TwoIssuers`].
const OTHER_ISSUER: &str = "https://other.shop.test";
const BAD_FORMAT: &str = "jwt_authn_access_denied{Jwt_is_not_in_the_form_of_Header.Payload.Signature_with_two_dots_and_3_sections}";

/// Which `RequestAuthentication` the workload `shop/orders` has. Both come with an
/// `AuthorizationPolicy` that allows any request principal of the first issuer, and any request
/// to paths starting with `/public`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// One `jwtRules` entry: [`mint::ISSUER`], audience [`AUDIENCE`], default token locations.
    OneIssuer,
    /// A second entry for [`OTHER_ISSUER`] with the same key and no audiences.
    TwoIssuers,
    /// As [`Setup::TwoIssuers`], but the second entry reads its token only from `x-jwt`.
    OtherIssuerInHeader,
    /// As [`Setup::OneIssuer`], but the JWKS contains only [`small_rsa_key`]'s 1024-bit key.
    SmallRsaKey,
    /// As [`Setup::OneIssuer`], but the JWKS contains only [`p521_key`]'s public key.
    P521Key,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs `header.payload` (both already encoded) with the key of [`mint::jwks`].
fn sign(header: &str, payload: &str) -> String {
    mint::sign(mint::key(), header, payload)
}

fn rs256_header() -> String {
    b64(json!({"alg": "RS256", "typ": "JWT", "kid": mint::KID})
        .to_string()
        .as_bytes())
}

fn now() -> i64 {
    Utc::now().timestamp()
}

/// Claims that every check accepts: the first issuer, [`AUDIENCE`], valid for an hour, `nbf` set
/// because the edge profile requires it.
fn claims(now: i64) -> Value {
    json!({
        "iss": mint::ISSUER,
        "sub": "alice",
        "aud": AUDIENCE,
        "iat": now - 10,
        "nbf": now - 10,
        "exp": now + 3600,
    })
}

fn token(claims: &Value) -> String {
    mint::mint(mint::key(), claims)
}

fn other_issuer_token(now: i64) -> String {
    let mut claims = claims(now);
    claims["iss"] = json!(OTHER_ISSUER);
    claims["sub"] = json!("bob");
    token(&claims)
}

/// Returns a valid token whose payload JSON has the member `sub` twice.
fn duplicate_sub_token(now: i64) -> String {
    let text = claims(now).to_string();
    let repeated = format!("{},\"sub\":\"alice\"}}", &text[..text.len() - 1]);
    sign(&rs256_header(), &b64(repeated.as_bytes()))
}

/// Encodes `value` as base64url ending in exactly `pads` `=` characters, the padding its length
/// needs, after adding a filler member `x` of the length that gives it.
fn padded_segment(value: &Value, pads: usize) -> String {
    ["", "a", "aa"]
        .iter()
        .map(|filler| {
            let mut value = value.clone();
            value["x"] = json!(filler);
            base64::engine::general_purpose::URL_SAFE.encode(value.to_string())
        })
        .find(|segment| segment.len() - segment.trim_end_matches('=').len() == pads)
        .expect("one of three lengths needs that padding")
}

fn header_value() -> Value {
    json!({"alg": "RS256", "kid": mint::KID})
}

/// Returns a valid token whose header segment keeps the one `=` its length needs.
fn padded_header_token(now: i64) -> String {
    sign(
        &padded_segment(&header_value(), 1),
        &b64(claims(now).to_string().as_bytes()),
    )
}

/// Returns a token whose header segment has two `=` where its length needs one.
fn over_padded_header_token(now: i64) -> String {
    let header = format!("{}=", padded_segment(&header_value(), 1));
    sign(&header, &b64(claims(now).to_string().as_bytes()))
}

/// Returns a token whose payload segment has two `=` where its length needs one.
fn over_padded_payload_token(now: i64) -> String {
    let payload = format!("{}=", padded_segment(&claims(now), 1));
    sign(&rs256_header(), &payload)
}

/// Returns a token whose signature (256 bytes, so two `=` of padding) has only one.
fn under_padded_signature_token(now: i64) -> String {
    format!("{}=", token(&claims(now)))
}

/// Returns a valid token with its signature segment emptied: `header.payload.`.
fn empty_signature_token(now: i64) -> String {
    let full = token(&claims(now));
    let cut = full.rfind('.').expect("three segments");
    full[..=cut].to_owned()
}

/// Returns a token whose `groups` claim makes the request headers larger than Envoy's default
/// limit of 60 KiB.
fn oversized_token(now: i64) -> String {
    let mut claims = claims(now);
    let groups: Vec<String> = (0..5_200).map(|n| format!("g{n:05}")).collect();
    claims["groups"] = json!(groups);
    let token = token(&claims);
    assert!(token.len() > 61 * 1024, "{} bytes", token.len());
    token
}

/// Writes `text` to a new file named after `name` in this process's temporary folder and returns
/// its path. Each call gets its own file, because the tests run in parallel.
fn write_file(name: &str, text: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("token-hidden-cases-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temporary folder");
    let path = folder.join(format!("{}-{name}", NEXT.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, text).expect("file written");
    path
}

fn jwt_rules(setup: Setup) -> Vec<Value> {
    let jwks = match setup {
        Setup::SmallRsaKey => small_rsa_key().jwks.clone(),
        Setup::P521Key => p521_jwks(),
        _ => mint::jwks(),
    };
    let mut rules = vec![json!({"issuer": mint::ISSUER, "audiences": [AUDIENCE], "jwks": jwks})];
    match setup {
        Setup::OneIssuer | Setup::SmallRsaKey | Setup::P521Key => {}
        Setup::TwoIssuers => rules.push(json!({"issuer": OTHER_ISSUER, "jwks": jwks})),
        Setup::OtherIssuerInHeader => rules.push(json!({
            "issuer": OTHER_ISSUER,
            "jwks": jwks,
            "fromHeaders": [{"name": "x-jwt"}],
        })),
    }
    rules
}

/// A 1024-bit RSA key and its public half as a JWKS.
struct Rsa1024Key {
    key: OpensslRsaKey,
    jwks: String,
}

fn small_rsa_key() -> &'static Rsa1024Key {
    static KEY: OnceLock<Rsa1024Key> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = openssl_rsa_key(1024);
        let jwks = json!({"keys": [{
            "kty": "RSA", "kid": "small-1024", "alg": "RS256", "n": b64(&key.modulus), "e": "AQAB",
        }]})
        .to_string();
        Rsa1024Key { key, jwks }
    })
}

/// Returns a valid RS256 token signed with [`small_rsa_key`].
fn small_key_token(now: i64) -> String {
    let header = b64(br#"{"alg":"RS256","typ":"JWT","kid":"small-1024"}"#);
    let input = format!("{header}.{}", b64(claims(now).to_string().as_bytes()));
    let signature = openssl_rs256(&small_rsa_key().key, &input);
    format!("{input}.{}", b64(&signature))
}

/// Returns an ECDSA P-521 key made for this test run.
fn p521_key() -> &'static EcdsaKeyPair {
    static KEY: OnceLock<EcdsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| {
        EcdsaKeyPair::generate(&ECDSA_P521_SHA512_FIXED_SIGNING).expect("P-521 key generation")
    })
}

/// Returns the JWKS with [`p521_key`]'s public key, kid `p521`.
fn p521_jwks() -> String {
    // The public key is the uncompressed point: 0x04, then x and y of 66 bytes each.
    let point = p521_key().public_key().as_ref().to_vec();
    assert_eq!(point.len(), 133, "an uncompressed P-521 point");
    json!({"keys": [{
        "kty": "EC", "kid": "p521", "crv": "P-521", "alg": "ES512",
        "x": b64(&point[1..67]), "y": b64(&point[67..]),
    }]})
    .to_string()
}

/// Returns a valid ES512 token signed with [`p521_key`].
fn p521_token(now: i64) -> String {
    let header = b64(br#"{"alg":"ES512","typ":"JWT","kid":"p521"}"#);
    let input = format!("{header}.{}", b64(claims(now).to_string().as_bytes()));
    let signature = p521_key()
        .sign(&SystemRandom::new(), input.as_bytes())
        .expect("ES512 signing");
    format!("{input}.{}", b64(signature.as_ref()))
}

/// Writes the policies of `setup` as one multi-document YAML file and returns its path.
fn policy_file(setup: Setup) -> PathBuf {
    let authentication = json!({
        "apiVersion": "security.istio.io/v1",
        "kind": "RequestAuthentication",
        "metadata": {"name": "jwt", "namespace": "shop"},
        "spec": {"jwtRules": jwt_rules(setup)},
    });
    let authorization = json!({
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "require-jwt", "namespace": "shop"},
        "spec": {"rules": [
            {"from": [{"source": {"requestPrincipals": [format!("{}/*", mint::ISSUER)]}}]},
            {"to": [{"operation": {"paths": ["/public*"]}}]},
        ]},
    });
    // JSON is YAML, so each document goes on its own line after a `---` separator.
    let text = format!("---\n{authentication}\n---\n{authorization}\n");
    write_file("policies.yaml", &text)
}

/// Returns the jwt_authn and RBAC filters istiod generates for the policies of `setup`.
fn istiod_filters(setup: Setup) -> Vec<Value> {
    let mut providers = serde_json::Map::new();
    for (index, rule) in jwt_rules(setup).iter().enumerate() {
        let mut provider = json!({
            "issuer": rule["issuer"],
            "local_jwks": {"inline_string": rule["jwks"]},
            "payload_in_metadata": "payload",
            "normalize_payload_in_metadata": {"space_delimited_claims": ["scope", "permission"]},
        });
        if let Some(audiences) = rule.get("audiences") {
            provider["audiences"] = audiences.clone();
        }
        if let Some(headers) = rule.get("fromHeaders") {
            provider["from_headers"] = headers.clone();
        }
        providers.insert(format!("origins-{index}"), provider);
    }
    let requires = if jwt_rules(setup).len() == 1 {
        json!({"requires_any": {"requirements": [{"provider_name": "origins-0"}, {"allow_missing": {}}]}})
    } else {
        json!({"requires_any": {"requirements": [
            {"provider_name": "origins-0"},
            {"provider_name": "origins-1"},
            {"requires_all": {"requirements": [
                {"requires_any": {"requirements": [{"provider_name": "origins-0"}, {"allow_missing": {}}]}},
                {"requires_any": {"requirements": [{"provider_name": "origins-1"}, {"allow_missing": {}}]}},
            ]}},
        ]}})
    };
    let claim = |key: &str, matcher: Value| {
        json!({"metadata": {
            "filter": "envoy.filters.http.jwt_authn",
            "path": [{"key": "payload"}, {"key": key}],
            "value": {"string_match": matcher},
        }})
    };
    vec![
        json!({
            "name": "envoy.filters.http.jwt_authn",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
                "providers": providers,
                "rules": [{"match": {"prefix": "/"}, "requires": requires}],
                "bypass_cors_preflight": true,
            }
        }),
        json!({
            "name": "envoy.filters.http.rbac",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
                "rules": {"policies": {
                    "ns[shop]-policy[require-jwt]-rule[0]": {
                        "permissions": [{"and_rules": {"rules": [{"any": true}]}}],
                        "principals": [{"and_ids": {"ids": [{"and_ids": {"ids": [
                            claim("iss", json!({"exact": mint::ISSUER})),
                            claim("sub", json!({"safe_regex": {"regex": ".+"}})),
                        ]}}]}}],
                    },
                    "ns[shop]-policy[require-jwt]-rule[1]": {
                        "permissions": [{"and_rules": {"rules": [{"or_rules": {"rules": [
                            {"url_path": {"path": {"prefix": "/public"}}}
                        ]}}]}}],
                        "principals": [{"and_ids": {"ids": [{"any": true}]}}],
                    },
                }},
                "shadow_rules_stat_prefix": "istio_dry_run_allow_",
            }
        }),
    ]
}

/// One request to `shop/orders` and the verdict Envoy 1.40 returned for it.
struct Case {
    name: &'static str,
    setup: Setup,
    /// Path and query as sent.
    path: String,
    headers: Vec<(String, String)>,
    status: u16,
    /// `%RESPONSE_CODE_DETAILS%`, or `None` where Envoy rejects the request before any filter
    /// runs.
    details: Option<&'static str>,
}

fn bearer(token: &str) -> Vec<(String, String)> {
    vec![("Authorization".to_owned(), format!("Bearer {token}"))]
}

/// Returns the cases where idflow's verdict differs from Envoy's.
fn finding_cases(now: i64) -> Vec<Case> {
    let one_issuer_case = |name, token: String, status, details| Case {
        name,
        setup: Setup::OneIssuer,
        path: "/".to_owned(),
        headers: bearer(&token),
        status,
        details: Some(details),
    };
    let alg_none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims(now).to_string().as_bytes())
    );
    let other = other_issuer_token(now);
    vec![
        one_issuer_case(
            "over-padded header",
            over_padded_header_token(now),
            401,
            "jwt_authn_access_denied{Jwt_header_is_an_invalid_Base64url_encoded}",
        ),
        one_issuer_case(
            "over-padded payload",
            over_padded_payload_token(now),
            401,
            "jwt_authn_access_denied{Jwt_payload_is_an_invalid_Base64url_encoded}",
        ),
        one_issuer_case(
            "under-padded signature",
            under_padded_signature_token(now),
            401,
            "jwt_authn_access_denied{Jwt_signature_is_an_invalid_Base64url_encoded}",
        ),
        one_issuer_case(
            "empty signature",
            empty_signature_token(now),
            401,
            BAD_FORMAT,
        ),
        one_issuer_case("alg none", alg_none, 401, BAD_FORMAT),
        one_issuer_case(
            "duplicate sub",
            duplicate_sub_token(now),
            401,
            "jwt_authn_access_denied{Jwt_payload_is_an_invalid_JSON}",
        ),
        Case {
            name: "oversized",
            setup: Setup::OneIssuer,
            path: "/".to_owned(),
            headers: bearer(&oversized_token(now)),
            status: 431,
            // The harness finds a request's log line by its id header, which Envoy did not parse.
            details: None,
        },
        Case {
            name: "1024-bit RSA key",
            setup: Setup::SmallRsaKey,
            path: "/".to_owned(),
            headers: bearer(&small_key_token(now)),
            status: 200,
            details: Some("via_upstream"),
        },
        Case {
            name: "ES512 with a P-521 key",
            setup: Setup::P521Key,
            path: "/".to_owned(),
            headers: bearer(&p521_token(now)),
            status: 200,
            details: Some("via_upstream"),
        },
        Case {
            name: "header token and access_token of the other issuer",
            setup: Setup::TwoIssuers,
            path: format!("/?access_token={other}"),
            headers: bearer(&token(&claims(now))),
            status: 200,
            details: Some("via_upstream"),
        },
    ]
}

/// Returns cases where idflow agrees with Envoy today, kept as guards around the findings.
fn behaving_cases(now: i64) -> Vec<Case> {
    let one_issuer_case = |name, path: &str, headers, status, details| Case {
        name,
        setup: Setup::OneIssuer,
        path: path.to_owned(),
        headers,
        status,
        details: Some(details),
    };
    let valid = token(&claims(now));
    let padded_payload = sign(&rs256_header(), &padded_segment(&claims(now), 2));
    let padded_signature = format!("{valid}==");
    let mut exp_zero = claims(now);
    exp_zero["exp"] = json!(0);
    // Expired beyond 30 s but within Envoy's 60 s of clock skew, with 20 s to spare for the
    // requests sent before this one.
    let mut within_skew = claims(now);
    within_skew["exp"] = json!(now - 40);
    vec![
        one_issuer_case("valid", "/", bearer(&valid), 200, "via_upstream"),
        one_issuer_case(
            "padded header",
            "/",
            bearer(&padded_header_token(now)),
            200,
            "via_upstream",
        ),
        one_issuer_case(
            "padded payload",
            "/",
            bearer(&padded_payload),
            200,
            "via_upstream",
        ),
        one_issuer_case(
            "padded signature",
            "/",
            bearer(&padded_signature),
            200,
            "via_upstream",
        ),
        one_issuer_case(
            "exp zero means no expiry",
            "/",
            bearer(&token(&exp_zero)),
            200,
            "via_upstream",
        ),
        one_issuer_case(
            "expired 40 s ago, within skew",
            "/",
            bearer(&token(&within_skew)),
            200,
            "via_upstream",
        ),
        one_issuer_case(
            "scheme after other text",
            "/",
            vec![("Authorization".to_owned(), format!("X Bearer {valid}"))],
            200,
            "via_upstream",
        ),
        one_issuer_case(
            "lowercase scheme is missing",
            "/",
            vec![("Authorization".to_owned(), format!("bearer {valid}"))],
            403,
            "rbac_access_denied_matched_policy[none]",
        ),
        one_issuer_case(
            "junk before the token",
            "/public",
            vec![("Authorization".to_owned(), format!("Bearer !!!{valid}"))],
            200,
            "via_upstream",
        ),
        one_issuer_case(
            "opaque token on a public path",
            "/public",
            bearer("9f1c2e7a5b8d4c3e"),
            401,
            BAD_FORMAT,
        ),
        Case {
            name: "other issuer's token where only the first rule reads",
            setup: Setup::OtherIssuerInHeader,
            path: "/public".to_owned(),
            headers: bearer(&other_issuer_token(now)),
            status: 401,
            details: Some("jwt_authn_access_denied{Jwt_issuer_is_not_configured}"),
        },
    ]
}

/// Sends `cases` (all of one setup) through the istiod-shaped Envoy.
fn envoy_answers(setup: Setup, cases: &[&Case]) -> Vec<EnvoyResult> {
    let layout = Layout {
        http_filters: istiod_filters(setup),
        network_filters: Vec::new(),
        tcp: false,
        port: envoy::free_port(),
        upstream_port: envoy::free_port(),
        xff_trusted_hops: 0,
    };
    let probes: Vec<Probe> = cases
        .iter()
        .enumerate()
        .map(|(index, case)| Probe {
            id: format!("case-{index}"),
            wire: WireRequest {
                method: "GET".to_owned(),
                path: case.path.clone(),
                host: "orders.shop.svc.cluster.local:8080".to_owned(),
                headers: case.headers.clone(),
                peer: None,
                source_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                sni: None,
            },
        })
        .collect();
    envoy_harness::run_in_envoy(
        &envoy::binary(),
        &envoy_harness::scratch_dir("token-hidden-cases"),
        &layout,
        &probes,
        "spiffe://cluster.local/ns/shop/sa/orders",
        &[],
    )
    .unwrap_or_else(|error| panic!("Envoy run failed: {error}"))
}

/// Runs `idflow check` for `case` and returns its status and response code details.
fn check(case: &Case, now: i64) -> (u16, String) {
    let mut args = vec![
        "-f".to_owned(),
        policy_file(case.setup).display().to_string(),
        "--workload".to_owned(),
        "shop/orders".to_owned(),
        "--path".to_owned(),
        case.path.clone(),
        "--at".to_owned(),
        now.to_string(),
    ];
    for (name, value) in &case.headers {
        args.extend(["-H".to_owned(), format!("{name}: {value}")]);
    }
    let verdict = envoy_harness::idflow::check(&args)
        .unwrap_or_else(|error| panic!("{}: {error}", case.name));
    (verdict.status, verdict.response_code_details)
}

fn assert_check_agrees(case: &Case, now: i64) {
    let (status, details) = check(case, now);
    assert_eq!(status, case.status, "{}: status", case.name);
    if let Some(expected) = case.details {
        assert_eq!(details, expected, "{}: response code details", case.name);
    }
}

fn finding(name: &str) -> (Case, i64) {
    let now = now();
    let case = finding_cases(now)
        .into_iter()
        .find(|case| case.name == name)
        .unwrap_or_else(|| panic!("no case {name:?}"));
    (case, now)
}

#[test]
fn envoy_matches_recorded_verdicts() {
    let now = now();
    let all: Vec<Case> = finding_cases(now)
        .into_iter()
        .chain(behaving_cases(now))
        .collect();
    for setup in [
        Setup::OneIssuer,
        Setup::TwoIssuers,
        Setup::OtherIssuerInHeader,
        Setup::SmallRsaKey,
        Setup::P521Key,
    ] {
        let cases: Vec<&Case> = all.iter().filter(|case| case.setup == setup).collect();
        let answers = envoy_answers(setup, &cases);
        for (case, answer) in cases.iter().zip(&answers) {
            assert_eq!(answer.status, case.status, "{}: Envoy status", case.name);
            if let Some(details) = case.details {
                assert_eq!(answer.details, details, "{}: Envoy details", case.name);
            }
        }
    }
}

#[test]
fn check_agrees_on_behaving_cases() {
    let now = now();
    for case in behaving_cases(now) {
        assert_check_agrees(&case, now);
    }
}

#[test]
fn check_wrong_padding_rejected() {
    let now = now();
    for name in [
        "over-padded header",
        "over-padded payload",
        "under-padded signature",
    ] {
        let case = finding_cases(now)
            .into_iter()
            .find(|case| case.name == name)
            .unwrap_or_else(|| panic!("no case {name:?}"));
        assert_check_agrees(&case, now);
    }
}

#[test]
fn check_empty_signature_bad_format() {
    let (case, now) = finding("empty signature");
    assert_check_agrees(&case, now);
}

#[test]
fn check_alg_none_bad_format() {
    let (case, now) = finding("alg none");
    assert_check_agrees(&case, now);
}

#[test]
fn check_duplicate_claim_rejected() {
    let (case, now) = finding("duplicate sub");
    assert_check_agrees(&case, now);
}

#[test]
fn check_oversized_headers_431() {
    let (case, now) = finding("oversized");
    assert_check_agrees(&case, now);
    // Envoy's HTTP/1 codec names the rejection `http1.headers_too_large` (Envoy's
    // `Http1ResponseCodeDetailValues`), which the harness cannot read back for a 431.
    assert_eq!(check(&case, now).1, "http1.headers_too_large");
}

#[test]
fn check_two_issuers_two_tokens() {
    let (case, now) = finding("header token and access_token of the other issuer");
    assert_check_agrees(&case, now);
}

fn jwks_file() -> String {
    write_file("jwks.json", &mint::jwks()).display().to_string()
}

#[test]
fn decode_exp_zero_not_expired() {
    let now = now();
    let mut claims = claims(now);
    claims["exp"] = json!(0);
    let (code, json) = decode_json(&format!("Bearer {}", token(&claims)), &[]);
    let problems = problem_codes(&json);
    assert!(
        !problems.iter().any(|code| code == "expired"),
        "problems: {problems:?}"
    );
    assert_eq!(code, 0, "exit status");
}

#[test]
fn decode_over_padded_header_invalid() {
    let input = format!("Bearer {}", over_padded_header_token(now()));
    let (code, json) = decode_json(&input, &["--jwks", &jwks_file()]);
    assert_eq!(code, 1, "exit status; problems {:?}", problem_codes(&json));
    assert_eq!(
        json["signature"]["envoy_status"], "Jwt header is an invalid Base64url encoded",
        "{json}"
    );
}

#[test]
fn decode_duplicate_claim_invalid() {
    let input = format!("Bearer {}", duplicate_sub_token(now()));
    let (code, json) = decode_json(&input, &["--jwks", &jwks_file()]);
    assert_eq!(code, 1, "exit status; problems {:?}", problem_codes(&json));
    assert_eq!(
        json["signature"]["envoy_status"], "Jwt payload is an invalid JSON",
        "{json}"
    );
}

#[test]
fn decode_empty_signature_status() {
    let input = format!("Bearer {}", empty_signature_token(now()));
    let (code, json) = decode_json(&input, &["--jwks", &jwks_file()]);
    assert_eq!(code, 1, "exit status");
    assert_eq!(
        json["signature"]["envoy_status"],
        "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
        "{json}"
    );
}

#[test]
fn decode_scheme_after_text() {
    let input = format!("Authorization: X Bearer {}", token(&claims(now())));
    let (code, json) = decode_json(&input, &["--jwks", &jwks_file()]);
    assert_eq!(json["signature"]["status"], "verified", "{json}");
    assert_eq!(code, 0, "exit status; problems {:?}", problem_codes(&json));
}

#[test]
fn decode_junk_before_token_status() {
    let valid = token(&claims(now()));
    let segments: Vec<&str> = valid.split('.').collect();
    // Envoy starts the token at the first base64url character, so `!!!.P.S` is read as `P.S`.
    let input = format!("Authorization: Bearer !!!.{}.{}", segments[1], segments[2]);
    let (_, json) = decode_json(&input, &["--jwks", &jwks_file()]);
    assert_eq!(
        json["signature"]["envoy_status"],
        "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
        "{json}"
    );
    // A quoted token loses only its leading quote, so the trailing one spoils the signature.
    let input = format!("Authorization: Bearer \"{valid}\"");
    let (_, json) = decode_json(&input, &["--jwks", &jwks_file()]);
    assert_eq!(
        json["signature"]["envoy_status"], "Jwt signature is an invalid Base64url encoded",
        "{json}"
    );
}

#[test]
fn decode_oversized_token_flagged() {
    let (_, json) = decode_json(&format!("Bearer {}", oversized_token(now())), &[]);
    let problems = problem_codes(&json);
    assert!(
        !problems.is_empty(),
        "no problem for {} bytes",
        json["encoded_len"]
    );
}

/// Writes an edge profile that checks issuer, audience, `exp` and `nbf` with the test key.
fn edge_profile() -> String {
    let text = format!(
        "name = \"strict\"\n\
         [token]\nheader = \"Authorization\"\nscheme = \"Bearer \"\n\
         [checks]\nissuers = [\"{}\"]\naudiences = [\"{AUDIENCE}\"]\ncheck_exp = true\ncheck_nbf = true\n\
         [keys]\njwks = \"{}\"\n",
        mint::ISSUER,
        jwks_file()
    );
    write_file("edge.toml", &text).display().to_string()
}

fn edge(input: &str) -> Value {
    let (_, json) = decode_json(input, &["--edge-profile", &edge_profile()]);
    json["edge"].clone()
}

#[test]
fn edge_accepts_valid_token() {
    let edge = edge(&format!("Authorization: Bearer {}", token(&claims(now()))));
    assert_eq!(edge["verdict"], "allow", "{edge}");
}

#[test]
fn edge_unsupported_alg_message() {
    let header = b64(br#"{"alg":"EdDSA","typ":"JWT"}"#);
    let payload = b64(claims(now()).to_string().as_bytes());
    let edge = edge(&format!("Authorization: Bearer {header}.{payload}.c2ln"));
    assert_eq!(
        edge["edgeworker_error"], "EdDSA is not supported at the moment",
        "{edge}"
    );
}

#[test]
fn edge_whitespace_and_junk_denied() {
    let valid = token(&claims(now()));
    // `replace('Bearer ', '')` leaves these characters in the string the module splits, decodes
    // and verifies, so the signature input differs from the signed one or the part count is wrong.
    let values = [
        format!("Bearer\t{valid}"),
        format!("Bearer  {valid}"),
        format!("Bearer {} {}", &valid[..20], &valid[20..]),
    ];
    for value in &values {
        let edge = edge(&format!("Authorization: {value}"));
        assert_eq!(edge["verdict"], "deny", "{value:.30}: {edge}");
        assert_eq!(edge["status"], 400, "{value:.30}: {edge}");
    }
    let edge = edge(&format!("Authorization: Bearer {valid} .abc"));
    assert_eq!(
        edge["edgeworker_error"],
        "JWT malformed: Invalid number of parts for JWT token. expected 3 or 2 (unsecured JWT)!",
        "{edge}"
    );
}

#[test]
fn edge_location_difference_names_401() {
    // The first rule reads `Authorization: Bearer`, so Envoy rejects a token of the second issuer
    // there with 401 (see the case "other issuer's token where only the first rule reads").
    let policies = policy_file(Setup::OtherIssuerInHeader);
    let policies = policies.display().to_string();
    // The sample profile accepts any issuer and forwards `Authorization` as it came.
    let profile = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/edge.sample.toml");
    let input = format!("Authorization: Bearer {}", other_issuer_token(now()));
    let (_, json) = decode_json(
        &input,
        &["--edge-profile", profile, "--policies", &policies],
    );
    let differences = json["edge"]["differences"]
        .as_array()
        .expect("a differences list");
    let location = differences
        .iter()
        .find(|difference| difference["code"] == "token_location_mismatch")
        .unwrap_or_else(|| panic!("no token_location_mismatch in {differences:?}"));
    let message = location["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("401") && message.contains("Jwt issuer is not configured"),
        "{message}"
    );
}

/// Returns the jwt_authn column (`Row::authn_text`) of the Token view's what-if row for
/// `shop/orders` in [`Setup::OneIssuer`], for `GET /` with `token` as a bearer token.
fn what_if_authn(token: &str, now: i64) -> String {
    let file = policy_file(Setup::OneIssuer);
    let policies = load_policy_file(&file, "default")
        .unwrap_or_else(|error| panic!("{} does not load: {error}", file.display()))
        .policies;

    let settings = MeshSettings {
        now: Utc.timestamp_opt(now, 0).single().expect("valid time"),
        ..MeshSettings::default()
    };
    let jwks = BTreeMap::new();
    let mesh = Mesh {
        policies: &policies,
        jwks: &jwks,
        providers: &[],
        settings: &settings,
    };

    // The policies select no pods by label, so the target is built as `idflow check --workload
    // shop/orders` builds it: label `app=orders`, service account `orders`.
    let targets = [Target {
        workload: Workload {
            namespace: "shop".to_owned(),
            name: "orders".to_owned(),
            labels: BTreeMap::from([("app".to_owned(), "orders".to_owned())]),
            service_account: "orders".to_owned(),
            kind: WorkloadKind::Sidecar,
        },
        source_principal: None,
    }];

    let probe = WhatIfProbe {
        method: "GET",
        path: "/",
        token: Some(token),
        carrier: &what_if::Carrier::Bearer,
    };
    let rows = what_if::evaluate(&mesh, &targets, probe);
    assert_eq!(rows.len(), 1, "one row per target: {rows:?}");
    rows[0].authn_text()
}

#[test]
fn what_if_row_accepts_valid_token() {
    let now = now();
    assert_eq!(what_if_authn(&token(&claims(now)), now), "ok");
}

#[test]
fn what_if_rows_follow_envoy() {
    let now = now();
    for name in ["over-padded header", "empty signature", "duplicate sub"] {
        let case = finding_cases(now)
            .into_iter()
            .find(|case| case.name == name)
            .unwrap_or_else(|| panic!("no case {name:?}"));
        let token = case.headers[0]
            .1
            .strip_prefix("Bearer ")
            .expect("a bearer token");
        let expected = case
            .details
            .and_then(|details| details.strip_prefix("jwt_authn_access_denied{"))
            .and_then(|details| details.strip_suffix('}'))
            .expect("a jwt_authn denial")
            .replace('_', " ");
        assert_eq!(what_if_authn(token, now), expected, "{name}");
    }
}

#[test]
fn edge_lowercase_alg_verifies() {
    // Signed with RS256 as usual. Only the header spells the algorithm in lower case, which the
    // module reads as `jwtHeader.alg.toUpperCase()` before choosing how to verify.
    let header = b64(json!({"alg": "rs256", "kid": mint::KID})
        .to_string()
        .as_bytes());
    let payload = b64(claims(now()).to_string().as_bytes());
    let edge = edge(&format!(
        "Authorization: Bearer {}",
        sign(&header, &payload)
    ));
    assert_eq!(edge["edgeworker_error"], Value::Null, "{edge}");
    assert_eq!(edge["verdict"], "allow", "{edge}");
}

#[test]
fn check_small_rsa_key_verifies() {
    let (case, now) = finding("1024-bit RSA key");
    assert_check_agrees(&case, now);
}

#[test]
fn decode_small_rsa_key_verifies() {
    let jwks = write_file("small-jwks.json", &small_rsa_key().jwks);
    let input = format!("Bearer {}", small_key_token(now()));
    let (code, json) = decode_json(&input, &["--jwks", &jwks.display().to_string()]);
    assert_eq!(json["signature"]["status"], "verified", "{json}");
    assert_eq!(code, 0, "exit status");
}

#[test]
fn check_es512_verifies() {
    let (case, now) = finding("ES512 with a P-521 key");
    assert_check_agrees(&case, now);
}

#[test]
fn decode_es512_verifies() {
    let jwks = write_file("p521-jwks.json", &p521_jwks());
    let input = format!("Bearer {}", p521_token(now()));
    let (code, json) = decode_json(&input, &["--jwks", &jwks.display().to_string()]);
    assert_eq!(json["signature"]["status"], "verified", "{json}");
    assert_eq!(code, 0, "exit status");
}
