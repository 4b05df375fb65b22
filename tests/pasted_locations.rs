//! Tokens pasted where a request or response carries them: a block of header lines, a
//! `Set-Cookie` line, a header whose `fromHeaders` entry sets a prefix, and a URL with the token in
//! a query parameter. Where a mesh verdict is involved, a real Envoy runs with the filters
//! `idflow envoy-config` prints for the same policies, and its verdict is the expected one.

mod envoy_harness;
#[path = "what_if/mint.rs"]
mod mint;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use envoy_harness::idflow;
use envoy_harness::require_jwt::{self, Request};
use serde_json::{Value, json};
use support::tmux::{replay_token_view, what_if_row};
use support::{decode_output, problem_codes, problem_message};

/// The gateway's principal, which calls shop/orders in the demo's recorded flows.
const GATEWAY_PRINCIPAL: &str =
    "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account";

/// Returns an RS256 token of [`mint::ISSUER`] for `alice`, valid for an hour.
fn token() -> String {
    let now = chrono::Utc::now().timestamp();
    mint::mint(
        mint::key(),
        &mint::claims(mint::ISSUER, "orders", now, 3600),
    )
}

/// Returns a policy file whose RequestAuthentication reads the token at `locations` and whose
/// AuthorizationPolicy requires a request principal, both on shop/orders.
fn policies_at(locations: &Value, label: &str) -> PathBuf {
    require_jwt::policy_file_at(mint::ISSUER, &mint::jwks(), locations, label)
}

/// Sends one GET of `path` with `headers` through Envoy set up for `policies` and returns
/// `STATUS DETAILS`.
fn envoy_verdict(policies: &Path, path: &str, headers: &[(&str, &str)], label: &str) -> String {
    let headers = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    let request: Request = (path.to_owned(), headers);
    require_jwt::verdicts(policies, &[request], label).remove(0)
}

/// Runs `idflow decode -o json` on `input` with the keys and token locations of shop/orders in
/// `policies`.
fn decode_for_orders(input: &str, policies: &Path) -> (i32, Value, String) {
    let policy_arg = policies.to_string_lossy();
    decode_output(
        input,
        &["--policies", &policy_arg, "--workload", "shop/orders"],
    )
}

#[test]
fn header_block_with_crlf() {
    let token = token();
    let bearer = format!("Bearer {token}");
    let policies = require_jwt::policy_file(mint::ISSUER, &mint::jwks(), "pasted-block-crlf");
    let envoy = envoy_verdict(
        &policies,
        "/",
        &[("host", "orders.example.test"), ("authorization", &bearer)],
        "pasted-block-crlf",
    );
    assert_eq!(envoy, "200 via_upstream", "Envoy's verdict");

    let block = format!("Host: orders.example.test\r\nAuthorization: {bearer}\r\nAccept: */*\r\n");
    let (code, json, stderr) = decode_for_orders(&block, &policies);
    assert_eq!(json["header_name"], "authorization", "{json} {stderr}");
    assert_eq!(json["signature"]["status"], "verified", "{json}");
    assert_eq!(problem_codes(&json), Vec::<String>::new(), "{json}");
    assert_eq!(code, 0, "Envoy accepts these headers: {json}");
}

#[test]
fn header_block_with_cookie_line() {
    let token = token();
    let cookie = format!("theme=dark; session={token}");
    let policies = policies_at(&json!({"fromCookies": ["session"]}), "pasted-block-cookie");
    let envoy = envoy_verdict(
        &policies,
        "/",
        &[("cookie", &cookie)],
        "pasted-block-cookie",
    );
    assert_eq!(envoy, "200 via_upstream", "Envoy's verdict");

    let block = format!("Host: orders.example.test\nCookie: {cookie}\nAccept: */*\n");
    let (code, json, stderr) = decode_for_orders(&block, &policies);
    assert_eq!(json["header_name"], "cookie", "{json} {stderr}");
    assert_eq!(json["signature"]["status"], "verified", "{json}");
    let found_as = json["found_as"].as_str().unwrap_or_default();
    assert!(found_as.contains("cookie session"), "{found_as}");
    let codes = problem_codes(&json);
    assert!(
        !codes.contains(&"not_default_location".to_owned()),
        "the policies read this cookie: {codes:?}"
    );
    assert_eq!(code, 0, "Envoy accepts these headers: {json}");

    // Without policies, the default locations apply and the mesh does not read the cookie.
    let (_, json, _) = decode_output(&block, &[]);
    assert_eq!(json["claims"]["sub"], "alice", "{json}");
    let codes = problem_codes(&json);
    assert!(
        codes.contains(&"not_default_location".to_owned()),
        "{codes:?}"
    );
}

#[test]
fn header_block_duplicate_authorization() {
    let first = token();
    let second = token();
    let policies = require_jwt::policy_file(mint::ISSUER, &mint::jwks(), "pasted-block-repeated");
    let bearer_first = format!("Bearer {first}");
    let bearer_second = format!("Bearer {second}");
    let envoy = envoy_verdict(
        &policies,
        "/",
        &[
            ("authorization", &bearer_first),
            ("authorization", &bearer_second),
        ],
        "pasted-block-repeated",
    );
    let details = envoy
        .strip_prefix("401 jwt_authn_access_denied{")
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or_else(|| panic!("Envoy's verdict: {envoy}"));
    let status = details.replace('_', " ");

    let block = format!("Authorization: {bearer_first}\nAuthorization: {bearer_second}\n");
    let (code, json, stderr) = decode_output(&block, &[]);
    let message = problem_message(&json, "repeated_header");
    assert!(
        message.contains(&status),
        "decode names Envoy's status {status:?}: {message} {stderr}"
    );
    assert_eq!(code, 1, "the mesh rejects the request: {json}");
}

