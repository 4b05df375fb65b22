//! `idflow decode` on curl commands and URLs that carry tokens in more than one place. With
//! Istio's default locations Envoy's jwt_authn reads the `Authorization` header after `Bearer `
//! and the `access_token` query parameter, and verifies every token it reads. decode builds the
//! request curl sends (`-H`, `-b`, `-G` with data, `--url-query`), decodes the first token Envoy
//! reads and reports the others.
//!
//! The Envoy verdicts come from a real Envoy (`ENVOY` or scripts/test.sh) configured with the
//! filters `idflow envoy-config` prints for a RequestAuthentication of [`mint::ISSUER`] and an
//! AuthorizationPolicy that requires a request principal.

mod envoy_harness;
#[path = "what_if/mint.rs"]
mod mint;
mod support;

use envoy_harness::require_jwt;
use serde_json::{Value, json};
use support::run_decode;

/// Returns an RS256 token of [`mint::ISSUER`] for subject `subject`, valid from `from` seconds
/// after now for `lifetime` seconds.
fn token_for(subject: &str, from: i64, lifetime: i64) -> String {
    let now = chrono::Utc::now().timestamp() + from;
    let mut claims = mint::claims(mint::ISSUER, "orders", now, lifetime);
    claims["sub"] = json!(subject);
    mint::mint(mint::key(), &claims)
}

/// Returns a valid token for `alice`.
fn token() -> String {
    token_for("alice", 0, 3600)
}

/// Returns a token that expired an hour ago, past Envoy's 60 s clock skew.
fn expired_token() -> String {
    token_for("alice", -7200, 3600)
}

/// Sends a GET of each `(path, headers)` through Envoy with the policies of
/// [`require_jwt::policy_file`] for [`mint::ISSUER`] and returns `STATUS DETAILS` for each.
fn envoy_verdicts(requests: &[(String, Vec<(String, String)>)]) -> Vec<String> {
    let policies = require_jwt::policy_file(mint::ISSUER, &mint::jwks(), "request-locations");
    require_jwt::verdicts(&policies, requests, "request-locations")
}

