//! `idflow decode` and the Token view on pasted HTTPie commands, `curl -i` token responses and
//! requests without a token under `--edge-profile`, checked against what HTTPie 3.2 and curl send
//! (`http --offline` and curl's `--path-as-is` documentation) and what a real Envoy decides. Envoy
//! runs with the filters `idflow envoy-config` prints for a RequestAuthentication of
//! [`mint::ISSUER`] with no locations and an AuthorizationPolicy that requires a request principal.
//!
//! A test marked `#[ignore = "finding: …"]` states the expected behaviour, which idflow does not
//! have yet.

mod envoy_harness;
#[path = "what_if/mint.rs"]
mod mint;
mod support;

use std::process::Command;
use std::time::Duration;

use envoy_harness::require_jwt::{self, Request};
use serde_json::{Value, json};
use support::tmux::TmuxSession;
use support::{decode_output, problem_codes, public_path_profile};

/// Returns an RS256 token of [`mint::ISSUER`] for `alice`, valid from now for an hour.
fn token() -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = mint::claims(mint::ISSUER, "orders", now, 3600);
    claims["sub"] = json!("alice");
    mint::mint(mint::key(), &claims)
}

/// Sends one GET request through Envoy and returns `STATUS DETAILS`.
fn envoy_verdict(target: &str, headers: &[(&str, &str)]) -> String {
    let policies = require_jwt::policy_file(mint::ISSUER, &mint::jwks(), "tester-new");
    let headers = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    let request: Request = (target.to_owned(), headers);
    require_jwt::verdicts(&policies, &[request], "tester-new").remove(0)
}

/// Runs decode with [`public_path_profile`] and returns the exit status and the JSON output.
fn decode_with_edge(input: &str) -> (i32, Value, String) {
    let profile = public_path_profile("tester-new-edge");
    decode_output(input, &["--edge-profile", &profile.to_string_lossy()])
}

/// Starts `idflow demo` in tmux, opens the Token view, pastes `input` and returns the screen once
/// the what-if line shows.
fn token_view_screen(label: &str, input: &str) -> String {
    let binary = env!("CARGO_BIN_EXE_idflow");
    let session = TmuxSession::start(label, &format!("{binary} demo"), 160, 50);
    let (ready, screen) = session.wait_for(&["flows"], Duration::from_secs(10));
    assert!(ready, "the demo did not start:\n{screen}");

    session.send(&["t"]);
    session.paste(input);
    let (shown, screen) = session.wait_for(&["found as", "What-if"], Duration::from_secs(10));
    assert!(shown, "the Token view shows no decoded token:\n{screen}");
    screen
}

/// Returns the `What-if …` line of a Token view screen.
fn what_if_line(screen: &str) -> String {
    screen
        .lines()
        .find(|line| line.contains("What-if"))
        .unwrap_or_default()
        .to_owned()
}

/// curl removes `/../` and `/./` from a URL path unless `--path-as-is` is given (a request to
/// `/public/../orders` reaches the server as `GET /orders`, checked against curl 7.88 on a
/// loopback server). So the edge receives `/orders`, which is not a public path, and responds 400.
#[test]
fn edge_public_path_dot_segments() {
    let (code, json, stderr) = decode_with_edge("curl https://api.example.test/public/../orders");
    assert_eq!(code, 2, "no token in the request: {stderr}");
    assert_eq!(json["edge"]["verdict"], "deny", "{json}");
    assert_eq!(json["edge"]["status"], 400, "{json}");

    let (_, json, _) =
        decode_with_edge("curl --path-as-is https://api.example.test/public/../orders");
    assert_eq!(
        json["edge"]["verdict"], "allow",
        "--path-as-is sends the dot segments: {json}"
    );
}

