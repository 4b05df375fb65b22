//! Tests of edge profiles: reading the TOML, what the EdgeWorker decides for a token (with keys
//! minted here, RS256 and ES256), and the differences from a mesh's RequestAuthentication objects.

mod support;

use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use idflow::edge::profile::{
    EdgeDecision, EdgeProfile, KeySource, MissingToken, ProfileVerdict, TokenLocation,
};
use idflow::mesh::crd::RequestAuthentication;
use idflow::mesh::load::load_policies;
use idflow::token::keys::{KeySet, SourceKind};
use idflow::token::{self, Inspection};
use serde_json::{Value, json};
use support::{hex, pem};

/// 2025-03-04T11:02:10Z, the clock of every test.
const NOW: i64 = 1_741_086_130;

const ISSUER: &str = "https://idp.example.com/realms/shop";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).expect("valid time")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

fn claims() -> Value {
    json!({"iss": ISSUER, "sub": "alice", "aud": "orders", "exp": NOW + 3600, "nbf": NOW - 60,
           "groups": ["buyers", "beta"]})
}

/// A signing key minted per test.
enum Key {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl Key {
    fn rsa() -> Self {
        Self::Rsa(RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key"))
    }

    fn ec() -> Self {
        Self::Ec(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key"))
    }

    fn alg(&self) -> &'static str {
        match self {
            Self::Rsa(_) => "RS256",
            Self::Ec(_) => "ES256",
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": self.alg(), "kid": "edge-test", "typ": "JWT"});
        let input = signing_input(&header, claims);
        let signature = match self {
            Self::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    input.as_bytes(),
                    &mut signature,
                )
                .expect("RS256 signature");
                signature
            }
            Self::Ec(pair) => pair
                .sign(&SystemRandom::new(), input.as_bytes())
                .expect("ES256 signature")
                .as_ref()
                .to_vec(),
        };
        format!("{input}.{}", b64(&signature))
    }

    fn token(&self) -> String {
        self.sign(&claims())
    }

    /// Returns the public key as PEM, as Akamai's examples keep it in a property variable.
    fn pem(&self) -> String {
        match self {
            Self::Rsa(pair) => pem("RSA PUBLIC KEY", pair.public_key().as_ref()),
            Self::Ec(pair) => {
                let prefix = hex("3059301306072a8648ce3d020106082a8648ce3d030107034200");
                pem(
                    "PUBLIC KEY",
                    &[prefix.as_slice(), pair.public_key().as_ref()].concat(),
                )
            }
        }
    }

    fn key_set(&self) -> KeySet {
        KeySet::from_pem("test key", &self.pem()).expect("PEM loads")
    }

