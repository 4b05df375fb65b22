//! An Envoy set up for one JWT issuer with Istio's default token locations, on workload
//! `shop/orders`. The RequestAuthentication `shop/jwt` names no `fromHeaders`, `fromParams` or
//! `fromCookies`, so Envoy reads `Authorization: Bearer` and the `access_token` query parameter.
//! The ALLOW policy `shop/require-jwt` requires a request principal of that issuer.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::client::WireRequest;
use super::{envoy, http_verdicts, idflow, scratch_dir};

/// One GET request: the request target (path and query) and the header lines.
pub type Request = (String, Vec<(String, String)>);

/// Writes the two policies for `issuer`, whose keys are the JWKS `jwks` (one line of JSON), to a
/// new file under a folder named after `label`, and returns its path.
pub fn policy_file(issuer: &str, jwks: &str, label: &str) -> PathBuf {
    policy_file_at(issuer, jwks, &json!({}), label)
}

/// Writes the policies [`policy_file`] writes, with the token locations in `locations` (an object
/// of `fromHeaders`, `fromParams` and `fromCookies` fields) added to the `jwtRules` entry.
pub fn policy_file_at(issuer: &str, jwks: &str, locations: &Value, label: &str) -> PathBuf {
    let mut rule = json!({"issuer": issuer, "jwks": jwks});
    if let (Some(rule), Some(locations)) = (rule.as_object_mut(), locations.as_object()) {
        rule.extend(locations.clone());
    }
    let authentication = json!({
        "apiVersion": "security.istio.io/v1",
        "kind": "RequestAuthentication",
        "metadata": {"name": "jwt", "namespace": "shop"},
        "spec": {"jwtRules": [rule]},
    });
    let authorization = json!({
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": "require-jwt", "namespace": "shop"},
        "spec": {"rules": [{"from": [{"source": {"requestPrincipals": [format!("{issuer}/*")]}}]}]},
    });
    let path = scratch_dir(label).join("policies.yaml");
    // JSON is YAML, so each document goes on its own line after a `---` separator.
    std::fs::write(
        &path,
        format!("---\n{authentication}\n---\n{authorization}\n"),
    )
    .expect("policy file written");
    path
}

/// Sends each request through one Envoy with the filters `idflow envoy-config` prints for the
/// policies in `policies`, and returns `STATUS DETAILS` for each.
pub fn verdicts(policies: &Path, requests: &[Request], label: &str) -> Vec<String> {
    let port = envoy::free_port();
    let args: Vec<String> = [
        "-f",
        &policies.display().to_string(),
        "--workload",
        "shop/orders",
        "--port",
        &port.to_string(),
    ]
    .map(str::to_owned)
    .to_vec();
    let filters = idflow::envoy_config(&args)
        .unwrap_or_else(|error| panic!("idflow envoy-config failed: {error}"));
    let wires = requests
        .iter()
        .map(|(path, headers)| WireRequest {
            method: "GET".to_owned(),
            path: path.clone(),
            host: "orders.shop.svc.cluster.local:8080".to_owned(),
            headers: headers.clone(),
            peer: None,
            source_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            sni: None,
        })
        .collect();
    http_verdicts(filters.http_filters, port, wires, label)
}
