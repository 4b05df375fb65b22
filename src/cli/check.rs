//! `idflow check` and `idflow envoy-config`: the flags that describe a workload, a request and the
//! mesh, validated into the simulator's types.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use clap::{Args, ValueEnum};

use crate::mesh::check::{DEFAULT_PORT, bearer_header, service_host};
use crate::mesh::codec::is_http_token;
use crate::mesh::{IstioVersion, MeshSettings, Protocol, Request, Workload, WorkloadKind, named};

mod selectors;

pub use selectors::{NotEvaluated, WorkloadReport, kind_word};

// Flags that name the policies, the workload and the mesh.
#[derive(Debug, Clone, Args)]
pub struct MeshArgs {
    /// Policy files (YAML or JSON, multi-document): AuthorizationPolicy, RequestAuthentication,
    /// PeerAuthentication. `-` reads standard input.
    #[arg(short = 'f', long = "file", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// The workload as NAMESPACE/NAME.
    #[arg(long)]
    pub workload: String,
    /// The workload's pod labels, `key=value,key=value` (default: the labels of the policy
    /// selector that names NAME, as the Token view's what-if rows use, plus `istio` for a release
    /// of Istio's gateway chart that a selector on `istio` suggests, else `app=NAME`).
    #[arg(long)]
    pub labels: Option<String>,
    /// The workload's service account (default: NAME).
    #[arg(long)]
    pub service_account: Option<String>,
    /// The proxy kind, which changes which policies attach (default: gateway when the labels
    /// taken for NAME have an `istio` label or an `app` label `istio-…gateway`, else sidecar).
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// Transport of the port.
    #[arg(long, value_enum, default_value = "http")]
    pub protocol: ProtocolArg,
    /// Destination (workload) port.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// JWKS for a `jwksUri`, as `ISSUER_OR_URI=FILE` (repeatable).
    #[arg(long = "jwks", value_name = "KEY=FILE")]
    pub jwks: Vec<String>,
    /// Follow the semantics of this Istio release, `MAJOR.MINOR`.
    #[arg(long)]
    pub istio_version: Option<String>,
    /// `meshConfig.rootNamespace`.
    #[arg(long, default_value = "istio-system")]
    pub root_namespace: String,
    /// The mesh trust domain.
    #[arg(long, default_value = "cluster.local")]
    pub trust_domain: String,
    /// Trust domain aliases (repeatable).
    #[arg(long = "trust-domain-alias")]
    pub trust_domain_aliases: Vec<String>,
}

/// Proxy kinds on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Sidecar,
    Gateway,
    KubernetesGateway,
    Waypoint,
}

/// Transports on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    Http,
    Tcp,
}

// Flags that describe one request.
#[derive(Debug, Clone, Args)]
pub struct RequestArgs {
    /// The request's method, as the client sends it (Envoy's HTTP/1 codec rejects unknown ones).
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Path as sent, query string included.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// `:authority`, as sent in the Host header (default: the workload's service name and port, as
    /// a sidecar receives it). `-H 'Host: …'` sets it too.
    #[arg(long)]
    pub host: Option<String>,
    /// A request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// A token sent as `Authorization: Bearer TOKEN`; use `-H` for another location.
    #[arg(long)]
    pub token: Option<String>,
    /// The mTLS peer principal, `spiffe://TD/ns/NS/sa/SA` or `TD/ns/NS/sa/SA` (default: plaintext).
    #[arg(long)]
    pub source_principal: Option<String>,
    /// The mTLS peer's namespace. Without --source-principal the peer is the namespace's `default`
    /// service account in the mesh trust domain, as Istio derives `source.namespace` from it.
    #[arg(long, value_name = "NS")]
    pub source_namespace: Option<String>,
    /// The connection's source address.
    #[arg(long, default_value = "10.0.0.1")]
    pub source_ip: IpAddr,
    /// The workload address the connection arrived on.
    #[arg(long, default_value = "10.0.0.2")]
    pub destination_ip: IpAddr,
    /// TLS SNI.
    #[arg(long)]
    pub sni: Option<String>,
    /// How many `x-forwarded-for` entries to trust (the gateway's `numTrustedProxies`).
    #[arg(long, default_value_t = 0)]
    pub xff_trusted_hops: u32,
    /// The clock for `exp`/`nbf`, RFC 3339 or Unix seconds (default: now).
    #[arg(long)]
    pub at: Option<String>,
}

