//! idflow's mesh simulator against a real Envoy.
//!
//! `agreement` runs every request of the corpus (`tests/corpus/*.yaml`) through an Envoy loaded with
//! the filters `idflow envoy-config` generates and through `idflow check`, and fails with a report
//! unless both give the same status and response code details. `golden` proves the harness itself
//! by loading the RBAC filters istiod generates (Istio's golden files) straight into Envoy and
//! checking verdicts read by hand from the matching policies.

mod envoy_harness;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::Value;

use envoy_harness::agreement::{self, Outcome};
use envoy_harness::client::WireRequest;
use envoy_harness::envoy::{self, Layout};
use envoy_harness::{EnvoyResult, Probe, corpus};

/// Sets run at once; each is one Envoy plus one `idflow check` per request.
const PARALLEL_SETS: usize = 3;

const GOLDEN: &str = "../shared/data/istio-authz-golden";

/// One golden filter set and the verdicts Envoy must give with it.
struct Golden {
    files: &'static [&'static str],
    tcp: bool,
    /// (path, peer URI SAN, status, details)
    requests: &'static [(&'static str, Option<&'static str>, u16, &'static str)],
}

const GOLDEN_SETS: &[Golden] = &[
    Golden {
        files: &[
            "http/deny-and-allow-out1.yaml",
            "http/deny-and-allow-out2.yaml",
        ],
        tcp: false,
        requests: &[
            (
                "/",
                Some("spiffe://deny"),
                403,
                "rbac_access_denied_matched_policy[ns[foo]-policy[httpbin-deny]-rule[0]]",
            ),
            ("/", Some("spiffe://allow"), 200, "via_upstream"),
            ("/", None, 403, "rbac_access_denied_matched_policy[none]"),
        ],
    },
    Golden {
        files: &["http/allow-empty-rule-out.yaml"],
        tcp: false,
        requests: &[("/anything", None, 200, "via_upstream")],
    },
    Golden {
        files: &["http/allow-nil-rule-out.yaml"],
        tcp: false,
        requests: &[("/", None, 403, "rbac_access_denied_matched_policy[none]")],
    },
    Golden {
        files: &["http/deny-empty-rule-out.yaml"],
        tcp: false,
        requests: &[(
            "/",
            None,
            403,
            "rbac_access_denied_matched_policy[ns[foo]-policy[deny-all]-rule[0]]",
        )],
    },
    Golden {
        // `notPaths: ["*"]` is a negated presence match, so no path can satisfy the rule.
        files: &["http/allow-path-out.yaml"],
        tcp: false,
        requests: &[(
            "/exact",
            None,
            403,
            "rbac_access_denied_matched_policy[none]",
        )],
    },
    Golden {
        files: &["http/custom-bad-out.yaml"],
        tcp: false,
        requests: &[
            (
                "/httpbin1",
                None,
                403,
                "rbac_access_denied_matched_policy[istio-ext-authz-default-ns[foo]-policy[httpbin-1]-rule[0]-deny-due-to-bad-CUSTOM-action]",
            ),
            ("/other", None, 200, "via_upstream"),
        ],
    },
    Golden {
        // Rules 0, 1, 2 and 8 lose their HTTP-only matchers on TCP and match everything; Envoy
        // reports the first matching name in byte order.
        files: &["tcp/deny-both-http-tcp-out.yaml"],
        tcp: true,
        requests: &[(
            "",
            None,
            0,
            "rbac_access_denied_matched_policy[ns[foo]-policy[httpbin-deny]-rule[0]]",
        )],
    },
];

fn read_filter(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_saphyr::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not YAML: {error}", path.display()))
}

fn wire(path: &str, peer: Option<&str>) -> WireRequest {
    WireRequest {
        method: "GET".to_owned(),
        path: path.to_owned(),
        host: "httpbin.foo.svc.cluster.local".to_owned(),
        headers: Vec::new(),
        peer: peer.map(str::to_owned),
        source_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        sni: None,
    }
}

