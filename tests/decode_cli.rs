//! Tests that run the built `idflow decode` binary.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// 2025-03-04T11:02:10Z.
const AT: i64 = 1_741_086_130;

/// Encoded signature of [`token`]; tests check that it never leaks.
const SIGNATURE: &str = "c2lnbmF0dXJlLWJ5dGVzLWZvci10ZXN0cw";

fn token() -> String {
    let header = json!({"alg": "ES256", "kid": "cli-key", "typ": "JWT"});
    let claims = json!({"iss": "https://idp.example.com", "sub": "bob", "exp": AT + 3 * 86_400, "iat": AT - 7_200});
    format!(
        "{}.{}.{SIGNATURE}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .arg("decode")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("idflow starts");
    {
        let mut pipe = child.stdin.take().expect("stdin piped");
        pipe.write_all(stdin.unwrap_or_default().as_bytes())
            .expect("stdin written");
    }
    child.wait_with_output().expect("idflow exits")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json_output(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

#[test]
fn text_exit_zero() {
    let t = token();
    let output = run(&[&t, "--at", &AT.to_string()], None);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("JWS (signed JWT)"), "{text}");
    assert!(text.contains("(in 3 days)"), "{text}");
    assert!(text.contains("(2 h ago)"), "{text}");
    assert!(text.contains("\"sub\": \"bob\""), "{text}");
}

#[test]
fn json_contract_keys() {
    let t = token();
    let output = run(&[&t, "-o", "json", "--at", &AT.to_string()], None);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value = json_output(&output);
    for key in [
        "kind",
        "found_as",
        "header",
        "claims",
        "times",
        "signature",
        "problems",
        "fingerprint",
        "encoded_len",
    ] {
        assert!(value.get(key).is_some(), "missing {key}: {value}");
    }
    assert_eq!(value["kind"], "jws");
    assert_eq!(value["signature"]["status"], "unverified");
    assert_eq!(value["signature"]["alg"], "ES256");
    assert_eq!(value["signature"]["kid"], "cli-key");
    assert_eq!(value["times"]["exp"]["time"], "2025-03-07T11:02:10Z");
    assert_eq!(value["times"]["exp"]["relative_seconds"], 3 * 86_400);
    assert_eq!(value["times"]["iat"]["relative_seconds"], -7_200);
    assert_eq!(value["encoded_len"], t.len());
}

#[test]
fn json_problem_shape() {
    let output = run(&["bearer 9f1c2e7a5b8d4c3e", "-o", "json"], None);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value = json_output(&output);
    assert_eq!(value["kind"], "opaque");
    let problem = &value["problems"][0];
    assert_eq!(problem["code"], "scheme_not_bearer");
    assert!(problem["message"].is_string(), "{problem}");
}

#[test]
fn secrets_hidden_by_default() {
    let t = token();
    for format in ["text", "json"] {
        let output = run(&[&format!("Authorization: Bearer {t}"), "-o", format], None);
        let text = stdout(&output);
        assert!(!text.contains(&t), "token in {format} output");
        assert!(!text.contains(SIGNATURE), "signature in {format} output");
    }
}

#[test]
fn secrets_shown_on_request() {
    let t = token();
    let output = run(&[&t, "-o", "json", "--show-secrets"], None);
    let value = json_output(&output);
    assert_eq!(value["token"], t.as_str());
    assert_eq!(value["signature"]["value"], SIGNATURE);
}

#[test]
fn stdin_dash_and_absent() {
    let t = token();
    let input = format!("\"{t}\"\n");
    for args in [&["-", "-o", "json"][..], &["-o", "json"][..]] {
        let output = run(args, Some(&input));
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert_eq!(json_output(&output)["found_as"], "bare token, in quotes");
    }
}

#[test]
fn not_a_token_exit_two() {
    let output = run(&["hello world"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty(), "stdout: {}", stdout(&output));
    assert!(
        stderr(&output).contains("expected a JWT"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn empty_stdin_exit_two() {
    let output = run(&["-"], Some("\n"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("the input is empty"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bad_at_exit_two() {
    let output = run(&[&token(), "--at", "next tuesday"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty(), "stdout: {}", stdout(&output));
    assert!(
        stderr(&output).contains("invalid --at value \"next tuesday\""),
        "{}",
        stderr(&output)
    );
}

#[test]
fn at_rfc3339_clock() {
    let output = run(
        &[&token(), "-o", "json", "--at", "2025-03-04T11:02:10Z"],
        None,
    );
    let value = json_output(&output);
    assert_eq!(value["times"]["exp"]["relative_seconds"], 3 * 86_400);
}

#[test]
fn expired_still_exit_zero() {
    let output = run(
        &[
            &token(),
            "-o",
            "json",
            "--at",
            &(AT + 4 * 86_400).to_string(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(json_output(&output)["problems"][0]["code"], "expired");
}

#[test]
fn huge_stdin_no_panic() {
    let input = "a".repeat(1 << 20);
    let output = run(&["-o", "json"], Some(&input));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(json_output(&output)["encoded_len"], 1 << 20);
}
