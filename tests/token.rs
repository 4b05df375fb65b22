//! Tests of `token::inspect`: finding, classifying and decoding pasted tokens.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use idflow::token::{self, Inspection, TokenError, TokenKind};
use serde_json::{Value, json};

/// 2025-03-04T11:02:10Z, the clock for every test.
const NOW: i64 = 1_741_086_130;

const BAD_FORMAT: &str =
    "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).expect("valid time")
}

fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Mints a JWS with arbitrary signature bytes; nothing verifies signatures yet.
fn mint(header: &Value, claims: &Value) -> String {
    let signature = URL_SAFE_NO_PAD.encode([0xfb_u8, 0xff, 0x01, 0x02, 0x03, 0xfe, 0x7f, 0x80]);
    format!("{}.{}.{signature}", encode(header), encode(claims))
}

fn sample() -> String {
    mint(
        &json!({"alg": "RS256", "kid": "k-2025-03", "typ": "JWT"}),
        &json!({"iss": "https://idp.example.com/realms/shop", "sub": "alice", "exp": NOW + 3_600}),
    )
}

fn inspect(text: &str) -> Inspection {
    token::inspect(text, now()).unwrap_or_else(|error| panic!("{error}"))
}

fn codes(inspection: &Inspection) -> Vec<&str> {
    inspection
        .problems
        .iter()
        .map(|problem| problem.code.as_str())
        .collect()
}

fn message<'a>(inspection: &'a Inspection, code: &str) -> &'a str {
    inspection
        .problems
        .iter()
        .find(|problem| problem.code == code)
        .map_or_else(
            || panic!("no problem {code} in {:?}", codes(inspection)),
            |problem| problem.message.as_str(),
        )
}

fn error_text(text: &str) -> String {
    token::inspect(text, now())
        .expect_err("not a token")
        .to_string()
}

#[test]
fn finding_rules() {
    let t = sample();
    let cases = [
        (t.clone(), "bare token"),
        (format!("  {t} \r\n"), "bare token"),
        (format!("\"{t}\"\n"), "bare token, in quotes"),
        (format!("'{t}'"), "bare token, in quotes"),
        (format!("Bearer {t}"), "Bearer scheme"),
        (format!("Bearer   {t}"), "Bearer scheme"),
        (format!("\"Bearer {t}\""), "Bearer scheme, in quotes"),
        (
            format!("Authorization: Bearer {t}"),
            "Authorization header, Bearer scheme",
        ),
        (
            format!("authorization:Bearer {t}\r\n"),
            "authorization header, Bearer scheme",
        ),
        (
            format!("curl -s -H 'Authorization: Bearer {t}' http://127.0.0.1:8080/api"),
            "curl command, Authorization header, Bearer scheme",
        ),
        (
            format!(
                "curl -H \"Accept: */*\" --header \"Authorization: Bearer {t}\" http://127.0.0.1/"
            ),
            "curl command, Authorization header, Bearer scheme",
        ),
        (
            format!("curl http://127.0.0.1/ \\\n  -H 'Authorization: Bearer {t}' \\\n  -v"),
            "curl command, Authorization header, Bearer scheme",
        ),
        (
            format!("curl --oauth2-bearer {t} http://127.0.0.1/"),
            "curl --oauth2-bearer, Authorization header, Bearer scheme",
        ),
        (
            format!("-H 'Authorization: Bearer {t}'"),
            "curl -H argument, Authorization header, Bearer scheme",
        ),
        (
            format!("--header \"Authorization: Bearer {t}\""),
            "curl -H argument, Authorization header, Bearer scheme",
        ),
    ];
    let expected_fingerprint = token::fingerprint(&t);
    for (input, found_as) in cases {
        let inspection = inspect(&input);
        assert_eq!(inspection.found_as, found_as, "input {input:?}");
        assert_eq!(inspection.kind, TokenKind::Jws, "input {input:?}");
        assert_eq!(
            inspection.fingerprint, expected_fingerprint,
            "input {input:?}"
        );
        assert_eq!(inspection.problems, [], "input {input:?}");
    }
}

