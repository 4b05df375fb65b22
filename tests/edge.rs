//! Tests of the edge module: EdgeWorker debug headers, DataStream 2 records and fields, the
//! customField identity convention, the edge verdict and the file reader.

use std::fmt::Write as _;

use idflow::edge::{
    EdgeError, EdgeRecord, EwEvent, EwInfo, EwOutcome, EwStatus, ExecutionStage, FailureKind,
    OffReason, ResourceTier, ServerFlow, edge_verdict, parse_custom_field, parse_ds2_json,
    parse_ew_execution_info, parse_ew_info_header, parse_ew_info_header_name,
    parse_ew_info_header_named, parse_ew_usage_info, read_ds2,
};
use idflow::model::{DecidedBy, Decision, HopKind};

fn header(value: &str) -> EwInfo {
    parse_ew_info_header(value).unwrap_or_else(|error| panic!("{value}: {error}"))
}

fn record(json: &str) -> EdgeRecord {
    parse_ds2_json(json).unwrap_or_else(|error| panic!("{json}: {error}"))
}

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/edge/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

// ---- X-Akamai-EdgeWorker-<Event>-Info values ----

/// One documented header value and the identity fields it must yield.
struct HeaderCase {
    value: &'static str,
    id: Option<u64>,
    version: Option<&'static str>,
    name: Option<&'static str>,
    status: Option<EwStatus>,
}

#[test]
fn header_ew_field_variants() {
    let cases = [
        HeaderCase {
            value: "ew=9 v7.0: EW for example.com; status=Success",
            id: Some(9),
            version: Some("7.0"),
            name: Some("EW for example.com"),
            status: Some(EwStatus::Success),
        },
        HeaderCase {
            value: "ew=9 v7.0:EW for example.com; status=Failed",
            id: Some(9),
            version: Some("7.0"),
            name: Some("EW for example.com"),
            status: Some(EwStatus::Failed),
        },
        HeaderCase {
            value: "ew= v1.0:example; status=Success",
            id: None,
            version: Some("1.0"),
            name: Some("example"),
            status: Some(EwStatus::Success),
        },
        HeaderCase {
            value: "ew=1147649205 v:swparent; status=UnimplementedEventHandler",
            id: Some(1_147_649_205),
            version: None,
            name: Some("swparent"),
            status: Some(EwStatus::UnimplementedHandler),
        },
        HeaderCase {
            value: "ew=1147649205 vc14e39809f55f159475c12f9b06ba671_2:swparent; status=Success; wall_time=1.2",
            id: Some(1_147_649_205),
            version: Some("c14e39809f55f159475c12f9b06ba671_2"),
            name: Some("swparent"),
            status: Some(EwStatus::Success),
        },
        HeaderCase {
            value: "ew=258567741 v2:swchild; status=Success;",
            id: Some(258_567_741),
            version: Some("2"),
            name: Some("swchild"),
            status: Some(EwStatus::Success),
        },
        HeaderCase {
            value: "ew=3716 v0.0.9:edgeWorkerScott; error=GenericError; error_text=main.js::6:26+Unknown+built-in+module:+\"yourmodules\"",
            id: Some(3716),
            version: Some("0.0.9"),
            name: Some("edgeWorkerScott"),
            status: None,
        },
    ];
    for case in cases {
        let info = header(case.value);
        assert_eq!(info.id, case.id, "id of {}", case.value);
        assert_eq!(
            info.version.as_deref(),
            case.version,
            "version of {}",
            case.value
        );
        assert_eq!(info.name.as_deref(), case.name, "name of {}", case.value);
        assert_eq!(info.status, case.status, "status of {}", case.value);
    }
}

#[test]
fn header_enhanced_success() {
    let info = header(
        "ew=9 v7.0: EW for example.com; status=Success; status_msg=-; res_tier=200; init_wall_time=9.99; wall_time=6.349; init_cpu_time=6.19; cpu_time=6.349;memory_usage=14572;",
    );
    assert_eq!(info.status_message, None);
    assert_eq!(info.resource_tier, Some(ResourceTier::Dynamic));
    assert_eq!(info.init_wall_time_ms, Some(9.99));
    assert_eq!(info.wall_time_ms, Some(6.349));
    assert_eq!(info.init_cpu_time_ms, Some(6.19));
    assert_eq!(info.cpu_time_ms, Some(6.349));
    assert_eq!(info.memory_usage_bytes, Some(14572));
    assert!(info.other.is_empty(), "unexpected keys {:?}", info.other);
    assert!(!info.truncated);
}

#[test]
fn header_enhanced_execution_error() {
    let info = header(
        "ew=9 v7.0:EW for example.com; status=ExecutionError; status_msg=main.js:runtime_error:5:2,main.js:red_team:16:3,main.js:onClientRequest:39:3+ReferenceError:+calling_undefined_fn+is+not+defined; res_tier=200; init_wall_time=0; wall_time=0; init_cpu_time=0; cpu_time=0; memory_usage=21560",
    );
    assert_eq!(info.status, Some(EwStatus::ExecutionError));
    assert_eq!(
        info.status_message.as_deref(),
        Some(
            "main.js:runtime_error:5:2,main.js:red_team:16:3,main.js:onClientRequest:39:3 ReferenceError: calling_undefined_fn is not defined"
        )
    );
    assert_eq!(info.memory_usage_bytes, Some(21560));
    assert_eq!(info.cpu_time_ms, Some(0.0));
}

#[test]
fn header_stray_colon_separator() {
    let info = header(
        "ew=3693 v1.0:subreq; status=Success; res_tier=200: init_wall_time=0; wall_time=4.5",
    );
    assert_eq!(info.resource_tier, Some(ResourceTier::Dynamic));
    assert_eq!(info.init_wall_time_ms, Some(0.0));
    assert_eq!(info.wall_time_ms, Some(4.5));
}

