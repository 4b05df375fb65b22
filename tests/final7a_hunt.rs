//! Cases found by using `idflow decode`, its edge column and `idflow check` as a new user would,
//! compared with a real Envoy 1.40 and with Akamai's JWT module (`JWTValidator` in
//! `delivery/common/jwt/lib/jwt.js` of akamai/edgeworkers-examples).
//!
//! The Envoy filters are written by hand the way istiod writes them for one `jwtRules` entry: a
//! provider under `requires_any` with `allow_missing`, and RBAC that requires a request principal
//! of the issuer. `envoy_verdicts_behind_findings` records the Envoy verdicts the other tests rest
//! on. Tests marked `#[ignore = "finding: …"]` fail today: each assert expects what Envoy or the
//! EdgeWorker does.

mod edge6_common;
mod envoy_harness;
#[path = "what_if/mint.rs"]
mod mint;
mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use edge6_common::{p256_spki, pem, rsa_pem, write_file};
use envoy_harness::client::WireRequest;
use envoy_harness::envoy;
use serde_json::{Value, json};
use support::{decode_json, problem_codes, run_decode};

/// The issuer of the second policy file, which replaces the first one's `shop/jwt`.
const OTHER_ISSUER: &str = "https://other.shop.test";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn path_text(path: &Path) -> String {
    path.to_str().expect("UTF-8 path").to_owned()
}

/// Returns a valid RS256 token of [`mint::ISSUER`] for audience `orders`, signed by [`mint::key`].
fn token() -> String {
    mint::mint(
        mint::key(),
        &mint::claims(mint::ISSUER, "orders", now(), 3600),
    )
}

/// Returns an RS256 token signed by [`mint::key`] whose payload is `{"iss":…,"sub":"alice",MEMBERS}`,
/// written as given so that it can hold JSON that `serde_json` would not write.
fn raw_token(members: &str) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": mint::KID}).to_string();
    let payload = format!(r#"{{"iss":"{}","sub":"alice",{members}}}"#, mint::ISSUER);
    mint::sign(
        mint::key(),
        &URL_SAFE_NO_PAD.encode(header),
        &URL_SAFE_NO_PAD.encode(payload),
    )
}

/// Writes an edge profile with the checks given as TOML lines under `[checks]`, keyed by [`mint::jwks`].
fn edge_profile(checks: &str) -> PathBuf {
    let jwks = write_file("jwks.json", &mint::jwks());
    let text = format!(
        "name = \"final7a\"\n[checks]\n{checks}\n[keys]\njwks = {:?}\n",
        path_text(&jwks)
    );
    write_file("edge.toml", &text)
}

/// Runs `idflow decode` on `input` with the edge profile `profile` and returns its `edge` object.
fn edge(input: &str, profile: &Path) -> Value {
    let (_, json) = decode_json(input, &["--edge-profile", &path_text(profile)]);
    json["edge"].clone()
}

fn edge_notes(edge: &Value) -> Vec<String> {
    edge["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|note| note.as_str().map(str::to_owned))
        .collect()
}

fn request_authentication(issuer: &str) -> String {
    json!({
        "apiVersion": "security.istio.io/v1",
        "kind": "RequestAuthentication",
        "metadata": {"name": "jwt", "namespace": "shop"},
        "spec": {"jwtRules": [{"issuer": issuer, "jwks": mint::jwks()}]},
    })
    .to_string()
}

fn require_principal(issuer: &str) -> String {
    json!({
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "require-jwt", "namespace": "shop"},
        "spec": {"rules": [{"from": [{"source": {"requestPrincipals": [format!("{issuer}/*")]}}]}]},
    })
    .to_string()
}

/// Writes `shop/jwt` for `issuer` and `shop/require-jwt` to one policy file.
fn policy_file(issuer: &str) -> PathBuf {
    // JSON is YAML, so each document goes on its own line after a `---` separator.
    let text = format!(
        "---\n{}\n---\n{}\n",
        request_authentication(issuer),
        require_principal(issuer)
    );
    write_file("policies.yaml", &text)
}

/// A request to send through Envoy: the path with its query, and its `Authorization` values, one
/// header each.
type Sent = (String, Vec<String>);

/// Returns a request for `/` that carries `value` in its `Authorization` header.
fn with_authorization(value: String) -> Sent {
    ("/".to_owned(), vec![value])
}

