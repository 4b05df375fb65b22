//! The Token view's what-if table against the built `idflow check` binary: for every workload of
//! a policy set, every token and every request, each row must carry the verdict `idflow check`
//! prints for the same workload, request and token. Each token is sent as a bearer token and in
//! pasted shapes whose value Envoy reads as sent: a custom header line, a trailing word, and a
//! signature split by a space or `%20`.

#[path = "what_if/mint.rs"]
mod mint;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{TimeZone, Utc};
use idflow::mesh::check::Mesh;
use idflow::mesh::crd::PolicySet;
use idflow::mesh::load::load_policy_file;
use idflow::mesh::{MeshSettings, Verdict, WorkloadKind};
use idflow::model::Flow;
use idflow::tui::what_if::{self, Carrier, Probe, Row, Signature, Target, TokenFound};
use serde_json::Value;

/// The requests each workload is asked about.
const REQUESTS: [(&str, &str); 4] = [
    ("GET", "/"),
    ("GET", "/api/orders"),
    ("DELETE", "/api/orders/7"),
    ("GET", "/public/catalog"),
];

/// A named token, or `None` for a request without one.
struct Case {
    name: &'static str,
    token: Option<String>,
}

fn cases(now: i64) -> Vec<Case> {
    let key = mint::key();
    // (name, signing key, issuer, audience, lifetime in seconds)
    let signed = [
        ("valid", key, mint::ISSUER, "orders-api", 3600),
        ("expired", key, mint::ISSUER, "orders-api", -7200),
        ("wrong audience", key, mint::ISSUER, "billing-api", 3600),
        (
            "other key",
            mint::other_key(),
            mint::ISSUER,
            "orders-api",
            3600,
        ),
        (
            "demo issuer",
            key,
            "https://idp.example.com",
            "orders-api",
            3600,
        ),
    ];
    let mut cases: Vec<Case> = signed
        .into_iter()
        .map(|(name, signer, issuer, audience, lifetime)| Case {
            name,
            token: Some(mint::mint(
                signer,
                &mint::claims(issuer, audience, now, lifetime),
            )),
        })
        .collect();
    cases.push(Case {
        name: "missing",
        token: None,
    });
    cases
}

/// Writes the fixture with the minted JWKS in place of `@JWKS@` and returns its path.
fn fixture_file() -> PathBuf {
    let template = std::fs::read_to_string(manifest().join("tests/what_if/policies.yaml"))
        .expect("tests/what_if/policies.yaml is readable");
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("token-what-if-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temporary folder");
    let path = folder.join("policies.yaml");
    std::fs::write(&path, template.replace("@JWKS@", &mint::jwks())).expect("fixture written");
    path
}

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(path: &Path) -> PolicySet {
    load_policy_file(path, "default")
        .unwrap_or_else(|error| panic!("{} does not load: {error}", path.display()))
        .policies
}

fn demo_flows() -> Vec<Flow> {
    idflow::source::load_inputs(&idflow::source::demo::inputs()).flows
}

/// The custom header line the tokens are also pasted in, read by `shop/payments` in the fixture.
const PASTED_HEADER: &str = "x-jwt: ";

/// Returns `token` with a space after the first 100 characters of its signature segment, where
/// Envoy's base64url decoder skips it.
fn split_signature(token: &str) -> String {
    let signature_start = token.rfind('.').expect("a JWS has three segments") + 1;
    let (head, tail) = token.split_at(signature_start + 100);
    format!("{head} {tail}")
}

/// Returns the pasted texts that carry `token`, each with a label. One is a custom header line.
/// The others put text that Envoy reads as part of the value around or inside the token, in
/// `Authorization` or the query: a trailing word, a space or `%20` inside the signature. Each
/// row must send the value exactly as pasted.
fn pasted_shapes(token: &str) -> Vec<(&'static str, String)> {
    let split = split_signature(token);
    vec![
        (PASTED_HEADER.trim_end(), format!("{PASTED_HEADER}{token}")),
        (
            "trailing word",
            format!("Authorization: Bearer {token} abcd"),
        ),
        ("bare trailing word", format!("Bearer {token} abcd")),
        ("split signature", format!("Authorization: Bearer {split}")),
        (
            "curl split signature",
            format!("curl -H 'Authorization: Bearer {split}' https://orders.test/"),
        ),
        (
            "query %20",
            format!(
                "https://orders.test/?access_token={}",
                split.replace(' ', "%20")
            ),
        ),
    ]
}

