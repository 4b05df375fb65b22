//! Requests that Envoy's HTTP/1 codec rejects before any filter runs, as a black-box tester found
//! them: control characters in the request head, a lone carriage return in a header value, a
//! lower-case method, and the line limit of `decode --batch`.
//!
//! The tests named `envoy_…` send raw requests through Envoy 1.40 and need it (`ENVOY` or
//! scripts/test.sh). Envoy's verdict comes from its access log. A codec error leaves no
//! `x-request-id` there, so each request waits for its record before the next is sent, and
//! records are paired with requests by their order.

mod envoy_harness;
#[path = "what_if/mint.rs"]
mod mint;
mod support;

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use envoy_harness::envoy::{self, Envoy, Layout};
use envoy_harness::{pki, scratch_dir};
use idflow::mesh::{Request, codec};
use serde_json::Value;

/// A header line as (name, value).
type Header<'a> = (&'a str, &'a str);

/// One request as raw parts: method, request target and header lines (the `Host` header aside).
struct Head {
    method: &'static str,
    path: &'static str,
    headers: Vec<(String, String)>,
}

impl Head {
    fn get(headers: &[(&str, &str)]) -> Self {
        Self {
            method: "GET",
            path: "/",
            headers: headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        }
    }

    /// Returns the request as it goes on the wire.
    fn wire(&self) -> Vec<u8> {
        let mut text = format!("{} {} HTTP/1.1\r\nhost: x\r\n", self.method, self.path);
        for (name, value) in &self.headers {
            let _ = write!(text, "{name}: {value}\r\n");
        }
        text.push_str("connection: close\r\n\r\n");
        text.into_bytes()
    }

    /// Returns `STATUS DETAILS` of idflow's codec for the request, or `200 via_upstream` when the
    /// codec lets it through (the Envoy of these tests has no filter but the router).
    fn codec_verdict(&self) -> String {
        let mut headers = self.headers.clone();
        headers.push(("connection".to_owned(), "close".to_owned()));
        let request = Request {
            method: self.method.to_owned(),
            path: self.path.to_owned(),
            host: "x".to_owned(),
            headers,
            ..Request::default()
        };
        codec::rejection("shop/orders", &request, &[]).map_or_else(
            || "200 via_upstream".to_owned(),
            |verdict| format!("{} {}", verdict.status, verdict.response_code_details),
        )
    }
}

/// Sends each raw request in `requests` on its own connection through one Envoy with
/// `http_filters`, one after the other, and returns `STATUS DETAILS` from the access log for each.
/// Panics when Envoy cannot run.
fn raw_verdicts(http_filters: Vec<Value>, requests: &[Vec<u8>], label: &str) -> Vec<String> {
    let dir = scratch_dir(label);
    let layout = Layout {
        http_filters,
        network_filters: Vec::new(),
        tcp: false,
        port: envoy::free_port(),
        upstream_port: envoy::free_port(),
        xff_trusted_hops: 0,
    };
    let pki = pki::mint("spiffe://cluster.local/ns/shop/sa/orders", &[], &[]);
    let config = envoy::bootstrap(&layout, &dir);
    let running = Envoy::start(&envoy::binary(), &dir, &config, &pki)
        .unwrap_or_else(|error| panic!("Envoy run failed: {error}"));
    for (index, raw) in requests.iter().enumerate() {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, layout.port))
            .unwrap_or_else(|error| panic!("cannot connect to Envoy: {error}"));
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout set");
        stream.write_all(raw).expect("request sent");
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        assert!(
            response.starts_with(b"HTTP/1.1 "),
            "request {index} got no HTTP response"
        );
        running.wait_for_records(index + 1);
    }
    let records = running.stop();
    assert_eq!(records.len(), requests.len(), "one access log record each");
    records
        .iter()
        .map(|record| {
            format!(
                "{} {}",
                record.code.unwrap_or_default(),
                record.details.as_deref().unwrap_or("-")
            )
        })
        .collect()
}