/// Sends `requests` through an Envoy with the filters of `issuer` and returns `STATUS DETAILS`
/// for each.
fn envoy_verdicts(issuer: &str, requests: &[Sent]) -> Vec<String> {
    let wires = requests
        .iter()
        .map(|(path, authorization)| WireRequest {
            method: "GET".to_owned(),
            path: path.clone(),
            host: "orders.shop.svc.cluster.local:8080".to_owned(),
            headers: authorization
                .iter()
                .map(|value| ("Authorization".to_owned(), value.clone()))
                .collect(),
            peer: None,
            source_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            sni: None,
        })
        .collect();
    envoy_harness::http_verdicts(
        mint::istiod_filters(issuer),
        envoy::free_port(),
        wires,
        "final7a",
    )
}

#[test]
fn envoy_verdicts_behind_findings() {
    let token = token();
    let requests = [
        with_authorization(format!("x Bearer {token}")),
        with_authorization(format!("Bearer  {token}")),
        with_authorization(format!("Bearer {token}")),
        (format!("/orders?x=1&access_token={token}"), Vec::new()),
        ("/".to_owned(), vec![format!("Bearer {token}"); 2]),
    ];
    let verdicts = envoy_verdicts(mint::ISSUER, &requests);
    assert_eq!(verdicts[0], "200 via_upstream", "`x Bearer <jwt>`");
    assert_eq!(
        verdicts[1], "200 via_upstream",
        "`Bearer  <jwt>`, two spaces"
    );
    assert_eq!(verdicts[2], "200 via_upstream", "`Bearer <jwt>`");
    assert_eq!(verdicts[3], "200 via_upstream", "`?access_token=<jwt>`");
    assert_eq!(
        verdicts[4],
        "401 jwt_authn_access_denied{Jwt_is_not_in_the_form_of_Header.Payload.Signature_with_two_dots_and_3_sections}",
        "two `Authorization: Bearer <jwt>` headers"
    );

    // The object the cluster keeps when a second file replaces `shop/jwt` and `shop/require-jwt`.
    let replaced = envoy_verdicts(
        OTHER_ISSUER,
        &[with_authorization(format!("Bearer {token}"))],
    );
    assert_eq!(
        replaced[0], "401 jwt_authn_access_denied{Jwt_issuer_is_not_configured}",
        "token of the replaced issuer"
    );
}

/// `x Bearer <jwt>`: Envoy reads the token after `Bearer ` and returned 200, as decode's own
/// `text_before_scheme` warning states. The edge note blames a case difference in the scheme and
/// claims that the mesh treats the token as missing.
#[test]
fn edge_text_before_scheme_note() {
    let edge = edge(&format!("x Bearer {}", token()), &edge_profile(""));
    for note in edge_notes(&edge) {
        assert!(
            !note.contains("treats the forwarded token as missing"),
            "note: {note}"
        );
    }
}

