//! Shared by several test crates: the recorder's scenario list and the findings each scenario must
//! produce, the peak memory of a child process, and JWT-shaped text.

// Each test crate that includes this module uses a different part of it.
#![allow(dead_code)]

pub mod tmux;
pub mod tui;

use std::path::Path;

use serde::Deserialize;

/// One request the recorder sent, as `scenarios.json` lists it.
#[derive(Debug, Deserialize)]
pub struct Scenario {
    pub name: String,
    pub req_id: String,
    pub method: String,
    pub path: String,
    pub client_status: u16,
    pub hops: Vec<ScenarioHop>,
}

/// What one proxy logged for a scenario.
#[derive(Debug, Deserialize)]
pub struct ScenarioHop {
    pub log: String,
    pub status: u16,
    pub response_code_details: String,
}

/// Reads `scenarios.json` from a recording folder.
pub fn read_scenarios(folder: &Path) -> Vec<Scenario> {
    let path = folder.join("scenarios.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not a scenario list: {error}", path.display()))
}

/// The finding kinds each scenario must carry, in the order the correlator reports them.
pub fn expected_findings(scenario: &str) -> &'static [&'static str] {
    match scenario {
        "valid-token" | "public-no-token" => &[],
        "legacy-issuer-not-forwarded" | "lowercase-bearer" => {
            &["identity-dropped", "verdict-disagreement"]
        }
        "wrong-audience" | "expired-token" => &["token-rejected", "verdict-disagreement"],
        "delete-denied" | "no-allow-rule" => &["verdict-disagreement"],
        "issuer-not-on-edge-list" => &["token-rejected"],
        "edgeworker-fail-open" => &["edge-fail-open", "token-rejected"],
        other => {
            panic!("scenario {other:?} has no expected findings: add it to tests/support/mod.rs")
        }
    }
}

/// The mesh hop location a recorder log file stands for.
pub fn location_of_log(log: &str) -> String {
    idflow::source::location_from_file_name(log).0
}

/// Returns the peak resident memory in KiB (`VmHWM` in `/proc/PID/status`) of the running process
/// `pid`.
pub fn peak_memory_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("the child's /proc status is readable");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmHWM line in the child's status")
}

/// Returns a token shaped like a JWT whose claims are `{"sub":SUBJECT}`, with a made-up signature
/// that no key produced, and its three segments.
pub fn jwt_shaped(subject: &str) -> (String, [String; 3]) {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::json!({ "sub": subject }).to_string());
    let signature = URL_SAFE_NO_PAD.encode([7u8; 64]);
    let token = format!("{header}.{payload}.{signature}");
    (token, [header, payload, signature])
}

/// Returns a JSON access log line of a format that logs the whole `Authorization` header, here
/// `Bearer TOKEN`.
pub fn json_line_logging_token(start_time: &str, request_id: &str, token: &str) -> String {
    serde_json::json!({
        "start_time": start_time,
        "method": "GET",
        "path": "/api/orders",
        "response_code": 200,
        "request_id": request_id,
        "authorization": format!("Bearer {token}"),
    })
    .to_string()
}

/// Runs `idflow decode - -o json ARGS` with `input` on standard input, so no token appears in a
/// process list, and returns its output.
pub fn run_decode(input: &str, args: &[&str]) -> std::process::Output {
    run_decode_as("json", input, args)
}

/// Runs `idflow decode - -o FORMAT ARGS` with `input` on standard input, as [`run_decode`] does.
pub fn run_decode_as(format: &str, input: &str, args: &[&str]) -> std::process::Output {
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(["decode", "-", "-o", format])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("idflow decode starts");
    let written = child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes());
    // decode may end on a flag or profile error before it reads its input. Its output shows the error.
    if let Err(error) = written {
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::BrokenPipe,
            "input not written: {error}"
        );
    }
    child.wait_with_output().expect("idflow decode runs")
}