#[test]
fn finding_cookie_and_json() {
    let t = sample();
    let cases = [
        (
            format!("Cookie: theme=dark; session={t}"),
            "Cookie header, cookie session",
            vec!["not_default_location"],
        ),
        (
            format!("{{\"Authorization\": \"Bearer {t}\"}}"),
            "JSON object, Authorization header, Bearer scheme",
            vec![],
        ),
        (
            format!("{{\"accept\": \"*/*\", \"authorization\": \"Bearer {t}\"}}"),
            "JSON object, authorization header, Bearer scheme",
            vec![],
        ),
    ];
    for (input, found_as, problems) in cases {
        let inspection = inspect(&input);
        assert_eq!(inspection.found_as, found_as, "input {input:.40}");
        assert_eq!(inspection.fingerprint, token::fingerprint(&t));
        assert_eq!(codes(&inspection), problems, "input {input:.40}");
    }
    assert!(error_text("Cookie: theme=dark").contains("no cookie holds a JWT"));
}

#[test]
fn scheme_as_written() {
    let t = sample();
    let cases = [
        (format!("Bearer {t}"), Some("Bearer")),
        (format!("bearer {t}"), Some("bearer")),
        (format!("Authorization: BEARER {t}"), Some("BEARER")),
        (format!("Authorization: {t}"), None),
        (t.clone(), None),
    ];
    for (input, scheme) in cases {
        assert_eq!(inspect(&input).scheme.as_deref(), scheme, "input {input:?}");
    }
}

#[test]
fn scheme_problems() {
    let t = sample();
    let cases = [
        (format!("bearer {t}"), "scheme_not_bearer"),
        (format!("Authorization: BEARER {t}"), "scheme_not_bearer"),
        (format!("Authorization: {t}"), "missing_scheme"),
        (format!("Token {t}"), "unexpected_scheme"),
        (format!("Bearer\t{t}"), "bearer_prefix_not_found"),
    ];
    for (input, code) in cases {
        let inspection = inspect(&input);
        assert_eq!(codes(&inspection), [code], "input {input:?}");
        let text = message(&inspection, code);
        assert!(
            text.contains("403 `RBAC: access denied`, not 401"),
            "{text}"
        );
    }
}

#[test]
fn custom_header_location() {
    let inspection = inspect(&format!("X-Jwt-Assertion: {}", sample()));
    assert_eq!(inspection.header_name.as_deref(), Some("x-jwt-assertion"));
    assert_eq!(codes(&inspection), ["not_default_location"]);
}

#[test]
fn opaque_bearer_rejected() {
    let inspection = inspect("Authorization: Bearer 9f1c2e7a5b8d4c3e");
    assert_eq!(inspection.kind, TokenKind::Opaque);
    assert_eq!(inspection.header, None);
    assert_eq!(
        message(&inspection, "mesh_rejects_format"),
        format!(
            "Envoy's jwt_authn (1.29 and later) returns 401 `{BAD_FORMAT}` for this value, with \
             response code details `jwt_authn_access_denied{{{}}}`, on every workload that a \
             RequestAuthentication selects, even without an AuthorizationPolicy",
            BAD_FORMAT.replace(' ', "_")
        )
    );
    assert!(codes(&inspection).contains(&"opaque_token"));
}

#[test]
fn trailing_junk_after_space() {
    let inspection = inspect(&format!("Authorization: Bearer {} .abc", sample()));
    assert_eq!(inspection.fingerprint, token::fingerprint(&sample()));
    assert_eq!(
        message(&inspection, "trailing_text"),
        "the token is followed by text that is not part of it (a space and 4 more characters); \
         idflow decoded the token before it. Remove the extra text from the header"
    );
    assert!(message(&inspection, "mesh_rejects_format").contains(BAD_FORMAT));
}

#[test]
fn leading_words_before_token() {
    // Envoy finds no `Bearer ` prefix in `x Bearer: <jwt>`, but the token the user means is the
    // last word: removing the spaces would garble it.
    let inspection = inspect(&format!("Authorization: x Bearer: {}", sample()));
    assert_eq!(inspection.fingerprint, token::fingerprint(&sample()));
    assert!(inspection.header.is_some());
    assert_eq!(
        message(&inspection, "leading_text"),
        "the token follows text that is not part of it (9 characters); idflow decoded the token \
         after it. Remove the extra text from the header"
    );
    assert!(!codes(&inspection).contains(&"internal_whitespace"));
    assert!(codes(&inspection).contains(&"missing_scheme"));
}

#[test]
fn trailing_word_fails_verification() {
    let inspection = inspect(&format!("Bearer {} abc", sample()));
    assert!(codes(&inspection).contains(&"trailing_text"));
    assert!(message(&inspection, "mesh_rejects_format").contains("401 `Jwt verification fails`"));
}

#[test]
fn trailing_hashes_bad_signature() {
    let inspection = inspect(&format!("{}###", sample()));
    assert!(codes(&inspection).contains(&"signature_invalid_base64url"));
    assert!(
        message(&inspection, "mesh_rejects_format")
            .contains("`Jwt signature is an invalid Base64url encoded`")
    );
}

