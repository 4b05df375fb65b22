//! Envoy RBAC engine over istiod's translation: table tests per field and the field-report cases.
// Case tables are long by nature, and `json!` values are handed over whole.
#![allow(clippy::too_many_lines, clippy::needless_pass_by_value)]

use idflow::mesh::crd::AuthorizationPolicy;
use idflow::mesh::rbac::{
    BuildSettings, Engine, RbacVerdict, ScopedPolicy, authorize, build, decide, normalize_path,
    parse_policy_id,
};
use idflow::mesh::{IstioVersion, MeshSettings, Protocol, Request};
use idflow::model::Decision;
use serde_json::{Value, json};

/// Policies from JSON objects (the CRD's wire form), namespace `foo` unless given.
fn policies(docs: &[Value]) -> Vec<AuthorizationPolicy> {
    docs.iter()
        .map(|d| {
            let mut p: AuthorizationPolicy = serde_json::from_value(d.clone()).expect("policy");
            if p.metadata.namespace.is_empty() {
                "foo".clone_into(&mut p.metadata.namespace);
            }
            p
        })
        .collect()
}

fn policy(name: &str, action: &str, rules: Value) -> Value {
    json!({"metadata": {"name": name}, "spec": {"action": action, "rules": rules}})
}

fn run_with(
    docs: &[Value],
    mesh: &MeshSettings,
    req: &Request,
    payload: Option<&Value>,
) -> RbacVerdict {
    let ps = policies(docs);
    let scoped: Vec<ScopedPolicy<'_>> = ps.iter().map(ScopedPolicy::new).collect();
    let verdict = authorize(&scoped, mesh, &[], req, payload).expect("engine");

    // Every table case also checks that the fast path without explanations decides the same.
    let settings = BuildSettings {
        mesh,
        protocol: req.protocol,
        providers: &[],
    };
    let engine = Engine::new(&build(&scoped, &settings).filters).expect("engine");
    let fast = decide(&engine, req, payload).map_or_else(
        || "via_upstream".to_owned(),
        |id| format!("rbac_access_denied_matched_policy[{id}]"),
    );
    assert_eq!(
        fast, verdict.response_code_details,
        "decide and evaluate disagree"
    );
    verdict
}

fn run(docs: &[Value], req: &Request, payload: Option<&Value>) -> RbacVerdict {
    run_with(docs, &MeshSettings::default(), req, payload)
}

fn get(path: &str) -> Request {
    Request {
        path: path.to_owned(),
        host: "orders.shop:8080".to_owned(),
        ..Request::default()
    }
}

fn with_peer(mut r: Request, p: &str) -> Request {
    r.source_principal = Some(p.to_owned());
    r
}

fn allowed(v: &RbacVerdict) -> bool {
    v.decision == Decision::Allow
}

/// One ALLOW rule with `to.operation` / `from.source` / `when`, checked against a request.
struct Case {
    name: &'static str,
    rule: Value,
    req: Request,
    payload: Option<Value>,
    allow: bool,
}

