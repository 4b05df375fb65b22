//! Correlation of edge and mesh records into flows, and the findings about each flow.

use chrono::{DateTime, Duration};
use idflow::flow::{Correlator, HEURISTIC_WINDOW_MS, MAX_HOPS_PER_FLOW, Observation, correlate};
use idflow::model::{
    CorrelationKey, DecidedBy, Decision, Finding, FindingKind, Flow, Hop, HopKind, HopRole,
};

const ISSUER: &str = "https://idp.example.com/realms/shop";
const EDGE: &str = "edge/ew 4242 jwt-check";
const GATEWAY: &str = "istio-system/istio-ingressgateway";
const ORDERS: &str = "shop/orders";
const CLIENT: &str = "203.0.113.10";

/// Returns the RFC 3339 time `offset_ms` after the base time of these tests.
fn at(offset_ms: i64) -> String {
    let base = DateTime::parse_from_rfc3339("2025-03-04T10:15:02.118Z").expect("base time parses");
    (base + Duration::milliseconds(offset_ms))
        .to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Builds one observation step by step.
#[derive(Clone)]
struct Record(Observation);

impl Record {
    fn new(kind: HopKind, location: &str, role: Option<HopRole>, offset_ms: i64) -> Self {
        let mut hop = Hop::new(kind, location);
        hop.role = role;
        hop.time = Some(at(offset_ms));
        Self(Observation {
            hop,
            edge_request_id: None,
            request_id: None,
            method: Some("GET".to_owned()),
            path: Some("/api/orders".to_owned()),
            authority: Some("api.example.com".to_owned()),
            client_ip: Some(CLIENT.to_owned()),
        })
    }

    /// Creates the edge record of request `edge_id`, allowed by the EdgeWorker with a valid token.
    fn edge(edge_id: &str, offset_ms: i64) -> Self {
        let mut record = Self::new(HopKind::Edge, EDGE, None, offset_ms)
            .ids(Some(edge_id), None)
            .decided(200, Decision::Allow, DecidedBy::Edgeworker)
            .claims("u-1")
            .location("authorization:Bearer");
        record.0.hop.reason = Some("token valid".to_owned());
        record
    }

    /// Creates the gateway record of request `edge_id`, forwarded with the token kept (forwardOriginalToken).
    fn gateway(edge_id: &str, offset_ms: i64) -> Self {
        Self::new(HopKind::Mesh, GATEWAY, Some(HopRole::Gateway), offset_ms)
            .ids(Some(edge_id), Some(&format!("rid-{edge_id}")))
            .via_upstream(200)
            .claims("u-1")
            .location("authorization: Bearer")
    }

    /// Creates the `shop/orders` sidecar record of request `edge_id`, allowed.
    fn orders(edge_id: &str, offset_ms: i64) -> Self {
        Self::new(HopKind::Mesh, ORDERS, Some(HopRole::Sidecar), offset_ms)
            .ids(Some(edge_id), Some(&format!("rid-{edge_id}")))
            .via_upstream(200)
            .claims("u-1")
            .location("authorization: Bearer")
    }

    fn ids(mut self, edge_id: Option<&str>, request_id: Option<&str>) -> Self {
        self.0.edge_request_id = edge_id.map(str::to_owned);
        self.0.request_id = request_id.map(str::to_owned);
        self
    }

    fn decided(mut self, status: u16, decision: Decision, decided_by: DecidedBy) -> Self {
        self.0.hop.status = status;
        self.0.hop.decision = decision;
        self.0.hop.decided_by = decided_by;
        self
    }

    fn via_upstream(mut self, status: u16) -> Self {
        self = self.decided(status, Decision::Allow, DecidedBy::Upstream);
        self.0.hop.details = Some("via_upstream".to_owned());
        self
    }

    fn jwt_denied(mut self, status: u16, reason: &str) -> Self {
        self = self.decided(status, Decision::Deny, DecidedBy::JwtAuthn);
        self.0.hop.reason = Some(reason.to_owned());
        self.0.hop.details = Some(format!(
            "jwt_authn_access_denied{{{}}}",
            reason.replace(' ', "_")
        ));
        self
    }

    /// Sets an RBAC denial: `policy` as `NAMESPACE/NAME` with its rule, or `None` for `[none]`.
    fn rbac_denied(mut self, policy: Option<(&str, u32)>) -> Self {
        self = self.decided(403, Decision::Deny, DecidedBy::Rbac);
        let matched = match policy {
            Some((name, rule)) => {
                let (namespace, policy_name) = name.split_once('/').expect("policy is NS/NAME");
                self.0.hop.policy = Some(name.to_owned());
                self.0.hop.rule = Some(rule);
                format!("ns[{namespace}]-policy[{policy_name}]-rule[{rule}]")
            }
            None => "none".to_owned(),
        };
        self.0.hop.details = Some(format!("rbac_access_denied_matched_policy[{matched}]"));
        self.0.hop.reason = Some(matched);
        self
    }

    /// Sets a token from the shop issuer with subject `subject`, as jwt_authn or the EdgeWorker read it.
    fn claims(mut self, subject: &str) -> Self {
        let identity = &mut self.0.hop.identity;
        identity.token_present = Some(true);
        identity.issuer = Some(ISSUER.to_owned());
        identity.subject = Some(subject.to_owned());
        identity.audiences = vec!["orders-api".to_owned()];
        if self.0.hop.kind == HopKind::Mesh {
            identity.request_principal = Some(format!("{ISSUER}/{subject}"));
        }
        self
    }

    fn location(mut self, location: &str) -> Self {
        self.0.hop.identity.token_location = Some(location.to_owned());
        self
    }

    /// Sets a token in the header that jwt_authn did not accept, so no claims.
    fn unread_token(mut self, location: &str) -> Self {
        self.0.hop.identity = idflow::model::Identity {
            token_present: Some(true),
            token_location: Some(location.to_owned()),
            ..Default::default()
        };
        self
    }

    /// Sets no `Authorization` header logged and no claims.
    fn no_token(mut self) -> Self {
        self.0.hop.identity = idflow::model::Identity {
            token_present: Some(false),
            ..Default::default()
        };
        self
    }

    fn build(self) -> Observation {
        self.0
    }
}

/// Correlates records that must form exactly one flow, and returns it.
fn one_flow(records: Vec<Record>) -> Flow {
    let mut flows = correlate(records.into_iter().map(Record::build).collect());
    assert_eq!(flows.len(), 1, "expected one flow, got {flows:#?}");
    flows.remove(0)
}

/// Asserts that a finding message contains `text`, showing the message when it does not.
fn assert_mentions(message: &str, text: &str) {
    assert!(message.contains(text), "expected {text:?} in: {message}");
}

fn kinds(flow: &Flow) -> Vec<FindingKind> {
    flow.findings.iter().map(|finding| finding.kind).collect()
}

fn locations(flow: &Flow) -> Vec<&str> {
    flow.hops.iter().map(|hop| hop.location.as_str()).collect()
}

fn first_of(flow: &Flow, kind: FindingKind) -> &Finding {
    flow.findings
        .iter()
        .find(|finding| finding.kind == kind)
        .unwrap_or_else(|| panic!("no {} finding in {:#?}", kind.as_str(), flow.findings))
}

#[test]
fn allowed_flow_has_no_findings() {
    let flow = one_flow(vec![
        Record::orders("e1", 40),
        Record::edge("e1", 0),
        Record::gateway("e1", 20),
    ]);

    assert_eq!(locations(&flow), [EDGE, GATEWAY, ORDERS]);
    assert_eq!(flow.correlated_by, CorrelationKey::EdgeRequestId);
    assert_eq!(flow.id, "e1");
    assert_eq!(flow.time.as_deref(), Some(at(0).as_str()));
    assert_eq!(flow.method.as_deref(), Some("GET"));
    assert_eq!(flow.path.as_deref(), Some("/api/orders"));
    assert!(flow.findings.is_empty(), "{:#?}", flow.findings);
}

#[test]
fn dropped_token_names_forward_original_token() {
    let flow = one_flow(vec![
        Record::edge("e2", 0),
        Record::gateway("e2", 20).via_upstream(403),
        Record::orders("e2", 40).rbac_denied(None).no_token(),
    ]);

    assert_eq!(
        kinds(&flow),
        [
            FindingKind::IdentityDropped,
            FindingKind::VerdictDisagreement
        ]
    );
    let dropped = first_of(&flow, FindingKind::IdentityDropped);
    assert_eq!(dropped.hops, [1, 2]);
    assert_mentions(&dropped.message, GATEWAY);
    assert_mentions(&dropped.message, ORDERS);
    assert_mentions(&dropped.message, "forwardOriginalToken");
    let disagreement = first_of(&flow, FindingKind::VerdictDisagreement);
    assert_eq!(
        disagreement.hops,
        [0, 2],
        "the gateway's 403 via_upstream is not the denial"
    );
    assert_mentions(&disagreement.message, "no request principal");
}

#[test]
fn dropped_after_edge_points_at_forwarding() {
    let flow = one_flow(vec![
        Record::edge("e3", 0),
        Record::gateway("e3", 20).via_upstream(200).no_token(),
    ]);

    let dropped = first_of(&flow, FindingKind::IdentityDropped);
    assert_eq!(dropped.hops, [0, 1]);
    assert_mentions(&dropped.message, "forwards the Authorization header");
}

#[test]
fn drop_reported_once_for_later_hops() {
    let flow = one_flow(vec![
        Record::edge("e30", 0),
        Record::gateway("e30", 20).via_upstream(403).no_token(),
        Record::orders("e30", 40).rbac_denied(None).no_token(),
    ]);

    let dropped: Vec<&Finding> = flow
        .findings
        .iter()
        .filter(|finding| finding.kind == FindingKind::IdentityDropped)
        .collect();
    assert_eq!(dropped.len(), 1, "{dropped:#?}");
    assert_eq!(dropped[0].hops, [0, 1]);
}

#[test]
fn unlogged_header_after_lower_case_edge() {
    let mut gateway = Record::gateway("e31", 20).via_upstream(403);
    gateway.0.hop.identity = idflow::model::Identity::default();
    let flow = one_flow(vec![
        Record::edge("e31", 0).location("authorization:bearer"),
        gateway,
    ]);

    let dropped = first_of(&flow, FindingKind::IdentityDropped);
    assert_eq!(dropped.hops, [0, 1]);
    assert_mentions(&dropped.message, "case-sensitive `Bearer ` prefix");
}

#[test]
fn expired_token_at_gateway() {
    let flow = one_flow(vec![
        Record::edge("e4", 0),
        Record::gateway("e4", 20)
            .jwt_denied(401, "Jwt is expired")
            .unread_token("authorization: Bearer"),
    ]);

    assert_eq!(
        kinds(&flow),
        [FindingKind::TokenRejected, FindingKind::VerdictDisagreement]
    );
    let rejected = first_of(&flow, FindingKind::TokenRejected);
    assert_eq!(rejected.hops, [1]);
    assert_mentions(&rejected.message, "Jwt is expired");
    assert_mentions(&rejected.message, "401");
    let disagreement = first_of(&flow, FindingKind::VerdictDisagreement);
    assert_mentions(&disagreement.message, GATEWAY);
}

#[test]
fn wrong_audience_is_jwt_authn_403() {
    let flow = one_flow(vec![
        Record::edge("e5", 0),
        Record::gateway("e5", 20)
            .jwt_denied(403, "Audiences in Jwt are not allowed")
            .unread_token("authorization: Bearer"),
    ]);

    let rejected = first_of(&flow, FindingKind::TokenRejected);
    assert_mentions(&rejected.message, "403");
    assert_mentions(&rejected.message, "no AuthorizationPolicy was evaluated");
    assert!(!kinds(&flow).contains(&FindingKind::UnattributedDeny));
}

#[test]
fn deny_policy_names_rule() {
    let flow = one_flow(vec![
        Record::edge("e6", 0),
        Record::gateway("e6", 20).via_upstream(403),
        Record::orders("e6", 40).rbac_denied(Some(("shop/deny-delete", 0))),
    ]);

    assert_eq!(kinds(&flow), [FindingKind::VerdictDisagreement]);
    let disagreement = first_of(&flow, FindingKind::VerdictDisagreement);
    assert_mentions(&disagreement.message, "shop/deny-delete rule 0");
    assert_mentions(&disagreement.message, ORDERS);
}

#[test]
fn allow_none_matched() {
    let flow = one_flow(vec![
        Record::edge("e7", 0),
        Record::gateway("e7", 20).via_upstream(403),
        Record::orders("e7", 40).rbac_denied(None),
    ]);

    assert_eq!(kinds(&flow), [FindingKind::VerdictDisagreement]);
    let message = &first_of(&flow, FindingKind::VerdictDisagreement).message;
    assert_mentions(message, "no ALLOW policy matched");
    assert!(
        !message.contains("no request principal"),
        "orders saw a principal: {message}"
    );
}

#[test]
fn lower_case_bearer_is_missing() {
    let flow = one_flow(vec![
        Record::edge("e8", 0).location("authorization:bearer"),
        Record::gateway("e8", 20)
            .via_upstream(403)
            .unread_token("authorization: bearer"),
        Record::orders("e8", 40)
            .rbac_denied(None)
            .unread_token("authorization: bearer"),
    ]);

    assert_eq!(
        kinds(&flow),
        [
            FindingKind::IdentityDropped,
            FindingKind::VerdictDisagreement
        ]
    );
    let dropped = first_of(&flow, FindingKind::IdentityDropped);
    assert_eq!(dropped.hops, [0, 1, 2], "one finding for both mesh hops");
    assert_mentions(&dropped.message, "case-sensitive `Bearer ` prefix");
    assert_mentions(&dropped.message, "`bearer`");
}

#[test]
fn bare_token_is_missing() {
    let flow = one_flow(vec![
        Record::edge("e9", 0).location("authorization"),
        Record::gateway("e9", 20)
            .via_upstream(403)
            .unread_token("authorization: eyJhbGc"),
        Record::orders("e9", 40)
            .rbac_denied(None)
            .unread_token("authorization: eyJhbGc"),
    ]);

    let dropped = first_of(&flow, FindingKind::IdentityDropped);
    assert_mentions(&dropped.message, "without a scheme");
}

#[test]
fn edge_deny_only() {
    let mut edge = Record::edge("e10", 0).decided(401, Decision::Deny, DecidedBy::Edgeworker);
    edge.0.hop.reason = Some("issuer not accepted".to_owned());
    let flow = one_flow(vec![edge]);

    assert_eq!(flow.hops.len(), 1);
    assert_eq!(flow.correlated_by, CorrelationKey::None);
    assert_eq!(kinds(&flow), [FindingKind::TokenRejected]);
    let message = &first_of(&flow, FindingKind::TokenRejected).message;
    assert_mentions(message, "issuer not accepted");
}

#[test]
fn edge_fail_open() {
    let mut edge = Record::edge("e11", 0).decided(200, Decision::Error, DecidedBy::Edgeworker);
    edge.0.hop.reason = Some("EdgeWorker execution error".to_owned());
    let flow = one_flow(vec![
        edge,
        Record::gateway("e11", 20),
        Record::orders("e11", 40),
    ]);

    assert_eq!(kinds(&flow), [FindingKind::EdgeFailOpen]);
    let fail_open = first_of(&flow, FindingKind::EdgeFailOpen);
    assert_eq!(fail_open.hops, [0, 1]);
    assert_mentions(&fail_open.message, "EdgeWorker execution error");
}

#[test]
fn edge_error_without_mesh_is_not_fail_open() {
    let edge = Record::edge("e12", 0).decided(500, Decision::Error, DecidedBy::Edgeworker);
    let flow = one_flow(vec![edge]);

    assert!(!kinds(&flow).contains(&FindingKind::EdgeFailOpen));
}

#[test]
fn edge_deny_with_mesh_allow_disagrees() {
    let mut edge = Record::edge("e32", 0).decided(401, Decision::Deny, DecidedBy::Edgeworker);
    edge.0.hop.reason = Some("issuer not accepted".to_owned());
    let flow = one_flow(vec![edge, Record::gateway("e32", 20)]);

    assert_eq!(
        kinds(&flow),
        [FindingKind::TokenRejected, FindingKind::VerdictDisagreement]
    );
    assert_eq!(
        first_of(&flow, FindingKind::VerdictDisagreement).hops,
        [0, 1]
    );
}

#[test]
fn mismatched_subjects_reported_once() {
    let flow = one_flow(vec![
        Record::edge("e13", 0),
        Record::gateway("e13", 20).claims("u-2"),
        Record::orders("e13", 40).claims("u-2"),
    ]);

    assert_eq!(kinds(&flow), [FindingKind::IdentityMismatch]);
    let mismatch = first_of(&flow, FindingKind::IdentityMismatch);
    assert_eq!(mismatch.hops, [0, 1]);
    assert_mentions(&mismatch.message, "subject `u-1`");
    assert_mentions(&mismatch.message, "`u-2`");
}

#[test]
fn audiences_compare_as_sets() {
    let mut edge = Record::edge("e14", 0);
    edge.0.hop.identity.audiences = vec!["b".to_owned(), "a".to_owned()];
    let mut gateway = Record::gateway("e14", 20);
    gateway.0.hop.identity.audiences = vec!["a".to_owned(), "b".to_owned()];
    let flow = one_flow(vec![edge, gateway]);

    assert!(flow.findings.is_empty(), "{:#?}", flow.findings);
}

#[test]
fn bare_rbac_deny_is_unattributed() {
    let mut orders = Record::orders("e15", 40).decided(403, Decision::Deny, DecidedBy::Rbac);
    orders.0.hop.details = Some("rbac_access_denied".to_owned());
    let flow = one_flow(vec![
        Record::edge("e15", 0),
        Record::gateway("e15", 20).via_upstream(403),
        orders,
    ]);

    assert_eq!(
        kinds(&flow),
        [
            FindingKind::VerdictDisagreement,
            FindingKind::UnattributedDeny
        ]
    );
    let unattributed = first_of(&flow, FindingKind::UnattributedDeny);
    assert_eq!(unattributed.hops, [2]);
    assert_mentions(&unattributed.message, "a DENY policy");
}

#[test]
fn mesh_401_without_details_is_unattributed() {
    let mut gateway = Record::gateway("e33", 20).decided(401, Decision::Unknown, DecidedBy::Other);
    gateway.0.hop.details = None;
    let flow = one_flow(vec![Record::edge("e33", 0), gateway]);

    assert_eq!(
        kinds(&flow),
        [
            FindingKind::VerdictDisagreement,
            FindingKind::UnattributedDeny
        ]
    );
    let message = &first_of(&flow, FindingKind::UnattributedDeny).message;
    assert_mentions(message, "no response code details");
}

#[test]
fn gateway_403_without_next_hop_is_unattributed() {
    let flow = one_flow(vec![
        Record::edge("e16", 0),
        Record::gateway("e16", 20).via_upstream(403),
    ]);

    assert_eq!(kinds(&flow), [FindingKind::UnattributedDeny]);
    assert_eq!(first_of(&flow, FindingKind::UnattributedDeny).hops, [1]);
}

#[test]
fn edge_403_unknown_is_unattributed() {
    let edge = Record::edge("e17", 0).decided(403, Decision::Unknown, DecidedBy::Edgeworker);
    let flow = one_flow(vec![edge]);

    assert_eq!(kinds(&flow), [FindingKind::UnattributedDeny]);
    let message = &first_of(&flow, FindingKind::UnattributedDeny).message;
    assert_mentions(message, "the EdgeWorker, or");
}

/// Records of several requests, including ones joined by `x-request-id` and by the heuristic.
fn mixed_records() -> Vec<Observation> {
    let mut records = vec![
        Record::edge("a", 0),
        Record::gateway("a", 20).via_upstream(403),
        Record::orders("a", 40).rbac_denied(None).no_token(),
        Record::edge("b", 1_000),
        Record::gateway("b", 1_020),
        Record::orders("b", 1_040).ids(None, Some("rid-b")),
        Record::edge("c", 9_000),
        Record::gateway("c", 9_030).ids(None, Some("rid-c")),
        Record::orders("c", 9_050).ids(None, Some("rid-c")),
        Record::gateway("d", 20_000).ids(None, Some("rid-d")),
        Record::orders("d", 20_010).ids(None, Some("rid-d")),
    ];
    let mut lone = Record::orders("e", 30_000).ids(None, None);
    lone.0.path = Some("/healthz".to_owned());
    records.push(lone);
    records.into_iter().map(Record::build).collect()
}

#[test]
fn shuffled_input_gives_same_flows() {
    let records = mixed_records();
    let expected = correlate(records.clone());

    let mut reversed = records.clone();
    reversed.reverse();
    let mut rotated = records.clone();
    rotated.rotate_left(5);
    let mut interleaved: Vec<Observation> = records.iter().step_by(2).cloned().collect();
    interleaved.extend(records.iter().skip(1).step_by(2).cloned());

    for (name, order) in [
        ("reversed", reversed),
        ("rotated", rotated),
        ("interleaved", interleaved),
    ] {
        assert_eq!(correlate(order), expected, "{name} order");
    }
}

#[test]
fn mixed_records_join_by_their_keys() {
    let flows = correlate(mixed_records());
    let summary: Vec<(&str, CorrelationKey, usize)> = flows
        .iter()
        .map(|flow| (flow.id.as_str(), flow.correlated_by, flow.hops.len()))
        .collect();

    assert_eq!(
        summary,
        [
            ("a", CorrelationKey::EdgeRequestId, 3),
            ("b", CorrelationKey::EdgeRequestId, 3),
            ("c", CorrelationKey::Heuristic, 3),
            ("rid-d", CorrelationKey::XRequestId, 2),
            (
                "shop/orders@2025-03-04T10:15:32.118Z",
                CorrelationKey::None,
                1
            ),
        ]
    );
}

#[test]
fn request_id_only_join() {
    let flow = one_flow(vec![
        Record::gateway("x", 0).ids(None, Some("rid-1")),
        Record::orders("x", 10).ids(None, Some("rid-1")),
    ]);

    assert_eq!(flow.correlated_by, CorrelationKey::XRequestId);
    assert_eq!(flow.id, "rid-1");
    assert_eq!(locations(&flow), [GATEWAY, ORDERS]);
}

#[test]
fn request_id_extends_edge_join() {
    let flow = one_flow(vec![
        Record::orders("e20", 40).ids(None, Some("rid-e20")),
        Record::edge("e20", 0),
        Record::gateway("e20", 20),
    ]);

    assert_eq!(flow.correlated_by, CorrelationKey::EdgeRequestId);
    assert_eq!(flow.id, "e20");
    assert_eq!(locations(&flow), [EDGE, GATEWAY, ORDERS]);
}

#[test]
fn heuristic_join() {
    let flow = one_flow(vec![
        Record::edge("e21", 0),
        Record::gateway("e21", 300).ids(None, Some("rid-1")),
    ]);

    assert_eq!(flow.correlated_by, CorrelationKey::Heuristic);
    assert_eq!(flow.id, "e21");
}

#[test]
fn heuristic_ignores_query_string() {
    let mut edge = Record::edge("e22", 0);
    edge.0.path = Some("/api/orders?page=2".to_owned());
    let mut gateway = Record::gateway("e22", 300).ids(None, Some("rid-1"));
    gateway.0.path = Some("/api/orders?page=%32".to_owned());
    let flow = one_flow(vec![edge, gateway]);

    assert_eq!(flow.correlated_by, CorrelationKey::Heuristic);
}

#[test]
fn heuristic_rejects_outside_window() {
    let flows = correlate(vec![
        Record::edge("e23", 0).build(),
        Record::gateway("e23", HEURISTIC_WINDOW_MS + 1)
            .ids(None, Some("rid-1"))
            .build(),
    ]);

    assert_eq!(flows.len(), 2);
}

#[test]
fn heuristic_rejects_other_client() {
    let mut gateway = Record::gateway("e24", 300).ids(None, Some("rid-1"));
    gateway.0.client_ip = Some("198.51.100.7".to_owned());
    let flows = correlate(vec![Record::edge("e24", 0).build(), gateway.build()]);

    assert_eq!(flows.len(), 2);
}

#[test]
fn heuristic_rejects_conflicting_ids() {
    let flows = correlate(vec![
        Record::gateway("x", 0).ids(None, Some("rid-1")).build(),
        Record::orders("x", 10).ids(None, Some("rid-2")).build(),
    ]);

    assert_eq!(flows.len(), 2);
}

#[test]
fn unjoined_record_is_own_flow() {
    let flows = correlate(vec![
        Record::edge("e25", 0).build(),
        Record::orders("other", 60_000).build(),
    ]);

    assert_eq!(flows.len(), 2);
    for flow in &flows {
        assert_eq!(flow.correlated_by, CorrelationKey::None, "flow {}", flow.id);
    }
}

#[test]
fn late_edge_record_joins_flow() {
    let mut correlator = Correlator::new(100);
    correlator.push(Record::gateway("e26", 20).via_upstream(403).build());
    correlator.push(Record::orders("e26", 40).rbac_denied(None).build());
    let before = correlator.flows();
    assert_eq!(before.len(), 1);
    assert!(
        !kinds(&before[0]).contains(&FindingKind::VerdictDisagreement),
        "no edge verdict yet"
    );

    correlator.push(Record::edge("e26", 0).build());
    let after = correlator.flows();

    assert_eq!(after.len(), 1);
    assert_eq!(locations(&after[0]), [EDGE, GATEWAY, ORDERS]);
    assert_eq!(after[0].time.as_deref(), Some(at(0).as_str()));
    assert!(kinds(&after[0]).contains(&FindingKind::VerdictDisagreement));
}

#[test]
fn record_merges_two_flows() {
    let mut correlator = Correlator::new(100);
    correlator.push(Record::edge("e27", 0).build());
    correlator.push(Record::orders("e27", 40).ids(None, Some("rid-e27")).build());
    correlator.push(Record::gateway("e27", 20).build());

    let flows = correlator.flows();
    assert_eq!(flows.len(), 1);
    assert_eq!(locations(&flows[0]), [EDGE, GATEWAY, ORDERS]);
}

#[test]
fn bound_evicts_oldest() {
    let mut correlator = Correlator::new(2);
    for (index, id) in ["old", "mid", "new"].into_iter().enumerate() {
        let offset = i64::try_from(index).expect("small index") * 60_000;
        correlator.push(Record::edge(id, offset).build());
    }

    let ids: Vec<String> = correlator.flows().into_iter().map(|flow| flow.id).collect();
    assert_eq!(ids, ["mid", "new"]);
    assert_eq!(correlator.len(), 2);
    assert_eq!(correlator.evicted(), 1);
}

#[test]
fn flows_in_time_order() {
    let mut correlator = Correlator::new(10);
    correlator.push(Record::edge("later", 5_000).build());
    correlator.push(Record::edge("earlier", 0).build());

    let ids: Vec<String> = correlator.flows().into_iter().map(|flow| flow.id).collect();
    assert_eq!(ids, ["earlier", "later"]);
}

#[test]
fn push_returns_changed_flow() {
    let mut correlator = Correlator::new(10);
    correlator.push(Record::edge("e40", 0).build());
    let changed = correlator
        .push(Record::gateway("e40", 20).build())
        .expect("flow is kept");

    assert_eq!(changed.id, "e40");
    assert_eq!(locations(changed), [EDGE, GATEWAY]);
}

#[test]
fn push_of_evicted_flow_returns_none() {
    let mut correlator = Correlator::new(1);
    correlator.push(Record::edge("new", 60_000).build());

    assert!(correlator.push(Record::edge("old", 0).build()).is_none());
    assert_eq!(correlator.evicted(), 1);
}

/// Number of records in each burst test: enough that comparing every record with every earlier one
/// would count millions of comparisons.
const BURST: usize = 5_000;

fn burst_offset(index: usize) -> i64 {
    i64::try_from(index).expect("small index")
}

#[test]
fn burst_with_own_edge_ids_stays_apart() {
    let mut correlator = Correlator::new(usize::MAX);
    for index in 0..BURST {
        // Every record starts within the same 3 ms, so each is in the window of all the others.
        let sidecar = Record::orders(&format!("e-{index}"), burst_offset(index % 3));
        correlator.push(sidecar.ids(Some(&format!("e-{index}")), None).build());
    }

    assert_eq!(correlator.len(), BURST);
    assert_eq!(correlator.heuristic_comparisons(), 0);
}

#[test]
fn burst_without_ids_at_one_place_stays_apart() {
    let mut correlator = Correlator::new(usize::MAX);
    for index in 0..BURST {
        correlator.push(
            Record::orders("-", burst_offset(index % 3))
                .ids(None, None)
                .build(),
        );
    }

    assert_eq!(correlator.len(), BURST);
    assert_eq!(correlator.heuristic_comparisons(), 0);
}

/// Pushes `BURST` requests, edge records with only the edge request id and gateway records with only
/// `x-request-id`, request `i` at `10 * i` ms at the edge and 3 ms later at the gateway. Returns the
/// correlator.
fn edge_and_gateway_burst(edge_records_late: bool) -> Correlator {
    let edges =
        (0..BURST).map(|index| Record::edge(&format!("e-{index}"), burst_offset(index) * 10));
    let gateways = (0..BURST).map(|index| {
        Record::gateway("-", burst_offset(index) * 10 + 3).ids(None, Some(&format!("rid-{index}")))
    });
    let records: Vec<Record> = if edge_records_late {
        gateways.chain(edges).collect()
    } else {
        edges
            .zip(gateways)
            .flat_map(|(edge, gateway)| [edge, gateway])
            .collect()
    };

    let mut correlator = Correlator::new(usize::MAX);
    for record in records {
        correlator.push(record.build());
    }
    correlator
}

#[test]
fn burst_joins_nearest_request() {
    for edge_records_late in [false, true] {
        let correlator = edge_and_gateway_burst(edge_records_late);
        let flows = correlator.flows();
        let case = if edge_records_late {
            "late edge"
        } else {
            "in order"
        };

        assert_eq!(flows.len(), BURST, "{case}");
        for (index, flow) in flows.iter().enumerate() {
            assert_eq!(flow.id, format!("e-{index}"), "{case}");
            assert_eq!(flow.correlated_by, CorrelationKey::Heuristic, "{case}");
            let gateway_time = flow.hops.get(1).and_then(|hop| hop.time.clone());
            assert_eq!(
                gateway_time,
                Some(at(burst_offset(index) * 10 + 3)),
                "{case}"
            );
        }
        let comparisons = correlator.heuristic_comparisons();
        assert!(
            comparisons <= 2 * 2 * BURST as u64,
            "{case}: {comparisons} comparisons"
        );
    }
}

#[test]
fn heuristic_tie_goes_to_older_flow() {
    // (edge offsets in push order, gateway offset): both edge records are 10 ms from the gateway, or
    // both at the same time.
    for (edges, gateway) in [([0, 20], 10), ([20, 0], 10), ([0, 0], 5)] {
        let mut correlator = Correlator::new(10);
        correlator.push(Record::edge("first", edges[0]).build());
        correlator.push(Record::edge("second", edges[1]).build());
        let joined = correlator
            .push(
                Record::gateway("-", gateway)
                    .ids(None, Some("rid-1"))
                    .build(),
            )
            .expect("flow is kept");

        assert_eq!(
            joined.id, "first",
            "edges at {edges:?}, gateway at {gateway}"
        );
    }
}

#[test]
fn identical_record_is_merged_and_counted() {
    let mut correlator = Correlator::new(100);
    correlator.push(Record::gateway("e50", 20).build());
    correlator.push(Record::orders("e50", 40).build());
    correlator.push(Record::orders("e50", 40).build());

    let flows = correlator.flows();
    assert_eq!(flows.len(), 1);
    assert_eq!(locations(&flows[0]), [GATEWAY, ORDERS]);
    assert_eq!(correlator.duplicates(), 1);
}

#[test]
fn identical_records_without_ids_stay_apart() {
    let mut correlator = Correlator::new(100);
    correlator.push(Record::orders("e51", 40).ids(None, None).build());
    correlator.push(Record::orders("e51", 40).ids(None, None).build());

    assert_eq!(correlator.len(), 2);
    assert_eq!(correlator.duplicates(), 0);
}

#[test]
fn record_differing_in_status_is_a_hop() {
    let mut correlator = Correlator::new(100);
    correlator.push(Record::orders("e52", 40).build());
    correlator.push(Record::orders("e52", 40).rbac_denied(None).build());

    assert_eq!(locations(&correlator.flows()[0]), [ORDERS, ORDERS]);
    assert_eq!(correlator.duplicates(), 0);
}

#[test]
fn hops_past_the_limit_are_dropped_and_counted() {
    let extra = 10;
    let mut correlator = Correlator::new(100);
    for index in 0..MAX_HOPS_PER_FLOW + extra {
        let offset = i64::try_from(index).expect("small index");
        correlator.push(Record::orders("e53", offset).build());
    }

    let flows = correlator.flows();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].hops.len(), MAX_HOPS_PER_FLOW);
    assert_eq!(correlator.hops_dropped(), extra as u64);
    assert_eq!(correlator.duplicates(), 0);
}

#[test]
fn merged_full_flows_keep_the_limit() {
    let mut correlator = Correlator::new(100);
    for index in 0..MAX_HOPS_PER_FLOW {
        let offset = i64::try_from(index).expect("small index");
        correlator.push(Record::orders("e54", offset).ids(Some("e54"), None).build());
        correlator.push(
            Record::gateway("e54", offset)
                .ids(None, Some("rid-54"))
                .build(),
        );
    }
    // One record with both ids joins the two full flows into one.
    correlator.push(
        Record::edge("e54", 0)
            .ids(Some("e54"), Some("rid-54"))
            .build(),
    );

    let flows = correlator.flows();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].hops.len(), MAX_HOPS_PER_FLOW);
    assert_eq!(correlator.hops_dropped(), (MAX_HOPS_PER_FLOW + 1) as u64);
}