/// Runs `idflow decode - -o json ARGS` with `input` on standard input, so no token appears in a
/// process list, and returns the exit status and the JSON output.
pub fn decode_json(input: &str, args: &[&str]) -> (i32, serde_json::Value) {
    let output = run_decode(input, args);
    let code = output.status.code().unwrap_or(-1);
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "decode printed no JSON ({error}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (code, json)
}

/// Writes an edge profile that reads `Authorization`, denies a request without a token with 400
/// and lets paths under `/public/` through, into a new folder named after `label`, and returns
/// its path. Each call writes its own file, so tests running in parallel never read one that
/// another is rewriting.
pub fn public_path_profile(label: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};

    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("edge-profiles")
        .join(format!("{}-{number}-{label}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("profile folder created");
    let profile = folder.join("edge.toml");
    std::fs::write(
        &profile,
        "name = \"public-paths\"\n\n[token]\nheader = \"Authorization\"\nscheme = \"Bearer \"\n\
         missing = \"deny\"\npublic_paths = [\"/public/\"]\n\n[response]\nmissing_status = 400\n",
    )
    .expect("profile written");
    profile
}

/// Runs `idflow decode - -o json ARGS` on `input` and returns the exit status, the JSON output
/// (`null` when there is none) and standard error.
pub fn decode_output(input: &str, args: &[&str]) -> (i32, serde_json::Value, String) {
    let output = run_decode(input, args);
    let json = serde_json::from_slice(&output.stdout).unwrap_or_default();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code().unwrap_or(-1), json, stderr)
}