/// A flag value that could not be used, with the flag, the value and what to write instead. The
/// message quotes the value with tokens hidden, because a misplaced `-H 'Bearer …'` carries one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {flag} {:?}: {expected}", crate::redact::excerpt(.value, 80))]
pub struct FlagError {
    pub flag: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl MeshArgs {
    /// Builds the workload from `--workload`, `--labels`, `--service-account` and `--kind`.
    pub fn workload(&self) -> Result<Workload, FlagError> {
        let (namespace, name) = split_workload(&self.workload)?;
        let labels = match &self.labels {
            Some(text) => parse_labels(text)?,
            None => BTreeMap::from([("app".to_owned(), name.clone())]),
        };
        let kind = match self.kind {
            // Without --labels, `apply_policy_selectors` takes the kind of the selector that names
            // the workload.
            None => named::kind_for_labels(&labels),
            Some(KindArg::Sidecar) => WorkloadKind::Sidecar,
            Some(KindArg::Gateway) => WorkloadKind::Gateway,
            Some(KindArg::KubernetesGateway) => WorkloadKind::KubernetesGateway,
            Some(KindArg::Waypoint) => WorkloadKind::Waypoint,
        };
        let service_account = self.service_account.clone().unwrap_or_else(|| name.clone());
        Ok(Workload {
            namespace,
            name,
            labels,
            service_account,
            kind,
        })
    }

    /// Builds the mesh settings, with `now` as the clock.
    pub fn settings(&self, now: DateTime<Utc>) -> Result<MeshSettings, FlagError> {
        let istio_version = match &self.istio_version {
            Some(text) => parse_istio_version(text)?,
            None => IstioVersion::DEFAULT,
        };
        Ok(MeshSettings {
            root_namespace: self.root_namespace.clone(),
            trust_domain: self.trust_domain.clone(),
            trust_domain_aliases: self.trust_domain_aliases.clone(),
            istio_version,
            now,
        })
    }

    /// Returns the `--jwks` pairs as (issuer or URI, file).
    pub fn jwks_files(&self) -> Result<Vec<(String, PathBuf)>, FlagError> {
        self.jwks
            .iter()
            .map(|pair| match pair.split_once('=') {
                Some((key, file)) if !key.is_empty() && !file.is_empty() => {
                    Ok((key.to_owned(), PathBuf::from(file)))
                }
                _ => Err(FlagError {
                    flag: "--jwks",
                    value: pair.clone(),
                    expected: "expected ISSUER_OR_URI=FILE, e.g. https://idp.example.com=jwks.json",
                }),
            })
            .collect()
    }

    /// Returns the transport of `--protocol`.
    pub fn protocol(&self) -> Protocol {
        match self.protocol {
            ProtocolArg::Http => Protocol::Http,
            ProtocolArg::Tcp => Protocol::Tcp,
        }
    }
}

impl RequestArgs {
    /// Builds the request the proxy of `workload` receives on `mesh`'s port and protocol.
    pub fn request(&self, mesh: &MeshArgs, workload: &Workload) -> Result<Request, FlagError> {
        let mut headers = Vec::with_capacity(self.headers.len() + 1);
        // Over HTTP/1.1 each `Host` line is the `:authority`, and Envoy joins repeated lines
        // with `,` (it keeps `:authority` inline, one value), so `--host a -H 'Host: b'` is
        // `a,b`.
        let mut hosts: Vec<String> = self.host.iter().cloned().collect();
        for header in &self.headers {
            let (name, value) = parse_header(header)?;
            if name.eq_ignore_ascii_case("host") {
                hosts.push(value);
            } else {
                headers.push((name, value));
            }
        }
        if let Some(token) = &self.token {
            headers.push(bearer_header(token));
        }
        let host = if hosts.is_empty() {
            service_host(workload, mesh.port)
        } else {
            hosts.join(",")
        };
        let source_principal = self.source_principal(mesh)?;
        Ok(Request {
            protocol: mesh.protocol(),
            port: mesh.port,
            method: checked_method(&self.method)?,
            path: checked_path(&self.path)?,
            host,
            headers,
            source_principal,
            source_ip: self.source_ip,
            destination_ip: self.destination_ip,
            sni: self.sni.clone(),
            xff_trusted_hops: self.xff_trusted_hops,
        })
    }

