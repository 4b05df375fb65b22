//! Meshed workloads from pods: which proxy each pod runs, which controller owns it, and the SPIFFE
//! principal of its service account. Pure: pods in, workloads out.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use serde::Serialize;

use crate::mesh::{Workload, WorkloadKind, named};
use crate::model::HopRole;

/// Name of the Envoy container the injector adds (`ProxyContainerName` in Istio).
pub const PROXY_CONTAINER: &str = "istio-proxy";

/// Labels that differ per pod or per rollout, left out of a workload's labels.
const POD_SPECIFIC_LABELS: [&str; 4] = [
    "pod-template-hash",
    "controller-revision-hash",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
];

/// The proxy in front of a pod, as its metadata shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Proxy {
    /// An injected `istio-proxy` container.
    Sidecar,
    /// An injected `istio-proxy` init container with `restartPolicy: Always` (Istio 1.27 and later
    /// on kubelet 1.33 and later, or when native sidecars are enabled).
    NativeSidecar,
    /// An Istio ingress or egress gateway deployment (`istio: ingressgateway`-style label).
    Gateway,
    /// A Gateway API gateway deployed by Istio (`gateway.networking.k8s.io/gateway-name`).
    KubernetesGateway,
    /// An ambient waypoint: a Gateway API gateway of class `istio-waypoint`.
    Waypoint,
    /// The ambient node proxy (`DaemonSet` `ztunnel`).
    Ztunnel,
    /// A pod enrolled in ambient mode: its traffic goes through the node's ztunnel.
    Ambient,
    /// No proxy: traffic to this pod bypasses the mesh.
    None,
}

impl Proxy {
    /// Returns the role of this proxy's hops, for proxies whose `istio-proxy` container writes Envoy
    /// access logs. ztunnel writes its own format, and ambient or unmeshed pods have no proxy of their
    /// own.
    pub fn hop_role(self) -> Option<HopRole> {
        match self {
            Self::Sidecar | Self::NativeSidecar => Some(HopRole::Sidecar),
            Self::Gateway | Self::KubernetesGateway => Some(HopRole::Gateway),
            Self::Waypoint => Some(HopRole::Waypoint),
            Self::Ztunnel | Self::Ambient | Self::None => None,
        }
    }

    /// Returns the short label shown in lists, e.g. `sidecar (native)`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Sidecar => "sidecar",
            Self::NativeSidecar => "sidecar (native)",
            Self::Gateway => "gateway",
            Self::KubernetesGateway => "gateway (Gateway API)",
            Self::Waypoint => "waypoint",
            Self::Ztunnel => "ztunnel",
            Self::Ambient => "ambient",
            Self::None => "no proxy",
        }
    }
}

/// The controller that owns a workload's pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerKind {
    Deployment,
    /// A `ReplicaSet` without the `pod-template-hash` suffix of a Deployment.
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    Job,
    /// Another controller kind, or none: the pods are grouped by their app label.
    App,
    /// A pod with no owner and no app label.
    Pod,
}

/// One pod of a workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodSummary {
    pub name: String,
    /// `status.phase`: `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
    pub phase: String,
    /// Whether the proxy container reports ready (false for pods without one).
    pub proxy_ready: bool,
    /// The container whose logs carry the proxy's access log, when the pod has an Envoy proxy.
    pub log_container: Option<String>,
    /// Set while the pod is being deleted.
    pub terminating: bool,
}

/// Pods of one controller (or one app label) and the proxy they run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeshWorkload {
    pub namespace: String,
    pub name: String,
    pub owner: OwnerKind,
    pub proxy: Proxy,
    /// Labels every pod of the workload has, without per-pod hashes.
    pub labels: BTreeMap<String, String>,
    pub service_account: String,
    /// `spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT`.
    pub principal: String,
    pub pods: Vec<PodSummary>,
}

