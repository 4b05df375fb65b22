//! Runs one case file through a real Envoy loaded with `idflow envoy-config`'s filters and through
//! `idflow check`, and compares the two results request by request.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use chrono::{DateTime, Utc};

use super::client::WireRequest;
use super::corpus::{self, CaseFile, Protocol, RequestSpec};
use super::envoy::{self, Layout};
use super::idflow::{self, Verdict};
use super::tokens;
use super::{EnvoyResult, Probe};

/// The result of one request on both sides.
#[derive(Debug)]
pub struct Outcome {
    pub file: String,
    pub request: String,
    /// The request in one line (method, path, host, peer, token location).
    pub summary: String,
    pub envoy: Result<EnvoyResult, String>,
    pub idflow: Result<Verdict, String>,
    /// Why the two sides (or a documented verdict) disagree; `None` when they agree.
    pub problem: Option<String>,
}

/// One request, ready for both sides.
struct Prepared {
    spec: RequestSpec,
    wire: WireRequest,
    /// The token when it travels as `Authorization: Bearer`, which `check` takes as `--token`.
    bearer: Option<String>,
}

fn prepare(spec: &RequestSpec, case: &CaseFile, port: u16, minted: Option<String>) -> Prepared {
    let fill = |text: &str| text.replace("${PORT}", &port.to_string());
    let mut path = fill(&spec.path);
    let mut headers: Vec<(String, String)> = spec
        .headers
        .iter()
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("header {line:?} is not `Name: value`"));
            (name.trim().to_owned(), fill(value.trim_start()))
        })
        .collect();
    let mut bearer = None;
    if let (Some(token), Some(spec_token)) = (minted, &spec.token) {
        let location = &spec_token.location;
        if let Some(param) = &location.param {
            let joiner = if path.contains('?') { '&' } else { '?' };
            path = format!("{path}{joiner}{param}={token}");
        } else if let Some(cookie) = &location.cookie {
            headers.push(("cookie".to_owned(), format!("{cookie}={token}")));
        } else {
            let header = location
                .header
                .clone()
                .unwrap_or_else(|| "Authorization".to_owned());
            let prefix = location.prefix.clone().unwrap_or_default();
            if header == "Authorization" && prefix == "Bearer " {
                bearer = Some(token.clone());
            }
            headers.push((header, format!("{prefix}{token}")));
        }
    }
    let host = spec.host.as_deref().map_or_else(
        || {
            format!(
                "{}.{}.svc.cluster.local:{port}",
                case.workload.name, case.workload.namespace
            )
        },
        fill,
    );
    Prepared {
        spec: spec.clone(),
        wire: WireRequest {
            method: spec.method.clone(),
            path,
            host,
            headers,
            peer: spec.peer.as_ref().map(|peer| format!("spiffe://{peer}")),
            source_ip: spec.source_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            sni: spec.sni.clone(),
        },
        bearer,
    }
}

fn common_args(
    case: &CaseFile,
    policies: &Path,
    port: u16,
    jwks: &[(String, String)],
) -> Vec<String> {
    let w = &case.workload;
    let mut args = vec![
        "-f".to_owned(),
        policies.display().to_string(),
        "--workload".to_owned(),
        format!("{}/{}", w.namespace, w.name),
        "--protocol".to_owned(),
        case.protocol.as_str().to_owned(),
        "--port".to_owned(),
        port.to_string(),
    ];
    if !w.labels.is_empty() {
        let labels: Vec<String> = w.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        args.extend(["--labels".to_owned(), labels.join(",")]);
    }
    let optional = [
        ("--service-account", &w.service_account),
        ("--istio-version", &case.istio_version),
        ("--root-namespace", &case.root_namespace),
        ("--trust-domain", &case.trust_domain),
    ];
    for (flag, value) in optional {
        if let Some(value) = value {
            args.extend([flag.to_owned(), value.clone()]);
        }
    }
    for (iss, file) in jwks {
        args.extend(["--jwks".to_owned(), format!("{iss}={file}")]);
    }
    args.extend(case.extra_args.iter().cloned());
    args
}

