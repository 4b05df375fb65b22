//! Loading, validating and scoping Istio security policies, and the policy warnings.

use std::path::{Path, PathBuf};

use idflow::mesh::crd::{Action, MtlsMode, PolicySet};
use idflow::mesh::load::{
    InvalidDocument, LoadError, NoticeKind, load_policies, load_policies_with_notices,
    load_policy_file,
};
use idflow::mesh::scope::{Attachment, ServiceRef, policies_for, policies_for_services};
use idflow::mesh::validate::{Severity, validate};
use idflow::mesh::warnings::{PortProtocol, WarningCode, forwarding_warnings, warnings};
use idflow::mesh::{IstioVersion, MeshSettings, Protocol, Workload, WorkloadKind};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/policies")
        .join(name)
}

fn load(text: &str) -> PolicySet {
    load_policies(text, "test.yaml", "default").expect("policies load")
}

fn invalid(text: &str) -> InvalidDocument {
    match load_policies(text, "test.yaml", "default") {
        Err(LoadError::Invalid(details)) => *details,
        other => panic!("expected an invalid document, got {other:?}"),
    }
}

fn ap(name: &str, namespace: &str, spec: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n{spec}\n---\n"
    )
}

fn workload(namespace: &str, labels: &[(&str, &str)], kind: WorkloadKind) -> Workload {
    Workload {
        namespace: namespace.to_owned(),
        name: "orders".to_owned(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        service_account: "orders".to_owned(),
        kind,
    }
}

// ---- loading ----

#[test]
fn load_yaml_skips_service() {
    let loaded = load_policy_file(&fixture("mixed.yaml"), "default").expect("loads");
    assert_eq!(loaded.policies.authorization.len(), 1);
    assert_eq!(loaded.policies.request_authentication.len(), 1);
    assert_eq!(loaded.skipped, 1);
    assert_eq!(loaded.notices[0].kind, NoticeKind::SkippedKind);
    assert_eq!(loaded.notices[0].object, "Service shop/orders");
}

#[test]
fn load_default_namespace() {
    let loaded = load_policy_file(&fixture("mixed.yaml"), "fallback").expect("loads");
    let ra = &loaded.policies.request_authentication[0];
    assert_eq!(ra.metadata.namespace, "fallback");
    assert_eq!(ra.api_version, "security.istio.io/v1beta1");
}

#[test]
fn load_json_list() {
    let loaded = load_policy_file(&fixture("list.json"), "default").expect("loads");
    assert_eq!(loaded.policies.peer_authentication.len(), 1);
    assert_eq!(loaded.policies.authorization[0].spec.action, Action::Deny);
}

#[test]
fn load_json_array() {
    let loaded = load_policy_file(&fixture("array.json"), "default").expect("loads");
    assert_eq!(loaded.policies.authorization.len(), 1);
    assert!(loaded.policies.authorization[0].spec.rules.is_none());
}

#[test]
fn load_unknown_field() {
    let text = std::fs::read_to_string(fixture("unknown-field.yaml")).expect("fixture");
    let error = invalid(&text);
    assert_eq!(
        error.field.as_deref(),
        Some("spec.rules[0].from[0].source.requestPrincipal")
    );
    assert_eq!(error.line, Some(10));
    assert_eq!(
        error.object.as_deref(),
        Some("AuthorizationPolicy shop/jwt-only")
    );
    assert!(error.fix.contains("`requestPrincipals`"), "{}", error.fix);
}

#[test]
fn load_bad_yaml_line() {
    let text = std::fs::read_to_string(fixture("bad-syntax.yaml")).expect("fixture");
    let error = invalid(&text);
    assert_eq!(error.document, 2);
    assert!(error.line.is_some_and(|line| line >= 16), "{error}");
    assert!(
        error.to_string().starts_with("test.yaml: document 2"),
        "{error}"
    );
}

#[test]
fn load_bad_json_line() {
    let error = invalid("{\n  \"kind\": \"List\",\n  \"items\": [\n}\n");
    assert_eq!(error.line, Some(4));
}

#[test]
fn load_table_of_errors() {
    let header = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: a, namespace: shop}\n";
    let cases = [
        ("action case", "spec:\n  action: allow\n", "spec.action"),
        (
            "port number",
            "spec:\n  rules:\n  - to:\n    - operation: {ports: [80]}\n",
            "spec.rules[0].to[0].operation.ports[0]",
        ),
        (
            "string list",
            "spec:\n  rules:\n  - to:\n    - operation: {paths: /a}\n",
            "spec.rules[0].to[0].operation.paths",
        ),
        (
            "annotation bool",
            "  annotations: {istio.io/dry-run: true}\nspec: {}\n",
            "metadata.annotations.istio.io/dry-run",
        ),
    ];
    for (case, body, field) in cases {
        let text = if body.starts_with("  annotations") {
            header.replace(
                "metadata: {name: a, namespace: shop}\n",
                &format!("metadata:\n  name: a\n{body}"),
            )
        } else {
            format!("{header}{body}")
        };
        let error = invalid(&text);
        assert_eq!(error.field.as_deref(), Some(field), "case {case}: {error}");
    }
}

