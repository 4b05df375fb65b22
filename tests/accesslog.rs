//! Access log parsing and outcome decoding, on lines reconstructed from field reports, the
//! samples in Istio's access log documentation, and the demo format.

use idflow::accesslog::{
    AccessLogEntry, DEMO_EXTRA_FIELDS, Format, FormatError, ISTIO_TEXT_FORMAT,
    ISTIO_TEXT_FORMAT_LEGACY, LogParser, MAX_MALFORMED_EXAMPLES, ParseError, decode_outcome,
    parse_line, parse_policy_id,
};
use idflow::model::{DecidedBy, Decision, HopRole};

const RBAC_NONE: &str = r#"[2025-03-04T10:15:02.118Z] "GET /api/orders?page=2 HTTP/1.1" 403 - rbac_access_denied_matched_policy[none] - "-" 0 19 0 - "203.0.113.10" "curl/8.5.0" "00000000-0000-4000-8000-000000000001" "orders.shop.svc.cluster.local:8080" "-" - - 10.0.9.12:8080 10.0.7.9:41822 outbound_.8080_._.orders.shop.svc.cluster.local -"#;
const RBAC_DENY: &str = r#"[2025-03-04T10:15:03.402Z] "DELETE /api/orders/17 HTTP/1.1" 403 - rbac_access_denied_matched_policy[ns[shop]-policy[deny-delete]-rule[0]] - "-" 0 19 1 - "203.0.113.10" "curl/8.5.0" "00000000-0000-4000-8000-000000000002" "orders.shop.svc.cluster.local:8080" "-" - - 10.0.9.12:8080 10.0.7.9:41830 outbound_.8080_._.orders.shop.svc.cluster.local -"#;
const APP_403: &str = r#"[2025-03-04T10:15:04.977Z] "GET /api/orders HTTP/1.1" 403 - via_upstream - "-" 0 48 12 11 "203.0.113.10" "curl/8.5.0" "00000000-0000-4000-8000-000000000003" "orders.shop.svc.cluster.local:8080" "10.0.9.12:8080" inbound|8080|| 127.0.0.6:50211 10.0.9.12:8080 10.0.7.9:41840 outbound_.8080_._.orders.shop.svc.cluster.local default"#;
const JWT_EXPIRED: &str = r#"[2025-03-04T11:02:10.551Z] "GET /api/profile HTTP/1.1" 401 - jwt_authn_access_denied{Jwt_is_expired} - "-" 0 14 0 - "203.0.113.10" "python-requests/2.32.3" "00000000-0000-4000-8000-000000000011" "api.example.com" "-" outbound|8080||orders.shop.svc.cluster.local - 10.0.7.9:8443 10.0.5.4:52110 api.example.com -"#;
const JWT_AUDIENCE: &str = r#"[2025-03-04T11:02:11.020Z] "GET /api/profile HTTP/1.1" 403 - jwt_authn_access_denied{Audiences_in_Jwt_are_not_allowed} - "-" 0 32 0 - "203.0.113.10" "python-requests/2.32.3" "00000000-0000-4000-8000-000000000012" "api.example.com" "-" outbound|8080||orders.shop.svc.cluster.local - 10.0.7.9:8443 10.0.5.4:52114 api.example.com -"#;
const JWT_SPACED: &str = r#"[2025-03-04T11:02:12.300Z] "GET /api/profile HTTP/1.1" 401 - jwt_authn_access_denied{Jwt is expired} - "-" 0 14 0 - "-" "curl/8.5.0" "00000000-0000-4000-8000-000000000013" "api.example.com" "-" - - 10.0.7.9:8443 10.0.5.4:52120 api.example.com -"#;
const QUOTED_AGENT: &str = r#"[2025-03-04T12:00:00.000Z] "GET /api HTTP/1.1" 403 - rbac_access_denied_matched_policy[none] - "-" 0 19 0 - "203.0.113.10" "Mozilla/5.0 "probe" "fake-id"" "00000000-0000-4000-8000-000000000021" "api.example.com" "-" - - 10.0.7.9:8080 10.0.5.4:40000 - -"#;
const JSON_RBAC: &str = r#"{"start_time":"2025-03-04T13:00:00.000Z","method":"POST","path":"/api/orders?dry_run=1","protocol":"HTTP/2","response_code":403,"response_flags":"-","response_code_details":"rbac_access_denied_matched_policy[ns[shop]-policy[require-jwt]-rule[0]]","connection_termination_details":null,"bytes_received":0,"bytes_sent":19,"duration":0,"upstream_service_time":null,"x_forwarded_for":"203.0.113.10","user_agent":"okhttp/4.12.0","request_id":"00000000-0000-4000-8000-000000000031","authority":"orders.shop.svc.cluster.local:8080","upstream_host":null,"upstream_cluster":"inbound|8080||;","upstream_local_address":null,"downstream_local_address":"10.0.9.12:8080","downstream_remote_address":"10.0.7.9:52240","requested_server_name":"outbound_.8080_._.orders.shop.svc.cluster.local","route_name":null,"upstream_transport_failure_reason":null}"#;
const DOCS_CLIENT: &str = r#"[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default"#;
const DOCS_SERVER: &str = r#"[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 3 1 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "127.0.0.1:80" inbound|8000|| 127.0.0.1:41854 10.44.1.27:80 10.44.1.23:37652 outbound_.8000_._.httpbin.foo.svc.cluster.local default"#;
const TCP_DENY: &str = r#"[2025-03-04T10:20:00.000Z] "- - -" 0 - - rbac_access_denied_matched_policy[ns[shop]-policy[deny-db]-rule[1]] "-" 21 0 1 - "-" "-" "-" "-" "-" inbound|5432|| - 10.0.9.20:5432 10.0.7.9:41000 outbound_.5432_._.db.shop.svc.cluster.local -"#;
const LEGACY_CLUSTER: &str = r#"[2024-05-01T09:00:00.000Z] "GET /health HTTP/1.1" 200 - via_upstream - "-" 0 2 1 1 "-" "kube-probe/1.29" "00000000-0000-4000-8000-000000000051" "10.0.9.12:8080" "10.0.9.12:8080" inbound|8080||; 127.0.0.6:40001 10.0.9.12:8080 10.0.0.1:50000 - default"#;
const DEMO_PREFIX: &str = r#"[2025-03-04T14:00:00.000Z] "GET /api/orders HTTP/1.1" 200 - via_upstream - "-" 0 512 8 7 "203.0.113.10, 10.0.0.1" "curl/8.5.0" "00000000-0000-4000-8000-000000000041" "orders.shop.svc.cluster.local:8080" "10.0.9.12:8080" inbound|8080|| 127.0.0.6:50211 10.0.9.12:8080 10.0.7.9:41840 outbound_.8080_._.orders.shop.svc.cluster.local default "a1b2c3d4e5f6" "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account""#;
const DEMO_CLAIMS: &str = r#"{"https://idp.example.com/realms/shop":{"iss":"https://idp.example.com/realms/shop","sub":"user-17","aud":["orders","billing"],"name":"Ada Lovelace"}}"#;
const APP_LOG: &str = "2021-04-23T20:43:18.552910Z\tdebug\tenvoy rbac external/envoy/source/extensions/filters/http/rbac/rbac_filter.cc:167\tenforced denied, matched policy ns[foo]-policy[deny-path-headers]-rule[0]\tthread=24";