#[test]
fn header_resource_tier_spelling() {
    let info = header("ew=3693 v1.0:rp; status=Success; resource_tier=280");
    assert_eq!(info.resource_tier, Some(ResourceTier::Enterprise));
}

#[test]
fn header_older_field_set_kept() {
    let info = header(
        "ew=42 v0.9:logger; status=Success; sc_ver=2.15.14; pearl_ver=2.0.1; ew_exe_ip=198.18.231.68; heap_usage=0",
    );
    let expected = [
        ("sc_ver", "2.15.14"),
        ("pearl_ver", "2.0.1"),
        ("ew_exe_ip", "198.18.231.68"),
        ("heap_usage", "0"),
    ];
    for (key, value) in expected {
        assert_eq!(
            info.other.get(key).map(String::as_str),
            Some(value),
            "key {key}"
        );
    }
}

#[test]
fn header_older_error_form() {
    let info = header(
        "ew=3716 v0.0.9:edgeWorkerScott; error=GenericError; error_text=main.js::6:26+Unknown+built-in+module:+\"yourmodules\"",
    );
    assert_eq!(info.error, Some(EwStatus::GenericError));
    assert_eq!(
        info.error_text.as_deref(),
        Some("main.js::6:26 Unknown built-in module: \"yourmodules\"")
    );
    assert_eq!(info.effective_status(), Some(&EwStatus::GenericError));
}

#[test]
fn header_truncated_value() {
    let info = header(
        "ew=9 v7.0: EW for example.com; status=Success; status_msg=-; res_tier=200; init_wall_time=9.9$",
    );
    assert!(info.truncated);
    assert_eq!(info.truncated_tail.as_deref(), Some("init_wall_time=9.9"));
    assert_eq!(
        info.init_wall_time_ms, None,
        "a cut field must not be trusted"
    );
    assert_eq!(info.resource_tier, Some(ResourceTier::Dynamic));
}

#[test]
fn header_unknown_key_kept() {
    let info = header("ew=9 v7.0:x; status=Success; req_body=buffered; new_field=abc");
    assert_eq!(info.request_body.as_deref(), Some("buffered"));
    assert_eq!(info.other.get("new_field").map(String::as_str), Some("abc"));
}

#[test]
fn header_invalid_values_rejected() {
    let cases = [
        ("", "no `key=value`"),
        ("ew=9 v7.0:x; memory_usage=lots", "memory_usage=lots"),
        ("ew=9 v7.0:x; res_tier=high", "res_tier=high"),
        (
            "ew=9 v7.0:x; cpu_time=fast",
            "`fast` is not a valid `cpu_time` time",
        ),
        ("ew=abc v1:x; status=Success", "is not a number"),
    ];
    for (value, expected) in cases {
        let error = parse_ew_info_header(value).expect_err(value).to_string();
        assert!(error.contains(expected), "{value}: {error}");
    }
}

#[test]
fn header_names() {
    let cases = [
        (
            "X-Akamai-EdgeWorker-onClientRequest-Info",
            EwEvent::OnClientRequest,
            None,
        ),
        (
            "X-Akamai-EdgeWorker-onOriginRequest-Info",
            EwEvent::OnOriginRequest,
            None,
        ),
        (
            "X-Akamai-EdgeWorker-onOriginResponse-Info",
            EwEvent::OnOriginResponse,
            None,
        ),
        (
            "X-Akamai-EdgeWorker-onClientResponse-Info",
            EwEvent::OnClientResponse,
            None,
        ),
        (
            "X-Akamai-EdgeWorker-ResponseProvider-Info",
            EwEvent::ResponseProvider,
            None,
        ),
        (
            "x-akamai-edgeworker-onclientrequest-info",
            EwEvent::OnClientRequest,
            None,
        ),
        (
            "X-Akamai-EdgeWorker-onClientRequest-Info-10f5e61",
            EwEvent::OnClientRequest,
            Some("10f5e61"),
        ),
        (
            "x-akamai-edgeworker-onclientrequest-info-10f5d16.10f5e61",
            EwEvent::OnClientRequest,
            Some("10f5d16.10f5e61"),
        ),
    ];
    for (name, event, request_id) in cases {
        let parsed =
            parse_ew_info_header_name(name).unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(parsed.0, event, "event of {name}");
        assert_eq!(parsed.1.as_deref(), request_id, "request id of {name}");
    }
}

#[test]
fn header_name_invalid() {
    for name in [
        "Content-Type",
        "X-Akamai-EdgeWorker-onClientRequest-Log",
        "X-Akamai-EdgeWorker-onLunch-Info",
    ] {
        let error = parse_ew_info_header_name(name).expect_err(name);
        assert!(
            matches!(error, EdgeError::HeaderName { .. }),
            "{name}: {error}"
        );
    }
}

#[test]
fn header_named_sets_event() {
    let info = parse_ew_info_header_named(
        "X-Akamai-EdgeWorker-onClientRequest-Info-10f5e61",
        "ew=1147649205 vc14e39809f55f159475c12f9b06ba671_2:swparent; status=Success",
    )
    .expect("valid header");
    assert_eq!(info.event, Some(EwEvent::OnClientRequest));
    assert_eq!(info.request_id.as_deref(), Some("10f5e61"));
    assert_eq!(info.name.as_deref(), Some("swparent"));
}

// ---- Status vocabularies ----

