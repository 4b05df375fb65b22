//! `idflow decode` on pasted shapes beyond a curl command. An HTTPie command, a raw HTTP request
//! and `curl -v` output without a token get the edge's verdict. A redirect as `curl -i` prints it
//! carries the token in its `Location` (the OAuth 2.0 implicit flow), and decode reads it there.

#[path = "what_if/mint.rs"]
mod mint;
mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::tmux::TmuxSession;
use support::{
    decode_output, problem_codes, problem_message, public_path_profile, run_decode, run_decode_as,
};

/// Basic credentials (`user:pass` in base64), which no output may repeat.
const BASIC: &str = "dXNlcjpwYXNz";

/// Returns an RS256 token of [`mint::ISSUER`] for `alice`, valid from now for an hour.
fn token() -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = mint::claims(mint::ISSUER, "orders", now, 3600);
    claims["sub"] = json!("alice");
    mint::mint(mint::key(), &claims)
}

/// Returns the signature segment of `token`.
fn signature(token: &str) -> &str {
    token.rsplit('.').next().unwrap_or_default()
}

/// Runs `decode -o json` with [`public_path_profile`] and returns the exit status, the JSON
/// output and standard error.
fn decode_with_edge(input: &str) -> (i32, Value, String) {
    let profile = public_path_profile("pasted-shapes-edge");
    decode_output(input, &["--edge-profile", &profile.to_string_lossy()])
}

/// Asserts that decode finds no token in `input` and that the edge denies it with 400, the
/// profile's response to a request without a token.
fn assert_edge_denies(input: &str) {
    let (code, json, stderr) = decode_with_edge(input);
    assert_eq!(code, 2, "{input:?}: {stderr}");
    assert!(json["error"].is_string(), "{input:?}: {json}");
    assert_eq!(json["edge"]["verdict"], "deny", "{input:?}: {json}");
    assert_eq!(json["edge"]["status"], 400, "{input:?}: {json}");
}

/// Asserts that the edge lets `input`, a request to a public path without a token, go on.
fn assert_edge_allows(input: &str) {
    let (code, json, stderr) = decode_with_edge(input);
    assert_eq!(code, 2, "{input:?}: {stderr}");
    assert_eq!(json["edge"]["verdict"], "allow", "{input:?}: {json}");
    assert_eq!(json["edge"]["status"], Value::Null, "{input:?}: {json}");
}

#[test]
fn httpie_offline_options_edge() {
    for input in [
        "http --offline GET api.example.test/orders Accept:application/json",
        "https --offline --print HBhb api.example.test/orders page==2",
        "http --offline --timeout 5 :8080/orders",
    ] {
        assert_edge_denies(input);
    }
    assert_edge_allows("http --offline --print=H api.example.test/public/docs");
}

