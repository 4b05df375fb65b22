//! The listener: TLS on 127.0.0.1, one task per connection, and the switches that drop
//! connections or refuse new ones.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::router::{self, Context};
use super::state::ClusterState;
use super::tls;

/// The user the bearer token stands for, named in `403 Forbidden` messages.
pub const DEFAULT_USER: &str = "system:serviceaccount:idflow:idflow-viewer";

/// A FAKE Kubernetes API server for tests: HTTPS on 127.0.0.1, bearer-token auth, and the
/// REST calls idflow makes, served from a [`ClusterState`]. Stops when dropped.
pub struct FakeApiServer {
    addr: SocketAddr,
    ca_pem: String,
    token: String,
    state: ClusterState,
    drops: watch::Sender<u64>,
    refuse: Arc<Refusal>,
    accept_task: JoinHandle<()>,
}

#[derive(Default)]
struct Refusal {
    wake: Notify,
    pause: Mutex<Duration>,
}

impl FakeApiServer {
    /// Starts a server for `state` on a free port of 127.0.0.1.
    ///
    /// # Panics
    /// When no certificate can be minted or no port bound: the test cannot run then.
    pub async fn start(state: ClusterState) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake API server to 127.0.0.1");
        let addr = listener
            .local_addr()
            .expect("local address of the listener");
        let tls = tls::mint().expect("mint the fake API server's certificates");
        let token = format!("fake-apiserver-token-{}", addr.port());
        let ctx = Arc::new(Context {
            state: state.clone(),
            token: token.clone(),
            user: DEFAULT_USER.to_owned(),
            address: addr.to_string(),
        });
        let (drops, _) = watch::channel(0_u64);
        let refuse = Arc::new(Refusal::default());
        let accept_task = tokio::spawn(accept_loop(
            listener,
            TlsAcceptor::from(tls.config),
            ctx,
            drops.clone(),
            Arc::clone(&refuse),
        ));
        Self {
            addr,
            ca_pem: tls.ca_pem,
            token,
            state,
            drops,
            refuse,
            accept_task,
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Returns the bearer token the server accepts.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Returns the CA certificate (PEM) that signed the server's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Returns the cluster state behind this server. Mutate it to drive the test.
    pub fn state(&self) -> &ClusterState {
        &self.state
    }

    /// Builds a kubeconfig with one context for this server (cluster and user named after the context).
    pub fn kubeconfig(&self, context: &str, namespace: &str) -> String {
        kubeconfig(&[(self, context, namespace)])
    }

    /// Writes [`Self::kubeconfig`] to `path`.
    ///
    /// # Panics
    /// When the file cannot be written.
    pub fn write_kubeconfig(&self, path: &std::path::Path, context: &str, namespace: &str) {
        std::fs::write(path, self.kubeconfig(context, namespace)).expect("write the kubeconfig");
    }

    /// Builds a command that runs `binary` with `args` against this server. It creates `dir`,
    /// makes it `HOME`, writes a kubeconfig there (context `fake`, namespace `shop`) and passes it
    /// with `--kubeconfig`. The environment's kubeconfig and proxy variables are removed.
    ///
    /// # Panics
    /// When `dir` or the kubeconfig cannot be written.
    pub fn command(
        &self,
        binary: &str,
        dir: &std::path::Path,
        args: &[&str],
    ) -> std::process::Command {
        std::fs::create_dir_all(dir).expect("create the temp dir");
        let kubeconfig = dir.join("config");
        self.write_kubeconfig(&kubeconfig, "fake", "shop");
        let mut command = std::process::Command::new(binary);
        command
            .args(args)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .env("HOME", dir)
            .env_remove("KUBECONFIG")
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("ALL_PROXY");
        command
    }

    /// Builds a kube client for this server, with `namespace` as the default namespace.
    ///
    /// # Panics
    /// When kube rejects the kubeconfig: a bug in this fake server.
    pub async fn client(&self, namespace: &str) -> kube::Client {
        let kubeconfig = kube::config::Kubeconfig::from_yaml(&self.kubeconfig("fake", namespace))
            .expect("parse the fake kubeconfig");
        let config = kube::Config::from_custom_kubeconfig(
            kubeconfig,
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .expect("load the fake kubeconfig");
        kube::Client::try_from(config).expect("build a kube client")
    }

    /// Drops every open connection at once (watches and log streams end without their final
    /// chunk; clients see a broken connection). New connections are still accepted.
    pub fn drop_connections(&self) {
        self.drops.send_modify(|generation| *generation += 1);
    }

    /// Drops every open connection and closes the listener for `pause`, so connecting fails with
    /// "connection refused"; then listens on the same port again.
    pub fn refuse_connections(&self, pause: Duration) {
        self.drop_connections();
        *self
            .refuse
            .pause
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = pause;
        self.refuse.wake.notify_one();
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.accept_task.abort();
        self.drop_connections();
    }
}

/// Builds one kubeconfig holding a context per `(server, context name, namespace)`; the first
/// is the current context. Use it for tests that switch between two fake clusters.
pub fn kubeconfig(entries: &[(&FakeApiServer, &str, &str)]) -> String {
    let mut clusters = String::new();
    let mut users = String::new();
    let mut contexts = String::new();
    for (server, context, namespace) in entries {
        let ca = STANDARD.encode(server.ca_pem.as_bytes());
        let url = server.url();
        let token = &server.token;
        let _ = write!(
            clusters,
            "- name: {context}\n  cluster:\n    certificate-authority-data: {ca}\n    server: {url}\n"
        );
        let _ = write!(users, "- name: {context}\n  user:\n    token: {token}\n");
        let _ = write!(
            contexts,
            "- name: {context}\n  context:\n    cluster: {context}\n    user: {context}\n    namespace: {namespace}\n"
        );
    }
    let current = entries.first().map_or("", |(_, context, _)| context);
    format!(
        "apiVersion: v1\nkind: Config\npreferences: {{}}\nclusters:\n{clusters}users:\n{users}contexts:\n{contexts}current-context: {current}\n"
    )
}

async fn accept_loop(
    mut listener: TcpListener,
    acceptor: TlsAcceptor,
    ctx: Arc<Context>,
    drops: watch::Sender<u64>,
    refuse: Arc<Refusal>,
) {
    let Ok(addr) = listener.local_addr() else {
        return;
    };
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = refuse.wake.notified() => {
                drop(listener);
                let pause = *refuse.pause.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                tokio::time::sleep(pause).await;
                listener = match rebind(addr).await {
                    Some(l) => l,
                    None => return,
                };
                continue;
            }
        };
        let Ok((tcp, _)) = accepted else { continue };
        let acceptor = acceptor.clone();
        let ctx = Arc::clone(&ctx);
        let mut dropped = drops.subscribe();
        tokio::spawn(async move {
            let serve = async {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req| router::route(Arc::clone(&ctx), req));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            };
            tokio::select! {
                () = serve => {}
                // Dropping the connection future closes the socket with no TLS close_notify.
                _ = dropped.changed() => {}
            }
        });
    }
}

/// Listens on the same address again; the port was ours a moment ago.
async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..100 {
        if let Ok(listener) = TcpListener::bind(addr).await {
            return Some(listener);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}