/// `Bearer  <jwt>` with two spaces: `replace('Bearer ', '')` leaves a space in front of the
/// token, so the signing input differs and the signature check fails. The reason blames the key
/// or a change after signing, where the sibling case (`x Bearer`) names the text `replace` left.
#[test]
fn edge_double_space_reason() {
    let edge = edge(&format!("Bearer  {}", token()), &edge_profile(""));
    assert_eq!(edge["verdict"], "deny", "{edge}");
    let reason = edge["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("whitespace"), "reason: {reason}");
}

/// A bare token: decode reads it as sent after `Bearer ` and lists no problem, but the edge note
/// claims that Envoy treats it as missing.
#[test]
fn edge_bare_token_note() {
    let input = token();
    let (_, json) = decode_json(&input, &[]);
    assert_eq!(
        problem_codes(&json),
        Vec::<String>::new(),
        "decode problems"
    );
    let edge = edge(&input, &edge_profile(""));
    for note in edge_notes(&edge) {
        assert!(
            !note.contains("treats the token as missing"),
            "note: {note}"
        );
    }
}

/// JavaScript's `JSON.parse` reads `1e400` as `Infinity` and keeps a lone surrogate escape, so
/// the module decodes these payloads and goes on. Envoy rejects them (`Jwt payload is an invalid
/// JSON`), so the edge allows what the mesh rejects: a verdict disagreement idflow does not show.
#[test]
fn edge_json_parse_accepts() {
    let profile = edge_profile("check_exp = true");
    let exp = now() + 3600;
    for members in [
        format!(r#""exp":{exp},"quota":1e400"#),
        format!(r#""exp":{exp},"name":"\ud800""#),
        r#""exp":1e400"#.to_owned(),
    ] {
        let edge = edge(&format!("Bearer {}", raw_token(&members)), &profile);
        assert_eq!(
            edge["verdict"], "allow",
            "payload members {members}: {edge}"
        );
    }
}

/// `aud` `["x", 1]`: the module's `includes` finds no accepted audience and throws. The reason
/// lists the claim without its number.
#[test]
fn edge_audience_reason_lists_all() {
    let profile = edge_profile("audiences = [\"orders\"]");
    let edge = edge(
        &format!("Bearer {}", raw_token(r#""aud":["x",1]"#)),
        &profile,
    );
    assert_eq!(edge["verdict"], "deny", "{edge}");
    let reason = edge["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("[x, 1]"), "reason: {reason}");
}

/// `--key RSA.pem --key P256.pem` with `pem_algorithm = "ES256"`: the RSA key cannot be imported
/// for ECDSA. The reason names both files as one, `PEM block 1 of A, B`.
#[test]
fn edge_pem_reason_names_file() {
    let rsa = write_file("rsa.pem", &rsa_pem(mint::key()));
    let p256 = write_file("p256.pem", &pem("PUBLIC KEY", &p256_spki()));
    let profile = write_file("edge.toml", "[keys]\npem_algorithm = \"ES256\"\n");
    let (_, json) = decode_json(
        &format!("Bearer {}", token()),
        &[
            "--edge-profile",
            &path_text(&profile),
            "--key",
            &path_text(&rsa),
            "--key",
            &path_text(&p256),
        ],
    );
    let reason = json["edge"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("RSA public key"), "reason: {reason}");
    let p256_name = p256
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    assert!(!reason.contains(p256_name), "reason: {reason}");
}

/// Two files that both hold `shop/jwt` and `shop/require-jwt`: a cluster keeps one object per
/// name, the last applied, so the token of the first file's issuer meets only the second issuer.
/// Envoy with the surviving objects returned 401 `Jwt issuer is not configured`. check accepts
/// the token with the first file's `shop/jwt` and then denies with the second file's
/// `shop/require-jwt` (403), with no warning about the name.
#[test]
fn check_same_name_last_file_wins() {
    let first = policy_file(mint::ISSUER);
    let second = policy_file(OTHER_ISSUER);
    let args: Vec<String> = [
        "-f",
        &path_text(&first),
        "-f",
        &path_text(&second),
        "--workload",
        "shop/orders",
        "-H",
        &format!("Authorization: Bearer {}", token()),
    ]
    .iter()
    .map(|arg| (*arg).to_owned())
    .collect();
    let verdict = envoy_harness::idflow::check(&args).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        format!("{} {}", verdict.status, verdict.response_code_details),
        "401 jwt_authn_access_denied{Jwt_issuer_is_not_configured}"
    );
}

/// decode `--workload` with the same two files verifies the token with the first file's
/// `shop/jwt`, which the cluster replaced. With the second file alone it reports the token
/// unverified, because no jwtRules entry has its issuer.
#[test]
fn decode_same_name_last_file_wins() {
    let first = policy_file(mint::ISSUER);
    let second = policy_file(OTHER_ISSUER);
    let (_, json) = decode_json(
        &format!("Bearer {}", token()),
        &[
            "--policies",
            &path_text(&first),
            "--policies",
            &path_text(&second),
            "--workload",
            "shop/orders",
        ],
    );
    assert_eq!(
        json["signature"]["status"], "unverified",
        "{}",
        json["signature"]
    );
}

/// Runs `idflow decode` on `input` and returns the exit status and standard error, for inputs
/// where decode may print no JSON.
fn decode_status(input: &str) -> (i32, String) {
    let output = run_decode(input, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().unwrap_or(-1), stderr)
}

/// A curl command that sends `Authorization: Bearer <jwt>` twice, as a script that adds the
/// header on top of a default one does. Envoy 1.40 joined the two values and returned 401 `Jwt is
/// not in the form of Header.Payload.Signature with two dots and 3 sections`, and check agrees.
/// decode reads the first header, lists no problem and exits 0.
#[test]
fn decode_curl_two_authorizations() {
    let header = format!("-H 'Authorization: Bearer {}'", token());
    let (code, stderr) = decode_status(&format!("curl {header} {header} https://api.shop.test/"));
    assert_eq!(code, 1, "stderr: {stderr}");
}

/// `forward.claims` copies claims into headers with JavaScript's `String()`, as the profile
/// documents. `String()` writes a number in its shortest form: `1.0` as `1`, `1e2` as `100`,
/// `-0.0` as `0`, and an integer past 2^53 rounded to a double. The edge column keeps the JSON
/// spelling of a float (`1.0`, `100.0`), so a header the mesh matches on shows another value.
#[test]
fn edge_claim_numbers_as_javascript() {
    use std::fmt::Write as _;

    let jwks = write_file("jwks.json", &mint::jwks());
    let cases = [
        ("one", "1.0", "1"),
        ("hundred", "1e2", "100"),
        ("thousands", "1.5e3", "1500"),
        ("zero", "-0.0", "0"),
        ("large", "12345678901234567890", "12345678901234567000"),
        ("list", "[1.0,2E0]", "1,2"),
    ];
    let mut text = format!("[keys]\njwks = {:?}\n[forward.claims]\n", path_text(&jwks));
    for (claim, _, _) in cases {
        writeln!(text, "{claim} = \"x-{claim}\"").expect("writing to a String");
    }
    let profile = write_file("claims.toml", &text);
    let members: Vec<String> = cases
        .iter()
        .map(|(claim, json, _)| format!(r#""{claim}":{json}"#))
        .collect();
    let edge = edge(
        &format!("Bearer {}", raw_token(&members.join(","))),
        &profile,
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

/// A `forward.claims` entry that names an `X-Ak*` header, on line 4 of the profile. The error
/// points at line 1 and suggests `x-edge-request-id`, the request id header, as the name for a
/// claim header.
#[test]
fn edge_claim_header_error() {
    let jwks = write_file("jwks.json", &mint::jwks());
    let text = format!(
        "[keys]\njwks = {:?}\n[forward.claims]\nsub = \"x-ak-sub\"\n",
        path_text(&jwks)
    );
    let profile = write_file("akamai-header.toml", &text);
    let output = run_decode(
        &format!("Bearer {}", token()),
        &["--edge-profile", &path_text(&profile)],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("akamai-header.toml:4:"), "stderr: {stderr}");
    assert!(!stderr.contains("x-edge-request-id"), "stderr: {stderr}");
}

/// Writes an edge profile that reads the token from cookie `jwt`, keyed by [`mint::jwks`].
fn cookie_profile() -> PathBuf {
    let jwks = write_file("jwks.json", &mint::jwks());
    let text = format!(
        "[token]\ncookie = \"jwt\"\n[keys]\njwks = {:?}\n",
        path_text(&jwks)
    );
    write_file("cookie.toml", &text)
}

/// A curl command with the token in the `access_token` query parameter, which Envoy's jwt_authn
/// reads by default (Envoy 1.40 returned 200). decode exits 2 with "the curl command sends no
/// token".
#[test]
fn decode_curl_query_token() {
    let input = format!(
        "curl 'https://api.shop.test/orders?x=1&access_token={}'",
        token()
    );
    let (code, stderr) = decode_status(&input);
    assert_eq!(code, 0, "stderr: {stderr}");
}

/// The same URL pasted alone. decode reads `https` as a header name and the rest, with the dots of
/// the host name, as a JWE of five segments, and exits 1.
#[test]
fn decode_url_query_token() {
    let input = format!("https://api.shop.test/orders?x=1&access_token={}", token());
    let (code, stderr) = decode_status(&input);
    assert_eq!(code, 0, "stderr: {stderr}");
}

/// An edge profile that reads cookie `jwt` and a pasted `Cookie: jwt=<jwt>` line: the edge
/// column reports that the token came in header `cookie` but the edge reads cookie `jwt`, and
/// denies. The EdgeWorker finds the token in that cookie and accepts it.
#[test]
fn edge_cookie_location_found() {
    let profile = cookie_profile();
    for input in [
        format!("Cookie: jwt={}", token()),
        format!("Cookie: theme=dark; jwt={}", token()),
    ] {
        let edge = edge(&input, &profile);
        assert_eq!(edge["verdict"], "allow", "{edge}");
    }
}

/// `Bearer <jwt>` is an `Authorization` value. With an edge profile that reads cookie `jwt`,
/// `Authorization: Bearer <jwt>` is denied as missing (400), as the Token view's edge column
/// shows, but the same value without the header name passes the edge.
#[test]
fn edge_bearer_value_location() {
    let profile = cookie_profile();
    let token = token();
    let with_name = edge(&format!("Authorization: Bearer {token}"), &profile);
    assert_eq!(with_name["status"], 400, "{with_name}");
    let without_name = edge(&format!("Bearer {token}"), &profile);
    assert_eq!(without_name["status"], 400, "{without_name}");
}
