//! The corpus format: one YAML file per policy set, naming the workload, the policies and the
//! requests to send. See `tests/corpus/README.md`.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// One policy set and the requests sent against it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// What the set is about, in a sentence.
    pub about: String,
    /// The case clock (RFC 3339). Token times are written as offsets from it; the harness replays
    /// them relative to the wall clock at run time, which Envoy uses, and passes that as `--at`.
    pub at: String,
    pub workload: WorkloadSpec,
    #[serde(default)]
    pub protocol: Protocol,
    /// The gateway's `numTrustedProxies` (Envoy `xff_num_trusted_hops`).
    #[serde(default)]
    pub xff_trusted_hops: u32,
    pub istio_version: Option<String>,
    pub root_namespace: Option<String>,
    pub trust_domain: Option<String>,
    /// More flags for both `idflow envoy-config` and `idflow check`.
    #[serde(default)]
    pub extra_args: Vec<String>,
    #[serde(default)]
    pub issuers: BTreeMap<String, IssuerSpec>,
    /// Multi-document policy YAML with `${PORT}` and `${JWKS:<issuer>}` placeholders.
    pub policies: String,
    pub requests: Vec<RequestSpec>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Http,
    Tcp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Tcp => "tcp",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub service_account: Option<String>,
}

/// An issuer the harness mints a key for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSpec {
    /// The `iss` claim and the key of `--jwks ISS=FILE`.
    pub iss: String,
    #[serde(default = "default_alg")]
    pub alg: String,
    #[serde(default = "default_kid")]
    pub kid: String,
    /// Whether to hand its JWKS to idflow with `--jwks` (a `jwksUri` istiod could fetch).
    #[serde(default = "yes")]
    pub jwks_file: bool,
}

fn default_alg() -> String {
    "RS256".to_owned()
}

fn default_kid() -> String {
    "key-1".to_owned()
}

fn yes() -> bool {
    true
}

/// One request (or TCP connection).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    pub name: String,
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default = "default_path")]
    pub path: String,
    /// `:authority`; default `NAME.NAMESPACE.svc.cluster.local:${PORT}`.
    pub host: Option<String>,
    /// `Name: value` lines.
    #[serde(default)]
    pub headers: Vec<String>,
    pub token: Option<TokenSpec>,
    /// The mTLS peer principal without `spiffe://`; plaintext when absent.
    pub peer: Option<String>,
    /// A loopback source address (127.0.0.0/8); default 127.0.0.1.
    pub source_ip: Option<IpAddr>,
    /// TLS SNI (needs `peer`).
    pub sni: Option<String>,
    /// A verdict documented by a field report, which both Envoy and idflow must meet.
    pub expect: Option<Expect>,
}

fn default_method() -> String {
    "GET".to_owned()
}

fn default_path() -> String {
    "/".to_owned()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub status: u16,
    pub details: String,
}

/// A token to mint, and where to put it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    /// The issuer (a key of `issuers`) whose `iss`, key and `kid` the token gets.
    #[serde(default)]
    pub issuer: String,
    /// Claims over the defaults (`iss`, `sub: user-1`, `iat: 0`, `exp: 3600`); null removes one.
    /// `iat`, `nbf`, `exp` are offsets in seconds from the case clock.
    #[serde(default)]
    pub claims: BTreeMap<String, Value>,
    /// Header `kid`; empty leaves it out.
    pub kid: Option<String>,
    /// Sign with this issuer's key instead (a wrong key under the right `kid`).
    pub sign_with: Option<String>,
    /// A literal token instead of a minted one.
    pub raw: Option<String>,
    /// The text sent in place of the minted token, with `{header}`, `{payload}` and `{signature}`
    /// standing for its segments, such as `{header}.{payload}.{signature}.` for a trailing dot.
    pub shape: Option<String>,
    #[serde(default, rename = "in")]
    pub location: Location,
}

/// Where the token goes: a header with a prefix, a query parameter or a cookie.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub header: Option<String>,
    pub prefix: Option<String>,
    pub param: Option<String>,
    pub cookie: Option<String>,
}

impl Default for Location {
    fn default() -> Self {
        Self {
            header: Some("Authorization".to_owned()),
            prefix: Some("Bearer ".to_owned()),
            param: None,
            cookie: None,
        }
    }
}

/// The corpus folder.
pub fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Every `*.yaml` case file of the corpus with its name (the file stem), sorted by name.
pub fn load() -> Vec<(String, CaseFile)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder())
        .expect("tests/corpus is readable")
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
            let case: CaseFile = serde_saphyr::from_str(&text)
                .unwrap_or_else(|error| panic!("{} is not a case file: {error}", path.display()));
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, case)
        })
        .collect()
}

/// The policies with `${PORT}` and `${JWKS:<issuer>}` filled in (`<issuer>` is an issuer's key
/// in the case file or its `iss`).
pub fn fill(policies: &str, port: u16, jwks: &BTreeMap<String, (String, String)>) -> String {
    let mut text = policies.replace("${PORT}", &port.to_string());
    for (name, (iss, set)) in jwks {
        text = text.replace(&format!("${{JWKS:{name}}}"), set);
        text = text.replace(&format!("${{JWKS:{iss}}}"), set);
    }
    assert!(
        !text.contains("${"),
        "a placeholder was left unfilled in:\n{text}"
    );
    text
}