#[test]
fn load_versions() {
    let text = |version: &str| {
        format!(
            "apiVersion: security.istio.io/{version}\nkind: PeerAuthentication\nmetadata: {{name: a}}\nspec: {{}}\n"
        )
    };
    for version in ["v1", "v1beta1"] {
        assert_eq!(
            load(&text(version)).peer_authentication.len(),
            1,
            "{version}"
        );
    }
    let error = invalid(&text("v1alpha1"));
    assert_eq!(error.field.as_deref(), Some("apiVersion"));
    assert!(error.fix.contains("security.istio.io/v1"));
}

#[test]
fn load_missing_kind() {
    let error = invalid("apiVersion: security.istio.io/v1\nmetadata: {name: a}\n");
    assert_eq!(error.field.as_deref(), Some("kind"));
}

#[test]
fn load_cluster_metadata_is_quiet() {
    let text = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: td\n  namespace: foo\n  uid: 5f0c\n  generation: 3\n  managedFields: []\n  creationTimestamp: \"2026-01-02T03:04:05Z\"\nspec:\n  rules:\n  - from:\n    - source:\n        trustDomains: [cluster.local]\n";
    let loaded = load_policies_with_notices(text, "t.yaml", "default").expect("loads");
    assert!(loaded.notices.is_empty(), "{:?}", loaded.notices);
    let policy = &loaded.policies.authorization[0];
    assert_eq!(
        policy.metadata.creation_timestamp.as_deref(),
        Some("2026-01-02T03:04:05Z")
    );
    let rules = policy.spec.rules.as_ref().expect("rules");
    let source = rules[0].from.as_ref().expect("from")[0]
        .source
        .as_ref()
        .expect("source");
    assert_eq!(source.trust_domains, vec!["cluster.local".to_owned()]);
}

#[test]
fn load_replaces_same_name() {
    let text = format!(
        "{}{}",
        ap("a", "shop", "  action: DENY\n  rules: [{}]"),
        ap("a", "shop", "  rules: [{}]")
    );
    let loaded = load_policies_with_notices(&text, "t.yaml", "default").expect("loads");
    assert_eq!(loaded.policies.authorization.len(), 1);
    assert_eq!(loaded.policies.authorization[0].spec.action, Action::Allow);
    assert_eq!(loaded.notices[0].kind, NoticeKind::Replaced);
}

#[test]
fn golden_inputs_load_and_validate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/istio-authz-golden");
    if !root.is_dir() {
        println!(
            "skipped: {} is absent (it holds Istio's builder test inputs)",
            root.display()
        );
        return;
    }
    let mut count = 0;
    for dir in ["http", "tcp"] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .expect("readable folder")
            .map(|entry| entry.expect("entry").path())
            .filter(|p| p.to_string_lossy().ends_with("-in.yaml"))
            .collect();
        paths.sort();
        for path in paths {
            let loaded = load_policy_file(&path, "foo")
                .unwrap_or_else(|err| panic!("{} fails to load: {err}", path.display()));
            assert!(
                !loaded.policies.authorization.is_empty(),
                "{}",
                path.display()
            );
            let errors: Vec<_> = validate(&loaded.policies)
                .into_iter()
                .filter(|e| e.severity == Severity::Error)
                .collect();
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            count += 1;
        }
    }
    assert!(count >= 17, "found {count} inputs");
}

// ---- validation ----

fn messages(spec: &str) -> Vec<String> {
    let set = load_policies(&ap("p", "shop", spec), "test.yaml", "default")
        .unwrap_or_else(|err| panic!("spec {spec:?} does not load: {err}"));
    validate(&set).into_iter().map(|e| e.message).collect()
}