    /// Returns the key as a one-key JWKS with another `kid` than the token's, which the
    /// EdgeWorker ignores.
    fn jwks_set(&self) -> KeySet {
        let jwk = match self {
            Self::Rsa(_) => panic!("the tests build JWKS only for EC keys"),
            Self::Ec(pair) => {
                let point = pair.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "kid": "other-kid",
                       "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
        };
        let text = json!({"keys": [jwk]}).to_string();
        KeySet::from_jwks_text(SourceKind::File, "jwks.json", None, &text).expect("JWKS loads")
    }
}

fn profile(text: &str) -> EdgeProfile {
    EdgeProfile::from_toml(text, "test.toml").unwrap_or_else(|error| panic!("{error}"))
}

fn inspect(text: &str) -> Inspection {
    token::inspect(text, now()).unwrap_or_else(|error| panic!("{error}"))
}

fn decide(profile_text: &str, pasted: &str, keys: Option<&KeySet>) -> EdgeDecision {
    profile(profile_text).evaluate(&inspect(pasted), keys, now())
}

/// A profile that checks everything, with the token in `Authorization: Bearer `.
const STRICT: &str = r#"
[token]
header = "Authorization"
scheme = "Bearer "
scheme_required = true
[checks]
issuers = ["https://idp.example.com/realms/shop"]
audiences = ["orders"]
algorithms = ["RS256", "ES256"]
check_exp = true
check_nbf = true
[keys]
pem = "-----BEGIN PUBLIC KEY-----\nunused: the tests pass keys\n-----END PUBLIC KEY-----"
[response]
deny_status = 401
missing_status = 401
"#;

// ---------------------------------------------------------------------------------------------
// Parsing.

#[test]
fn parse_defaults_follow_module() {
    let parsed = profile("");
    assert_eq!(
        parsed.location,
        TokenLocation::Header("authorization".to_owned())
    );
    assert_eq!(parsed.scheme, "Bearer ");
    assert!(parsed.scheme_case_sensitive);
    assert!(!parsed.scheme_required);
    assert_eq!(parsed.missing_token, MissingToken::Deny);
    assert!(parsed.issuers.is_empty());
    assert!(parsed.audiences.is_empty());
    assert!(parsed.skip_absent_claims);
    assert_eq!(parsed.algorithms.len(), 12);
    assert!(!parsed.algorithms.contains(&"NONE".to_owned()));
    assert_eq!(parsed.clock_tolerance_seconds, 60);
    assert!(!parsed.check_exp, "ignoreExpiration defaults to true");
    assert!(!parsed.check_nbf, "ignoreNotBefore defaults to true");
    assert_eq!(parsed.key_source, None);
    assert_eq!(parsed.deny_status, 400);
    assert_eq!(parsed.missing_status, 400);
    assert!(!parsed.fail_open);
    assert!(parsed.forward.keep_token);
    assert_eq!(parsed.forward.token_header, None);
    assert_eq!(parsed.forward.request_id_header, "x-edge-request-id");
    assert!(parsed.forward.claims.is_empty());
    assert_eq!(parsed.name, "test.toml");
}

#[test]
fn parse_every_field() {
    let parsed = profile(
        r#"
name = "edge-a"
[token]
cookie = "jwt"
scheme = ""
scheme_case_sensitive = false
missing = "forward"
public_paths = ["/public/", "/health"]
[checks]
issuers = ["https://a.test", "https://b.test"]
audiences = ["web", "orders"]
skip_absent_claims = false
algorithms = ["es256", "NONE"]
clock_tolerance_seconds = 5
check_exp = true
check_nbf = true
[keys]
jwks = "https://127.0.0.1:8443/jwks.json"
[response]
deny_status = 403
missing_status = 401
fail_open = true
[forward]
keep_token = false
token_header = "X-JWT"
token_prefix = "Bearer "
request_id_header = "X-Edge-Id"
[forward.claims]
sub = "x-user-sub"
groups = "x-user-groups"
"#,
    );
    assert_eq!(parsed.name, "edge-a");
    assert_eq!(parsed.location, TokenLocation::Cookie("jwt".to_owned()));
    assert_eq!(parsed.scheme, "");
    assert!(!parsed.scheme_case_sensitive);
    assert_eq!(parsed.missing_token, MissingToken::Forward);
    assert_eq!(parsed.public_paths, ["/public/", "/health"]);
    assert!(parsed.is_public_path("/public/catalog"));
    assert!(!parsed.is_public_path("/api/orders"));
    assert_eq!(parsed.issuers, ["https://a.test", "https://b.test"]);
    assert_eq!(parsed.audiences, ["web", "orders"]);
    assert!(!parsed.skip_absent_claims);
    assert_eq!(parsed.algorithms, ["ES256", "NONE"]);
    assert_eq!(parsed.clock_tolerance_seconds, 5);
    assert!(parsed.check_exp);
    assert!(parsed.check_nbf);
    assert_eq!(
        parsed.key_source,
        Some(KeySource::JwksUrl(
            "https://127.0.0.1:8443/jwks.json".to_owned()
        ))
    );
    assert_eq!(parsed.deny_status, 403);
    assert_eq!(parsed.missing_status, 401);
    assert!(parsed.fail_open);
    assert!(!parsed.forward.keep_token);
    assert_eq!(parsed.forward.token_header.as_deref(), Some("x-jwt"));
    assert_eq!(parsed.forward.token_prefix, "Bearer ");
    assert_eq!(parsed.forward.request_id_header, "x-edge-id");
    assert_eq!(
        parsed.forward.claims,
        [
            ("groups".to_owned(), "x-user-groups".to_owned()),
            ("sub".to_owned(), "x-user-sub".to_owned())
        ]
    );
}

#[test]
fn parse_query_location() {
    let parsed = profile("[token]\nquery = \"access_token\"\n");
    assert_eq!(
        parsed.location,
        TokenLocation::Query("access_token".to_owned())
    );
}

#[test]
fn unknown_key_names_key_file_line() {
    let error = EdgeProfile::from_toml("name = \"x\"\n[token]\nheadr = \"X\"\n", "edge.toml")
        .expect_err("unknown key");
    assert!(error.contains("edge.toml:3"), "{error}");
    assert!(error.contains("`token.headr`"), "{error}");
    assert!(error.contains("`header`"), "lists the valid keys: {error}");
    assert!(error.contains("correct its spelling"), "{error}");
}

#[test]
fn unknown_top_level_key() {
    let error = EdgeProfile::from_toml("nmae = \"x\"\n", "edge.toml").expect_err("unknown key");
    assert!(error.contains("edge.toml:1"), "{error}");
    assert!(error.contains("`nmae`"), "{error}");
}

#[test]
fn wrong_type_names_key_file_line() {
    let error = EdgeProfile::from_toml("[checks]\n\ncheck_exp = \"yes\"\n", "edge.toml")
        .expect_err("wrong type");
    assert!(error.contains("edge.toml:3"), "{error}");
    assert!(error.contains("`checks.check_exp`"), "{error}");
    assert!(
        error.contains("a boolean"),
        "says the expected type: {error}"
    );
}

#[test]
fn wrong_type_number() {
    let error = EdgeProfile::from_toml("[response]\ndeny_status = \"401\"\n", "edge.toml")
        .expect_err("wrong type");
    assert!(error.contains("edge.toml:2"), "{error}");
    assert!(error.contains("`response.deny_status`"), "{error}");
}

#[test]
fn invalid_values_name_key_and_fix() {
    let cases = [
        (
            "[token]\nheader = \"A\"\ncookie = \"b\"\n",
            "`token.cookie`",
            "exactly one",
        ),
        (
            "[checks]\nalgorithms = [\"RS256\", \"EdDSA\"]\n",
            "`checks.algorithms`",
            "\"EdDSA\"",
        ),
        (
            "[checks]\nalgorithms = []\n",
            "`checks.algorithms`",
            "at least one",
        ),
        (
            "[checks]\nissuers = [\"\"]\n",
            "`checks.issuers`",
            "empty string",
        ),
        (
            "[response]\ndeny_status = 99\n",
            "`response.deny_status`",
            "200 to 599",
        ),
        (
            "[forward]\nrequest_id_header = \"Akamai-Request-Id\"\n",
            "`forward.request_id_header`",
            "cannot set",
        ),
        (
            "[forward.claims]\nsub = \"X-Ak-Sub\"\n",
            "`forward.claims`",
            "cannot set",
        ),
        (
            "[forward]\ntoken_header = \"x jwt\"\n",
            "`forward.token_header`",
            "not a valid header name",
        ),
        (
            "[forward]\ntoken_prefix = \"Bearer \"\n",
            "`forward.token_prefix`",
            "token_header",
        ),
        (
            "[keys]\njwks = \"http://10.0.0.5/jwks.json\"\n",
            "`keys.jwks`",
            "loopback",
        ),
        (
            "[keys]\njwks = \"ftp://127.0.0.1/jwks\"\n",
            "`keys.jwks`",
            "\"ftp\"",
        ),
        ("[keys]\npem = \"MIIBIjAN\"\n", "`keys.pem`", "no PEM block"),
        (
            "[keys]\njwks = \"a.json\"\npem_file = \"b.pem\"\n",
            "`keys.pem_file`",
            "exactly one",
        ),
        (
            "[token]\npublic_paths = [\"public\"]\n",
            "`token.public_paths`",
            "\"/public/\"",
        ),
        (
            "[token]\nquery = \"t\"\nscheme_required = true\n",
            "`token.scheme_required`",
            "headers only",
        ),
        (
            "[token]\nmissing = \"allow\"\n",
            "`token.missing`",
            "`deny`",
        ),
        (
            "[checks]\nclock_tolerance_seconds = -1\n",
            "`checks.clock_tolerance_seconds`",
            "edge.toml:2",
        ),
    ];
    for (text, key, fix) in cases {
        let error = EdgeProfile::from_toml(text, "edge.toml").expect_err(text);
        assert!(error.contains(key), "{text:?} should name {key}: {error}");
        assert!(error.contains(fix), "{text:?} should say {fix}: {error}");
        assert!(error.starts_with("edge.toml:"), "{error}");
    }
}

#[test]
fn http_loopback_jwks_allowed() {
    let parsed = profile("[keys]\njwks = \"http://127.0.0.1:9000/jwks.json\"\n");
    assert!(matches!(parsed.key_source, Some(KeySource::JwksUrl(_))));
}

#[test]
fn missing_file_error() {
    let error = EdgeProfile::load(Path::new("/nonexistent/idflow/edge.toml")).expect_err("missing");
    assert!(error.contains("/nonexistent/idflow/edge.toml"), "{error}");
    assert!(error.contains("check the path"), "{error}");
}

#[test]
fn load_resolves_key_path() {
    let dir = std::env::temp_dir().join(format!("idflow-edge-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("edge.toml");
    std::fs::write(&path, "[keys]\npem_file = \"key.pem\"\n").expect("profile written");
    let loaded = EdgeProfile::load(&path);
    let _ = std::fs::remove_dir_all(&dir);
    let loaded = loaded.unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        loaded.key_source,
        Some(KeySource::PemFile(dir.join("key.pem")))
    );
    assert_eq!(loaded.origin, path.display().to_string());
}

#[test]
fn shipped_profiles_load() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let sample = EdgeProfile::load(&root.join("profiles/edge.sample.toml"))
        .unwrap_or_else(|error| panic!("{error}"));
    // The sample writes out the defaults, so it must equal an empty profile.
    let defaults = profile("");
    assert_eq!(sample.location, defaults.location);
    assert_eq!(sample.algorithms, defaults.algorithms);
    assert_eq!(sample.check_exp, defaults.check_exp);
    assert_eq!(sample.check_nbf, defaults.check_nbf);
    assert_eq!(sample.deny_status, defaults.deny_status);
    assert_eq!(sample.forward, defaults.forward);

    let demo = EdgeProfile::load(&root.join("demo/edge-profile.toml"))
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(demo.issuers.len(), 2);
    assert!(!demo.scheme_case_sensitive);
    assert!(demo.fail_open);
    assert_eq!(demo.deny_status, 401);
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

#[test]
fn valid_rs256_allowed() {
    let key = Key::rsa();
    let set = key.key_set();
    let decision = decide(STRICT, &format!("Bearer {}", key.token()), Some(&set));
    assert_eq!(
        decision.verdict,
        ProfileVerdict::Allow,
        "{}",
        decision.reason
    );
    assert_eq!(decision.status, None);
    assert!(decision.validated);
    assert!(decision.signature_checked);
    assert!(decision.notes.is_empty(), "{:?}", decision.notes);
}

#[test]
fn valid_es256_jwks_allowed() {
    let key = Key::ec();
    let set = key.jwks_set();
    let decision = decide(STRICT, &format!("Bearer {}", key.token()), Some(&set));
    assert_eq!(
        decision.verdict,
        ProfileVerdict::Allow,
        "{}",
        decision.reason
    );
    assert!(decision.signature_checked);
}

#[test]
fn wrong_key_denied() {
    for (signer, other) in [(Key::rsa(), Key::rsa()), (Key::ec(), Key::ec())] {
        let set = other.key_set();
        let decision = decide(STRICT, &format!("Bearer {}", signer.token()), Some(&set));
        assert_eq!(decision.verdict, ProfileVerdict::Deny, "{}", signer.alg());
        assert_eq!(decision.status, Some(401), "{}", signer.alg());
        assert_eq!(
            decision.edgeworker_error.as_deref(),
            Some("JWT token signature verification failed!"),
            "{}",
            signer.alg()
        );
    }
}

#[test]
fn expired_unchecked_allowed_with_note() {
    let key = Key::rsa();
    let set = key.key_set();
    let mut expired = claims();
    expired["exp"] = json!(NOW - 7200);
    let text = STRICT.replace("check_exp = true", "check_exp = false");
    let decision = decide(&text, &format!("Bearer {}", key.sign(&expired)), Some(&set));
    assert_eq!(
        decision.verdict,
        ProfileVerdict::Allow,
        "{}",
        decision.reason
    );
    assert!(
        decision
            .notes
            .iter()
            .any(|note| note.contains("expired 7200 s ago") && note.contains("Jwt is expired")),
        "{:?}",
        decision.notes
    );
}

#[test]
fn expired_checked_denied_401() {
    let key = Key::rsa();
    let set = key.key_set();
    let mut expired = claims();
    expired["exp"] = json!(NOW - 7200);
    let decision = decide(
        STRICT,
        &format!("Bearer {}", key.sign(&expired)),
        Some(&set),
    );
    assert_eq!(decision.verdict, ProfileVerdict::Deny);
    assert_eq!(decision.status, Some(401));
    assert_eq!(decision.edgeworker_error.as_deref(), Some("JWT expired"));
}

#[test]
fn expired_within_tolerance_allowed() {
    let key = Key::rsa();
    let set = key.key_set();
    let mut recent = claims();
    recent["exp"] = json!(NOW - 30);
    let decision = decide(STRICT, &format!("Bearer {}", key.sign(&recent)), Some(&set));
    assert_eq!(
        decision.verdict,
        ProfileVerdict::Allow,
        "{}",
        decision.reason
    );
}

#[test]
fn claim_checks_deny() {
    let key = Key::rsa();
    let set = key.key_set();
    let cases = [
        (
            "iss",
            json!("https://other.test"),
            "JWT malformed: invalid iss, expected https://idp.example.com/realms/shop",
        ),
        (
            "aud",
            json!("web"),
            "JWT malformed: invalid aud, expected orders",
        ),
        (
            "aud",
            json!(["web", "admin"]),
            "JWT malformed: invalid aud, expected orders",
        ),
        ("nbf", json!(NOW + 600), "JWT not active"),
        (
            "exp",
            json!("tomorrow"),
            "JWT malformed: exp must be number",
        ),
    ];
    for (claim, value, thrown) in cases {
        let mut changed = claims();
        changed[claim] = value.clone();
        let decision = decide(
            STRICT,
            &format!("Bearer {}", key.sign(&changed)),
            Some(&set),
        );
        assert_eq!(decision.verdict, ProfileVerdict::Deny, "{claim} {value}");
        assert_eq!(decision.status, Some(401), "{claim} {value}");
        assert_eq!(
            decision.edgeworker_error.as_deref(),
            Some(thrown),
            "{claim} {value}"
        );
    }
}

#[test]
fn absent_claims_skipped_or_required() {
    let key = Key::rsa();
    let set = key.key_set();
    let mut bare = claims();
    bare.as_object_mut().expect("object").remove("iss");
    bare.as_object_mut().expect("object").remove("aud");
    let token = format!("Bearer {}", key.sign(&bare));

    let skipped = decide(STRICT, &token, Some(&set));
    assert_eq!(skipped.verdict, ProfileVerdict::Allow, "{}", skipped.reason);
    assert!(
        skipped.notes.iter().any(|note| note.contains("no `iss`")),
        "{:?}",
        skipped.notes
    );

    let text = STRICT.replace("[checks]", "[checks]\nskip_absent_claims = false");
    let required = decide(&text, &token, Some(&set));
    assert_eq!(required.verdict, ProfileVerdict::Deny);
    assert!(required.reason.contains("no `iss`"), "{}", required.reason);
}

#[test]
fn lower_case_bearer() {
    let key = Key::rsa();
    let set = key.key_set();
    let pasted = format!("Authorization: bearer {}", key.token());

    let strict = decide(STRICT, &pasted, Some(&set));
    assert_eq!(strict.verdict, ProfileVerdict::Deny, "{}", strict.reason);
    assert_eq!(strict.status, Some(401));

    // Case-sensitive `replace` without a required scheme: the validator gets `bearer <jwt>`.
    let example = decide("", &pasted, Some(&set));
    assert_eq!(example.verdict, ProfileVerdict::Deny, "{}", example.reason);
    assert_eq!(example.status, Some(400));
    assert!(
        example.reason.contains("scheme still in front"),
        "{}",
        example.reason
    );

    let lenient = STRICT.replace("scheme_required = true", "scheme_case_sensitive = false");
    let accepted = decide(&lenient, &pasted, Some(&set));
    assert_eq!(
        accepted.verdict,
        ProfileVerdict::Allow,
        "{}",
        accepted.reason
    );
    assert!(
        accepted
            .notes
            .iter()
            .any(|note| note.contains("case-sensitive")),
        "{:?}",
        accepted.notes
    );
    let forwarded = &accepted.forwarded_headers[0];
    assert_eq!(forwarded.name, "authorization");
    assert!(
        forwarded.value.starts_with("bearer <token sha256:"),
        "{}",
        forwarded.value
    );
}

#[test]
fn missing_token_denied_or_forwarded() {
    let key = Key::rsa();
    let set = key.key_set();
    let pasted = format!("X-Api-Token: Bearer {}", key.token());

    let denied = decide(STRICT, &pasted, Some(&set));
    assert_eq!(denied.verdict, ProfileVerdict::Deny);
    assert_eq!(denied.status, Some(401));
    assert!(denied.reason.contains("`x-api-token`"), "{}", denied.reason);
    assert!(!denied.validated);

    let text = STRICT.replace("[token]", "[token]\nmissing = \"forward\"");
    let forwarded = decide(&text, &pasted, Some(&set));
    assert_eq!(forwarded.verdict, ProfileVerdict::Allow);
    assert_eq!(forwarded.status, None);
    assert!(!forwarded.validated);
    let names: Vec<&str> = forwarded
        .forwarded_headers
        .iter()
        .map(|header| header.name.as_str())
        .collect();
    assert_eq!(names, ["x-api-token", "x-edge-request-id"]);
}

#[test]
fn alg_not_allowed() {
    let key = Key::ec();
    let set = key.key_set();
    let text = STRICT.replace("[\"RS256\", \"ES256\"]", "[\"RS256\"]");
    let decision = decide(&text, &format!("Bearer {}", key.token()), Some(&set));
    assert_eq!(decision.verdict, ProfileVerdict::Deny);
    assert_eq!(
        decision.edgeworker_error.as_deref(),
        Some("ES256 is not supported at the moment")
    );
}

#[test]
fn unsigned_token_rejected() {
    let header = b64(json!({"alg": "none"}).to_string().as_bytes());
    let payload = b64(claims().to_string().as_bytes());
    let decision = decide(STRICT, &format!("Bearer {header}.{payload}."), None);
    assert_eq!(decision.verdict, ProfileVerdict::Deny);
    assert_eq!(
        decision.edgeworker_error.as_deref(),
        Some("Unsecured JWT Token are not allowed")
    );
}

#[test]
fn key_source_failure_fails_open_or_closed() {
    let key = Key::rsa();
    let pasted = format!("Bearer {}", key.token());

    let closed = decide(STRICT, &pasted, None);
    assert_eq!(closed.verdict, ProfileVerdict::Deny);
    assert_eq!(closed.status, Some(500));
    assert!(closed.forwarded_headers.is_empty());

    let text = STRICT.replace("[response]", "[response]\nfail_open = true");
    let open = decide(&text, &pasted, None);
    assert_eq!(open.verdict, ProfileVerdict::FailOpen, "{}", open.reason);
    assert_eq!(open.status, None);
    assert!(!open.validated);
    assert!(
        open.reason.contains("continues on error"),
        "{}",
        open.reason
    );
    let names: Vec<&str> = open
        .forwarded_headers
        .iter()
        .map(|header| header.name.as_str())
        .collect();
    assert_eq!(names, ["authorization", "x-edge-request-id"]);
}

#[test]
fn no_key_source_leaves_signature_unchecked() {
    let key = Key::rsa();
    let decision = decide("", &format!("Bearer {}", key.token()), None);
    assert_eq!(
        decision.verdict,
        ProfileVerdict::Allow,
        "{}",
        decision.reason
    );
    assert!(!decision.signature_checked);
    assert!(
        decision
            .notes
            .iter()
            .any(|note| note.contains("signature was not checked")),
        "{:?}",
        decision.notes
    );
}

#[test]
fn claims_copied_into_headers() {
    let key = Key::rsa();
    let set = key.key_set();
    let text = format!(
        "{STRICT}\n[forward]\nkeep_token = false\ntoken_header = \"x-jwt\"\n\
         [forward.claims]\nsub = \"x-user-sub\"\ngroups = \"x-user-groups\"\nemail = \"x-user-email\"\n"
    );
    let token = key.token();
    let decision = decide(&text, &format!("Bearer {token}"), Some(&set));
    assert_eq!(
        decision.verdict,
        ProfileVerdict::Allow,
        "{}",
        decision.reason
    );
    let headers: Vec<(&str, &str)> = decision
        .forwarded_headers
        .iter()
        .map(|header| (header.name.as_str(), header.value.as_str()))
        .collect();
    let fingerprint = token::fingerprint(&token);
    let copy = format!("<token {fingerprint}>");
    assert_eq!(
        headers,
        [
            ("x-jwt", copy.as_str()),
            ("x-user-groups", "buyers,beta"),
            ("x-user-sub", "alice"),
            ("x-edge-request-id", "<edge request id>"),
        ]
    );
    assert!(
        decision
            .notes
            .iter()
            .any(|note| note.contains("no `email` claim")),
        "{:?}",
        decision.notes
    );
}

#[test]
fn token_redacted_unless_shown() {
    let key = Key::rsa();
    let set = key.key_set();
    let token = key.token();
    let decision = decide(STRICT, &format!("Bearer {token}"), Some(&set));
    let header = &decision.forwarded_headers[0];
    assert!(!header.value.contains(&token));
    assert!(
        !format!("{decision:?}").contains(&token),
        "Debug leaks the token"
    );
    let json = serde_json::to_string(&decision).expect("serializes");
    assert!(!json.contains(&token), "JSON leaks the token");
    assert_eq!(header.shown(true), format!("Bearer {token}"));
    assert_eq!(header.shown(false), header.value);
}

// ---------------------------------------------------------------------------------------------
// Differences from the mesh.

fn policies(yaml: &str) -> Vec<RequestAuthentication> {
    load_policies(yaml, "policies.yaml", "default")
        .unwrap_or_else(|error| panic!("{error}"))
        .request_authentication
}

const WORKLOAD_RULE: &str = r"
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: orders-jwt, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  jwtRules:
  - issuer: https://idp.example.com/realms/shop
    jwksUri: https://idp.example.com/realms/shop/certs
    audiences: [orders]
    forwardOriginalToken: true
";

fn codes(profile: &EdgeProfile, rules: &[RequestAuthentication]) -> Vec<&'static str> {
    profile
        .differences(rules)
        .iter()
        .map(|difference| difference.code)
        .collect()
}

#[test]
fn differences_need_policies() {
    assert!(profile("").differences(&[]).is_empty());
}

#[test]
fn differences_aligned_profile() {
    let rules = policies(WORKLOAD_RULE);
    let aligned = profile(
        r#"
[token]
scheme_required = true
[checks]
issuers = ["https://idp.example.com/realms/shop"]
audiences = ["orders"]
skip_absent_claims = false
check_exp = true
"#,
    );
    assert_eq!(
        codes(&aligned, &rules),
        ["exp_required_at_edge", "nbf_unchecked"]
    );
}

#[test]
fn differences_in_words() {
    let rules = policies(WORKLOAD_RULE);
    let edge = profile(
        r#"
[token]
scheme_case_sensitive = false
[checks]
audiences = ["web"]
[forward]
keep_token = false
token_header = "x-jwt"
"#,
    );
    let messages: Vec<String> = edge
        .differences(&rules)
        .into_iter()
        .map(|difference| {
            assert_eq!(difference.policy.as_deref(), Some("shop/orders-jwt"));
            difference.message
        })
        .collect();
    let expected = [
        "the edge accepts audience `web` but the mesh requires `orders`",
        "the edge does not check `exp`; the mesh rejects expired tokens after 60 s leeway",
        "the edge forwards the token in `x-jwt` but the mesh reads `authorization: Bearer `",
        "the edge accepts any issuer",
    ];
    for phrase in expected {
        assert!(
            messages.iter().any(|message| message.contains(phrase)),
            "missing {phrase:?} in {messages:#?}"
        );
    }
    // The token is not forwarded in `Authorization`, so its scheme cannot differ there.
    assert!(
        !messages
            .iter()
            .any(|message| message.contains("lower-case")),
        "{messages:#?}"
    );
}

#[test]
fn lower_case_scheme_difference() {
    let rules = policies(WORKLOAD_RULE);
    let edge = profile("[token]\nscheme_case_sensitive = false\nscheme_required = true\n");
    let differences = edge.differences(&rules);
    let scheme = differences
        .iter()
        .find(|difference| difference.code == "scheme_case")
        .expect("scheme_case listed");
    assert!(
        scheme.message.contains(
            "the edge accepts lower-case `bearer`; Envoy's prefix match is case-sensitive"
        ),
        "{}",
        scheme.message
    );
}

#[test]
fn issuer_and_location_differences() {
    let rules = policies(
        r"
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: gw, namespace: istio-system}
spec:
  jwtRules:
  - issuer: https://a.test
    fromHeaders: [{name: x-token, prefix: 'Token '}]
    outputClaimToHeaders: [{header: x-user, claim: email}]
  - issuer: https://c.test
",
    );
    let edge = profile(
        r#"
[checks]
issuers = ["https://a.test", "https://b.test"]
[forward]
token_header = "X-Token"
token_prefix = "Bearer "
[forward.claims]
sub = "x-user"
"#,
    );
    let found = edge.differences(&rules);
    let find = |code: &str| {
        found
            .iter()
            .find(|difference| difference.code == code)
            .unwrap_or_else(|| panic!("{code} missing from {found:#?}"))
    };
    assert_eq!(
        find("issuer_not_in_mesh").issuer.as_deref(),
        Some("https://b.test")
    );
    assert_eq!(
        find("issuer_not_at_edge").issuer.as_deref(),
        Some("https://c.test")
    );
    assert!(find("token_prefix_mismatch").message.contains("\"Token \""));
    assert!(
        find("claim_header_overwritten")
            .message
            .contains("`x-user`")
    );
    assert_eq!(
        find("token_removed_by_mesh").issuer.as_deref(),
        Some("https://a.test")
    );
}

// ---------------------------------------------------------------------------------------------
// Field report B28: Akamai's first RS256 example against Istio's defaults.

/// The example: the raw `Authorization` value goes to the validator, `exp` and `nbf` are checked,
/// no issuer is set, every error answers 400, and a request without the header goes on.
const B28_EDGE: &str = r#"
[token]
header = "Authorization"
scheme = ""
missing = "forward"
[checks]
check_exp = true
check_nbf = true
[keys]
pem = "-----BEGIN PUBLIC KEY-----\nthe test passes the key\n-----END PUBLIC KEY-----"
"#;

/// The mesh of B25: one rule on the gateway and one on the workload, default locations.
const B28_MESH: &str = r"
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: gateway-jwt, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  jwtRules: [{issuer: 'https://idp.example.com/realms/shop', jwksUri: 'https://idp.example.com/realms/shop/certs'}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: orders-jwt, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  jwtRules: [{issuer: 'https://idp.example.com/realms/shop', jwksUri: 'https://idp.example.com/realms/shop/certs'}]
";

#[test]
fn b28_verdicts() {
    let key = Key::rsa();
    let set = key.key_set();
    let jwt = key.token();
    let mut without_nbf = claims();
    without_nbf.as_object_mut().expect("object").remove("nbf");
    let mut without_iss = claims();
    without_iss.as_object_mut().expect("object").remove("iss");

    let cases = [
        (
            "bearer scheme",
            format!("Authorization: Bearer {jwt}"),
            ProfileVerdict::Deny,
            Some(400),
            false,
        ),
        (
            "no scheme",
            format!("Authorization: {jwt}"),
            ProfileVerdict::Allow,
            None,
            true,
        ),
        (
            "no nbf",
            format!("Authorization: {}", key.sign(&without_nbf)),
            ProfileVerdict::Deny,
            Some(400),
            false,
        ),
        (
            "no iss",
            format!("Authorization: {}", key.sign(&without_iss)),
            ProfileVerdict::Allow,
            None,
            true,
        ),
        (
            "no header",
            format!("X-Other: {jwt}"),
            ProfileVerdict::Allow,
            None,
            false,
        ),
    ];
    for (name, pasted, verdict, status, validated) in cases {
        let decision = decide(B28_EDGE, &pasted, Some(&set));
        assert_eq!(decision.verdict, verdict, "{name}: {}", decision.reason);
        assert_eq!(decision.status, status, "{name}");
        assert_eq!(decision.validated, validated, "{name}");
    }
    let no_nbf = decide(
        B28_EDGE,
        &format!("Authorization: {}", key.sign(&without_nbf)),
        Some(&set),
    );
    assert_eq!(
        no_nbf.edgeworker_error.as_deref(),
        Some("JWT malformed: nbf must be number")
    );
}

#[test]
fn b28_differences() {
    let edge = profile(B28_EDGE);
    let found = edge.differences(&policies(B28_MESH));
    let listed = |code: &str, policy: Option<&str>| {
        found
            .iter()
            .any(|difference| difference.code == code && difference.policy.as_deref() == policy)
    };
    assert!(listed("missing_token_forwarded", None), "{found:#?}");
    for policy in ["istio-system/gateway-jwt", "shop/orders-jwt"] {
        for code in [
            "scheme_not_stripped",
            "issuer_unchecked",
            "exp_required_at_edge",
            "nbf_required_at_edge",
            "token_removed_by_mesh",
        ] {
            assert!(
                listed(code, Some(policy)),
                "{code} for {policy}: {found:#?}"
            );
        }
    }
    assert!(
        !listed("fail_open", None),
        "the example does not continue on error"
    );
    let scheme = found
        .iter()
        .find(|difference| difference.code == "scheme_not_stripped")
        .expect("listed");
    assert!(
        scheme
            .message
            .contains("`Bearer <jwt>` fails at the edge (400)"),
        "{}",
        scheme.message
    );
}
