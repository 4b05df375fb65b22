//! Tests that run the built `idflow decode` binary.

mod support;

use std::io::Write as _;
use std::process::{Child, Command, Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// 2025-03-04T11:02:10Z.
const AT: i64 = 1_741_086_130;

/// Encoded signature of [`token`]; tests check that it never leaks.
const SIGNATURE: &str = "c2lnbmF0dXJlLWJ5dGVzLWZvci10ZXN0cw";

fn token() -> String {
    let header = json!({"alg": "ES256", "kid": "cli-key", "typ": "JWT"});
    let claims = json!({"iss": "https://idp.example.com", "sub": "bob", "exp": AT + 3 * 86_400, "iat": AT - 7_200});
    format!(
        "{}.{}.{SIGNATURE}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

fn encode(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Mints a JWS with the given header and claims and the fixed test signature.
fn mint(header: &Value, claims: &Value) -> String {
    format!("{}.{}.{SIGNATURE}", encode(header), encode(claims))
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .arg("decode")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("idflow starts");
    {
        let mut pipe = child.stdin.take().expect("stdin piped");
        // A run that fails on its arguments exits before reading, which closes the pipe.
        if let Err(error) = pipe.write_all(stdin.unwrap_or_default().as_bytes()) {
            assert_eq!(
                error.kind(),
                std::io::ErrorKind::BrokenPipe,
                "stdin not written"
            );
        }
    }
    child.wait_with_output().expect("idflow exits")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json_output(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

#[test]
fn text_exit_zero() {
    let t = token();
    let output = run(&[&t, "--at", &AT.to_string()], None);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("JWS (signed JWT)"), "{text}");
    assert!(text.contains("(in 3 days)"), "{text}");
    assert!(text.contains("(2 h ago)"), "{text}");
    assert!(text.contains("\"sub\": \"bob\""), "{text}");
}

#[test]
fn json_contract_keys() {
    let t = token();
    let output = run(&[&t, "-o", "json", "--at", &AT.to_string()], None);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value = json_output(&output);
    for key in [
        "kind",
        "found_as",
        "header",
        "claims",
        "times",
        "signature",
        "problems",
        "fingerprint",
        "encoded_len",
    ] {
        assert!(value.get(key).is_some(), "missing {key}: {value}");
    }
    assert_eq!(value["kind"], "jws");
    assert_eq!(value["signature"]["status"], "unverified");
    assert_eq!(value["signature"]["alg"], "ES256");
    assert_eq!(value["signature"]["kid"], "cli-key");
    assert_eq!(value["times"]["exp"]["time"], "2025-03-07T11:02:10Z");
    assert_eq!(value["times"]["exp"]["relative_seconds"], 3 * 86_400);
    assert_eq!(value["times"]["iat"]["relative_seconds"], -7_200);
    assert_eq!(value["encoded_len"], t.len());
}

#[test]
fn json_problem_shape() {
    let output = run(&["bearer 9f1c2e7a5b8d4c3e", "-o", "json"], None);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let value = json_output(&output);
    assert_eq!(value["kind"], "opaque");
    let problem = &value["problems"][0];
    assert_eq!(problem["code"], "scheme_not_bearer");
    assert!(problem["message"].is_string(), "{problem}");
}

#[test]
fn secrets_hidden_by_default() {
    let t = token();
    for format in ["text", "json"] {
        let output = run(&[&format!("Authorization: Bearer {t}"), "-o", format], None);
        let text = stdout(&output);
        assert!(!text.contains(&t), "token in {format} output");
        assert!(!text.contains(SIGNATURE), "signature in {format} output");
    }
}

#[test]
fn secrets_shown_on_request() {
    let t = token();
    let output = run(&[&t, "-o", "json", "--show-secrets"], None);
    let value = json_output(&output);
    assert_eq!(value["token"], t.as_str());
    assert_eq!(value["signature"]["value"], SIGNATURE);
}

#[test]
fn stdin_dash_and_absent() {
    let t = token();
    let input = format!("\"{t}\"\n");
    let at = AT.to_string();
    for args in [
        &["-", "-o", "json", "--at", &at][..],
        &["-o", "json", "--at", &at][..],
    ] {
        let output = run(args, Some(&input));
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        assert_eq!(json_output(&output)["found_as"], "bare token, in quotes");
    }
}

#[test]
fn token_file_argument() {
    let path = std::env::temp_dir().join(format!("idflow-decode-{}.jwt", std::process::id()));
    std::fs::write(&path, format!("{}\n", token())).expect("write the token file");
    let at = AT.to_string();
    let output = run(
        &[
            path.to_str().expect("UTF-8 path"),
            "-o",
            "json",
            "--at",
            &at,
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value = json_output(&output);
    assert_eq!(value["kind"], "jws");
    assert_eq!(value["found_as"], "bare token");
}

#[test]
fn path_arguments_exit_two() {
    let folder = std::env::temp_dir();
    let missing = folder.join("idflow-no-such-token.jwt");
    let cases = [
        (
            folder.to_str().expect("UTF-8 path").to_owned(),
            "is a folder",
        ),
        (missing.to_str().expect("UTF-8 path").to_owned(), "no file"),
        ("./valid.jtw".to_owned(), "no file"),
    ];
    for (argument, expected) in cases {
        let output = run(&[&argument], None);
        assert_eq!(output.status.code(), Some(2), "{argument}");
        assert!(
            stderr(&output).contains(expected),
            "{argument}: {}",
            stderr(&output)
        );
        assert!(stdout(&output).is_empty(), "{argument}");
    }
}

#[test]
fn not_a_token_exit_two() {
    let output = run(&["hello world"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty(), "stdout: {}", stdout(&output));
    assert!(
        stderr(&output).contains("expected a JWT"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn empty_stdin_exit_two() {
    let output = run(&["-"], Some("\n"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("the input is empty"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bad_at_exit_two() {
    let output = run(&[&token(), "--at", "next tuesday"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty(), "stdout: {}", stdout(&output));
    assert!(
        stderr(&output).contains("invalid --at \"next tuesday\""),
        "{}",
        stderr(&output)
    );
}

#[test]
fn at_rfc3339_clock() {
    let output = run(
        &[&token(), "-o", "json", "--at", "2025-03-04T11:02:10Z"],
        None,
    );
    let value = json_output(&output);
    assert_eq!(value["times"]["exp"]["relative_seconds"], 3 * 86_400);
}

#[test]
fn expired_exit_one() {
    let output = run(
        &[
            &token(),
            "-o",
            "json",
            "--at",
            &(AT + 4 * 86_400).to_string(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(json_output(&output)["problems"][0]["code"], "expired");
}

#[test]
fn huge_stdin_no_panic() {
    let input = "a".repeat(1 << 20);
    let output = run(&["-o", "json"], Some(&input));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(json_output(&output)["encoded_len"], 1 << 20);
}

/// An input, the problem code it raises, and the exit status that code alone leads to.
type ExitCase = (String, &'static str, i32);

/// Cases for the time claims.
fn time_cases() -> Vec<ExitCase> {
    let rs256 = json!({"alg": "RS256"});
    vec![
        (mint(&rs256, &json!({"exp": AT - 7_200})), "expired", 1),
        (mint(&rs256, &json!({"exp": AT - 30})), "expired", 1),
        (
            mint(&rs256, &json!({"exp": AT + 7_200, "nbf": AT + 3_600})),
            "not_yet_valid",
            1,
        ),
        (
            mint(&rs256, &json!({"exp": AT + 7_200, "nbf": AT + 30})),
            "not_yet_valid",
            1,
        ),
        (
            mint(&rs256, &json!({"exp": "1741089730"})),
            "invalid_numeric_date",
            1,
        ),
        (mint(&rs256, &json!({"sub": "bob"})), "no_expiry", 0),
        (
            mint(&rs256, &json!({"exp": AT + 7_200, "iat": AT + 3_600})),
            "issued_in_future",
            0,
        ),
        (
            mint(&rs256, &json!({"exp": 1_000_000_000_000_000_i64})),
            "numeric_date_out_of_range",
            0,
        ),
    ]
}

/// Cases for the segments, the header and the token's shape.
fn segment_cases() -> Vec<ExitCase> {
    let rs256 = json!({"alg": "RS256"});
    let live = json!({"sub": "bob", "exp": AT + 3_600});
    let claims = encode(&live);
    vec![
        (
            format!("eyJ!!!.{claims}.{SIGNATURE}"),
            "header_invalid_base64url",
            1,
        ),
        (
            format!("{}.{claims}.{SIGNATURE}", URL_SAFE_NO_PAD.encode("{alg")),
            "header_invalid_json",
            1,
        ),
        (
            format!(
                "{}.{claims}.{SIGNATURE}",
                URL_SAFE_NO_PAD.encode([0xff, 0xfe])
            ),
            "header_invalid_utf8",
            1,
        ),
        (
            format!("{}.{claims}.{SIGNATURE}", encode(&json!(["RS256"]))),
            "header_not_object",
            1,
        ),
        (
            format!("{}.{}.{SIGNATURE}", encode(&rs256), encode(&json!("bob"))),
            "payload_not_object",
            1,
        ),
        (
            format!(
                "{}.{claims}.{SIGNATURE}",
                STANDARD.encode(json!({"alg": "RS256", "kid": "k1"}).to_string())
            ),
            "header_padded",
            0,
        ),
        (
            format!("{}.{claims}.+/8", encode(&rs256)),
            "signature_standard_base64",
            1,
        ),
        (
            format!("{}.{claims}.c2l", encode(&rs256)),
            "signature_noncanonical",
            0,
        ),
        (mint(&json!({"typ": "JWT"}), &live), "missing_alg", 1),
        (mint(&json!({"alg": "none"}), &live), "alg_none", 1),
        (
            format!("{}.{claims}.", encode(&rs256)),
            "empty_signature",
            1,
        ),
        (
            format!(
                "{}.ZW5ja2V5.aXY.Y2lwaGVy.dGFn",
                encode(&json!({"alg": "RSA-OAEP-256", "enc": "A256GCM"}))
            ),
            "jwe_not_accepted_by_istio",
            1,
        ),
        ("ya29.a0AfH6SMBx3kq9Zt".to_owned(), "wrong_segment_count", 1),
    ]
}

/// Cases for where and how the token is sent.
fn location_cases() -> Vec<ExitCase> {
    let t = mint(
        &json!({"alg": "RS256"}),
        &json!({"sub": "bob", "exp": AT + 3_600}),
    );
    let (left, right) = t.split_at(10);
    vec![
        (
            "Bearer 9f1c2e7a5b8d4c3e".to_owned(),
            "mesh_rejects_format",
            1,
        ),
        ("X-Api-Key: 9f1c2e7a5b8d4c3e".to_owned(), "opaque_token", 0),
        (format!("X-Jwt-Assertion: {t}"), "not_default_location", 0),
        (format!("bearer {t}"), "scheme_not_bearer", 1),
        (format!("Authorization: {t}"), "missing_scheme", 1),
        (format!("Token {t}"), "unexpected_scheme", 1),
        (format!("Bearer\t{t}"), "bearer_prefix_not_found", 1),
        (format!("Bearer {t} abc"), "trailing_text", 1),
        (format!("Bearer {left} {right}"), "internal_whitespace", 1),
    ]
}

#[test]
fn exit_status_by_code() {
    let cases = [time_cases(), segment_cases(), location_cases()].concat();
    for (input, code, status) in cases {
        let output = run(&[&input, "-o", "json", "--at", &AT.to_string()], None);
        let value = json_output(&output);
        let problems = value["problems"].as_array().expect("problems list");
        let found = problems.iter().any(|problem| problem["code"] == code);
        assert!(found, "no {code} for {input:?}: {}", value["problems"]);
        assert_eq!(
            output.status.code(),
            Some(status),
            "{code}: {}",
            value["problems"]
        );
    }
}

/// Returns the first run of six characters of `secret` that `text` contains.
fn leaked_run<'a>(secret: &'a str, text: &str) -> Option<&'a str> {
    let starts: Vec<usize> = secret.char_indices().map(|(index, _)| index).collect();
    starts.windows(7).find_map(|bounds| {
        let run = &secret[bounds[0]..bounds[6]];
        text.contains(run).then_some(run)
    })
}

#[test]
fn output_holds_no_secret() {
    let basic = STANDARD.encode("user:s3cr3tPassw0rdQx");
    let random = "Qm9Xz7Lw2Kp4Rt8Vn6Jd3Hs5Fg1Cb0Ay9Ue";
    let t = token();
    let changed = format!("{}*{}", &t[..t.len() - 5], &t[t.len() - 4..]);
    let cases = [
        (format!("Authorization: Basic {basic}"), basic.clone()),
        (
            format!("curl -H 'Authorization: Basic {basic}' https://127.0.0.1/"),
            basic,
        ),
        (
            "curl -u admin:hunter2secret https://127.0.0.1/".to_owned(),
            "hunter2secret".to_owned(),
        ),
        (
            "Bearer sk_live_abc.def_SECRETSECRETSECRET".to_owned(),
            "sk_live_abc.def_SECRETSECRETSECRET".to_owned(),
        ),
        (
            format!("curl -H 'Cookie: session={random}' https://127.0.0.1/"),
            random.to_owned(),
        ),
        (format!("X-Api-Key: {random}"), random.to_owned()),
        (format!("{random}:{random}"), random.to_owned()),
        (format!("Bearer {random}!"), random.to_owned()),
        (changed.clone(), SIGNATURE.to_owned()),
        (changed.replacen('.', "x", 1), SIGNATURE.to_owned()),
    ];
    for (input, secret) in cases {
        for format in ["text", "json"] {
            let output = run(&[&input, "-o", format], None);
            let streams = [("stdout", stdout(&output)), ("stderr", stderr(&output))];
            for (stream, text) in streams {
                let leak = leaked_run(&secret, &text);
                assert_eq!(leak, None, "{format} {stream} for {input:?}: {text}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// --edge-profile and --policies.

/// A temporary folder removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("idflow-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }

    fn file(&self, name: &str, contents: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("temp file");
        path.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An edge that accepts any case of `Bearer` and checks neither `aud` nor `exp`.
const EDGE_PROFILE: &str = r#"
name = "cli-edge"
[token]
scheme_case_sensitive = false
[checks]
issuers = ["https://idp.example.com"]
[response]
deny_status = 401
[forward.claims]
sub = "x-user-sub"
"#;

const MESH_RULES: &str = r"
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: orders-jwt, namespace: shop}
spec:
  jwtRules:
  - issuer: https://idp.example.com
    jwksUri: https://idp.example.com/jwks
    audiences: [orders]
";

fn edge_run(dir: &TempDir, pasted: &str, extra: &[&str]) -> Output {
    let profile = dir.file("edge.toml", EDGE_PROFILE);
    let policies = dir.file("policies.yaml", MESH_RULES);
    let at = AT.to_string();
    let mut args = vec![
        "--at",
        &at,
        "--edge-profile",
        &profile,
        "--policies",
        &policies,
    ];
    args.extend_from_slice(extra);
    args.push(pasted);
    run(&args, None)
}

#[test]
fn edge_json_object() {
    let dir = TempDir::new("edge-json");
    let t = token();
    let output = edge_run(&dir, &format!("Authorization: bearer {t}"), &["-o", "json"]);
    let value = json_output(&output);

    let edge = &value["edge"];
    assert_eq!(edge["profile"], "cli-edge");
    assert_eq!(edge["verdict"], "allow", "{edge}");
    assert_eq!(edge["status"], Value::Null);
    assert!(
        edge["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("goes on")),
        "{edge}"
    );
    assert_eq!(edge["policies_compared"], 1);

    let differences = edge["differences"].as_array().expect("differences list");
    let codes: Vec<&str> = differences
        .iter()
        .filter_map(|difference| difference["code"].as_str())
        .collect();
    for code in ["audience_unchecked", "scheme_case", "exp_unchecked"] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    assert!(
        differences
            .iter()
            .all(|difference| difference["message"].is_string()),
        "{edge}"
    );

    let forwarded = edge["forwarded_headers"].as_array().expect("headers list");
    assert!(
        forwarded
            .iter()
            .any(|header| header["name"] == "x-user-sub" && header["value"] == "bob"),
        "{edge}"
    );
}

#[test]
fn edge_keeps_exit_status() {
    let dir = TempDir::new("edge-exit");
    let t = token();
    // The lower-case scheme makes the token invalid for the mesh (exit 1), while the edge allows it.
    let pasted = format!("Authorization: bearer {t}");
    let plain = run(&[&pasted, "--at", &AT.to_string()], None);
    let with_edge = edge_run(&dir, &pasted, &[]);
    assert_eq!(plain.status.code(), Some(1), "{}", stderr(&plain));
    assert_eq!(
        with_edge.status.code(),
        plain.status.code(),
        "{}",
        stderr(&with_edge)
    );

    let denied = mint(
        &json!({"alg": "ES256", "kid": "cli-key"}),
        &json!({"iss": "https://other.example.com", "sub": "bob", "exp": AT + 600}),
    );
    let output = edge_run(&dir, &format!("Bearer {denied}"), &["-o", "json"]);
    let value = json_output(&output);
    assert_eq!(value["edge"]["verdict"], "deny");
    assert_eq!(value["edge"]["status"], 401);
    assert_eq!(
        output.status.code(),
        Some(0),
        "the edge verdict changes no exit status"
    );
}

#[test]
fn edge_text_section() {
    let dir = TempDir::new("edge-text");
    let output = edge_run(&dir, &format!("Bearer {}", token()), &[]);
    let text = stdout(&output);
    assert!(text.contains("\nedge (cli-edge)\n"), "{text}");
    assert!(
        text.contains("  verdict  allow (request goes on)"),
        "{text}"
    );
    assert!(
        text.contains("differences from the mesh (1 RequestAuthentication)"),
        "{text}"
    );
    assert!(
        text.contains("shop/orders-jwt: the edge does not check `aud`"),
        "{text}"
    );
}

#[test]
fn edge_hides_token() {
    let dir = TempDir::new("edge-secret");
    let t = token();
    for format in ["text", "json"] {
        let output = edge_run(&dir, &format!("Authorization: Bearer {t}"), &["-o", format]);
        let text = stdout(&output);
        assert!(text.contains("<token sha256:"), "{format}: {text}");
        assert!(!text.contains(&t), "token in {format} output");
        assert!(!text.contains(SIGNATURE), "signature in {format} output");
    }
    let output = edge_run(
        &dir,
        &format!("Bearer {t}"),
        &["-o", "json", "--show-secrets"],
    );
    let value = json_output(&output);
    assert_eq!(
        value["edge"]["forwarded_headers"][0]["value"],
        format!("Bearer {t}")
    );
}

#[test]
fn edge_profile_errors_exit_two() {
    let dir = TempDir::new("edge-errors");
    let t = token();
    let bad = dir.file("bad.toml", "[token]\nheadr = \"x\"\n");
    let output = run(&["--edge-profile", &bad, &t], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("bad.toml:2: unknown key `token.headr`"),
        "{}",
        stderr(&output)
    );

    let missing = dir.0.join("absent.toml").display().to_string();
    let output = run(&["--edge-profile", &missing, &t], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("absent.toml"),
        "{}",
        stderr(&output)
    );

    let output = run(&["--policies", &missing, &t], None);
    assert_eq!(
        output.status.code(),
        Some(2),
        "--policies needs --edge-profile"
    );
}

/// Returns a token signed with a fresh ES256 key and that key's public PEM.
fn es256_token_and_pem() -> (String, String) {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};

    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key");
    let header = json!({"alg": "ES256", "kid": "cli-edge", "typ": "JWT"});
    let claims = json!({"iss": "https://idp.example.com", "sub": "bob", "exp": AT + 600});
    let input = format!("{}.{}", encode(&header), encode(&claims));
    let signature = pair
        .sign(&SystemRandom::new(), input.as_bytes())
        .expect("ES256 signature");
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()));

    // SubjectPublicKeyInfo header of a P-256 key, then the uncompressed point.
    let prefix = "3059301306072a8648ce3d020106082a8648ce3d030107034200";
    let mut der = support::hex(prefix);
    der.extend_from_slice(pair.public_key().as_ref());
    (token, support::pem("PUBLIC KEY", &der))
}

#[test]
fn edge_pem_file_verifies() {
    let dir = TempDir::new("edge-pem");
    let (token, pem) = es256_token_and_pem();
    let (other_token, _) = es256_token_and_pem();
    dir.file("edge.pem", &pem);
    // A relative path is read from the profile's folder.
    let profile = dir.file("edge.toml", "[keys]\npem_file = \"edge.pem\"\n");
    let at = AT.to_string();
    let edge = |pasted: &str| {
        let output = run(
            &[
                "--at",
                &at,
                "-o",
                "json",
                "--edge-profile",
                &profile,
                pasted,
            ],
            None,
        );
        json_output(&output)["edge"].clone()
    };

    let verified = edge(&token);
    assert_eq!(verified["verdict"], "allow", "{verified}");
    assert_eq!(verified["signature_checked"], true);

    let wrong_key = edge(&other_token);
    assert_eq!(wrong_key["verdict"], "deny", "{wrong_key}");
    assert_eq!(wrong_key["status"], 400);
    assert_eq!(
        wrong_key["edgeworker_error"],
        "JWT token signature verification failed!"
    );
}

#[test]
fn edge_fetch_failure_fails_open() {
    let dir = TempDir::new("edge-fetch");
    // A loopback port with nothing listening: the JWKS fetch is refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let url = format!("http://127.0.0.1:{port}/jwks.json");
    let profile = dir.file(
        "edge.toml",
        &format!("[keys]\njwks = \"{url}\"\n[response]\nfail_open = true\n"),
    );
    let output = run(
        &[
            "--at",
            &AT.to_string(),
            "-o",
            "json",
            "--connect-timeout",
            "2",
            "--edge-profile",
            &profile,
            &token(),
        ],
        None,
    );
    let value = json_output(&output);
    assert_eq!(value["edge"]["verdict"], "fail_open", "{}", value["edge"]);
    assert_eq!(value["edge"]["status"], Value::Null);
    assert!(stderr(&output).contains(&url), "{}", stderr(&output));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn edge_in_batch_lines() {
    let dir = TempDir::new("edge-batch");
    let profile = dir.file("edge.toml", EDGE_PROFILE);
    let input = format!("Bearer {}\nAuthorization: Token {}\n", token(), token());
    let output = run(
        &[
            "--at",
            &AT.to_string(),
            "--batch",
            "--edge-profile",
            &profile,
        ],
        Some(&input),
    );
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("NDJSON line"))
        .collect();
    assert_eq!(lines.len(), 2, "{}", stdout(&output));
    assert_eq!(lines[0]["edge"]["verdict"], "allow", "{}", lines[0]["edge"]);
    assert_eq!(lines[1]["edge"]["verdict"], "deny", "{}", lines[1]["edge"]);
}

#[test]
fn batch_text_output_rejected() {
    let output = run(&["--batch", "-o", "text"], Some(&format!("{}\n", token())));
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).is_empty());
    assert!(
        stderr(&output).contains("--batch prints"),
        "{}",
        stderr(&output)
    );
}

/// Starts `idflow decode --batch` reading piped standard input, its results on a pipe.
fn spawn_batch() -> Child {
    Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(["decode", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("idflow starts")
}

/// A batch on standard input writes the result of each line as the line arrives, so that it can sit behind a
/// follower (`tail -f tokens | idflow decode --batch`) or be typed into.
#[test]
fn batch_stdin_answers_each_line() {
    use std::io::{BufRead as _, BufReader};
    let mut child = spawn_batch();
    let mut stdin = child.stdin.take().expect("stdin piped");
    let stdout = child.stdout.take().expect("stdout piped");
    writeln!(stdin, "{}", token()).expect("first line written");
    stdin.flush().expect("stdin flushed");
    // The first result must arrive while standard input is still open.
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let _ = sender.send(first);
    });
    let first = receiver.recv_timeout(std::time::Duration::from_secs(30));
    drop(stdin);
    let _ = child.wait();
    let first = first.expect("the first answer arrived before standard input closed");
    let value: Value = serde_json::from_str(&first).unwrap_or(Value::Null);
    assert_eq!(value["line"], 1, "{first}");
    assert_eq!(value["kind"], "jws", "{first}");
}

/// A batch line longer than the limit is skipped without being kept: the process's peak memory
/// stays far under the line's length, and the next line is still read.
#[test]
fn batch_overlong_line_bounded() {
    const LINE_BYTES: usize = 96 * 1024 * 1024;
    const PEAK_LIMIT_KIB: u64 = 48 * 1024;
    let mut child = spawn_batch();
    let mut stdin = child.stdin.take().expect("stdin piped");
    let chunk = vec![b'a'; 1024 * 1024];
    for _ in 0..LINE_BYTES / chunk.len() {
        stdin.write_all(&chunk).expect("the long line is written");
    }
    stdin.flush().expect("stdin flushed");
    // The line has no end yet, so idflow is still reading it: its peak so far is the skip's.
    let peak_kib = support::peak_memory_kib(child.id());
    writeln!(stdin, "\n{}", token()).expect("the token line is written");
    drop(stdin);
    let output = child.wait_with_output().expect("idflow ends");

    assert!(
        peak_kib < PEAK_LIMIT_KIB,
        "peak {peak_kib} KiB while skipping a {LINE_BYTES}-byte line"
    );
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each result is JSON"))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["line"], 1);
    assert_eq!(
        lines[0]["error"],
        "line is longer than 8 MiB; a token is far shorter"
    );
    assert_eq!(lines[1]["line"], 2);
    assert_eq!(lines[1]["kind"], "jws");
    assert_eq!(output.status.code(), Some(1));
}

/// Standard output that cannot take the result (a full disk, a closed pipe) is an error with
/// exit status 2, never a panic.
#[test]
fn unwritable_stdout_exit_two() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("skipped: /dev/full is not available on this system");
        return;
    };
    let output = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .args(["decode", &token()])
        .stdout(full)
        .stderr(Stdio::piped())
        .output()
        .expect("idflow runs");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("failed to write standard output"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn unquoted_words_joined() {
    // A shell splits `idflow decode Bearer TOKEN` into two arguments.
    let token = token();
    let at = AT.to_string();
    let output = run(&["Bearer", &token, "--at", &at, "-o", "json"], None);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let json = json_output(&output);
    assert_eq!(json["found_as"], "Bearer scheme", "{json}");
    assert!(!stderr(&output).contains(SIGNATURE));

    let output = run(&["Authorization:", "Bearer", &token, "--at", &at], None);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    assert!(
        stdout(&output).contains("Authorization header"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn text_escapes_terminal_controls() {
    let claims = json!({"sub": "admin\u{202e}nimda", "note": "\u{1b}[2J", "exp": AT + 60});
    let token = mint(&json!({"alg": "ES256", "typ": "JWT"}), &claims);
    let at = AT.to_string();
    let output = run(&[&token, "--at", &at], None);
    let text = stdout(&output);
    assert!(!text.contains('\u{202e}'), "{text}");
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(text.contains(r"admin\u{202e}nimda"), "{text}");
}
