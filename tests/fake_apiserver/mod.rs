//! A FAKE Kubernetes API server for idflow's live-cluster tests.
//!
//! No kube-apiserver can be installed where these tests run, so this in-process server serves
//! the REST calls idflow makes, shaped like the real API's responses so that the real kube client
//! parses them: discovery (plain and aggregated), get, list (selectors, `limit`/`continue`) and
//! watch (`ADDED`/`MODIFIED`/`DELETED`/`BOOKMARK`/`ERROR` events, `410 Expired` after
//! [`ClusterState::compact`]) for pods, service accounts and Istio's security policies, pod logs
//! with `follow`, and `Status` errors (401, 403, 404, 400, 410).
//!
//! It is a test double, not an API server: it speaks HTTPS/1.1 only on 127.0.0.1, accepts only
//! GET over HTTP (tests change state through [`ClusterState`]), and keeps no snapshots, so a
//! continued list reads the current objects.
//!
//! ```ignore
//! let state = ClusterState::new();
//! state.apply(sidecar_pod("shop", "orders-v1-7c9d8b6f5d-x2k4p", "orders", "v1", Sidecar::Classic));
//! let server = FakeApiServer::start(state.clone()).await;
//! let client = server.client("shop").await;
//! ```
#![allow(dead_code, unused_imports)]

mod api;
mod demo;
mod discovery;
mod http;
mod logs;
mod objects;
mod resources;
mod router;
pub mod selector;
mod server;
mod state;
mod status;
mod tls;

pub use demo::{DemoLog, demo_access_line, demo_log_lines, demo_logs};
pub use logs::LogCut;
pub use objects::{
    Sidecar, authorization_policy, gateway_pod, peer_authentication, plain_pod,
    request_authentication, service_account, sidecar_pod, waypoint_pod, ztunnel_pod,
};
pub use server::{DEFAULT_USER, FakeApiServer, kubeconfig};
pub use state::ClusterState;
