//! Self-tests of the fake Kubernetes API server, driven by the real kube client (kube 5).

mod fake_apiserver;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use fake_apiserver::selector::LabelSelector;
use fake_apiserver::{
    ClusterState, FakeApiServer, LogCut, Sidecar, authorization_policy, demo_logs, gateway_pod,
    kubeconfig, plain_pod, sidecar_pod,
};
use futures::{AsyncBufReadExt, AsyncReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, LogParams, WatchEvent,
    WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::Discovery;
use kube::runtime::watcher;
use serde_json::json;

const ORDERS: &str = "orders-v1-7c9d8b6f5d-x2k4p";
const WAIT: Duration = Duration::from_secs(10);

/// A cluster with two meshed pods in `shop`, a gateway, and one AuthorizationPolicy.
async fn shop() -> FakeApiServer {
    let state = ClusterState::new();
    state.apply(sidecar_pod(
        "shop",
        ORDERS,
        "orders",
        "v1",
        Sidecar::Classic,
    ));
    state.apply(sidecar_pod(
        "shop",
        "cart-v2-5f6b7c8d9e-q1w2e",
        "cart",
        "v2",
        Sidecar::Native,
    ));
    state.apply(gateway_pod("istio-ingressgateway-6d8f9c7b5-abcde"));
    state.apply(authorization_policy(
        "shop",
        "allow-orders",
        json!({"action": "ALLOW", "rules": [{"from": [{"source": {"requestPrincipals": ["*"]}}]}]}),
    ));
    FakeApiServer::start(state).await
}

fn api_error(err: kube::Error) -> Box<kube::core::Status> {
    match err {
        kube::Error::Api(status) => status,
        other => panic!("expected a Status error, got {other:?}"),
    }
}

/// Returns the pods API of namespace `shop`.
async fn shop_pods(server: &FakeApiServer) -> Api<Pod> {
    Api::namespaced(server.client("shop").await, "shop")
}

type PodEvents = futures::stream::BoxStream<'static, kube::Result<WatchEvent<Pod>>>;

/// Opens a watch on the pods of `shop` from resource version `rv`.
async fn watch_pods(server: &FakeApiServer, params: &WatchParams, rv: &str) -> PodEvents {
    let pods = shop_pods(server).await;
    pods.watch(params, rv).await.expect("watch").boxed()
}

/// Waits for the next watch event, failing the test after [`WAIT`].
async fn next_event(stream: &mut PodEvents) -> Option<WatchEvent<Pod>> {
    tokio::time::timeout(WAIT, stream.try_next())
        .await
        .expect("event in time")
        .expect("event")
}

fn follow_params() -> LogParams {
    LogParams {
        container: Some("istio-proxy".into()),
        follow: true,
        ..LogParams::default()
    }
}

#[tokio::test]
async fn list_namespace() {
    let server = shop().await;
    let pods = shop_pods(&server).await;
    let list = pods.list(&ListParams::default()).await.expect("list pods");
    let names: Vec<_> = list
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(names, ["cart-v2-5f6b7c8d9e-q1w2e", ORDERS]);
}

#[tokio::test]
async fn list_all_namespaces() {
    let server = shop().await;
    let pods: Api<Pod> = Api::all(server.client("shop").await);
    let list = pods.list(&ListParams::default()).await.expect("list pods");
    assert_eq!(list.items.len(), 3);
}

#[tokio::test]
async fn list_label_selector() {
    let server = shop().await;
    let pods: Api<Pod> = Api::all(server.client("shop").await);
    let list = pods
        .list(&ListParams::default().labels("security.istio.io/tlsMode=istio,app!=cart"))
        .await
        .expect("list pods");
    let names: Vec<_> = list
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(names, [ORDERS]);
}

#[tokio::test]
async fn list_field_selector() {
    let server = shop().await;
    let pods: Api<Pod> = Api::all(server.client("shop").await);
    let list = pods
        .list(&ListParams::default().fields(&format!("metadata.name={ORDERS}")))
        .await
        .expect("list pods");
    assert_eq!(list.items.len(), 1);
}

#[tokio::test]
async fn list_pages() {
    let server = shop().await;
    let pods: Api<Pod> = Api::all(server.client("shop").await);
    let first = pods
        .list(&ListParams::default().limit(2))
        .await
        .expect("first page");
    let token = first.metadata.continue_.clone().expect("continue token");
    let second = pods
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .expect("second page");
    assert_eq!((first.items.len(), second.items.len()), (2, 1));
}

#[tokio::test]
async fn continue_after_compaction() {
    let server = shop().await;
    let pods: Api<Pod> = Api::all(server.client("shop").await);
    let first = pods
        .list(&ListParams::default().limit(1))
        .await
        .expect("first page");
    let token = first.metadata.continue_.clone().expect("continue token");
    server.state().apply(plain_pod("shop", "batch-1", "batch"));
    server.state().compact();
    let err = pods
        .list(&ListParams::default().limit(1).continue_token(&token))
        .await
        .expect_err("expired token");
    assert_eq!(api_error(err).code, 410);
}

#[tokio::test]
async fn get_missing() {
    let server = shop().await;
    let pods = shop_pods(&server).await;
    let status = api_error(pods.get("nope").await.expect_err("missing pod"));
    assert_eq!(status.message, "pods \"nope\" not found");
}

#[tokio::test]
async fn wrong_token() {
    let server = shop().await;
    let text = server
        .kubeconfig("fake", "shop")
        .replace(server.token(), "not-the-token");
    let config = Kubeconfig::from_yaml(&text).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(config, &KubeConfigOptions::default())
        .await
        .expect("config");
    let client = kube::Client::try_from(config).expect("client");
    let pods: Api<Pod> = Api::namespaced(client, "shop");
    let status = api_error(pods.list(&ListParams::default()).await.expect_err("401"));
    assert_eq!((status.code, status.reason.as_str()), (401, "Unauthorized"));
}

#[tokio::test]
async fn second_context() {
    let prod = shop().await;
    let dev_state = ClusterState::new();
    dev_state.apply(plain_pod("default", "hello-1", "hello"));
    let dev = FakeApiServer::start(dev_state).await;
    let text = kubeconfig(&[(&prod, "prod", "shop"), (&dev, "dev", "default")]);
    let options = KubeConfigOptions {
        context: Some("dev".into()),
        ..KubeConfigOptions::default()
    };
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::from_yaml(&text).expect("kubeconfig"),
        &options,
    )
    .await
    .expect("config");
    let pods: Api<Pod> = Api::default_namespaced(kube::Client::try_from(config).expect("client"));
    let list = pods.list(&ListParams::default()).await.expect("list pods");
    let names: Vec<_> = list
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    assert_eq!(names, ["hello-1"]);
}