#[test]
fn status_every_documented_value() {
    // Debug-header string, report API enum, DataStream 2 code, outcome.
    let cases: [(&str, &str, Option<u32>, EwOutcome); 13] = [
        ("Success", "success", Some(1), EwOutcome::Success),
        (
            "GenericError",
            "genericError",
            Some(2),
            EwOutcome::Failure(FailureKind::Script),
        ),
        (
            "UnknownEdgeWorker",
            "unknownEdgeWorkerId",
            Some(3),
            EwOutcome::Failure(FailureKind::Configuration),
        ),
        (
            "UnimplementedHandler",
            "unimplementedEventHandler",
            Some(4),
            EwOutcome::NotImplemented,
        ),
        (
            "RuntimeError",
            "runtimeError",
            Some(5),
            EwOutcome::Failure(FailureKind::Script),
        ),
        (
            "ExecutionError",
            "executionError",
            Some(6),
            EwOutcome::Failure(FailureKind::Script),
        ),
        (
            "TimeoutError",
            "timeoutError",
            Some(7),
            EwOutcome::Failure(FailureKind::Timeout),
        ),
        (
            "ResourceLimit",
            "resourceLimitHit",
            Some(8),
            EwOutcome::Failure(FailureKind::ResourceLimit),
        ),
        (
            "CpuTimeoutError",
            "cpuTimeoutError",
            Some(12),
            EwOutcome::Failure(FailureKind::Timeout),
        ),
        (
            "WallTimeoutError",
            "wallTimeoutError",
            Some(13),
            EwOutcome::Failure(FailureKind::Timeout),
        ),
        (
            "InitCpuTimeoutError",
            "initCpuTimeoutError",
            Some(14),
            EwOutcome::Failure(FailureKind::Timeout),
        ),
        (
            "InitWallTimeoutError",
            "initWallTimeoutError",
            Some(15),
            EwOutcome::Failure(FailureKind::Timeout),
        ),
        (
            "Failed",
            "Failed",
            None,
            EwOutcome::Failure(FailureKind::Unspecified),
        ),
    ];
    for (debug, report, code, outcome) in cases {
        let from_debug = EwStatus::from_name(debug);
        assert_eq!(
            from_debug,
            EwStatus::from_name(report),
            "{debug} vs {report}"
        );
        assert_eq!(from_debug.code(), code, "code of {debug}");
        assert_eq!(from_debug.outcome(), outcome, "outcome of {debug}");
        if let Some(code) = code {
            assert_eq!(
                EwStatus::from_code(code),
                from_debug,
                "status of code {code}"
            );
        }
    }
}

#[test]
fn status_unimplemented_event_handler_spelling() {
    assert_eq!(
        EwStatus::from_name("UnimplementedEventHandler"),
        EwStatus::UnimplementedHandler
    );
}

#[test]
fn status_execution_only_codes() {
    let cases = [
        (9, FailureKind::Platform),
        (10, FailureKind::Configuration),
        (11, FailureKind::Configuration),
        (16, FailureKind::Platform),
        (17, FailureKind::Configuration),
        (18, FailureKind::Configuration),
        (19, FailureKind::Configuration),
        (20, FailureKind::Platform),
        (21, FailureKind::Platform),
        (22, FailureKind::Configuration),
        (23, FailureKind::ResourceLimit),
        (99, FailureKind::Unspecified),
    ];
    for (code, kind) in cases {
        let status = EwStatus::from_code(code);
        assert_eq!(status.outcome(), EwOutcome::Failure(kind), "code {code}");
        assert_eq!(status.code(), Some(code), "code {code} round trip");
    }
}

#[test]
fn status_unknown_string_kept() {
    let status = EwStatus::from_name("BrandNewError");
    assert_eq!(status, EwStatus::Other("BrandNewError".to_owned()));
    assert!(status.is_failure());
}

// ---- ewUsageInfo ----

#[test]
fn usage_current_format() {
    let entries =
        parse_ew_usage_info("//4380/4.0/1/-/0/4/1-1/1/0/-/#1,2\\//4380/4.0/4/-/0/4/1-1/0/0/-/#0,0\\//4380/4.0/5/-/1/1/1-1/0/0/-/#0,0")
            .expect("documented example");
    assert_eq!(entries.len(), 3);
    let first = &entries[0];
    assert_eq!(first.ew_id, 4380);
    assert_eq!(first.version, "4.0");
    assert_eq!(first.event, Some(EwEvent::OnClientRequest));
    assert_eq!(first.off_reason, OffReason::On);
    assert!(!first.logic_executed);
    assert_eq!(first.status, Some(EwStatus::UnimplementedHandler));
    assert_eq!(first.revision.as_deref(), Some("1-1"));
    assert_eq!(first.over_log_limit, Some(true));
    assert_eq!(first.continue_on_error, Some(false));
    assert_eq!(first.bot_stage, None);
    assert_eq!(first.init_cpu_ms, Some(1.0));
    assert_eq!(first.init_wall_ms, Some(2.0));
    let last = &entries[2];
    assert_eq!(last.event, Some(EwEvent::ResponseProvider));
    assert!(last.logic_executed);
    assert_eq!(last.status, Some(EwStatus::Success));
}

#[test]
fn usage_older_formats() {
    let with_revision =
        parse_ew_usage_info("//4380/4.0/1/-/0/4/1-1/1/#1,2\\//4380/4.0/4/-/0/4/1-1/0/#0,0")
            .expect("revision format");
    assert_eq!(with_revision.len(), 2);
    assert_eq!(with_revision[0].continue_on_error, None);
    assert_eq!(with_revision[0].over_log_limit, Some(true));

    let oldest = parse_ew_usage_info("//4380/4.0/1/m/0/4/#0,0").expect("oldest format");
    assert_eq!(oldest[0].off_reason, OffReason::MetadataOff);
    assert_eq!(oldest[0].revision, None);
}