/// Runs `idflow check` for `target` and returns its JSON verdict. The token goes where
/// `probe.carrier` puts it: `--token`, `-H` or the query of `--path`.
fn run_check(file: &Path, target: &Target, probe: Probe<'_>, now: i64) -> Value {
    let workload = &target.workload;
    let labels = workload
        .labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",");
    let kind = match workload.kind {
        WorkloadKind::Sidecar => "sidecar",
        WorkloadKind::Gateway => "gateway",
        WorkloadKind::KubernetesGateway => "kubernetes-gateway",
        WorkloadKind::Waypoint => "waypoint",
    };
    let path = what_if::request(target, probe).path;
    let mut command = Command::new(env!("CARGO_BIN_EXE_idflow"));
    command.arg("check").arg("-f").arg(file).args([
        "--workload",
        &format!("{}/{}", workload.namespace, workload.name),
        "--labels",
        &labels,
        "--service-account",
        &workload.service_account,
        "--kind",
        kind,
        "--method",
        probe.method,
        "--path",
        &path,
        "--at",
        &now.to_string(),
        "-o",
        "json",
    ]);
    match (probe.token, probe.carrier) {
        (Some(token), what_if::Carrier::Bearer) => {
            command.args(["--token", token]);
        }
        (Some(_), what_if::Carrier::Header(name, value)) => {
            command.args(["-H", &format!("{name}: {value}")]);
        }
        (Some(_), what_if::Carrier::Param(..)) | (None, _) => {}
    }
    if let Some(peer) = &target.source_principal {
        command.args(["--source-principal", peer]);
    }
    let output = command.output().expect("idflow check runs");
    let code = output.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "idflow check for {}/{} exited with {code:?}: {}",
        workload.namespace,
        workload.name,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("idflow check prints one JSON object")
}

/// Compares one row with the check output, naming the case on failure.
fn assert_agrees(row: &Row, json: &Value, case: &str) {
    let verdict: &Verdict = row
        .verdict
        .as_ref()
        .unwrap_or_else(|error| panic!("{case}: {} has no verdict: {error}", row.workload));
    let label = format!("{case}, {}", row.workload);
    assert_eq!(json["workload"], row.workload.as_str(), "{label}: workload");
    assert_eq!(json["status"], u64::from(verdict.status), "{label}: status");
    assert_eq!(
        json["decision"],
        serde_json::to_value(verdict.decision).expect("decision serializes"),
        "{label}: decision"
    );
    assert_eq!(
        json["stage"],
        serde_json::to_value(verdict.stage).expect("stage serializes"),
        "{label}: stage"
    );
    assert_eq!(
        json["policy"],
        serde_json::to_value(&verdict.policy).expect("policy serializes"),
        "{label}: policy"
    );
    assert_eq!(
        json["rule"],
        serde_json::to_value(verdict.rule).expect("rule serializes"),
        "{label}: rule"
    );
    assert_eq!(
        json["response_code_details"],
        verdict.response_code_details.as_str(),
        "{label}: response_code_details"
    );
    assert_eq!(
        json["request_principal"],
        serde_json::to_value(&verdict.request_principal).expect("principal serializes"),
        "{label}: request_principal"
    );
}

/// Computes the rows for every token and request and checks each against `idflow check`; returns
/// the rows for further checks, keyed by `(token case, METHOD PATH)`.
fn agree_for(
    file: &Path,
    flows: &[Flow],
    expected_workloads: &[&str],
) -> BTreeMap<(String, String), Vec<Row>> {
    let now = Utc::now().timestamp();
    let policies = load(file);
    let settings = MeshSettings {
        now: Utc.timestamp_opt(now, 0).single().expect("valid time"),
        ..MeshSettings::default()
    };
    let targets = what_if::targets(&policies, flows);
    let names: Vec<String> = targets
        .iter()
        .map(|target| format!("{}/{}", target.workload.namespace, target.workload.name))
        .collect();
    assert_eq!(
        names, expected_workloads,
        "workloads known from the policies"
    );

    let jwks = BTreeMap::new();
    let mesh = Mesh {
        policies: &policies,
        jwks: &jwks,
        providers: &[],
        settings: &settings,
    };
    let mut all = BTreeMap::new();
    for case in cases(now) {
        // The bearer token, then the same token pasted in each shape of `pasted_shapes`.
        let mut sendings = vec![(case.name.to_owned(), case.token.clone(), Carrier::Bearer)];
        if let Some(token) = &case.token {
            for (shape, pasted) in pasted_shapes(token) {
                let inspection = idflow::token::inspect(&pasted, settings.now)
                    .unwrap_or_else(|error| panic!("{} ({shape}): {error}", case.name));
                let carrier = what_if::carrier(&pasted, &inspection);
                let name = format!("{} ({shape})", case.name);
                sendings.push((name, Some(inspection.token.expose().to_owned()), carrier));
            }
        }
        for (name, token, carrier) in &sendings {
            for (method, path) in REQUESTS {
                let probe = Probe {
                    method,
                    path,
                    token: token.as_deref(),
                    carrier,
                };
                let rows = what_if::evaluate(&mesh, &targets, probe);
                assert_eq!(rows.len(), targets.len(), "one row per workload");
                for (row, target) in rows.iter().zip(&targets) {
                    let json = run_check(file, target, probe, now);
                    assert_agrees(row, &json, &format!("{name} {method} {path}"));
                }
                all.insert((name.clone(), format!("{method} {path}")), rows);
            }
        }
    }
    all
}

fn row<'a>(
    rows: &'a BTreeMap<(String, String), Vec<Row>>,
    case: &str,
    request: &str,
    workload: &str,
) -> &'a Row {
    rows[&(case.to_owned(), request.to_owned())]
        .iter()
        .find(|row| row.workload == workload)
        .unwrap_or_else(|| panic!("no row for {workload}"))
}