#[tokio::test]
async fn watch_added() {
    let server = shop().await;
    let rv = server.state().resource_version().to_string();
    let mut stream = watch_pods(&server, &WatchParams::default(), &rv).await;
    server.state().apply(plain_pod("shop", "batch-1", "batch"));
    let event = next_event(&mut stream).await;
    let name = match event {
        Some(WatchEvent::Added(pod)) => pod.metadata.name,
        other => panic!("expected ADDED, got {other:?}"),
    };
    assert_eq!(name.as_deref(), Some("batch-1"));
}

#[tokio::test]
async fn watch_label_leaves() {
    let server = shop().await;
    let rv = server.state().resource_version().to_string();
    let params = WatchParams::default().labels("app=orders");
    let mut stream = watch_pods(&server, &params, &rv).await;
    let mut pod = server
        .state()
        .get("v1", "Pod", "shop", ORDERS)
        .expect("pod");
    pod["metadata"]["labels"]["app"] = json!("renamed");
    server.state().apply(pod);
    let event = next_event(&mut stream).await;
    assert!(matches!(event, Some(WatchEvent::Deleted(_))), "{event:?}");
}

#[tokio::test]
async fn watch_too_old() {
    let server = shop().await;
    let rv = server.state().resource_version().to_string();
    server.state().apply(plain_pod("shop", "batch-1", "batch"));
    server.state().compact();
    let mut stream = watch_pods(&server, &WatchParams::default(), &rv).await;
    let event = next_event(&mut stream).await;
    let reason = match event {
        Some(WatchEvent::Error(status)) => status.reason,
        other => panic!("expected ERROR, got {other:?}"),
    };
    assert_eq!(reason, "Expired");
}

#[tokio::test]
async fn watch_bookmark() {
    let server = shop().await;
    let rv = server.state().resource_version().to_string();
    let mut stream = watch_pods(&server, &WatchParams::default(), &rv).await;
    server.state().send_bookmark();
    let event = next_event(&mut stream).await;
    let got = match event {
        Some(WatchEvent::Bookmark(bookmark)) => bookmark.metadata.resource_version,
        other => panic!("expected BOOKMARK, got {other:?}"),
    };
    assert_eq!(got, rv);
}