fn check_args(prepared: &Prepared, case: &CaseFile, at: &DateTime<Utc>) -> Vec<String> {
    let wire = &prepared.wire;
    let mut args = vec![
        "--method".to_owned(),
        wire.method.clone(),
        "--path".to_owned(),
        wire.path.clone(),
        "--host".to_owned(),
        wire.host.clone(),
        "--source-ip".to_owned(),
        wire.source_ip.to_string(),
        // The harness's Envoy listens on loopback, so that is the destination address it sees.
        "--destination-ip".to_owned(),
        "127.0.0.1".to_owned(),
        "--xff-trusted-hops".to_owned(),
        case.xff_trusted_hops.to_string(),
        "--at".to_owned(),
        at.to_rfc3339(),
    ];
    for (name, value) in &wire.headers {
        if prepared.bearer.is_some() && name == "Authorization" {
            continue;
        }
        args.extend(["-H".to_owned(), format!("{name}: {value}")]);
    }
    if let Some(token) = &prepared.bearer {
        args.extend(["--token".to_owned(), token.clone()]);
    }
    if let Some(peer) = &wire.peer {
        args.extend(["--source-principal".to_owned(), peer.clone()]);
    }
    if let Some(sni) = &wire.sni {
        args.extend(["--sni".to_owned(), sni.clone()]);
    }
    args
}

