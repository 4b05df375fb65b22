//! Builders for realistic objects: sidecar-injected pods (classic and native sidecar), an
//! ingress gateway, ztunnel, a waypoint, a pod without a proxy, service accounts and the Istio
//! security policies.

use serde_json::{Value, json};

use super::state::now_rfc3339;

/// The injector's `sidecar.istio.io/status` for the classic form (proxy in `containers`).
const STATUS_CLASSIC: &str = r#"{"initContainers":["istio-init"],"containers":["istio-proxy"],"volumes":["workload-socket","credential-socket","workload-certs","istio-envoy","istio-data","istio-podinfo","istio-token","istiod-ca-cert"],"imagePullSecrets":null,"revision":"default"}"#;
/// The same for native sidecars (Istio 1.27+ on kubelet 1.33+): the proxy is an init container.
const STATUS_NATIVE: &str = r#"{"initContainers":["istio-init","istio-proxy"],"containers":null,"volumes":["workload-socket","credential-socket","workload-certs","istio-envoy","istio-data","istio-podinfo","istio-token","istiod-ca-cert"],"imagePullSecrets":null,"revision":"default"}"#;
/// The gateway injection template adds only the proxy container.
const STATUS_GATEWAY: &str = r#"{"initContainers":null,"containers":["istio-proxy"],"volumes":["workload-socket","credential-socket","workload-certs","istio-envoy","istio-data","istio-podinfo","istio-token","istiod-ca-cert"],"imagePullSecrets":null,"revision":"default"}"#;

const PROXY_IMAGE: &str = "docker.io/istio/proxyv2:1.28.0";

/// How the sidecar was injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sidecar {
    /// `istio-proxy` in `containers`, `istio-init` as init container.
    Classic,
    /// `istio-proxy` as an init container with `restartPolicy: Always`.
    Native,
}

/// Builds a running, sidecar-injected pod of a Deployment: `NAME` like `orders-v1-7c9d8b6f5d-x2k4p`
/// (its `ReplicaSet` is `NAME` without the last segment), labels `app`, `version`,
/// `security.istio.io/tlsMode`, `service.istio.io/canonical-*`, the injector's annotations,
/// containers `app` and `istio-proxy`.
pub fn sidecar_pod(
    namespace: &str,
    name: &str,
    app: &str,
    version: &str,
    sidecar: Sidecar,
) -> Value {
    let mut pod = base_pod(namespace, name, app, app);
    let meta = &mut pod["metadata"];
    meta["labels"]["version"] = json!(version);
    meta["labels"]["security.istio.io/tlsMode"] = json!("istio");
    meta["labels"]["service.istio.io/canonical-name"] = json!(app);
    meta["labels"]["service.istio.io/canonical-revision"] = json!(version);
    let annotations = &mut meta["annotations"];
    annotations["istio.io/rev"] = json!("default");
    annotations["kubectl.kubernetes.io/default-container"] = json!("app");
    annotations["kubectl.kubernetes.io/default-logs-container"] = json!("app");
    annotations["prometheus.io/path"] = json!("/stats/prometheus");
    annotations["prometheus.io/port"] = json!("15020");
    annotations["prometheus.io/scrape"] = json!("true");
    let app_container = container("app", &format!("registry.example/{app}:{version}"), 8080);
    let init = container("istio-init", PROXY_IMAGE, 0);
    let mut proxy = container("istio-proxy", PROXY_IMAGE, 15090);
    proxy["args"] = json!([
        "proxy",
        "sidecar",
        "--domain",
        format!("{namespace}.svc.cluster.local")
    ]);
    match sidecar {
        Sidecar::Classic => {
            annotations["sidecar.istio.io/status"] = json!(STATUS_CLASSIC);
            pod["spec"]["initContainers"] = json!([init]);
            pod["spec"]["containers"] = json!([app_container, proxy]);
            pod["status"]["initContainerStatuses"] = json!([terminated_status("istio-init")]);
            pod["status"]["containerStatuses"] =
                json!([running_status("app"), running_status("istio-proxy")]);
        }
        Sidecar::Native => {
            annotations["sidecar.istio.io/status"] = json!(STATUS_NATIVE);
            proxy["restartPolicy"] = json!("Always");
            pod["spec"]["initContainers"] = json!([init, proxy]);
            pod["spec"]["containers"] = json!([app_container]);
            pod["status"]["initContainerStatuses"] = json!([
                terminated_status("istio-init"),
                running_status("istio-proxy")
            ]);
            pod["status"]["containerStatuses"] = json!([running_status("app")]);
        }
    }
    pod
}

/// Builds an ingress gateway pod in `istio-system`, injected with the gateway template.
pub fn gateway_pod(name: &str) -> Value {
    let mut pod = base_pod(
        "istio-system",
        name,
        "istio-ingressgateway",
        "istio-ingressgateway-service-account",
    );
    let meta = &mut pod["metadata"];
    meta["labels"]["istio"] = json!("ingressgateway");
    meta["labels"]["sidecar.istio.io/inject"] = json!("true");
    meta["labels"]["service.istio.io/canonical-name"] = json!("istio-ingressgateway");
    meta["labels"]["service.istio.io/canonical-revision"] = json!("latest");
    meta["annotations"]["inject.istio.io/templates"] = json!("gateway");
    meta["annotations"]["sidecar.istio.io/status"] = json!(STATUS_GATEWAY);
    let mut proxy = container("istio-proxy", PROXY_IMAGE, 8080);
    proxy["args"] = json!([
        "proxy",
        "router",
        "--domain",
        "istio-system.svc.cluster.local"
    ]);
    pod["spec"]["containers"] = json!([proxy]);
    pod["status"]["containerStatuses"] = json!([running_status("istio-proxy")]);
    pod
}

