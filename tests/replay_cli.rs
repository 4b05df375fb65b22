//! `idflow replay` on the committed demo recording, through the built binary.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn demo_folder() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/demo"))
}

fn replay(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_idflow"))
        .arg("replay")
        .args(args)
        .current_dir(demo_folder())
        .output()
        .expect("idflow could not be started")
}

/// Returns the demo's recorded `shop/orders` sidecar log.
fn demo_sidecar_log() -> String {
    std::fs::read_to_string(demo_folder().join("shop.orders.log")).expect("demo log")
}

/// Writes `text` as `shop.orders.log` in a new temporary folder named after `test_name`, and returns
/// the folder and the file.
fn write_sidecar_log(test_name: &str, text: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let folder =
        std::env::temp_dir().join(format!("idflow-replay-{test_name}-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temporary folder");
    let log = folder.join("shop.orders.log");
    std::fs::write(&log, text).expect("write log");
    (folder, log)
}

fn flows_from(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}"))
        })
        .collect()
}

#[test]
fn replay_demo_prints_one_flow_per_request() {
    let output = replay(&[
        "edge.ds2.ndjson",
        "istio-system.istio-ingressgateway.log",
        "shop.orders.log",
        "-o",
        "ndjson",
    ]);
    assert!(output.status.success(), "exit status {:?}", output.status);
    assert!(
        output.stderr.is_empty(),
        "unexpected notices: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let flows = flows_from(&output.stdout);
    let scenarios = support::read_scenarios(demo_folder());
    assert_eq!(flows.len(), scenarios.len());

    for scenario in &scenarios {
        let flow = flows
            .iter()
            .find(|flow| flow["id"] == scenario.req_id.as_str())
            .unwrap_or_else(|| panic!("no flow for {}", scenario.name));
        let kinds: Vec<&str> = flow["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["kind"].as_str())
            .collect();
        assert_eq!(
            kinds,
            support::expected_findings(&scenario.name),
            "{}",
            scenario.name
        );
        assert_eq!(
            flow["path"],
            scenario.path.as_str(),
            "{}: path",
            scenario.name
        );
    }
}

#[test]
fn replay_flow_has_contract_fields() {
    let output = replay(&[
        "shop.orders.log",
        "edge.ds2.ndjson",
        "istio-system.istio-ingressgateway.log",
        "-o",
        "ndjson",
    ]);
    let flows = flows_from(&output.stdout);
    let flow = flows.first().expect("at least one flow");
    for key in ["id", "correlated_by", "method", "path", "hops", "findings"] {
        assert!(flow.get(key).is_some(), "flow lacks {key}: {flow}");
    }
    let hop = &flow["hops"][0];
    for key in [
        "kind",
        "where",
        "status",
        "decision",
        "decided_by",
        "policy",
        "rule",
        "reason",
        "identity",
    ] {
        assert!(hop.get(key).is_some(), "hop lacks {key}: {hop}");
    }
    assert!(hop["status"].is_u64(), "status is not an integer: {hop}");
}

#[test]
fn replay_counts_unparsable_lines() {
    let recorded = demo_sidecar_log();
    let (folder, log) = write_sidecar_log("unparsable", &format!("{recorded}[not a log line\n"));

    let output = replay(&[log.to_str().expect("UTF-8 path"), "-o", "ndjson"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit status {:?}", output.status);
    assert!(
        stderr.contains("1 unparsable access log line (first at line"),
        "stderr: {stderr}"
    );
    assert_eq!(
        flows_from(&output.stdout).len(),
        recorded.lines().count(),
        "parsed lines still become flows"
    );
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn replay_reads_log_with_byte_order_mark() {
    let recorded = demo_sidecar_log();
    let (folder, log) = write_sidecar_log("bom", &format!("\u{FEFF}{recorded}"));

    let output = replay(&[log.to_str().expect("UTF-8 path"), "-o", "ndjson"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit status {:?}", output.status);
    assert!(!stderr.contains("skipped"), "stderr: {stderr}");
    assert!(!stderr.contains("unparsable"), "stderr: {stderr}");
    assert_eq!(
        flows_from(&output.stdout).len(),
        recorded.lines().count(),
        "every line, the first included, becomes a flow"
    );
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn replay_missing_file_exits_2() {
    let output = replay(&["no-such-file.log", "-o", "ndjson"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-file.log"));
}

#[test]
fn replay_keeps_file_with_bad_utf8() {
    let folder = std::env::temp_dir().join(format!("idflow-replay-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temporary folder");
    let log = folder.join("shop.orders.log");
    let mut bytes = std::fs::read(demo_folder().join("shop.orders.log")).expect("demo log");
    let recorded_lines = String::from_utf8_lossy(&bytes).lines().count();
    bytes.extend_from_slice(b"[2026-12-04T22:25:30.101Z] \"GET /x HTTP/1.1\" 200 - via_upstream - \"-\" 0 1 1 1 \"-\" \"ag\xe9nt\" \"id-1\" \"h\" \"-\" - - 1.1.1.1:1 2.2.2.2:2 - - \"-\" \"-\" \"-\" -\n");
    std::fs::write(&log, bytes).expect("write log");

    let output = replay(&[log.to_str().expect("UTF-8 path"), "-o", "ndjson"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit status {:?}: {stderr}",
        output.status
    );
    assert!(stderr.contains("not UTF-8"), "stderr: {stderr}");
    assert_eq!(flows_from(&output.stdout).len(), recorded_lines + 1);
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn replay_reads_a_file_once() {
    let output = replay(&["shop.orders.log", "shop.orders.log", "-o", "ndjson"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("given more than once"), "stderr: {stderr}");
    for flow in flows_from(&output.stdout) {
        assert_eq!(flow["hops"].as_array().map(Vec::len), Some(1), "{flow}");
    }
}

#[test]
fn replay_json_is_one_array() {
    let output = replay(&["shop.orders.log", "-o", "json"]);
    let value: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert!(
        value.as_array().is_some_and(|flows| !flows.is_empty()),
        "{value}"
    );
}

#[test]
fn replay_text_names_findings() {
    let output = replay(&[
        "edge.ds2.ndjson",
        "istio-system.istio-ingressgateway.log",
        "shop.orders.log",
        "-o",
        "text",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("identity-dropped"), "{stdout}");
    assert!(stdout.contains("forwardOriginalToken"), "{stdout}");
}

#[test]
fn replay_bounds_flows_and_says_so() {
    let output = replay(&["shop.orders.log", "--max-flows", "2", "-o", "ndjson"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(flows_from(&output.stdout).len(), 2);
    assert!(
        stderr.contains("kept the newest 2 flows and dropped 4 older;"),
        "stderr: {stderr}"
    );
}

#[test]
fn replay_whole_demo_folder() {
    let mut names: Vec<String> = std::fs::read_dir(demo_folder())
        .expect("demo folder")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut args: Vec<&str> = names.iter().map(String::as_str).collect();
    args.extend(["-o", "ndjson"]);

    let output = replay(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let scenarios = support::read_scenarios(demo_folder());
    assert!(output.status.success(), "exit status {:?}", output.status);
    assert_eq!(
        flows_from(&output.stdout).len(),
        scenarios.len(),
        "stderr: {stderr}"
    );
    for other in ["README.md", "policies.yaml", "scenarios.json"] {
        assert!(
            stderr.contains(&format!("{other}: skipped")),
            "{other} not skipped: {stderr}"
        );
    }
}

#[test]
fn replay_max_flows_zero_rejected() {
    let log = demo_folder().join("shop.orders.log");
    let log = log.to_str().expect("UTF-8 path");
    let output = replay(&[log, "-o", "ndjson", "--max-flows", "0"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("at least 1"), "{stderr}");
}

/// Creates an empty folder under the system temporary folder for one test.
fn scratch_folder(name: &str) -> std::path::PathBuf {
    let folder = std::env::temp_dir().join(format!("idflow-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("scratch folder");
    folder
}

/// Returns the first line of the demo's `shop/orders` access log.
fn first_demo_orders_line() -> String {
    std::fs::read_to_string(demo_folder().join("shop.orders.log"))
        .expect("demo log")
        .lines()
        .next()
        .expect("a first line")
        .to_owned()
}

#[test]
fn replay_merges_a_log_given_twice() {
    let folder = scratch_folder("twice");
    let copy = folder.join("shop.orders.log");
    std::fs::copy(demo_folder().join("shop.orders.log"), &copy).expect("copy of the demo log");
    let lines = std::fs::read_to_string(&copy)
        .expect("demo log")
        .lines()
        .filter(|line| !line.trim().is_empty())
        .count();

    let output = replay(&[
        "edge.ds2.ndjson",
        "istio-system.istio-ingressgateway.log",
        "shop.orders.log",
        copy.to_str().expect("UTF-8 path"),
        "-o",
        "ndjson",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let alone = replay(&[
        "edge.ds2.ndjson",
        "istio-system.istio-ingressgateway.log",
        "shop.orders.log",
        "-o",
        "ndjson",
    ]);

    assert!(output.status.success(), "exit status {:?}", output.status);
    assert_eq!(flows_from(&output.stdout), flows_from(&alone.stdout));
    assert!(
        stderr.contains(&format!("{lines} duplicate access log records merged")),
        "stderr: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn replay_of_identical_lines_is_one_hop() {
    let folder = scratch_folder("identical");
    let line = first_demo_orders_line();
    let log = folder.join("shop.orders.log");
    std::fs::write(&log, format!("{line}\n").repeat(3_000)).expect("log written");

    let output = replay(&[log.to_str().expect("UTF-8 path"), "-o", "ndjson"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let flows = flows_from(&output.stdout);

    assert!(output.status.success(), "exit status {:?}", output.status);
    assert_eq!(flows.len(), 1, "stderr: {stderr}");
    assert_eq!(flows[0]["hops"].as_array().map(Vec::len), Some(1));
    assert!(
        stderr.contains("2999 duplicate access log records merged"),
        "stderr: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn replay_caps_hops_of_one_request_id_and_says_so() {
    let folder = scratch_folder("one-id");
    let line = first_demo_orders_line();
    // The same request at 100 different start times: 100 distinct records sharing all ids.
    let text: String = (0..100)
        .map(|index| {
            line.replacen("30.101Z", &format!("{:02}.{:03}Z", index / 10, index), 1) + "\n"
        })
        .collect();
    let log = folder.join("shop.orders.log");
    std::fs::write(&log, text).expect("log written");

    let output = replay(&[log.to_str().expect("UTF-8 path"), "-o", "ndjson"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let flows = flows_from(&output.stdout);

    assert_eq!(flows.len(), 1, "stderr: {stderr}");
    assert_eq!(
        flows[0]["hops"].as_array().map(Vec::len),
        Some(idflow::flow::MAX_HOPS_PER_FLOW)
    );
    assert!(
        stderr.contains(&format!(
            "{} records dropped from flows that already had {} hops",
            100 - idflow::flow::MAX_HOPS_PER_FLOW,
            idflow::flow::MAX_HOPS_PER_FLOW
        )),
        "stderr: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn replay_hides_token_of_unparsable_line() {
    // A JWT-shaped value in the field the demo format logs as `Bearer ` only, so the line no
    // longer fits and is quoted in the notice.
    let (token, segments) = support::jwt_shaped("replay-hidden-subject");
    let recorded = first_demo_orders_line();
    let leaked = recorded.replacen(" \"-\" {", &format!(" \"Bearer {token}\" {{"), 1);
    assert_ne!(
        leaked, recorded,
        "the demo line has no empty authorization field"
    );
    let (folder, log) = write_sidecar_log("hidden-token", &format!("{leaked}\n"));
    let log_file = folder.join("idflow.log");

    let output = replay(&[
        log.to_str().expect("UTF-8 path"),
        "-o",
        "ndjson",
        "--log-file",
        log_file.to_str().expect("UTF-8 path"),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let logged = std::fs::read_to_string(&log_file).expect("debug log written");

    assert!(output.status.success(), "exit status {:?}", output.status);
    assert!(
        stderr.contains("1 unparsable access log line"),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("[token hidden]"), "stderr: {stderr}");
    assert!(logged.contains("[token hidden]"), "debug log: {logged}");
    for segment in &segments {
        assert!(
            !stderr.contains(&segment[..12]),
            "stderr shows a token segment: {stderr}"
        );
        assert!(
            !logged.contains(&segment[..12]),
            "debug log shows a token segment"
        );
    }
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn replay_warns_of_logged_tokens() {
    // A JSON access log whose format logs the whole Authorization header.
    let (token, segments) = support::jwt_shaped("replay-logged-subject");
    let lines: Vec<String> = (0..3)
        .map(|index| {
            support::json_line_logging_token(
                &format!("2026-12-04T22:25:3{index}.000Z"),
                &format!("logged-token-{index}"),
                &token,
            )
        })
        .collect();
    let (folder, log) = write_sidecar_log("logged-token", &(lines.join("\n") + "\n"));

    let output = replay(&[log.to_str().expect("UTF-8 path"), "-o", "ndjson"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);

    assert!(output.status.success(), "exit status {:?}", output.status);
    assert!(
        stderr.contains("3 access log lines logged the whole Authorization header, token included"),
        "stderr: {stderr}"
    );
    assert!(
        stderr.contains("%REQ(AUTHORIZATION):7%"),
        "stderr: {stderr}"
    );
    let flows = flows_from(&output.stdout);
    assert_eq!(flows.len(), 3, "stdout: {stdout}");
    for flow in &flows {
        assert_eq!(
            flow["hops"][0]["identity"]["token_location"], "authorization: Bearer",
            "{flow}"
        );
    }
    for segment in &segments {
        assert!(
            !stderr.contains(&segment[..12]),
            "stderr shows a token segment: {stderr}"
        );
        assert!(
            !stdout.contains(&segment[..12]),
            "stdout shows a token segment"
        );
    }
    let _ = std::fs::remove_dir_all(&folder);
}

#[test]
fn replay_missing_policy_file_fails() {
    let output = replay(&[
        "shop.orders.log",
        "--policies",
        "no-such-policies.yaml",
        "-o",
        "ndjson",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-policies.yaml"), "stderr: {stderr}");
    assert!(output.stdout.is_empty(), "flows printed after the error");
}

#[test]
fn closed_stdout_ends_quietly() {
    use std::io::{BufRead as _, BufReader};
    use std::process::Stdio;

    // 5,000 flows, far more than a pipe buffer takes, so idflow is still writing when the pipe closes.
    let line = demo_sidecar_log()
        .lines()
        .next()
        .expect("a demo line")
        .to_owned();
    let text: String = (0..5_000)
        .map(|index| {
            line.replace(
                "d77482c6-8692-40bf-b041-fd7e3faa0ee8",
                &format!("d77482c6-8692-40bf-b041-{index:012}"),
            )
            .replace("\"3e57c0a3\"", &format!("\"{index:08x}\""))
                + "\n"
        })
        .collect();
    let (_, log) = write_sidecar_log("closed-stdout", &text);
    let mut child = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .arg("replay")
        .arg(&log)
        .args(["-o", "text"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("idflow replay starts");
    // Read one line and close the pipe, as `| head -1` does.
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut first)
        .expect("a first line");
    assert!(!first.is_empty());
    let output = child.wait_with_output().expect("idflow replay ends");
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "",
        "nothing on standard error"
    );
    assert_eq!(output.status.code(), Some(0));
}