fn header(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

fn bearer(token: &str) -> (String, String) {
    header("Authorization", &format!("Bearer {token}"))
}

/// Runs `idflow decode -o json` on `input` and returns the exit status, the JSON output (`null`
/// when there is none) and standard error.
fn decode(input: &str) -> (i32, Value, String) {
    support::decode_output(input, &[])
}

/// Returns the message of the problem with `code`, or an empty string.
fn message(json: &Value, code: &str) -> String {
    support::problem_message(json, code)
}

/// Returns whether decode listed a problem with `code`.
fn has_code(json: &Value, code: &str) -> bool {
    support::problem_codes(json)
        .iter()
        .any(|listed| listed == code)
}

/// Envoy verifies the header token and the query token: two valid tokens pass, and an expired or
/// garbled token in either place fails the whole request with 401. When both fail, the status is
/// the query token's, because Envoy verifies it first. Without a valid `Bearer ` prefix the
/// header yields no token and the query token decides.
#[test]
fn envoy_reads_header_and_query() {
    let token = token();
    let other = token_for("bob", 0, 3600);
    let expired = expired_token();
    let now = chrono::Utc::now().timestamp();
    let foreign = mint::mint(
        mint::key(),
        &mint::claims("https://other.test", "orders", now, 3600),
    );
    let foreign_expired = mint::mint(
        mint::key(),
        &mint::claims("https://other.test", "orders", now - 7200, 3600),
    );
    let requests = [
        (format!("/?access_token={other}"), vec![bearer(&token)]),
        (format!("/?access_token={token}"), vec![bearer(&token)]),
        (format!("/?access_token={expired}"), vec![bearer(&token)]),
        (format!("/?access_token={token}"), vec![bearer(&expired)]),
        (format!("/?access_token=x{token}"), vec![]),
        (
            format!("/?access_token={token}"),
            vec![header("Authorization", &format!("bearer {expired}"))],
        ),
        (format!("/?a=1&access_token={token}&b=2"), vec![]),
        (format!("/?a=1&access_token=x&access_token={token}"), vec![]),
        (
            "/".to_owned(),
            vec![header("Cookie", &format!("jwt={token}"))],
        ),
        (format!("/?access_token=x{token}"), vec![bearer(&expired)]),
        (
            format!("/?access_token={expired}"),
            vec![bearer(&format!("x{token}"))],
        ),
        (format!("/?access_token={foreign}"), vec![bearer(&token)]),
        (
            format!("/?access_token={foreign_expired}"),
            vec![bearer(&token)],
        ),
    ];
    let verdicts = envoy_verdicts(&requests);

    assert_eq!(verdicts[0], "200 via_upstream", "two valid tokens");
    assert_eq!(verdicts[1], "200 via_upstream", "one token in both places");
    assert_eq!(
        verdicts[2], "401 jwt_authn_access_denied{Jwt_is_expired}",
        "valid header token, expired query token"
    );
    assert_eq!(
        verdicts[3], "401 jwt_authn_access_denied{Jwt_is_expired}",
        "expired header token, valid query token"
    );
    assert_eq!(
        verdicts[4], "401 jwt_authn_access_denied{Jwt_header_is_an_invalid_Base64url_encoded}",
        "garbled query token, no header"
    );
    assert_eq!(
        verdicts[5], "200 via_upstream",
        "lower-case `bearer` header, valid query token"
    );
    assert_eq!(verdicts[6], "200 via_upstream", "query token between pairs");
    assert_eq!(
        verdicts[7],
        "401 jwt_authn_access_denied{Jwt_is_not_in_the_form_of_Header.Payload.Signature_with_two_dots_and_3_sections}",
        "the first of two `access_token` parameters"
    );
    assert_eq!(
        verdicts[8], "403 rbac_access_denied_matched_policy[none]",
        "a cookie only: not read by default"
    );
    assert_eq!(
        verdicts[9], "401 jwt_authn_access_denied{Jwt_header_is_an_invalid_Base64url_encoded}",
        "expired header token, garbled query token: the query token's status"
    );
    assert_eq!(
        verdicts[10], "401 jwt_authn_access_denied{Jwt_is_expired}",
        "garbled header token, expired query token: the query token's status"
    );
    assert_eq!(
        verdicts[11], "401 jwt_authn_access_denied{Jwt_issuer_is_not_configured}",
        "valid header token, query token of another issuer"
    );
    assert_eq!(
        verdicts[12], "401 jwt_authn_access_denied{Jwt_issuer_is_not_configured}",
        "valid header token, expired query token of another issuer"
    );
}

/// Two valid tokens: decode reads the header token, exits 0 and warns that Envoy verifies the
/// query token too, naming the issuer when it differs (Envoy returned 401 `Jwt issuer is not
/// configured` for it). The same token in both places is a note.
#[test]
fn decode_two_good_tokens() {
    let token = token();
    let other = token_for("bob", 0, 3600);
    let input = format!(
        "curl -H 'Authorization: Bearer {token}' 'https://orders.test/?access_token={other}'"
    );
    let (code, json, stderr) = decode(&input);

    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        json["found_as"], "curl command, Authorization header, Bearer scheme",
        "{json}"
    );
    assert_eq!(json["claims"]["sub"], "alice", "{json}");
    let warning = message(&json, "other_token");
    assert!(
        warning.contains("the `access_token` query parameter"),
        "{warning}"
    );

    let now = chrono::Utc::now().timestamp();
    let foreign = mint::mint(
        mint::key(),
        &mint::claims("https://other.test", "orders", now, 3600),
    );
    let input = format!(
        "curl -H 'Authorization: Bearer {token}' 'https://orders.test/?access_token={foreign}'"
    );
    let (code, json, stderr) = decode(&input);
    assert_eq!(code, 0, "{stderr}");
    let warning = message(&json, "other_token");
    assert!(
        warning.contains(r#"another issuer, "https://other.test""#),
        "{warning}"
    );
    assert!(
        warning.contains("Jwt issuer is not configured"),
        "{warning}"
    );

    let same = format!(
        "curl -H 'Authorization: Bearer {token}' 'https://orders.test/?access_token={token}'"
    );
    let (code, json, stderr) = decode(&same);
    assert_eq!(code, 0, "{stderr}");
    assert!(has_code(&json, "token_read_twice"), "{json}");
}

/// A valid header token beside an expired query token (or the reverse): Envoy returns 401
/// `Jwt is expired`, and decode exits 1 naming the place of the expired token.
#[test]
fn decode_other_token_expired() {
    let token = token();
    let expired = expired_token();
    let input = format!(
        "curl -H 'Authorization: Bearer {token}' 'https://orders.test/?access_token={expired}'"
    );
    let (code, json, stderr) = decode(&input);

    assert_eq!(code, 1, "{stderr}");
    let rejected = message(&json, "other_token_rejected");
    assert!(rejected.contains("`Jwt is expired`"), "{rejected}");
    assert!(
        rejected.contains("the `access_token` query parameter"),
        "{rejected}"
    );

    let reverse = format!(
        "curl -H 'Authorization: Bearer {expired}' 'https://orders.test/?access_token={token}'"
    );
    let (code, json, stderr) = decode(&reverse);
    assert_eq!(code, 1, "{stderr}");
    assert!(has_code(&json, "expired"), "{json}");
    assert!(has_code(&json, "other_token"), "{json}");
}

/// A URL whose only token, in the query, is garbled: Envoy returns 401 for its header segment,
/// and decode exits 1 with that status.
#[test]
fn decode_url_bad_query_token() {
    let input = format!("https://orders.test/?access_token=x{}", token());
    let (code, json, stderr) = decode(&input);

    assert_eq!(code, 1, "{stderr}");
    assert_eq!(json["found_as"], "URL, access_token query parameter");
    let rejected = message(&json, "mesh_rejects_format");
    assert!(
        rejected.contains("Jwt header is an invalid Base64url encoded"),
        "{rejected}"
    );
}

/// A lower-case `bearer` header yields no token for Envoy, so decode reads the query token
/// (Envoy returned 200) and notes why the header was not read.
#[test]
fn decode_lowercase_header_beside_query() {
    let input = format!(
        "curl -H 'Authorization: bearer {}' 'https://orders.test/?access_token={}'",
        expired_token(),
        token()
    );
    let (code, json, stderr) = decode(&input);

    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        json["found_as"], "curl command, access_token query parameter",
        "{json}"
    );
    assert!(has_code(&json, "authorization_not_read"), "{json}");
}

