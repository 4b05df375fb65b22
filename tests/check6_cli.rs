//! `idflow check` on policy sets where the workload's name or namespace leaves room for doubt:
//! several selectors that name one workload, a mistyped namespace, a verdict with no explanation
//! steps, and a gateway known only by its `app: istio-ingressgateway` label.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use idflow::mesh::WorkloadKind;
use idflow::mesh::load::load_policy_file;
use idflow::tui::what_if;
use serde_json::{Value, json};

/// A DENY for the `version: v2` pods of `api` and an ALLOW for its `tier: backend` pods. Both
/// selectors name `shop/api`, and neither selects the pods of the other.
const TWO_SELECTORS: &str = "\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-v2, namespace: shop}
spec:
  selector: {matchLabels: {app: api, version: v2}}
  action: DENY
  rules: [{to: [{operation: {methods: [GET]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-backend, namespace: shop}
spec:
  selector: {matchLabels: {app: api, tier: backend}}
  rules: [{to: [{operation: {methods: [GET]}}]}]
";

/// The warning `check --workload shop/api` gives under [`TWO_SELECTORS`].
const LEFT_OUT_WARNING: &str = "the selector app=api,version=v2 of AuthorizationPolicy \
     shop/deny-v2 also names shop/api but does not select the labels taken for it \
     (app=api,tier=backend, from AuthorizationPolicy shop/allow-backend), so it was not \
     evaluated. To evaluate it, pass --labels app=api,version=v2";

/// An ALLOW in `shop`.
const SHOP_ALLOW: &str = "\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-get, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  rules: [{to: [{operation: {methods: [GET]}}]}]
";

/// A mesh-wide DENY in the default root namespace.
const ROOT_DENY: &str = "\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-debug, namespace: istio-system}
spec:
  action: DENY
  rules: [{to: [{operation: {paths: [/debug]}}]}]
";

/// Returns a new path in this test run's folder.
fn scratch_path(name: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let folder =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("check6-cli-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temporary folder");
    folder.join(format!("{}-{name}", NEXT.fetch_add(1, Ordering::Relaxed)))
}

fn policy_file(text: &str) -> PathBuf {
    let path = scratch_path("policies.yaml");
    std::fs::write(&path, text).expect("policy written");
    path
}

/// Runs `idflow check -f POLICY ARGS` and returns its exit status, standard output and standard
/// error.
fn run_check(policy: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .arg("check")
        .arg("-f")
        .arg(policy)
        .args(args)
        .output()
        .expect("idflow check runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `idflow check -o json -f POLICY ARGS` and returns the verdict object.
fn check_json(policy: &Path, args: &[&str]) -> Value {
    let mut all = vec!["-o", "json"];
    all.extend_from_slice(args);
    let (_, stdout, stderr) = run_check(policy, &all);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|error| panic!("check printed no JSON ({error}): {stdout}{stderr}"))
}

fn warnings(verdict: &Value) -> Vec<String> {
    verdict["warnings"]
        .as_array()
        .expect("a warnings list")
        .iter()
        .map(|warning| warning.as_str().expect("a text warning").to_owned())
        .collect()
}

#[test]
fn left_out_selector_json() {
    let policy = policy_file(TWO_SELECTORS);
    let verdict = check_json(&policy, &["--workload", "shop/api"]);

    assert_eq!(verdict["status"], 200, "the tier=backend pods are allowed");
    assert_eq!(
        verdict["selectors_not_evaluated"],
        json!([{
            "kind": "AuthorizationPolicy",
            "policy": "shop/deny-v2",
            "labels": {"app": "api", "version": "v2"},
            "labels_flag": "--labels app=api,version=v2",
        }])
    );
    assert_eq!(warnings(&verdict), [LEFT_OUT_WARNING]);
}

#[test]
fn left_out_selector_text() {
    let policy = policy_file(TWO_SELECTORS);
    let (_, stdout, _) = run_check(&policy, &["--workload", "shop/api"]);

    assert!(
        stdout
            .lines()
            .any(|line| line == format!("warning: {LEFT_OUT_WARNING}")),
        "{stdout}"
    );
}

/// The command the warning gives evaluates the policy it names.
#[test]
fn left_out_flag_evaluates() {
    let policy = policy_file(TWO_SELECTORS);
    let verdict = check_json(
        &policy,
        &["--workload", "shop/api", "--labels", "app=api,version=v2"],
    );

    assert_eq!(verdict["status"], 403);
    assert_eq!(verdict["policy"], "shop/deny-v2");
    assert_eq!(verdict["selectors_not_evaluated"], json!([]));
    assert!(warnings(&verdict).is_empty(), "{verdict}");
}

/// Policies whose selectors have the evaluated labels are evaluated, so they are not listed, and
/// two policies with one selector share one warning.
#[test]
fn left_out_grouped_by_labels() {
    let text = format!(
        "{TWO_SELECTORS}---\n\
         apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n\
         metadata: {{name: jwt-v2, namespace: shop}}\n\
         spec:\n  selector: {{matchLabels: {{version: v2, app: api}}}}\n  \
         jwtRules: [{{issuer: https://idp.shop.test, jwks: '{{\"keys\":[]}}'}}]\n\
         ---\n\
         apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n\
         metadata: {{name: mtls-backend, namespace: shop}}\n\
         spec:\n  selector: {{matchLabels: {{app: api, tier: backend}}}}\n  \
         mtls: {{mode: PERMISSIVE}}\n"
    );
    let policy = policy_file(&text);
    let verdict = check_json(&policy, &["--workload", "shop/api"]);

    let listed: Vec<&str> = verdict["selectors_not_evaluated"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|selector| selector["policy"].as_str().expect("a policy name"))
        .collect();
    assert_eq!(listed, ["shop/deny-v2", "shop/jwt-v2"]);
    assert!(
        warnings(&verdict).contains(
            &"the selector app=api,version=v2 of AuthorizationPolicy shop/deny-v2 and \
              RequestAuthentication shop/jwt-v2 also names shop/api but does not select the \
              labels taken for it (app=api,tier=backend, from AuthorizationPolicy \
              shop/allow-backend), so they were not evaluated. To evaluate them, pass --labels \
              app=api,version=v2"
                .to_owned()
        ),
        "{verdict}"
    );
}

#[test]
fn namespace_typo_warns() {
    let policy = policy_file(&format!("{SHOP_ALLOW}---\n{ROOT_DENY}"));
    let expected = "no policy in the -f files is in namespace shpo, so only those of the root \
                    namespace istio-system apply to shpo/api. The others are in namespace shop. \
                    Check the namespace in --workload";

    let verdict = check_json(&policy, &["--workload", "shpo/api"]);
    assert_eq!(warnings(&verdict), [expected]);

    let labelled = check_json(&policy, &["--workload", "shpo/api", "--labels", "app=api"]);
    assert_eq!(warnings(&labelled), [expected], "--labels does not hide it");
}

#[test]
fn namespace_typo_without_root() {
    let web_allow = SHOP_ALLOW.replace("namespace: shop", "namespace: web");
    let policy = policy_file(&format!("{SHOP_ALLOW}---\n{web_allow}"));
    let verdict = check_json(&policy, &["--workload", "shpo/api"]);

    assert_eq!(
        warnings(&verdict),
        [
            "no policy in the -f files is in namespace shpo, so none applies to shpo/api. They are \
          in namespaces shop, web. Check the namespace in --workload"
        ]
    );
}

/// Policies of the root namespace apply to every namespace, so a namespace without policies of
/// its own is no sign of a typo when the root namespace contains them all.
#[test]
fn namespace_root_only_quiet() {
    let cases = [
        (ROOT_DENY.to_owned(), vec!["--workload", "shpo/api"]),
        (
            ROOT_DENY.replace("istio-system", "mesh-root"),
            vec!["--workload", "shpo/api", "--root-namespace", "mesh-root"],
        ),
        (
            format!("{SHOP_ALLOW}---\n{ROOT_DENY}"),
            vec!["--workload", "shop/api"],
        ),
    ];
    for (text, args) in cases {
        let policy = policy_file(&text);
        let verdict = check_json(&policy, &args);
        assert!(warnings(&verdict).is_empty(), "{args:?}: {verdict}");
    }
}

/// The root namespace comes from `--root-namespace`: with another root, `istio-system` is a
/// namespace like any other.
#[test]
fn namespace_other_root_warns() {
    let policy = policy_file(ROOT_DENY);
    let verdict = check_json(
        &policy,
        &["--workload", "shpo/api", "--root-namespace", "mesh-root"],
    );

    assert_eq!(
        warnings(&verdict),
        [
            "no policy in the -f files is in namespace shpo, so none applies to shpo/api. They are \
          in namespace istio-system. Check the namespace in --workload"
        ]
    );
}

#[test]
fn text_without_steps_no_heading() {
    let policy = policy_file(TWO_SELECTORS);
    let (status, stdout, _) =
        run_check(&policy, &["--workload", "shop/web", "--labels", "app=web"]);

    assert_eq!(status, Some(0));
    assert!(!stdout.contains("Explanation:"), "{stdout}");
}

#[test]
fn text_with_steps_has_heading() {
    let policy = policy_file(TWO_SELECTORS);
    let (_, stdout, _) = run_check(
        &policy,
        &["--workload", "shop/api", "--labels", "app=api,version=v2"],
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let heading = lines
        .iter()
        .position(|line| *line == "Explanation:")
        .unwrap_or_else(|| panic!("an Explanation: heading: {stdout}"));

    assert!(
        lines
            .get(heading + 1)
            .is_some_and(|line| line.starts_with("  ")),
        "a step under the heading: {stdout}"
    );
}

/// A gateway installed with Istio's Helm gateway chart and selected by its `app` label alone.
const HELM_GATEWAY: &str = "\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ingress-hosts, namespace: istio-ingress}
spec:
  selector: {matchLabels: {app: istio-ingressgateway}}
  rules: [{to: [{operation: {hosts: [api.example.com]}}]}]
";

#[test]
fn helm_gateway_selector_kind() {
    let policy = policy_file(HELM_GATEWAY);
    let (_, stdout, _) = run_check(
        &policy,
        &["--workload", "istio-ingress/istio-ingressgateway"],
    );

    assert!(
        stdout
            .lines()
            .any(|line| line == "  workload               gateway, labels app=istio-ingressgateway,istio=ingressgateway"),
        "{stdout}"
    );
    // A sidecar's warning adds that the client sets the Host header; a gateway's does not.
    assert!(
        stdout.lines().any(|line| line
            == "warning: AuthorizationPolicy istio-ingress/ingress-hosts, field \
                `spec.rules[0].to[0].operation.hosts`: \"api.example.com\" does not match \
                \"api.example.com:443\" or any authority with a port; add \"api.example.com:*\" \
                next to it."),
        "{stdout}"
    );
}

#[test]
fn helm_gateway_what_if_row() {
    let policy = policy_file(HELM_GATEWAY);
    let loaded = load_policy_file(&policy, "default").expect("policies load");
    let targets = what_if::targets(&loaded.policies, &[]);
    let kinds: Vec<(String, WorkloadKind)> = targets
        .iter()
        .map(|target| (target.workload.name.clone(), target.workload.kind))
        .collect();

    assert_eq!(
        kinds,
        [("istio-ingressgateway".to_owned(), WorkloadKind::Gateway)]
    );
}

/// A service that only calls itself a gateway keeps its sidecar.
#[test]
fn app_gateway_stays_sidecar() {
    let policy = policy_file(&HELM_GATEWAY.replace("istio-ingressgateway", "api-gateway"));
    let (_, stdout, _) = run_check(&policy, &["--workload", "istio-ingress/api-gateway"]);

    assert!(
        stdout
            .lines()
            .any(|line| line == "  workload               sidecar, labels app=api-gateway"),
        "{stdout}"
    );
}