/// Policy specs and the istiod message each must produce.
const VALIDATION_CASES: &[(&str, &str)] = &[
    (
        "  action: DENY",
        "DENY action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request",
    ),
    (
        "  action: CUSTOM\n  provider: {name: ext}",
        "CUSTOM action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request",
    ),
    (
        "  action: CUSTOM\n  rules: [{}]",
        "`provider.name` must not be empty",
    ),
    (
        "  provider: {name: ext}\n  rules: [{}]",
        "`provider` must not be with non CUSTOM action, found ALLOW",
    ),
    (
        "  rules:\n  - from: []",
        "`from` must not be empty, found at rule 0",
    ),
    (
        "  rules:\n  - to: []",
        "`to` must not be empty, found at rule 0",
    ),
    (
        "  rules:\n  - from:\n    - source: {}",
        "`from.source` must not be empty, found at rule 0",
    ),
    (
        "  rules:\n  - from:\n    - {}",
        "`from.source` must not be nil, found at rule 0",
    ),
    (
        "  rules:\n  - to:\n    - operation: {}",
        "`to.operation` must not be empty, found at rule 0",
    ),
    (
        "  rules:\n  - to:\n    - {}",
        "`to.operation` must not be nil, found at rule 0",
    ),
    (
        "  rules:\n  - from:\n    - source: {principals: [\"\"]}",
        "empty value not allowed, found in Principals",
    ),
    (
        "  rules:\n  - from:\n    - source: {ipBlocks: [\"1.2.3\"]}",
        "bad IP address (1.2.3)",
    ),
    (
        "  rules:\n  - to:\n    - operation: {ports: [\"http\"]}",
        "bad port (http): strconv.ParseInt: parsing \"http\": invalid syntax",
    ),
    (
        "  rules:\n  - to:\n    - operation: {ports: [\"70000\"]}",
        "bad port (70000): <nil>",
    ),
    (
        "  rules:\n  - from:\n    - source: {serviceAccounts: [\"*\"]}",
        "wildcard not allowed, found in ServiceAccounts",
    ),
    (
        "  rules:\n  - from:\n    - source: {serviceAccounts: [\"a/b/c\"]}",
        "expected format 'serviceAccount' or 'namespace/serviceAccount', found \"a/b/c\" in ServiceAccounts",
    ),
    (
        "  rules:\n  - from:\n    - source: {serviceAccounts: [sa], namespaces: [ns]}",
        "cannot set serviceAccounts with namespaces or principals, found at rule 0",
    ),
    (
        "  rules:\n  - when:\n    - key: request.auth.claims[iss]",
        "at least one of `values` or `notValues` must be set for key request.auth.claims[iss]",
    ),
    (
        "  rules:\n  - when:\n    - {key: destination.namespace, values: [a]}",
        "invalid `value` for `key` destination.namespace: attribute destination.namespace is replaced by the metadata.namespace",
    ),
    (
        "  rules:\n  - when:\n    - {key: \"destination.labels[app]\", values: [a]}",
        "invalid `value` for `key` destination.labels[app]: attribute destination.labels[app] is replaced by the workload selector",
    ),
    (
        "  rules:\n  - when:\n    - {key: destination.user, values: [a]}",
        "invalid `value` for `key` destination.user: deprecated attribute destination.user: only supported in v1alpha1",
    ),
    (
        "  rules:\n  - when:\n    - {key: request.colour, values: [a]}",
        "invalid `value` for `key` request.colour: unknown attribute: request.colour",
    ),
    (
        "  rules:\n  - when:\n    - {key: \"request.headers[]\", values: [a]}",
        "invalid `value` for `key` request.headers[]: bad key (request.headers[]): should have format a[b]",
    ),
    (
        "  rules:\n  - when:\n    - {key: source.ip, notValues: [\"10.0.0.0/33\"]}",
        "invalid `notValue` for `key` source.ip: bad CIDR range (10.0.0.0/33): netip.ParsePrefix(\"10.0.0.0/33\"): prefix length out of range",
    ),
    (
        "  action: CUSTOM\n  provider: {name: ext}\n  rules:\n  - from:\n    - source: {principals: [a]}",
        "From.Principals is currently not supported with CUSTOM action",
    ),
    (
        "  action: CUSTOM\n  provider: {name: ext}\n  rules:\n  - when:\n    - {key: request.auth.principal, values: [a]}",
        "when.request.auth.principal is currently not supported with CUSTOM action",
    ),
    (
        "  rules:\n  - to:\n    - operation: {paths: [\"/{**}/a/{*}\"]}",
        "invalid or unsupported path {**}/a/{*}, found in Paths. {**} is not the last operator",
    ),
    (
        "  rules:\n  - to:\n    - operation: {paths: [\"/foo/{*}.txt\"]}",
        "invalid or unsupported path foo/{*}.txt, found in Paths. Contains '{' or '}' beyond a supported path template",
    ),
    (
        "  rules:\n  - to:\n    - operation: {notPaths: [\"/*/baz/{*}\"]}",
        "invalid or unsupported path */baz/{*}, found in NotPaths. Contains segment * with invalid string literal",
    ),
    (
        "  selector: {matchLabels: {app: \"web*\"}}\n  rules: [{}]",
        "wildcard is not supported in selector: \"app=web*\"",
    ),
    (
        "  selector: {matchLabels: {app: a}}\n  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw}]\n  rules: [{}]",
        "only one of targetRefs or workloadSelector can be set",
    ),
    (
        "  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: gw, namespace: other}]\n  rules: [{}]",
        "targetRef namespace must not be set; cross namespace referencing is not supported",
    ),
    (
        "  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io}]\n  rules: [{}]",
        "targetRef name must be set",
    ),
    (
        "  targetRefs: [{kind: Deployment, group: apps, name: web}]\n  rules: [{}]",
        "targetRef must be to one of [gateway.networking.k8s.io/Gateway core/Service networking.istio.io/ServiceEntry gateway.networking.k8s.io/GatewayClass] but was apps/Deployment",
    ),
];

