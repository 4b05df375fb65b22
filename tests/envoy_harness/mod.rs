//! Test support for checking idflow's mesh simulator against a real Envoy: certificates and tokens
//! minted per case, an Envoy bootstrap shaped like an Istio sidecar's inbound side, raw HTTP and TCP
//! clients, the corpus format, and the comparison with `idflow check`.

// Each test crate that includes this module uses a different part of it.
#![allow(dead_code)]

pub mod agreement;
pub mod client;
pub mod corpus;
pub mod documents;
pub mod envoy;
pub mod idflow;
pub mod pki;
pub mod require_jwt;
pub mod tokens;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use client::WireRequest;
use envoy::{Envoy, Layout, LogRecord};

/// One request of a set, with the id that finds its access log record.
#[derive(Debug, Clone)]
pub struct Probe {
    pub id: String,
    pub wire: WireRequest,
}

/// What Envoy did with one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvoyResult {
    /// HTTP status; 0 for a TCP connection.
    pub status: u16,
    /// `%RESPONSE_CODE_DETAILS%` for HTTP, `%CONNECTION_TERMINATION_DETAILS%` for TCP (`-` when
    /// Envoy logged none).
    pub details: String,
    /// The application responded (HTTP 200 through the upstream, or TCP data came back).
    pub allowed: bool,
}

impl std::fmt::Display for EnvoyResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.details)
    }
}

/// A fresh folder for one Envoy run under the test target folder.
pub fn scratch_dir(label: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("envoy-harness")
        .join(format!("{}-{n}-{label}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
    dir
}

fn text(value: Option<&String>) -> String {
    value.map_or_else(|| "-".to_owned(), Clone::clone)
}

/// Starts one Envoy with `layout`, sends every probe, stops Envoy and pairs each probe with what
/// Envoy logged for it. `server_uri` is the workload's own SPIFFE id; `server_names` the SNI names
/// its certificate must cover.
pub fn run_in_envoy(
    binary: &Path,
    dir: &Path,
    layout: &Layout,
    probes: &[Probe],
    server_uri: &str,
    server_names: &[String],
) -> Result<Vec<EnvoyResult>, String> {
    let peers: Vec<String> = probes
        .iter()
        .filter_map(|probe| probe.wire.peer.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let pki = pki::mint(server_uri, server_names, &peers);
    let config = envoy::bootstrap(layout, dir);
    let running = Envoy::start(binary, dir, &config, &pki)?;
    let mut seen = Vec::with_capacity(probes.len());
    for probe in probes {
        let mut wire = probe.wire.clone();
        if layout.tcp {
            seen.push(
                client::send_tcp(layout.port, &wire, &pki).map(|outcome| (None, Some(outcome))),
            );
        } else {
            wire.headers
                .push(("x-request-id".to_owned(), probe.id.clone()));
            seen.push(
                client::send_http(layout.port, &wire, &pki).map(|status| (Some(status), None)),
            );
        }
    }
    running.wait_for_records(probes.len());
    let records = running.stop();
    probes
        .iter()
        .zip(seen)
        .map(|(probe, seen)| {
            let (status, tcp) = seen.map_err(|error| format!("{}: {error}", probe.id))?;
            let record = match &tcp {
                Some(outcome) => {
                    let remote = outcome.local.to_string();
                    records
                        .iter()
                        .find(|r| r.remote.as_deref() == Some(remote.as_str()))
                }
                None => records
                    .iter()
                    .find(|r| r.id.as_deref() == Some(probe.id.as_str())),
            };
            Ok(envoy_result(
                status,
                tcp.map(|outcome| outcome.responded),
                record,
            ))
        })
        .collect()
}

/// Sends the HTTP requests `wires` through one Envoy that listens on `port` with `http_filters`
/// in front of workload shop/orders, and returns `STATUS DETAILS` for each, in order. Panics when
/// Envoy cannot run, because every verdict is then missing.
pub fn http_verdicts(
    http_filters: Vec<serde_json::Value>,
    port: u16,
    wires: Vec<WireRequest>,
    label: &str,
) -> Vec<String> {
    verdicts_at(
        http_filters,
        port,
        wires,
        label,
        "spiffe://cluster.local/ns/shop/sa/orders",
    )
}

/// Sends a GET of each (path, headers) of `requests` from 127.0.0.1, without a client
/// certificate, through one Envoy with `http_filters` on `port`, and returns `STATUS DETAILS` for
/// each in order. `host` is the Host header and `server_uri` the workload's SPIFFE id. Panics when
/// Envoy cannot run.
pub fn http_statuses(
    http_filters: Vec<serde_json::Value>,
    port: u16,
    host: &str,
    server_uri: &str,
    requests: &[(&str, Vec<(String, String)>)],
) -> Vec<String> {
    let wires = requests
        .iter()
        .map(|(path, headers)| WireRequest {
            method: "GET".to_owned(),
            path: (*path).to_owned(),
            host: host.to_owned(),
            headers: headers.clone(),
            peer: None,
            source_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            sni: None,
        })
        .collect();
    verdicts_at(http_filters, port, wires, "http-statuses", server_uri)
}

/// Sends `wires` through one Envoy with `http_filters` on `port` in front of the workload
/// `server_uri`, and returns `STATUS DETAILS` for each, in order.
fn verdicts_at(
    http_filters: Vec<serde_json::Value>,
    port: u16,
    wires: Vec<WireRequest>,
    label: &str,
    server_uri: &str,
) -> Vec<String> {
    let probes: Vec<Probe> = wires
        .into_iter()
        .enumerate()
        .map(|(index, wire)| Probe {
            id: format!("{label}-{index}"),
            wire,
        })
        .collect();
    let layout = Layout {
        http_filters,
        network_filters: Vec::new(),
        tcp: false,
        port,
        upstream_port: envoy::free_port(),
        xff_trusted_hops: 0,
    };
    run_in_envoy(
        &envoy::binary(),
        &scratch_dir(label),
        &layout,
        &probes,
        server_uri,
        &[],
    )
    .unwrap_or_else(|error| panic!("Envoy run failed: {error}"))
    .into_iter()
    .map(|result| format!("{} {}", result.status, result.details))
    .collect()
}

fn envoy_result(
    status: Option<u16>,
    tcp_answered: Option<bool>,
    record: Option<&LogRecord>,
) -> EnvoyResult {
    match (status, tcp_answered) {
        (Some(status), _) => EnvoyResult {
            status,
            details: text(record.and_then(|r| r.details.as_ref())),
            allowed: status == 200,
        },
        (None, responded) => {
            // The upstream answers first, so its bytes can reach the client before the network
            // RBAC filter closes the connection on the client's first data; the access log's
            // termination details say whether RBAC closed it.
            let details = text(record.and_then(|r| r.termination.as_ref()));
            let closed_by_rbac = details.starts_with("rbac_access_denied");
            EnvoyResult {
                status: 0,
                allowed: responded.unwrap_or(false) && !closed_by_rbac,
                details,
            }
        }
    }
}