#[tokio::test]
async fn watch_deleted() {
    let server = shop().await;
    let rv = server.state().resource_version().to_string();
    let mut stream = watch_pods(&server, &WatchParams::default(), &rv).await;
    server.state().delete_pod("shop", ORDERS);
    let event = next_event(&mut stream).await;
    assert!(matches!(event, Some(WatchEvent::Deleted(_))), "{event:?}");
}

#[tokio::test]
async fn watcher_streaming_list() {
    let server = shop().await;
    let pods = shop_pods(&server).await;
    let config = watcher::Config::default().streaming_lists();
    let mut events = watcher(pods, config).boxed();
    let applied = tokio::time::timeout(WAIT, async {
        let mut applied = 0;
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::InitApply(_)) => applied += 1,
                Ok(watcher::Event::InitDone) => break,
                _ => {}
            }
        }
        applied
    })
    .await
    .expect("initial events end in time");
    assert_eq!(applied, 2);
}

#[tokio::test]
async fn watch_timeout_ends() {
    let server = shop().await;
    let rv = server.state().resource_version().to_string();
    let mut stream = watch_pods(&server, &WatchParams::default().timeout(1), &rv).await;
    assert!(
        next_event(&mut stream).await.is_none(),
        "watch outlived timeoutSeconds"
    );
}

#[tokio::test]
async fn watcher_relists() {
    let server = shop().await;
    let pods = shop_pods(&server).await;
    let mut events = watcher(pods, watcher::Config::default()).boxed();
    let mut inits = 0;
    let mut expired = false;
    let outcome = tokio::time::timeout(WAIT, async {
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::InitDone) if inits == 1 => {
                    // Watching now: make its version too old, then break the stream so it resumes.
                    server.state().apply(plain_pod("shop", "batch-1", "batch"));
                    server.state().compact();
                    server.drop_connections();
                }
                Ok(watcher::Event::InitDone) => return,
                Ok(watcher::Event::Init) => inits += 1,
                Err(watcher::Error::WatchError(status)) => expired |= status.code == 410,
                _ => {}
            }
        }
    })
    .await;
    assert!(outcome.is_ok(), "watcher never re-listed");
    assert!(expired, "watcher saw no 410");
}

#[tokio::test]
async fn follow_receives() {
    let server = shop().await;
    let pods = shop_pods(&server).await;
    let mut lines = pods
        .log_stream(ORDERS, &follow_params())
        .await
        .expect("log stream")
        .lines();
    server
        .state()
        .append_log("shop", ORDERS, "istio-proxy", ["first", "second"]);
    let got = tokio::time::timeout(WAIT, async { vec![lines.next().await, lines.next().await] })
        .await
        .expect("lines in time");
    let got: Vec<String> = got
        .into_iter()
        .flatten()
        .map(|l| l.expect("line"))
        .collect();
    assert_eq!(got, ["first", "second"]);
}

#[tokio::test]
async fn timestamps_since() {
    let server = shop().await;
    let state = server.state();
    let old = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("time");
    let new = old + chrono::Duration::milliseconds(90_500);
    state.append_log_at("shop", ORDERS, "istio-proxy", old, "old");
    state.append_log_at("shop", ORDERS, "istio-proxy", new, "new");
    let pods = shop_pods(&server).await;
    let params = LogParams {
        container: Some("istio-proxy".into()),
        timestamps: true,
        since_time: Some("2026-01-01T00:01:00Z".parse().expect("since")),
        ..LogParams::default()
    };
    let text = pods.logs(ORDERS, &params).await.expect("logs");
    assert_eq!(text, "2026-01-01T00:01:30.500000000Z new\n");
}

#[tokio::test]
async fn tail_lines() {
    let server = shop().await;
    server
        .state()
        .append_log("shop", ORDERS, "istio-proxy", ["a", "b", "c"]);
    let pods = shop_pods(&server).await;
    let params = LogParams {
        container: Some("istio-proxy".into()),
        tail_lines: Some(2),
        ..LogParams::default()
    };
    assert_eq!(pods.logs(ORDERS, &params).await.expect("logs"), "b\nc\n");
}