#[test]
fn validate_messages() {
    for (spec, expected) in VALIDATION_CASES {
        let found = messages(spec);
        assert!(
            found.iter().any(|m| m == expected),
            "spec {spec:?}: expected {expected:?}, got {found:?}"
        );
    }
}

#[test]
fn validate_valid_templates() {
    for path in [
        "/foo/{*}",
        "/foo/{**}/",
        "/foo/{*}/bar/{**}",
        "/{**}/path/template",
    ] {
        let found = messages(&format!(
            "  rules:\n  - to:\n    - operation: {{paths: [\"{path}\"]}}"
        ));
        assert!(found.is_empty(), "{path}: {found:?}");
    }
}

#[test]
fn validate_empty_selector_warns() {
    let errors = validate(&load(&ap(
        "p",
        "shop",
        "  selector: {matchLabels: {}}\n  rules: [{}]",
    )));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].severity, Severity::Warning);
    assert_eq!(
        errors[0].message,
        "workload selector specified without labels"
    );
}

#[test]
fn validate_webhook_prefix() {
    let errors = validate(&load(&ap("p", "shop", "  action: DENY")));
    assert_eq!(
        errors[0].webhook_message(),
        "configuration is invalid: invalid policy p.shop: DENY action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request"
    );
}

fn ra(name: &str, namespace: &str, spec: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n{spec}\n---\n"
    )
}

#[test]
fn validate_jwt_rules() {
    let cases: &[(&str, &str)] = &[
        (
            "  jwtRules:\n  - audiences: [a]",
            "issuer or jwksUri must be non-empty string",
        ),
        (
            "  jwtRules:\n  - {issuer: i, audiences: [\"\"]}",
            "audience must be non-empty string",
        ),
        (
            "  jwtRules:\n  - {issuer: i, jwksUri: \"ftp://x/keys\"}",
            "URI scheme \"ftp\" is not supported",
        ),
        (
            "  jwtRules:\n  - {issuer: i, fromHeaders: [{prefix: \"Bearer \"}]}",
            "location header name must be non-empty string",
        ),
        (
            "  jwtRules:\n  - {issuer: i, fromParams: [\"\"]}",
            "location query must be non-empty string",
        ),
        (
            "  jwtRules:\n  - {issuer: i, fromCookies: [\"\"]}",
            "cookie name must be non-empty string",
        ),
        (
            "  jwtRules:\n  - {issuer: i, outputClaimToHeaders: [{header: x-sub}]}",
            "outputClaimToHeaders header and claim value must be non-empty string",
        ),
        (
            "  jwtRules:\n  - {issuer: i, jwks: \"{not json\"}",
            "jwks parse error: key must be a string at line 1 column 2",
        ),
        (
            "  jwtRules:\n  - {issuer: i, jwks: '{\"keys\":[{\"kty\":\"EC\",\"d\":\"x\"}]}'}",
            "jwks key at index 0 contains private key material; only public keys are used for verification",
        ),
    ];
    for (spec, expected) in cases {
        let found: Vec<String> = validate(&load(&ra("r", "shop", spec)))
            .into_iter()
            .map(|e| e.message)
            .collect();
        assert!(
            found.iter().any(|m| m == expected),
            "spec {spec:?}: expected {expected:?}, got {found:?}"
        );
    }
}