#[test]
fn scheme_after_text_found() {
    // Envoy's jwt_authn finds `Bearer ` anywhere in the value, so the token after it reaches the mesh.
    let inspection = inspect(&format!("Authorization: X Bearer {}", sample()));
    assert_eq!(inspection.fingerprint, token::fingerprint(&sample()));
    assert_eq!(
        inspection.found_as,
        "Authorization header, Bearer scheme after 2 characters"
    );
    assert_eq!(
        message(&inspection, "text_before_scheme"),
        "the value has 2 characters before `Bearer `. Envoy's jwt_authn finds `Bearer ` anywhere \
         in the value and reads the token after it, but servers that follow RFC 6750 expect the \
         scheme first and reject the header. Remove the text before the scheme"
    );
    assert!(!inspection.is_invalid(), "{:?}", codes(&inspection));
}

#[test]
fn junk_before_token_skipped() {
    // Envoy starts the token at the first base64url character after `Bearer `.
    let inspection = inspect(&format!("Bearer !.{}", sample()));
    assert_eq!(inspection.fingerprint, token::fingerprint(&sample()));
    assert_eq!(codes(&inspection), ["text_before_token"]);
    assert_eq!(
        message(&inspection, "text_before_token"),
        "the token follows 2 characters that are not part of it. Envoy's jwt_authn skips to the \
         first base64url character after `Bearer ` and reads the token, but other servers reject \
         the value. Remove the extra text from the header"
    );
}

#[test]
fn quoted_token_unquoted() {
    let inspection = inspect(&format!("Authorization: Bearer \"{}\"", sample()));
    assert_eq!(inspection.fingerprint, token::fingerprint(&sample()));
    assert!(codes(&inspection).contains(&"quoted_token"));
    // Envoy skips the opening quote and keeps the closing one in the signature segment.
    assert!(
        message(&inspection, "mesh_rejects_format")
            .contains("`Jwt signature is an invalid Base64url encoded`")
    );
    assert_eq!(
        inspection.mesh_reads_other,
        Some("Jwt signature is an invalid Base64url encoded")
    );
}

#[test]
fn junk_only_names_envoy_401() {
    // Envoy hands the whole value over when no base64url character follows `Bearer `.
    let text = error_text("Authorization: Bearer !!!");
    assert!(text.starts_with("no token found in the input"), "{text}");
    assert!(
        text.contains("returns 401 `Jwt is not in the form of Header.Payload.Signature"),
        "{text}"
    );
}

#[test]
fn internal_space_removed() {
    let t = sample();
    let (left, right) = t.split_at(10);
    let inspection = inspect(&format!("Bearer {left} {right}"));
    assert_eq!(inspection.fingerprint, token::fingerprint(&t));
    assert!(message(&inspection, "internal_whitespace").contains("first at byte 10"));
    assert!(message(&inspection, "mesh_rejects_format").contains("`Jwt verification fails`"));
}

#[test]
fn percent_twenty_removed() {
    let t = sample();
    let (left, right) = t.split_at(10);
    let inspection = inspect(&format!("{left}%20{right}"));
    assert_eq!(inspection.fingerprint, token::fingerprint(&t));
    assert!(codes(&inspection).contains(&"internal_whitespace"));
    assert!(
        message(&inspection, "mesh_rejects_format")
            .contains("`Jwt header is an invalid Base64url encoded`")
    );
}