#[test]
fn golden_configs_in_envoy() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    if !root.is_dir() {
        println!(
            "skipped: {} is absent (it holds Istio's golden RBAC configs)",
            root.display()
        );
        return;
    }
    let binary = envoy::binary();
    for (n, set) in GOLDEN_SETS.iter().enumerate() {
        let filters: Vec<Value> = set
            .files
            .iter()
            .map(|file| read_filter(&root.join(file)))
            .collect();
        let layout = Layout {
            http_filters: if set.tcp { Vec::new() } else { filters.clone() },
            network_filters: if set.tcp { filters } else { Vec::new() },
            tcp: set.tcp,
            port: envoy::free_port(),
            upstream_port: envoy::free_port(),
            xff_trusted_hops: 0,
        };
        let probes: Vec<Probe> = set
            .requests
            .iter()
            .enumerate()
            .map(|(i, (path, peer, _, _))| Probe {
                id: format!("golden-{n}-{i}"),
                wire: wire(path, *peer),
            })
            .collect();
        let dir = envoy_harness::scratch_dir(&format!("golden-{n}"));
        let results = envoy_harness::run_in_envoy(
            &binary,
            &dir,
            &layout,
            &probes,
            "spiffe://cluster.local/ns/foo/sa/httpbin",
            &[],
        )
        .unwrap_or_else(|error| panic!("{:?}: {error}", set.files));
        for ((path, peer, status, details), result) in set.requests.iter().zip(results) {
            let expected = EnvoyResult {
                status: *status,
                details: (*details).to_owned(),
                allowed: *status == 200,
            };
            assert_eq!(
                result, expected,
                "{:?}: GET {path:?} peer {peer:?}",
                set.files
            );
        }
    }
}

#[test]
fn corpus_has_200_requests() {
    let total: usize = corpus::load()
        .iter()
        .map(|(_, case)| case.requests.len())
        .sum();
    assert!(
        total >= 200,
        "the corpus has {total} requests; it needs at least 200"
    );
}

/// Every Source, Operation and `when` field, each of which some corpus policy must use.
const FIELDS: &[&str] = &[
    "principals:",
    "notPrincipals:",
    "requestPrincipals:",
    "notRequestPrincipals:",
    "namespaces:",
    "notNamespaces:",
    "ipBlocks:",
    "notIpBlocks:",
    "remoteIpBlocks:",
    "notRemoteIpBlocks:",
    "serviceAccounts:",
    "notServiceAccounts:",
    "hosts:",
    "notHosts:",
    "ports:",
    "notPorts:",
    "methods:",
    "notMethods:",
    "paths:",
    "notPaths:",
    "request.headers[",
    "source.ip",
    "remote.ip",
    "source.namespace",
    "source.principal",
    "source.serviceAccount",
    "request.auth.principal",
    "request.auth.audiences",
    "request.auth.presenter",
    "request.auth.claims[",
    "destination.ip",
    "destination.port",
    "connection.sni",
    "experimental.envoy.filters.",
    "fromHeaders:",
    "fromParams:",
    "fromCookies:",
    "forwardOriginalToken:",
    "istio.io/dry-run",
    "action: AUDIT",
    "action: CUSTOM",
    "{*}",
    "{**}",
];

#[test]
fn corpus_covers_every_field() {
    let cases = corpus::load();
    let missing: Vec<&str> = FIELDS
        .iter()
        .copied()
        .filter(|field| !cases.iter().any(|(_, case)| case.policies.contains(field)))
        .collect();
    assert!(missing.is_empty(), "no corpus policy uses {missing:?}");
}