#[test]
fn usage_separator_without_backslash() {
    let entries =
        parse_ew_usage_info("//4380/4.0/1/-/1/6/-/0/1/-/#3,4//4380/4.0/4/-/0/4/-/0/1/-/#0,0")
            .expect("valid");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].status, Some(EwStatus::ExecutionError));
    assert_eq!(entries[0].continue_on_error, Some(true));
}

#[test]
fn usage_invalid_names_field() {
    let cases = [
        "4380/4.0/1",
        "//4380/4.0/1",
        "//x/4.0/1/-/0/4/#0,0",
        "//4380/4.0/9/-/0/4/#0,0",
        "//4380/4.0/1/-/2/4/#0,0",
    ];
    for text in cases {
        let error = parse_ew_usage_info(text).expect_err(text).to_string();
        assert!(error.contains("ewUsageInfo"), "{text}: {error}");
    }
}

// ---- ewExecutionInfo ----

#[test]
fn execution_documented_example() {
    let entries = parse_ew_execution_info(
        "c:4380:7:161:162:161:n:::12473:200:0::::|C:4380:3:0:4:0:n:::6967:200:0::::|R:4380:20:99:99:1:n:::35982:200:0::::",
    )
    .expect("documented example");
    assert_eq!(entries.len(), 3);
    let first = &entries[0];
    assert_eq!(first.stage, ExecutionStage::Event(EwEvent::OnClientRequest));
    assert_eq!(first.ew_id, 4380);
    assert_eq!(first.process_time_ms, Some(7.0));
    assert_eq!(first.total_time_ms, Some(161.0));
    assert_eq!(first.stage_time_ms, Some(162.0));
    assert_eq!(first.memory_kb, Some(161));
    assert_eq!(first.server_flow, ServerFlow::Normal);
    assert_eq!(first.error_status, None);
    assert_eq!(first.http_status_change, None);
    assert_eq!(first.tier, Some(ResourceTier::Dynamic));
    assert_eq!(
        entries[1].stage,
        ExecutionStage::Event(EwEvent::OnClientResponse)
    );
    assert_eq!(
        entries[2].stage,
        ExecutionStage::Event(EwEvent::ResponseProvider)
    );
}

#[test]
fn execution_respond_with_and_errors() {
    let entries = parse_ew_execution_info(
        "c:4242:3:5:6:120:n::403:1:280:0::::|o:4242:1:1:1:10:e:12::1:100:0",
    )
    .expect("valid");
    assert_eq!(entries[0].http_status_change, Some(403));
    assert_eq!(entries[0].tier, Some(ResourceTier::Enterprise));
    assert_eq!(
        entries[1].stage,
        ExecutionStage::Event(EwEvent::OnOriginRequest)
    );
    assert_eq!(entries[1].server_flow, ServerFlow::EdgeWorkerError);
    assert_eq!(entries[1].error_status, Some(EwStatus::CpuTimeoutError));
    assert_eq!(entries[1].tier, Some(ResourceTier::Basic));
}

#[test]
fn execution_stages() {
    let cases = [
        ("c", ExecutionStage::Event(EwEvent::OnClientRequest)),
        ("o", ExecutionStage::Event(EwEvent::OnOriginRequest)),
        ("O", ExecutionStage::Event(EwEvent::OnOriginResponse)),
        ("C", ExecutionStage::Event(EwEvent::OnClientResponse)),
        ("R", ExecutionStage::Event(EwEvent::ResponseProvider)),
        ("S", ExecutionStage::SubRequest),
        ("m", ExecutionStage::Missing),
    ];
    for (code, stage) in cases {
        let entries = parse_ew_execution_info(&format!("{code}:1:0:0:0:0:n")).expect(code);
        assert_eq!(entries[0].stage, stage, "stage {code}");
    }
}

#[test]
fn execution_invalid_names_field() {
    for text in [
        "c:4380:7",
        "c:x:7:161:162:161:n",
        "c:4380:7:161:162:161:n::4o3",
    ] {
        let error = parse_ew_execution_info(text).expect_err(text).to_string();
        assert!(error.contains("ewExecutionInfo"), "{text}: {error}");
    }
}

// ---- DataStream 2 records ----

#[test]
fn ds2_greptime_record() {
    let text = fixture("greptime.ds2.ndjson");
    let record = record(text.trim());
    assert_eq!(record.req_id.as_deref(), Some("246ae032"));
    assert_eq!(record.time.as_deref(), Some("2024-06-21T03:18:19.742Z"));
    assert_eq!(record.status, Some(206));
    assert_eq!(
        record.host.as_deref(),
        Some("upos-bstar1-mirrorakam.akamaized.net")
    );
    assert_eq!(
        record.path.as_deref(),
        Some("/iupxcodeboss/pj/hn/m210909a23h30ojqbk0iny3seyjnhnpj-1-211220110000.m4s")
    );
    assert_eq!(record.method.as_deref(), Some("GET"));
    assert_eq!(record.port, Some(80));
    assert_eq!(record.client_ip.as_deref(), Some("114.5.147.45"));
    assert_eq!(
        record.user_agent.as_deref(),
        Some("Bilibili Freedoooooom/MarkII")
    );
    assert_eq!(record.protocol.as_deref(), Some("HTTP/1.1"));
    assert_eq!(
        record.error_code.as_deref(),
        Some("ERR_CLIENT_ABORT|general")
    );
    assert_eq!(record.turnaround_ms, Some(142));
    assert_eq!(record.referer, None);
    assert_eq!(record.x_forwarded_for, None);
    assert_eq!(record.format_version.as_deref(), Some("5"));
    assert!(
        record
            .query
            .as_deref()
            .is_some_and(|query| query.contains("hdnts=exp=1640631032~hmac=")),
        "query not decoded: {:?}",
        record.query
    );
    assert!(
        record.problems.is_empty(),
        "problems: {:?}",
        record.problems
    );
}