#[test]
fn not_a_token_messages() {
    let cases = [
        (String::new(), TokenError::Empty.to_string()),
        (" \r\n ".to_owned(), TokenError::Empty.to_string()),
        (
            "hello world".to_owned(),
            "no token found in the input (11 characters): it contains whitespace inside; expected \
             a JWT (header.payload.signature, three base64url segments and two dots), a JWE (five \
             segments and four dots) or an opaque token (one word of letters, digits and -._~+/ \
             with optional trailing =), alone or after `Bearer `, in an `Authorization:` line or \
             a curl command"
                .to_owned(),
        ),
        (
            "Basic dXNlcjpwYXNz".to_owned(),
            "no token found in the input (Basic scheme, 18 characters): the `Basic` scheme \
             carries credentials, not a token; idflow decodes bearer tokens, so paste an \
             `Authorization: Bearer` line, a JWT or an opaque token"
                .to_owned(),
        ),
        (
            "Bearer".to_owned(),
            "no token found in the input (Bearer scheme, 6 characters): nothing follows the \
             scheme; expected a token after it"
                .to_owned(),
        ),
        (
            "curl -H 'Accept: */*' http://127.0.0.1/".to_owned(),
            "no token found in the input (curl command, 39 characters): the curl command sends \
             no token; expected -H 'Authorization: Bearer <token>' or --oauth2-bearer <token>"
                .to_owned(),
        ),
        (
            "curl -u admin:pw http://127.0.0.1/".to_owned(),
            "no token found in the input (curl command, 34 characters): the curl command sends a \
             user name and password (-u, HTTP Basic), not a token; expected -H 'Authorization: \
             Bearer <token>' or --oauth2-bearer <token>"
                .to_owned(),
        ),
        (
            "Authorization: Bearer a!b".to_owned(),
            "no token found in the input (Authorization header, Bearer scheme, 25 characters): it \
             contains '!' at byte 1, which no token contains; expected a JWT \
             (header.payload.signature, three base64url segments and two dots), a JWE (five \
             segments and four dots) or an opaque token (one word of letters, digits and -._~+/ \
             with optional trailing =), alone or after `Bearer `, in an `Authorization:` line or \
             a curl command. Envoy's jwt_authn still reads this value and returns 401 `Jwt is not \
             in the form of Header.Payload.Signature with two dots and 3 sections` on every \
             workload that a RequestAuthentication selects"
                .to_owned(),
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(error_text(&input), expected, "input {input:?}");
    }
}

#[test]
fn error_names_header_lines() {
    let cases = [
        ("X-Api-Key: a!b", "(X-Api-Key header, 14 characters)"),
        ("X-B3-Flags: a!b", "(X-B3-Flags header, 15 characters)"),
        (
            "Proxy-Authorization: Basic eA",
            "(Proxy-Authorization header, Basic scheme, 29 characters)",
        ),
        ("alice: a!b", "(alice header, 10 characters)"),
        ("svc_4f2a: a!b", "(13 characters)"),
        ("Qm9Xz7Lw: a!b", "(13 characters)"),
    ];
    for (input, shape) in cases {
        let text = error_text(input);
        assert!(
            text.starts_with(&format!("no token found in the input {shape}: ")),
            "{text}"
        );
    }
}

/// Returns the first run of six characters of `secret` that `text` contains.
fn leaked_run<'a>(secret: &'a str, text: &str) -> Option<&'a str> {
    let starts: Vec<usize> = secret.char_indices().map(|(index, _)| index).collect();
    starts.windows(7).find_map(|bounds| {
        let run = &secret[bounds[0]..bounds[6]];
        text.contains(run).then_some(run)
    })
}

/// Credential-like inputs, each with the part that must stay out of every message.
fn credential_inputs() -> Vec<(String, String)> {
    let t = sample();
    let signature = t.rsplit('.').next().expect("signature").to_owned();
    let basic = STANDARD.encode("user:s3cr3tPassw0rdQx");
    let random = "Qm9Xz7Lw2Kp4Rt8Vn6Jd3Hs5Fg1Cb0Ay9Ue";
    let mut cases =
        vec![
        (format!("Authorization: Basic {basic}"), basic.clone()),
        (format!("Basic {basic}"), basic.clone()),
        (
            format!("curl -H 'Authorization: Basic {basic}' https://127.0.0.1/"),
            basic.clone(),
        ),
        (format!("Proxy-Authorization: Basic {basic}"), basic),
        // Digest, curl -u and an opaque key with a dot.
        (
            "Authorization: Digest username=\"u\", response=\"6629fae49393a05397450978507c4ef1\""
                .to_owned(),
            "6629fae49393a05397450978507c4ef1".to_owned(),
        ),
        (
            "curl -u admin:hunter2secret https://127.0.0.1/".to_owned(),
            "hunter2secret".to_owned(),
        ),
        (
            "curl --user admin:hunter2secret https://127.0.0.1/".to_owned(),
            "hunter2secret".to_owned(),
        ),
        (
            "Bearer sk_live_abc.def_SECRETSECRETSECRET".to_owned(),
            "sk_live_abc.def_SECRETSECRETSECRET".to_owned(),
        ),
        // Cookies, API keys and random strings, in and out of header lines.
        (
            format!("curl -H 'Cookie: session={random}; theme=dark' https://127.0.0.1/"),
            random.to_owned(),
        ),
        (
            format!("curl -b 'session={random}' https://127.0.0.1/"),
            random.to_owned(),
        ),
        (format!("Cookie: session={random}; csrf=x"), random.to_owned()),
        (format!("X-Api-Key: {random}"), random.to_owned()),
        (format!("api_key={random}"), random.to_owned()),
        (format!("{random}:{random}"), random.to_owned()),
        (format!("Bearer {random} {random}!"), random.to_owned()),
        (format!("Bearer {random}!"), random.to_owned()),
        (random.repeat(30), random.to_owned()),
        // Keys in the formats of well-known services.
        (
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a".to_owned(),
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a".to_owned(),
        ),
        (
            "AKIAIOSFODNN7EXAMPLE/wJalrXUtnFEMI/K7MDENG/bPxRfiCY".to_owned(),
            "AKIAIOSFODNN7EXAMPLE/wJalrXUtnFEMI/K7MDENG/bPxRfiCY".to_owned(),
        ),
    ];

    // A JWT with one character changed: to a character outside base64url, to a dot, to a space,
    // and with a dot changed to a letter.
    let (head, _) = t.rsplit_once('.').expect("dots");
    let middle = signature.len() / 2;
    for replacement in ["*", ".", " ", "%"] {
        let changed = format!(
            "{head}.{}{replacement}{}",
            &signature[..middle],
            &signature[middle + 1..]
        );
        cases.push((changed, signature.clone()));
    }
    cases.push((t.replacen('.', "x", 1), signature.clone()));
    cases.push((format!("{t}.{signature}"), signature));
    cases
}

