//! Lines on which the TEXT observation path (`observe_line`) and the entry path it replaced
//! (`parse_line` then `AccessLogEntry::observe`) disagree. `idflow replay` prints a different
//! identity for them, so each is a user-visible change.

use idflow::accesslog::{observe_line, parse_line};
use idflow::model::HopRole;

/// A demo line up to its `jwt_authn` metadata, with an `Authorization` column that logged nothing.
const DEMO_PREFIX: &str = r#"[2026-12-04T22:25:30.101Z] "GET /api/orders HTTP/1.1" 200 - via_upstream - "-" 0 328 1 0 "127.0.0.1,192.0.2.2" "ua" "d77482c6-8692-40bf-b041-fd7e3faa0ee8" "api.example.com" "127.0.0.1:45913" inbound|8080|| 127.0.0.1:54250 127.0.0.1:36007 192.0.2.2:0 - default "3e57c0a3" "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account" "-""#;

/// Asserts that both paths give the same observation for the demo line ending in `metadata`.
fn check(metadata: &str) {
    let line = format!("{DEMO_PREFIX} {metadata}");
    let expected = parse_line(&line).map(|entry| entry.observe("shop/orders", HopRole::Sidecar));
    let actual = observe_line(&line, "shop/orders", HopRole::Sidecar);
    assert_eq!(actual, expected, "metadata: {metadata}");
}

/// A repeated key keeps its last value in a parsed JSON object, so the entry path finds no claims
/// here. The streaming claims reader takes the second `{}` instead, with `"a"` as its issuer.
#[test]
fn key_repeated_with_a_plain_value_last() {
    check(r#"{"a":{},"a":{},"a":1}"#);
}

/// Three object values for one key: the entry path reads the third, the streaming reader the
/// second.
#[test]
fn key_repeated_with_three_objects() {
    check(r#"{"a":{"iss":"x"},"a":{"iss":"y"},"a":{"iss":"z"}}"#);
}

/// Two claims objects for one key, then a string: the streaming reader reports the request
/// principal `a/s2` where the entry path reports no token.
#[test]
fn key_repeated_with_claims_then_a_string() {
    check(r#"{"a":{"sub":"s1"},"a":{"sub":"s2"},"a":"x"}"#);
}
