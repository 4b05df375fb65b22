//! Black-box checks of three changes. The `idflow` executable runs a single decode itself and
//! hands every other command line to `idflow-full`. `idflow check` and the Token view's what-if
//! rows label releases of Istio's gateway chart. The edge column notes the mesh's 401. Tests marked `finding` describe behaviour that differs from Envoy or from the docs. The
//! tests named `envoy_…` need Envoy (`ENVOY` or scripts/test.sh).

mod envoy_harness;
#[path = "what_if/mint.rs"]
mod mint;
mod support;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use envoy_harness::envoy;
use serde_json::Value;

const FRONT: &str = env!("CARGO_BIN_EXE_idflow");
const FULL: &str = env!("CARGO_BIN_EXE_idflow-full");

/// Returns a new empty folder for this test run.
fn scratch(label: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "tester-front-{}-{}-{label}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("temporary folder");
    folder
}

fn path_text(path: &Path) -> String {
    path.to_str().expect("UTF-8 path").to_owned()
}

/// Exit status, standard output and standard error of one run.
type Outcome = (Option<i32>, Vec<u8>, Vec<u8>);

/// Runs `program` with `args` and `input` on standard input.
fn run_with_input(program: &str, args: &[&str], input: &[u8]) -> Outcome {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{program} starts: {error}"));
    let written = child.stdin.take().expect("stdin is piped").write_all(input);
    if let Err(error) = written {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
    }
    let output = child.wait_with_output().expect("program runs");
    (output.status.code(), output.stdout, output.stderr)
}

/// Returns an RS256 token of [`mint::ISSUER`] signed by [`mint::key`], valid until 2100, with
/// the extra payload `members` written as given.
fn minted(members: &str) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let header = format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{}"}}"#, mint::KID);
    let payload = format!(
        r#"{{"iss":"{}","sub":"alice","exp":4102444800{members}}}"#,
        mint::ISSUER
    );
    mint::sign(
        mint::key(),
        &URL_SAFE_NO_PAD.encode(header),
        &URL_SAFE_NO_PAD.encode(payload),
    )
}

// ---------------------------------------------------------------------------------------------
// The two executables
// ---------------------------------------------------------------------------------------------

/// Command lines beyond tests/front.rs give both executables the same exit status, standard
/// output and standard error. They cover options after the token, `--`, `=` and attached values,
/// files, standard input with `-` and `Bearer -`, and --batch on standard input. Options before
/// the subcommand, a repeated option, global options after the subcommand and usage errors too.
#[test]
fn front_full_alike_more_lines() {
    let token = minted("");
    let folder = scratch("alike");
    let file = folder.join("token.txt");
    std::fs::write(&file, format!("{token}\n")).expect("token file");
    let file = path_text(&file);
    let log = path_text(&folder.join("debug.log"));
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/edge.sample.toml");
    let profile = path_text(&profile);
    let at = "--at=2030-01-01T00:00:00Z";
    let stdin_token = token.as_bytes();
    let two_lines = format!("{token}\nnot a token\n");

    let cases: Vec<(Vec<&str>, &[u8])> = vec![
        (vec!["decode", at, &token, "-o", "json"], b""),
        (vec!["decode", at, "--", &token], b""),
        (vec!["decode", at, "--output=json", &token], b""),
        (vec!["decode", at, "-ojson", &token], b""),
        (vec!["decode", at, "-o", "yaml", &token], b""),
        (vec!["decode", at, &file], b""),
        (vec!["decode", at, "-"], stdin_token),
        (vec!["decode", at], stdin_token),
        (vec!["decode", at, "Bearer", "-"], stdin_token),
        (vec!["decode", at, "--batch", "-"], two_lines.as_bytes()),
        (vec!["decode", at, "--", "-o"], b""),
        (vec!["decode", "--at=-5", &token], b""),
        (
            vec!["decode", at, "--show-secrets", "--show-secrets", &token],
            b"",
        ),
        (
            vec![
                "decode",
                at,
                "--edge-profile",
                &profile,
                "--edge-profile",
                &profile,
                &token,
            ],
            b"",
        ),
        (
            vec![
                "--edge-profile",
                &profile,
                "decode",
                at,
                "--edge-profile",
                &profile,
                &token,
            ],
            b"",
        ),
        (vec!["--theme", "light", "decode", at, &token], b""),
        (vec!["--context", "prod", "decode", at, &token], b""),
        (vec!["decode", at, "--log-file", &log, &token], b""),
        (vec!["decode", "--secret", "wrong", at, &token], b""),
        (vec!["help", "decode"], b""),
        (vec!["decode", "-V"], b""),
        (vec!["decode", ""], b""),
        (vec!["dec", &token], b""),
    ];
    for (args, input) in &cases {
        let front = run_with_input(FRONT, args, input);
        let full = run_with_input(FULL, args, input);
        let line = args.join(" ");

        assert_eq!(front.0, full.0, "exit status of {line:.80}");
        assert_eq!(front.1, full.1, "standard output of {line:.80}");
        assert_eq!(front.2, full.2, "standard error of {line:.80}");
    }
}