#[test]
fn messages_hold_no_secret() {
    for (input, secret) in credential_inputs() {
        let texts = match token::inspect(&input, now()) {
            Err(error) => vec![error.to_string()],
            Ok(inspection) => {
                let mut texts: Vec<String> = inspection
                    .problems
                    .iter()
                    .map(|problem| problem.message.clone())
                    .collect();
                texts.push(inspection.found_as.clone());
                texts
            }
        };
        for text in texts {
            assert_eq!(leaked_run(&secret, &text), None, "input {input:?}: {text}");
        }
    }
}

#[test]
fn dotted_opaque_token() {
    let inspection = inspect("Bearer ya29.a0AfH6SMBx3kq9Zt_2Lw");
    assert_eq!(inspection.kind, TokenKind::Opaque);
    assert_eq!(inspection.header, None);
    assert_eq!(
        message(&inspection, "wrong_segment_count"),
        format!(
            "the token has 2 segments separated by 1 dot, but a JWS has 3 segments (2 dots) and \
             a JWE 5 (4 dots), so idflow reads it as an opaque token; wherever a \
             RequestAuthentication makes the mesh read it, Envoy's jwt_authn returns 401 \
             `{BAD_FORMAT}`"
        )
    );
    assert!(message(&inspection, "mesh_rejects_format").contains(BAD_FORMAT));
}

#[test]
fn dotted_opaque_counts() {
    let t = sample();
    let cases = [
        ("a.b.c.d".to_owned(), "4 segments separated by 3 dots"),
        (format!("{t}.abc"), "4 segments separated by 3 dots"),
        ("a.b.c.d.e.f".to_owned(), "6 segments separated by 5 dots"),
    ];
    for (input, counts) in cases {
        let inspection = inspect(&input);
        assert_eq!(inspection.kind, TokenKind::Opaque, "input {input:?}");
        let text = message(&inspection, "wrong_segment_count");
        assert!(text.contains(counts), "{text}");
    }
}

#[test]
fn undotted_opaque_no_count() {
    let inspection = inspect("9f1c2e7a5b8d4c3e");
    assert!(!codes(&inspection).contains(&"wrong_segment_count"));
}

#[test]
fn bad_character_offset() {
    let inspection = inspect("eyJ*bGciOiJub25lIn0.e30.c2ln");
    assert_eq!(
        message(&inspection, "header_invalid_base64url"),
        "the header segment has the character '*' at byte 3 of the token, which is not in the \
         base64url alphabet (A-Z, a-z, 0-9, '-', '_'); check that it was copied whole"
    );
}

#[test]
fn payload_bad_character_offset() {
    let header = encode(&json!({"alg": "RS256"}));
    let inspection = inspect(&format!("{header}.e3~0.c2ln"));
    let text = message(&inspection, "payload_invalid_base64url");
    let offset = header.len() + 3;
    assert!(
        text.starts_with(&format!(
            "the payload (claims) segment has the character '~' at byte {offset} of the token"
        )),
        "{text}"
    );
}

#[test]
fn payload_invalid_json_position() {
    let header = encode(&json!({"alg": "RS256"}));
    let payload = URL_SAFE_NO_PAD.encode("{\n  \"sub\": \"alice\",,\n}");
    let inspection = inspect(&format!("{header}.{payload}.c2ln"));
    assert_eq!(inspection.claims, None);
    assert_eq!(
        message(&inspection, "payload_invalid_json"),
        "the payload (claims) is not valid JSON: key must be a string at line 2, column 18"
    );
}