impl MeshWorkload {
    /// Returns `NAMESPACE/NAME`, the location of this workload's hops.
    pub fn location(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Returns the workload in the simulator's form, or `None` when no Envoy proxy enforces
    /// policies for it in its own pods (ztunnel, ambient and unmeshed pods).
    pub fn to_mesh(&self) -> Option<Workload> {
        let kind = match self.proxy {
            Proxy::Sidecar | Proxy::NativeSidecar => WorkloadKind::Sidecar,
            Proxy::Gateway => WorkloadKind::Gateway,
            Proxy::KubernetesGateway => WorkloadKind::KubernetesGateway,
            Proxy::Waypoint => WorkloadKind::Waypoint,
            Proxy::Ztunnel | Proxy::Ambient | Proxy::None => return None,
        };
        Some(Workload {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            labels: self.labels.clone(),
            service_account: self.service_account.clone(),
            kind,
        })
    }
}

/// Returns the SPIFFE id Istio gives a service account: `spiffe://TD/ns/NS/sa/SA`.
pub fn spiffe_principal(trust_domain: &str, namespace: &str, service_account: &str) -> String {
    format!("spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}")
}

/// Groups pods into workloads by owner, sorted by namespace and name. Pods without a name or
/// namespace are skipped, since the API server always sets both.
pub fn group_workloads(pods: &[Pod], trust_domain: &str) -> Vec<MeshWorkload> {
    let mut groups: BTreeMap<(String, String, OwnerKind), MeshWorkload> = BTreeMap::new();
    for pod in pods {
        let (Some(name), Some(namespace)) = (&pod.metadata.name, &pod.metadata.namespace) else {
            continue;
        };
        let (owner, workload_name) = owner_of(pod);
        let proxy = classify_pod(pod);
        let labels = workload_labels(pod);
        let service_account = service_account(pod);
        let summary = summarize(pod, name, proxy);

        let key = (namespace.clone(), workload_name.clone(), owner);
        let workload = groups.entry(key).or_insert_with(|| MeshWorkload {
            namespace: namespace.clone(),
            name: workload_name,
            owner,
            proxy,
            labels: labels.clone(),
            principal: spiffe_principal(trust_domain, namespace, &service_account),
            service_account,
            pods: Vec::new(),
        });
        // During a rollout that turns injection on, the most capable proxy names the workload.
        workload.proxy = workload.proxy.min(proxy);
        workload
            .labels
            .retain(|key, value| labels.get(key) == Some(value));
        workload.pods.push(summary);
    }
    let mut workloads: Vec<MeshWorkload> = groups.into_values().collect();
    for workload in &mut workloads {
        workload.pods.sort_by(|a, b| a.name.cmp(&b.name));
    }
    workloads
}

/// Returns the proxy a pod runs. Gateway API gateways and ztunnel are recognised by their labels
/// first. Then the `istio-proxy` container's arguments name the proxy exactly, and without them the
/// gateway labels come before the sidecar signs, because a gateway's Envoy is also a container
/// named `istio-proxy`.
pub fn classify_pod(pod: &Pod) -> Proxy {
    let label = |key: &str| {
        pod.metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(key))
    };
    let annotation = |key: &str| {
        pod.metadata
            .annotations
            .as_ref()
            .and_then(|annotations| annotations.get(key))
    };

    let gateway_class = label("gateway.istio.io/managed-class")
        .or_else(|| label("gateway.networking.k8s.io/gateway-class-name"))
        .or_else(|| label("istio.io/gateway-class"));
    if gateway_class.is_some_and(|class| class == "istio-waypoint") {
        return Proxy::Waypoint;
    }
    if label("gateway.networking.k8s.io/gateway-name").is_some() {
        return Proxy::KubernetesGateway;
    }
    if label("app").is_some_and(|app| app == "ztunnel") {
        return Proxy::Ztunnel;
    }

