//! Cases from a black-box hunt on the last fixes to `idflow decode`, its edge column and `idflow
//! check`: tokens in `access_token` query parameters and cookies, text before a token, request
//! bytes that Envoy's HTTP/1 codec rejects, payload numbers, gateways of Istio's gateway chart and
//! policy files that define one object twice.
//!
//! The Envoy filters are written by hand the way istiod writes them for one `jwtRules` entry: a
//! provider under `requires_any` with `allow_missing`, and RBAC that requires a request principal
//! of the issuer. The tests named `envoy_…` record the Envoy 1.40 verdicts the other tests rest
//! on, and need Envoy (`ENVOY` or scripts/test.sh). Tests marked `#[ignore = "finding: …"]` fail
//! today: each assert expects what Envoy did, or what the source named in the test's comment
//! states.

mod envoy_harness;
#[path = "what_if/mint.rs"]
mod mint;
mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use envoy_harness::client::WireRequest;
use envoy_harness::envoy;
use serde_json::{Value, json};
use support::run_decode;

/// Returns a valid RS256 token of [`mint::ISSUER`] for audience `orders`.
fn token() -> String {
    let now = chrono::Utc::now().timestamp();
    mint::mint(
        mint::key(),
        &mint::claims(mint::ISSUER, "orders", now, 3600),
    )
}

/// A request to send through Envoy: method, path with its query, and headers in order.
struct Sent {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
}

fn get(path: String, headers: Vec<(String, String)>) -> Sent {
    Sent {
        method: "GET",
        path,
        headers,
    }
}

fn bearer(token: &str) -> (String, String) {
    ("Authorization".to_owned(), format!("Bearer {token}"))
}

/// Sends `requests` through an Envoy with [`mint::istiod_filters`] and returns `STATUS DETAILS` for
/// each.
fn envoy_verdicts(requests: &[Sent]) -> Vec<String> {
    let wires = requests
        .iter()
        .map(|sent| WireRequest {
            method: sent.method.to_owned(),
            path: sent.path.clone(),
            host: "orders.shop.svc.cluster.local:8080".to_owned(),
            headers: sent.headers.clone(),
            peer: None,
            source_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            sni: None,
        })
        .collect();
    envoy_harness::http_verdicts(
        mint::istiod_filters(mint::ISSUER),
        envoy::free_port(),
        wires,
        "final8",
    )
}