    /// Returns the peer principal from `--source-principal` or `--source-namespace`, or `None`
    /// for plaintext. The two flags must name the same namespace.
    fn source_principal(&self, mesh: &MeshArgs) -> Result<Option<String>, FlagError> {
        let principal = match (&self.source_principal, &self.source_namespace) {
            (Some(principal), _) => {
                if principal.is_empty()
                    || principal.contains(|c: char| c.is_whitespace() || c.is_control())
                {
                    return Err(FlagError {
                        flag: "--source-principal",
                        value: principal.clone(),
                        expected: "expected a SPIFFE id without spaces, e.g. spiffe://cluster.local/ns/shop/sa/web",
                    });
                }
                if principal.starts_with("spiffe://") {
                    principal.clone()
                } else {
                    format!("spiffe://{principal}")
                }
            }
            (None, Some(namespace)) => {
                format!("spiffe://{}/ns/{namespace}/sa/default", mesh.trust_domain)
            }
            (None, None) => return Ok(None),
        };
        if let Some(namespace) = &self.source_namespace {
            let named = principal
                .split_once("/ns/")
                .and_then(|(_, rest)| rest.split('/').next());
            if namespace.is_empty() || named != Some(namespace.as_str()) {
                return Err(FlagError {
                    flag: "--source-namespace",
                    value: namespace.clone(),
                    expected: "expected the namespace that --source-principal names (`/ns/NS/`), or drop one of the two flags",
                });
            }
        }
        Ok(Some(principal))
    }

    /// Returns the clock: `--at`, or now.
    pub fn now(&self) -> Result<DateTime<Utc>, FlagError> {
        match &self.at {
            Some(text) => parse_time(text),
            None => Ok(Utc::now()),
        }
    }
}

pub(super) fn split_workload(text: &str) -> Result<(String, String), FlagError> {
    match text.split_once('/') {
        Some((namespace, name))
            if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
        {
            Ok((namespace.to_owned(), name.to_owned()))
        }
        _ => Err(FlagError {
            flag: "--workload",
            value: text.to_owned(),
            expected: "expected NAMESPACE/NAME, e.g. shop/orders",
        }),
    }
}

fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, FlagError> {
    let mut labels = BTreeMap::new();
    for pair in text.split(',').filter(|pair| !pair.trim().is_empty()) {
        match pair.split_once('=') {
            // A pod has one value per label key, so a key given twice is a mistake.
            Some((key, value)) if !key.trim().is_empty() && !labels.contains_key(key.trim()) => {
                labels.insert(key.trim().to_owned(), value.trim().to_owned());
            }
            Some((key, _)) if !key.trim().is_empty() => {
                return Err(FlagError {
                    flag: "--labels",
                    value: text.to_owned(),
                    expected: "each label key once: a pod has one value per key, e.g. app=orders,version=v1",
                });
            }
            _ => {
                return Err(FlagError {
                    flag: "--labels",
                    value: text.to_owned(),
                    expected: "expected key=value pairs separated by commas, e.g. app=orders,version=v1",
                });
            }
        }
    }
    Ok(labels)
}

/// Returns `--method` when it is an HTTP token. Envoy's HTTP/1 codec rejects more methods than
/// these, which `check` reports as its 400 verdict.
fn checked_method(text: &str) -> Result<String, FlagError> {
    if is_http_token(text) {
        return Ok(text.to_owned());
    }
    Err(FlagError {
        flag: "--method",
        value: text.to_owned(),
        expected: "expected an HTTP method, e.g. GET or POST",
    })
}

/// Returns `--path` when it is an origin-form request target: `/` first, no spaces or controls.
fn checked_path(text: &str) -> Result<String, FlagError> {
    if text.starts_with('/') && !text.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Ok(text.to_owned());
    }
    Err(FlagError {
        flag: "--path",
        value: text.to_owned(),
        expected: "expected a path starting with `/` and without spaces, e.g. /api/orders?id=7",
    })
}

fn parse_header(text: &str) -> Result<(String, String), FlagError> {
    match text.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() && !name.contains(char::is_whitespace) => {
            // HTTP/1 codecs drop the spaces and tabs around a value (RFC 9112 section 5).
            let value = value.trim_matches([' ', '\t']);
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(FlagError {
            flag: "-H",
            value: text.to_owned(),
            expected: "expected 'Name: value', e.g. 'x-user: alice'",
        }),
    }
}

