//! The token inspector tried as a new user would try it, with these inputs:
//!
//! - two `RequestAuthentication` objects on one workload
//! - a token in a `fromHeaders` location with a custom prefix
//! - a nested JWT, a block of header lines and a `Set-Cookie` line
//! - a JWKS URL with a user and password
//! - an edge profile compared with one workload
//! - the Token view's what-if rows
//!
//! Where a mesh verdict is involved, a real Envoy runs with the filters `idflow envoy-config`
//! prints, and its verdict is the expected one.
//!
//! A test marked `#[ignore = "finding: …"]` states the expected behaviour, which idflow does not
//! have yet.

mod envoy_harness;
#[path = "what_if/mint.rs"]
mod mint;
mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use envoy_harness::client::WireRequest;
use envoy_harness::documents::{self, check_orders, policy_file, request_authentication};
use envoy_harness::require_jwt::{self, Request};
use envoy_harness::{envoy, http_verdicts, idflow, scratch_dir};
use serde_json::{Value, json};
use support::tmux::{replay_token_view, what_if_row};
use support::{decode_output, problem_codes};

/// The issuer of the mesh-wide RequestAuthentication in [`two_authentications`]. It uses the same
/// key as [`mint::ISSUER`], so the `iss` claim is the only difference between their tokens.
const ROOT_ISSUER: &str = "https://root-idp.shop.test";

/// The header and prefix of the `fromHeaders` location in [`custom_header_policies`].
const CUSTOM_HEADER: &str = "x-jwt";
const CUSTOM_PREFIX: &str = "Tok ";

/// The gateway's principal, which calls shop/orders in the demo's recorded flows.
const GATEWAY_PRINCIPAL: &str =
    "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Returns an RS256 token of `issuer` for `alice` with audience `audience`, valid for an hour.
fn token_for(issuer: &str, audience: &str) -> String {
    mint::mint(mint::key(), &mint::claims(issuer, audience, now(), 3600))
}

/// Returns a mesh-wide RequestAuthentication for [`ROOT_ISSUER`] (`istio-system/root`) and one for
/// [`mint::ISSUER`] on `app: orders` that requires the audience `orders` (`shop/wl`), both with
/// the default token location.
fn two_authentications(label: &str) -> PathBuf {
    let root = request_authentication(
        "istio-system",
        "root",
        &json!({"jwtRules": [{"issuer": ROOT_ISSUER, "jwks": mint::jwks()}]}),
    );
    let workload = request_authentication(
        "shop",
        "wl",
        &json!({
            "selector": {"matchLabels": {"app": "orders"}},
            "jwtRules": [{"issuer": mint::ISSUER, "jwks": mint::jwks(), "audiences": ["orders"]}],
        }),
    );
    policy_file(&[root, workload], label)
}

/// Returns the policies of [`documents::custom_header_policies`] for [`mint::ISSUER`], with the
/// token in [`CUSTOM_HEADER`] after [`CUSTOM_PREFIX`].
fn custom_header_policies(label: &str) -> PathBuf {
    documents::custom_header_policies(
        mint::ISSUER,
        &mint::jwks(),
        (CUSTOM_HEADER, CUSTOM_PREFIX),
        label,
    )
}

/// Sends one GET of `/` with `headers` through Envoy set up for `policies` on shop/orders and
/// returns `STATUS DETAILS`.
fn envoy_verdict(policies: &Path, headers: &[(&str, &str)], label: &str) -> String {
    let headers = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    let request: Request = ("/".to_owned(), headers);
    require_jwt::verdicts(policies, &[request], label).remove(0)
}

/// Checks the policy named for a jwt_authn denial when two `RequestAuthentication` objects cover
/// the workload. Envoy's jwt_authn ends a `requires_any` with the status of the last provider, in
/// provider order, that failed for a reason other than a missing token or an unknown issuer
/// (`AnyVerifierImpl::onComplete` in `source/extensions/filters/http/jwt_authn/verifier.cc`).
/// Here that is the audience check of `shop/wl`, because `istio-system/root` only reports
/// `Jwt issuer is not configured`. So the deciding policy is `shop/wl`, the policy of the rejected
/// step in check's own explanation.
#[test]
fn check_audience_denial_names_workload_policy() {
    let policies = two_authentications("tester-token-attribution");
    let token = token_for(mint::ISSUER, "account");
    let bearer = format!("Bearer {token}");

    let envoy = envoy_verdict(
        &policies,
        &[("authorization", &bearer)],
        "tester-token-attribution",
    );
    assert_eq!(
        envoy, "403 jwt_authn_access_denied{Audiences_in_Jwt_are_not_allowed}",
        "Envoy's verdict"
    );

    let verdict = check_orders(&policies, &["--token", &token]);
    assert_eq!(
        verdict.response_code_details, "jwt_authn_access_denied{Audiences_in_Jwt_are_not_allowed}",
        "{verdict:?}"
    );
    assert_eq!(
        verdict.policy.as_deref(),
        Some("shop/wl"),
        "{}",
        verdict.explain()
    );
}