/// Returns `(name, value)` as owned strings.
fn header(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

#[test]
fn envoy_verdicts_behind_findings() {
    let token = token();
    let requests = [
        get(
            "/".to_owned(),
            vec![header("Authorization", &format!("x Bearer: {token}"))],
        ),
        get(format!("/?access_token=x{token}"), vec![bearer(&token)]),
        get(format!("/?access%5Ftoken={token}"), vec![]),
        get(
            "/".to_owned(),
            vec![bearer(&token), header("x-a", "a\u{1}b")],
        ),
        get(
            "/".to_owned(),
            vec![bearer(&token), header("x-a", "a\u{7f}b")],
        ),
        get(
            "/".to_owned(),
            vec![bearer(&token), header("Content-Length", "abc")],
        ),
        get(format!("/?access_token={token}&access_token=x"), vec![]),
        get("/#frag".to_owned(), vec![bearer(&token)]),
        get("/".to_owned(), vec![bearer(&format!("x Bearer: {token}"))]),
        get(
            format!("/?access_token={token}"),
            vec![header("Authorization", "Basic Zm9vOmJhcg==")],
        ),
    ];
    let verdicts = envoy_verdicts(&requests);

    assert_eq!(
        verdicts[0], "403 rbac_access_denied_matched_policy[none]",
        "`x Bearer: <jwt>`: no token found, so RBAC sees no principal"
    );
    assert_eq!(
        verdicts[1], "401 jwt_authn_access_denied{Jwt_header_is_an_invalid_Base64url_encoded}",
        "a valid header token and a garbled query token"
    );
    assert_eq!(verdicts[2], "200 via_upstream", "`access%5Ftoken=<jwt>`");
    assert_eq!(verdicts[3], "400 -", "control byte in a header value");
    assert_eq!(verdicts[4], "400 -", "DEL in a header value");
    assert_eq!(verdicts[5], "400 -", "`Content-Length: abc`");
    assert_eq!(
        verdicts[6], "200 via_upstream",
        "the first `access_token` is read"
    );
    assert_eq!(
        verdicts[7], "400 path_normalization_failed",
        "a fragment in the path"
    );
    assert_eq!(
        verdicts[8], "401 jwt_authn_access_denied{Jwt_header_is_an_invalid_Base64url_encoded}",
        "`Bearer x Bearer: <jwt>`"
    );
    assert_eq!(
        verdicts[9], "200 via_upstream",
        "a query token beside `Authorization: Basic`"
    );
}

/// Returns a new path in this test run's folder.
fn scratch_path(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let folder =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("final8-hunt-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temporary folder");
    folder.join(format!("{}-{name}", NEXT.fetch_add(1, Ordering::Relaxed)))
}

/// Writes `shop/jwt` and `shop/require-jwt`, the objects behind [`mint::istiod_filters`], to one file.
fn policy_file() -> PathBuf {
    let authentication = json!({
        "apiVersion": "security.istio.io/v1",
        "kind": "RequestAuthentication",
        "metadata": {"name": "jwt", "namespace": "shop"},
        "spec": {"jwtRules": [{"issuer": mint::ISSUER, "jwks": mint::jwks()}]},
    });
    let authorization = json!({
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "require-jwt", "namespace": "shop"},
        "spec": {"rules": [{"from": [{"source": {"requestPrincipals": [format!("{}/*", mint::ISSUER)]}}]}]},
    });
    // JSON is YAML, so each document goes on its own line after a `---` separator.
    let path = scratch_path("policies.yaml");
    std::fs::write(
        &path,
        format!("---\n{authentication}\n---\n{authorization}\n"),
    )
    .expect("policy file written");
    path
}

fn idflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_idflow"))
}

/// Runs `idflow check -o json` for shop/orders on [`policy_file`] with `args` and returns
/// `STATUS DETAILS`.
fn check_verdict(args: &[&str]) -> String {
    let output = idflow()
        .args(["check", "-o", "json", "--workload", "shop/orders", "-f"])
        .arg(policy_file())
        .args(args)
        .output()
        .expect("idflow runs");
    let verdict: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "check printed no JSON ({error}); standard error: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let details = verdict["response_code_details"].as_str().unwrap_or("-");
    format!("{} {details}", verdict["status"])
}