fn parse(line: &str) -> AccessLogEntry {
    parse_line(line).unwrap_or_else(|error| panic!("line did not parse: {error}\n{line}"))
}

fn demo_line(scheme: &str, claims: &str) -> String {
    format!("{DEMO_PREFIX} \"{scheme}\" {claims}")
}

#[test]
fn text_lines_fill_fields() {
    // (line, request id, authority, status, details, path)
    let cases = [
        (
            RBAC_NONE,
            "00000000-0000-4000-8000-000000000001",
            "orders.shop.svc.cluster.local:8080",
            403,
            "rbac_access_denied_matched_policy[none]",
            "/api/orders?page=2",
        ),
        (
            RBAC_DENY,
            "00000000-0000-4000-8000-000000000002",
            "orders.shop.svc.cluster.local:8080",
            403,
            "rbac_access_denied_matched_policy[ns[shop]-policy[deny-delete]-rule[0]]",
            "/api/orders/17",
        ),
        (
            APP_403,
            "00000000-0000-4000-8000-000000000003",
            "orders.shop.svc.cluster.local:8080",
            403,
            "via_upstream",
            "/api/orders",
        ),
        (
            JWT_EXPIRED,
            "00000000-0000-4000-8000-000000000011",
            "api.example.com",
            401,
            "jwt_authn_access_denied{Jwt_is_expired}",
            "/api/profile",
        ),
        (
            JWT_AUDIENCE,
            "00000000-0000-4000-8000-000000000012",
            "api.example.com",
            403,
            "jwt_authn_access_denied{Audiences_in_Jwt_are_not_allowed}",
            "/api/profile",
        ),
        (
            JWT_SPACED,
            "00000000-0000-4000-8000-000000000013",
            "api.example.com",
            401,
            "jwt_authn_access_denied{Jwt is expired}",
            "/api/profile",
        ),
        (
            QUOTED_AGENT,
            "00000000-0000-4000-8000-000000000021",
            "api.example.com",
            403,
            "rbac_access_denied_matched_policy[none]",
            "/api",
        ),
        (
            DOCS_CLIENT,
            "84961386-6d84-929d-98bd-c5aee93b5c88",
            "httpbin:8000",
            418,
            "via_upstream",
            "/status/418",
        ),
        (
            DOCS_SERVER,
            "84961386-6d84-929d-98bd-c5aee93b5c88",
            "httpbin:8000",
            418,
            "via_upstream",
            "/status/418",
        ),
    ];
    for (line, request_id, authority, status, details, path) in cases {
        let entry = parse(line);
        assert_eq!(
            entry.request_id.as_deref(),
            Some(request_id),
            "request id of {line}"
        );
        assert_eq!(
            entry.authority.as_deref(),
            Some(authority),
            "authority of {line}"
        );
        assert_eq!(entry.response_code, status, "status of {line}");
        assert_eq!(
            entry.response_code_details.as_deref(),
            Some(details),
            "details of {line}"
        );
        assert_eq!(entry.path.as_deref(), Some(path), "path of {line}");
    }
}