#[test]
fn httpie_basic_auth_edge() {
    let input = "http --offline -a user:pass api.example.test/orders";

    let (code, json, stderr) = decode_with_edge(input);

    assert_eq!(code, 2, "{stderr}");
    let edge = &json["edge"];
    assert_eq!(edge["verdict"], "deny", "{edge}");
    assert_eq!(edge["status"], 400, "{edge}");
    let reason = edge["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("is not a token"), "{reason}");
    let output = format!("{json}{stderr}");
    assert!(!output.contains(BASIC), "{output}");
}

#[test]
fn raw_request_crlf_edge() {
    assert_edge_denies(
        "GET /orders?page=2 HTTP/1.1\r\nHost: api.example.test\r\nAccept: */*\r\n\r\n",
    );
    assert_edge_denies("POST /orders HTTP/1.1\r\nHost: api.example.test\r\n\r\n{\"id\": 1}");
    assert_edge_allows("GET /public/docs HTTP/1.1\r\nHost: api.example.test\r\n\r\n");
}

/// `curl -v` prints its notes after `*`, the request after `>` and the response head after `<`.
/// A response body without a token leaves the request to judge.
#[test]
fn curl_verbose_notes_edge() {
    let input = "*   Trying 127.0.0.1:443...\n\
                 * Connected to api.example.test (127.0.0.1) port 443\n\
                 * ALPN: server accepted h2\n\
                 > GET /orders HTTP/2\n\
                 > Host: api.example.test\n\
                 > User-Agent: curl/8.5.0\n\
                 > Accept: */*\n\
                 > \n\
                 < HTTP/2 400 \n\
                 < content-type: application/json\n\
                 < \n\
                 {\"error\":\"missing token\"}\n\
                 * Connection #0 to host api.example.test left intact\n";
    assert_edge_denies(input);

    let public = "* Connected to api.example.test (127.0.0.1) port 80\n\
                  > GET /public/docs HTTP/1.1\r\n> Host: api.example.test\r\n> \r\n\
                  < HTTP/1.1 200 OK\r\n< \r\n";
    assert_edge_allows(public);
}

#[test]
fn curl_verbose_basic_hidden() {
    let input = format!(
        "* Connected to api.example.test (127.0.0.1) port 80\n\
         > GET /orders HTTP/1.1\n> Host: api.example.test\n> Authorization: Basic {BASIC}\n> \n\
         < HTTP/1.1 401 Unauthorized\n< \n"
    );

    let (code, json, stderr) = decode_with_edge(&input);

    assert_eq!(code, 2, "{stderr}");
    assert_eq!(json["edge"]["verdict"], "deny", "{json}");
    let output = format!("{json}{stderr}");
    assert!(!output.contains(BASIC), "{output}");
}

/// Text after the token in the `Authorization` value reaches the EdgeWorker in every request
/// shape, as in a pasted header line, so every shape gets the same verdict.
#[test]
fn trailing_text_every_shape() {
    let token = token();
    let value = format!("Bearer {token} .abc");
    let (_, line, _) = decode_with_edge(&format!("Authorization: {value}"));
    let expected = &line["edge"];
    assert_eq!(expected["verdict"], "deny", "{expected}");

    for input in [
        format!("curl -H 'Authorization: {value}' https://api.example.test/orders"),
        format!("http --offline api.example.test/orders 'Authorization:{value}'"),
        format!("GET /orders HTTP/1.1\r\nHost: api.example.test\r\nAuthorization: {value}\r\n\r\n"),
        format!(
            "* Connected to api.example.test (127.0.0.1) port 80\n> GET /orders HTTP/1.1\n\
             > Authorization: {value}\n> \n< HTTP/1.1 400 Bad Request\n< \n"
        ),
    ] {
        let (_, json, stderr) = decode_with_edge(&input);
        let edge = &json["edge"];
        let shape = input.split_whitespace().next().unwrap_or_default();
        assert_eq!(
            edge["verdict"], expected["verdict"],
            "{shape}: {edge} {stderr}"
        );
        assert_eq!(edge["status"], expected["status"], "{shape}: {edge}");
        assert_eq!(edge["reason"], expected["reason"], "{shape}: {edge}");
    }
}

/// Returns `curl -i` output of a redirect with `status` whose `Location` is `location`.
fn redirect(status: &str, location: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nLocation: {location}\r\nContent-Length: 0\r\n\
         Cache-Control: no-store\r\n\r\n"
    )
}

#[test]
fn location_fragment_read() {
    let token = token();
    let input = redirect(
        "302 Found",
        &format!("https://app.test/cb#access_token={token}&token_type=Bearer&expires_in=3600"),
    );

    let (code, json, stderr) = decode_output(&input, &[]);

    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["kind"], "jws", "{json}");
    assert_eq!(json["claims"]["sub"], "alice", "{json}");
    let found_as = json["found_as"].as_str().unwrap_or_default();
    assert!(found_as.contains("302"), "{found_as}");
    assert!(found_as.contains("`Location` fragment"), "{found_as}");
    let note = problem_message(&json, "token_in_location");
    assert!(note.contains("fragment"), "{json}");
    assert!(note.contains("implicit flow"), "{note}");
}

/// `curl -v` prints the redirect's head after `< `, and decode reads the `Location` there too.
#[test]
fn location_curl_verbose_read() {
    let token = token();
    let input = format!(
        "*   Trying 127.0.0.1:443...\n\
         > GET /authorize?response_type=token&client_id=app HTTP/1.1\n\
         > Host: idp.test\n\
         > \n\
         < HTTP/1.1 302 Found\r\n\
         < Location: https://app.test/cb#access_token={token}&token_type=Bearer\r\n\
         < Content-Length: 0\r\n\
         <\r\n\
         * Connection #0 to host idp.test left intact\n"
    );

    let (code, json, stderr) = decode_output(&input, &[]);

    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["kind"], "jws", "{json}");
    let found_as = json["found_as"].as_str().unwrap_or_default();
    assert!(found_as.starts_with("curl -v output"), "{found_as}");
    assert!(found_as.contains("`Location` fragment"), "{found_as}");
    let codes = problem_codes(&json);
    assert!(codes.contains(&"token_in_location".to_owned()), "{json}");
}