/// The EdgeWorker responds to every request, so an HTTPie command, a raw HTTP request and
/// `curl -v` output without a token get the edge's verdict, as a curl command and a URL do.
#[test]
fn edge_verdict_other_request_shapes() {
    let (code, json, _) = decode_with_edge("curl https://api.example.test/orders");
    assert_eq!(code, 2);
    assert_eq!(json["edge"]["status"], 400, "curl command: {json}");

    let inputs = [
        "http api.example.test/orders",
        "http -a user:pass api.example.test/orders",
        "GET /orders HTTP/1.1\nHost: api.example.test\n",
        "> GET /orders HTTP/1.1\n> Host: api.example.test\n> \n< HTTP/1.1 400 Bad Request\n",
    ];
    for input in inputs {
        let (code, json, stderr) = decode_with_edge(input);
        assert_eq!(code, 2, "{input:?}: {stderr}");
        assert_eq!(
            json["edge"]["verdict"], "deny",
            "{input:?}: {json} {stderr}"
        );
        assert_eq!(json["edge"]["status"], 400, "{input:?}: {json}");
    }
}

/// HTTPie percent-encodes a space in the URL path (`http --offline 'host/a b'` sends
/// `GET /a%20b`). Envoy's codec rejects a raw space with 400 but passes `/a%20b` to jwt_authn, so
/// the what-if request is `/a%20b` and no row shows the codec's 400.
#[test]
fn httpie_path_space_encoded() {
    let token = token();
    let bearer = format!("Bearer {token}");
    let raw = envoy_verdict("/a b", &[("Authorization", &bearer)]);
    assert!(raw.starts_with("400 "), "Envoy, raw space: {raw}");
    let encoded = envoy_verdict("/a%20b", &[("Authorization", &bearer)]);
    assert_eq!(encoded, "200 via_upstream", "Envoy, encoded space");

    let screen = token_view_screen(
        "new-space",
        &format!("http -A bearer -a {token} 'api.example.test/a b'"),
    );
    let what_if = what_if_line(&screen);
    assert!(what_if.contains("GET /a%20b"), "{what_if}");
    assert!(!screen.contains("deny 400"), "{screen}");
}

/// `--raw` gives HTTPie a request body, so it sends POST when no method is named
/// (`http --offline --raw x host/path` prints `POST /path`), as it does for data items.
#[test]
fn httpie_raw_body_is_post() {
    let token = token();
    let screen = token_view_screen(
        "new-raw",
        &format!("http -A bearer -a {token} --raw 'x' api.example.test/api/orders"),
    );
    let what_if = what_if_line(&screen);
    assert!(what_if.contains("POST /api/orders"), "{what_if}");
}

/// A response body `{"token": …, "expires_in": …}` (the shape of a container registry token
/// response) contains the token in a JSON field, not in a request header named `token`, so decode
/// does not warn that the mesh reads the `token` header only with `fromHeaders`.
#[test]
fn token_field_response_body() {
    let token = token();
    let input = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n\
         {{\"token\":\"{token}\",\"expires_in\":300}}"
    );
    let (code, json, stderr) = decode_output(&input, &[]);
    assert_eq!(code, 0, "{stderr}");
    let found_as = json["found_as"].as_str().unwrap_or_default();
    assert!(!found_as.contains("header"), "{found_as}");
    assert!(
        !problem_codes(&json).contains(&"not_default_location".to_owned()),
        "{json}"
    );
}

/// A token response with `"token_type": "DPoP"` directs the client to send
/// `Authorization: DPoP <token>` (RFC 9449), which Envoy's `Bearer ` prefix does not match, so
/// decode warns as it does for a pasted `Authorization: DPoP` line.
#[test]
fn token_response_dpop_type() {
    let token = token();
    let (_, line, _) = decode_output(&format!("Authorization: DPoP {token}"), &[]);
    assert!(
        problem_codes(&line).contains(&"unexpected_scheme".to_owned()),
        "{line}"
    );

    let input = format!("{{\"access_token\":\"{token}\",\"token_type\":\"DPoP\"}}");
    let (_, json, _) = decode_output(&input, &[]);
    let mentions_dpop = json["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|problem| {
            problem["message"]
                .as_str()
                .unwrap_or_default()
                .contains("DPoP")
        });
    assert!(mentions_dpop, "{json}");
}

/// A token response that contains only an `id_token` gets a note that an ID token is for the client,
/// not for APIs, as the note decode gives when an `access_token` sits beside it.
#[test]
fn token_response_id_token_alone() {
    let token = token();
    let (code, json, stderr) = decode_output(&format!("{{\"id_token\":\"{token}\"}}"), &[]);
    assert_eq!(code, 0, "{stderr}");
    let mentions_id_token = json["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|problem| {
            problem["message"]
                .as_str()
                .unwrap_or_default()
                .contains("ID token")
        });
    assert!(mentions_id_token, "{json}");
}