/// Protobuf's JSON parser, which Envoy's jwt_authn reads the payload with, accepts a trailing
/// comma, so decode shows the claims and warns where the comma is.
#[test]
fn payload_trailing_comma_position() {
    let header = encode(&json!({"alg": "RS256"}));
    let payload = URL_SAFE_NO_PAD.encode("{\n  \"sub\": \"alice\",\n}");
    let inspection = inspect(&format!("{header}.{payload}.c2ln"));
    assert_eq!(inspection.claims, Some(json!({"sub": "alice"})));
    assert!(
        message(&inspection, "payload_not_strict_json").starts_with(
            "the payload (claims) is not strict JSON: it has a comma before a closing `}` or \
             `]` at line 2, column 17."
        ),
        "{:?}",
        inspection.problems
    );
}

#[test]
fn header_not_object() {
    let inspection = inspect(&format!("{}.e30.c2ln", encode(&json!([1, 2]))));
    assert_eq!(
        message(&inspection, "header_not_object"),
        "the header is the JSON array, but it must be a JSON object ({…})"
    );
}

#[test]
fn claims_not_object() {
    let header = encode(&json!({"alg": "RS256"}));
    let inspection = inspect(&format!("{header}.{}.c2ln", encode(&json!("alice"))));
    assert!(codes(&inspection).contains(&"payload_not_object"));
}

#[test]
fn padded_base64url_decoded() {
    let header = URL_SAFE.encode(json!({"alg": "RS256", "typ": "JWTs"}).to_string());
    assert!(header.ends_with('='), "fixture needs padding: {header}");
    let claims = encode(&json!({"sub": "alice", "exp": NOW + 60}));
    let inspection = inspect(&format!("{header}.{claims}.c2ln"));
    assert_eq!(
        inspection.header,
        Some(json!({"alg": "RS256", "typ": "JWTs"}))
    );
    assert!(message(&inspection, "header_padded").contains("non-canonical"));
}

#[test]
fn standard_base64_reported() {
    let header = encode(&json!({"alg": "RS256"}));
    let signature = STANDARD.encode([0xfb_u8, 0xff, 0xfe]);
    assert!(signature.contains('+') || signature.contains('/'));
    let inspection = inspect(&format!("{header}.e30.{signature}"));
    assert!(codes(&inspection).contains(&"signature_standard_base64"));
    assert!(
        message(&inspection, "mesh_rejects_format")
            .contains("`Jwt signature is an invalid Base64url encoded`")
    );
}

#[test]
fn alg_none_unsigned() {
    let inspection = inspect(&format!("{}.e30.", encode(&json!({"alg": "none"}))));
    let found = codes(&inspection);
    assert!(found.contains(&"alg_none"), "{found:?}");
    assert!(found.contains(&"empty_signature"), "{found:?}");
}

#[test]
fn jwe_header_only() {
    let header = encode(&json!({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "enc-1"}));
    let inspection = inspect(&format!("Bearer {header}.ZW5ja2V5.aXY.Y2lwaGVy.dGFn"));
    assert_eq!(inspection.kind, TokenKind::Jwe);
    assert_eq!(
        inspection.header.as_ref().and_then(|h| h.get("enc")),
        Some(&json!("A256GCM"))
    );
    assert_eq!(inspection.claims, None);
    let found = codes(&inspection);
    assert!(found.contains(&"jwe_not_accepted_by_istio"), "{found:?}");
    assert!(found.contains(&"jwe_claims_encrypted"), "{found:?}");
    assert!(message(&inspection, "mesh_rejects_format").contains(BAD_FORMAT));
}

#[test]
fn times_rfc3339_and_relative() {
    let t = mint(
        &json!({"alg": "RS256"}),
        &json!({"exp": NOW + 3 * 86_400, "nbf": NOW - 10, "iat": NOW - 10}),
    );
    let inspection = inspect(&t);
    let exp = &inspection.times[0];
    assert_eq!(exp.claim, "exp");
    assert_eq!(exp.time, "2025-03-07T11:02:10Z");
    assert_eq!(exp.relative_seconds, 3 * 86_400);
    assert_eq!(inspection.times[1].relative_seconds, -10);
    assert_eq!(inspection.problems, []);
}