    let spec = pod.spec.as_ref();
    let containers = spec
        .map(|spec| spec.containers.as_slice())
        .unwrap_or_default();
    let init_containers = spec
        .and_then(|spec| spec.init_containers.as_deref())
        .unwrap_or_default();
    if let Some(proxy) = proxy_from_args(containers, init_containers) {
        return proxy;
    }
    if pod
        .metadata
        .labels
        .as_ref()
        .is_some_and(named::has_gateway_labels)
    {
        return Proxy::Gateway;
    }
    if init_containers.iter().any(is_native_proxy) {
        return Proxy::NativeSidecar;
    }
    if containers
        .iter()
        .any(|container| container.name == PROXY_CONTAINER)
    {
        return Proxy::Sidecar;
    }
    if annotation("sidecar.istio.io/status").is_some()
        || label("security.istio.io/tlsMode").is_some_and(|mode| mode == "istio")
    {
        // Injected by metadata, but the proxy container is missing from the spec we were given.
        return Proxy::Sidecar;
    }
    if annotation("ambient.istio.io/redirection").is_some_and(|value| value == "enabled")
        || label("istio.io/dataplane-mode").is_some_and(|mode| mode == "ambient")
    {
        return Proxy::Ambient;
    }
    Proxy::None
}

/// Returns the proxy that the `istio-proxy` container's arguments name, if they name one. Istio's
/// templates (`manifests/charts/istio-control/istio-discovery/files/` in istio/istio) start the
/// agent as `proxy sidecar` in application pods, `proxy router` in gateways (the `gateway`
/// injection template and Gateway API deployments) and `proxy waypoint` in waypoints.
fn proxy_from_args(containers: &[Container], init_containers: &[Container]) -> Option<Proxy> {
    let (container, native) = containers
        .iter()
        .map(|container| (container, false))
        .chain(init_containers.iter().map(|container| (container, true)))
        .find(|(container, _)| container.name == PROXY_CONTAINER)?;
    let args = container.args.as_deref().unwrap_or_default();
    let [first, role, ..] = args else {
        return None;
    };
    if first != "proxy" {
        return None;
    }
    match role.as_str() {
        "router" => Some(Proxy::Gateway),
        "waypoint" => Some(Proxy::Waypoint),
        "sidecar" if native && is_native_proxy(container) => Some(Proxy::NativeSidecar),
        "sidecar" => Some(Proxy::Sidecar),
        _ => None,
    }
}

/// Returns whether a container is a native sidecar proxy: an init container that keeps running (`restartPolicy: Always`).
fn is_native_proxy(container: &Container) -> bool {
    container.name == PROXY_CONTAINER && container.restart_policy.as_deref() == Some("Always")
}

/// Returns the owning controller and the workload name. A `ReplicaSet` created by a `Deployment` is
/// named `DEPLOYMENT-HASH`, where HASH is the pod's `pod-template-hash` label.
pub fn owner_of(pod: &Pod) -> (OwnerKind, String) {
    let labels = pod.metadata.labels.as_ref();
    let owner = pod
        .metadata
        .owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|owner| owner.controller == Some(true));
    if let Some(owner) = owner {
        match owner.kind.as_str() {
            "ReplicaSet" => {
                let hash = labels.and_then(|labels| labels.get("pod-template-hash"));
                let deployment = hash.and_then(|hash| {
                    owner
                        .name
                        .strip_suffix(hash.as_str())
                        .and_then(|rest| rest.strip_suffix('-'))
                });
                return match deployment {
                    Some(name) => (OwnerKind::Deployment, name.to_owned()),
                    None => (OwnerKind::ReplicaSet, owner.name.clone()),
                };
            }
            "StatefulSet" => return (OwnerKind::StatefulSet, owner.name.clone()),
            "DaemonSet" => return (OwnerKind::DaemonSet, owner.name.clone()),
            "Job" => return (OwnerKind::Job, owner.name.clone()),
            _ => {}
        }
    }
    // Istio's canonical name falls back the same way: app.kubernetes.io/name, then app.
    let app = [
        "service.istio.io/canonical-name",
        "app.kubernetes.io/name",
        "app",
    ]
    .iter()
    .find_map(|key| labels.and_then(|labels| labels.get(*key)));
    match app {
        Some(app) => (OwnerKind::App, app.clone()),
        None => (
            OwnerKind::Pod,
            pod.metadata.name.clone().unwrap_or_default(),
        ),
    }
}

/// Returns `spec.serviceAccountName`, which the API server defaults to `default`.
fn service_account(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|spec| spec.service_account_name.clone())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