fn pa(name: &str, namespace: &str, spec: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n{spec}\n---\n"
    )
}

#[test]
fn validate_peer_ports() {
    let errors = validate(&load(&pa(
        "p",
        "shop",
        "  portLevelMtls:\n    \"8080\": {mode: STRICT}",
    )));
    assert_eq!(
        errors[0].message,
        "mesh/namespace peer authentication cannot have port level mTLS"
    );
    let errors = validate(&load(&pa(
        "p",
        "shop",
        "  selector: {matchLabels: {app: a}}\n  portLevelMtls:\n    \"0\": {mode: STRICT}",
    )));
    assert_eq!(errors[0].message, "port must be in range 1..65535");
}

// ---- scope ----

fn names(set: &PolicySet, w: &Workload) -> Vec<String> {
    policies_for(set, w, &MeshSettings::default())
        .authorization
        .iter()
        .map(|a| a.policy.metadata.name.clone())
        .collect()
}

#[test]
fn scope_selector_rules() {
    let text = [
        ap("mesh", "istio-system", "  rules: [{}]"),
        ap("mesh-sel", "istio-system", "  selector: {matchLabels: {app: orders}}\n  rules: [{}]"),
        ap("mesh-other", "istio-system", "  selector: {matchLabels: {app: cart}}\n  rules: [{}]"),
        ap("ns", "shop", "  rules: [{}]"),
        ap("sel", "shop", "  selector: {matchLabels: {app: orders}}\n  rules: [{}]"),
        ap("sel-miss", "shop", "  selector: {matchLabels: {app: orders, version: v2}}\n  rules: [{}]"),
        ap("empty-sel", "shop", "  selector: {matchLabels: {}}\n  rules: [{}]"),
        ap("elsewhere", "web", "  rules: [{}]"),
        ap("target", "shop", "  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: orders}]\n  rules: [{}]"),
    ]
    .concat();

    let set = load(&text);
    let sidecar = workload(
        "shop",
        &[("app", "orders"), ("version", "v1")],
        WorkloadKind::Sidecar,
    );
    assert_eq!(
        names(&set, &sidecar),
        ["mesh", "mesh-sel", "ns", "sel", "empty-sel"]
    );
    let applied = policies_for(&set, &sidecar, &MeshSettings::default());
    let why: Vec<Attachment> = applied
        .authorization
        .iter()
        .map(|a| a.attachment.clone())
        .collect();
    assert_eq!(why[0], Attachment::MeshWide);
    assert_eq!(why[1], Attachment::MeshSelector);
    assert_eq!(why[2], Attachment::NamespaceWide);
    assert_eq!(why[3], Attachment::Selector);
    assert!(
        applied
            .notices
            .iter()
            .any(|n| n.contains("shop/target has targetRefs")),
        "{:?}",
        applied.notices
    );
}

#[test]
fn scope_action_order() {
    let text = [
        ap("allow", "shop", "  rules: [{}]"),
        ap("deny", "shop", "  action: DENY\n  rules: [{}]"),
        ap("audit", "shop", "  action: AUDIT\n  rules: [{}]"),
        ap(
            "custom",
            "shop",
            "  action: CUSTOM\n  provider: {name: ext}\n  rules: [{}]",
        ),
        ap("root-allow", "istio-system", "  rules: [{}]"),
    ]
    .concat();
    let sidecar = workload("shop", &[], WorkloadKind::Sidecar);
    assert_eq!(
        names(&load(&text), &sidecar),
        ["custom", "audit", "deny", "root-allow", "allow"]
    );
}