/// Checks decode on a header whose `fromHeaders` entry sets a prefix. Envoy strips the prefix and
/// accepts the token, so decode must not report `Tok ` as text before the token, nor exit with 1,
/// when the policies it was given read the token there.
#[test]
fn decode_custom_prefix_not_leading_text() {
    let policies = custom_header_policies("tester-token-prefix");
    let token = token_for(mint::ISSUER, "orders");
    let value = format!("{CUSTOM_PREFIX}{token}");

    let envoy = envoy_verdict(&policies, &[(CUSTOM_HEADER, &value)], "tester-token-prefix");
    assert_eq!(envoy, "200 via_upstream", "Envoy's verdict");

    let input = format!("{CUSTOM_HEADER}: {value}");
    let policy_arg = policies.to_string_lossy();
    let (code, json, stderr) = decode_output(
        &input,
        &["--policies", &policy_arg, "--workload", "shop/orders"],
    );
    assert_eq!(json["signature"]["status"], "verified", "{json} {stderr}");
    assert!(
        !problem_codes(&json).contains(&"leading_text".to_owned()),
        "the prefix is the configured one: {json}"
    );
    assert_eq!(code, 0, "the mesh accepts this header: {json}");
}

/// Checks the what-if row for a pasted header line, which `check -H` with that header allows.
/// The row for the same workload must agree, so it must send the token where it was pasted, as
/// decode does for a curl command, and not only as `Authorization: Bearer`.
#[test]
fn what_if_uses_pasted_header() {
    let policies = custom_header_policies("tester-token-what-if-header");
    let token = token_for(mint::ISSUER, "orders");
    let header = format!("{CUSTOM_HEADER}: {CUSTOM_PREFIX}{token}");

    let verdict = check_orders(
        &policies,
        &["-H", &header, "--source-principal", GATEWAY_PRINCIPAL],
    );
    assert_eq!(verdict.status, 200, "check's verdict: {verdict:?}");

    let session = replay_token_view("tester-what-if-header", &policies, &header);
    let screen = session.capture();
    let row = what_if_row(&screen, "shop/orders");
    assert!(row.contains("allow 200"), "what-if row: {row}\n{screen}");
}

/// Checks the what-if row for a lower-case method. Envoy's HTTP/1 codec rejects `get` with 400
/// before any filter runs, and `check --method get` returns 400 too. The what-if request `get /x`
/// must give the same verdict instead of being evaluated as `GET /x`.
#[test]
fn what_if_lowercase_method_rejected() {
    let policies = custom_header_policies("tester-token-what-if-method");
    let token = token_for(mint::ISSUER, "orders");

    let port = envoy::free_port();
    let args = [
        "-f".to_owned(),
        policies.display().to_string(),
        "--workload".to_owned(),
        "shop/orders".to_owned(),
        "--port".to_owned(),
        port.to_string(),
    ];
    let filters = idflow::envoy_config(&args).expect("idflow envoy-config runs");
    let wire = WireRequest {
        method: "get".to_owned(),
        path: "/".to_owned(),
        host: "orders.shop.svc.cluster.local:8080".to_owned(),
        headers: Vec::new(),
        peer: None,
        source_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        sni: None,
    };
    let envoy = http_verdicts(
        filters.http_filters,
        port,
        vec![wire],
        "tester-token-method",
    );
    assert!(envoy[0].starts_with("400 "), "Envoy's verdict: {envoy:?}");

    let verdict = check_orders(&policies, &["--method", "get", "--token", &token]);
    assert_eq!(verdict.status, 400, "check's verdict: {verdict:?}");

    let session = replay_token_view("tester-what-if-method", &policies, &token);
    session.send(&["e", "C-u"]);
    session.paste("get /x");
    session.send(&["Enter"]);
    let (edited, screen) = session.wait_for(&["What-if", " /x "], Duration::from_secs(5));
    assert!(edited, "the what-if request was not edited:\n{screen}");
    let row = what_if_row(&screen, "shop/orders");
    assert!(row.contains("400"), "what-if row: {row}\n{screen}");
}