fn workload_labels(pod: &Pod) -> BTreeMap<String, String> {
    let mut labels = pod.metadata.labels.clone().unwrap_or_default();
    for key in POD_SPECIFIC_LABELS {
        labels.remove(key);
    }
    labels
}

fn summarize(pod: &Pod, name: &str, proxy: Proxy) -> PodSummary {
    let status = pod.status.as_ref();
    let statuses = status
        .and_then(|status| {
            status
                .container_statuses
                .iter()
                .flatten()
                .chain(status.init_container_statuses.iter().flatten())
                .find(|s| s.name == PROXY_CONTAINER)
                .map(|s| s.ready)
        })
        .unwrap_or(false);
    let has_proxy_container = pod.spec.as_ref().is_some_and(|spec| {
        spec.containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .any(|container| container.name == PROXY_CONTAINER)
    });
    PodSummary {
        name: name.to_owned(),
        phase: status
            .and_then(|status| status.phase.clone())
            .unwrap_or_else(|| "Unknown".to_owned()),
        proxy_ready: statuses,
        log_container: (has_proxy_container && proxy.hop_role().is_some())
            .then(|| PROXY_CONTAINER.to_owned()),
        terminating: pod.metadata.deletion_timestamp.is_some(),
    }
}

/// One proxy container whose logs are followed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct LogTarget {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// `NAMESPACE/WORKLOAD`, the location of the hops its lines describe.
    pub location: String,
    pub role: HopRole,
}

impl LogTarget {
    /// Returns `NAMESPACE/POD/CONTAINER`, the name of this stream in messages.
    pub fn stream_name(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.pod, self.container)
    }
}