/// `-G` joins the data of several `-d` options with `&` into the query, so the first
/// `access_token` pair, wherever it is, is the token Envoy reads: a `x` before the token fails
/// Envoy's format check with 401.
#[test]
fn decode_get_several_data() {
    let token = token();
    let joined = format!("curl -G -d a=1 -d access_token={token} -d b=2 https://orders.test/");
    let (code, json, stderr) = decode(&joined);

    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        json["found_as"], "curl command, access_token query parameter",
        "{json}"
    );

    let first_garbled =
        format!("curl -G -d 'a=1&access_token=x' -d access_token={token} https://orders.test/");
    let (code, json, stderr) = decode(&first_garbled);
    assert_eq!(code, 1, "{stderr}");
    let rejected = message(&json, "mesh_rejects_format");
    assert!(
        rejected.contains("Jwt is not in the form of Header.Payload.Signature"),
        "{rejected}"
    );
}

/// `--url-query` adds to the query without `-G`, and data without `-G` goes in the body, where
/// decode finds no token and explains why.
#[test]
fn decode_url_query_and_body() {
    let token = token();
    let (code, json, stderr) = decode(&format!(
        "curl --url-query access_token={token} https://orders.test/"
    ));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        json["found_as"],
        "curl command, access_token query parameter"
    );

    let (code, _, stderr) = decode(&format!(
        "curl -d access_token={token} https://orders.test/"
    ));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("request body"), "{stderr}");
}

