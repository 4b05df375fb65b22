//! The Token view's what-if rows for values that Envoy reads as sent, not as decoded: a word after
//! the token, a signature split by a space or `%20`, a token in a header the edge does not read.
//! Each row must judge one request. Its mesh columns and its edge column both read the value as
//! pasted, at the what-if path. The token's fingerprint must not depend on whether keys were
//! given.
//!
//! Where a mesh verdict is involved, a real Envoy runs with the filters `idflow envoy-config`
//! prints, and its verdict is the expected one.

mod envoy_harness;
#[path = "what_if/mint.rs"]
mod mint;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use envoy_harness::require_jwt::{self, Request};
use envoy_harness::{documents, scratch_dir};
use idflow::edge::profile::EdgeProfile;
use idflow::mesh::check::Mesh;
use idflow::mesh::crd::PolicySet;
use idflow::mesh::load::load_policy_file;
use idflow::mesh::{MeshSettings, Workload, WorkloadKind};
use idflow::tui::what_if::{self, Probe, Row, Signature, Target};
use idflow::tui::{Action, App, EdgeSetup, Session, Theme, update};
use serde_json::json;
use support::decode_output;
use support::tmux::{replay_token_view, what_if_row};
use support::tui::set_what_if;

/// The gateway's principal, which calls shop/orders in the demo's recorded flows.
const GATEWAY_PRINCIPAL: &str =
    "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account";

/// An edge profile like Akamai's examples: `Authorization` with `Bearer `, `/public/` open
/// without a token, 401 for a missing token.
const EDGE_PROFILE: &str = r#"
name = "public-paths"
[token]
header = "Authorization"
scheme = "Bearer "
missing = "deny"
public_paths = ["/public/"]
[response]
deny_status = 403
missing_status = 401
"#;

fn now() -> i64 {
    Utc::now().timestamp()
}

/// Returns an RS256 token of [`mint::ISSUER`] for `alice`, valid for an hour.
fn token() -> String {
    mint::mint(
        mint::key(),
        &mint::claims(mint::ISSUER, "orders-api", now(), 3600),
    )
}

/// Returns `token` split by `separator` after the first 100 characters of its signature segment.
fn split_signature(token: &str, separator: &str) -> String {
    let signature_start = token.rfind('.').expect("a JWS has three segments") + 1;
    let (head, tail) = token.split_at(signature_start + 100);
    format!("{head}{separator}{tail}")
}

/// Writes `shop/jwt` and `shop/require-jwt` for [`mint::ISSUER`] and returns the file.
fn policies(label: &str) -> PathBuf {
    require_jwt::policy_file(mint::ISSUER, &mint::jwks(), label)
}

fn load(path: &Path) -> PolicySet {
    load_policy_file(path, "default")
        .unwrap_or_else(|error| panic!("{} does not load: {error}", path.display()))
        .policies
}

/// Returns `shop/orders` as `require_jwt::verdicts` runs it, called in plaintext.
fn orders() -> Target {
    Target {
        workload: Workload {
            namespace: "shop".to_owned(),
            name: "orders".to_owned(),
            labels: BTreeMap::from([("app".to_owned(), "orders".to_owned())]),
            service_account: "default".to_owned(),
            kind: WorkloadKind::Sidecar,
        },
        source_principal: None,
    }
}

/// Returns the what-if row of `shop/orders` for `GET path` with the token pasted as `pasted`.
fn orders_row(policies: &PolicySet, pasted: &str, path: &str) -> Row {
    let settings = MeshSettings {
        now: Utc.timestamp_opt(now(), 0).single().expect("valid time"),
        ..MeshSettings::default()
    };
    let inspection = idflow::token::inspect(pasted, settings.now)
        .unwrap_or_else(|error| panic!("no token in {pasted:?}: {error}"));
    let carrier = what_if::carrier(pasted, &inspection);
    let jwks = BTreeMap::new();
    let mesh = Mesh {
        policies,
        jwks: &jwks,
        providers: &[],
        settings: &settings,
    };
    let probe = Probe {
        method: "GET",
        path,
        token: Some(inspection.token.expose()),
        carrier: &carrier,
    };
    what_if::evaluate(&mesh, &[orders()], probe)
        .pop()
        .expect("one row for one target")
}

/// Returns `STATUS DETAILS` of a row, in the form `require_jwt::verdicts` returns Envoy's.
fn row_verdict(row: &Row) -> String {
    let verdict = row
        .verdict
        .as_ref()
        .unwrap_or_else(|error| panic!("no verdict: {error}"));
    format!("{} {}", verdict.status, verdict.response_code_details)
}