/// Returns the proxy containers to follow: those of running pods whose Envoy writes access logs.
pub fn log_targets(workloads: &[MeshWorkload]) -> Vec<LogTarget> {
    let mut targets = Vec::new();
    for workload in workloads {
        let Some(role) = workload.proxy.hop_role() else {
            continue;
        };
        for pod in &workload.pods {
            let Some(container) = &pod.log_container else {
                continue;
            };
            // A terminating pod still drains requests, so its stream runs until the pod is gone.
            if pod.phase != "Running" {
                continue;
            }
            targets.push(LogTarget {
                namespace: workload.namespace.clone(),
                pod: pod.name.clone(),
                container: container.clone(),
                location: workload.location(),
                role,
            });
        }
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pods shaped like `kubectl get pods -o json` output.
    fn pods() -> Vec<Pod> {
        #[derive(serde::Deserialize)]
        struct PodList {
            items: Vec<Pod>,
        }
        let list: PodList =
            serde_json::from_str(include_str!("fixtures/pods.json")).expect("fixture is a PodList");
        list.items
    }

    fn pod(name: &str) -> Pod {
        pods()
            .into_iter()
            .find(|pod| pod.metadata.name.as_deref() == Some(name))
            .expect("pod in fixture")
    }

    fn workload(namespace: &str, name: &str) -> MeshWorkload {
        group_workloads(&pods(), "cluster.local")
            .into_iter()
            .find(|workload| workload.namespace == namespace && workload.name == name)
            .expect("workload grouped")
    }

    #[test]
    fn classify_table() {
        let cases = [
            ("orders-7d9f8c6b5-abcde", Proxy::Sidecar),
            ("payments-0", Proxy::NativeSidecar),
            ("legacy-6b8d7c9f4-zzzzz", Proxy::None),
            ("reviews-5f6d8b7c9-qwert", Proxy::Ambient),
            ("istio-ingressgateway-6c9f7d8b5-gw001", Proxy::Gateway),
            (
                "shop-gateway-istio-84d5c7f9b6-kgw01",
                Proxy::KubernetesGateway,
            ),
            ("waypoint-5b7c9d8f6-wp001", Proxy::Waypoint),
            ("ztunnel-x7k2p", Proxy::Ztunnel),
            ("debug", Proxy::None),
        ];
        for (name, expected) in cases {
            assert_eq!(classify_pod(&pod(name)), expected, "pod {name}");
        }
    }

    /// Sets the arguments of the pod's `istio-proxy` container.
    fn with_proxy_args(mut pod: Pod, args: &[&str]) -> Pod {
        let spec = pod.spec.as_mut().expect("a pod spec");
        let proxy = spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
            .find(|container| container.name == PROXY_CONTAINER)
            .expect("an istio-proxy container");
        proxy.args = Some(args.iter().map(|arg| (*arg).to_owned()).collect());
        pod
    }

    fn with_labels(mut pod: Pod, labels: &[(&str, &str)]) -> Pod {
        pod.metadata.labels = Some(
            labels
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
                .collect(),
        );
        pod
    }

    /// Istio's Helm gateway chart labels its pods `app: RELEASE`, here without `istio:`.
    #[test]
    fn classify_helm_gateway_label() {
        let gateway = pod("istio-ingressgateway-6c9f7d8b5-gw001");
        let helm = with_labels(gateway, &[("app", "istio-ingressgateway")]);
        assert_eq!(classify_pod(&helm), Proxy::Gateway);
    }

    #[test]
    fn classify_app_gateway_sidecar() {
        let orders = pod("orders-7d9f8c6b5-abcde");
        let named_gateway = with_labels(orders, &[("app", "api-gateway")]);
        assert_eq!(classify_pod(&named_gateway), Proxy::Sidecar);
    }

    #[test]
    fn classify_by_proxy_args() {
        let router = [
            "proxy",
            "router",
            "--domain",
            "$(POD_NAMESPACE).svc.cluster.local",
        ];
        let sidecar = [
            "proxy",
            "sidecar",
            "--domain",
            "$(POD_NAMESPACE).svc.cluster.local",
        ];
        let cases = [
            // A gateway released as `ingress`: `app: ingress, istio: ingress`.
            (
                with_labels(
                    pod("istio-ingressgateway-6c9f7d8b5-gw001"),
                    &[("app", "ingress"), ("istio", "ingress")],
                ),
                &router,
                Proxy::Gateway,
            ),
            // The arguments outrank gateway-like labels on an injected application.
            (
                pod("istio-ingressgateway-6c9f7d8b5-gw001"),
                &sidecar,
                Proxy::Sidecar,
            ),
            (pod("orders-7d9f8c6b5-abcde"), &router, Proxy::Gateway),
            (pod("payments-0"), &sidecar, Proxy::NativeSidecar),
        ];
        for (pod, args, expected) in cases {
            let name = pod.metadata.name.clone().unwrap_or_default();
            let pod = with_proxy_args(pod, args);
            assert_eq!(classify_pod(&pod), expected, "pod {name} with {args:?}");
        }
    }

    /// A gateway's hops and its simulated workload are a gateway's.
    #[test]
    fn helm_gateway_role_and_kind() {
        let gateway = with_labels(
            pod("istio-ingressgateway-6c9f7d8b5-gw001"),
            &[("app", "istio-ingressgateway")],
        );
        let workloads = group_workloads(&[gateway], "cluster.local");
        let roles: Vec<HopRole> = log_targets(&workloads)
            .iter()
            .map(|target| target.role)
            .collect();
        assert_eq!(roles, [HopRole::Gateway]);
        assert_eq!(
            workloads[0].to_mesh().map(|workload| workload.kind),
            Some(WorkloadKind::Gateway)
        );
    }

    #[test]
    fn classify_metadata_only_sidecar() {
        let mut pod = pod("orders-7d9f8c6b5-abcde");
        if let Some(spec) = pod.spec.as_mut() {
            spec.containers
                .retain(|container| container.name != PROXY_CONTAINER);
        }
        assert_eq!(classify_pod(&pod), Proxy::Sidecar);
    }

    #[test]
    fn owner_table() {
        let cases = [
            ("orders-7d9f8c6b5-abcde", OwnerKind::Deployment, "orders"),
            ("payments-0", OwnerKind::StatefulSet, "payments"),
            ("ztunnel-x7k2p", OwnerKind::DaemonSet, "ztunnel"),
            ("debug", OwnerKind::Pod, "debug"),
        ];
        for (name, kind, owner) in cases {
            assert_eq!(owner_of(&pod(name)), (kind, owner.to_owned()), "pod {name}");
        }
    }

    #[test]
    fn owner_replicaset_without_hash() {
        let mut pod = pod("orders-7d9f8c6b5-abcde");
        if let Some(labels) = pod.metadata.labels.as_mut() {
            labels.remove("pod-template-hash");
        }
        assert_eq!(
            owner_of(&pod),
            (OwnerKind::ReplicaSet, "orders-7d9f8c6b5".to_owned())
        );
    }

    #[test]
    fn owner_falls_back_to_app_label() {
        let mut pod = pod("orders-7d9f8c6b5-abcde");
        pod.metadata.owner_references = None;
        assert_eq!(owner_of(&pod), (OwnerKind::App, "orders".to_owned()));
    }

    #[test]
    fn group_counts_pods() {
        assert_eq!(workload("shop", "orders").pods.len(), 3);
    }

    #[test]
    fn group_names_workloads() {
        let names: Vec<String> = group_workloads(&pods(), "cluster.local")
            .iter()
            .map(MeshWorkload::location)
            .collect();
        assert_eq!(
            names,
            [
                "istio-system/istio-ingressgateway",
                "istio-system/ztunnel",
                "shop/debug",
                "shop/legacy",
                "shop/orders",
                "shop/payments",
                "shop/reviews",
                "shop/shop-gateway-istio",
                "shop/waypoint",
            ]
        );
    }

    #[test]
    fn group_drops_pod_specific_labels() {
        let labels = workload("shop", "payments").labels;
        assert!(!labels.contains_key("statefulset.kubernetes.io/pod-name"));
        assert_eq!(labels.get("app").map(String::as_str), Some("payments"));
    }

    #[test]
    fn group_principal_uses_service_account() {
        assert_eq!(
            workload("shop", "orders").principal,
            "spiffe://cluster.local/ns/shop/sa/orders"
        );
    }

    #[test]
    fn group_principal_default_account() {
        assert_eq!(
            workload("shop", "legacy").principal,
            "spiffe://cluster.local/ns/shop/sa/default"
        );
    }

    #[test]
    fn spiffe_principal_trust_domain() {
        assert_eq!(
            spiffe_principal("corp.example", "shop", "orders"),
            "spiffe://corp.example/ns/shop/sa/orders"
        );
    }

    #[test]
    fn targets_skip_pending_and_ztunnel() {
        let workloads = group_workloads(&pods(), "cluster.local");
        let streams: Vec<String> = log_targets(&workloads)
            .iter()
            .map(LogTarget::stream_name)
            .collect();
        assert_eq!(
            streams,
            [
                "istio-system/istio-ingressgateway-6c9f7d8b5-gw001/istio-proxy",
                "shop/orders-7d9f8c6b5-abcde/istio-proxy",
                "shop/orders-7d9f8c6b5-fghij/istio-proxy",
                "shop/payments-0/istio-proxy",
                "shop/shop-gateway-istio-84d5c7f9b6-kgw01/istio-proxy",
                "shop/waypoint-5b7c9d8f6-wp001/istio-proxy",
            ]
        );
    }

    #[test]
    fn targets_carry_role() {
        let workloads = group_workloads(&pods(), "cluster.local");
        let roles: Vec<(String, HopRole)> = log_targets(&workloads)
            .into_iter()
            .map(|target| (target.location, target.role))
            .collect();
        assert!(roles.contains(&("shop/waypoint".to_owned(), HopRole::Waypoint)));
        assert!(roles.contains(&(
            "istio-system/istio-ingressgateway".to_owned(),
            HopRole::Gateway
        )));
        assert!(roles.contains(&("shop/orders".to_owned(), HopRole::Sidecar)));
    }

    #[test]
    fn proxy_ready_from_native_status() {
        assert!(workload("shop", "payments").pods[0].proxy_ready);
    }

    #[test]
    fn to_mesh_kind() {
        let gateway = workload("istio-system", "istio-ingressgateway").to_mesh();
        assert_eq!(
            gateway.map(|workload| workload.kind),
            Some(WorkloadKind::Gateway)
        );
    }

    #[test]
    fn to_mesh_none_for_ambient() {
        assert!(workload("shop", "reviews").to_mesh().is_none());
    }
}
