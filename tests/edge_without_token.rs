//! `idflow decode --edge-profile` on pasted requests that carry no token: decode exits 2, and
//! the edge column still shows how the EdgeWorker responds, because it reads its location in
//! every request.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use support::{decode_output, run_decode};

/// Basic credentials (`user:pass`), which no output may repeat.
const BASIC: &str = "dXNlcjpwYXNz";

/// Writes an edge profile whose `[token]` table is `token`, with distinct statuses for a missing
/// token (401) and a failed validation (400). Each call writes its own file, because tests that
/// run in parallel give the same `name` to different tables.
fn profile(name: &str, token: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    let folder = std::env::temp_dir().join(format!(
        "idflow-edge-without-token-{}-{number}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&folder).expect("profile folder created");
    let path = folder.join("edge.toml");
    let text = format!(
        "name = \"{name}\"\n\n[token]\n{token}\n\n[response]\ndeny_status = 400\nmissing_status = 401\n"
    );
    std::fs::write(&path, text).expect("profile written");
    path
}

/// Runs `decode -o json` on `input` with the profile and returns the exit status and the output.
fn decode_with(input: &str, profile: &Path) -> (i32, Value, String) {
    decode_output(input, &["--edge-profile", &profile.to_string_lossy()])
}

/// Runs `decode -o text` on `input` with the profile.
fn decode_text(input: &str, profile: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(["decode", "-o", "text", "--edge-profile"])
        .arg(profile)
        .arg(input)
        .output()
        .expect("idflow decode runs")
}

#[test]
fn fragment_token_query_profile() {
    let profile = profile("query", "query = \"access_token\"");
    let input = "https://orders.test/api#x?access_token=abc.def.ghi";

    let (code, json, stderr) = decode_with(input, &profile);

    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no token found"), "{stderr}");
    assert!(
        json["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no token found"),
        "{json}"
    );
    let edge = &json["edge"];
    assert_eq!(edge["verdict"], "deny", "{edge}");
    assert_eq!(edge["status"], 401, "{edge}");
    let reason = edge["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("no query parameter `access_token`"),
        "{reason}"
    );
    assert!(reason.contains("fragment"), "{reason}");
}

#[test]
fn curl_without_token_denied() {
    let profile = profile("header", "header = \"Authorization\"\nmissing = \"deny\"");

    let (code, json, stderr) = decode_with("curl https://orders.test/api/orders", &profile);

    assert_eq!(code, 2, "{stderr}");
    let edge = &json["edge"];
    assert_eq!(edge["verdict"], "deny", "{edge}");
    assert_eq!(edge["status"], 401, "{edge}");
    assert_eq!(edge["validated"], false, "{edge}");
    assert_eq!(edge["edgeworker_error"], Value::Null, "{edge}");
    let reason = edge["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("no header `authorization`"), "{reason}");
}

#[test]
fn curl_without_token_forwarded() {
    let profile = profile(
        "forward",
        "header = \"Authorization\"\nmissing = \"forward\"",
    );

    let (code, json, stderr) = decode_with(
        "curl -H 'Accept: application/json' https://orders.test/api/orders",
        &profile,
    );

    assert_eq!(code, 2, "{stderr}");
    let edge = &json["edge"];
    assert_eq!(edge["verdict"], "allow", "{edge}");
    assert_eq!(edge["status"], Value::Null, "{edge}");
    let forwarded: Vec<&str> = edge["forwarded_headers"]
        .as_array()
        .map(|headers| {
            headers
                .iter()
                .filter_map(|header| header["name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(forwarded, ["x-edge-request-id"], "{edge}");
}

#[test]
fn public_path_goes_on() {
    let profile = profile(
        "public",
        "header = \"Authorization\"\nmissing = \"deny\"\npublic_paths = [\"/public/\"]",
    );

    let (_, public, _) = decode_with("curl https://orders.test/public/logo.png", &profile);
    let (_, private, _) = decode_with("curl https://orders.test/api/orders", &profile);

    assert_eq!(public["edge"]["verdict"], "allow", "{public}");
    assert_eq!(private["edge"]["verdict"], "deny", "{private}");
    assert_eq!(private["edge"]["status"], 401, "{private}");
}

#[test]
fn basic_scheme_fails_validator() {
    let profile = profile("header", "header = \"Authorization\"");

    let (code, json, stderr) = decode_with(&format!("Authorization: Basic {BASIC}"), &profile);

    assert_eq!(code, 2, "{stderr}");
    let edge = &json["edge"];
    assert_eq!(edge["verdict"], "deny", "{edge}");
    assert_eq!(edge["status"], 400, "{edge}");
    assert_eq!(
        edge["edgeworker_error"],
        "JWT malformed: Invalid number of parts for JWT token. expected 3 or 2 (unsecured JWT)!",
        "{edge}"
    );
    assert!(!json.to_string().contains(BASIC), "{json}");
}

#[test]
fn curl_user_fails_validator() {
    let profile = profile("header", "header = \"Authorization\"");

    let (code, json, stderr) = decode_with("curl -u user:pass https://orders.test/", &profile);

    assert_eq!(code, 2, "{stderr}");
    assert_eq!(json["edge"]["status"], 400, "{json}");
    assert!(!json.to_string().contains("user:pass"), "{json}");
}

#[test]
fn scheme_required_rejects_basic() {
    let profile = profile(
        "required",
        "header = \"Authorization\"\nscheme_required = true",
    );

    let (_, json, _) = decode_with(&format!("Authorization: Basic {BASIC}"), &profile);

    let edge = &json["edge"];
    assert_eq!(edge["status"], 400, "{edge}");
    assert_eq!(edge["edgeworker_error"], Value::Null, "{edge}");
    let reason = edge["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("does not start with the scheme"),
        "{reason}"
    );
}

#[test]
fn other_location_missing() {
    let profile = profile("cookie", "cookie = \"jwt\"\nmissing = \"deny\"");

    let (_, json, _) = decode_with(&format!("Authorization: Basic {BASIC}"), &profile);

    let edge = &json["edge"];
    assert_eq!(edge["status"], 401, "{edge}");
    let reason = edge["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("no cookie `jwt`"), "{reason}");
}

#[test]
fn text_output_shows_edge() {
    let profile = profile("header", "header = \"Authorization\"\nmissing = \"deny\"");

    let output = decode_text("curl https://orders.test/api/orders", &profile);

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no token found"), "{stderr}");
    assert!(stdout.starts_with("edge (header)\n"), "{stdout}");
    assert!(stdout.contains("  verdict  deny (401)\n"), "{stdout}");
    assert!(stdout.contains("no header `authorization`"), "{stdout}");
}

#[test]
fn text_output_hides_credentials() {
    let profile = profile("header", "header = \"Authorization\"");

    let output = decode_text(&format!("Authorization: Basic {BASIC}"), &profile);

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("  verdict  deny (400)\n"), "{stdout}");
    assert!(stdout.contains("  throws   JWT malformed"), "{stdout}");
    assert!(!stdout.contains(BASIC), "{stdout}");
}

#[test]
fn not_a_request_prints_nothing() {
    let profile = profile("header", "header = \"Authorization\"");

    for input in ["hello world", ""] {
        let output = run_decode(input, &["--edge-profile", &profile.to_string_lossy()]);
        assert_eq!(output.status.code(), Some(2), "{input:?}");
        assert!(output.stdout.is_empty(), "{input:?}");
    }
}

#[test]
fn without_profile_stdout_empty() {
    let output = run_decode("curl https://orders.test/api/orders", &[]);

    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
}

#[test]
fn batch_line_gets_edge() {
    let profile = profile("header", "header = \"Authorization\"\nmissing = \"deny\"");

    let output = run_decode(
        "curl https://orders.test/api/orders\nhello world\n",
        &["--batch", "--edge-profile", &profile.to_string_lossy()],
    );

    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["edge"]["status"], 401, "{stdout}");
    assert!(lines[0]["error"].is_string(), "{stdout}");
    assert_eq!(lines[1]["edge"], Value::Null, "{stdout}");
}