/// Checks the rows for values that Envoy 1.40 reads with the text around or inside the token.
/// Each row's verdict must be Envoy's for the request that carries the value as pasted. Its
/// signature column must be that of the token Envoy reads.
#[test]
fn rows_match_envoy_as_sent() {
    let file = policies("tester2-token-view-envoy");
    let token = token();
    let split = split_signature(&token, " ");
    let query_split = split_signature(&token, "%20");
    // (pasted text, what-if path, the request Envoy receives, the expected signature column)
    let cases: Vec<(String, &str, Request, Signature)> = vec![
        (
            format!("Authorization: Bearer {token} abcd"),
            "/x",
            (
                "/x".to_owned(),
                vec![("authorization".to_owned(), format!("Bearer {token} abcd"))],
            ),
            Signature::Invalid,
        ),
        (
            format!("Bearer {token} abcd"),
            "/x",
            (
                "/x".to_owned(),
                vec![("authorization".to_owned(), format!("Bearer {token} abcd"))],
            ),
            Signature::Invalid,
        ),
        (
            format!("Authorization: Bearer {split}"),
            "/x",
            (
                "/x".to_owned(),
                vec![("authorization".to_owned(), format!("Bearer {split}"))],
            ),
            Signature::Verified,
        ),
        (
            format!("curl -H 'Authorization: Bearer {split}' https://orders.test/x"),
            "/x",
            (
                "/x".to_owned(),
                vec![("authorization".to_owned(), format!("Bearer {split}"))],
            ),
            Signature::Verified,
        ),
        (
            format!("https://orders.test/x?access_token={query_split}"),
            "/x",
            (format!("/x?access_token={query_split}"), Vec::new()),
            Signature::Verified,
        ),
    ];
    let requests: Vec<Request> = cases
        .iter()
        .map(|(_, _, request, _)| request.clone())
        .collect();
    let envoy = require_jwt::verdicts(&file, &requests, "tester2-token-view-envoy");
    assert_eq!(
        envoy[..2],
        [
            "401 jwt_authn_access_denied{Jwt_verification_fails}",
            "401 jwt_authn_access_denied{Jwt_verification_fails}"
        ],
        "Envoy rejects a word after the token"
    );
    assert_eq!(
        envoy[2..],
        ["200 via_upstream", "200 via_upstream", "200 via_upstream"],
        "Envoy skips the whitespace in the signature"
    );

    let policies = load(&file);
    for ((pasted, path, _, signature), expected) in cases.iter().zip(&envoy) {
        let shape = pasted.replace(&token, "<token>");
        let row = orders_row(&policies, pasted, path);
        assert_eq!(&row_verdict(&row), expected, "{shape}");
        assert_eq!(row.signature, Some(*signature), "{shape}");
    }
}

/// Checks the row for a form feed after the token, which Envoy's HTTP/1 codec rejects with 400
/// before jwt_authn runs. The row must send the value with it, not the decoded token.
#[test]
fn form_feed_row_not_reached() {
    let file = policies("tester2-token-view-form-feed");
    let token = token();
    let value = format!("Bearer {token}\u{c}abcd");
    let envoy = require_jwt::verdicts(
        &file,
        &[(
            "/x".to_owned(),
            vec![("authorization".to_owned(), value.clone())],
        )],
        "tester2-token-view-form-feed",
    );
    assert!(
        envoy[0].starts_with("400 "),
        "Envoy's codec rejects a form feed: {envoy:?}"
    );

    let row = orders_row(&load(&file), &format!("Authorization: {value}"), "/x");
    let verdict = row.verdict.as_ref().expect("a verdict");
    assert_eq!(verdict.status, 400, "{}", verdict.response_code_details);
    assert_eq!(row.authn_text(), "not reached");
}

/// Checks the rows in a real terminal: the word after the token is rejected as Envoy rejects it,
/// and the split signature is accepted, with the signature column naming the token Envoy reads.
#[test]
fn tmux_rows_as_sent() {
    let file = policies("tester2-token-view-tmux");
    let token = token();
    let cases = [
        (
            "trailing",
            format!("Authorization: Bearer {token} abcd"),
            ["Jwt verification fails · sig bad", "deny 401"],
        ),
        (
            "split",
            format!("Authorization: Bearer {}", split_signature(&token, " ")),
            ["ok · sig ok", "allow 200"],
        ),
    ];
    // Both sessions stay open until the end, so that tmux's server does not exit between them.
    let sessions: Vec<_> = cases
        .iter()
        .map(|(label, pasted, _)| replay_token_view(&format!("t2-{label}"), &file, pasted))
        .collect();
    for ((label, _, expected), session) in cases.iter().zip(&sessions) {
        let screen = session.capture();
        let row = what_if_row(&screen, "shop/orders");
        for text in expected {
            assert!(row.contains(text), "{label}: {text:?} not in {row}");
        }
        assert!(
            screen.contains(GATEWAY_PRINCIPAL),
            "{label}: the row is for the gateway's calls:\n{screen}"
        );
    }
}

