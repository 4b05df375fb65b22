//! Releases of Istio's gateway chart named with and without the `istio-` prefix, as `idflow check`
//! and the Token view's what-if rows label them, and the edge column's note for tokens that
//! Envoy's `jwt_authn` rejects for a claim's type.
//!
//! The chart labels the pods of release `NAME` with `app: NAME` and `istio: NAME` without an
//! `istio-` prefix (`gateway.selectorLabels` in manifests/charts/gateways/gateway/templates/
//! _helpers.tpl of istio/istio). The tests named `envoy_…` record the Envoy verdicts the other
//! tests rest on, and need Envoy (`ENVOY` or scripts/test.sh).

mod envoy_harness;
#[path = "what_if/mint.rs"]
mod mint;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use envoy_harness::envoy;
use serde_json::{Value, json};

/// Writes `text` to a new file in this test run's folder.
fn write_file(name: &str, text: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("gateway-release-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temporary folder");
    let path = folder.join(format!("{}-{name}", NEXT.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, text).expect("file written");
    path
}

fn path_text(path: &Path) -> String {
    path.to_str().expect("UTF-8 path").to_owned()
}

/// Returns the YAML of AuthorizationPolicy `NAMESPACE/NAME` with `selector` (inline YAML
/// `matchLabels`), `action`, and one rule on `paths` (an inline YAML list).
fn policy(name: &str, namespace: &str, selector: &str, action: &str, paths: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\n\
         kind: AuthorizationPolicy\n\
         metadata: {{name: {name}, namespace: {namespace}}}\n\
         spec:\n  selector: {{matchLabels: {selector}}}\n  action: {action}\n  \
         rules: [{{to: [{{operation: {{paths: {paths}}}}}]}}]\n"
    )
}

/// Returns a DENY of `/a` on `istio: my-gw` in `namespace`.
fn istio_deny(namespace: &str) -> String {
    policy("deny-a", namespace, "{istio: my-gw}", "DENY", "[/a]")
}

/// Returns an ALLOW of `/a` and `/b` on `app: APP` in gw-ns.
fn app_allow(name: &str, app: &str) -> String {
    policy(
        name,
        "gw-ns",
        &format!("{{app: {app}}}"),
        "ALLOW",
        "[/a, /b]",
    )
}

/// Writes YAML documents to one file.
fn policy_file(documents: &[String]) -> PathBuf {
    write_file("policies.yaml", &documents.join("---\n"))
}