/// Every class of control character in a header value, a header name, the path and the method,
/// and requests with two faults, whose order Envoy decides.
fn codec_cases() -> Vec<(String, Head)> {
    let big = "a".repeat(70_000);
    let mut cases = Vec::new();
    let characters = [
        "\0", "\u{1}", "\u{8}", "\u{b}", "\u{c}", "\u{e}", "\u{1b}", "\u{1f}", "\u{7f}", "\r",
        "\t", "\u{e9}",
    ];
    for c in characters {
        cases.push((
            format!("value {c:?}"),
            Head::get(&[("x-a", &format!("a{c}b"))]),
        ));
        cases.push((
            format!("name {c:?}"),
            Head::get(&[(&format!("x-{c}a"), "b")]),
        ));
    }
    for (label, path) in [
        ("path VT", "/a\u{b}b"),
        ("path FF", "/a\u{c}b"),
        ("path DEL", "/a\u{7f}b"),
        ("path NUL", "/a\0b"),
        ("path tab", "/a\tb"),
        ("path CR", "/a\rb"),
        ("path UTF-8", "/caf\u{e9}"),
    ] {
        cases.push((
            label.to_owned(),
            Head {
                path,
                ..Head::get(&[])
            },
        ));
    }
    let two_faults: [(&str, &'static str, Vec<Header>); 8] = [
        ("lower-case method", "get", vec![]),
        ("method with VT", "G\u{b}ET", vec![]),
        (
            "lower-case method, VT value",
            "get",
            vec![("x-a", "a\u{b}b")],
        ),
        (
            "VT value, space in name",
            "GET",
            vec![("x-a", "a\u{b}b"), ("x b", "c")],
        ),
        ("Content-Length abc", "GET", vec![("content-length", "abc")]),
        (
            "Content-Length abc, VT value",
            "GET",
            vec![("content-length", "abc"), ("x-a", "a\u{b}b")],
        ),
        (
            "VT value, oversized head",
            "GET",
            vec![("x-a", "a\u{b}b"), ("x-big", &big)],
        ),
        (
            "lower-case method, oversized head",
            "get",
            vec![("x-big", &big)],
        ),
    ];
    for (label, method, headers) in two_faults {
        cases.push((
            label.to_owned(),
            Head {
                method,
                ..Head::get(&headers)
            },
        ));
    }
    cases.push((
        "line feed in value".to_owned(),
        Head::get(&[("x-a", "a\nb")]),
    ));
    cases
}

/// Envoy 1.40 responds with 400 `http1.invalid_characters` for a C0 control other than tab, line
/// feed and carriage return, or DEL, anywhere in the head, and lets a lone carriage return in a
/// value through. idflow's codec gives the same status and details for every case.
#[test]
fn envoy_codec_characters() {
    let cases = codec_cases();
    let wires: Vec<Vec<u8>> = cases.iter().map(|(_, head)| head.wire()).collect();
    let envoy = raw_verdicts(Vec::new(), &wires, "tester2-codec");
    let by_label = |label: &str| {
        let index = cases.iter().position(|(name, _)| name == label);
        envoy[index.expect("a case of that label")].clone()
    };

    let value = |c: &str| by_label(&format!("value {c:?}"));
    assert_eq!(value("\u{b}"), "400 http1.invalid_characters");
    assert_eq!(value("\u{c}"), "400 http1.invalid_characters");
    assert_eq!(value("\r"), "200 via_upstream");
    assert_eq!(
        by_label(&format!("name {:?}", "\r")),
        "400 http1.codec_error"
    );
    assert_eq!(
        by_label("lower-case method, VT value"),
        "400 http1.invalid_characters"
    );

    let mismatches: Vec<String> = cases
        .iter()
        .zip(&envoy)
        .filter_map(|((label, head), envoy)| {
            let idflow = head.codec_verdict();
            (idflow != *envoy).then(|| format!("{label}: Envoy {envoy}, idflow {idflow}"))
        })
        .collect();
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

fn allow_all_policy() -> PathBuf {
    let path = scratch_dir("tester2-allow-all").join("allow-all.yaml");
    std::fs::write(&path, support::ALLOW_ALL).expect("policy written");
    path
}

/// Runs `idflow check -o json` for shop/orders on the allow-all policy with one `-H` line.
fn check_with_header(line: &str) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(["check", "-o", "json", "--workload", "shop/orders", "-f"])
        .arg(allow_all_policy())
        .args(["-H", line])
        .output()
        .expect("idflow check runs");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "check printed no JSON ({error}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// `check -H` with a lone carriage return in the value is allowed, as Envoy 1.40 allowed it (see
/// [`envoy_codec_characters`]), and a form feed gets `http1.invalid_characters`.
#[test]
fn check_header_cr_and_form_feed() {
    let carriage_return = check_with_header("X-A: a\rb");
    let form_feed = check_with_header("X-A: a\u{c}b");

    assert_eq!(carriage_return["status"], 200, "{carriage_return}");
    assert_eq!(form_feed["status"], 400, "{form_feed}");
    assert_eq!(
        form_feed["response_code_details"],
        "http1.invalid_characters"
    );
}

/// Returns a token of [`mint::ISSUER`] valid for an hour, signed by [`mint::key`].
fn token() -> String {
    let now = chrono::Utc::now().timestamp();
    mint::mint(
        mint::key(),
        &mint::claims(mint::ISSUER, "orders", now, 3600),
    )
}

/// Returns `token` with `separator` inside its signature segment.
fn split_signature(token: &str, separator: &str) -> String {
    let (signed, signature) = token.rsplit_once('.').expect("a JWS");
    let (first, second) = signature.split_at(100);
    format!("{signed}.{first}{separator}{second}")
}

fn jwks_file() -> PathBuf {
    let path = scratch_dir("tester2-jwks").join("jwks.json");
    std::fs::write(&path, mint::jwks()).expect("JWKS written");
    path
}

/// A form feed or vertical tab inside a pasted value: Envoy 1.40 responds with 400
/// `http1.invalid_characters` before jwt_authn runs, and a lone carriage return verifies (200).
/// decode names the 400 for a bare token, a `Bearer` value and an `Authorization:` line, as it does
/// in a curl command.
#[test]
fn envoy_pasted_value_controls() {
    let token = token();
    let separators = [("FF", "\u{c}"), ("VT", "\u{b}"), ("CR", "\r")];
    let wires: Vec<Vec<u8>> = separators
        .iter()
        .map(|(_, separator)| {
            let value = format!("Bearer {}", split_signature(&token, separator));
            Head::get(&[("authorization", &value)]).wire()
        })
        .collect();
    let envoy = raw_verdicts(mint::istiod_filters(mint::ISSUER), &wires, "tester2-pasted");
    assert_eq!(envoy[0], "400 http1.invalid_characters");
    assert_eq!(envoy[1], "400 http1.invalid_characters");
    assert_eq!(envoy[2], "200 via_upstream");

    let jwks = jwks_file();
    let jwks = jwks.to_str().expect("UTF-8 path");
    for (name, separator) in separators {
        let value = split_signature(&token, separator);
        for text in [
            value.clone(),
            format!("Bearer {value}"),
            format!("Authorization: Bearer {value}"),
            format!("curl -H 'Authorization: Bearer {value}' http://api.test/"),
        ] {
            let shape = text.split(' ').next().unwrap_or_default().to_owned();
            let (code, json) = support::decode_json(&text, &["--jwks", jwks]);
            let codec = support::problem_message(&json, "codec_rejects_request");
            if name == "CR" {
                assert_eq!(code, 0, "{name} in {shape}: {json}");
                assert!(codec.is_empty(), "{name} in {shape}: {codec}");
            } else {
                assert_eq!(code, 1, "{name} in {shape}");
                assert!(
                    codec.contains("`http1.invalid_characters`"),
                    "{name} in {shape}: {json}"
                );
            }
        }
    }
}

/// When the codec rejects the request, jwt_authn never runs, so decode should name no jwt_authn
/// status for it. Envoy 1.40 responded with 400 `http1.invalid_characters` for a vertical tab
/// inside the signature (see [`envoy_pasted_value_controls`]).
#[test]
fn pasted_vertical_tab_has_no_jwt_authn_status() {
    let value = format!("Bearer {}", split_signature(&token(), "\u{b}"));
    let jwks = jwks_file();
    let (_, json) = support::decode_json(&value, &["--jwks", jwks.to_str().expect("UTF-8 path")]);

    assert!(json["signature"]["envoy_status"].is_null(), "{json}");
    assert!(
        support::problem_message(&json, "mesh_rejects_format").is_empty(),
        "{json}"
    );
}

/// A lower-case method: Envoy 1.40 responds with 400 `http1.codec_error`. decode names it for a
/// curl command and a raw request, reads the raw request as one, and without a token reports that
/// instead of decoding the request as a token.
#[test]
fn envoy_lower_case_method() {
    let token = token();
    let value = format!("Bearer {token}");
    let wire = Head {
        method: "get",
        ..Head::get(&[("authorization", &value)])
    }
    .wire();
    let envoy = raw_verdicts(mint::istiod_filters(mint::ISSUER), &[wire], "tester2-get");
    assert_eq!(envoy[0], "400 http1.codec_error");

    let jwks = jwks_file();
    let jwks = jwks.to_str().expect("UTF-8 path");
    let curl = format!("curl -X get -H 'Authorization: Bearer {token}' http://api.test/orders");
    let raw = format!("get /orders HTTP/1.1\nHost: api.test\nAuthorization: Bearer {token}\n\n");
    for text in [curl, raw] {
        let (code, json) = support::decode_json(&text, &["--jwks", jwks]);
        let codec = support::problem_message(&json, "codec_rejects_request");

        assert_eq!(code, 1, "{json}");
        assert!(codec.contains("`http1.codec_error`"), "{json}");
    }
    let raw = format!("get /orders HTTP/1.1\nHost: api.test\nAuthorization: Bearer {token}\n\n");
    let (_, json) = support::decode_json(&raw, &["--jwks", jwks]);
    assert!(
        json["found_as"]
            .as_str()
            .is_some_and(|found| found.starts_with("HTTP request")),
        "{json}"
    );

    let without_token = "get /orders HTTP/1.1\nHost: api.test\n\n";
    let (code, _, stderr) = support::decode_output(without_token, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("HTTP request"), "{stderr}");
    assert!(stderr.contains("`http1.codec_error`"), "{stderr}");

    let profile = support::public_path_profile("tester2-get");
    let profile = profile.to_str().expect("UTF-8 path");
    let (_, json, _) = support::decode_output(without_token, &["--edge-profile", profile]);
    let reason = json["edge"]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("no token"), "{json}");
}

/// Runs `idflow decode --batch -o ndjson` on `input` and returns each output line as JSON.
fn batch(input: Vec<u8>) -> Vec<Value> {
    support::batch_objects(&support::run_batch(input, &["-o", "ndjson"]))
}

/// The 8 MiB line limit of `--batch` counts the line's content, not its LF or CRLF.
#[test]
fn batch_limit_ignores_line_end() {
    const LIMIT: usize = 8 * 1024 * 1024;
    let line = "a".repeat(LIMIT);
    for ending in ["\n", "\r\n"] {
        let objects = batch(format!("{line}{ending}").into_bytes());

        assert_eq!(objects.len(), 1, "{ending:?}");
        assert_eq!(objects[0]["kind"], "opaque", "{ending:?}: {}", objects[0]);
    }

    for ending in ["\n", "\r\n", "aaaa\n"] {
        let objects = batch(format!("{line}a{ending}b\n").into_bytes());
        let error = objects[0]["error"].as_str().unwrap_or_default();

        assert!(error.contains("longer than 8 MiB"), "{ending:?}: {error}");
        assert_eq!(objects[1]["line"], 2, "{ending:?}: {}", objects[1]);
        assert_eq!(objects[1]["encoded_len"], 1, "{ending:?}: {}", objects[1]);
    }
}