#[test]
fn fractional_numeric_date() {
    let t = mint(&json!({"alg": "RS256"}), &json!({"exp": 1_741_089_730.5}));
    let inspection = inspect(&t);
    assert_eq!(inspection.times[0].time, "2025-03-04T12:02:10.500Z");
    assert_eq!(inspection.times[0].relative_seconds, 3_600);
    assert_eq!(inspection.problems, []);
}

#[test]
fn time_problems() {
    let cases = [
        (
            json!({"exp": NOW - 30}),
            "expired",
            "expired 30 s ago, still accepted by the mesh for 30 s because Envoy's jwt_authn \
             allows 1 min of clock skew",
        ),
        (
            json!({"exp": NOW - 7_200}),
            "expired",
            "expired 2 h ago; the mesh returns 401 `Jwt is expired` (Envoy's jwt_authn allows \
             only 1 min of clock skew); get a fresh token",
        ),
        (
            json!({"exp": NOW + 600, "nbf": NOW + 30}),
            "not_yet_valid",
            "not valid yet: `nbf` makes it valid in 30 s, but the mesh already accepts it \
             because Envoy's jwt_authn allows 1 min of clock skew",
        ),
        (
            json!({"exp": NOW + 7_200, "nbf": NOW + 3_600}),
            "not_yet_valid",
            "not valid yet: `nbf` makes it valid in 1 h, and the mesh returns 401 `Jwt not yet \
             valid` for another 59 min; check the clocks of the issuer and the mesh",
        ),
        (
            json!({"exp": "1741089730"}),
            "invalid_numeric_date",
            "`exp` is the string \"1741089730\", not a NumericDate (a number of seconds since \
             1970-01-01 UTC); Envoy's jwt_authn returns 401 `Jwt payload [exp] field is not an \
             integer`",
        ),
        (
            json!({"sub": "alice"}),
            "no_expiry",
            "the token has no `exp` claim, so it does not expire; Envoy accepts it for as long \
             as its key is trusted",
        ),
    ];
    for (claims, code, expected) in cases {
        let inspection = inspect(&mint(&json!({"alg": "RS256"}), &claims));
        assert_eq!(message(&inspection, code), expected, "claims {claims}");
    }
}

#[test]
fn invalid_exp_not_no_expiry() {
    let inspection = inspect(&mint(&json!({"alg": "RS256"}), &json!({"exp": null})));
    let found = codes(&inspection);
    assert!(found.contains(&"invalid_numeric_date"), "{found:?}");
    assert!(!found.contains(&"no_expiry"), "{found:?}");
}

#[test]
fn problems_worst_first() {
    let inspection = inspect(&format!(
        "bearer {}",
        mint(&json!({"alg": "RS256"}), &json!({"iat": NOW + 7_200}))
    ));
    let severities: Vec<_> = inspection.problems.iter().map(|p| p.severity).collect();
    let mut sorted = severities.clone();
    sorted.sort();
    assert_eq!(severities, sorted);
}

#[test]
fn fingerprint_shape() {
    let print = token::fingerprint(&sample());
    assert!(print.starts_with("sha256:"), "{print}");
    assert_eq!(print.len(), "sha256:".len() + 16);
    assert_ne!(print, token::fingerprint("other"));
}

#[test]
fn encoded_len_counts_token() {
    let t = sample();
    assert_eq!(inspect(&format!("Bearer {t}\n")).encoded_len, t.len());
}

#[test]
fn debug_hides_token() {
    let t = sample();
    let debug = format!("{:?}", inspect(&t));
    let signature = t.rsplit('.').next().expect("signature");
    assert!(!debug.contains(signature), "{debug}");
}

#[test]
fn huge_inputs_no_panic() {
    let megabyte = 1 << 20;
    let t = sample();
    let inputs = [
        "a".repeat(megabyte),
        "a b ".repeat(megabyte / 4),
        ".".repeat(megabyte),
        format!("Bearer {t}{}", "x".repeat(megabyte)),
        format!(
            "curl -H 'Authorization: Bearer {}'",
            "eyJ.".repeat(megabyte / 4)
        ),
        "\"".repeat(megabyte),
    ];
    for input in inputs {
        // Either outcome is fine; the call must return.
        let outcome = token::inspect(&input, now());
        if let Err(error) = outcome {
            assert!(error.to_string().len() < 1_000, "error holds the input");
        }
    }
}

fn read_sample(name: &str) -> Option<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/istio-jwt-samples")
        .join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(error) => {
            println!(
                "skipped: Istio sample {} unreadable ({error})",
                path.display()
            );
            None
        }
    }
}