/// Checks decode on a nested JWT. In RFC 7519, `cty: JWT` marks the payload as a JWT itself
/// (section 5.2), and section 7.2 step 8 requires processing it as one. decode must name the
/// nested JWT instead of only calling the payload invalid JSON, and must still hide the inner
/// token's signature.
#[test]
fn decode_nested_jwt_recognised() {
    let inner = token_for(mint::ISSUER, "orders");
    let header = json!({"alg": "RS256", "typ": "JWT", "cty": "JWT", "kid": mint::KID});
    let b64 = |bytes: &[u8]| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let outer = mint::sign(
        mint::key(),
        &b64(header.to_string().as_bytes()),
        &b64(inner.as_bytes()),
    );

    let (_, json, stderr) = decode_output(&outer, &[]);
    let inner_signature = inner.rsplit('.').next().expect("three segments");
    assert!(
        !json.to_string().contains(inner_signature),
        "the inner signature is shown: {json}"
    );
    let mentions_nested = json["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|problem| {
            let text = format!("{} {}", problem["code"], problem["message"]).to_lowercase();
            text.contains("nested")
        });
    assert!(
        mentions_nested,
        "no problem names the nested JWT: {json} {stderr}"
    );
}

/// Checks the debug log of a fetch from a JWKS URL with a user and password. These are HTTP Basic
/// credentials, so the log must not contain the password, as it contains no token.
#[test]
fn jwks_url_password_not_logged() {
    let dir = scratch_dir("tester-token-log");
    let log = dir.join("idflow.log");
    // Nothing listens on this port, so the fetch fails after idflow has logged it.
    let url = format!(
        "http://jwks-user:tester-password-71@127.0.0.1:{}/certs",
        envoy::free_port()
    );
    let token = token_for(mint::ISSUER, "orders");

    let output = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .env("IDFLOW_LOG", "debug")
        .args(["decode", "--jwks", &url, "--log-file"])
        .arg(&log)
        .arg(&token)
        .output()
        .expect("idflow decode runs");
    assert_eq!(
        output.status.code(),
        Some(1),
        "unverified: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let text = std::fs::read_to_string(&log).expect("log file written");
    assert!(
        text.contains("127.0.0.1"),
        "the log names the fetch: {text}"
    );
    assert!(
        !text.contains("tester-password-71"),
        "the log contains the password:\n{text}"
    );
}

/// Checks the edge differences for one workload. With `--workload`, they describe that workload's
/// proxy. Its Envoy has providers from both `RequestAuthentication` objects and accepts tokens of
/// [`mint::ISSUER`], so no difference may state that the mesh has no jwtRules entry for that issuer
/// and responds with 401.
#[test]
fn edge_differences_merge_workload_rules() {
    let policies = two_authentications("tester-token-edge");
    let token = token_for(mint::ISSUER, "orders");
    let bearer = format!("Bearer {token}");

    let envoy = envoy_verdict(
        &policies,
        &[("authorization", &bearer)],
        "tester-token-edge",
    );
    assert_eq!(envoy, "200 via_upstream", "Envoy's verdict");

    let profile = scratch_dir("tester-token-edge-profile").join("edge.toml");
    std::fs::write(
        &profile,
        format!(
            "name = \"hunt\"\n\n[checks]\nissuers = [\"{}\"]\naudiences = [\"orders\"]\n",
            mint::ISSUER
        ),
    )
    .expect("profile written");
    let policy_arg = policies.to_string_lossy();
    let profile_arg = profile.to_string_lossy();
    let (_, json, stderr) = decode_output(
        &token,
        &[
            "--edge-profile",
            &profile_arg,
            "--policies",
            &policy_arg,
            "--workload",
            "shop/orders",
        ],
    );
    let differences = json["edge"]["differences"]
        .as_array()
        .unwrap_or_else(|| panic!("no edge differences: {json} {stderr}"));
    let wrong: Vec<&Value> = differences
        .iter()
        .filter(|difference| {
            difference["code"] == "issuer_not_in_mesh" && difference["issuer"] == mint::ISSUER
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "shop/orders accepts {}: {wrong:?}",
        mint::ISSUER
    );
}

/// Checks decode on a block of request header lines, as a browser's developer tools copy them.
/// Each line is its own header, so the token is the value of `Authorization` after `Bearer `, and
/// Envoy accepts the request. decode reads the same lines correctly after a request line, so it
/// must read them without one too.
#[test]
fn decode_header_block_finds_authorization() {
    let token = token_for(mint::ISSUER, "orders");
    let bearer = format!("Bearer {token}");

    let policies = require_jwt::policy_file(mint::ISSUER, &mint::jwks(), "tester-token-block");
    let envoy = envoy_verdict(
        &policies,
        &[("authorization", &bearer), ("accept", "*/*")],
        "tester-token-block",
    );
    assert_eq!(envoy, "200 via_upstream", "Envoy's verdict");

    let blocks = [
        format!("Host: orders.example.test\nAuthorization: {bearer}\nAccept: */*\n"),
        format!("Authorization: {bearer}\nAccept: */*\nUser-Agent: curl/8.5.0\n"),
    ];
    for block in blocks {
        let (code, json, stderr) = decode_output(&block, &[]);
        assert_eq!(json["kind"], "jws", "{block:?}: {json} {stderr}");
        assert_eq!(json["header_name"], "authorization", "{block:?}: {json}");
        assert_eq!(json["claims"]["iss"], mint::ISSUER, "{block:?}: {json}");
        assert_eq!(
            problem_codes(&json),
            Vec::<String>::new(),
            "{block:?}: {json}"
        );
        assert_eq!(code, 0, "{block:?}: {json}");
    }
}

/// Checks decode on a `Set-Cookie` line from a login response. RFC 6265 section 4.1 puts the
/// cookie's name and value first and its attributes after `; `, so the token is the value of
/// `session` and `Path=/; HttpOnly; Secure` is not part of it.
#[test]
fn decode_set_cookie_value_only() {
    let token = token_for(mint::ISSUER, "orders");
    let line = format!("Set-Cookie: session={token}; Path=/; HttpOnly; Secure");

    let (_, json, stderr) = decode_output(&line, &[]);
    assert_eq!(json["kind"], "jws", "{json} {stderr}");
    assert_eq!(json["claims"]["sub"], "alice", "{json}");
    let codes = problem_codes(&json);
    assert!(
        !codes.contains(&"internal_whitespace".to_owned()),
        "{codes:?}"
    );
    assert!(
        !codes.contains(&"header_invalid_base64url".to_owned()),
        "{codes:?}"
    );
}

/// Checks check on a request with a second, empty `Authorization` header after the token. Envoy's
/// HTTP/1 codec appends no `,` for an empty value (checked against Envoy 1.40 below), so jwt_authn
/// reads only the token and the request is allowed. check must not read a trailing `,` into the
/// signature.
#[test]
fn check_empty_repeated_authorization() {
    let policies = require_jwt::policy_file(mint::ISSUER, &mint::jwks(), "tester-token-empty");
    let token = token_for(mint::ISSUER, "orders");
    let bearer = format!("Bearer {token}");

    for empty in ["", " "] {
        let envoy = envoy_verdict(
            &policies,
            &[("authorization", &bearer), ("authorization", empty)],
            "tester-token-empty",
        );
        assert_eq!(envoy, "200 via_upstream", "Envoy's verdict for {empty:?}");

        let header = format!("authorization: {bearer}");
        let repeated = format!("authorization:{empty}");
        let verdict = check_orders(&policies, &["-H", &header, "-H", &repeated]);
        assert_eq!(
            verdict.response_code_details,
            "via_upstream",
            "check for {empty:?}: {}",
            verdict.explain()
        );
    }
}

/// Checks decode with `--policies` and `--workload` when the `jwksUri` of the workload's
/// `jwtRules` entry cannot be fetched. The entry has the token's issuer, and check, on the same
/// policies, follows istiod's stand-in JWKS. So decode must not explain the failure as a missing
/// jwtRules entry with `Jwt issuer is not configured`.
#[test]
fn decode_unfetchable_jwks_uri_explained() {
    // Nothing listens on this port, so the fetch fails with a refused connection.
    let uri = format!("http://127.0.0.1:{}/certs", envoy::free_port());
    let authentication = request_authentication(
        "shop",
        "ra",
        &json!({"jwtRules": [{"issuer": mint::ISSUER, "jwksUri": uri}]}),
    );
    let policies = policy_file(&[authentication], "tester-token-unfetchable");
    let token = token_for(mint::ISSUER, "orders");

    let verdict = check_orders(&policies, &["--token", &token]);
    assert!(
        verdict.response_code_details.contains("Jwks"),
        "check follows the stand-in JWKS: {}",
        verdict.explain()
    );

    let policy_arg = policies.to_string_lossy();
    let (_, json, stderr) = decode_output(
        &token,
        &["--policies", &policy_arg, "--workload", "shop/orders"],
    );
    let message = json["signature"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no signature message: {json} {stderr}"));
    assert!(
        !message.contains("Jwt issuer is not configured"),
        "shop/ra has the issuer: {message}"
    );
}
