//! The live-cluster source: kube access (kubeconfig, context, namespace), meshed workloads from pods,
//! Istio security policies from watches, and the `istio-proxy` logs of every selected pod joined into
//! flows.
//!
//! Read-only: the requests made are get, list and watch on pods and the security resources, API
//! discovery for `security.istio.io`, and `pods/log`.

mod backoff;
mod config;
mod flows;
mod live;
mod logs;
pub mod policies;
mod resume;
pub mod workloads;

pub use backoff::{Backoff, Jitter};
pub use config::{ConfigSource, KubeError, KubeSettings, ResolvedKube, Scope, connect, resolve};
pub use flows::{FlowTracker, FollowPrinter, flow_digest, has_deny};
pub use live::{LineCounts, LiveMessage, LiveSettings, LiveSource};
pub use logs::{
    LogFanIn, LogLine, MAX_IN_FLIGHT_BYTES, MAX_LOG_LINE_BYTES, StreamHealth, StreamSettings,
    StreamStatus,
};
pub use resume::{ResumePoint, split_timestamp};
pub use workloads::{
    LogTarget, MeshWorkload, OwnerKind, PodSummary, Proxy, group_workloads, log_targets,
    spiffe_principal,
};