#[test]
fn istio_demo_tokens() {
    // Both tokens name the same issuer and subject; their `exp` differ.
    for name in ["demo.jwt", "groups-scope.jwt"] {
        let Some(text) = read_sample(name) else {
            continue;
        };
        let inspection = inspect(&text);
        let claims = inspection.claims.expect("claims decode");
        assert_eq!(claims["iss"], "testing@secure.istio.io", "{name}");
        assert_eq!(claims["sub"], "testing@secure.istio.io", "{name}");
        assert_eq!(inspection.problems, [], "{name}");
    }
}

#[test]
fn istio_demo_expiry() {
    let Some(text) = read_sample("demo.jwt") else {
        return;
    };
    let inspection = inspect(&text);
    let claims = inspection.claims.expect("claims decode");
    assert_eq!(claims["exp"], 4_685_989_700_i64);
    assert_eq!(inspection.times[0].time, "2118-06-29T23:48:20Z");
}

#[test]
fn istio_groups_scope_claims() {
    let Some(text) = read_sample("groups-scope.jwt") else {
        return;
    };
    let claims = inspect(&text).claims.expect("claims decode");
    assert!(claims["groups"].is_array(), "{claims}");
    assert!(claims["scope"].is_array(), "{claims}");
}

#[test]
fn expiry_severity_by_skew() {
    let cases = [
        (NOW - 30, token::Severity::Warning),
        (NOW - 61, token::Severity::Error),
    ];
    for (exp, severity) in cases {
        let inspection = inspect(&mint(&json!({"alg": "RS256"}), &json!({"exp": exp})));
        let expired = inspection.problems.iter().find(|p| p.code == "expired");
        assert_eq!(expired.map(|p| p.severity), Some(severity), "exp {exp}");
    }
}

/// The first word decides between a curl command, a scheme and a token: `curl` only as a whole
/// word, a scheme in any case, and nothing from a word longer than every scheme.
#[test]
fn finding_first_words() {
    let t = sample();
    let (head, tail) = t.split_at(20);
    let cases = [
        (format!("curl{t}"), "bare token", None),
        (
            format!("curl\t-H 'Authorization: Bearer {t}'"),
            "curl command, Authorization header, Bearer scheme",
            None,
        ),
        (format!("bEaReR {t}"), "bEaReR scheme", None),
        // The word before the token is no scheme, and the token after it decodes cleanly.
        (
            format!("abcdefghij {t}"),
            "bare token",
            Some("leading_text"),
        ),
        (
            format!("negotiatex {t}"),
            "bare token",
            Some("leading_text"),
        ),
        // A vertical tab is whitespace to `char::is_whitespace`, inside a token as anywhere.
        (
            format!("{head}\u{b}{tail}"),
            "bare token",
            Some("internal_whitespace"),
        ),
    ];
    for (text, found_as, code) in cases {
        let inspection = inspect(&text);
        assert_eq!(inspection.found_as, found_as, "{text:?}");
        for spacing in ["internal_whitespace", "leading_text"] {
            assert_eq!(
                codes(&inspection).contains(&spacing),
                code == Some(spacing),
                "{text:?}: {:?}",
                codes(&inspection)
            );
        }
    }
    assert!(error_text("jwt").contains("nothing follows the scheme"));
    assert!(error_text("NEGOTIATE abc").contains("carries credentials"));
}

#[test]
fn access_token_query_parameter() {
    let token = sample();
    for (input, found_as) in [
        (
            format!("curl 'https://api.test/o?x=1&access_token={token}'"),
            "curl command, access_token query parameter",
        ),
        (
            format!("https://api.test/o?access_token={token}#top"),
            "URL, access_token query parameter",
        ),
    ] {
        let inspection = inspect(&input);
        assert_eq!(inspection.found_as, found_as, "{input}");
        assert_eq!(inspection.fingerprint, token::fingerprint(&token));
        assert!(codes(&inspection).is_empty(), "{:?}", codes(&inspection));
    }
    assert!(error_text("https://api.test/o?x=1").contains(
        "the URL has no `access_token` query parameter, the one Envoy's jwt_authn reads by default"
    ));
}

#[test]
fn curl_repeated_authorization() {
    let header = format!("-H 'Authorization: Bearer {}'", sample());
    let inspection = inspect(&format!("curl {header} {header} https://api.test/"));
    assert_eq!(
        message(&inspection, "repeated_header"),
        format!(
            "the curl command sends 2 Authorization headers; Envoy joins them into one value \
             separated by `,`, reads it as one token and returns 401 `{BAD_FORMAT}`. Send one \
             Authorization header"
        )
    );
    assert!(inspection.is_invalid());
}