#[test]
fn set_cookie_max_age_quoted() {
    let token = token();
    let policies = policies_at(&json!({"fromCookies": ["session"]}), "pasted-set-cookie");
    // A browser sends the cookie back with its value as the server set it, quotes included.
    let cookie = format!("session=\"{token}\"");
    let envoy = envoy_verdict(&policies, "/", &[("cookie", &cookie)], "pasted-set-cookie");
    assert_eq!(
        envoy, "200 via_upstream",
        "Envoy reads the value inside the quotes"
    );
    let verdict = idflow::check(&[
        "-f".to_owned(),
        policies.display().to_string(),
        "--workload".to_owned(),
        "shop/orders".to_owned(),
        "-H".to_owned(),
        format!("cookie: {cookie}"),
    ])
    .unwrap_or_else(|error| panic!("idflow check failed: {error}"));
    assert_eq!(
        format!("{} {}", verdict.status, verdict.response_code_details),
        envoy,
        "check and Envoy on a quoted cookie value"
    );

    let line = format!("Set-Cookie: session=\"{token}\"; Max-Age=3600; Path=/; Secure");
    let (_, json, stderr) = decode_output(&line, &[]);
    assert_eq!(json["kind"], "jws", "{json} {stderr}");
    assert_eq!(json["claims"]["sub"], "alice", "{json}");
    let codes = problem_codes(&json);
    assert!(!codes.contains(&"quoted_token".to_owned()), "{codes:?}");
    assert!(!codes.contains(&"trailing_text".to_owned()), "{codes:?}");
    let note = problem_message(&json, "set_cookie");
    assert!(note.contains("`session`"), "names the cookie: {note}");
    assert!(
        note.contains("Cookie: session="),
        "names what the request carries: {note}"
    );
    let location = problem_message(&json, "not_default_location");
    assert!(location.contains("fromCookies"), "{location}");
}

#[test]
fn prefix_without_trailing_space() {
    let token = token();
    let locations = json!({"fromHeaders": [{"name": "x-jwt", "prefix": "Tok"}]});
    let policies = policies_at(&locations, "pasted-prefix-no-space");
    for value in [format!("Tok{token}"), format!("Tok {token}")] {
        let envoy = envoy_verdict(
            &policies,
            "/",
            &[("x-jwt", &value)],
            "pasted-prefix-no-space",
        );
        assert_eq!(envoy, "200 via_upstream", "Envoy's verdict on {value:.8}…");

        let (code, json, stderr) = decode_for_orders(&format!("x-jwt: {value}"), &policies);
        assert_eq!(json["signature"]["status"], "verified", "{json} {stderr}");
        assert_eq!(json["header_name"], "x-jwt", "{json}");
        let codes = problem_codes(&json);
        assert!(!codes.contains(&"leading_text".to_owned()), "{codes:?}");
        assert_eq!(code, 0, "Envoy accepts this header: {json}");
    }
}

#[test]
fn prefix_in_middle_of_value() {
    let token = token();
    let locations = json!({"fromHeaders": [{"name": "x-jwt", "prefix": "Tok "}]});
    let policies = policies_at(&locations, "pasted-prefix-middle");
    let value = format!("v=1, Tok {token}");
    let envoy = envoy_verdict(&policies, "/", &[("x-jwt", &value)], "pasted-prefix-middle");
    assert_eq!(envoy, "200 via_upstream", "Envoy's verdict");

    let curl = format!("curl -H 'x-jwt: {value}' https://orders.example.test/");
    let (code, json, stderr) = decode_for_orders(&curl, &policies);
    assert_eq!(json["signature"]["status"], "verified", "{json} {stderr}");
    let found_as = json["found_as"].as_str().unwrap_or_default();
    assert!(
        found_as.starts_with("curl command, x-jwt header"),
        "{found_as}"
    );
    let codes = problem_codes(&json);
    assert!(
        codes.contains(&"text_before_prefix".to_owned()),
        "{codes:?}"
    );
    assert_eq!(code, 0, "Envoy accepts this header: {json}");
}

#[test]
fn what_if_query_parameter_paste() {
    let token = token();
    let policies = policies_at(
        &json!({"fromParams": ["access_token"]}),
        "pasted-what-if-query",
    );
    let path = format!("/y?access_token={token}");
    let envoy = envoy_verdict(&policies, &path, &[], "pasted-what-if-query");
    assert_eq!(envoy, "200 via_upstream", "Envoy's verdict");
    let verdict = idflow::check(&[
        "-f".to_owned(),
        policies.display().to_string(),
        "--workload".to_owned(),
        "shop/orders".to_owned(),
        "--path".to_owned(),
        path,
        "--source-principal".to_owned(),
        GATEWAY_PRINCIPAL.to_owned(),
    ])
    .unwrap_or_else(|error| panic!("idflow check failed: {error}"));
    assert_eq!(verdict.status, 200, "check's verdict: {verdict:?}");

    let url = format!("https://orders.example.test/x?access_token={token}");
    let session = replay_token_view("pasted-what-if-query", &policies, &url);
    // A new what-if path without the parameter: the rows still send the token in it.
    session.send(&["e", "C-u"]);
    session.paste("GET /y");
    session.send(&["Enter"]);
    let (edited, screen) = session.wait_for(&["What-if", " /y"], Duration::from_secs(5));
    assert!(edited, "the what-if request was not edited:\n{screen}");
    let row = what_if_row(&screen, "shop/orders");
    assert!(
        row.contains("?access_token"),
        "what-if row: {row}\n{screen}"
    );
    assert!(row.contains("allow 200"), "what-if row: {row}\n{screen}");
}