/// A closed standard output or standard error changes neither executable's exit status, and
/// both give the same one.
#[test]
fn front_full_alike_closed_streams() {
    let token = minted("");
    for redirect in [">&-", "2>&-", ">&- 2>&-"] {
        for args in [format!("decode {token}"), "decode not-a-token".to_owned()] {
            let status = |program: &str| {
                Command::new("sh")
                    .arg("-c")
                    .arg(format!("exec \"$0\" {args} {redirect}"))
                    .arg(program)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .expect("sh runs")
                    .code()
            };

            assert_eq!(status(FRONT), status(FULL), "{redirect} {args:.20}");
        }
    }
}

/// A signal that ends `idflow decode -` while it waits for standard input ends both executables
/// the same way, by that signal.
#[test]
fn front_full_alike_on_signals() {
    use std::os::unix::process::ExitStatusExt as _;

    for signal in ["TERM", "INT", "HUP"] {
        let ended_by = |program: &str| {
            let mut child = Command::new(program)
                .args(["decode", "-"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("program starts");
            std::thread::sleep(std::time::Duration::from_millis(200));
            let sent = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string())
                .status()
                .expect("kill runs");
            assert!(sent.success(), "kill -{signal}");
            child.wait().expect("program ends").signal()
        };

        let front = ended_by(FRONT);

        assert!(front.is_some(), "SIG{signal} ends idflow");
        assert_eq!(front, ended_by(FULL), "SIG{signal}");
    }
}

/// A symbolic link to `idflow` in another folder still finds `idflow-full` next to the target,
/// because the kernel's `/proc/self/exe` names the target.
#[test]
fn front_symlink_hands_over() {
    let folder = scratch("symlink");
    let link = folder.join("idflow");
    std::os::unix::fs::symlink(FRONT, &link).expect("symbolic link");

    let (code, stdout, stderr) = run_with_input(&path_text(&link), &["--version"], b"");

    assert_eq!(code, Some(0), "{}", String::from_utf8_lossy(&stderr));
    assert_eq!(stdout, run_with_input(FULL, &["--version"], b"").1);
}

/// An `idflow-full` that cannot be run gives exit 2 and a message naming it and the error, while
/// a single decode still runs.
#[test]
fn front_names_unrunnable_full() {
    use std::os::unix::fs::PermissionsExt as _;

    let folder = scratch("no-exec");
    let front = folder.join("idflow");
    let full = folder.join("idflow-full");
    std::fs::copy(FRONT, &front).expect("copy of idflow");
    std::fs::copy(FULL, &full).expect("copy of idflow-full");
    std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let front = path_text(&front);

    let (code, _, stderr) = run_with_input(&front, &["--version"], b"");
    let stderr = String::from_utf8_lossy(&stderr);
    let decode = run_with_input(&front, &["decode", &minted("")], b"");

    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&path_text(&full)), "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert_eq!(decode.0, Some(0));
}

// ---------------------------------------------------------------------------------------------
// The edge column's note of the mesh's 401
// ---------------------------------------------------------------------------------------------