#[test]
fn scope_gateway_api() {
    let text = [
        ap("by-ref", "shop", "  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: public}]\n  rules: [{}]"),
        ap("other-gw", "shop", "  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: private}]\n  rules: [{}]"),
        ap("by-sel", "shop", "  selector: {matchLabels: {app: gw}}\n  rules: [{}]"),
        ap("svc", "shop", "  targetRefs: [{kind: Service, group: \"\", name: orders}]\n  rules: [{}]"),
        ap("class", "istio-system", "  targetRefs: [{kind: GatewayClass, group: gateway.networking.k8s.io, name: istio-waypoint}]\n  rules: [{}]"),
    ]
    .concat();
    let set = load(&text);
    let labels = [
        ("app", "gw"),
        ("gateway.networking.k8s.io/gateway-name", "public"),
    ];
    let gateway = workload("shop", &labels, WorkloadKind::KubernetesGateway);
    assert_eq!(names(&set, &gateway), ["by-ref", "by-sel"]);

    let waypoint = workload("shop", &labels, WorkloadKind::Waypoint);
    let service = ServiceRef {
        namespace: "shop".into(),
        name: "orders".into(),
        service_entry: false,
    };
    let applied = policies_for_services(&set, &waypoint, &MeshSettings::default(), &[service]);
    let found: Vec<&str> = applied
        .authorization
        .iter()
        .map(|a| a.policy.metadata.name.as_str())
        .collect();
    assert_eq!(found, ["class", "by-ref", "svc"]);
}

#[test]
fn scope_root_namespace_setting() {
    let set = load(&ap("mesh", "mesh-root", "  rules: [{}]"));
    let sidecar = workload("shop", &[], WorkloadKind::Sidecar);
    assert!(names(&set, &sidecar).is_empty());
    let settings = MeshSettings {
        root_namespace: "mesh-root".into(),
        ..MeshSettings::default()
    };
    let applied = policies_for(&set, &sidecar, &settings);
    assert_eq!(applied.authorization[0].attachment, Attachment::MeshWide);
}

#[test]
fn scope_dry_run_values() {
    let cases = [
        ("true", true),
        ("1", true),
        ("T", true),
        ("False", false),
        ("yes", false),
    ];
    for (value, expected) in cases {
        let text = format!(
            "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n  name: p\n  namespace: shop\n  annotations: {{istio.io/dry-run: \"{value}\"}}\nspec:\n  rules: [{{}}]\n"
        );
        let applied = policies_for(
            &load(&text),
            &workload("shop", &[], WorkloadKind::Sidecar),
            &MeshSettings::default(),
        );
        assert_eq!(applied.authorization[0].dry_run, expected, "value {value}");
        let noticed = applied
            .notices
            .iter()
            .any(|n| n.contains("failed to parse"));
        assert_eq!(noticed, value == "yes", "notice for {value}");
    }
}

#[test]
fn scope_request_authentication() {
    let text = [
        ra("mesh", "istio-system", "  jwtRules: [{issuer: a}]"),
        ra(
            "sel",
            "shop",
            "  selector: {matchLabels: {app: orders}}\n  jwtRules: [{issuer: b}]",
        ),
        ra(
            "miss",
            "shop",
            "  selector: {matchLabels: {app: cart}}\n  jwtRules: [{issuer: c}]",
        ),
    ]
    .concat();
    let applied = policies_for(
        &load(&text),
        &workload("shop", &[("app", "orders")], WorkloadKind::Sidecar),
        &MeshSettings::default(),
    );
    let found: Vec<&str> = applied
        .request_authentication
        .iter()
        .map(|r| r.policy.metadata.name.as_str())
        .collect();
    assert_eq!(found, ["mesh", "sel"]);
}

