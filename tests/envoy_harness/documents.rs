//! Policy documents written for a test, and `idflow check` on shop/orders with them.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{idflow, scratch_dir};

/// Writes `documents` as a multi-document policy file in a new folder named after `label`.
pub fn policy_file(documents: &[Value], label: &str) -> PathBuf {
    let path = scratch_dir(label).join("policies.yaml");
    let mut text = String::new();
    for document in documents {
        text.push_str("---\n");
        text.push_str(&document.to_string());
        text.push('\n');
    }
    std::fs::write(&path, text).expect("policy file written");
    path
}

/// Returns a `security.istio.io/v1` RequestAuthentication `namespace/name` with `spec`.
pub fn request_authentication(namespace: &str, name: &str, spec: &Value) -> Value {
    json!({
        "apiVersion": "security.istio.io/v1",
        "kind": "RequestAuthentication",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    })
}

/// Runs `idflow check` on shop/orders with `policies` and `args`, and returns its verdict.
pub fn check_orders(policies: &Path, args: &[&str]) -> idflow::Verdict {
    let mut all = vec![
        "-f".to_owned(),
        policies.display().to_string(),
        "--workload".to_owned(),
        "shop/orders".to_owned(),
    ];
    all.extend(args.iter().map(|arg| (*arg).to_owned()));
    idflow::check(&all).unwrap_or_else(|error| panic!("idflow check failed: {error}"))
}

/// Returns a mesh-wide RequestAuthentication for `issuer` with the key set `jwks` that reads the
/// token only from `header` after `prefix`, and an ALLOW policy in `shop` that requires a request
/// principal, written to a policy file named after `label`.
pub fn custom_header_policies(
    issuer: &str,
    jwks: &str,
    (header, prefix): (&str, &str),
    label: &str,
) -> PathBuf {
    let authentication = request_authentication(
        "istio-system",
        "root",
        &json!({"jwtRules": [{
            "issuer": issuer,
            "jwks": jwks,
            "fromHeaders": [{"name": header, "prefix": prefix}],
        }]}),
    );
    let authorization = json!({
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "need", "namespace": "shop"},
        "spec": {"rules": [{"from": [{"source": {"requestPrincipals": ["*"]}}]}]},
    });
    policy_file(&[authentication, authorization], label)
}