/// Returns `Authorization` values of a valid minted token with whitespace inside its header
/// segment, as (label, value).
fn whitespace_values() -> Vec<(&'static str, String)> {
    let token = minted("");
    let (head, rest) = token.split_at(10);
    vec![("space inside", format!("Bearer {head} {rest}"))]
}

/// Returns `Authorization` values with text around a minted token that Envoy's `jwt_authn` reads
/// along with it, as (label, value). The text is after a valid token, quotes around it, the
/// scheme written twice, or a leading `.` before a token whose `nbf` is a string.
fn text_around_values() -> Vec<(&'static str, String)> {
    let token = minted("");
    vec![
        ("text after", format!("Bearer {token} junk")),
        ("quotes around", format!("Bearer \"{token}\"")),
        ("scheme twice", format!("Bearer Bearer {token}")),
        (
            "leading dot, nbf string",
            format!("Bearer .{}", minted(r#","nbf":"1""#)),
        ),
    ]
}

/// Returns the `Authorization` value of a minted token whose `aud` is a number.
fn audience_number_value() -> (&'static str, String) {
    ("aud number", format!("Bearer {}", minted(r#","aud":5"#)))
}

/// Returns the 401 status text that decode's `mesh_rejects_format` problem names for `value`.
fn decode_mesh_status(json: &Value) -> Option<String> {
    json["problems"]
        .as_array()?
        .iter()
        .find(|problem| problem["code"] == "mesh_rejects_format")?["message"]
        .as_str()?
        .split_once("401 `")?
        .1
        .split_once('`')
        .map(|(status, _)| status.to_owned())
}

/// Writes an edge profile whose EdgeWorker verifies with the minted key, and returns its path.
fn keyed_profile(folder: &Path) -> String {
    let jwks = folder.join("jwks.json");
    std::fs::write(&jwks, mint::jwks()).expect("JWKS file");
    let profile = folder.join("edge.toml");
    std::fs::write(&profile, format!("[keys]\njwks = {:?}\n", path_text(&jwks))).expect("profile");
    path_text(&profile)
}

/// Returns the filters `idflow envoy-config` writes for shop/orders under a RequestAuthentication
/// of [`mint::ISSUER`] with the minted key inline.
fn request_authentication_filters(port: u16) -> Vec<Value> {
    let folder = scratch("ra");
    let policy = folder.join("ra.yaml");
    let jwks = mint::jwks().replace('\'', "''");
    std::fs::write(
        &policy,
        format!(
            "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\n\
             metadata: {{name: jwt, namespace: shop}}\n\
             spec:\n  selector: {{matchLabels: {{app: orders}}}}\n  \
             jwtRules:\n  - issuer: {}\n    jwks: '{jwks}'\n",
            mint::ISSUER
        ),
    )
    .expect("policy file");
    config_filters("shop/orders", &policy, port)
}

/// Returns the HTTP filters `idflow envoy-config` writes for `workload` on `port` under the
/// policies in `policy`.
fn config_filters(workload: &str, policy: &Path, port: u16) -> Vec<Value> {
    let args = [
        "--workload".to_owned(),
        workload.to_owned(),
        "--port".to_owned(),
        port.to_string(),
        "-f".to_owned(),
        path_text(policy),
    ];
    envoy_harness::idflow::envoy_config(&args)
        .unwrap_or_else(|error| panic!("envoy-config failed: {error}"))
        .http_filters
}

/// Sends a GET of `path` through an Envoy with the filters envoy-config writes for `workload`
/// (`NAMESPACE/NAME`) under `policy`, and returns `STATUS DETAILS` and the port Envoy listened on.
fn workload_status(workload: &str, policy: &Path, path: &str) -> (String, String) {
    let port = envoy::free_port();
    let (namespace, name) = workload.split_once('/').expect("NAMESPACE/NAME");
    let statuses = envoy_harness::http_statuses(
        config_filters(workload, policy, port),
        port,
        &format!("{name}.{namespace}.svc.cluster.local:{port}"),
        &format!("spiffe://cluster.local/ns/{namespace}/sa/{name}"),
        &[(path, Vec::new())],
    );
    let status = statuses.into_iter().next().expect("one status");
    (status, port.to_string())
}

/// Envoy 1.40 responds to each value of the tests below with 401 and the status that decode's
/// `mesh_rejects_format` problem names, so decode's own reading finds that the mesh rejects the token.
#[test]
fn envoy_rejects_noted_tokens() {
    let mut values = whitespace_values();
    values.extend(text_around_values());
    values.push(audience_number_value());
    let port = envoy::free_port();
    let requests: Vec<(&str, Vec<(String, String)>)> = values
        .iter()
        .map(|(_, value)| ("/", vec![("Authorization".to_owned(), value.clone())]))
        .collect();
    let statuses = envoy_harness::http_statuses(
        request_authentication_filters(port),
        port,
        &format!("orders.shop.svc.cluster.local:{port}"),
        "spiffe://cluster.local/ns/shop/sa/orders",
        &requests,
    );

    for ((label, value), envoy_status) in values.iter().zip(&statuses) {
        let (_, json) = support::decode_json(&format!("Authorization: {value}"), &[]);
        let status = decode_mesh_status(&json)
            .unwrap_or_else(|| panic!("{label}: no mesh_rejects_format problem: {json}"));
        let expected = format!(
            "401 jwt_authn_access_denied{{{}}}",
            status.replace(' ', "_")
        );

        assert_eq!(envoy_status, &expected, "{label}");
    }
}

/// Returns the labels of `values` whose edge column, under the edge profile `profile`, lacks the
/// note of the mesh's 401 with the status decode's own reading gives.
fn labels_without_note(values: &[(&'static str, String)], profile: &str) -> Vec<&'static str> {
    let mut missing = Vec::new();
    for (label, value) in values {
        let (_, json) = support::decode_json(
            &format!("Authorization: {value}"),
            &["--edge-profile", profile],
        );
        let status = decode_mesh_status(&json).expect("a mesh_rejects_format problem");
        if !json["edge"]["notes"]
            .to_string()
            .contains(&format!("401 `{status}`"))
        {
            missing.push(*label);
        }
    }
    missing
}

/// The edge column notes the mesh's 401 whenever decode's own reading finds that Envoy's
/// jwt_authn rejects the token. For whitespace inside the token that reading is `Jwt verification
/// fails`.
#[test]
fn edge_notes_whitespace_inside() {
    let folder = scratch("whitespace");
    let missing = labels_without_note(&whitespace_values(), &keyed_profile(&folder));

    assert_eq!(missing, Vec::<&str>::new(), "values without the note");
}

/// For text that Envoy's jwt_authn reads along with the token, decode's reading gives the 401, and
/// the edge column notes it also for a profile whose scheme matches exactly, like the sample's
/// `Bearer `.
#[test]
fn edge_notes_text_around() {
    let folder = scratch("around");
    let missing = labels_without_note(&text_around_values(), &keyed_profile(&folder));

    assert_eq!(missing, Vec::<&str>::new(), "values without the note");
}

/// An EdgeWorker that fails on its key source and continues on error lets the request go on, so
/// the mesh's 401 matters most there, and its note stays.
#[test]
fn edge_notes_fail_open() {
    let folder = scratch("fail-open");
    let jwks = folder.join("empty.json");
    std::fs::write(&jwks, r#"{"keys":[]}"#).expect("JWKS file");
    let profile = folder.join("open.toml");
    std::fs::write(
        &profile,
        format!(
            "[keys]\njwks = {:?}\n[response]\nfail_open = true\n",
            path_text(&jwks)
        ),
    )
    .expect("profile");
    let (_, json) = support::decode_json(
        &format!("Authorization: {}", audience_number_value().1),
        &["--edge-profile", &path_text(&profile)],
    );

    assert_eq!(json["edge"]["verdict"], "fail_open", "{json}");
    let missing = labels_without_note(&[audience_number_value()], &path_text(&profile));
    assert_eq!(missing, Vec::<&str>::new(), "values without the note");
}

/// The note is given once, for a claim type fault and for `alg` none accepted at the edge.
#[test]
fn edge_note_given_once() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let folder = scratch("once");
    let none_profile = folder.join("none.toml");
    std::fs::write(&none_profile, "[checks]\nalgorithms = [\"NONE\"]\n").expect("profile");
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(r#"{"sub":"alice"}"#)
    );
    let cases = [
        (
            format!("Bearer {}", minted(r#","aud":5"#)),
            keyed_profile(&folder),
        ),
        (format!("Bearer {unsigned}"), path_text(&none_profile)),
    ];
    for (value, profile) in &cases {
        let (_, json) = support::decode_json(value, &["--edge-profile", profile]);
        let notes: Vec<&str> = json["edge"]["notes"]
            .as_array()
            .expect("edge notes")
            .iter()
            .filter_map(Value::as_str)
            .filter(|note| note.contains("401"))
            .collect();

        assert_eq!(notes.len(), 1, "{notes:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Gateway chart release labels
// ---------------------------------------------------------------------------------------------

/// Returns an AuthorizationPolicy document of `namespace` with `selector` (inline YAML) that
/// applies `action` to the path `/a`.
fn selector_policy(name: &str, namespace: &str, selector: &str, action: &str) -> String {
    format!(
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n\
         metadata: {{name: {name}, namespace: {namespace}}}\n\
         spec:\n  selector: {{matchLabels: {selector}}}\n  action: {action}\n  \
         rules: [{{to: [{{operation: {{paths: [/a]}}}}]}}]\n"
    )
}

/// Returns check's verdict for a GET of `/a` on `workload`, with `args` added.
fn check_verdict(workload: &str, policy: &Path, args: &[&str]) -> Value {
    let output = Command::new(FRONT)
        .args([
            "check",
            "-o",
            "json",
            "--path",
            "/a",
            "--workload",
            workload,
            "-f",
        ])
        .arg(policy)
        .args(args)
        .output()
        .expect("idflow runs");
    let verdict: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "check printed no JSON ({error}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    verdict
}

/// Selectors on the chart's labels, as (namespace, inline YAML `matchLabels`, action), each on
/// the path `/a`, across the release's namespace, another namespace and the root namespace.
const MIX_SELECTORS: [(&str, &str, &str); 6] = [
    ("gw-ns", "{istio: my-gw}", "DENY"),
    ("istio-system", "{istio: my-gw}", "DENY"),
    ("gw-ns", "{app: my-gw}", "ALLOW"),
    ("other", "{app: my-gw}", "ALLOW"),
    ("gw-ns", "{app: istio-my-gw}", "ALLOW"),
    ("gw-ns", "{istio: my-gw, version: v2}", "DENY"),
];

/// Writes the policies of [`MIX_SELECTORS`] whose bit is set in `mask` to one file.
fn mix_file(folder: &Path, mask: u32) -> PathBuf {
    let documents: Vec<String> = MIX_SELECTORS
        .iter()
        .enumerate()
        .filter(|(index, _)| mask & (1 << index) != 0)
        .map(|(index, (namespace, selector, action))| {
            selector_policy(&format!("p{index}"), namespace, selector, action)
        })
        .collect();
    let policy = folder.join(format!("mix-{mask}.yaml"));
    std::fs::write(&policy, documents.join("---\n")).expect("policy file");
    policy
}

/// For every mix of selectors on the chart's labels, across the release's namespace, another
/// namespace and the root namespace, each what-if row has the status check gives its workload.
#[test]
fn rows_agree_with_check_mixes() {
    let folder = scratch("mixes");
    for mask in 1..(1u32 << MIX_SELECTORS.len()) {
        let policy = mix_file(&folder, mask);

        for (workload, status) in support::what_if_statuses(&policy, "/a", &[]) {
            let verdict = check_verdict(&workload, &policy, &[]);

            assert_eq!(verdict["status"], status, "mix {mask}: {workload}");
        }
    }
}

/// For mixes that put a selector on `istio: my-gw` next to `app` selectors, in the release's
/// namespace and the root namespace, the filters `idflow envoy-config` writes for each what-if
/// row's workload give in Envoy the status and response code details that check gives.
#[test]
fn envoy_rows_agree_mixes() {
    let folder = scratch("envoy-mixes");
    // Bits of MIX_SELECTORS: 0b10_0110 is the root DENY, the ALLOW on app: my-gw and the v2
    // DENY; 0b01_0101 is the gw-ns DENY with both app selectors; 0b00_1010 the root DENY with
    // app: my-gw in another namespace.
    for mask in [0b10_0110, 0b01_0101, 0b00_1010, 0b11_1111] {
        let policy = mix_file(&folder, mask);
        for (workload, _) in support::what_if_statuses(&policy, "/a", &[]) {
            let (envoy_status, port_text) = workload_status(&workload, &policy, "/a");
            let verdict = check_verdict(&workload, &policy, &["--port", &port_text]);
            let check = format!(
                "{} {}",
                verdict["status"],
                verdict["response_code_details"].as_str().unwrap_or("-")
            );

            assert_eq!(envoy_status, check, "mix {mask:#b}: {workload}");
        }
    }
}

/// Writes a DENY of `/a` on `istio: my-gw` alone in gw-ns to a new file, and returns its path.
fn istio_deny_file(label: &str) -> PathBuf {
    let policy = scratch(label).join("deny.yaml");
    std::fs::write(
        &policy,
        selector_policy("deny-a", "gw-ns", "{istio: my-gw}", "DENY"),
    )
    .expect("policy file");
    policy
}

/// Returns a flow whose one mesh hop is the gateway at `location` (`NAMESPACE/NAME`), as replay
/// and follow build it from that proxy's access log.
fn flow_through_gateway(location: &str) -> idflow::model::Flow {
    use idflow::model::{CorrelationKey, Flow, Hop, HopKind, HopRole};

    let mut hop = Hop::new(HopKind::Mesh, location);
    hop.role = Some(HopRole::Gateway);
    Flow {
        id: "1".to_owned(),
        correlated_by: CorrelationKey::EdgeRequestId,
        time: None,
        method: None,
        path: None,
        hops: vec![hop],
        findings: Vec::new(),
    }
}

/// Release `my-gw` in gw-ns under a DENY of `/a` on `istio: my-gw` alone. The chart labels its
/// pods `istio: my-gw`, so Envoy, given the filters envoy-config writes for gw-ns/my-gw, denies
/// `/a`, and check does too. When a replayed or live flow reached gw-ns/my-gw, the Token view's
/// row for it takes the labels check takes and denies `/a` too.
#[test]
fn flow_release_row_agrees() {
    let policy = istio_deny_file("flow-release");
    let (envoy_status, port_text) = workload_status("gw-ns/my-gw", &policy, "/a");
    let verdict = check_verdict("gw-ns/my-gw", &policy, &["--port", &port_text]);
    let rows = support::what_if_statuses(&policy, "/a", &[flow_through_gateway("gw-ns/my-gw")]);
    let row = rows
        .iter()
        .find(|(workload, _)| workload == "gw-ns/my-gw")
        .map(|(_, status)| *status);

    assert_eq!(
        envoy_status,
        "403 rbac_access_denied_matched_policy[ns[gw-ns]-policy[deny-a]-rule[0]]"
    );
    assert_eq!(verdict["status"], 403, "{verdict}");
    assert_eq!(row, Some(403), "{rows:?}");
}

/// With `--kind sidecar`, check takes gw-ns/my-gw for a sidecar, not a release of the gateway
/// chart: the README reads "Without `--labels` and `--kind`, the workload takes the labels (and
/// kind) of the policy selector that names it", so no warning calls it a gateway.
#[test]
fn kind_sidecar_skips_chart_labels() {
    let policy = istio_deny_file("kind-sidecar");
    let verdict = check_verdict("gw-ns/my-gw", &policy, &["--kind", "sidecar"]);
    let warnings = verdict["warnings"].to_string();

    assert!(!warnings.contains("taken as a gateway"), "{warnings}");
}