fn parse_istio_version(text: &str) -> Result<IstioVersion, FlagError> {
    let error = || FlagError {
        flag: "--istio-version",
        value: text.to_owned(),
        expected: "expected MAJOR.MINOR, e.g. 1.24",
    };
    let mut parts = text.trim_start_matches('v').split('.');
    let major = parts
        .next()
        .and_then(|part| part.parse().ok())
        .ok_or_else(error)?;
    let minor = parts
        .next()
        .and_then(|part| part.parse().ok())
        .ok_or_else(error)?;
    // Every Istio release so far is 1.x, so another major version is a typing error.
    if major != 1 {
        return Err(FlagError {
            expected: "expected an Istio release, 1.MINOR, e.g. 1.24",
            ..error()
        });
    }
    Ok(IstioVersion { major, minor })
}

/// Parses `--at`: RFC 3339, or Unix seconds.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, FlagError> {
    let error = || FlagError {
        flag: "--at",
        value: text.to_owned(),
        expected: "expected an RFC 3339 time (2026-03-01T09:15:00Z) or Unix seconds (1772356500)",
    };
    // A shell variable or a copied value often brings a space along.
    let trimmed = text.trim();
    if let Ok(seconds) = trimmed.parse::<i64>() {
        // 10^11 seconds is the year 5138, so a number this long is in milliseconds (JavaScript's
        // Date.now()) or microseconds, and reading it as seconds would move the clock by millennia.
        if seconds.unsigned_abs() >= 100_000_000_000 {
            return Err(FlagError {
                expected: "a Unix time of 12 digits or more is in milliseconds or microseconds,                            not seconds; divide it by 1000 (1772356500000 is 1772356500), or give                            an RFC 3339 time (2026-03-01T09:15:00Z)",
                ..error()
            });
        }
        return Utc.timestamp_opt(seconds, 0).single().ok_or_else(error);
    }
    DateTime::parse_from_rfc3339(trimmed)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| error())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds the request of `idflow check -f p.yaml --workload shop/orders EXTRA...`.
    fn request_from(extra: &[&str]) -> Result<Request, FlagError> {
        let mut argv = vec![
            "idflow",
            "check",
            "-f",
            "p.yaml",
            "--workload",
            "shop/orders",
        ];
        argv.extend_from_slice(extra);
        let cli = <crate::cli::Cli as clap::Parser>::try_parse_from(argv).expect("flags parse");
        let Some(crate::cli::Command::Check(check)) = cli.command else {
            panic!("not a check command");
        };
        let workload = check.mesh.workload()?;
        check.request.request(&check.mesh, &workload)
    }

    #[test]
    fn at_milliseconds_rejected() {
        let error = parse_time("1767225600000").expect_err("milliseconds");
        assert!(error.expected.contains("milliseconds"), "{error}");
        let error = parse_time("-1767225600000").expect_err("milliseconds");
        assert!(error.expected.contains("milliseconds"), "{error}");
        let latest = parse_time("99999999999").expect("seconds in the year 5138");
        assert_eq!(latest.timestamp(), 99_999_999_999);
        assert_eq!(
            parse_time(" 1767225600 ").map(|time| time.timestamp()),
            Ok(1_767_225_600)
        );
    }

    #[test]
    fn source_namespace_sets_principal() {
        let request = request_from(&["--source-namespace", "web"]).expect("valid flags");
        assert_eq!(
            request.source_principal.as_deref(),
            Some("spiffe://cluster.local/ns/web/sa/default")
        );
    }

    #[test]
    fn source_namespace_must_match_principal() {
        let both = [
            "--source-principal",
            "cluster.local/ns/web/sa/ui",
            "--source-namespace",
        ];
        assert!(request_from(&[&both[..], &["web"]].concat()).is_ok());
        let error = request_from(&[&both[..], &["shop"]].concat()).expect_err("namespaces differ");
        assert_eq!(error.flag, "--source-namespace");
    }

    #[test]
    fn invalid_request_values_rejected() {
        let cases = [
            (&["--path", "no-slash"][..], "--path"),
            (&["--path", "/a b"][..], "--path"),
            (&["--method", "G E T"][..], "--method"),
            (&["--method", ""][..], "--method"),
            (
                &["--source-principal", "not a principal"][..],
                "--source-principal",
            ),
        ];
        for (flags, flag) in cases {
            let error = request_from(flags).expect_err("invalid value");
            assert_eq!(error.flag, flag, "{flags:?}");
        }
        assert!(request_from(&["--method", "PATCH", "--path", "/api?x=1"]).is_ok());
    }

    #[test]
    fn workload_needs_namespace_and_name() {
        assert!(split_workload("shop/orders").is_ok());
        assert!(split_workload("orders").is_err());
        assert!(split_workload("/orders").is_err());
        assert!(split_workload("a/b/c").is_err());
    }

    #[test]
    fn labels_parse_pairs() {
        let labels = parse_labels("app=orders, version=v1").expect("valid labels");
        assert_eq!(labels.get("app").map(String::as_str), Some("orders"));
        assert_eq!(labels.get("version").map(String::as_str), Some("v1"));
        assert!(parse_labels("app").is_err());
        assert!(parse_labels("app=a,app=b").is_err());
    }

    #[test]
    fn header_keeps_value_colons() {
        assert_eq!(
            parse_header("x-forwarded-for: 10.0.0.1:80").expect("valid header"),
            ("x-forwarded-for".to_owned(), "10.0.0.1:80".to_owned())
        );
        assert!(parse_header("no colon").is_err());
    }

    #[test]
    fn istio_version_forms() {
        assert_eq!(
            parse_istio_version("1.21").expect("valid"),
            IstioVersion {
                major: 1,
                minor: 21
            }
        );
        assert_eq!(
            parse_istio_version("v1.20.3").expect("valid"),
            IstioVersion {
                major: 1,
                minor: 20
            }
        );
        assert!(parse_istio_version("latest").is_err());
        assert!(parse_istio_version("9.9").is_err());
        assert!(parse_istio_version("2.0").is_err());
    }

    #[test]
    fn time_accepts_rfc3339_and_seconds() {
        assert_eq!(
            parse_time("1772356500").expect("seconds").timestamp(),
            1_772_356_500
        );
        assert_eq!(
            parse_time("2026-03-01T09:15:00Z")
                .expect("rfc3339")
                .timestamp(),
            1_772_356_500
        );
        assert!(parse_time("yesterday").is_err());
        assert_eq!(
            parse_time(" 1772356500\n").expect("seconds").timestamp(),
            1_772_356_500
        );
    }
}