/// Builds a ztunnel pod of the `ztunnel` `DaemonSet` in `istio-system` (ambient mode).
pub fn ztunnel_pod(name: &str, node: &str) -> Value {
    let mut pod = base_pod("istio-system", name, "ztunnel", "ztunnel");
    pod["metadata"]["labels"]
        .as_object_mut()
        .map(|labels| labels.remove("pod-template-hash"));
    pod["metadata"]["labels"]["sidecar.istio.io/inject"] = json!("false");
    pod["metadata"]["ownerReferences"][0]["kind"] = json!("DaemonSet");
    pod["metadata"]["ownerReferences"][0]["name"] = json!("ztunnel");
    pod["spec"]["nodeName"] = json!(node);
    pod["spec"]["containers"] = json!([container(
        "istio-proxy",
        "docker.io/istio/ztunnel:1.28.0",
        15020
    )]);
    pod["status"]["containerStatuses"] = json!([running_status("istio-proxy")]);
    pod
}

/// Builds a waypoint proxy pod for the Gateway `gateway` (class `istio-waypoint`) in `namespace`.
pub fn waypoint_pod(namespace: &str, name: &str, gateway: &str) -> Value {
    let mut pod = base_pod(namespace, name, gateway, gateway);
    let labels = &mut pod["metadata"]["labels"];
    labels.as_object_mut().map(|l| l.remove("app"));
    labels["gateway.networking.k8s.io/gateway-name"] = json!(gateway);
    labels["gateway.networking.k8s.io/gateway-class-name"] = json!("istio-waypoint");
    labels["gateway.istio.io/managed"] = json!("istio.io-mesh-controller");
    labels["istio.io/dataplane-mode"] = json!("none");
    labels["service.istio.io/canonical-name"] = json!(gateway);
    labels["service.istio.io/canonical-revision"] = json!("latest");
    let mut proxy = container("istio-proxy", PROXY_IMAGE, 15008);
    proxy["args"] = json!([
        "proxy",
        "waypoint",
        "--domain",
        format!("{namespace}.svc.cluster.local")
    ]);
    pod["spec"]["containers"] = json!([proxy]);
    pod["status"]["containerStatuses"] = json!([running_status("istio-proxy")]);
    pod
}

/// Builds a running pod with no proxy: one container named `app`.
pub fn plain_pod(namespace: &str, name: &str, app: &str) -> Value {
    let mut pod = base_pod(namespace, name, app, app);
    pod["spec"]["containers"] = json!([container(
        "app",
        &format!("registry.example/{app}:latest"),
        8080
    )]);
    pod["status"]["containerStatuses"] = json!([running_status("app")]);
    pod
}

pub fn service_account(namespace: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": namespace},
    })
}

pub fn authorization_policy(namespace: &str, name: &str, spec: Value) -> Value {
    istio_object("AuthorizationPolicy", namespace, name, spec)
}

pub fn request_authentication(namespace: &str, name: &str, spec: Value) -> Value {
    istio_object("RequestAuthentication", namespace, name, spec)
}

pub fn peer_authentication(namespace: &str, name: &str, spec: Value) -> Value {
    istio_object("PeerAuthentication", namespace, name, spec)
}

fn istio_object(kind: &str, namespace: &str, name: &str, spec: Value) -> Value {
    let mut object = json!({
        "apiVersion": "security.istio.io/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
    });
    object["spec"] = spec;
    object
}

fn base_pod(namespace: &str, name: &str, app: &str, service_account: &str) -> Value {
    let (owner, hash) = match name.rsplit_once('-') {
        Some((rs, _)) => (
            rs.to_owned(),
            rs.rsplit_once('-').map_or("", |(_, h)| h).to_owned(),
        ),
        None => (name.to_owned(), String::new()),
    };
    let now = now_rfc3339();
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": format!("{owner}-"),
            "namespace": namespace,
            "labels": {"app": app, "pod-template-hash": hash},
            "annotations": {},
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": owner,
                "uid": "5d1c3a34-7f0e-4b8e-9a51-0c7e0d6b1f20",
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "serviceAccountName": service_account,
            "serviceAccount": service_account,
            "nodeName": "fake-node-1",
            "restartPolicy": "Always",
            "containers": [],
        },
        "status": {
            "phase": "Running",
            "hostIP": "10.0.0.11",
            "podIP": pod_ip(namespace, name),
            "startTime": now,
            "qosClass": "Burstable",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                {"type": "Ready", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            ],
        },
    })
}

fn container(name: &str, image: &str, port: u16) -> Value {
    let mut container = json!({
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    });
    if port != 0 {
        container["ports"] = json!([{"containerPort": port, "protocol": "TCP"}]);
    }
    container
}

fn running_status(name: &str) -> Value {
    json!({
        "name": name,
        "ready": true,
        "started": true,
        "restartCount": 0,
        "image": PROXY_IMAGE,
        "imageID": "",
        "containerID": format!("containerd://{}", "0".repeat(64)),
        "state": {"running": {"startedAt": now_rfc3339()}},
    })
}

fn terminated_status(name: &str) -> Value {
    let now = now_rfc3339();
    json!({
        "name": name,
        "ready": true,
        "restartCount": 0,
        "image": PROXY_IMAGE,
        "imageID": "",
        "containerID": format!("containerd://{}", "1".repeat(64)),
        "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}},
    })
}

/// Derives a pod address from the name, stable across runs. Data only: nothing connects to it.
fn pod_ip(namespace: &str, name: &str) -> String {
    let sum: u32 = namespace.bytes().chain(name.bytes()).map(u32::from).sum();
    format!("10.244.{}.{}", sum / 250 % 250, sum % 250 + 2)
}