#[test]
fn location_query_read() {
    let token = token();
    for status in ["302 Found", "303 See Other"] {
        let input = redirect(
            status,
            &format!("https://app.test/cb?state=xyz&access_token={token}"),
        );

        let (code, json, stderr) = decode_output(&input, &[]);

        assert_eq!(code, 0, "{status}: {stderr}");
        assert_eq!(json["kind"], "jws", "{status}: {json}");
        let found_as = json["found_as"].as_str().unwrap_or_default();
        assert!(found_as.contains(&status[..3]), "{status}: {found_as}");
        assert!(
            found_as.contains("`Location` query"),
            "{status}: {found_as}"
        );
        let note = problem_message(&json, "token_in_location");
        assert!(note.contains("query"), "{status}: {json}");
    }
}

#[test]
fn location_id_token_noted() {
    let token = token();
    let input = redirect(
        "302 Found",
        &format!("https://app.test/cb#id_token={token}&state=xyz"),
    );

    let (code, json, stderr) = decode_output(&input, &[]);

    assert_eq!(code, 0, "{stderr}");
    let codes = problem_codes(&json);
    assert!(codes.contains(&"id_token_only".to_owned()), "{json}");
    assert!(codes.contains(&"token_in_location".to_owned()), "{json}");
}

/// An authorization code (`?code=`) is exchanged for a token at the token endpoint and is no
/// token itself, so such a redirect gets what a redirect without a token gets.
#[test]
fn location_code_not_token() {
    let (code, json, stderr) = decode_output(&redirect("302 Found", "https://app.test/cb"), &[]);
    assert_eq!(code, 2, "{json}");
    assert!(
        stderr.contains("the response has no body after its headers"),
        "{stderr}"
    );

    let with_code = redirect(
        "302 Found",
        "https://app.test/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=xyz",
    );
    let (code_of_code, _, stderr_of_code) = decode_output(&with_code, &[]);
    assert_eq!(code_of_code, 2, "{stderr_of_code}");
    assert_eq!(stderr_of_code, stderr);
}

/// The signature of a token read from a `Location` is shown only with `--show-secrets`.
#[test]
fn location_signature_hidden() {
    let token = token();
    let input = redirect(
        "302 Found",
        &format!("https://app.test/cb#access_token={token}&token_type=Bearer"),
    );
    let signature = signature(&token);

    for format in ["json", "text"] {
        let output = run_decode_as(format, &input, &[]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{format}: {stderr}");
        assert!(!stdout.contains(signature), "{format}: {stdout}");
        assert!(!stderr.contains(signature), "{format}: {stderr}");
    }

    let with_secrets = run_decode(&input, &["--show-secrets"]);
    let stdout = String::from_utf8_lossy(&with_secrets.stdout);
    assert!(stdout.contains(signature), "--show-secrets: {stdout}");
}

/// The Token view reads the same redirect and keeps the signature off the screen. The lines end
/// in LF, and tmux's `paste-buffer` sends each LF as CR.
#[test]
fn location_token_view() {
    let token = token();
    let input = format!(
        "HTTP/1.1 302 Found\nLocation: https://app.test/cb#access_token={token}&token_type=Bearer\n\n"
    );
    let binary = env!("CARGO_BIN_EXE_idflow");
    let session = TmuxSession::start("shapes-location", &format!("{binary} demo"), 160, 50);
    let (ready, screen) = session.wait_for(&["flows"], Duration::from_secs(10));
    assert!(ready, "the demo did not start:\n{screen}");

    session.send(&["t"]);
    session.paste(&input);
    let (shown, screen) = session.wait_for(&["found as", "Location"], Duration::from_secs(10));

    assert!(
        shown,
        "the Token view shows no token from the Location:\n{screen}"
    );
    assert!(!screen.contains(signature(&token)), "{screen}");
}