/// `-b NAME` without `=` names a cookie file: decode does not open it and reports that, with a token
/// elsewhere and without one.
#[test]
fn decode_cookie_file_argument() {
    let token = token();
    let with_token = format!(
        "curl -b saved-cookies.txt -H 'Authorization: Bearer {token}' https://orders.test/"
    );
    let (code, json, stderr) = decode(&with_token);

    assert_eq!(code, 0, "{stderr}");
    let note = message(&json, "file_not_read");
    assert!(note.contains(r#"-b "saved-cookies.txt""#), "{note}");

    let (code, _, stderr) = decode("curl -b saved-cookies.txt https://orders.test/");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(r#"-b "saved-cookies.txt""#), "{stderr}");
}

/// `-b` cookies are read as the `Cookie` header curl sends, joined with any `-H 'Cookie: …'`.
#[test]
fn decode_cookie_option_location() {
    let token = token();
    let (code, json, stderr) = decode(&format!(
        "curl -H 'Cookie: a=1' -b 'jwt={token}' https://orders.test/"
    ));

    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        json["found_as"], "curl command, Cookie header, cookie jwt",
        "{json}"
    );
    assert!(has_code(&json, "not_default_location"), "{json}");
}

/// No message, in the JSON or on standard error, repeats a token or its signature.
#[test]
fn decode_messages_hide_tokens() {
    let token = token();
    let other = token_for("bob", 0, 3600);
    let expired = expired_token();
    let inputs = [
        format!(
            "curl -H 'Authorization: Bearer {token}' 'https://orders.test/?access_token={other}'"
        ),
        format!(
            "curl -H 'Authorization: Bearer {token}' 'https://orders.test/?access_token={expired}'"
        ),
        format!(
            "curl -H 'Authorization: Bearer {token}' 'https://orders.test/?access_token=x{other}'"
        ),
        format!("curl -G -d access_token=x{token} https://orders.test/"),
        format!("curl -d access_token={token} https://orders.test/"),
        format!("curl -b 'jwt={token}' -b jar https://orders.test/"),
    ];
    for input in inputs {
        let output = run_decode(&input, &[]);
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        for secret in [&token, &other, &expired] {
            let signature = secret.rsplit('.').next().expect("a signature segment");

            assert!(!printed.contains(signature), "{input:.40}: {printed}");
        }
    }
}

/// Runs `idflow decode -o json` on `input` with an edge profile whose `[token]` table is `token`,
/// and returns the JSON `edge` object.
fn edge_for(input: &str, token: &str) -> Value {
    let folder = std::env::temp_dir().join(format!("idflow-edge-query-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temporary folder");
    let profile = folder.join(format!("edge-{}.toml", token.len()));
    std::fs::write(
        &profile,
        format!("name = \"query\"\n\n[token]\n{token}\nmissing = \"deny\"\n"),
    )
    .expect("profile written");
    let output = run_decode(input, &["--edge-profile", &profile.to_string_lossy()]);
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    json["edge"].clone()
}

/// The edge reads the request a curl command or URL sends: a token in the `access_token` query
/// parameter is missing for a profile that reads the `Authorization` header, and found by one
/// that reads that parameter.
#[test]
fn edge_reads_query_token() {
    let token = token();
    for input in [
        format!("curl 'https://orders.test/?access_token={token}'"),
        format!("https://orders.test/?access_token={token}"),
    ] {
        let header = edge_for(&input, "header = \"Authorization\"\nscheme = \"Bearer \"");
        let query = edge_for(&input, "query = \"access_token\"");

        assert_eq!(header["verdict"], "deny", "{header}");
        let reason = header["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("query parameter `access_token`"),
            "{reason}"
        );
        assert_eq!(query["verdict"], "allow", "{query}");
    }
}