/// Runs `idflow check -o json` for `workload` on `policy` with `args` and returns the output.
fn check_json(workload: &str, policy: &Path, args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_idflow"))
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

/// Returns the warnings of a check output as one text.
fn warnings(verdict: &Value) -> String {
    verdict["warnings"].to_string()
}

/// Asserts that every what-if row for `path` has the status check returns for its workload.
fn assert_rows_agree(policy: &Path, path: &str) {
    for (workload, status) in support::what_if_statuses(policy, path, &[]) {
        let verdict = check_json(&workload, policy, &["--path", path]);

        assert_eq!(verdict["status"], status, "{workload} {path}: {verdict}");
    }
}

/// Release `my-gw` with policies on both chart labels: one row, which carries both labels, so the
/// DENY on `istio: my-gw` denies `/a` and the ALLOW on `app: my-gw` allows `/b`.
#[test]
fn release_without_prefix_one_row() {
    let policy = policy_file(&[istio_deny("gw-ns"), app_allow("allow", "my-gw")]);
    let denied = support::what_if_statuses(&policy, "/a", &[]);
    let allowed = support::what_if_statuses(&policy, "/b", &[]);

    assert_eq!(denied, [("gw-ns/my-gw".to_owned(), 403)]);
    assert_eq!(allowed, [("gw-ns/my-gw".to_owned(), 200)]);
    assert_rows_agree(&policy, "/a");
    assert_rows_agree(&policy, "/b");
}

/// Release `istio-my-gw`, whose `istio` label is `my-gw` too: one row, in agreement with check.
#[test]
fn release_with_prefix_one_row() {
    let policy = policy_file(&[istio_deny("gw-ns"), app_allow("allow", "istio-my-gw")]);
    let denied = support::what_if_statuses(&policy, "/a", &[]);

    assert_eq!(denied, [("gw-ns/istio-my-gw".to_owned(), 403)]);
    assert_rows_agree(&policy, "/a");
    assert_rows_agree(&policy, "/b");
}

/// check names the `istio` label it assumed for release `my-gw`, and the `--labels` value without
/// it.
#[test]
fn check_names_assumed_label() {
    let policy = policy_file(&[istio_deny("gw-ns")]);
    let verdict = check_json("gw-ns/my-gw", &policy, &["--path", "/a"]);
    let text = warnings(&verdict);

    assert_eq!(verdict["status"], 403, "{verdict}");
    assert!(text.contains("labelled app=my-gw,istio=my-gw"), "{text}");
    assert!(text.contains("AuthorizationPolicy gw-ns/deny-a"), "{text}");
    assert!(text.contains("pass --labels app=my-gw"), "{text}");
}

/// `--labels` wins over the guess: without `istio: my-gw` the DENY does not apply, and no warning
/// names a guess.
#[test]
fn labels_flag_overrides_guess() {
    let policy = policy_file(&[istio_deny("gw-ns")]);
    let verdict = check_json(
        "gw-ns/my-gw",
        &policy,
        &["--path", "/a", "--labels", "app=my-gw"],
    );

    assert_eq!(verdict["status"], 200, "{verdict}");
    assert!(!warnings(&verdict).contains("istio=my-gw"), "{verdict}");
}

/// Selectors on `app: my-gw` and `app: istio-my-gw` both in gw-ns: the `istio` label goes to
/// release `istio-my-gw`, the chart's default name, and check warns on gw-ns/my-gw with the
/// `--labels` value that adds it.
#[test]
fn ambiguous_release_warns() {
    let policy = policy_file(&[
        istio_deny("gw-ns"),
        app_allow("allow", "my-gw"),
        app_allow("allow-prefixed", "istio-my-gw"),
    ]);
    let rows = support::what_if_statuses(&policy, "/a", &[]);

    assert_eq!(
        rows,
        [
            ("gw-ns/istio-my-gw".to_owned(), 403),
            ("gw-ns/my-gw".to_owned(), 200)
        ]
    );
    assert_rows_agree(&policy, "/a");
    let verdict = check_json("gw-ns/my-gw", &policy, &["--path", "/a"]);
    let text = warnings(&verdict);
    assert!(text.contains("names release istio-my-gw"), "{text}");
    assert!(
        text.contains("pass --labels app=my-gw,istio=my-gw"),
        "{text}"
    );
}

/// A selector on `istio: my-gw` in the root namespace selects the pods of release `my-gw` in
/// gw-ns, so that release's row carries the label and the root namespace gets no row of its own.
#[test]
fn root_namespace_selector_release() {
    let policy = policy_file(&[istio_deny("istio-system"), app_allow("allow", "my-gw")]);
    let rows = support::what_if_statuses(&policy, "/a", &[]);

    assert_eq!(rows, [("gw-ns/my-gw".to_owned(), 403)]);
    assert_rows_agree(&policy, "/a");
    let other_root = check_json(
        "gw-ns/my-gw",
        &policy,
        &["--path", "/a", "--root-namespace", "mesh-root"],
    );
    assert_eq!(
        other_root["status"], 200,
        "istio-system is not the root namespace: {other_root}"
    );
}

/// Sends a GET of each (path, headers) of `requests` through an Envoy configured with `filters`
/// on `port`, and returns `STATUS DETAILS` for each.
fn envoy_statuses(
    filters: Vec<Value>,
    port: u16,
    requests: &[(&str, Vec<(String, String)>)],
) -> Vec<String> {
    envoy_harness::http_statuses(
        filters,
        port,
        &format!("my-gw.gw-ns.svc.cluster.local:{port}"),
        "spiffe://cluster.local/ns/gw-ns/sa/my-gw",
        requests,
    )
}

/// The filters `idflow envoy-config` writes for release `my-gw`, run in Envoy, give check's
/// verdicts: the DENY on `istio: my-gw` for `/a` and the ALLOW on `app: my-gw` for `/b`.
#[test]
fn envoy_release_filters() {
    let policy = policy_file(&[istio_deny("gw-ns"), app_allow("allow", "my-gw")]);
    let port = envoy::free_port();
    let port_text = port.to_string();
    let args: Vec<String> = [
        "--workload",
        "gw-ns/my-gw",
        "--port",
        &port_text,
        "-f",
        &path_text(&policy),
    ]
    .map(str::to_owned)
    .to_vec();
    let filters = envoy_harness::idflow::envoy_config(&args)
        .unwrap_or_else(|error| panic!("envoy-config failed: {error}"));
    let statuses = envoy_statuses(
        filters.http_filters,
        port,
        &[("/a", Vec::new()), ("/b", Vec::new())],
    );

    assert_eq!(
        statuses,
        [
            "403 rbac_access_denied_matched_policy[ns[gw-ns]-policy[deny-a]-rule[0]]",
            "200 via_upstream"
        ]
    );
    for (path, envoy_status) in ["/a", "/b"].iter().zip(&statuses) {
        let verdict = check_json(
            "gw-ns/my-gw",
            &policy,
            &["--path", path, "--port", &port_text],
        );
        let check_status = format!(
            "{} {}",
            verdict["status"],
            verdict["response_code_details"].as_str().unwrap_or("-")
        );

        assert_eq!(&check_status, envoy_status, "{path}");
    }
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

/// Payloads whose claim types Envoy's `jwt_authn` rejects, with the 401 status text it returned.
const CLAIM_TYPE_FAULTS: [(&str, &str); 4] = [
    (
        r#""exp":"4102444800""#,
        "Jwt payload [exp] field is not an integer",
    ),
    (
        r#""iat":-1,"exp":4102444800"#,
        "Jwt payload [iat] field is not a positive 64 bit integer",
    ),
    (
        r#""aud":5,"exp":4102444800"#,
        "Jwt payload [aud] field is not a string or string list",
    ),
    (
        r#""jti":7,"exp":4102444800"#,
        "Jwt payload [jti] field is not a string",
    ),
];

#[test]
fn envoy_claim_type_faults() {
    let requests: Vec<(&str, Vec<(String, String)>)> = CLAIM_TYPE_FAULTS
        .iter()
        .map(|(members, _)| {
            let bearer = format!("Bearer {}", raw_token(members));
            ("/", vec![("Authorization".to_owned(), bearer)])
        })
        .collect();
    let statuses = envoy_statuses(
        mint::istiod_filters(mint::ISSUER),
        envoy::free_port(),
        &requests,
    );

    for ((members, status), envoy_status) in CLAIM_TYPE_FAULTS.iter().zip(&statuses) {
        let expected = format!(
            "401 jwt_authn_access_denied{{{}}}",
            status.replace(' ', "_")
        );
        assert_eq!(envoy_status, &expected, "{members}");
    }
}

/// The edge column notes Envoy's 401 for each claim type fault, with the status decode read,
/// whether the edge allows the token or not.
#[test]
fn edge_notes_claim_type_faults() {
    let jwks = write_file("jwks.json", &mint::jwks());
    let profile = write_file(
        "edge.toml",
        &format!("[keys]\njwks = {:?}\n", path_text(&jwks)),
    );
    for (members, status) in CLAIM_TYPE_FAULTS {
        let (_, json) = support::decode_json(
            &format!("Bearer {}", raw_token(members)),
            &["--edge-profile", &path_text(&profile)],
        );
        let notes = json["edge"]["notes"].to_string();

        assert!(
            notes.contains(&format!("401 `{status}`")),
            "{members}: {notes}"
        );
    }
}

/// A valid token gets no note about the mesh rejecting it.
#[test]
fn edge_no_note_valid_token() {
    let jwks = write_file("jwks.json", &mint::jwks());
    let profile = write_file(
        "edge.toml",
        &format!("[keys]\njwks = {:?}\n", path_text(&jwks)),
    );
    let (_, json) = support::decode_json(
        &format!("Bearer {}", raw_token(r#""exp":4102444800"#)),
        &["--edge-profile", &path_text(&profile)],
    );

    assert_eq!(json["edge"]["verdict"], "allow", "{json}");
    assert!(!json["edge"]["notes"].to_string().contains("401"), "{json}");
}

/// When the EdgeWorker cannot import a key and the property continues on error, the request goes
/// on unchecked, and the note of the mesh's 401 stays.
#[test]
fn edge_fail_open_keeps_note() {
    let jwks = write_file("empty-jwks.json", r#"{"keys":[]}"#);
    let profile = write_file(
        "edge-fail-open.toml",
        &format!(
            "[keys]\njwks = {:?}\n\n[response]\nfail_open = true\n",
            path_text(&jwks)
        ),
    );
    let (members, status) = CLAIM_TYPE_FAULTS[0];
    let (_, json) = support::decode_json(
        &format!("Bearer {}", raw_token(members)),
        &["--edge-profile", &path_text(&profile)],
    );
    let notes = json["edge"]["notes"].to_string();

    assert_eq!(json["edge"]["verdict"], "fail_open", "{json}");
    assert!(notes.contains(&format!("401 `{status}`")), "{notes}");
}