/// Runs `idflow decode -o json` on `input` and returns the exit status, the problem codes and
/// standard error.
fn decode_outcome(input: &str) -> (i32, Vec<String>, String) {
    let output = run_decode(input, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let codes = serde_json::from_slice::<Value>(&output.stdout)
        .map(|json| support::problem_codes(&json))
        .unwrap_or_default();
    (output.status.code().unwrap_or(-1), codes, stderr)
}

/// `Authorization: x Bearer: <jwt>`: Envoy finds no `Bearer ` (with its space) in the value, so
/// the request goes on without a token and RBAC denies it for want of a principal (403), as
/// decode's `missing_scheme` states. Pasted without the header name, the text is read as the
/// value after `Bearer `, where Envoy returned the 401 that `mesh_rejects_format` states.
#[test]
fn decode_bearer_colon_text() {
    let token = token();
    let (_, line_codes, _) = decode_outcome(&format!("Authorization: x Bearer: {token}"));
    let (_, bare_codes, _) = decode_outcome(&format!("x Bearer: {token}"));

    assert!(
        line_codes.contains(&"missing_scheme".to_owned()),
        "{line_codes:?}"
    );
    assert!(
        !line_codes.contains(&"mesh_rejects_format".to_owned()),
        "{line_codes:?}"
    );
    assert!(
        bare_codes.contains(&"mesh_rejects_format".to_owned()),
        "{bare_codes:?}"
    );
}

/// check agrees with Envoy on the same value: no token, so RBAC denies.
#[test]
fn check_bearer_colon_no_token() {
    let value = format!("Authorization: x Bearer: {}", token());

    assert_eq!(
        check_verdict(&["-H", &value]),
        "403 rbac_access_denied_matched_policy[none]"
    );
}

/// A curl command with a valid `Authorization: Bearer <jwt>` and a garbled `access_token` query
/// parameter: Envoy's jwt_authn rejected the query token with 401. decode reads the header
/// token, reports the query token with Envoy's status and exits 1.
#[test]
fn decode_curl_header_and_query() {
    let token = token();
    let input = format!(
        "curl -H 'Authorization: Bearer {token}' 'https://orders.test/?access_token=x{token}'"
    );
    let output = run_decode(&input, &[]);
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let rejected = json["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|problem| problem["code"] == "other_token_rejected")
        .map(|problem| problem["message"].to_string())
        .unwrap_or_default();

    assert_eq!(output.status.code(), Some(1), "{json} {stderr}");
    assert!(
        rejected.contains("Jwt header is an invalid Base64url encoded"),
        "{json}"
    );
}

/// check with the same header and query returns Envoy's 401.
#[test]
fn check_header_and_query() {
    let token = token();
    let header = format!("Authorization: Bearer {token}");
    let path = format!("/?access_token=x{token}");

    assert_eq!(
        check_verdict(&["-H", &header, "--path", &path]),
        "401 jwt_authn_access_denied{Jwt_header_is_an_invalid_Base64url_encoded}"
    );
}

/// `?access%5Ftoken=<jwt>`: Envoy decodes query parameter names and accepted the token (200).
/// decode finds no token and exits 2.
#[test]
fn decode_encoded_query_name() {
    let input = format!("https://orders.test/?access%5Ftoken={}", token());
    let (code, codes, stderr) = decode_outcome(&input);

    assert_eq!(code, 0, "{codes:?} {stderr}");
}

/// Two `access_token` parameters: Envoy reads the first, and decode does too.
#[test]
fn decode_first_query_token() {
    let input = format!(
        "https://orders.test/?access_token={}&access_token=x",
        token()
    );
    let (code, codes, stderr) = decode_outcome(&input);

    assert_eq!(code, 0, "{codes:?} {stderr}");
}

/// Envoy's HTTP/1 codec returned 400 before any filter ran for a header value with a control byte
/// or DEL, and for a `Content-Length` that is not a number. check passes each to the filters.
#[test]
fn check_codec_rejects_header_bytes() {
    let token = token();
    let authorization = format!("Authorization: Bearer {token}");
    for header in ["x-a: a\u{1}b", "x-a: a\u{7f}b", "Content-Length: abc"] {
        let verdict = check_verdict(&["-H", &authorization, "-H", header]);

        assert!(verdict.starts_with("400 "), "{header:?}: {verdict}");
    }
}

/// A fragment in the path: Envoy returned 400 `path_normalization_failed`, and check agrees.
#[test]
fn check_fragment_in_path() {
    let header = format!("Authorization: Bearer {}", token());

    assert_eq!(
        check_verdict(&["-H", &header, "--path", "/#frag"]),
        "400 path_normalization_failed"
    );
}

/// Runs `idflow check` for a request that [`policy_file`] denies, with its standard output on
/// `stdout`, and returns the exit status.
fn check_denied_status(stdout: Stdio) -> Option<i32> {
    idflow()
        .args(["check", "--workload", "shop/orders", "-f"])
        .arg(policy_file())
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::null())
        .status()
        .expect("idflow runs")
        .code()
}

/// A denied request exits 1. With standard output on a pipe whose reader has gone (as
/// `check … | grep -q` leaves it), check exits 0, so the script reads the denial as an allow.
#[test]
fn check_closed_pipe_keeps_status() {
    assert_eq!(
        check_denied_status(Stdio::null()),
        Some(1),
        "standard output open"
    );

    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    assert_eq!(check_denied_status(writer.into()), Some(1), "closed pipe");
}

/// Writes `text` to a new file in this test run's folder.
fn write_file(name: &str, text: &str) -> PathBuf {
    let path = scratch_path(name);
    std::fs::write(&path, text).expect("file written");
    path
}

/// Returns the file's path as text, for command arguments and TOML values.
fn path_text(path: &Path) -> String {
    path.to_str().expect("UTF-8 path").to_owned()
}

/// Returns an RS256 token signed by [`mint::key`] whose payload is
/// `{"iss":…,"sub":"alice",MEMBERS}`, written as given.
fn raw_token(members: &str) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let header = json!({"alg": "RS256", "typ": "JWT", "kid": mint::KID}).to_string();
    let payload = format!(r#"{{"iss":"{}","sub":"alice",{members}}}"#, mint::ISSUER);
    mint::sign(
        mint::key(),
        &URL_SAFE_NO_PAD.encode(header),
        &URL_SAFE_NO_PAD.encode(payload),
    )
}

/// Runs `idflow decode` on `input` with an edge profile whose `[token]` and other tables are
/// `tables` (TOML), keyed by [`mint::jwks`], and returns the `edge` object.
fn edge_with(input: &str, tables: &str) -> Value {
    let jwks = write_file("jwks.json", &mint::jwks());
    let text = format!("{tables}\n[keys]\njwks = {:?}\n", path_text(&jwks));
    let profile = write_file("edge.toml", &text);
    let (_, json) = support::decode_json(input, &["--edge-profile", &path_text(&profile)]);
    json["edge"].clone()
}

/// `forward.claims` copies claims with JavaScript's `String()`: `true` as `true`, `null` as
/// `null`, an object as `[object Object]`, nested arrays flattened with commas and `null` in an
/// array as an empty string, `1e21` as `1e+21` and `1e-7` as `1e-7`.
#[test]
fn edge_claims_as_javascript_string() {
    use std::fmt::Write as _;

    let cases = [
        ("flag", "true", "true"),
        ("nothing", "null", "null"),
        ("object", r#"{"a":1}"#, "[object Object]"),
        ("nested", "[[1,2],[3]]", "1,2,3"),
        ("holes", "[1,null,2]", "1,,2"),
        ("big", "1e21", "1e+21"),
        ("small", "1e-7", "1e-7"),
        ("twenty", "100000000000000000000", "100000000000000000000"),
    ];
    let mut tables = "[forward.claims]\n".to_owned();
    for (claim, _, _) in cases {
        writeln!(tables, "{claim} = \"x-{claim}\"").expect("writing to a String");
    }
    let members: Vec<String> = cases
        .iter()
        .map(|(claim, json, _)| format!(r#""{claim}":{json}"#))
        .collect();
    let edge = edge_with(
        &format!("Bearer {}", raw_token(&members.join(","))),
        &tables,
    );
    let headers = edge["forwarded_headers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (claim, json, expected) in cases {
        let name = format!("x-{claim}");
        let value = headers
            .iter()
            .find(|header| header["name"] == name.as_str())
            .map(|header| header["value"].clone());

        assert_eq!(
            value,
            Some(json!(expected)),
            "claim {claim} = {json}: {edge}"
        );
    }
}

/// Runs `idflow decode -o json` on `input` with an edge profile that reads the token from cookie
/// `jwt`, and returns the exit status and the JSON output (`null` when decode printed none).
fn decode_cookie_edge(input: &str) -> (Option<i32>, Value, String) {
    let jwks = write_file("jwks.json", &mint::jwks());
    let text = format!(
        "[token]\ncookie = \"jwt\"\n[keys]\njwks = {:?}\n",
        path_text(&jwks)
    );
    let profile = write_file("edge.toml", &text);
    let output = run_decode(input, &["--edge-profile", &path_text(&profile)]);
    let json = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), json, stderr)
}

/// `curl -b 'jwt=<jwt>'` and `curl --cookie 'a=1;jwt=<jwt>'` send `Cookie: jwt=<jwt>`, which
/// decode reads as it reads the same cookie given with `-H 'Cookie: …'`, and the edge profile
/// that reads cookie `jwt` allows the token.
#[test]
fn decode_curl_cookie_option() {
    let token = token();
    for input in [
        format!("curl -b 'jwt={token}' https://orders.test/"),
        format!("curl --cookie 'a=1;jwt={token}' https://orders.test/"),
    ] {
        let (code, json, stderr) = decode_cookie_edge(&input);

        assert_eq!(code, Some(0), "{stderr}");
        assert_eq!(json["edge"]["verdict"], "allow", "{json}");
    }
}

/// `curl -H 'Cookie: a=1; jwt=<jwt>'`: decode names the location `cookie jwt`, and the edge reads
/// the same `Cookie` header, allows and adds no note.
#[test]
fn edge_curl_cookie_header_note() {
    let input = format!(
        "curl -H 'Cookie: a=1; jwt={}' https://orders.test/",
        token()
    );
    let (_, json, stderr) = decode_cookie_edge(&input);

    assert_eq!(
        json["found_as"], "curl command, Cookie header, cookie jwt",
        "{stderr}"
    );
    assert_eq!(json["edge"]["verdict"], "allow", "{json}");
    assert_eq!(json["edge"]["notes"], json!([]), "{json}");
}

/// `Cookie: jwt="<jwt>"`: decode finds the token in cookie `jwt`. The edge validates the value
/// with its quotes, because it is not known whether the `cookies` module removes them. Its note
/// names the quotes, not another cookie. Its reason does not blame a scheme removed with
/// `replace`, which the profile applies to headers only.
#[test]
fn edge_quoted_cookie_wording() {
    let (_, json, stderr) = decode_cookie_edge(&format!("Cookie: jwt=\"{}\"", token()));
    let edge = &json["edge"];
    let notes = edge["notes"].to_string();
    let reason = edge["reason"].as_str().unwrap_or_default();

    assert_eq!(json["found_as"], "Cookie header, cookie jwt", "{stderr}");
    assert!(!notes.contains("another cookie"), "{notes}");
    assert!(!reason.contains("replace"), "{reason}");
}

/// A cookie whose name ends in `jwt` is not cookie `jwt`: the edge validates the later `jwt`.
#[test]
fn edge_cookie_name_exact() {
    let (code, json, stderr) = decode_cookie_edge(&format!("Cookie: xjwt=x; jwt={}", token()));

    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json["edge"]["verdict"], "allow", "{json}");
}

/// A DENY on `/a` for the pods labelled `istio: my-gw`.
const ISTIO_LABEL_DENY: &str = "\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: gw, namespace: gw-ns}
spec:
  selector: {matchLabels: {istio: my-gw}}
  action: DENY
  rules: [{to: [{operation: {paths: [/a]}}]}]
";

/// Runs `idflow check -o json` for `workload` on `policy` with `args` and returns the verdict.
fn check_json_at(workload: &str, policy: &Path, args: &[&str]) -> Value {
    let output = idflow()
        .args(["check", "-o", "json", "--workload", workload, "-f"])
        .arg(policy)
        .args(args)
        .output()
        .expect("idflow runs");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "check printed no JSON ({error}); standard error: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Istio's gateway chart labels the pods of release `NAME` with `app: NAME` and `istio: NAME`
/// minus an `istio-` prefix (`gateway.selectorLabels` in
/// manifests/charts/gateways/gateway/templates/_helpers.tpl of istio/istio). So release
/// `my-gw` carries `istio: my-gw` and the DENY applies (403). check takes gw-ns/my-gw as that
/// release, with both labels.
#[test]
fn check_helm_release_without_prefix() {
    let policy = write_file("istio-label.yaml", ISTIO_LABEL_DENY);
    let verdict = check_json_at("gw-ns/my-gw", &policy, &["--path", "/a"]);

    assert_eq!(verdict["status"], 403, "{verdict}");
}

/// Control: with the prefixed name, check derives `istio: my-gw` and denies `/a`.
#[test]
fn check_helm_release_with_prefix() {
    let policy = write_file("istio-label.yaml", ISTIO_LABEL_DENY);
    let verdict = check_json_at("gw-ns/istio-my-gw", &policy, &["--path", "/a"]);

    assert_eq!(verdict["status"], 403, "{verdict}");
}

/// Two documents of one object in one file: the later replaces the earlier, as across files, but
/// only the cross-file case lists the replacement in the JSON `warnings`. The same-file notice goes
/// to standard error alone, so a script reading `-o json` does not see it.
#[test]
fn check_same_file_replacement_warning() {
    let first = ISTIO_LABEL_DENY
        .replace("{istio: my-gw}", "{app: orders}")
        .replace("gw-ns", "shop");
    let second = first.replace("[/a]", "[/b]");
    let policy = write_file("twice.yaml", &format!("{first}---\n{second}"));
    let verdict = check_json_at("shop/orders", &policy, &["--path", "/a"]);

    assert_eq!(
        verdict["status"], 200,
        "the later DENY on /b replaced the one on /a"
    );
    let warnings = verdict["warnings"].to_string();
    assert!(warnings.contains("replaces"), "{warnings}");
}

/// Payload members that JavaScript's `JSON.parse` reads as numbers and Envoy 1.40 judged:
/// `nbf` -1 is rejected (401), an `exp` with a fraction or an exponent is accepted (200).
const PAYLOAD_NUMBERS: [(&str, &str); 3] = [
    (
        r#""nbf":-1,"exp":4102444800"#,
        "401 jwt_authn_access_denied{Jwt_payload_[nbf]_field_is_not_a_positive_64_bit_integer}",
    ),
    (r#""exp":4102444800.5"#, "200 via_upstream"),
    (r#""exp":4.1e9"#, "200 via_upstream"),
];

#[test]
fn envoy_payload_numbers() {
    let requests: Vec<Sent> = PAYLOAD_NUMBERS
        .iter()
        .map(|(members, _)| get("/".to_owned(), vec![bearer(&raw_token(members))]))
        .collect();
    let verdicts = envoy_verdicts(&requests);

    for ((members, expected), verdict) in PAYLOAD_NUMBERS.iter().zip(&verdicts) {
        assert_eq!(verdict, expected, "{members}");
    }
}

/// check returns Envoy's verdict for each payload, and decode marks only the rejected one.
#[test]
fn check_payload_numbers() {
    for (members, expected) in PAYLOAD_NUMBERS {
        let header = format!("Authorization: Bearer {}", raw_token(members));
        let (code, codes, stderr) = decode_outcome(&format!("Bearer {}", raw_token(members)));

        assert_eq!(check_verdict(&["-H", &header]), expected, "{members}");
        let rejected = expected.starts_with("401");
        assert_eq!(code, i32::from(rejected), "{members}: {codes:?} {stderr}");
    }
}

/// The module skips `nbf` by default (`ignoreNotBefore` is true), so the edge allows `nbf` -1
/// while Envoy returns 401. The edge column notes that the mesh rejects the token with that 401
/// whatever the edge decides.
#[test]
fn edge_negative_nbf_note() {
    let edge = edge_with(
        &format!("Bearer {}", raw_token(r#""nbf":-1,"exp":4102444800"#)),
        "",
    );
    let notes = edge["notes"].to_string();

    assert_eq!(edge["verdict"], "allow", "{edge}");
    assert!(notes.contains("401"), "{notes}");
}

/// Policies on both labels of the pods of the gateway chart's release `my-gw`: `app: my-gw`
/// (an ALLOW of `/a` and `/b`) and `istio: my-gw` (a DENY of `/a`).
const MY_GW_BOTH_LABELS: &str = "\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: gw, namespace: gw-ns}
spec:
  selector: {matchLabels: {istio: my-gw}}
  action: DENY
  rules: [{to: [{operation: {paths: [/a]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-paths, namespace: gw-ns}
spec:
  selector: {matchLabels: {app: my-gw}}
  rules: [{to: [{operation: {paths: [/a, /b]}}]}]
";

/// The pods of release `my-gw` carry both labels, so Istio's DENY, evaluated before ALLOW, denies
/// `/a`, and `/b` is allowed. The what-if row for gw-ns/my-gw carries both labels.
#[test]
fn what_if_release_without_prefix() {
    let policy = write_file("my-gw.yaml", MY_GW_BOTH_LABELS);
    let denied = support::what_if_statuses(&policy, "/a", &[]);
    let allowed = support::what_if_statuses(&policy, "/b", &[]);

    assert!(
        allowed.contains(&("gw-ns/my-gw".to_owned(), 200)),
        "{allowed:?}"
    );
    assert!(
        denied.contains(&("gw-ns/my-gw".to_owned(), 403)),
        "{denied:?}"
    );
}

/// A curl command with a query token and `Authorization: Basic …`: Envoy skips the header, which
/// lacks the `Bearer ` prefix, reads the query token and returned 200. decode reads the query
/// token too and exits 0.
#[test]
fn decode_query_token_beside_basic() {
    let input = format!(
        "curl 'https://orders.test/?access_token={}' -H 'Authorization: Basic Zm9vOmJhcg=='",
        token()
    );
    let (code, codes, stderr) = decode_outcome(&input);

    assert_eq!(code, 0, "{codes:?} {stderr}");
}

/// `curl -G -d access_token=<jwt> URL` appends the data to the URL as its query (curl's `-G`
/// sends `-d` data in a GET request), so Envoy reads `access_token` as it did for a query written
/// in the URL, and decode reads it there too.
#[test]
fn decode_curl_get_data() {
    let token = token();
    for input in [
        format!("curl -G -d access_token={token} https://orders.test/"),
        format!("curl --get --data-urlencode access_token={token} https://orders.test/"),
    ] {
        let (code, codes, stderr) = decode_outcome(&input);

        assert_eq!(code, 0, "{input:.20}: {codes:?} {stderr}");
    }
}

/// The QUERY method through Envoy 1.40: 400 `query_missing_content_type` without a
/// `Content-Type`, and 200 with one.
#[test]
fn envoy_query_method() {
    let token = token();
    let query = |headers| Sent {
        method: "QUERY",
        path: "/".to_owned(),
        headers,
    };
    let requests = [
        query(vec![bearer(&token)]),
        query(vec![
            bearer(&token),
            header("Content-Type", "application/json"),
        ]),
    ];
    let verdicts = envoy_verdicts(&requests);

    assert_eq!(verdicts[0], "400 query_missing_content_type");
    assert_eq!(verdicts[1], "200 via_upstream");
}

/// check returns 400 `http1.codec_error` for QUERY, with or without a `Content-Type`, where
/// Envoy passed it on with one and named the missing header without.
#[test]
fn check_query_method() {
    let header = format!("Authorization: Bearer {}", token());
    let without = check_verdict(&["-H", &header, "--method", "QUERY"]);
    let with = check_verdict(&[
        "-H",
        &header,
        "-H",
        "Content-Type: application/json",
        "--method",
        "QUERY",
    ]);

    assert_eq!(with, "200 via_upstream");
    assert_eq!(without, "400 query_missing_content_type");
}