#[test]
fn envoy_agrees_with_idflow() {
    let binary = envoy::binary();
    let cases = corpus::load();
    let started = Instant::now();
    let next = Mutex::new(0usize);
    let outcomes: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL_SETS {
            scope.spawn(|| {
                loop {
                    let index = {
                        let mut next = next.lock().expect("index lock");
                        *next += 1;
                        *next - 1
                    };
                    let Some((file, case)) = cases.get(index) else {
                        break;
                    };
                    let results = agreement::run_case(&binary, file, case);
                    outcomes.lock().expect("outcome lock").extend(results);
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().expect("outcome lock");
    outcomes.sort_by(|a, b| (&a.file, &a.request).cmp(&(&b.file, &b.request)));
    let failed = outcomes.iter().filter(|o| o.problem.is_some()).count();
    let passed = outcomes.len() - failed;
    println!(
        "{passed} passed, {failed} failed ({} sets in {:.1} s)",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failed == 0,
        "{passed} passed, {failed} failed\n{}",
        agreement::report(&outcomes)
    );
}

/// jwt_authn as istiod builds it (one provider, token optional) before an ALLOW that needs a
/// subject, loaded with a key minted by the harness: proves the minted tokens, their times and
/// the key handling against Envoy without idflow.
#[test]
fn minted_tokens_in_envoy() {
    use envoy_harness::corpus::TokenSpec;
    use envoy_harness::tokens as minting;
    use serde_json::json;

    let (issuers, keys) = test_issuers();
    let key_of = |name: &str| {
        let set: Value = serde_json::from_str(&keys[name].jwks).expect("JWKS is JSON");
        set["keys"][0].clone()
    };
    let jwks = json!({"keys": [key_of("idp"), key_of("ec")]});
    let filters = jwt_filters(&jwks);
    let now = chrono::Utc::now().timestamp();
    let token = |issuer: &str, claims: Value, kid: Option<&str>, sign_with: Option<&str>| {
        let spec = TokenSpec {
            issuer: issuer.to_owned(),
            claims: serde_json::from_value(claims).expect("claims map"),
            kid: kid.map(str::to_owned),
            sign_with: sign_with.map(str::to_owned),
            raw: None,
            shape: None,
            location: envoy_harness::corpus::Location::default(),
        };
        Some(minting::mint(&spec, &issuers, &keys, now))
    };
    let cases = [
        (
            "valid",
            token("idp", json!({}), None, None),
            200,
            "via_upstream",
        ),
        (
            "valid-ec",
            token("ec", json!({}), None, None),
            200,
            "via_upstream",
        ),
        ("none", None, 403, "rbac_access_denied_matched_policy[none]"),
        (
            "expired",
            token("idp", json!({"exp": -3600}), None, None),
            401,
            "jwt_authn_access_denied{Jwt_is_expired}",
        ),
        (
            "early",
            token("idp", json!({"nbf": 3600}), None, None),
            401,
            "jwt_authn_access_denied{Jwt_not_yet_valid}",
        ),
        (
            "kid",
            token("idp", json!({}), Some("nope"), None),
            401,
            "jwt_authn_access_denied{Jwks_doesn't_have_key_to_match_kid_or_alg_from_Jwt}",
        ),
        (
            "key",
            token("idp", json!({}), None, Some("rogue")),
            401,
            "jwt_authn_access_denied{Jwt_verification_fails}",
        ),
    ];
    let probes: Vec<Probe> = cases
        .iter()
        .map(|(name, token, _, _)| {
            let mut request = wire("/", None);
            if let Some(token) = token {
                request
                    .headers
                    .push(("Authorization".to_owned(), format!("Bearer {token}")));
            }
            Probe {
                id: format!("tokens-{name}"),
                wire: request,
            }
        })
        .collect();
    let layout = Layout {
        http_filters: filters,
        network_filters: Vec::new(),
        tcp: false,
        port: envoy::free_port(),
        upstream_port: envoy::free_port(),
        xff_trusted_hops: 0,
    };
    let dir = envoy_harness::scratch_dir("tokens");
    let results =
        envoy_harness::run_in_envoy(&envoy::binary(), &dir, &layout, &probes, "spiffe://t", &[])
            .unwrap_or_else(|error| panic!("{error}"));
    for ((name, _, status, details), result) in cases.iter().zip(results) {
        assert_eq!(
            (result.status, result.details.as_str()),
            (*status, *details),
            "token {name}"
        );
    }
}

/// jwt_authn with one optional provider, then an ALLOW that needs a token subject.
fn jwt_filters(jwks: &Value) -> Vec<Value> {
    use serde_json::json;
    vec![
        json!({"name": "envoy.filters.http.jwt_authn", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"origins-0": {
                "issuer": "https://idp.example.test",
                "local_jwks": {"inline_string": jwks.to_string()},
                "payload_in_metadata": "payload"
            }},
            "rules": [{"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": [
                {"provider_name": "origins-0"}, {"allow_missing": {}}
            ]}}}],
            "bypass_cors_preflight": true
        }}),
        json!({"name": "envoy.filters.http.rbac", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
            "rules": {"policies": {"ns[t]-policy[jwt]-rule[0]": {
                "permissions": [{"any": true}],
                "principals": [{"metadata": {"filter": "envoy.filters.http.jwt_authn",
                    "path": [{"key": "payload"}, {"key": "sub"}],
                    "value": {"string_match": {"safe_regex": {"regex": ".+"}}}}}]
            }}}
        }}),
    ]
}

/// Two RS256 issuers with the same `iss` and `kid` (a key and an impostor) and one ES256 issuer.
fn test_issuers() -> (
    std::collections::BTreeMap<String, envoy_harness::corpus::IssuerSpec>,
    std::collections::BTreeMap<String, envoy_harness::tokens::SigningKey>,
) {
    use envoy_harness::corpus::IssuerSpec;
    let spec = |alg: &str, kid: &str| IssuerSpec {
        iss: "https://idp.example.test".to_owned(),
        alg: alg.to_owned(),
        kid: kid.to_owned(),
        jwks_file: true,
    };
    let issuers = std::collections::BTreeMap::from([
        ("idp".to_owned(), spec("RS256", "key-1")),
        ("rogue".to_owned(), spec("RS256", "key-1")),
        ("ec".to_owned(), spec("ES256", "ec-1")),
    ]);
    let keys: std::collections::BTreeMap<_, _> = issuers
        .iter()
        .map(|(name, s)| (name.clone(), envoy_harness::tokens::signing_key(s)))
        .collect();
    (issuers, keys)
}