fn table(cases: Vec<Case>) {
    let mut wrong = Vec::new();
    for c in cases {
        let v = run(
            &[policy("p", "ALLOW", json!([c.rule]))],
            &c.req,
            c.payload.as_ref(),
        );
        if allowed(&v) != c.allow {
            wrong.push(format!(
                "{}: want allow={}, got {:?} {:?}",
                c.name, c.allow, v.decision, v.explanation
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn token() -> Value {
    json!({"iss": "https://idp.example.com/realms/shop", "sub": "u-17", "aud": ["orders-api", "account"],
           "azp": "web", "roles": ["ops", "viewer"], "scope": ["read", "write"], "nested": {"team": "a"}})
}

#[test]
fn operation_fields() {
    let mut post = get("/");
    post.method = "POST".to_owned();
    let mut tcp9090 = get("/");
    tcp9090.port = 9090;
    table(vec![
        Case {
            name: "methods match",
            rule: json!({"to": [{"operation": {"methods": ["GET"]}}]}),
            req: get("/"),
            payload: None,
            allow: true,
        },
        Case {
            name: "methods no match",
            rule: json!({"to": [{"operation": {"methods": ["GET"]}}]}),
            req: post.clone(),
            payload: None,
            allow: false,
        },
        Case {
            name: "notMethods",
            rule: json!({"to": [{"operation": {"notMethods": ["POST"]}}]}),
            req: post,
            payload: None,
            allow: false,
        },
        Case {
            name: "ports match",
            rule: json!({"to": [{"operation": {"ports": ["8080"]}}]}),
            req: get("/"),
            payload: None,
            allow: true,
        },
        Case {
            name: "notPorts",
            rule: json!({"to": [{"operation": {"notPorts": ["9090"]}}]}),
            req: tcp9090,
            payload: None,
            allow: false,
        },
        Case {
            name: "hosts case-insensitive with port",
            rule: json!({"to": [{"operation": {"hosts": ["ORDERS.shop:*"]}}]}),
            req: get("/"),
            payload: None,
            allow: true,
        },
        Case {
            name: "hosts without port",
            rule: json!({"to": [{"operation": {"hosts": ["orders.shop"]}}]}),
            req: get("/"),
            payload: None,
            allow: false,
        },
        Case {
            name: "notHosts suffix",
            rule: json!({"to": [{"operation": {"notHosts": ["*:8080"]}}]}),
            req: get("/"),
            payload: None,
            allow: false,
        },
        Case {
            name: "paths exact",
            rule: json!({"to": [{"operation": {"paths": ["/a"]}}]}),
            req: get("/a"),
            payload: None,
            allow: true,
        },
        Case {
            name: "paths prefix",
            rule: json!({"to": [{"operation": {"paths": ["/api/*"]}}]}),
            req: get("/api/x"),
            payload: None,
            allow: true,
        },
        Case {
            name: "paths suffix",
            rule: json!({"to": [{"operation": {"paths": ["*.json"]}}]}),
            req: get("/a/b.json"),
            payload: None,
            allow: true,
        },
        Case {
            name: "paths presence",
            rule: json!({"to": [{"operation": {"paths": ["*"]}}]}),
            req: get("/"),
            payload: None,
            allow: true,
        },
        Case {
            name: "notPaths",
            rule: json!({"to": [{"operation": {"notPaths": ["/admin*"]}}]}),
            req: get("/admin/x"),
            payload: None,
            allow: false,
        },
        Case {
            name: "path with query",
            rule: json!({"to": [{"operation": {"paths": ["/a"]}}]}),
            req: get("/a?x=1"),
            payload: None,
            allow: true,
        },
        Case {
            name: "trailing slash",
            rule: json!({"to": [{"operation": {"paths": ["/a"]}}]}),
            req: get("/a/"),
            payload: None,
            allow: false,
        },
        Case {
            name: "double slash kept",
            rule: json!({"to": [{"operation": {"paths": ["/a/b"]}}]}),
            req: get("//a/b"),
            payload: None,
            allow: false,
        },
        Case {
            name: "%2F not decoded",
            rule: json!({"to": [{"operation": {"paths": ["/a/b"]}}]}),
            req: get("/a%2Fb"),
            payload: None,
            allow: false,
        },
        Case {
            name: "template {*} one segment",
            rule: json!({"to": [{"operation": {"paths": ["/foo/{*}"]}}]}),
            req: get("/foo/bar"),
            payload: None,
            allow: true,
        },
        Case {
            name: "template {*} two segments",
            rule: json!({"to": [{"operation": {"paths": ["/foo/{*}"]}}]}),
            req: get("/foo/bar/baz"),
            payload: None,
            allow: false,
        },
        Case {
            name: "template {**}",
            rule: json!({"to": [{"operation": {"paths": ["/foo/{**}/"]}}]}),
            req: get("/foo/bar/baz/"),
            payload: None,
            allow: true,
        },
        Case {
            name: "template {**} no trailing slash",
            rule: json!({"to": [{"operation": {"paths": ["/foo/{**}/"]}}]}),
            req: get("/foo/bar"),
            payload: None,
            allow: false,
        },
    ]);
}

#[test]
fn source_fields() {
    let peer = |p: &str| with_peer(get("/"), p);
    let mut xff = get("/");
    xff.headers.push((
        "X-Forwarded-For".to_owned(),
        "203.0.113.10, 10.0.5.4".to_owned(),
    ));
    xff.xff_trusted_hops = 1;
    table(vec![
        Case {
            name: "principals exact",
            rule: json!({"from": [{"source": {"principals": ["cluster.local/ns/a/sa/b"]}}]}),
            req: peer("spiffe://cluster.local/ns/a/sa/b"),
            payload: None,
            allow: true,
        },
        Case {
            name: "principals plaintext",
            rule: json!({"from": [{"source": {"principals": ["*"]}}]}),
            req: get("/"),
            payload: None,
            allow: false,
        },
        Case {
            name: "notPrincipals",
            rule: json!({"from": [{"source": {"notPrincipals": ["*/ns/a/sa/b"]}}]}),
            req: peer("spiffe://cluster.local/ns/a/sa/b"),
            payload: None,
            allow: false,
        },
        Case {
            name: "namespaces",
            rule: json!({"from": [{"source": {"namespaces": ["a"]}}]}),
            req: peer("spiffe://cluster.local/ns/a/sa/b"),
            payload: None,
            allow: true,
        },
        Case {
            name: "namespaces other",
            rule: json!({"from": [{"source": {"namespaces": ["c"]}}]}),
            req: peer("spiffe://cluster.local/ns/a/sa/b"),
            payload: None,
            allow: false,
        },
        Case {
            name: "notNamespaces",
            rule: json!({"from": [{"source": {"notNamespaces": ["a"]}}]}),
            req: peer("spiffe://cluster.local/ns/a/sa/b"),
            payload: None,
            allow: false,
        },
        Case {
            name: "serviceAccounts",
            rule: json!({"from": [{"source": {"serviceAccounts": ["a/b"]}}]}),
            req: peer("spiffe://cluster.local/ns/a/sa/b"),
            payload: None,
            allow: true,
        },
        Case {
            name: "serviceAccounts no junk suffix",
            rule: json!({"from": [{"source": {"serviceAccounts": ["a/b"]}}]}),
            req: peer("spiffe://cluster.local/ns/a/sa/b-x"),
            payload: None,
            allow: false,
        },
        Case {
            name: "ipBlocks",
            rule: json!({"from": [{"source": {"ipBlocks": ["10.0.0.0/24"]}}]}),
            req: get("/"),
            payload: None,
            allow: true,
        },
        Case {
            name: "notIpBlocks",
            rule: json!({"from": [{"source": {"notIpBlocks": ["10.0.0.1"]}}]}),
            req: get("/"),
            payload: None,
            allow: false,
        },
        Case {
            name: "remoteIpBlocks from xff",
            rule: json!({"from": [{"source": {"remoteIpBlocks": ["203.0.113.10"]}}]}),
            req: xff.clone(),
            payload: None,
            allow: true,
        },
        Case {
            name: "notRemoteIpBlocks",
            rule: json!({"from": [{"source": {"notRemoteIpBlocks": ["203.0.113.0/24"]}}]}),
            req: xff,
            payload: None,
            allow: false,
        },
        Case {
            name: "requestPrincipals",
            rule: json!({"from": [{"source": {"requestPrincipals": ["https://idp.example.com/realms/shop/u-17"]}}]}),
            req: get("/"),
            payload: Some(token()),
            allow: true,
        },
        Case {
            name: "requestPrincipals no token",
            rule: json!({"from": [{"source": {"requestPrincipals": ["*"]}}]}),
            req: get("/"),
            payload: None,
            allow: false,
        },
        Case {
            name: "notRequestPrincipals no token",
            rule: json!({"from": [{"source": {"notRequestPrincipals": ["*"]}}]}),
            req: get("/"),
            payload: None,
            allow: true,
        },
    ]);
}

#[test]
fn when_conditions() {
    let mut hdr = get("/");
    hdr.headers.push(("X-Team".to_owned(), "blue".to_owned()));
    hdr.sni = Some("orders.example.com".to_owned());
    let when = |key: &str, values: &[&str], not: &[&str]| json!({"when": [{"key": key, "values": values, "notValues": not}]});
    table(vec![
        Case {
            name: "header",
            rule: when("request.headers[x-team]", &["blue"], &[]),
            req: hdr.clone(),
            payload: None,
            allow: true,
        },
        Case {
            name: "header notValues",
            rule: when("request.headers[x-team]", &[], &["bl*"]),
            req: hdr.clone(),
            payload: None,
            allow: false,
        },
        Case {
            name: "header absent",
            rule: when("request.headers[x-other]", &["*"], &[]),
            req: hdr.clone(),
            payload: None,
            allow: false,
        },
        Case {
            name: "sni",
            rule: when("connection.sni", &["*.example.com"], &[]),
            req: hdr.clone(),
            payload: None,
            allow: true,
        },
        Case {
            name: "destination.ip",
            rule: when("destination.ip", &["10.0.0.2"], &[]),
            req: get("/"),
            payload: None,
            allow: true,
        },
        Case {
            name: "destination.port",
            rule: when("destination.port", &["9999"], &[]),
            req: get("/"),
            payload: None,
            allow: false,
        },
        Case {
            name: "source.ip",
            rule: when("source.ip", &["10.0.0.1"], &[]),
            req: get("/"),
            payload: None,
            allow: true,
        },
        Case {
            name: "audiences list",
            rule: when("request.auth.audiences", &["orders-api"], &[]),
            req: get("/"),
            payload: Some(token()),
            allow: true,
        },
        Case {
            name: "presenter",
            rule: when("request.auth.presenter", &["web"], &[]),
            req: get("/"),
            payload: Some(token()),
            allow: true,
        },
        Case {
            name: "claims list",
            rule: when("request.auth.claims[roles]", &["admin", "ops"], &[]),
            req: get("/"),
            payload: Some(token()),
            allow: true,
        },
        Case {
            name: "claims nested",
            rule: when("request.auth.claims[nested][team]", &["a"], &[]),
            req: get("/"),
            payload: Some(token()),
            allow: true,
        },
        Case {
            name: "scope split",
            rule: when("request.auth.claims[scope]", &["write"], &[]),
            req: get("/"),
            payload: Some(token()),
            allow: true,
        },
        Case {
            name: "claims notValues",
            rule: when("request.auth.claims[roles]", &[], &["viewer"]),
            req: get("/"),
            payload: Some(token()),
            allow: false,
        },
        Case {
            name: "request.auth.principal",
            rule: when(
                "request.auth.principal",
                &["https://idp.example.com/realms/shop/*"],
                &[],
            ),
            req: get("/"),
            payload: Some(token()),
            allow: true,
        },
    ]);
}

#[test]
fn request_principal_version() {
    // `iss/sub` with a `/` in the issuer: 1.21+ splits at the last `/`; 1.20 matched the whole string.
    let doc = policy(
        "p",
        "ALLOW",
        json!([{"from": [{"source": {"requestPrincipals": ["https://idp.example.com/realms/shop/u-*"]}}]}]),
    );
    let old = MeshSettings {
        istio_version: IstioVersion {
            major: 1,
            minor: 20,
        },
        ..MeshSettings::default()
    };
    assert!(allowed(&run(
        std::slice::from_ref(&doc),
        &get("/"),
        Some(&token())
    )));
    assert!(allowed(&run_with(&[doc], &old, &get("/"), Some(&token()))));
    let glob = policy(
        "p",
        "ALLOW",
        json!([{"from": [{"source": {"requestPrincipals": ["https://idp.example.com*"]}}]}]),
    );
    assert!(
        !allowed(&run(std::slice::from_ref(&glob), &get("/"), Some(&token()))),
        "1.21+: split at last /"
    );
    assert!(
        allowed(&run_with(&[glob], &old, &get("/"), Some(&token()))),
        "1.20: whole string prefix"
    );
}

#[test]
fn deny_first_in_byte_order() {
    let rules: Vec<Value> = (0..11).map(|_| json!({})).collect();
    let v = run(&[policy("d", "DENY", json!(rules))], &get("/"), None);
    assert_eq!(
        v.response_code_details,
        "rbac_access_denied_matched_policy[ns[foo]-policy[d]-rule[0]]"
    );
    let v = run(
        &[policy(
            "d",
            "DENY",
            json!([{"to": [{"operation": {"paths": ["/x"]}}]}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}]),
        )],
        &get("/"),
        None,
    );
    assert_eq!(v.rule, Some(10), "rule[10] sorts before rule[2]");
}

#[test]
fn deny_before_allow() {
    let docs = [
        policy("a", "ALLOW", json!([{}])),
        policy("d", "DENY", json!([{}])),
    ];
    let v = run(&docs, &get("/"), None);
    assert_eq!(v.policy.as_deref(), Some("foo/d"));
}

#[test]
fn allow_none_details() {
    let v = run(
        &[policy(
            "a",
            "ALLOW",
            json!([{"to": [{"operation": {"methods": ["POST"]}}]}]),
        )],
        &get("/api/orders/1"),
        None,
    );
    assert_eq!(
        v.response_code_details,
        "rbac_access_denied_matched_policy[none]"
    );
    assert_eq!(v.status, 403);
    assert_eq!(
        v.explanation[0].message,
        "ALLOW policy ns[foo]-policy[a]-rule[0]: method GET is not one of [POST]"
    );
}

#[test]
fn explanation_messages() {
    let v = run(
        &[policy(
            "a",
            "ALLOW",
            json!([{"to": [{"operation": {"paths": ["/admin/*"]}}]}]),
        )],
        &get("/api/orders/1"),
        None,
    );
    assert!(
        v.explanation[0]
            .message
            .ends_with("path /api/orders/1 does not match prefix /admin/"),
        "{}",
        v.explanation[0].message
    );
    let v = run(
        &[policy(
            "a",
            "ALLOW",
            json!([{"from": [{"source": {"requestPrincipals": ["*"]}}]}]),
        )],
        &get("/"),
        None,
    );
    assert!(
        v.explanation[0]
            .message
            .ends_with("no request principal: the request carried no valid JWT"),
        "{}",
        v.explanation[0].message
    );
}

#[test]
fn empty_and_nil_rules() {
    let nil = json!({"metadata": {"name": "n"}, "spec": {}});
    assert!(
        !allowed(&run(&[nil], &get("/"), None)),
        "ALLOW without rules allows nothing"
    );
    assert!(
        allowed(&run(&[policy("a", "ALLOW", json!([{}]))], &get("/"), None)),
        "ALLOW with an empty rule allows all"
    );
    assert!(
        !allowed(&run(&[policy("d", "DENY", json!([{}]))], &get("/"), None)),
        "DENY with an empty rule denies all"
    );
    assert!(allowed(&run(&[], &get("/"), None)), "no policy allows");
}

#[test]
fn dry_run_and_audit_never_decide() {
    let mut dry = policy("d", "DENY", json!([{}]));
    dry["metadata"]["annotations"] = json!({"istio.io/dry-run": "true"});
    let v = run(&[dry], &get("/"), None);
    assert!(allowed(&v));
    assert_eq!(v.explanation.len(), 1);
    let mut dry_allow = policy(
        "a",
        "ALLOW",
        json!([{"to": [{"operation": {"paths": ["/x"]}}]}]),
    );
    dry_allow["metadata"]["annotations"] = json!({"istio.io/dry-run": "true"});
    assert!(
        allowed(&run(&[dry_allow], &get("/"), None)),
        "dry-run ALLOW does not default-deny"
    );
    assert!(allowed(&run(
        &[policy("au", "AUDIT", json!([{}]))],
        &get("/"),
        None
    )));
}

#[test]
fn trust_domain_aliases() {
    let mesh = MeshSettings {
        trust_domain: "td1".to_owned(),
        trust_domain_aliases: vec!["cluster.local".to_owned()],
        ..MeshSettings::default()
    };
    let doc = policy(
        "p",
        "ALLOW",
        json!([{"from": [{"source": {"principals": ["cluster.local/ns/a/sa/b"]}}]}]),
    );
    assert!(allowed(&run_with(
        std::slice::from_ref(&doc),
        &mesh,
        &with_peer(get("/"), "spiffe://td1/ns/a/sa/b"),
        None
    )));
    assert!(!allowed(&run(
        &[doc],
        &with_peer(get("/"), "spiffe://td1/ns/a/sa/b"),
        None
    )));
}

#[test]
fn path_normalization() {
    let cases = [
        ("/%61dmin", "/admin"),
        ("/public/../admin", "/admin"),
        ("/a%2fb", "/a%2Fb"),
        ("//a", "//a"),
        ("/a\\b", "/a/b"),
        ("/a/./b", "/a/b"),
    ];
    for (raw, want) in cases {
        assert_eq!(normalize_path(raw), want, "{raw}");
    }
}

#[test]
fn policy_id_parsing() {
    assert_eq!(
        parse_policy_id("ns[foo]-policy[p]-rule[3]"),
        Some(("foo", "p", 3))
    );
    assert_eq!(
        parse_policy_id(
            "istio-ext-authz-default-ns[foo]-policy[p]-rule[0]-deny-due-to-bad-CUSTOM-action"
        ),
        Some(("foo", "p", 0))
    );
    assert_eq!(parse_policy_id("none"), None);
}

/// B01: an extra `-` makes two OR-ed rules; both requests are allowed.
#[test]
fn b01_extra_dash() {
    let doc = policy(
        "admin-only",
        "ALLOW",
        json!([{"from": [{"source": {"namespaces": ["ops"]}}]}, {"to": [{"operation": {"paths": ["/admin"]}}]}]),
    );
    assert!(allowed(&run(
        std::slice::from_ref(&doc),
        &with_peer(get("/public"), "spiffe://cluster.local/ns/ops/sa/tool"),
        None
    )));
    assert!(allowed(&run(
        &[doc],
        &with_peer(get("/admin"), "spiffe://cluster.local/ns/web/sa/frontend"),
        None
    )));
}

/// B02: HTTP-only fields on TCP drop an ALLOW rule but widen a DENY rule.
#[test]
fn b02_http_fields_on_tcp() {
    let mut tcp = with_peer(get("/"), "spiffe://cluster.local/ns/shop/sa/client");
    tcp.protocol = Protocol::Tcp;
    tcp.port = 5432;
    let allow = policy(
        "p",
        "ALLOW",
        json!([{"from": [{"source": {"principals": ["cluster.local/ns/shop/sa/client"]}}],
        "to": [{"operation": {"ports": ["5432"]}}, {"operation": {"paths": ["/api/*"], "methods": ["GET"]}}]}]),
    );
    let v = run(&[allow], &tcp, None);
    assert_eq!(v.status, 0);
    assert_eq!(
        v.response_code_details,
        "rbac_access_denied_matched_policy[none]"
    );
    let deny = policy(
        "d",
        "DENY",
        json!([{"to": [{"operation": {"methods": ["GET"]}}]}]),
    );
    assert_eq!(run(&[deny], &tcp, None).rule, Some(0));
}

/// B03: `hosts` compares the whole authority, port included.
#[test]
fn b03_host_with_port() {
    let doc = policy(
        "p",
        "ALLOW",
        json!([{"to": [{"operation": {"hosts": ["*.example.com"]}}]}]),
    );
    let mut a = get("/");
    a.host = "shop.example.com".to_owned();
    let mut b = a.clone();
    b.host = "shop.example.com:443".to_owned();
    assert!(allowed(&run(std::slice::from_ref(&doc), &a, None)));
    assert!(!allowed(&run(&[doc], &b, None)));
}

/// B04: `requestPrincipals: ["*"]` needs a non-empty `sub`.
#[test]
fn b04_empty_sub() {
    let doc = policy(
        "p",
        "ALLOW",
        json!([{"from": [{"source": {"requestPrincipals": ["*"]}}]}]),
    );
    let claims = json!({"iss": "https://access.example.com", "aud": "a1b2c3", "sub": ""});
    let v = run(&[doc], &get("/api/orders"), Some(&claims));
    assert_eq!(
        v.response_code_details,
        "rbac_access_denied_matched_policy[none]"
    );
    assert!(
        v.explanation[0].message.contains("empty or absent sub"),
        "{}",
        v.explanation[0].message
    );
}

/// B06: list claims with several values and notValues.
#[test]
fn b06_list_claims() {
    let docs = [
        policy(
            "d",
            "DENY",
            json!([{"when": [{"key": "request.auth.audiences", "notValues": ["orders-api", "billing-api"]}]}]),
        ),
        policy(
            "a",
            "ALLOW",
            json!([{"when": [{"key": "request.auth.claims[roles]", "values": ["admin", "ops"]}]}]),
        ),
    ];
    assert!(allowed(&run(&docs, &get("/api/orders"), Some(&token()))));
}

/// B08: the DENY on `/admin` and `/admin/*` against path variants.
#[test]
fn b08_path_variants() {
    let doc = policy(
        "d",
        "DENY",
        json!([{"to": [{"operation": {"paths": ["/admin", "/admin/*"]}}]}]),
    );
    let cases = [
        ("/admin?x=1", true),
        ("/admin/", true),
        ("/Admin", false),
        ("//admin", false),
        ("/%61dmin", true),
        ("/admin%2Fusers", false),
        ("/public/../admin", true),
        ("/admin;v=1", false),
    ];
    for (path, denied) in cases {
        assert_eq!(
            !allowed(&run(std::slice::from_ref(&doc), &get(path), None)),
            denied,
            "{path}"
        );
    }
}

/// B10: two CUSTOM providers on one workload: the CUSTOM rules deny without calling ext_authz.
#[test]
fn b10_custom_multiple_providers() {
    let custom = |name: &str, provider: &str, host: &str| {
        json!({"metadata": {"name": name, "namespace": "istio-ingress"},
        "spec": {"action": "CUSTOM", "provider": {"name": provider}, "rules": [{"to": [{"operation": {"hosts": [host]}}]}]}})
    };
    let docs = [
        custom("dev-custom", "authz-dev", "dev.example.com"),
        custom("prod-custom", "authz-prod", "prod.example.com"),
    ];
    let mut req = get("/");
    req.host = "dev.example.com".to_owned();
    let new = MeshSettings {
        istio_version: IstioVersion {
            major: 1,
            minor: 30,
        },
        ..MeshSettings::default()
    };
    let v = run_with(&docs, &new, &req, None);
    assert_eq!(
        v.response_code_details,
        "rbac_access_denied_matched_policy[istio-ext-authz-authz-dev-ns[istio-ingress]-policy[dev-custom]-rule[0]-deny-due-to-bad-CUSTOM-action]"
    );
    let old = MeshSettings {
        istio_version: IstioVersion {
            major: 1,
            minor: 29,
        },
        ..MeshSettings::default()
    };
    let v = run_with(&docs, &old, &req, None);
    assert_eq!(
        v.response_code_details,
        "rbac_access_denied_matched_policy[istio-ext-authz-ns[istio-ingress]-policy[dev-custom]-rule[0]-deny-due-to-bad-CUSTOM-action]"
    );
}

/// Policies that mix rules the peer index can skip (exact `principals`, `namespaces` without `*`,
/// both in one source or in several `from` entries) with rules it must always evaluate (globs,
/// `notPrincipals`, `notNamespaces`, namespace wildcards, no source, request principals), with
/// names chosen so that indexed and unindexed policies interleave in sort order.
fn mixed_index_policies() -> Vec<Value> {
    let peer = |p: &str| format!("cluster.local/ns/{p}");
    vec![
        policy(
            "d-a",
            "DENY",
            json!([
                {"from": [{"source": {"principals": [peer("a/sa/x")]}}], "to": [{"operation": {"paths": ["/admin*"]}}]},
                {"from": [{"source": {"principals": [peer("b/sa/y")]}}], "to": [{"operation": {"methods": ["DELETE"]}}]},
            ]),
        ),
        policy(
            "d-b",
            "DENY",
            json!([{"from": [{"source": {"namespaces": ["a"]}}], "to": [{"operation": {"paths": ["/admin/secret"]}}]}]),
        ),
        policy(
            "d-c",
            "DENY",
            json!([{"from": [{"source": {"principals": [peer("a/sa/x"), peer("c/sa/z")]}}],
                    "when": [{"key": "request.headers[x-block]", "values": ["yes"]}]}]),
        ),
        policy(
            "d-d",
            "DENY",
            json!([{"from": [{"source": {"notPrincipals": [peer("a/sa/x")]}}], "to": [{"operation": {"methods": ["DELETE"]}}]}]),
        ),
        policy(
            "d-e",
            "DENY",
            json!([{"to": [{"operation": {"paths": ["/deny-all"]}}]}]),
        ),
        // Two namespace groups, with the group of `c` first in sort order.
        policy(
            "d-f",
            "DENY",
            json!([{"from": [{"source": {"namespaces": ["c"]}}], "to": [{"operation": {"paths": ["/ns-deny"]}}]}]),
        ),
        policy(
            "d-g",
            "DENY",
            json!([{"from": [{"source": {"namespaces": ["a"]}}], "to": [{"operation": {"paths": ["/ns-deny"]}}]}]),
        ),
        // Principals and namespaces in one source: both must match.
        policy(
            "d-h",
            "DENY",
            json!([{"from": [{"source": {"principals": [peer("a/sa/x"), peer("c/sa/z")], "namespaces": ["a"]}}],
                    "to": [{"operation": {"methods": ["DELETE"]}}]}]),
        ),
        // Principals or namespaces, in two `from` entries.
        policy(
            "d-i",
            "DENY",
            json!([{"from": [{"source": {"principals": [peer("b/sa/y")]}}, {"source": {"namespaces": ["c"]}}],
                    "to": [{"operation": {"paths": ["/ns-allow-any"]}}]}]),
        ),
        policy(
            "d-j",
            "DENY",
            json!([{"from": [{"source": {"notNamespaces": ["a"]}}], "to": [{"operation": {"paths": ["/ns-deny"]}}]}]),
        ),
        policy(
            "d-k",
            "DENY",
            json!([{"from": [{"source": {"namespaces": ["b*"]}}], "to": [{"operation": {"methods": ["DELETE"], "paths": ["/ns-allow"]}}]}]),
        ),
        policy(
            "a-a",
            "ALLOW",
            json!([
                {"from": [{"source": {"principals": [peer("a/sa/x")]}}], "to": [{"operation": {"methods": ["GET"]}}]},
                {"from": [{"source": {"principals": [peer("b/sa/y")]}}], "to": [{"operation": {"paths": ["/api/*"]}}]},
            ]),
        ),
        policy(
            "a-b",
            "ALLOW",
            json!([{"from": [{"source": {"namespaces": ["c"]}}], "to": [{"operation": {"paths": ["/api/{*}"]}}]}]),
        ),
        policy(
            "a-c",
            "ALLOW",
            json!([{"from": [{"source": {"principals": ["*/sa/y"]}}], "to": [{"operation": {"paths": ["/public"]}}]}]),
        ),
        policy(
            "a-d",
            "ALLOW",
            json!([{"from": [{"source": {"requestPrincipals": ["*"]}}], "to": [{"operation": {"paths": ["/api/v1"]}}]}]),
        ),
        policy(
            "a-e",
            "ALLOW",
            json!([{"from": [{"source": {"principals": [peer("d/sa/w")]}}], "to": [{"operation": {"paths": ["/public"]}}]}]),
        ),
        policy(
            "a-f",
            "ALLOW",
            json!([{"from": [{"source": {"namespaces": ["a", "b"]}}], "to": [{"operation": {"paths": ["/ns-allow"]}}]}]),
        ),
        // A namespace with a `notPrincipals` exception: indexed by the namespace.
        policy(
            "a-g",
            "ALLOW",
            json!([{"from": [{"source": {"namespaces": ["c"], "notPrincipals": [peer("c/sa/z")]}}],
                    "to": [{"operation": {"paths": ["/ns-allow"]}}]}]),
        ),
        // An empty `from` and a source without fields match every peer.
        policy(
            "a-h",
            "ALLOW",
            json!([
                {"from": [], "to": [{"operation": {"paths": ["/ns-allow-any"]}}]},
                {"from": [{"source": {}}], "to": [{"operation": {"paths": ["/ns-allow-any"]}}]},
            ]),
        ),
    ]
}

/// Returns the ids of the policies the explanation reports as matched under `label`.
fn matched_ids(v: &RbacVerdict, label: &str) -> Vec<String> {
    let prefix = format!("{label} policy ");
    v.explanation
        .iter()
        .filter(|step| step.outcome == "matched")
        .filter_map(|step| step.message.strip_prefix(&prefix))
        .map(|rest| rest.trim_end_matches(" matched").to_owned())
        .collect()
}

#[test]
fn index_agrees_with_full_evaluation() {
    let docs = mixed_index_policies();
    let mut requests = 0;
    let mut several_denies = 0;
    let mut allowed_count = 0;
    let peers = [
        None,
        Some("a/sa/x"),
        Some("b/sa/y"),
        Some("c/sa/z"),
        Some("c/sa/q"),
        Some("d/sa/w"),
        Some("e/sa/v"),
        Some("b2/sa/u"),
        // In namespaces `a` and `c` for istiod's regex.
        Some("a/sa/x/ns/c/y"),
        // `/ns/ns/c/` holds the namespaces `ns` and `c`.
        Some("ns/c/sa/q"),
        // `.` does not match `\n`, so no namespace regex matches.
        Some("a/sa/x\n"),
        Some("a"),
    ];
    let paths = [
        "/",
        "/admin",
        "/admin/secret",
        "/api/v1",
        "/api/v1/x",
        "/deny-all",
        "/public",
        "/ns-deny",
        "/ns-allow",
        "/ns-allow-any",
    ];
    for peer in peers {
        for path in paths {
            for method in ["GET", "DELETE"] {
                for block in [false, true] {
                    for payload in [None, Some(token())] {
                        let mut req = get(path);
                        req.method = method.to_owned();
                        req.source_principal =
                            peer.map(|p| format!("spiffe://cluster.local/ns/{p}"));
                        if block {
                            req.headers.push(("x-block".to_owned(), "yes".to_owned()));
                        }
                        let case = format!(
                            "{peer:?} {method} {path} block={block} jwt={}",
                            payload.is_some()
                        );

                        // `run` asserts that the indexed `decide` gives the same details.
                        let v = run(&docs, &req, payload.as_ref());
                        requests += 1;

                        // DENY: the reported policy is the first matching id in byte order.
                        let mut denies = matched_ids(&v, "DENY");
                        denies.sort();
                        if denies.len() > 1 {
                            several_denies += 1;
                        }
                        let allows = matched_ids(&v, "ALLOW");
                        let want = match (denies.first(), allows.is_empty()) {
                            (Some(id), _) => format!("rbac_access_denied_matched_policy[{id}]"),
                            (None, true) => "rbac_access_denied_matched_policy[none]".to_owned(),
                            (None, false) => "via_upstream".to_owned(),
                        };
                        assert_eq!(v.response_code_details, want, "{case}");
                        if allowed(&v) {
                            allowed_count += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(requests, 960);
    assert!(
        several_denies >= 10,
        "only {several_denies} requests matched two DENY policies"
    );
    assert!(
        allowed_count >= 10,
        "only {allowed_count} requests were allowed"
    );
}

#[test]
fn deny_order_with_index() {
    // Eleven indexed rules of one DENY policy. The request matches rule 2 and rule 10, and
    // `rule[10]` sorts first.
    let rules: Vec<Value> = (0..11)
        .map(|i| {
            let path = if i == 2 || i == 10 { "/x" } else { "/other" };
            json!({"from": [{"source": {"principals": ["cluster.local/ns/a/sa/x"]}}],
                   "to": [{"operation": {"paths": [path]}}]})
        })
        .collect();
    let docs = [policy("d", "DENY", json!(rules))];
    let req = with_peer(get("/x"), "spiffe://cluster.local/ns/a/sa/x");
    let v = run(&docs, &req, None);
    assert_eq!(v.rule, Some(10));

    let other = with_peer(get("/x"), "spiffe://cluster.local/ns/b/sa/x");
    assert!(
        allowed(&run(&docs, &other, None)),
        "another peer skips every rule"
    );
}

#[test]
fn deny_order_across_namespace_groups() {
    let deny = |name: &str, source: Value| {
        policy(
            name,
            "DENY",
            json!([{"from": [{"source": source}], "to": [{"operation": {"paths": ["/x"]}}]}]),
        )
    };
    let docs = [
        deny("d-1", json!({"namespaces": ["c"]})),
        deny("d-2", json!({"namespaces": ["a"]})),
        deny("d-3", json!({"notNamespaces": ["z"]})),
        policy(
            "allow",
            "ALLOW",
            json!([{"from": [{"source": {"namespaces": ["a"]}}]}]),
        ),
    ];
    let denied_by = |peer: Option<&str>| {
        let mut req = get("/x");
        req.source_principal = peer.map(str::to_owned);
        run(&docs, &req, None).response_code_details
    };
    let details =
        |name: &str| format!("rbac_access_denied_matched_policy[ns[foo]-policy[{name}]-rule[0]]");

    // The peer is in `a` and then `c`, and the policy of `c` sorts first.
    assert_eq!(
        denied_by(Some("spiffe://td/ns/a/sa/x/ns/c/y")),
        details("d-1")
    );
    assert_eq!(denied_by(Some("spiffe://td/ns/a/sa/x")), details("d-2"));
    assert_eq!(denied_by(Some("spiffe://td/ns/e/sa/x")), details("d-3"));
    assert_eq!(
        denied_by(Some("spiffe://td/ns/z/sa/x")),
        "rbac_access_denied_matched_policy[none]"
    );
    // `notNamespaces` matches a plaintext peer, `namespaces` never does.
    assert_eq!(denied_by(None), details("d-3"));

    let mut other_path = get("/y");
    assert_eq!(
        run(&docs, &other_path, None).response_code_details,
        "rbac_access_denied_matched_policy[none]",
        "a plaintext peer is in no namespace"
    );
    other_path.source_principal = Some("spiffe://td/ns/a/sa/x".to_owned());
    assert!(
        allowed(&run(&docs, &other_path, None)),
        "a peer of `a` is allowed"
    );
}