#[tokio::test]
async fn logs_forbidden() {
    let server = shop().await;
    server.state().set_logs_forbidden("shop", true);
    let pods = shop_pods(&server).await;
    let status = api_error(pods.logs(ORDERS, &follow_params()).await.expect_err("403"));
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        status.message,
        format!(
            "pods \"{ORDERS}\" is forbidden: User \"{}\" cannot get resource \"pods/log\" in API group \"\" in the namespace \"shop\"",
            fake_apiserver::DEFAULT_USER
        )
    );
}

#[tokio::test]
async fn logs_unknown_pod() {
    let server = shop().await;
    let pods = shop_pods(&server).await;
    let status = api_error(pods.logs("nope", &follow_params()).await.expect_err("404"));
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
}

#[tokio::test]
async fn logs_unknown_container() {
    let server = shop().await;
    let pods = shop_pods(&server).await;
    let params = LogParams {
        container: Some("nope".into()),
        ..LogParams::default()
    };
    let status = api_error(pods.logs(ORDERS, &params).await.expect_err("400"));
    assert_eq!(
        status.message,
        format!("container nope is not valid for pod {ORDERS}")
    );
}

#[tokio::test]
async fn logs_native_sidecar() {
    let server = shop().await;
    server.state().append_log(
        "shop",
        "cart-v2-5f6b7c8d9e-q1w2e",
        "istio-proxy",
        ["native"],
    );
    let pods = shop_pods(&server).await;
    let params = LogParams {
        container: Some("istio-proxy".into()),
        ..LogParams::default()
    };
    let text = pods
        .logs("cart-v2-5f6b7c8d9e-q1w2e", &params)
        .await
        .expect("logs");
    assert_eq!(text, "native\n");
}

#[tokio::test]
async fn restart_ends_follow() {
    let server = shop().await;
    server
        .state()
        .append_log("shop", ORDERS, "istio-proxy", ["before"]);
    let pods = shop_pods(&server).await;
    let mut stream = pods
        .log_stream(ORDERS, &follow_params())
        .await
        .expect("log stream");
    let mut first = String::new();
    stream.read_line(&mut first).await.expect("first line");
    server.state().restart_pod("shop", ORDERS);
    let mut rest = String::new();
    let read = tokio::time::timeout(WAIT, stream.read_to_string(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0))), "{read:?}");
}

#[tokio::test]
async fn delete_ends_follow() {
    let server = shop().await;
    let pods = shop_pods(&server).await;
    let mut stream = pods
        .log_stream(ORDERS, &follow_params())
        .await
        .expect("log stream");
    server.state().delete_pod("shop", ORDERS);
    let mut rest = String::new();
    let read = tokio::time::timeout(WAIT, stream.read_to_string(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0))), "{read:?}");
}

#[tokio::test]
async fn since_seconds() {
    let server = shop().await;
    let state = server.state();
    let old = Utc::now() - chrono::Duration::minutes(10);
    state.append_log_at("shop", ORDERS, "istio-proxy", old, "old");
    state.append_log("shop", ORDERS, "istio-proxy", ["recent"]);
    let params = LogParams {
        container: Some("istio-proxy".into()),
        since_seconds: Some(60),
        ..LogParams::default()
    };
    let text = shop_pods(&server)
        .await
        .logs(ORDERS, &params)
        .await
        .expect("logs");
    assert_eq!(text, "recent\n");
}

#[tokio::test]
async fn restart_keeps_previous() {
    let server = shop().await;
    server
        .state()
        .append_log("shop", ORDERS, "istio-proxy", ["before"]);
    server.state().restart_pod("shop", ORDERS);
    let pods = shop_pods(&server).await;
    let params = LogParams {
        container: Some("istio-proxy".into()),
        previous: true,
        ..LogParams::default()
    };
    assert_eq!(pods.logs(ORDERS, &params).await.expect("logs"), "before\n");
}

#[tokio::test]
async fn cut_mid_line() {
    let server = shop().await;
    let pods = shop_pods(&server).await;
    let mut stream = pods
        .log_stream(ORDERS, &follow_params())
        .await
        .expect("log stream");
    server
        .state()
        .append_log("shop", ORDERS, "istio-proxy", ["whole"]);
    let mut first = String::new();
    stream.read_line(&mut first).await.expect("first line");
    server.state().cut_log_streams(
        "shop",
        ORDERS,
        "istio-proxy",
        LogCut::MidLine("[2026-12-04T22:25".into()),
    );
    let mut rest = String::new();
    let read = tokio::time::timeout(WAIT, stream.read_to_string(&mut rest)).await;
    assert!(matches!(read, Ok(Err(_))), "{read:?}");
}