/// Returns the message of the problem with `code` in `decode -o json` output, or an empty string.
pub fn problem_message(json: &serde_json::Value, code: &str) -> String {
    json["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|problem| problem["code"] == code)
        .and_then(|problem| problem["message"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Returns the verdict that `decode -o json` output predicts, as `STATUS DETAILS`: `200
/// via_upstream` for exit status 0, else the jwt_authn status in `signature.envoy_status` or in
/// the `mesh_rejects_format` problem.
pub fn predicted_verdict(code: i32, json: &serde_json::Value) -> String {
    if code == 0 {
        return "200 via_upstream".to_owned();
    }
    let status = match json["signature"]["envoy_status"].as_str() {
        Some(status) => status.to_owned(),
        None => problem_message(json, "mesh_rejects_format")
            .split('`')
            .nth(1)
            .unwrap_or_default()
            .to_owned(),
    };
    if status.is_empty() {
        return format!("exit {code} without a jwt_authn status: {json}");
    }
    format!(
        "401 jwt_authn_access_denied{{{}}}",
        status.replace(' ', "_")
    )
}

/// Returns the `code` of every problem in `decode -o json` output, in order.
pub fn problem_codes(json: &serde_json::Value) -> Vec<String> {
    json["problems"]
        .as_array()
        .map(|problems| {
            problems
                .iter()
                .map(|problem| problem["code"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// An RSA key of a size `aws-lc-rs` does not make (it makes none under 2048 bits), made with the
/// `openssl` command.
pub struct OpensslRsaKey {
    /// The private key, PEM, in this process's temporary folder.
    pub pem: std::path::PathBuf,
    /// The big-endian modulus; the public exponent is 65537.
    pub modulus: Vec<u8>,
}

/// Runs `openssl ARGS` and returns its standard output, panicking when it fails.
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let output = std::process::Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|error| panic!("cannot run openssl {args:?}: {error}"));
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn openssl_folder() -> std::path::PathBuf {
    let folder =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("openssl-keys-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("temporary folder");
    folder
}

/// Makes an RSA key of `bits` bits (512 or more, the least `openssl genpkey` makes).
pub fn openssl_rsa_key(bits: u32) -> OpensslRsaKey {
    let pem = openssl_folder().join(format!("rsa{bits}.pem"));
    let pem_text = pem.display().to_string();
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        &format!("rsa_keygen_bits:{bits}"),
        "-out",
        &pem_text,
    ]);
    let text = String::from_utf8(openssl(&["rsa", "-in", &pem_text, "-noout", "-modulus"]))
        .expect("openssl prints text");
    let hex = text
        .trim()
        .strip_prefix("Modulus=")
        .expect("openssl prints `Modulus=HEX`");
    let modulus: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).expect("hex digits"))
        .collect();
    assert_eq!(modulus.len() * 8, bits as usize, "a {bits}-bit modulus");
    OpensslRsaKey { pem, modulus }
}

/// Returns the RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signature of `input` by `key`.
pub fn openssl_rs256(key: &OpensslRsaKey, input: &str) -> Vec<u8> {
    openssl_sign(key, input, &[])
}

/// Returns the PS256 (RSASSA-PSS with SHA-256 and MGF1-SHA-256) signature of `input` by `key`,
/// with a salt of `salt` bytes, or `digest` or `max` as `openssl`'s `rsa_pss_saltlen` takes them.
pub fn openssl_ps256(key: &OpensslRsaKey, input: &str, salt: &str) -> Vec<u8> {
    let salt = format!("rsa_pss_saltlen:{salt}");
    openssl_sign(
        key,
        input,
        &["-sigopt", "rsa_padding_mode:pss", "-sigopt", &salt],
    )
}

/// Signs `input` with SHA-256 by `key`, with more `openssl dgst` options.
fn openssl_sign(key: &OpensslRsaKey, input: &str, options: &[&str]) -> Vec<u8> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let number = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let data = openssl_folder().join(format!("signing-input-{number}.txt"));
    std::fs::write(&data, input).expect("signing input written");
    let key = key.pem.display().to_string();
    let data = data.display().to_string();
    let mut args = vec!["dgst", "-sha256", "-sign", key.as_str()];
    args.extend_from_slice(options);
    args.push(&data);
    openssl(&args)
}

/// Returns the bytes of the hexadecimal `text`.
pub fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).expect("hex"))
        .collect()
}

/// Wraps `der` in a PEM block with `label`, 64 characters a line.
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// Returns the Token view's what-if rows for a GET of `path` without a token, on the policies in
/// the file `policy` (objects without a namespace go to `default`) and the workloads that `flows`
/// reached, as (`NAMESPACE/NAME`, status).
pub fn what_if_statuses(
    policy: &Path,
    path: &str,
    flows: &[idflow::model::Flow],
) -> Vec<(String, u16)> {
    use idflow::tui::what_if;

    let policies = idflow::mesh::load::load_policy_file(policy, "default")
        .expect("policies load")
        .policies;
    let settings = idflow::mesh::MeshSettings::default();
    let keys = std::collections::BTreeMap::new();
    let mesh = idflow::mesh::check::Mesh {
        policies: &policies,
        jwks: &keys,
        providers: &[],
        settings: &settings,
    };
    let probe = what_if::Probe {
        method: "GET",
        path,
        token: None,
        carrier: &what_if::Carrier::Bearer,
    };
    what_if::evaluate(&mesh, &what_if::targets(&policies, flows), probe)
        .into_iter()
        .map(|row| {
            let status = row.verdict.map_or(0, |verdict| verdict.status);
            (row.workload, status)
        })
        .collect()
}

/// Runs `idflow decode --batch ARGS` with `input` on standard input and returns its output. The
/// input is written from another thread, so a large input cannot block on a full output pipe.
pub fn run_batch(input: Vec<u8>, args: &[&str]) -> std::process::Output {
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(["decode", "--batch"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("idflow decode --batch starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child
        .wait_with_output()
        .expect("idflow decode --batch runs");
    let written = writer.join().expect("the writer thread ends");
    // decode may end before it reads all of its input. Its output shows why.
    if let Err(error) = written {
        assert_eq!(
            error.kind(),
            std::io::ErrorKind::BrokenPipe,
            "input not written: {error}"
        );
    }
    output
}

/// Returns the JSON objects a batch printed, one per output line.
pub fn batch_objects(output: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}"))
        })
        .collect()
}

/// An ALLOW policy with one empty rule, so every request reaches the application.
pub const ALLOW_ALL: &str = "\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-all, namespace: shop}
spec:
  selector: {matchLabels: {app: orders}}
  rules: [{}]
";