/// Exit status of `idflow check` for a request that the proxy allows.
pub const EXIT_ALLOWED: u8 = 0;

/// Exit status of `idflow check` for a request that the proxy denies.
pub const EXIT_DENIED: u8 = 1;

/// The exit statuses of `idflow check`, each with its meaning, for its `--help` text.
pub const EXIT_STATUSES: [(u8, &str); 3] = [
    (
        EXIT_ALLOWED,
        "the proxy allows the request (decision `allow`, status 200)",
    ),
    (
        EXIT_DENIED,
        "the proxy denies the request (decision `deny`), e.g. 401 from jwt_authn, 403 from \
         RBAC, or status 0 for a TCP connection it closes",
    ),
    (
        super::EXIT_USAGE,
        "invalid flags or flag values (e.g. --workload, --at), or a policy or JWKS file that \
         cannot be read or parsed",
    ),
];

/// Returns the `Exit status:` section of `idflow check --help`, from [`EXIT_STATUSES`].
pub fn exit_status_help() -> String {
    let mut help = "Exit status:".to_owned();
    for (status, meaning) in EXIT_STATUSES {
        let _ = write!(help, "\n  {status}  {meaning}");
    }
    help.push_str(
        "\nA reader that closes standard output early (`| head`) keeps the verdict's exit status.",
    );
    help
}

// `idflow check`: one request at one workload.
#[derive(Debug, Clone, Args)]
#[command(after_help = exit_status_help())]
pub struct CheckArgs {
    #[command(flatten)]
    pub mesh: MeshArgs,
    #[command(flatten)]
    pub request: RequestArgs,
    /// Output form: `json` prints the verdict object, `ndjson` the same object on one line, and
    /// `text` a readable summary.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: super::OutputFormat,
}

// `idflow envoy-config`: the Envoy filters istiod would generate for a workload.
#[derive(Debug, Clone, Args)]
pub struct EnvoyConfigArgs {
    #[command(flatten)]
    pub mesh: MeshArgs,
}