/// Compares Envoy's result with idflow's verdict (and both with a documented verdict).
pub fn compare(
    protocol: Protocol,
    envoy: &EnvoyResult,
    verdict: &Verdict,
    expect: Option<&corpus::Expect>,
) -> Option<String> {
    let allowed = verdict.decision == "allow";
    let mut problems = Vec::new();
    match protocol {
        Protocol::Http => {
            if envoy.status != verdict.status || envoy.details != verdict.response_code_details {
                problems.push("status or details differ".to_owned());
            }
        }
        Protocol::Tcp => {
            if envoy.allowed != allowed {
                problems
                    .push("one side let the connection through, the other closed it".to_owned());
            } else if !allowed && envoy.details != verdict.response_code_details {
                problems.push("connection termination details differ".to_owned());
            }
        }
    }
    if verdict.exit != i32::from(!allowed) {
        problems.push(format!(
            "exit status {} does not fit decision {}",
            verdict.exit, verdict.decision
        ));
    }
    if let Some(expect) = expect {
        if envoy.status != expect.status || envoy.details != expect.details {
            problems.push(format!(
                "Envoy misses the documented {} {}",
                expect.status, expect.details
            ));
        }
        if verdict.status != expect.status || verdict.response_code_details != expect.details {
            problems.push(format!(
                "idflow misses the documented {} {}",
                expect.status, expect.details
            ));
        }
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

fn summary(wire: &WireRequest, protocol: Protocol) -> String {
    let mut text = match protocol {
        Protocol::Http => format!("{} {} host={}", wire.method, wire.path, wire.host),
        Protocol::Tcp => "TCP connection".to_owned(),
    };
    if let Some(peer) = &wire.peer {
        let _ = write!(text, " peer={peer}");
    }
    if wire.source_ip != IpAddr::V4(Ipv4Addr::LOCALHOST) {
        let _ = write!(text, " from={}", wire.source_ip);
    }
    for (name, value) in &wire.headers {
        let shown: String = value.chars().take(24).collect();
        let more = if value.chars().count() > 24 {
            "…"
        } else {
            ""
        };
        let _ = write!(text, " [{name}: {shown}{more}]");
    }
    text
}

/// Runs every request of one case file on both sides.
pub fn run_case(envoy_binary: &Path, file: &str, case: &CaseFile) -> Vec<Outcome> {
    let at = Utc::now();
    let now = at.timestamp();
    let dir = super::scratch_dir(file);
    let port = envoy::free_port();
    let upstream_port = envoy::free_port();

    let keys: BTreeMap<String, tokens::SigningKey> = case
        .issuers
        .iter()
        .map(|(name, spec)| (name.clone(), tokens::signing_key(spec)))
        .collect();
    let mut jwks_files = Vec::new();
    let mut jwks_sets = BTreeMap::new();
    for (name, spec) in &case.issuers {
        let set = keys[name].jwks.clone();
        if spec.jwks_file {
            let path = dir.join(format!("jwks-{name}.json"));
            std::fs::write(&path, &set).expect("the JWKS file is writable");
            jwks_files.push((spec.iss.clone(), path.display().to_string()));
        }
        jwks_sets.insert(name.clone(), (spec.iss.clone(), set));
    }
    let policies = dir.join("policies.yaml");
    std::fs::write(&policies, corpus::fill(&case.policies, port, &jwks_sets))
        .expect("the policy file is writable");
    let common = common_args(case, &policies, port, &jwks_files);

    let prepared: Vec<Prepared> = case
        .requests
        .iter()
        .map(|spec| {
            let token = spec
                .token
                .as_ref()
                .map(|token| tokens::mint(token, &case.issuers, &keys, now));
            prepare(spec, case, port, token)
        })
        .collect();

    let envoy_results: Vec<Result<EnvoyResult, String>> = match idflow::envoy_config(&common) {
        Err(error) => prepared.iter().map(|_| Err(error.clone())).collect(),
        Ok(filters) => {
            let layout = Layout {
                http_filters: filters.http_filters,
                network_filters: filters.network_filters,
                tcp: case.protocol == Protocol::Tcp,
                port,
                upstream_port,
                xff_trusted_hops: case.xff_trusted_hops,
            };
            let probes: Vec<Probe> = prepared
                .iter()
                .enumerate()
                .map(|(n, p)| Probe {
                    id: format!("{file}-{n}"),
                    wire: p.wire.clone(),
                })
                .collect();
            let names: Vec<String> = prepared.iter().filter_map(|p| p.wire.sni.clone()).collect();
            let w = &case.workload;
            let server_uri = format!(
                "spiffe://{}/ns/{}/sa/{}",
                case.trust_domain.as_deref().unwrap_or("cluster.local"),
                w.namespace,
                w.service_account.as_deref().unwrap_or("default")
            );
            match super::run_in_envoy(envoy_binary, &dir, &layout, &probes, &server_uri, &names) {
                Ok(results) => results.into_iter().map(Ok).collect(),
                Err(error) => prepared.iter().map(|_| Err(error.clone())).collect(),
            }
        }
    };

    prepared
        .iter()
        .zip(envoy_results)
        .map(|(p, envoy)| {
            let mut args = common.clone();
            args.extend(check_args(p, case, &at));
            let idflow = idflow::check(&args);
            let problem = match (&envoy, &idflow) {
                (Ok(envoy), Ok(verdict)) => {
                    compare(case.protocol, envoy, verdict, p.spec.expect.as_ref())
                }
                (Err(error), _) => Some(format!("Envoy side failed: {error}")),
                (_, Err(error)) => Some(format!("idflow side failed: {error}")),
            };
            Outcome {
                file: file.to_owned(),
                request: p.spec.name.clone(),
                summary: summary(&p.wire, case.protocol),
                envoy,
                idflow,
                problem,
            }
        })
        .collect()
}

/// The readable report of the outcomes that disagree.
pub fn report(outcomes: &[Outcome]) -> String {
    let mut text = String::new();
    for outcome in outcomes.iter().filter(|o| o.problem.is_some()) {
        let envoy = outcome
            .envoy
            .as_ref()
            .map_or_else(Clone::clone, ToString::to_string);
        let idflow = outcome.idflow.as_ref().map_or_else(Clone::clone, |v| {
            format!(
                "{} {} ({})\n{}",
                v.status,
                v.response_code_details,
                v.decision,
                v.explain()
            )
        });
        let _ = writeln!(
            text,
            "- {}/{}: {}\n    request: {}\n    envoy:   {}\n    idflow:  {}",
            outcome.file,
            outcome.request,
            outcome.problem.as_deref().unwrap_or_default(),
            outcome.summary,
            envoy,
            idflow
        );
    }
    text
}