#[tokio::test]
async fn dropped_then_works() {
    let server = shop().await;
    let pods = shop_pods(&server).await;
    let mut stream = pods
        .log_stream(ORDERS, &follow_params())
        .await
        .expect("log stream");
    server.drop_connections();
    let mut rest = String::new();
    let read = tokio::time::timeout(WAIT, stream.read_to_string(&mut rest)).await;
    assert!(matches!(read, Ok(Err(_))), "{read:?}");
    assert!(
        pods.list(&ListParams::default()).await.is_ok(),
        "request after the drop failed"
    );
}

#[tokio::test]
async fn refused_then_works() {
    let server = shop().await;
    let pods = shop_pods(&server).await;
    server.refuse_connections(Duration::from_millis(500));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        pods.list(&ListParams::default()).await.is_err(),
        "request while refusing succeeded"
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        pods.list(&ListParams::default()).await.is_ok(),
        "request after the pause failed"
    );
}

#[tokio::test]
async fn discovery_istio() {
    let server = shop().await;
    let client = server.client("shop").await;
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    let versions: Vec<String> = discovery
        .get("security.istio.io")
        .map(|g| g.versions().map(str::to_owned).collect())
        .unwrap_or_default();
    assert_eq!(versions, ["v1", "v1beta1"]);
}

#[tokio::test]
async fn discovery_aggregated() {
    let server = shop().await;
    let client = server.client("shop").await;
    let discovery = Discovery::new(client)
        .run_aggregated()
        .await
        .expect("discovery");
    let gvk = GroupVersionKind::gvk("security.istio.io", "v1", "AuthorizationPolicy");
    let plural = discovery.resolve_gvk(&gvk).map(|(ar, _)| ar.plural);
    assert_eq!(plural.as_deref(), Some("authorizationpolicies"));
}

#[tokio::test]
async fn discovery_without_istio() {
    let server = shop().await;
    server.state().set_istio_crds(false);
    let client = server.client("shop").await;
    let discovery = Discovery::new(client).run().await.expect("discovery");
    assert!(!discovery.has_group("security.istio.io"));
}

#[tokio::test]
async fn absent_crd_is_404() {
    let server = shop().await;
    server.state().set_istio_crds(false);
    let gvk = GroupVersionKind::gvk("security.istio.io", "v1", "AuthorizationPolicy");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "authorizationpolicies");
    let api: Api<DynamicObject> =
        Api::namespaced_with(server.client("shop").await, "shop", &resource);
    let status = api_error(api.list(&ListParams::default()).await.expect_err("404"));
    assert_eq!(status.code, 404);
}

#[tokio::test]
async fn dynamic_policies() {
    let server = shop().await;
    let client = server.client("shop").await;
    for version in ["v1", "v1beta1"] {
        let gvk = GroupVersionKind::gvk("security.istio.io", version, "AuthorizationPolicy");
        let resource = ApiResource::from_gvk_with_plural(&gvk, "authorizationpolicies");
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "shop", &resource);
        let list = api
            .list(&ListParams::default())
            .await
            .expect("list policies");
        let got: Vec<_> = list
            .items
            .iter()
            .map(|p| {
                (
                    p.metadata.name.clone(),
                    p.types.as_ref().map(|t| t.api_version.clone()),
                )
            })
            .collect();
        let want = vec![(
            Some("allow-orders".to_owned()),
            Some(format!("security.istio.io/{version}")),
        )];
        assert_eq!(got, want, "{version}");
    }
}

#[test]
fn label_forms() {
    let pod = json!({"metadata": {"labels": {"app": "orders", "version": "v1"}}});
    let cases = [
        ("", true),
        ("app=orders", true),
        ("app==orders", true),
        ("app!=orders", false),
        ("app in (orders,cart)", true),
        ("app notin (orders,cart)", false),
        ("app,version=v1", true),
        ("!canary", true),
        ("canary", false),
        ("version in (v2, v3),app", false),
    ];
    for (text, want) in cases {
        let selector = LabelSelector::parse(text).expect("valid selector");
        assert_eq!(selector.matches(&pod), want, "{text}");
    }
}

#[test]
fn demo_lines() {
    let logs = demo_logs();
    let orders = logs
        .iter()
        .find(|l| l.namespace == "shop" && l.workload == "orders")
        .map(|l| l.lines.len());
    assert!(orders.is_some_and(|n| n > 0), "no shop.orders demo lines");
}