#[test]
fn peer_precedence() {
    let w = workload("shop", &[("app", "orders")], WorkloadKind::Sidecar);
    let settings = MeshSettings::default();
    let mode = |docs: &[String], port: u16| {
        policies_for(&load(&docs.concat()), &w, &settings)
            .peer_authentication
            .mode_for_port(port)
    };
    let mesh_strict = pa("mesh", "istio-system", "  mtls: {mode: STRICT}");
    let ns_disable = pa("ns", "shop", "  mtls: {mode: DISABLE}");
    let ns_unset = pa("ns", "shop", "  mtls: {mode: UNSET}");
    let wl_permissive = pa(
        "wl",
        "shop",
        "  selector: {matchLabels: {app: orders}}\n  mtls: {mode: PERMISSIVE}",
    );
    let wl_ports = pa(
        "wl",
        "shop",
        "  selector: {matchLabels: {app: orders}}\n  portLevelMtls:\n    \"9000\": {mode: DISABLE}\n    \"9001\": {mode: UNSET}",
    );
    let root_selector = pa(
        "root-sel",
        "istio-system",
        "  selector: {matchLabels: {app: orders}}\n  mtls: {mode: DISABLE}",
    );
    let cases: Vec<(&str, Vec<String>, u16, MtlsMode)> = vec![
        ("none", vec![], 8080, MtlsMode::Permissive),
        ("mesh", vec![mesh_strict.clone()], 8080, MtlsMode::Strict),
        (
            "namespace over mesh",
            vec![mesh_strict.clone(), ns_disable],
            8080,
            MtlsMode::Disable,
        ),
        (
            "unset inherits",
            vec![mesh_strict.clone(), ns_unset],
            8080,
            MtlsMode::Strict,
        ),
        (
            "workload over namespace",
            vec![mesh_strict.clone(), wl_permissive],
            8080,
            MtlsMode::Permissive,
        ),
        (
            "port override",
            vec![mesh_strict.clone(), wl_ports.clone()],
            9000,
            MtlsMode::Disable,
        ),
        (
            "port unset inherits",
            vec![mesh_strict.clone(), wl_ports.clone()],
            9001,
            MtlsMode::Strict,
        ),
        (
            "other port",
            vec![mesh_strict.clone(), wl_ports],
            8080,
            MtlsMode::Strict,
        ),
        (
            "root selector ignored",
            vec![mesh_strict, root_selector],
            8080,
            MtlsMode::Strict,
        ),
    ];
    for (case, docs, port, expected) in cases {
        assert_eq!(mode(&docs, port), expected, "case {case}");
    }
}

// ---- warnings ----

fn warning_codes(text: &str, ports: &[PortProtocol]) -> Vec<WarningCode> {
    let w = workload("shop", &[("app", "orders")], WorkloadKind::Sidecar);
    let applied = policies_for(&load(text), &w, &MeshSettings::default());
    warnings(&applied, &w, ports, IstioVersion::DEFAULT)
        .into_iter()
        .map(|w| w.code)
        .collect()
}

const HTTP: [PortProtocol; 1] = [PortProtocol {
    port: 8080,
    protocol: Protocol::Http,
}];
const TCP: [PortProtocol; 1] = [PortProtocol {
    port: 5432,
    protocol: Protocol::Tcp,
}];

#[test]
fn warn_split_rule() {
    let split = ap(
        "p",
        "shop",
        "  rules:\n  - from:\n    - source: {namespaces: [ops]}\n  - to:\n    - operation: {paths: [/admin]}",
    );
    assert_eq!(warning_codes(&split, &HTTP), [WarningCode::SplitRule]);
    let joined = ap(
        "p",
        "shop",
        "  rules:\n  - from:\n    - source: {namespaces: [ops]}\n    to:\n    - operation: {paths: [/admin]}",
    );
    assert!(warning_codes(&joined, &HTTP).is_empty());
}

#[test]
fn warn_host_without_port() {
    // A suffix host matches "a.example.com" but never "a.example.com:443".
    let bare = ap(
        "p",
        "shop",
        "  rules:\n  - to:\n    - operation: {hosts: [\"*.example.com\"]}",
    );
    let exact = ap(
        "p",
        "shop",
        "  rules:\n  - to:\n    - operation: {hosts: [example.com]}",
    );
    let paired = ap(
        "p",
        "shop",
        "  rules:\n  - to:\n    - operation: {hosts: [example.com, \"example.com:*\"]}",
    );
    assert_eq!(warning_codes(&exact, &HTTP), [WarningCode::HostWithoutPort]);
    assert!(warning_codes(&paired, &HTTP).is_empty());
    assert_eq!(warning_codes(&bare, &HTTP), [WarningCode::HostWithoutPort]);
}

#[test]
fn warn_unknown_issuer() {
    let policy = ap(
        "p",
        "shop",
        "  rules:\n  - from:\n    - source: {requestPrincipals: [\"https://idp.example.com/*\"]}",
    );
    let good = ra(
        "r",
        "shop",
        "  jwtRules: [{issuer: \"https://idp.example.com\"}]",
    );
    let other = ra(
        "r",
        "shop",
        "  jwtRules: [{issuer: \"https://other.example.com\"}]",
    );
    assert!(warning_codes(&format!("{policy}{good}"), &HTTP).is_empty());
    assert_eq!(
        warning_codes(&format!("{policy}{other}"), &HTTP),
        [WarningCode::UnknownIssuer]
    );
    assert_eq!(warning_codes(&policy, &HTTP), [WarningCode::UnknownIssuer]);
}

