//! Throughput of the mesh simulator's authorization check on a workload with 50 authorization policies
//! of 5 rules each, in evaluations per second on one core.
//!
//! Run with `cargo bench --bench check`. The RBAC filters are built and compiled once, as Envoy does
//! when istiod pushes a config; each evaluation then runs one request through them:
//! - `decide_no_match`: a request no rule matches, ending in
//!   `rbac_access_denied_matched_policy[none]`, verdict only, as Envoy decides. Its peer is named by
//!   no rule, so the peer index skips all 250 policies;
//! - `decide_last_rule`: a request only the last rule of the last policy allows, verdict only;
//! - `explain_no_match` and `explain_last_rule`: the same with the explanation `idflow check`
//!   prints (a step per rule, each non-matching rule's first failing clause in words);
//! - `check_end_to_end`: the whole `idflow check` path for one request (scoping, building both
//!   filters, jwt_authn with no token, RBAC), for comparison.
//!
//! The `check_50x5_namespaces` group runs the two verdict-only cases on the same policies without
//! the `principals` field, so each rule names its source by namespace (a regex on the peer's URI
//! SAN). The peer index groups the policies by that namespace, so `decide_no_match` (peer in `web`)
//! evaluates none of them and `decide_last_rule` (peer in `team-49`) the 5 rules of one policy.

idflow::use_pipeline_allocator!();

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use idflow::mesh::check::{Mesh, check};
use idflow::mesh::crd::PolicySet;
use idflow::mesh::load::load_policies;
use idflow::mesh::rbac::{BuildSettings, Engine, ScopedPolicy, build, decide, evaluate};
use idflow::mesh::{MeshSettings, Protocol, Request, Workload};

const POLICIES: usize = 50;
const RULES: usize = 5;

/// Writes 50 ALLOW policies of 5 rules, each rule mixing a source, an operation and a condition.
/// Without `with_principals` the sources are namespaces only.
fn policies_yaml(with_principals: bool) -> String {
    let mut text = String::new();
    for p in 0..POLICIES {
        let _ = write!(
            text,
            "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: policy-{p:02}\n  namespace: shop\nspec:\n  selector:\n    matchLabels:\n      app: orders\n  rules:\n"
        );
        for r in 0..RULES {
            let principals = if with_principals {
                format!("        principals: [\"cluster.local/ns/team-{p}/sa/client-{r}\"]\n")
            } else {
                String::new()
            };
            let _ = write!(
                text,
                "  - from:\n    - source:\n{principals}        namespaces: [\"team-{p}\"]\n    to:\n    - operation:\n        methods: [\"GET\", \"POST\"]\n        paths: [\"/api/v{r}/items/*\", \"/api/v{r}/orders/{{*}}\"]\n        hosts: [\"orders.shop.svc.cluster.local\", \"orders.shop.svc.cluster.local:*\"]\n    when:\n    - key: request.headers[x-tenant]\n      values: [\"tenant-{p}\", \"*-corp\"]\n"
            );
        }
        text.push_str("---\n");
    }
    text
}

fn workload() -> Workload {
    Workload {
        namespace: "shop".to_owned(),
        name: "orders".to_owned(),
        labels: BTreeMap::from([("app".to_owned(), "orders".to_owned())]),
        service_account: "orders".to_owned(),
        ..Workload::default()
    }
}

fn request(principal: &str, path: &str, tenant: &str) -> Request {
    Request {
        method: "GET".to_owned(),
        path: path.to_owned(),
        host: "orders.shop.svc.cluster.local:8080".to_owned(),
        headers: vec![("x-tenant".to_owned(), tenant.to_owned())],
        source_principal: Some(principal.to_owned()),
        ..Request::default()
    }
}

/// Builds and compiles the RBAC filters of the workload for the policies.
fn compile_engine(policies: &PolicySet, settings: &MeshSettings) -> Engine {
    let scoped: Vec<ScopedPolicy<'_>> = policies
        .authorization
        .iter()
        .map(ScopedPolicy::new)
        .collect();
    let built = build(
        &scoped,
        &BuildSettings {
            mesh: settings,
            protocol: Protocol::Http,
            providers: &[],
        },
    );
    Engine::new(&built.filters).expect("bench filters compile")
}

fn bench_check(c: &mut Criterion) {
    let policies =
        load_policies(&policies_yaml(true), "bench.yaml", "shop").expect("bench policies load");
    let settings = MeshSettings::default();
    let engine = compile_engine(&policies, &settings);

    let miss = request(
        "spiffe://cluster.local/ns/web/sa/frontend",
        "/api/v9/other",
        "nobody",
    );
    let last = POLICIES - 1;
    let hit = request(
        &format!("spiffe://cluster.local/ns/team-{last}/sa/client-4"),
        "/api/v4/orders/17",
        &format!("tenant-{last}"),
    );
    assert_eq!(
        evaluate(&engine, &miss, None).response_code_details,
        "rbac_access_denied_matched_policy[none]"
    );
    assert_eq!(evaluate(&engine, &hit, None).status, 200);

    let mut group = c.benchmark_group("check_50x5");
    group.throughput(Throughput::Elements(1));
    assert_eq!(decide(&engine, &miss, None), Some("none"));
    assert_eq!(decide(&engine, &hit, None), None);
    group.bench_function("decide_no_match", |b| {
        b.iter(|| decide(&engine, black_box(&miss), None));
    });
    group.bench_function("decide_last_rule", |b| {
        b.iter(|| decide(&engine, black_box(&hit), None));
    });
    group.bench_function("explain_no_match", |b| {
        b.iter(|| evaluate(&engine, black_box(&miss), None));
    });
    group.bench_function("explain_last_rule", |b| {
        b.iter(|| evaluate(&engine, black_box(&hit), None));
    });

    let jwks = BTreeMap::new();
    let mesh = Mesh {
        policies: &policies,
        jwks: &jwks,
        providers: &[],
        settings: &settings,
    };
    let workload = workload();
    group.bench_function("check_end_to_end", |b| {
        b.iter(|| check(&mesh, &workload, black_box(&hit)).expect("check runs"));
    });
    group.finish();

    let namespaces =
        load_policies(&policies_yaml(false), "bench.yaml", "shop").expect("bench policies load");
    let by_namespace = compile_engine(&namespaces, &settings);
    assert_eq!(decide(&by_namespace, &miss, None), Some("none"));
    assert_eq!(decide(&by_namespace, &hit, None), None);
    assert_eq!(
        evaluate(&by_namespace, &hit, None)
            .explanation
            .iter()
            .filter(|step| step.outcome == "matched")
            .count(),
        1,
        "only the last rule should match"
    );
    let mut group = c.benchmark_group("check_50x5_namespaces");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decide_no_match", |b| {
        b.iter(|| decide(&by_namespace, black_box(&miss), None));
    });
    group.bench_function("decide_last_rule", |b| {
        b.iter(|| decide(&by_namespace, black_box(&hit), None));
    });
    group.finish();
}

criterion_group!(benches, bench_check);
criterion_main!(benches);
