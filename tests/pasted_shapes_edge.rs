//! `idflow decode` on pasted shapes beyond a curl command. An HTTPie command, a raw HTTP request
//! and `curl -v` output without a token get the edge's verdict.

#[path = "what_if/mint.rs"]
mod mint;
mod support;

use serde_json::{Value, json};
use support::{decode_output, public_path_profile};

/// Basic credentials (`user:pass` in base64), which no output may repeat.
const BASIC: &str = "dXNlcjpwYXNz";

/// Returns an RS256 token of [`mint::ISSUER`] for `alice`, valid from now for an hour.
fn token() -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = mint::claims(mint::ISSUER, "orders", now, 3600);
    claims["sub"] = json!("alice");
    mint::mint(mint::key(), &claims)
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