/// Writes `shop/jwt` for [`mint::ISSUER`] on `app: orders`, so that the Token view names
/// `shop/orders` without flows, and returns the file.
fn selected_policies(label: &str) -> PathBuf {
    let authentication = documents::request_authentication(
        "shop",
        "jwt",
        &json!({
            "selector": {"matchLabels": {"app": "orders"}},
            "jwtRules": [{"issuer": mint::ISSUER, "jwks": mint::jwks()}],
        }),
    );
    documents::policy_file(&[authentication], label)
}

/// Returns an app with `policies`, [`EDGE_PROFILE`] and no keys.
fn edge_app(policies: &Path) -> App {
    let mut app = App::new(
        Session::default(),
        Theme::load_colored("default").expect("the default theme loads"),
    );
    app.policies = load(policies);
    app.edge = Some(EdgeSetup {
        profile: EdgeProfile::from_toml(EDGE_PROFILE, "<inline>").expect("a valid profile"),
        keys: None,
    });
    app
}

/// Returns the edge column of the first row and the edge's reason.
fn edge_of(app: &App) -> (String, String) {
    let row = app.token.what_if.first().expect("a what-if row");
    let (decision, _) = app.token.edge.as_ref().expect("an edge decision");
    (
        row.edge.clone().expect("an edge column"),
        decision.reason.clone(),
    )
}

/// Checks that the edge column judges the request of the mesh columns: the token in `x-other`,
/// where neither reads it, at the what-if path, which `e` changes for both.
#[test]
fn edge_judges_what_if_request() {
    let file = selected_policies("tester2-token-view-edge");
    let mut app = edge_app(&file);
    let pasted = format!(
        "curl -H 'X-Other: Bearer {}' https://api.test/public/x",
        token()
    );
    update(&mut app, Action::Paste(pasted));
    assert_eq!(app.live.what_if.path, "/public/x", "the pasted URL's path");

    let row = app.token.what_if.first().expect("a what-if row");
    assert_eq!(
        row.authn_text(),
        "no token",
        "the mesh reads no token in x-other"
    );
    let (cell, reason) = edge_of(&app);
    assert_eq!(cell, "allow", "public path without a token: {reason}");
    assert!(reason.contains("/public/x"), "{reason}");

    set_what_if(&mut app, "GET /orders");
    let (cell, reason) = edge_of(&app);
    assert_eq!(cell, "deny 401", "no token at a private path: {reason}");
    assert!(reason.contains("x-other"), "{reason}");
    assert!(!reason.contains("/public/x"), "the edited path: {reason}");
}

/// Checks that a bare token, which the mesh columns send as `Authorization: Bearer`, is judged
/// there by the edge too: a profile that reads a cookie finds no token in it.
#[test]
fn edge_judges_bare_token_as_bearer() {
    let file = selected_policies("tester2-token-view-bare");
    let mut app = edge_app(&file);
    if let Some(edge) = &mut app.edge {
        edge.profile = EdgeProfile::from_toml(
            &EDGE_PROFILE.replace(
                "header = \"Authorization\"\nscheme = \"Bearer \"",
                "cookie = \"jwt\"",
            ),
            "<inline>",
        )
        .expect("a valid cookie profile");
    }
    update(&mut app, Action::Paste(token()));
    let row = app.token.what_if.first().expect("a what-if row");
    assert_eq!(
        row.found,
        what_if::TokenFound::At("authorization: Bearer".to_owned())
    );
    let (cell, reason) = edge_of(&app);
    assert_eq!(cell, "deny 401", "{reason}");
    assert!(reason.contains("header `authorization`"), "{reason}");
}

/// Checks that a signature split by a space has one fingerprint and size, with keys and without,
/// and that they are those of the token Envoy reads: the whole value without the space.
#[test]
fn split_signature_one_fingerprint() {
    let token = token();
    let pasted = format!("Authorization: Bearer {}", split_signature(&token, " "));
    let jwks = scratch_dir("tester2-token-view-fingerprint").join("jwks.json");
    std::fs::write(&jwks, mint::jwks()).expect("JWKS written");
    let jwks = jwks.display().to_string();

    let (_, without_keys, stderr) = decode_output(&pasted, &[]);
    assert!(without_keys.is_object(), "decode output: {stderr}");
    let (code, with_keys, stderr) = decode_output(&pasted, &["--jwks", &jwks]);
    assert_eq!(code, 0, "the keys verify the token Envoy reads: {stderr}");

    let expected = idflow::token::fingerprint(&token);
    assert_eq!(
        without_keys["fingerprint"],
        expected.as_str(),
        "without keys"
    );
    assert_eq!(with_keys["fingerprint"], expected.as_str(), "with keys");
    assert_eq!(
        without_keys["encoded_len"],
        token.len(),
        "size without keys"
    );
    assert_eq!(with_keys["encoded_len"], token.len(), "size with keys");
}