/// An array of several token responses decodes the first and notes that the others were left out.
#[test]
fn token_response_array_rest() {
    let first = token();
    let second = token();
    let input = format!("[{{\"access_token\":\"{first}\"}},{{\"access_token\":\"{second}\"}}]");
    let (code, json, stderr) = decode_output(&input, &[]);
    assert_eq!(code, 0, "{stderr}");
    let has_problems = json["problems"]
        .as_array()
        .is_some_and(|problems| !problems.is_empty());
    assert!(has_problems, "{json}");
}

/// `curl -i` of an implicit-flow redirect carries the token in the fragment of `Location`, and
/// decode reads it from there.
#[test]
fn location_fragment_token() {
    let token = token();
    let input = format!(
        "HTTP/1.1 302 Found\r\nLocation: https://app.test/cb#access_token={token}&token_type=Bearer\r\n\r\n"
    );
    let (code, json, stderr) = decode_output(&input, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["kind"], "jws", "{json}");
}

/// A JWT pasted as a path segment is hidden on screen, and the rest of the path stays visible
/// (`GET /[token hidden]/x`).
#[test]
fn what_if_path_after_hidden_token() {
    let pasted = token();
    let other = token();
    let screen = token_view_screen(
        "new-segment",
        &format!("http -A bearer -a {pasted} 'api.example.test/{other}/x'"),
    );
    let what_if = what_if_line(&screen);
    assert!(what_if.contains("/[token hidden]/x"), "{what_if}");
    let signature = other.rsplit('.').next().expect("a signature segment");
    assert!(!screen.contains(&signature[..16]), "{screen}");
}

/// On a 40-column terminal the help popup wraps or scrolls sideways, so every entry can be read:
/// scrolling to the end shows the whole `ctrl-u/w` line.
#[test]
fn help_popup_narrow_terminal() {
    let binary = env!("CARGO_BIN_EXE_idflow");
    let session = TmuxSession::start("new-help40", &format!("{binary} demo"), 40, 8);
    let (ready, screen) = session.wait_for(&["flows"], Duration::from_secs(10));
    assert!(ready, "the demo did not start:\n{screen}");

    session.send(&["?"]);
    let (shown, screen) = session.wait_for(&["Help", "more"], Duration::from_secs(5));
    assert!(shown, "{screen}");
    let mut seen = screen;
    for _ in 0..40 {
        session.send(&["j"]);
        seen.push_str(&session.capture());
    }
    assert!(seen.contains("delete a word"), "{seen}");
    assert!(seen.contains(":workloads, :q"), "{seen}");
}

/// `idflow check --istio-version` names an Istio release whose semantics it follows, so a release
/// it does not know (9.9) is an invalid flag value with exit status 2, or at least a warning.
#[test]
fn check_unknown_istio_version() {
    let policies = require_jwt::policy_file(mint::ISSUER, &mint::jwks(), "tester-new-version");
    let output = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(["check", "-f"])
        .arg(&policies)
        .args(["--workload", "shop/orders", "--istio-version", "9.9"])
        .output()
        .expect("idflow check runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let rejected = output.status.code() == Some(2);
    assert!(
        rejected || stderr.contains("9.9"),
        "exit {:?}: {stderr}",
        output.status
    );
}

/// Two `Authorization` items in an HTTPie command send two headers (`http --offline` prints both),
/// which Envoy joins and rejects with 401. The warning names the HTTPie command the user pasted.
#[test]
fn httpie_repeated_header_wording() {
    let token = token();
    let bearer = format!("Bearer {token}");
    let verdict = envoy_verdict(
        "/",
        &[("Authorization", &bearer), ("Authorization", &bearer)],
    );
    assert!(verdict.starts_with("401 "), "Envoy: {verdict}");

    let input = format!("http orders.test Authorization:'{bearer}' 'Authorization:{bearer}'");
    let (_, json, _) = decode_output(&input, &[]);
    let warning = support::problem_message(&json, "repeated_header");
    assert!(warning.contains("HTTPie command"), "{warning}");
    assert!(!warning.contains("curl command"), "{warning}");
}