#[test]
fn quoted_agent_keeps_quotes() {
    let entry = parse(QUOTED_AGENT);
    assert_eq!(
        entry.user_agent.as_deref(),
        Some(r#"Mozilla/5.0 "probe" "fake-id""#)
    );
    assert_eq!(entry.x_forwarded_for.as_deref(), Some("203.0.113.10"));
    assert_eq!(
        entry.downstream_remote_address.as_deref(),
        Some("10.0.5.4:40000")
    );
}

#[test]
fn docs_server_line_fields() {
    let entry = parse(DOCS_SERVER);
    assert_eq!(
        entry.start_time.as_deref(),
        Some("2020-11-25T21:26:18.409Z")
    );
    assert_eq!(entry.method.as_deref(), Some("GET"));
    assert_eq!(entry.protocol.as_deref(), Some("HTTP/1.1"));
    assert_eq!(entry.bytes_sent, Some(135));
    assert_eq!(entry.duration_ms, Some(3));
    assert_eq!(entry.upstream_service_time.as_deref(), Some("1"));
    assert_eq!(entry.upstream_cluster.as_deref(), Some("inbound|8000||"));
    assert_eq!(
        entry.requested_server_name.as_deref(),
        Some("outbound_.8000_._.httpbin.foo.svc.cluster.local")
    );
    assert_eq!(entry.route_name.as_deref(), Some("default"));
    assert_eq!(entry.x_forwarded_for, None);
    assert!(!entry.authorization_logged);
}

#[test]
fn tcp_line_fields() {
    let entry = parse(TCP_DENY);
    assert_eq!(entry.response_code, 0);
    assert_eq!(entry.method, None);
    assert_eq!(entry.response_code_details, None);
    assert_eq!(
        entry.connection_termination_details.as_deref(),
        Some("rbac_access_denied_matched_policy[ns[shop]-policy[deny-db]-rule[1]]")
    );
}

#[test]
fn legacy_cluster_loses_semicolon() {
    let text = parse(LEGACY_CLUSTER);
    let json = parse(JSON_RBAC);
    assert_eq!(text.upstream_cluster.as_deref(), Some("inbound|8080||"));
    assert_eq!(json.upstream_cluster.as_deref(), Some("inbound|8080||"));
}

#[test]
fn demo_line_with_claims() {
    let entry = parse(&demo_line("Bearer ", DEMO_CLAIMS));
    let claims = entry.jwt_payload.as_ref().expect("claims parsed");
    assert_eq!(entry.edge_request_id.as_deref(), Some("a1b2c3d4e5f6"));
    assert_eq!(entry.authorization_scheme.as_deref(), Some("Bearer"));
    assert!(entry.authorization_logged);
    assert_eq!(
        claims["https://idp.example.com/realms/shop"]["name"],
        "Ada Lovelace"
    );
    assert_eq!(entry.route_name.as_deref(), Some("default"));
}

#[test]
fn demo_line_without_token() {
    let entry = parse(&demo_line("-", "-"));
    assert_eq!(entry.authorization_scheme, None);
    assert!(entry.authorization_logged);
    assert_eq!(entry.jwt_payload, None);
    assert_eq!(
        entry.peer_principal.as_deref(),
        Some("spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account")
    );
}

#[test]
fn json_value_types() {
    // Numbers, numeric strings, and the three ways of writing an absent value.
    let cases = [
        (
            r#"{"response_code":403,"bytes_sent":19,"duration":2,"route_name":null}"#,
            403,
            Some(19),
            None,
        ),
        (
            r#"{"response_code":"403","bytes_sent":"19","duration":"2","route_name":"-"}"#,
            403,
            Some(19),
            None,
        ),
        (
            r#"{"response_code":0,"bytes_sent":null,"duration":"-","route_name":""}"#,
            0,
            None,
            None,
        ),
        (
            r#"{"response_code":"200","bytes_sent":"-","route_name":"default"}"#,
            200,
            None,
            Some("default"),
        ),
    ];
    for (line, status, bytes_sent, route) in cases {
        let entry = parse(line);
        assert_eq!(entry.response_code, status, "status of {line}");
        assert_eq!(entry.bytes_sent, bytes_sent, "bytes sent of {line}");
        assert_eq!(entry.route_name.as_deref(), route, "route of {line}");
    }
}

#[test]
fn json_istio_line() {
    let entry = parse(JSON_RBAC);
    assert_eq!(entry.response_code, 403);
    assert_eq!(entry.path.as_deref(), Some("/api/orders?dry_run=1"));
    assert_eq!(entry.connection_termination_details, None);
    assert_eq!(
        entry.request_id.as_deref(),
        Some("00000000-0000-4000-8000-000000000031")
    );
    assert_eq!(
        entry.response_code_details.as_deref(),
        Some("rbac_access_denied_matched_policy[ns[shop]-policy[require-jwt]-rule[0]]")
    );
}

#[test]
fn json_demo_keys_and_extra() {
    let line = format!(
        r#"{{"response_code":200,"edge_request_id":"e-1","peer_principal":"spiffe://cluster.local/ns/a/sa/b","authorization_scheme":"bearer ","jwt_authn":{DEMO_CLAIMS},"x_b3_traceid":"abc","retries":2}}"#
    );
    let entry = parse(&line);
    assert_eq!(entry.edge_request_id.as_deref(), Some("e-1"));
    assert_eq!(entry.authorization_scheme.as_deref(), Some("bearer"));
    assert!(entry.jwt_payload.is_some());
    assert_eq!(
        entry.extra.get("x_b3_traceid").map(String::as_str),
        Some("abc")
    );
    assert_eq!(entry.extra.get("retries").map(String::as_str), Some("2"));
    assert_eq!(entry.response_code_details, None);
}

#[test]
fn json_jwt_as_string() {
    let line = format!(
        r#"{{"response_code":200,"jwt_authn":{}}}"#,
        serde_json::to_string(DEMO_CLAIMS).expect("string")
    );
    let identity = parse(&line).identity();
    assert_eq!(identity.subject.as_deref(), Some("user-17"));
}

#[test]
fn json_without_response_code() {
    let error = parse_line(r#"{"method":"GET","path":"/"}"#).expect_err("no status");
    assert_eq!(
        error,
        ParseError::Malformed {
            field: "response_code".into(),
            reason: "missing".into()
        }
    );
}

#[test]
fn json_invalid_number() {
    let error = parse_line(r#"{"response_code":"abc"}"#).expect_err("bad status");
    assert!(
        matches!(error, ParseError::Malformed { ref field, .. } if field == "response_code"),
        "{error}"
    );
}

#[test]
fn not_access_log_lines() {
    let cases = [
        ("envoy app log", APP_LOG.to_string()),
        ("pilot-agent log", "2025-03-04T10:00:00.000000Z\tinfo\txdsproxy\tconnected to upstream XDS server".to_string()),
        ("JSON app log", r#"{"level":"info","time":"2025-03-04T10:00:00Z","scope":"envoy rbac","msg":"enforced denied"}"#.to_string()),
        ("JSON edge record", r#"{"reqId":"a1b2","statusCode":"403","cliIP":"203.0.113.10"}"#.to_string()),
        ("empty", String::new()),
        ("blank", "   \r\n".to_string()),
        ("garbage", String::from_utf8_lossy(b"\xff\xfe\x00\x01garbage \xc3\x28 [ { \"").into_owned()),
        ("bracket only", "[".to_string()),
    ];
    for (name, line) in cases {
        let result = parse_line(&line);
        assert!(
            matches!(result, Err(ParseError::NotAccessLog(_))),
            "{name}: {result:?}"
        );
    }
}

#[test]
fn missing_field_named() {
    let line = DOCS_SERVER.strip_suffix(" default").expect("route at end");
    let error = parse_line(line).expect_err("route name missing");
    let ParseError::Malformed { field, reason } = error else {
        panic!("not malformed: {error:?}")
    };
    assert_eq!(field, "%ROUTE_NAME%");
    assert!(reason.contains("end of line"), "{reason}");
}

#[test]
fn bad_number_named() {
    let line = DOCS_SERVER.replace("418 - via_upstream", "4x8 - via_upstream");
    let error = parse_line(&line).expect_err("bad status");
    let ParseError::Malformed { field, .. } = error else {
        panic!("not malformed: {error:?}")
    };
    assert_eq!(field, "%RESPONSE_CODE%");
}

#[test]
fn ambiguous_line_names_fields() {
    let format = Format::compile(r#"[%START_TIME%] "%REQ(USER-AGENT)%" "%REQ(REFERER)%""#)
        .expect("compiles");
    let error = format.parse(r#"[t] "a" "b" "c""#).expect_err("two splits");
    assert_eq!(
        error,
        ParseError::Ambiguous {
            fields: vec!["%REQ(USER-AGENT)%".into(), "%REQ(REFERER)%".into()]
        }
    );
}

#[test]
fn huge_lines_no_panic() {
    let cases = [
        format!("[{}", "a".repeat(1 << 20)),
        format!(
            "[2025-03-04T12:00:00.000Z] \"GET /api HTTP/1.1\" 403 - x - \"-\" 0 19 0 - \"{}\"",
            "\" \"".repeat(350_000)
        ),
        demo_line(
            "Bearer ",
            &format!("{{\"iss\":\"{}\"}}", "x".repeat(1 << 20)),
        ),
        String::from_utf8_lossy(&vec![0xff; 1 << 20]).into_owned(),
    ];
    let started = std::time::Instant::now();
    for line in &cases {
        let result = parse_line(line);
        assert!(result.is_err(), "{} bytes parsed", line.len());
    }
    assert!(
        started.elapsed().as_secs() < 20,
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn hostile_agent_bounded() {
    // A user agent of many `" "` gives the matcher tens of thousands of candidate splits; the work
    // budget makes it give up with an error instead of searching them all. Its cost is measured in
    // benchmarks, not here.
    let agent = "\" \"".repeat(60_000);
    let line = RBAC_NONE.replace("curl/8.5.0", &agent);
    let error = parse_line(&line).expect_err("a line this ambiguous is rejected");
    assert!(
        matches!(
            error,
            ParseError::Malformed { .. } | ParseError::Ambiguous { .. }
        ),
        "{error:?}"
    );
}

#[test]
fn long_claims_parse() {
    let claims = format!(
        "{{\"iss\":\"https://idp.example.com\",\"sub\":\"u1\",\"groups\":\"{}\"}}",
        "g ".repeat(100_000)
    );
    let entry = parse(&demo_line("Bearer ", &claims));
    assert_eq!(entry.identity().subject.as_deref(), Some("u1"));
}

#[test]
fn json_million_bytes() {
    let line = format!(
        "{{\"response_code\":200,\"user_agent\":\"{}\"}}",
        "y".repeat(1 << 20)
    );
    assert_eq!(
        parse(&line).user_agent.map(|agent| agent.len()),
        Some(1 << 20)
    );
}

#[test]
fn custom_format_operators() {
    let format = Format::compile(
        "%START_TIME(%Y-%m-%dT%H:%M:%S)% 100%% %RESPONSE_CODE% \"%REQ(:AUTHORITY)%\" %REQ(X-B3-TRACEID)% %UPSTREAM_CLUSTER%\n",
    )
    .expect("compiles");
    let entry = format
        .parse("2025-03-04T12:00:00 100% 204 \"api\" abc outbound|80||web;")
        .expect("matches");
    assert_eq!(entry.start_time.as_deref(), Some("2025-03-04T12:00:00"));
    assert_eq!(entry.response_code, 204);
    assert_eq!(entry.authority.as_deref(), Some("api"));
    assert_eq!(
        entry.extra.get("REQ(X-B3-TRACEID)").map(String::as_str),
        Some("abc")
    );
    assert_eq!(entry.upstream_cluster.as_deref(), Some("outbound|80||web"));
}

#[test]
fn bracketed_time_with_spaces() {
    let format =
        Format::compile("[%START_TIME(%Y-%m-%d %H:%M:%S)%] %RESPONSE_CODE%").expect("compiles");
    let entry = format.parse("[2025-03-04 12:00:00] 200").expect("matches");
    assert_eq!(entry.start_time.as_deref(), Some("2025-03-04 12:00:00"));
    assert_eq!(entry.response_code, 200);
}

#[test]
fn built_in_formats_compile() {
    let demo = format!("{}{DEMO_EXTRA_FIELDS}", ISTIO_TEXT_FORMAT.trim_end());
    for source in [ISTIO_TEXT_FORMAT, ISTIO_TEXT_FORMAT_LEGACY, demo.as_str()] {
        assert!(Format::compile(source).is_ok(), "{source}");
    }
    assert_eq!(idflow::accesslog::built_in_formats().len(), 4);
}

#[test]
fn format_compile_errors() {
    let cases = [
        (
            "[%START_TIME",
            FormatError::Unterminated {
                at: 1,
                text: "%START_TIME".into(),
            },
        ),
        (
            "%REQ(AUTHORIZATION):x%",
            FormatError::InvalidMaxLength {
                operator: "REQ(AUTHORIZATION):x".into(),
            },
        ),
        ("plain text", FormatError::NoOperator("plain text".into())),
        (
            "a % b",
            FormatError::InvalidOperator {
                at: 2,
                text: "% b".into(),
            },
        ),
    ];
    for (source, expected) in cases {
        assert_eq!(Format::compile(source), Err(expected), "{source}");
    }
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/accesslog/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("cannot read {path}: {error}"))
}

/// Returns `None` for the `-` that marks an empty cell of a fixture table.
fn cell(text: &str) -> Option<&str> {
    (text != "-").then_some(text)
}

fn contract_name<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value)
        .expect("serializes")
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn outcome_kinds() {
    let table = fixture("outcomes.tsv");
    let rows: Vec<Vec<&str>> = table
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| line.split('\t').collect())
        .collect();
    assert!(rows.len() > 20, "outcome table has {} rows", rows.len());
    for row in rows {
        let [
            details,
            termination,
            flags,
            status,
            decision,
            decided_by,
            policy,
            rule,
            reason,
        ] = row[..]
        else {
            panic!("row needs 9 columns: {row:?}");
        };
        let entry = AccessLogEntry {
            response_code: status.parse().expect("status is a number"),
            response_code_details: cell(details).map(str::to_string),
            connection_termination_details: cell(termination).map(str::to_string),
            response_flags: cell(flags).map(str::to_string),
            ..AccessLogEntry::default()
        };
        let hop = entry.observe("shop/orders", HopRole::Sidecar).hop;
        let rule = cell(rule).map(|rule| rule.parse::<u32>().expect("rule is a number"));
        assert_eq!(
            contract_name(hop.decision),
            decision,
            "decision for {details} {termination}"
        );
        assert_eq!(
            contract_name(hop.decided_by),
            decided_by,
            "decided by for {details} {termination}"
        );
        assert_eq!(
            hop.policy.as_deref(),
            cell(policy),
            "policy for {details} {termination}"
        );
        assert_eq!(hop.rule, rule, "rule for {details} {termination}");
        assert_eq!(
            hop.reason.as_deref(),
            cell(reason),
            "reason for {details} {termination}"
        );
    }
}

#[test]
fn outcome_without_details() {
    // Lines from formats before Istio 1.9 carry no details.
    let forwarded = AccessLogEntry {
        response_code: 403,
        upstream_service_time: Some("3".into()),
        ..AccessLogEntry::default()
    };
    let ext_authz = AccessLogEntry {
        response_code: 403,
        response_flags: Some("UAEX".into()),
        ..AccessLogEntry::default()
    };
    let local = AccessLogEntry {
        response_code: 403,
        ..AccessLogEntry::default()
    };
    assert_eq!(decode_outcome(&forwarded).decided_by, DecidedBy::Upstream);
    assert_eq!(decode_outcome(&ext_authz).decided_by, DecidedBy::ExtAuthz);
    assert_eq!(decode_outcome(&local).decision, Decision::Unknown);
}

#[test]
fn policy_id_forms() {
    let provider =
        parse_policy_id("istio-ext-authz-authz-dev-ns[istio-ingress]-policy[dev-custom]-rule[2]")
            .expect("parses");
    assert_eq!(provider.provider.as_deref(), Some("authz-dev"));
    assert!(provider.custom);
    assert_eq!(provider.rule, 2);
    let nested = parse_policy_id("ns[a]-policy[b]-rule[10]").expect("parses");
    assert_eq!(
        (nested.namespace.as_str(), nested.name.as_str(), nested.rule),
        ("a", "b", 10)
    );
    assert!(parse_policy_id("none").is_none());
    assert!(parse_policy_id("default-deny-all-due-to-bad-CUSTOM-action").is_none());
    assert!(parse_policy_id("ns[a]-policy[b]-rule[x]").is_none());
}

#[test]
fn observe_demo_identity() {
    let observation =
        parse(&demo_line("Bearer ", DEMO_CLAIMS)).observe("shop/orders", HopRole::Sidecar);
    let identity = &observation.hop.identity;
    assert_eq!(identity.token_present, Some(true));
    assert_eq!(
        identity.token_location.as_deref(),
        Some("authorization: Bearer")
    );
    assert_eq!(
        identity.issuer.as_deref(),
        Some("https://idp.example.com/realms/shop")
    );
    assert_eq!(identity.subject.as_deref(), Some("user-17"));
    assert_eq!(
        identity.audiences,
        vec!["orders".to_string(), "billing".to_string()]
    );
    assert_eq!(
        identity.request_principal.as_deref(),
        Some("https://idp.example.com/realms/shop/user-17")
    );
    assert_eq!(
        identity.peer_principal.as_deref(),
        Some("spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account")
    );

    assert_eq!(observation.client_ip.as_deref(), Some("203.0.113.10"));
    assert_eq!(observation.edge_request_id.as_deref(), Some("a1b2c3d4e5f6"));
    assert_eq!(
        observation.hop.time.as_deref(),
        Some("2025-03-04T14:00:00.000Z")
    );
    assert_eq!(observation.hop.status, 200);
}

#[test]
fn observe_token_presence() {
    let lowercase = parse(&demo_line("bearer ", "-")).identity();
    let absent = parse(&demo_line("-", "-")).identity();
    let not_logged = parse(RBAC_NONE).identity();
    let audience = parse(&demo_line(
        "Bearer ",
        r#"{"iss":"https://idp.example.com","sub":"u1","aud":"orders"}"#,
    ))
    .identity();
    assert_eq!(
        lowercase.token_location.as_deref(),
        Some("authorization: bearer")
    );
    assert_eq!(absent.token_present, Some(false));
    assert_eq!(not_logged.token_present, None);
    assert_eq!(audience.audiences, vec!["orders".to_string()]);
}

#[test]
fn observe_tcp_and_client_address() {
    let observation = parse(TCP_DENY).observe("shop/db", HopRole::Sidecar);
    assert_eq!(observation.hop.status, 0);
    assert_eq!(
        observation.hop.details.as_deref(),
        Some("rbac_access_denied_matched_policy[ns[shop]-policy[deny-db]-rule[1]]")
    );
    assert_eq!(observation.hop.policy.as_deref(), Some("shop/deny-db"));
    assert_eq!(observation.hop.rule, Some(1));
    assert_eq!(observation.client_ip.as_deref(), Some("10.0.7.9"));
    let ipv6 = AccessLogEntry {
        downstream_remote_address: Some("[2001:db8::7]:41000".into()),
        ..AccessLogEntry::default()
    };
    assert_eq!(ipv6.client_ip().as_deref(), Some("2001:db8::7"));
}

#[test]
fn full_authorization_keeps_scheme() {
    let format = Format::compile(r#"%RESPONSE_CODE% "%REQ(AUTHORIZATION)%""#).expect("compiles");
    let entry = format
        .parse(r#"200 "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln""#)
        .expect("matches");
    assert_eq!(entry.authorization_scheme.as_deref(), Some("Bearer"));
}

#[test]
fn parser_counts_fixture() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/accesslog/mixed.log"
    ))
    .expect("fixture readable");
    let mut parser = LogParser::new();
    for line in text.lines() {
        let _ = parser.parse(line);
    }
    let stats = parser.stats();
    assert_eq!(stats.parsed, 4);
    assert_eq!(stats.not_access_log, 3);
    assert_eq!(stats.malformed, 2);
    assert_eq!(stats.malformed_examples.len(), 2);
    assert_eq!(stats.malformed_examples[0].line_number, 5);
}

#[test]
fn parser_examples_bounded() {
    let mut parser = LogParser::new();
    for _ in 0..(MAX_MALFORMED_EXAMPLES + 3) {
        let _ = parser.parse("[2025-03-04T10:15:02.118Z] \"GET");
    }
    assert_eq!(
        parser.stats().malformed,
        (MAX_MALFORMED_EXAMPLES + 3) as u64
    );
    assert_eq!(
        parser.stats().malformed_examples.len(),
        MAX_MALFORMED_EXAMPLES
    );
}

#[test]
fn parser_tries_last_format_first() {
    let mut parser = LogParser::new();
    parser.parse(RBAC_NONE).expect("parses");
    assert_eq!(parser.formats()[0].source(), ISTIO_TEXT_FORMAT);
    parser.parse(&demo_line("-", "-")).expect("parses");
    assert!(parser.formats()[0].source().ends_with(DEMO_EXTRA_FIELDS));
}

#[test]
fn parser_custom_format_first() {
    let custom = Format::compile("%RESPONSE_CODE% %REQ(X-REQUEST-ID)%").expect("compiles");
    let mut parser = LogParser::with_formats(vec![custom]);
    let entry = parser.parse("204 abc").expect("parses");
    assert_eq!(entry.request_id.as_deref(), Some("abc"));
    assert_eq!(parser.stats().parsed, 1);
}

#[test]
fn whole_authorization_counted_not_kept() {
    // A JSON format that logs the whole header, and the demo format that logs the scheme only.
    let token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhY2Nlc3Nsb2cifQ.c2lnbmF0dXJlLXRleHQ";
    let whole = format!(
        r#"{{"start_time":"2026-12-04T22:25:30.000Z","method":"GET","path":"/","response_code":200,"request_id":"r-1","authorization":"Bearer {token}"}}"#
    );
    let scheme_only = demo_line("Bearer ", "-");

    let entry = parse(&whole);
    assert_eq!(entry.authorization_scheme.as_deref(), Some("Bearer"));
    assert!(entry.authorization_credential);
    assert!(entry.extra.is_empty(), "extra: {:?}", entry.extra);
    assert!(!format!("{entry:?}").contains("eyJzdWIi"), "{entry:?}");
    assert!(!parse(&scheme_only).authorization_credential);

    let mut parser = LogParser::new();
    parser.parse(&whole).expect("JSON line parses");
    parser.parse(&scheme_only).expect("demo line parses");
    parser
        .parse_observation(&whole, "shop/orders", HopRole::Sidecar)
        .expect("JSON line observed");
    parser
        .parse_observation(&scheme_only, "shop/orders", HopRole::Sidecar)
        .expect("demo line observed");
    assert_eq!(parser.stats().parsed, 4);
    assert_eq!(parser.stats().credentials_logged, 2);

    // A TEXT format given by the user that logs the whole header.
    let format = Format::compile(
        r#"[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% "%REQ(AUTHORIZATION)%""#,
    )
    .expect("format compiles");
    let text = format!(r#"[2026-12-04T22:25:30.000Z] "GET / HTTP/1.1" 200 "Bearer {token}""#);
    let mut custom = LogParser::with_formats(vec![format]);
    let observation = custom
        .parse_observation(&text, "shop/orders", HopRole::Sidecar)
        .expect("custom line observed");
    assert_eq!(
        observation.hop.identity.token_location.as_deref(),
        Some("authorization: Bearer")
    );
    assert_eq!(custom.stats().credentials_logged, 1);
}