#[test]
fn warn_dotted_claim() {
    let dotted = ap(
        "p",
        "shop",
        "  rules:\n  - when:\n    - {key: \"request.auth.claims[realm.roles]\", values: [admin]}",
    );
    let nested = ap(
        "p",
        "shop",
        "  rules:\n  - when:\n    - {key: \"request.auth.claims[realm][roles]\", values: [admin]}",
    );
    let url = ap(
        "p",
        "shop",
        "  rules:\n  - when:\n    - {key: \"request.auth.claims[https://x.io/roles]\", values: [admin]}",
    );
    assert_eq!(warning_codes(&dotted, &HTTP), [WarningCode::DottedClaim]);
    assert!(warning_codes(&nested, &HTTP).is_empty());
    assert!(warning_codes(&url, &HTTP).is_empty());
}

#[test]
fn warn_http_only_on_tcp() {
    let mixed = ap(
        "p",
        "shop",
        "  rules:\n  - from:\n    - source: {principals: [cluster.local/ns/shop/sa/client]}\n    to:\n    - operation: {ports: [\"5432\"]}\n    - operation: {paths: [\"/api/*\"], methods: [GET]}",
    );
    let tcp_only = ap(
        "p",
        "shop",
        "  rules:\n  - to:\n    - operation: {ports: [\"5432\"]}",
    );
    let deny = ap(
        "p",
        "shop",
        "  action: DENY\n  rules:\n  - to:\n    - operation: {methods: [GET]}",
    );
    assert_eq!(warning_codes(&mixed, &TCP), [WarningCode::HttpOnlyOnTcp]);
    assert!(warning_codes(&mixed, &HTTP).is_empty());
    assert!(warning_codes(&tcp_only, &TCP).is_empty());
    let w = workload("shop", &[("app", "orders")], WorkloadKind::Sidecar);
    let applied = policies_for(&load(&deny), &w, &MeshSettings::default());
    let found = warnings(&applied, &w, &TCP, IstioVersion::DEFAULT);
    assert!(
        found[0]
            .message
            .contains("will deny all traffic to TCP ports"),
        "{}",
        found[0].message
    );
}

#[test]
fn warn_token_not_forwarded() {
    let gateway_ra = |forward: bool| {
        ra(
            "gw-jwt",
            "istio-system",
            &format!(
                "  selector: {{matchLabels: {{istio: ingressgateway}}}}\n  jwtRules: [{{issuer: \"https://idp.example.com\", forwardOriginalToken: {forward}}}]"
            ),
        )
    };
    let backend = ap(
        "p",
        "shop",
        "  selector: {matchLabels: {app: orders}}\n  rules:\n  - from:\n    - source: {requestPrincipals: [\"https://idp.example.com/*\"]}",
    );
    let settings = MeshSettings::default();
    let gw = workload(
        "istio-system",
        &[("istio", "ingressgateway")],
        WorkloadKind::Gateway,
    );
    let app = workload("shop", &[("app", "orders")], WorkloadKind::Sidecar);
    for (forward, expected) in [(false, 1), (true, 0)] {
        let set = load(&format!("{}{backend}", gateway_ra(forward)));
        let found = forwarding_warnings(
            &policies_for(&set, &gw, &settings),
            &policies_for(&set, &app, &settings),
        );
        assert_eq!(found.len(), expected, "forwardOriginalToken {forward}");
    }
    let open_backend = load(&format!(
        "{}{}",
        gateway_ra(false),
        ap("p", "shop", "  rules: [{}]")
    ));
    let found = forwarding_warnings(
        &policies_for(&open_backend, &gw, &settings),
        &policies_for(&open_backend, &app, &settings),
    );
    assert!(found.is_empty());
}

#[test]
fn validate_trust_domain_wildcards() {
    let cases = [
        ("[cluster.local, \"*.local\", \"bad*\"]", 0),
        ("[\"a*b\"]", 1),
        ("[\"*a*\"]", 1),
    ];
    for (values, expected) in cases {
        let text = ap(
            "td",
            "foo",
            &format!("  rules:\n  - from:\n    - source:\n        trustDomains: {values}"),
        );
        let policies = load_policies(&text, "t.yaml", "default").expect("loads");
        let errors: Vec<_> = validate(&policies)
            .into_iter()
            .filter(|e| e.message.contains("wildcard"))
            .collect();
        assert_eq!(errors.len(), expected, "{values}: {errors:?}");
    }
}