#[test]
fn ds2_greptime_custom_field_verbatim() {
    let record = record(fixture("greptime.ds2.ndjson").trim());
    assert_eq!(record.custom_field.as_deref(), Some("114.4.168.240"));
    assert_eq!(record.custom, None);
}

#[test]
fn ds2_unknown_fields_kept() {
    let record = record(fixture("greptime.ds2.ndjson").trim());
    for key in ["objSize", "rspContentType", "range", "accLang"] {
        assert!(record.extra.contains_key(key), "missing {key}");
    }
}

#[test]
fn ds2_status_spellings() {
    let cases = [
        (r#"{"reqId": "a", "statusCode": "403"}"#, Some(403)),
        (r#"{"reqId": "a", "statusCode": 403}"#, Some(403)),
        (r#"{"reqId": "a", "statusCode": "-"}"#, None),
        (r#"{"reqId": "a", "statusCode": "^"}"#, None),
        (r#"{"reqId": "a", "statusCode": null}"#, None),
        (r#"{"reqId": "a"}"#, None),
        (r#"{"reqId": "a", "statusCode": "0"}"#, Some(0)),
    ];
    for (json, status) in cases {
        assert_eq!(record(json).status, status, "{json}");
    }
}

#[test]
fn ds2_placeholders_absent() {
    let record =
        record(r#"{"reqId": 246, "reqHost": "-", "cliIP": "^", "UA": null, "reqMethod": ""}"#);
    assert_eq!(record.req_id.as_deref(), Some("246"));
    assert_eq!(record.host, None);
    assert_eq!(record.client_ip, None);
    assert_eq!(record.user_agent, None);
    assert_eq!(record.method, None);
}

#[test]
fn ds2_request_time_forms() {
    let cases = [
        (
            r#"{"reqTimeSec": "1718939899.742"}"#,
            Some("2024-06-21T03:18:19.742Z"),
        ),
        (
            r#"{"reqTimeSec": 1718939899.742}"#,
            Some("2024-06-21T03:18:19.742Z"),
        ),
        (
            r#"{"reqTimeSec": "1718939899"}"#,
            Some("2024-06-21T03:18:19.000Z"),
        ),
        (
            r#"{"reqTimeSec": 1767225600}"#,
            Some("2026-01-01T00:00:00.000Z"),
        ),
        (r#"{"reqTimeSec": "-"}"#, None),
    ];
    for (json, time) in cases {
        assert_eq!(record(json).time.as_deref(), time, "{json}");
    }
}

#[test]
fn ds2_invalid_field_kept_as_problem() {
    let cases = [
        (r#"{"reqId": "a", "reqTimeSec": "yesterday"}"#, "reqTimeSec"),
        (r#"{"reqId": "a", "statusCode": "forbidden"}"#, "statusCode"),
        (r#"{"reqId": "a", "statusCode": 70000}"#, "statusCode"),
        (r#"{"reqId": "a", "reqPort": "http"}"#, "reqPort"),
        (r#"{"reqId": "a", "reqHost": ["a", "b"]}"#, "reqHost"),
        (r#"{"reqId": "a", "ewUsageInfo": "garbage"}"#, "ewUsageInfo"),
        (
            r#"{"reqId": "a", "ewExecutionInfo": "c:x"}"#,
            "ewExecutionInfo",
        ),
        (
            r#"{"reqId": "a", "customField": "ew_verdict=maybe"}"#,
            "customField ew_verdict",
        ),
    ];
    for (json, field) in cases {
        let record = record(json);
        assert_eq!(record.req_id.as_deref(), Some("a"), "{json}");
        assert_eq!(record.problems.len(), 1, "{json}: {:?}", record.problems);
        let message = record.problems[0].to_string();
        assert!(message.contains(field), "{json}: {message}");
    }
}

#[test]
fn ds2_url_decoding() {
    let record = record(
        r#"{"reqId": "a", "UA": "Mozilla/5.0%20(X11;%20Linux)+extra", "referer": "https%3A%2F%2Fshop.example.com%2Fcart", "queryStr": "q=a%20b&next=%2Fhome", "reqPath": "/api/orders", "breadcrumbs": "%5Bc=g,a=198.51.100.20%5D"}"#,
    );
    assert_eq!(
        record.user_agent.as_deref(),
        Some("Mozilla/5.0 (X11; Linux)+extra")
    );
    assert_eq!(
        record.referer.as_deref(),
        Some("https://shop.example.com/cart")
    );
    assert_eq!(record.query.as_deref(), Some("q=a b&next=/home"));
    assert_eq!(record.breadcrumbs.as_deref(), Some("[c=g,a=198.51.100.20]"));
    assert_eq!(
        record.path_with_query().as_deref(),
        Some("/api/orders?q=a b&next=/home")
    );
}

#[test]
fn ds2_bad_percent_escape_kept() {
    let record = record(r#"{"reqId": "a", "UA": "100%25 sure %zz %4"}"#);
    assert_eq!(record.user_agent.as_deref(), Some("100% sure %zz %4"));
}

#[test]
fn ds2_not_a_record() {
    let cases = [
        ("[1, 2]", "found an array"),
        ("\"text\"", "found a string"),
        (r#"{"hello": "world"}"#, "none of the DataStream 2 fields"),
    ];
    for (json, expected) in cases {
        let error = parse_ds2_json(json).expect_err(json);
        assert!(matches!(error, EdgeError::NotDs2(_)), "{json}: {error}");
        assert!(error.to_string().contains(expected), "{json}: {error}");
    }
}

#[test]
fn ds2_malformed_json() {
    let error = parse_ds2_json(r#"{"reqId": "a", "statusCode": 403"#).expect_err("unterminated");
    assert!(matches!(error, EdgeError::InvalidJson(_)), "{error}");
    assert!(error.to_string().contains("EOF while parsing"), "{error}");
}

#[test]
fn ds2_huge_record_rejected() {
    let huge = format!(
        r#"{{"reqId": "a", "UA": "{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    let error = parse_ds2_json(&huge).expect_err("over the limit");
    assert!(matches!(error, EdgeError::TooLarge { .. }), "{error}");
}

#[test]
fn ds2_large_record_parsed() {
    let user_agent = "%41".repeat(100_000);
    let record = record(&format!(
        r#"{{"reqId": "a", "UA": "{user_agent}", "customField": "{}"}}"#,
        "&".repeat(50_000)
    ));
    assert_eq!(record.user_agent.map(|text| text.len()), Some(100_000));
    assert_eq!(record.custom, None);
}

#[test]
fn ds2_deep_nesting_no_panic() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse_ds2_json(&deep).is_err());
    let batch = read_ds2(&deep);
    assert!(!batch.errors.is_empty());
}

// ---- customField identity ----

#[test]
fn custom_field_all_keys() {
    let (custom, problems) = parse_custom_field(
        "ew_verdict=deny&ew_reason=issuer+not+accepted&tok_loc=authorization%3ABearer&iss=https%3A%2F%2Fidp.example.com%2Frealms%2Fshop&sub=user-1&aud=orders-api%2Cbilling-api&tok_fp=sha256%3A0123456789abcdef&fwd=none&fail_open=0",
    );
    assert!(problems.is_empty(), "{problems:?}");
    let custom = custom.expect("convention keys present");
    assert_eq!(custom.verdict, Some(Decision::Deny));
    assert_eq!(custom.reason.as_deref(), Some("issuer not accepted"));
    assert_eq!(custom.forwarded.as_deref(), Some("none"));
    assert!(!custom.fail_open);
    let identity = custom.identity();
    assert_eq!(identity.token_present, Some(true));
    assert_eq!(
        identity.token_location.as_deref(),
        Some("authorization: Bearer")
    );
    assert_eq!(
        identity.issuer.as_deref(),
        Some("https://idp.example.com/realms/shop")
    );
    assert_eq!(identity.subject.as_deref(), Some("user-1"));
    assert_eq!(identity.audiences, ["orders-api", "billing-api"]);
    assert_eq!(
        identity.request_principal.as_deref(),
        Some("https://idp.example.com/realms/shop/user-1")
    );
    assert_eq!(
        identity.token_fingerprint.as_deref(),
        Some("sha256:0123456789abcdef")
    );
}

#[test]
fn custom_field_some_keys() {
    let (custom, problems) = parse_custom_field("iss=https%3A%2F%2Fidp.example.com&region=eu");
    assert!(problems.is_empty(), "{problems:?}");
    let custom = custom.expect("convention keys present");
    assert_eq!(custom.verdict, None);
    assert_eq!(custom.other.get("region").map(String::as_str), Some("eu"));
    let identity = custom.identity();
    assert_eq!(identity.token_present, Some(true));
    assert_eq!(identity.request_principal, None);
    assert_eq!(identity.token_location, None);
}

#[test]
fn custom_field_no_token() {
    let (custom, _) = parse_custom_field("ew_verdict=deny&ew_reason=no+token&tok_loc=none");
    let identity = custom.expect("convention keys present").identity();
    assert_eq!(identity.token_present, Some(false));
    assert_eq!(identity.token_location, None);
    assert!(identity.is_empty());
}

#[test]
fn custom_field_garbage() {
    let cases = ["114.4.168.240", "%%%&&==", "", "a=b&c=d", "ew_verdict"];
    for text in cases {
        let (custom, problems) = parse_custom_field(text);
        assert_eq!(custom, None, "{text}");
        assert!(problems.is_empty(), "{text}: {problems:?}");
    }
}

#[test]
fn custom_field_invalid_values() {
    let (custom, problems) = parse_custom_field("ew_verdict=perhaps&fail_open=yes&sub=user-1");
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].to_string().contains("perhaps"),
        "{}",
        problems[0]
    );
    assert!(
        problems[1].to_string().contains("fail_open"),
        "{}",
        problems[1]
    );
    assert_eq!(
        custom.and_then(|custom| custom.subject).as_deref(),
        Some("user-1")
    );
}

// ---- Edge verdict ----

/// A record, the verdict it must get, and a word the reason must contain.
struct VerdictCase {
    name: &'static str,
    json: &'static str,
    decision: Decision,
    decided_by: DecidedBy,
    fail_open: bool,
    reason_has: &'static str,
}

fn check_verdicts(cases: &[VerdictCase]) {
    for case in cases {
        let verdict = edge_verdict(&record(case.json));
        assert_eq!(verdict.decision, case.decision, "decision of {}", case.name);
        assert_eq!(
            verdict.decided_by, case.decided_by,
            "decided_by of {}",
            case.name
        );
        assert_eq!(
            verdict.fail_open, case.fail_open,
            "fail_open of {}",
            case.name
        );
        assert!(
            verdict.reason.contains(case.reason_has),
            "reason of {}: {}",
            case.name,
            verdict.reason
        );
    }
}

#[test]
fn verdict_from_custom_field() {
    check_verdicts(&[
        VerdictCase {
            name: "custom deny",
            json: r#"{"reqId": "a", "statusCode": 401, "customField": "ew_verdict=deny&ew_reason=token+expired"}"#,
            decision: Decision::Deny,
            decided_by: DecidedBy::Edgeworker,
            fail_open: false,
            reason_has: "token expired",
        },
        VerdictCase {
            name: "custom allow with origin 403",
            json: r#"{"reqId": "a", "statusCode": 403, "customField": "ew_verdict=allow"}"#,
            decision: Decision::Allow,
            decided_by: DecidedBy::Edgeworker,
            fail_open: false,
            reason_has: "allow",
        },
        VerdictCase {
            name: "custom error with 200",
            json: r#"{"reqId": "a", "statusCode": 200, "customField": "ew_verdict=error&ew_reason=jwks+fetch+failed"}"#,
            decision: Decision::Error,
            decided_by: DecidedBy::Edgeworker,
            fail_open: true,
            reason_has: "jwks fetch failed",
        },
        VerdictCase {
            name: "custom fail_open flag",
            json: r#"{"reqId": "a", "statusCode": 403, "customField": "fail_open=1&ew_reason=threw"}"#,
            decision: Decision::Error,
            decided_by: DecidedBy::Edgeworker,
            fail_open: true,
            reason_has: "threw",
        },
    ]);
}

#[test]
fn verdict_from_edgeworker_fields() {
    check_verdicts(&[
        VerdictCase {
            name: "403 with usage success only",
            json: r#"{"reqId": "a", "statusCode": 403, "ewUsageInfo": "//4242/1.0/1/-/1/1/-/0/0/-/#1,2"}"#,
            decision: Decision::Unknown,
            decided_by: DecidedBy::Other,
            fail_open: false,
            reason_has: "403",
        },
        VerdictCase {
            name: "respondWith 403",
            json: r#"{"reqId": "a", "statusCode": 403, "ewExecutionInfo": "c:4242:3:5:6:120:n::403:1:200:0::::"}"#,
            decision: Decision::Deny,
            decided_by: DecidedBy::Edgeworker,
            fail_open: false,
            reason_has: "respondWith",
        },
        VerdictCase {
            name: "execution without respondWith and 403",
            json: r#"{"reqId": "a", "statusCode": 403, "ewExecutionInfo": "c:4242:3:5:6:120:n:::1:200:0::::"}"#,
            decision: Decision::Allow,
            decided_by: DecidedBy::Edgeworker,
            fail_open: false,
            reason_has: "came from origin",
        },
        VerdictCase {
            name: "execution error with 200",
            json: r#"{"reqId": "a", "statusCode": 200, "ewExecutionInfo": "c:4242:3:5:6:120:e:6::1:200:0::::"}"#,
            decision: Decision::Error,
            decided_by: DecidedBy::Edgeworker,
            fail_open: true,
            reason_has: "ExecutionError",
        },
        VerdictCase {
            name: "usage error with 500",
            json: r#"{"reqId": "a", "statusCode": 500, "ewUsageInfo": "//4242/1.0/1/-/1/12/-/0/0/-/#1,2"}"#,
            decision: Decision::Error,
            decided_by: DecidedBy::Edgeworker,
            fail_open: false,
            reason_has: "CpuTimeoutError",
        },
        VerdictCase {
            name: "usage error continue on error",
            json: r#"{"reqId": "a", "statusCode": 403, "ewUsageInfo": "//4242/1.0/1/-/1/6/-/0/1/-/#1,2"}"#,
            decision: Decision::Error,
            decided_by: DecidedBy::Edgeworker,
            fail_open: true,
            reason_has: "fail open",
        },
        VerdictCase {
            name: "usage success with 200",
            json: r#"{"reqId": "a", "statusCode": 200, "ewUsageInfo": "//4242/1.0/1/-/1/1/-/0/0/-/#1,2"}"#,
            decision: Decision::Allow,
            decided_by: DecidedBy::Edgeworker,
            fail_open: false,
            reason_has: "without error",
        },
        VerdictCase {
            name: "EdgeWorkers off",
            json: r#"{"reqId": "a", "statusCode": 200, "ewUsageInfo": "//4242/1.0/1/m/0/-/-/0/0/-/#0,0"}"#,
            decision: Decision::Unknown,
            decided_by: DecidedBy::Other,
            fail_open: false,
            reason_has: "did not run",
        },
    ]);
}

#[test]
fn verdict_from_status_alone() {
    check_verdicts(&[
        VerdictCase {
            name: "403 with nothing else",
            json: r#"{"reqId": "a", "statusCode": 403}"#,
            decision: Decision::Unknown,
            decided_by: DecidedBy::Other,
            fail_open: false,
            reason_has: "origin statuses pass through",
        },
        VerdictCase {
            name: "401 with identity but no verdict",
            json: r#"{"reqId": "a", "statusCode": "401", "customField": "iss=https%3A%2F%2Fidp.example.com&sub=u"}"#,
            decision: Decision::Unknown,
            decided_by: DecidedBy::Other,
            fail_open: false,
            reason_has: "nothing in the record says",
        },
        VerdictCase {
            name: "200 without EdgeWorker fields",
            json: r#"{"reqId": "a", "statusCode": 200}"#,
            decision: Decision::Unknown,
            decided_by: DecidedBy::Other,
            fail_open: false,
            reason_has: "no EdgeWorker fields",
        },
        VerdictCase {
            name: "client abort",
            json: r#"{"reqId": "a", "statusCode": 0}"#,
            decision: Decision::Unknown,
            decided_by: DecidedBy::Other,
            fail_open: false,
            reason_has: "status 0",
        },
    ]);
}

// ---- Observation ----

#[test]
fn observe_edge_hop() {
    let mut record = record(
        r#"{"reqId": "1a2b3c4", "reqTimeSec": "1767225600.125", "statusCode": "403", "reqHost": "api.example.com", "reqPath": "/api/orders", "queryStr": "page=2", "reqMethod": "GET", "cliIP": "203.0.113.10", "ewUsageInfo": "//4242/1.0/1/-/1/1/-/0/0/-/#1,2", "ewExecutionInfo": "c:4242:3:5:6:120:n::403:1:200:0::::", "customField": "ew_verdict=deny&ew_reason=issuer+not+accepted&tok_loc=authorization%3ABearer&iss=https%3A%2F%2Fevil.example.com&fwd=none"}"#,
    );
    record.ew_name = Some("jwt-check".to_owned());
    let observation = record.observe();
    let hop = &observation.hop;
    assert_eq!(hop.kind, HopKind::Edge);
    assert_eq!(hop.location, "edge/ew 4242 jwt-check");
    assert_eq!(hop.time.as_deref(), Some("2026-01-01T00:00:00.125Z"));
    assert_eq!(hop.status, 403);
    assert_eq!(hop.decision, Decision::Deny);
    assert_eq!(hop.decided_by, DecidedBy::Edgeworker);
    assert_eq!(hop.reason.as_deref(), Some("issuer not accepted"));
    assert_eq!(
        hop.details.as_deref(),
        Some("ew_status=onClientRequest:Success; respond_with=403; fwd=none")
    );
    assert_eq!(
        hop.identity.issuer.as_deref(),
        Some("https://evil.example.com")
    );
    assert_eq!(observation.edge_request_id.as_deref(), Some("1a2b3c4"));
    assert_eq!(observation.request_id, None);
    assert_eq!(observation.method.as_deref(), Some("GET"));
    assert_eq!(observation.path.as_deref(), Some("/api/orders?page=2"));
    assert_eq!(observation.authority.as_deref(), Some("api.example.com"));
    assert_eq!(observation.client_ip.as_deref(), Some("203.0.113.10"));
}

#[test]
fn observe_fail_open_detail() {
    let record = record(
        r#"{"reqId": "a", "statusCode": 200, "ewExecutionInfo": "c:77:3:5:6:120:e:6::1:200:0::::"}"#,
    );
    let hop = record.observe().hop;
    assert_eq!(hop.location, "edge/ew 77");
    assert_eq!(hop.decision, Decision::Error);
    assert!(
        hop.details
            .as_deref()
            .is_some_and(|details| details.starts_with("fail_open=1")),
        "{:?}",
        hop.details
    );
}

#[test]
fn observe_minimal_record() {
    let observation = record(r#"{"reqId": "a"}"#).observe();
    assert_eq!(observation.hop.location, "edge");
    assert_eq!(observation.hop.status, 0);
    assert_eq!(observation.hop.details, None);
    assert_eq!(observation.path, None);
    assert!(observation.hop.identity.is_empty());
}

// ---- Whole files ----

#[test]
fn reader_mixed_file() {
    let batch = read_ds2(&fixture("mixed.ds2.ndjson"));
    let ids: Vec<_> = batch
        .records
        .iter()
        .map(|record| record.req_id.as_deref())
        .collect();
    assert_eq!(ids, [Some("1a2b3c4"), Some("1a2b3c6"), Some("1a2b3c7")]);
    let lines: Vec<usize> = batch.errors.iter().map(|error| error.line).collect();
    assert_eq!(lines, [3, 4, 5]);
    assert!(
        matches!(batch.errors[0].error, EdgeError::InvalidJson(_)),
        "{}",
        batch.errors[0]
    );
    assert!(
        batch.errors[0]
            .to_string()
            .starts_with("line 3: invalid JSON"),
        "{}",
        batch.errors[0]
    );
    assert!(
        matches!(batch.errors[1].error, EdgeError::NotDs2(_)),
        "{}",
        batch.errors[1]
    );
    assert!(
        batch.errors[2].to_string().contains("statusCode"),
        "{}",
        batch.errors[2]
    );
}

#[test]
fn reader_json_array() {
    let text = "[\n  {\"reqId\": \"a\", \"statusCode\": 200},\n  {\"reqId\": \"b\", \"note\": \"a , ] { in a string\"},\n  {\"reqId\": \"c\", \"statusCode\": },\n  {\"reqId\": \"d\"}\n]\n";
    let batch = read_ds2(text);
    let ids: Vec<_> = batch
        .records
        .iter()
        .map(|record| record.req_id.as_deref())
        .collect();
    assert_eq!(ids, [Some("a"), Some("b"), Some("d")]);
    assert_eq!(batch.errors.len(), 1, "{:?}", batch.errors);
    assert_eq!(batch.errors[0].line, 4);
}

#[test]
fn reader_array_per_line() {
    let batch = read_ds2("[{\"reqId\": \"a\"}, {\"reqId\": \"b\"}]\n\n[{\"reqId\": \"c\"}]\n");
    assert_eq!(batch.records.len(), 3);
    assert!(batch.errors.is_empty(), "{:?}", batch.errors);
}

#[test]
fn reader_unclosed_array() {
    let batch = read_ds2("[\n{\"reqId\": \"a\"},\n{\"reqId\": \"b\"}\n");
    assert_eq!(batch.records.len(), 0);
    assert_eq!(batch.errors.len(), 1);
    assert!(
        batch.errors[0].to_string().contains("not closed"),
        "{}",
        batch.errors[0]
    );
}

#[test]
fn reader_empty_input() {
    let batch = read_ds2("\n  \n");
    assert!(batch.records.is_empty());
    assert!(batch.errors.is_empty());
}

#[test]
fn reader_keeps_going_after_errors() {
    let mut text = String::new();
    for index in 0..50 {
        if index % 2 == 0 {
            text.push_str("{broken\n");
        } else {
            writeln!(text, "{{\"reqId\": \"r{index}\"}}").expect("writing to a String");
        }
    }
    let batch = read_ds2(&text);
    assert_eq!(batch.records.len(), 25);
    assert_eq!(batch.errors.len(), 25);
    assert_eq!(batch.errors[24].line, 49);
}