#[test]
fn fixture_rows_agree_with_check() {
    let file = fixture_file();
    let rows = agree_for(
        &file,
        &[],
        &[
            "billing/invoices",
            "ingress/istio-ingressgateway",
            "shop/orders",
            "shop/payments",
        ],
    );

    let valid = row(&rows, "valid", "GET /api/orders", "shop/orders");
    assert_eq!(valid.authn_text(), "ok");
    assert_eq!(valid.signature, Some(Signature::Verified));
    assert_eq!(
        valid.found,
        TokenFound::At("authorization: Bearer".to_owned())
    );
    assert_eq!(valid.edge, None, "the edge column stays empty");

    let expired = row(&rows, "expired", "GET /api/orders", "shop/orders");
    assert_eq!(expired.authn_text(), "Jwt is expired");
    assert_eq!(expired.signature, Some(Signature::Verified));

    let audience = row(&rows, "wrong audience", "GET /api/orders", "shop/orders");
    assert_eq!(audience.authn_text(), "Audiences in Jwt are not allowed");

    let forged = row(&rows, "other key", "GET /api/orders", "shop/orders");
    assert_eq!(forged.signature, Some(Signature::Invalid));
    assert_eq!(forged.authn_text(), "Jwt verification fails");

    let deleted = row(&rows, "valid", "DELETE /api/orders/7", "shop/orders");
    let verdict = deleted.verdict.as_ref().expect("a verdict");
    assert_eq!(verdict.policy.as_deref(), Some("shop/deny-delete"));
    assert_eq!(verdict.rule, Some(0));

    let payments = row(&rows, "valid", "GET /", "shop/payments");
    assert_eq!(payments.found, TokenFound::NotAt(vec!["x-jwt".to_owned()]));
    assert_eq!(payments.authn_text(), "no token");

    let invoices = row(&rows, "valid", "GET /", "billing/invoices");
    assert_eq!(invoices.found, TokenFound::NotRead);
    assert_eq!(invoices.signature, None);

    let missing = row(&rows, "missing", "GET /", "shop/orders");
    assert_eq!(missing.found, TokenFound::Missing);

    // Envoy 1.40 reads a word after the token as part of it and rejects the value, but skips a
    // space or `%20` inside the signature and accepts the token.
    for shape in ["trailing word", "bare trailing word"] {
        let trailing = row(
            &rows,
            &format!("valid ({shape})"),
            "GET /api/orders",
            "shop/orders",
        );
        assert_eq!(trailing.authn_text(), "Jwt verification fails", "{shape}");
        assert_eq!(trailing.signature, Some(Signature::Invalid), "{shape}");
    }
    for shape in ["split signature", "curl split signature", "query %20"] {
        let split = row(
            &rows,
            &format!("valid ({shape})"),
            "GET /api/orders",
            "shop/orders",
        );
        assert_eq!(split.authn_text(), "ok", "{shape}");
        assert_eq!(split.signature, Some(Signature::Verified), "{shape}");
    }
    let query = row(&rows, "valid (query %20)", "GET /api/orders", "shop/orders");
    assert_eq!(query.found, TokenFound::At("?access_token".to_owned()));

    let pasted = row(&rows, "valid (x-jwt:)", "GET /", "shop/payments");
    assert_eq!(pasted.found, TokenFound::At("x-jwt".to_owned()));
    assert_eq!(pasted.authn_text(), "ok");
    let pasted_orders = row(&rows, "valid (x-jwt:)", "GET /api/orders", "shop/orders");
    assert_eq!(
        pasted_orders.found,
        TokenFound::NotAt(vec![
            "authorization: Bearer".to_owned(),
            "?access_token".to_owned()
        ])
    );
}

#[test]
fn demo_rows_agree_with_check() {
    let file = manifest().join("demo/policies.yaml");
    let rows = agree_for(
        &file,
        &demo_flows(),
        &["istio-system/istio-ingressgateway", "shop/orders"],
    );

    let orders = row(&rows, "missing", "GET /public/catalog", "shop/orders");
    assert!(
        orders
            .peer
            .as_deref()
            .is_some_and(|peer| peer.contains("istio-ingressgateway")),
        "orders is called by the gateway in the demo flows: {:?}",
        orders.peer
    );
    assert_eq!(
        orders.decided_by(),
        Some(("shop/allow-orders".to_owned(), Some(1))),
        "the ALLOW rule for /public/* decided"
    );

    let gateway = "istio-system/istio-ingressgateway";
    let expired = row(&rows, "expired", "GET /api/orders", gateway);
    assert_eq!(expired.authn_text(), "Jwt issuer is not configured");
    let demo = row(&rows, "demo issuer", "GET /api/orders", gateway);
    assert_eq!(
        demo.found,
        TokenFound::At("authorization: Bearer".to_owned())
    );
    assert_eq!(demo.authn_text(), "Jwks doesn't have any valid public key");
}
