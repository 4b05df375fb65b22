//! Tests that run `idflow decode` with keys: JWKS files and URLs, OIDC discovery, PEM keys, HMAC
//! secrets, fetch failures against a local HTTPS server on 127.0.0.1, and `--batch`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::{BodyExt as _, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Bytes, Frame};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use support::{hex, pem};
use tokio_rustls::TlsAcceptor;

mod support;
/// The throwaway CA and server certificate of the fake API server, reused for this server.
#[path = "fake_apiserver/tls.rs"]
mod tls;

/// 2025-03-04T11:02:10Z, the clock of every run unless a test passes `--at`.
const AT: i64 = 1_741_086_130;

const KID_MISMATCH: &str = "Jwks doesn't have key to match kid or alg from Jwt";

// ---------------------------------------------------------------------------------------------
// Keys and tokens minted per test.

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn claims() -> Value {
    json!({"iss": "https://idp.test", "sub": "alice", "exp": AT + 3600, "iat": AT - 60})
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// An ES256 key with a `kid`.
struct EcKey {
    pair: EcdsaKeyPair,
    kid: String,
}

impl EcKey {
    fn new(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key");
        Self {
            pair,
            kid: kid.to_owned(),
        }
    }

    fn point(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    fn jwk(&self) -> Value {
        let point = self.point();
        json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "alg": "ES256",
               "x": b64(&point[1..33]), "y": b64(&point[33..65])})
    }

    fn token(&self) -> String {
        self.token_with_kid(&self.kid)
    }

    fn token_with_kid(&self, kid: &str) -> String {
        self.sign(kid, &claims())
    }

    /// Returns a token signed with this key, with its `kid` and the given claims.
    fn token_for(&self, claims: &Value) -> String {
        self.sign(&self.kid, claims)
    }

    fn sign(&self, kid: &str, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "kid": kid, "typ": "JWT"});
        let input = signing_input(&header, claims);
        let signature = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("ES256 signature");
        format!("{input}.{}", b64(signature.as_ref()))
    }

    /// `SubjectPublicKeyInfo` of the key as PEM.
    fn pem(&self) -> String {
        let prefix = hex("3059301306072a8648ce3d020106082a8648ce3d030107034200");
        pem("PUBLIC KEY", &[prefix.as_slice(), self.point()].concat())
    }
}

fn jwks(keys: &[&EcKey]) -> String {
    json!({"keys": keys.iter().map(|key| key.jwk()).collect::<Vec<_>>()}).to_string()
}

fn hs256_token(secret: &[u8]) -> String {
    let input = signing_input(&json!({"alg": "HS256", "typ": "JWT"}), &claims());
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

// ---------------------------------------------------------------------------------------------
// Running the binary.

fn run(args: &[&str], stdin: &str) -> Output {
    let at = AT.to_string();
    let clock: &[&str] = if args.contains(&"--at") {
        &[]
    } else {
        &["--at", &at]
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_idflow"))
        .arg("decode")
        .args(clock)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("idflow starts");
    {
        let mut pipe = child.stdin.take().expect("stdin piped");
        // A run that fails on its arguments exits before reading, which closes the pipe.
        if let Err(error) = pipe.write_all(stdin.as_bytes()) {
            assert_eq!(
                error.kind(),
                std::io::ErrorKind::BrokenPipe,
                "stdin not written"
            );
        }
    }
    child.wait_with_output().expect("idflow exits")
}

fn run_json(args: &[&str]) -> (Value, Output) {
    let mut all = vec!["-o", "json"];
    all.extend_from_slice(args);
    let output = run(&all, "");
    let value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (value, output)
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn message(value: &Value) -> &str {
    value["signature"]["message"].as_str().unwrap_or_default()
}

/// A temporary folder removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("idflow-keys-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }

    fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
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

// ---------------------------------------------------------------------------------------------
// Local HTTPS server on 127.0.0.1.

type Body = BoxBody<Bytes, Infallible>;

/// What the server answers, per path, and how often each path was requested.
struct Site {
    jwks: String,
    /// The JWKS before and after a key rotation: the first request gets the first.
    rotated: (String, String),
    hits: Mutex<HashMap<String, usize>>,
    base: Mutex<String>,
}

struct Server {
    addr: SocketAddr,
    ca_file: String,
    site: Arc<Site>,
    _dir: TempDir,
}

impl Server {
    fn start(name: &str, jwks: String, rotated: (String, String)) -> Self {
        let dir = TempDir::new(name);
        let tls = tls::mint().expect("mint the test server's certificates");
        let ca_file = dir.file("ca.pem", tls.ca_pem);
        let site = Arc::new(Site {
            jwks,
            rotated,
            hits: Mutex::new(HashMap::new()),
            base: Mutex::new(String::new()),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("address");
        *site.base.lock().expect("lock") = format!("https://{addr}");
        let serving = Arc::clone(&site);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(serve(listener, TlsAcceptor::from(tls.config), serving));
        });
        Self {
            addr,
            ca_file,
            site,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    fn hits(&self, path: &str) -> usize {
        self.site
            .hits
            .lock()
            .expect("lock")
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

async fn serve(listener: std::net::TcpListener, acceptor: TlsAcceptor, site: Arc<Site>) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let site = Arc::clone(&site);
        tokio::spawn(async move {
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |request| respond(Arc::clone(&site), request));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed());
    *response.status_mut() = status;
    response
}

fn redirect(location: &str) -> Response<Body> {
    let mut response = full(StatusCode::FOUND, "");
    response.headers_mut().insert(
        hyper::header::LOCATION,
        location.parse().expect("location header"),
    );
    response
}

async fn respond(
    site: Arc<Site>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path().to_owned();
    let hit = {
        let mut hits = site.hits.lock().expect("lock");
        let count = hits.entry(path.clone()).or_insert(0);
        *count += 1;
        *count
    };
    let base = site.base.lock().expect("lock").clone();
    let port = base.rsplit(':').next().unwrap_or_default().to_owned();
    Ok(match path.as_str() {
        "/jwks" => full(StatusCode::OK, site.jwks.clone()),
        "/.well-known/openid-configuration" => full(
            StatusCode::OK,
            json!({"issuer": base, "jwks_uri": format!("{base}/jwks")}).to_string(),
        ),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            full(StatusCode::OK, site.jwks.clone())
        }
        "/huge" => {
            // Sent in chunks without a length, so only the reader's limit can stop it.
            let chunk = Bytes::from(vec![b' '; 64 * 1024]);
            let frames = (0..40).map(move |_| Ok::<_, Infallible>(Frame::data(chunk.clone())));
            Response::new(StreamBody::new(futures::stream::iter(frames)).boxed())
        }
        "/huge-declared" => full(StatusCode::OK, vec![b' '; 2 * 1024 * 1024]),
        "/redirect-same" => redirect("/jwks"),
        "/redirect-other" => redirect(&format!("https://127.0.0.2:{port}/jwks")),
        "/rotating" => {
            let body = if hit == 1 {
                &site.rotated.0
            } else {
                &site.rotated.1
            };
            full(StatusCode::OK, body.clone())
        }
        "/error" => full(StatusCode::INTERNAL_SERVER_ERROR, "boom"),
        _ => full(StatusCode::NOT_FOUND, "not found"),
    })
}

fn server(name: &str, key: &EcKey) -> Server {
    Server::start(name, jwks(&[key]), (String::new(), String::new()))
}

// ---------------------------------------------------------------------------------------------
// Files and published vectors.

#[test]
fn jwks_file_verifies() {
    let dir = TempDir::new("file");
    let key = EcKey::new("k1");
    let path = dir.file("jwks.json", jwks(&[&key]));
    let (value, output) = run_json(&["--jwks", &path, &key.token()]);
    assert_eq!(value["signature"]["status"], "verified");
    assert_eq!(value["signature"]["key_index"], 0);
    assert_eq!(value["signature"]["key_source"], path.as_str());
    assert_eq!(value["signature"]["key_source_kind"], "file");
    assert_eq!(code(&output), Some(0));
}

/// Returns a RequestAuthentication for `app: orders` in `shop` with one rule for `issuer` whose
/// JWKS is `jwks`, as YAML.
fn request_authentication(issuer: &str, jwks: &str) -> String {
    request_authentication_rule(&json!({"issuer": issuer, "jwks": jwks}))
}

/// Returns a RequestAuthentication for `app: orders` in `shop` with the one jwtRule `rule`.
fn request_authentication_rule(rule: &Value) -> String {
    request_authentication_rules(std::slice::from_ref(rule))
}

/// Returns a RequestAuthentication for `app: orders` in `shop` with these jwtRules.
fn request_authentication_rules(rules: &[Value]) -> String {
    let rules = rules
        .iter()
        .map(|rule| format!("  - {rule}"))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata:\n  name: jwt\n  \
         namespace: shop\nspec:\n  selector:\n    matchLabels:\n      app: orders\n  jwtRules:\n{rules}\n"
    )
}

#[test]
fn workload_policy_keys_verify() {
    let dir = TempDir::new("policy");
    let key = EcKey::new("k1");
    let policies = dir.file(
        "ra.yaml",
        request_authentication("https://idp.test", &jwks(&[&key])),
    );
    let flags = ["--policies", policies.as_str(), "--workload", "shop/orders"];
    let (value, output) = run_json(&[&flags[..], &[key.token().as_str()]].concat());
    assert_eq!(
        value["signature"]["status"],
        "verified",
        "{}",
        stderr(&output)
    );
    assert_eq!(value["signature"]["key_source_kind"], "policy");
    assert_eq!(
        value["signature"]["key_source"],
        "RequestAuthentication shop/jwt jwtRules[0]"
    );
    assert_eq!(code(&output), Some(0));
}

/// A jwtRule with `jwksUri` instead of inline `jwks`: the keys are fetched from that URL (a local
/// HTTPS server), once, and the rotation rule applies as for `--jwks URL`.
#[test]
fn workload_policy_jwks_uri_verifies() {
    let dir = TempDir::new("policy-uri");
    let key = EcKey::new("k1");
    let site = server("policy-uri", &key);
    let url = site.url("/jwks");
    let rule = json!({"issuer": "https://idp.test", "jwksUri": url});
    let policies = dir.file("ra.yaml", request_authentication_rule(&rule));
    let flags = [
        "--ca-file",
        site.ca_file.as_str(),
        "--policies",
        policies.as_str(),
        "--workload",
        "shop/orders",
    ];
    let (value, output) = run_json(&[&flags[..], &[key.token().as_str()]].concat());
    assert_eq!(
        value["signature"]["status"],
        "verified",
        "{}",
        stderr(&output)
    );
    assert_eq!(value["signature"]["key_source_kind"], "policy");
    assert_eq!(code(&output), Some(0));
    assert_eq!(site.hits("/jwks"), 1);

    // A token from another key of the same issuer: not in the JWKS, so the URL is fetched once
    // more (a key rotation), and the token still fails.
    let other = EcKey::new("k2");
    let (value, output) = run_json(&[&flags[..], &[other.token().as_str()]].concat());
    assert_eq!(
        value["signature"]["status"],
        "key_not_found",
        "{}",
        stderr(&output)
    );
    assert_eq!(code(&output), Some(1));
    assert!(
        message(&value).contains("after fetching"),
        "{}",
        message(&value)
    );
    assert_eq!(site.hits("/jwks"), 3);
}

#[test]
fn workload_policy_other_issuer() {
    let dir = TempDir::new("policy-issuer");
    let key = EcKey::new("k1");
    let policies = dir.file(
        "ra.yaml",
        request_authentication("https://other.test", &jwks(&[&key])),
    );
    let flags = ["--policies", policies.as_str(), "--workload", "shop/orders"];
    let (value, output) = run_json(&[&flags[..], &[key.token().as_str()]].concat());
    assert_ne!(value["signature"]["status"], "verified");
    assert!(
        message(&value).contains("Jwt issuer is not configured"),
        "{}",
        message(&value)
    );
    assert_eq!(code(&output), Some(1));
}

#[test]
fn workload_not_covered_warns() {
    let dir = TempDir::new("policy-uncovered");
    let key = EcKey::new("k1");
    let policies = dir.file(
        "ra.yaml",
        request_authentication("https://idp.test", &jwks(&[&key])),
    );
    let flags = [
        "--policies",
        policies.as_str(),
        "--workload",
        "shop/payments",
    ];
    let (_, output) = run_json(&[&flags[..], &[key.token().as_str()]].concat());
    assert!(
        stderr(&output).contains("no RequestAuthentication in --policies covers shop/payments"),
        "{}",
        stderr(&output)
    );
    assert_eq!(code(&output), Some(1));
}

#[test]
fn policies_alone_rejected() {
    let dir = TempDir::new("policy-alone");
    let key = EcKey::new("k1");
    let policies = dir.file(
        "ra.yaml",
        request_authentication("https://idp.test", &jwks(&[&key])),
    );
    let (_, output) = run_json(&["--policies", policies.as_str(), key.token().as_str()]);
    assert_eq!(code(&output), Some(2));
    assert!(
        stderr(&output).contains("--workload"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn published_vectors_verify() {
    let dir = TempDir::new("vectors");
    // RFC 7515's tokens expire in 2011; the clock is set before that.
    let cases = [
        ("rfc7515-a1-hs256.json", "verified", None),
        ("rfc7515-a2-rs256.json", "verified", None),
        ("rfc7515-a3-es256.json", "verified", None),
        // RFC 8037 signs plain text, which Envoy refuses before it looks at the signature.
        (
            "rfc8037-a4-ed25519.json",
            "invalid",
            Some("Jwt payload is an invalid JSON"),
        ),
    ];
    for (name, status, envoy_status) in cases {
        let fixture: Value = serde_json::from_str(
            &std::fs::read_to_string(Path::new("tests/fixtures/jwt").join(name)).expect(name),
        )
        .expect(name);
        let path = dir.file(name, fixture["jwks"].to_string());
        let token = fixture["token"].as_str().unwrap_or_default();
        let output = run(
            &["-o", "json", "--at", "1300819000", "--jwks", &path, token],
            "",
        );
        let value: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        assert_eq!(value["signature"]["status"], status, "{name}");
        assert_eq!(
            value["signature"]["envoy_status"].as_str(),
            envoy_status,
            "{name}"
        );
    }
}

#[test]
fn istio_demo_token_verifies() {
    let data = Path::new("../shared/data/istio-jwt-samples");
    let (Ok(token), Ok(_)) = (
        std::fs::read_to_string(data.join("demo.jwt")),
        std::fs::metadata(data.join("jwks.json")),
    ) else {
        println!(
            "skipped: {} is absent (Istio's demo token and JWKS)",
            data.display()
        );
        return;
    };
    let jwks = data.join("jwks.json").display().to_string();
    let (value, output) = run_json(&["--jwks", &jwks, token.trim()]);
    assert_eq!(value["signature"]["status"], "verified");
    assert_eq!(code(&output), Some(0));
}

#[test]
fn unknown_kid_key_not_found() {
    let dir = TempDir::new("kid");
    let key = EcKey::new("k1");
    let path = dir.file("jwks.json", jwks(&[&key]));
    let (value, output) = run_json(&["--jwks", &path, &key.token_with_kid("k2")]);
    assert_eq!(value["signature"]["status"], "key_not_found");
    assert_eq!(value["signature"]["envoy_status"], KID_MISMATCH);
    assert!(message(&value).contains(r#"offers [kid "k1", EC P-256, alg ES256]"#));
    assert_eq!(code(&output), Some(1));
}

#[test]
fn other_key_same_kid_invalid() {
    let dir = TempDir::new("wrong-key");
    let published = EcKey::new("k1");
    let signer = EcKey::new("k1");
    let path = dir.file("jwks.json", jwks(&[&published]));
    let (value, output) = run_json(&["--jwks", &path, &signer.token()]);
    assert_eq!(value["signature"]["status"], "invalid");
    assert_eq!(value["signature"]["envoy_status"], "Jwt verification fails");
    assert_eq!(code(&output), Some(1));
}

#[test]
fn alg_none_unsigned() {
    let dir = TempDir::new("none");
    let key = EcKey::new("k1");
    let path = dir.file("jwks.json", jwks(&[&key]));
    let token = format!("{}.", signing_input(&json!({"alg": "none"}), &claims()));
    let (value, output) = run_json(&["--jwks", &path, &token]);
    assert_eq!(value["signature"]["status"], "unverified");
    assert!(message(&value).starts_with("unsigned token (`alg` none)"));
    assert_eq!(code(&output), Some(1));
}

#[test]
fn istiod_stand_in_named() {
    let dir = TempDir::new("stand-in");
    let modulus = b64(b"Error-IstiodFailedToFetchJwksUri-https://idp.test/certs");
    let stand_in =
        format!(r#"{{"keys":[ {{"e":"AQAB","kid":"abc","kty":"RSA","n":"{modulus}"}}]}}"#);
    let path = dir.file("stand-in.json", stand_in);
    let (value, output) = run_json(&["--jwks", &path, &EcKey::new("k1").token()]);
    assert_eq!(value["signature"]["status"], "key_not_found");
    assert!(
        message(&value).starts_with("istiod could not fetch the JWKS from https://idp.test/certs:")
    );
    assert_eq!(code(&output), Some(1));
}

#[test]
fn pem_keys_verify() {
    let dir = TempDir::new("pem");
    let input = signing_input(&json!({"alg": "EdDSA"}), &claims());

    let ed = Ed25519KeyPair::generate().expect("Ed25519 key");
    let ed_token = format!("{input}.{}", b64(ed.sign(input.as_bytes()).as_ref()));
    let ed_pem = pem(
        "PUBLIC KEY",
        &[
            hex("302a300506032b6570032100").as_slice(),
            ed.public_key().as_ref(),
        ]
        .concat(),
    );

    let rsa = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key");
    let rsa_input = signing_input(&json!({"alg": "RS256"}), &claims());
    let mut rsa_signature = vec![0; rsa.public_modulus_len()];
    rsa.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        rsa_input.as_bytes(),
        &mut rsa_signature,
    )
    .expect("RS256 signature");
    let rsa_token = format!("{rsa_input}.{}", b64(&rsa_signature));
    let rsa_pkcs1 = pem("RSA PUBLIC KEY", rsa.public_key().as_ref());

    let ec = EcKey::new("");
    let cases = [
        ("ec", ec.pem(), ec.token()),
        ("ed25519", ed_pem, ed_token),
        ("rsa-pkcs1", rsa_pkcs1, rsa_token),
    ];
    for (name, key_pem, token) in cases {
        let path = dir.file(&format!("{name}.pem"), key_pem);
        let (value, output) = run_json(&["--key", &path, &token]);
        assert_eq!(value["signature"]["status"], "verified", "{name}");
        assert_eq!(value["signature"]["key_source_kind"], "pem", "{name}");
        assert_eq!(code(&output), Some(0), "{name}");
    }
}

#[test]
fn secret_file_verifies() {
    let dir = TempDir::new("secret");
    let secret = b"a-test-secret-that-is-32-bytes!!";
    let path = dir.file("secret", [secret.as_slice(), b"\n"].concat());
    let (value, output) = run_json(&["--secret-file", &path, &hs256_token(secret)]);
    assert_eq!(value["signature"]["status"], "verified");
    assert_eq!(code(&output), Some(0));
}

#[test]
fn secret_flag_warns_never_echoes() {
    let secret = "flag-secret-value-for-tests-only";
    let (value, output) = run_json(&["--secret", secret, &hs256_token(secret.as_bytes())]);
    assert_eq!(value["signature"]["status"], "verified");
    assert!(stderr(&output).contains("lands in shell history"));
    assert!(!stderr(&output).contains(secret));
    assert!(!String::from_utf8_lossy(&output.stdout).contains(secret));
}

#[test]
fn malformed_inputs_exact_messages() {
    let dir = TempDir::new("malformed");
    let token = EcKey::new("k1").token();
    let missing = dir.0.join("missing.json").display().to_string();
    let private = dir.file(
        "private.pem",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    let empty_secret = dir.file("empty", "\n");
    let cases: [(&[&str], String); 4] = [
        (
            &["--jwks", &missing],
            format!(
                "idflow decode: cannot read the JWKS file {missing:?}: No such file or directory \
                 (os error 2); check the path\n"
            ),
        ),
        (
            &["--key", &private],
            format!(
                "idflow decode: {private}: PEM block 1: `PRIVATE KEY` is a private key; give the \
                 public key instead (`openssl pkey -in KEY -pubout`), and keep the private key out \
                 of tools\n"
            ),
        ),
        (
            &["--secret-file", &empty_secret],
            format!(
                "idflow decode: --secret-file {empty_secret}: the secret is empty; put the HMAC \
                 secret in the file or flag, as raw bytes\n"
            ),
        ),
        (
            &["--jwks", "http://idp.example.com/certs"],
            "idflow decode: warning: refusing to fetch http://idp.example.com/certs: plain http \
             is allowed only for loopback addresses (127.0.0.1, ::1, localhost); use https\n"
                .to_owned(),
        ),
    ];
    for (args, expected) in cases {
        let mut all = args.to_vec();
        all.push(&token);
        let output = run(&all, "");
        assert_eq!(stderr(&output), expected, "{args:?}");
    }
}

#[test]
fn invalid_jwks_envoy_status() {
    let dir = TempDir::new("bad-jwks");
    let path = dir.file("jwks.json", r#"{"keys": "nope"}"#);
    let (value, output) = run_json(&["--jwks", &path, &EcKey::new("k1").token()]);
    assert_eq!(
        message(&value),
        format!(
            "no keys could be loaded, so nothing was verified: {path}: JWKS rejected as Envoy's \
             jwt_authn would reject it: [keys] in Jwks is not an array; fix the JWKS (or the \
             JWKS the issuer publishes) and load it again"
        )
    );
    assert_eq!(code(&output), Some(1));
}

#[test]
fn zero_timeout_usage_error() {
    let output = run(&["--fetch-timeout", "0", "x.y.z"], "");
    assert_eq!(code(&output), Some(2));
}

// ---------------------------------------------------------------------------------------------
// Fetching from the local HTTPS server.

#[test]
fn url_jwks_verifies() {
    let key = EcKey::new("k1");
    let site = server("url", &key);
    let url = site.url("/jwks");
    let (value, output) = run_json(&["--ca-file", &site.ca_file, "--jwks", &url, &key.token()]);
    assert_eq!(value["signature"]["status"], "verified");
    assert_eq!(value["signature"]["key_source"], url.as_str());
    assert_eq!(code(&output), Some(0));
}

#[test]
fn issuer_discovery_verifies() {
    let key = EcKey::new("k1");
    let site = server("issuer", &key);
    let issuer = site.url("");
    let mut claims = claims();
    claims["iss"] = json!(issuer);
    let (value, output) = run_json(&[
        "--ca-file",
        &site.ca_file,
        "--issuer",
        &issuer,
        &key.token_for(&claims),
    ]);
    assert_eq!(value["signature"]["status"], "verified");
    assert_eq!(value["signature"]["key_source_kind"], "issuer");
    assert_eq!(site.hits("/.well-known/openid-configuration"), 1);
    assert_eq!(code(&output), Some(0));
}

/// A token without `iss` is rejected by Envoy when the provider names an issuer, as istiod's
/// providers do (401 `Jwt issuer is not configured`).
#[test]
fn issuer_discovery_no_iss() {
    let key = EcKey::new("k1");
    let site = server("issuer-none", &key);
    let mut claims = claims();
    claims
        .as_object_mut()
        .expect("claims are an object")
        .remove("iss");
    let (value, output) = run_json(&[
        "--ca-file",
        &site.ca_file,
        "--issuer",
        &site.url(""),
        &key.token_for(&claims),
    ]);
    let codes = value["problems"].to_string();

    assert!(codes.contains("issuer_mismatch"), "{codes}");
    assert_eq!(code(&output), Some(1));
}

/// The issuer's keys verify a token that names another issuer, which a RequestAuthentication for
/// the issuer does not accept (Envoy: 401 `Jwt issuer is not configured`).
#[test]
fn issuer_discovery_other_iss() {
    let key = EcKey::new("k1");
    let site = server("issuer-other", &key);
    let (value, output) = run_json(&[
        "--ca-file",
        &site.ca_file,
        "--issuer",
        &site.url(""),
        &key.token(),
    ]);
    let codes = value["problems"].to_string();

    assert_eq!(value["signature"]["status"], "verified");
    assert!(codes.contains("issuer_mismatch"), "{codes}");
    assert_eq!(code(&output), Some(1));
}

#[test]
fn untrusted_ca_tls_error() {
    let key = EcKey::new("k1");
    let site = server("no-ca", &key);
    let (value, output) = run_json(&["--jwks", &site.url("/jwks"), &key.token()]);
    assert_eq!(value["signature"]["status"], "unverified");
    assert!(message(&value).contains("TLS connection to https://127.0.0.1"));
    assert!(message(&value).contains("pass its certificate with --ca-file"));
    assert_eq!(code(&output), Some(1));
}

#[test]
fn slow_server_times_out() {
    let key = EcKey::new("k1");
    let site = server("slow", &key);
    let url = site.url("/slow");
    let started = Instant::now();
    let (value, _) = run_json(&[
        "--ca-file",
        &site.ca_file,
        "--fetch-timeout",
        "0.5",
        "--jwks",
        &url,
        &key.token(),
    ]);
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(message(&value).contains(&format!(
        "fetching {url} timed out after 0.5 s; check that the server answers, or raise \
         --fetch-timeout"
    )));
}

#[test]
fn huge_responses_stopped() {
    let key = EcKey::new("k1");
    let site = server("huge", &key);
    for path in ["/huge", "/huge-declared"] {
        let url = site.url(path);
        let (value, _) = run_json(&["--ca-file", &site.ca_file, "--jwks", &url, &key.token()]);
        assert!(
            message(&value).contains(&format!(
                "the response from {url} is larger than 1048576 bytes"
            )),
            "{path}: {}",
            message(&value)
        );
    }
}

#[test]
fn redirect_other_host_refused() {
    let key = EcKey::new("k1");
    let site = server("redirect", &key);
    let url = site.url("/redirect-other");
    let (value, output) = run_json(&["--ca-file", &site.ca_file, "--jwks", &url, &key.token()]);
    assert!(message(&value).contains(&format!(
        "{url} redirects to another host (127.0.0.1 to 127.0.0.2)"
    )));
    assert_eq!(site.hits("/jwks"), 0);
    assert_eq!(code(&output), Some(1));
}

#[test]
fn redirect_same_host_followed() {
    let key = EcKey::new("k1");
    let site = server("redirect-same", &key);
    let url = site.url("/redirect-same");
    let (value, _) = run_json(&["--ca-file", &site.ca_file, "--jwks", &url, &key.token()]);
    assert_eq!(value["signature"]["status"], "verified");
}

#[test]
fn rotated_key_refetched_once() {
    let old = EcKey::new("old");
    let new = EcKey::new("new");
    let site = Server::start(
        "rotate",
        String::new(),
        (jwks(&[&old]), jwks(&[&old, &new])),
    );
    let url = site.url("/rotating");
    let (value, output) = run_json(&["--ca-file", &site.ca_file, "--jwks", &url, &new.token()]);
    assert_eq!(value["signature"]["status"], "verified");
    assert!(message(&value).contains("after fetching"));
    assert_eq!(site.hits("/rotating"), 2);
    assert_eq!(code(&output), Some(0));
}

/// Sample policies name hosts under `example.com`. They are not looked up, and the warning names
/// the flag that gives the keys instead.
#[test]
fn reserved_jwks_host_not_fetched() {
    let dir = TempDir::new("reserved-host");
    let key = EcKey::new("k1");
    let rule = json!({"issuer": "https://idp.test", "jwksUri": "https://idp.example.com/jwks"});
    let policies = dir.file("ra.yaml", request_authentication_rule(&rule));
    let flags = ["--policies", policies.as_str(), "--workload", "shop/orders"];
    let (value, output) = run_json(&[&flags[..], &[key.token().as_str()]].concat());
    assert!(
        stderr(&output).contains(
            "refusing to fetch https://idp.example.com/jwks: idp.example.com is a name reserved for documentation"
        ),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("--jwks FILE"),
        "{}",
        stderr(&output)
    );
    assert_ne!(value["signature"]["status"], "verified");
    assert_eq!(code(&output), Some(1));
}

/// Two jwtRules for different issuers share one rotating `jwksUri`. A run fetches a URL again only
/// once, so that fetch must renew the keys of both rules, whichever issuer's token came first.
#[test]
fn shared_jwks_uri_refetched_for_every_rule() {
    let dir = TempDir::new("shared-uri");
    let old = EcKey::new("old");
    let new = EcKey::new("new");
    let site = Server::start(
        "shared-uri-site",
        String::new(),
        (jwks(&[&old]), jwks(&[&old, &new])),
    );

    let url = site.url("/rotating");
    let rules = ["https://a.test", "https://b.test"]
        .map(|issuer| json!({"issuer": issuer, "jwksUri": url}));
    let policies = dir.file("ra.yaml", request_authentication_rules(&rules));
    let token =
        |issuer: &str| new.token_for(&json!({"iss": issuer, "sub": "alice", "exp": AT + 3600}));
    let tokens = dir.file(
        "tokens.txt",
        format!("{}\n{}\n", token("https://b.test"), token("https://a.test")),
    );

    let output = run(
        &[
            "--batch",
            "--ca-file",
            &site.ca_file,
            "--policies",
            &policies,
            "--workload",
            "shop/orders",
            &tokens,
        ],
        "",
    );
    let statuses = batch_statuses(&output);
    assert_eq!(statuses, ["verified", "verified"], "{}", stderr(&output));
    assert_eq!(site.hits("/rotating"), 2);
    assert_eq!(code(&output), Some(0));
}

#[test]
fn server_error_names_url() {
    let key = EcKey::new("k1");
    let site = server("500", &key);
    let url = site.url("/error");
    let (value, _) = run_json(&["--ca-file", &site.ca_file, "--jwks", &url, &key.token()]);
    assert!(message(&value).contains(&format!(
        "GET {url} returned HTTP 500 Internal Server Error"
    )));
}

// ---------------------------------------------------------------------------------------------
// Batch mode.

#[test]
fn batch_lines_and_exit() {
    let key = EcKey::new("k1");
    let site = server("batch", &key);
    let url = site.url("/jwks");
    let wrong = EcKey::new("k1").token();
    let input = format!("{}\n\n   \nnot a token at all\n{wrong}\n", key.token());
    let output = run(
        &["--batch", "--ca-file", &site.ca_file, "--jwks", &url],
        &input,
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or(Value::Null))
        .collect();
    let numbers: Vec<&Value> = lines.iter().map(|line| &line["line"]).collect();
    assert_eq!(numbers, [&json!(1), &json!(4), &json!(5)]);
    assert_eq!(lines[0]["signature"]["status"], "verified");
    assert!(
        lines[1]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("no token found"))
    );
    assert_eq!(lines[2]["signature"]["status"], "invalid");
    assert_eq!(site.hits("/jwks"), 1);
    assert_eq!(code(&output), Some(1));
}

#[test]
fn batch_all_valid_exit_zero() {
    let dir = TempDir::new("batch-ok");
    let key = EcKey::new("k1");
    let jwks_path = dir.file("jwks.json", jwks(&[&key]));
    let tokens = dir.file("tokens.txt", format!("{}\n{}\n", key.token(), key.token()));
    let output = run(&["--batch", "--jwks", &jwks_path, &tokens], "");
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 2);
    assert_eq!(code(&output), Some(0));
}

/// Signs `alg` tokens with one RSA key, as a batch of one issuer's tokens is.
fn rsa_token(
    pair: &RsaKeyPair,
    alg: &str,
    encoding: &'static dyn aws_lc_rs::signature::RsaEncoding,
) -> String {
    let input = signing_input(&json!({"alg": alg, "kid": "rsa-1"}), &claims());
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(
        encoding,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .expect("RSA signature");
    format!("{input}.{}", b64(&signature))
}

/// The RSA key is parsed once per digest and padding and kept across the lines of a batch: each
/// line must still get its own verdict, whatever the lines before it were.
#[test]
fn batch_rsa_key_reused_across_algorithms() {
    use aws_lc_rs::signature::{RSA_PKCS1_SHA384, RSA_PSS_SHA256};
    let dir = TempDir::new("batch-rsa");
    let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key");
    let public = pair.public_key();
    let modulus = public.modulus().big_endian_without_leading_zero();
    let exponent = public.exponent().big_endian_without_leading_zero();
    let jwks =
        json!({"keys": [{"kty": "RSA", "kid": "rsa-1", "n": b64(modulus), "e": b64(exponent)}]});
    let jwks_path = dir.file("jwks.json", jwks.to_string());

    let rs256 = rsa_token(&pair, "RS256", &RSA_PKCS1_SHA256);
    let ps256 = rsa_token(&pair, "PS256", &RSA_PSS_SHA256);
    let rs384 = rsa_token(&pair, "RS384", &RSA_PKCS1_SHA384);
    // The RS256 signature under another header: the same key, a digest over other bytes.
    let signature = rs256.rsplit('.').next().unwrap_or_default();
    let input = signing_input(
        &json!({"alg": "RS256", "kid": "rsa-1"}),
        &json!({"sub": "mallory"}),
    );
    let tampered = format!("{input}.{signature}");
    // A PS256 header over an RS256 signature: the key parsed for PS256 must not accept it.
    let ps_header = rs256.replacen(
        rs256.split('.').next().unwrap_or_default(),
        &b64(json!({"alg": "PS256", "kid": "rsa-1"})
            .to_string()
            .as_bytes()),
        1,
    );
    let lines = [
        &rs256, &ps256, &tampered, &rs256, &rs384, &ps_header, &ps256,
    ];
    let mut input = String::new();
    for token in lines {
        input.push_str(token);
        input.push('\n');
    }
    let tokens = dir.file("tokens.txt", input);

    let output = run(&["--batch", "--jwks", &jwks_path, &tokens], "");
    let statuses = batch_statuses(&output);
    assert_eq!(
        statuses,
        [
            "verified", "verified", "invalid", "verified", "verified", "invalid", "verified"
        ],
        "{}",
        stderr(&output)
    );
    assert_eq!(code(&output), Some(1));
}

/// Batch lines carry the same object as `-o ndjson` plus `line`, with the keys in alphabetical
/// order at every level, as scripts have seen them since the first release.
#[test]
fn batch_object_matches_single_output() {
    let dir = TempDir::new("batch-shape");
    let key = EcKey::new("k1");
    let jwks_path = dir.file("jwks.json", jwks(&[&key]));
    let token = key.token();
    let tokens = dir.file("tokens.txt", format!("{token}\n"));
    for secrets in [&[][..], &["--show-secrets"][..]] {
        let mut batch = vec!["--batch", "--jwks", &jwks_path];
        batch.extend_from_slice(secrets);
        batch.push(&tokens);
        let batch_output = run(&batch, "");
        let mut single = vec!["-o", "ndjson", "--jwks", &jwks_path];
        single.extend_from_slice(secrets);
        single.push(&token);
        let single_output = run(&single, "");
        let batch_line = String::from_utf8_lossy(&batch_output.stdout).into_owned();
        let single_line = String::from_utf8_lossy(&single_output.stdout).into_owned();
        // The batch object is the single one with `"line":1` between `kind` and `problems`.
        let expected = single_line.replacen(r#","problems""#, r#","line":1,"problems""#, 1);
        assert_eq!(batch_line, expected, "{secrets:?}");
        let value: Value = serde_json::from_str(&batch_line).unwrap_or(Value::Null);
        let top = [
            "claims",
            "encoded_len",
            "fingerprint",
            "found_as",
            "header",
            "header_name",
            "kind",
            "line",
            "problems",
            "scheme",
            "signature",
            "times",
        ];
        assert_in_order(&batch_line, &top);
        let signature = batch_line
            .split(r#""signature":"#)
            .nth(1)
            .unwrap_or_default();
        assert_in_order(
            signature,
            &[
                "alg",
                "envoy_status",
                "key_index",
                "key_source",
                "key_source_kind",
                "kid",
                "message",
                "status",
            ],
        );
        assert_eq!(value.get("token").is_some(), !secrets.is_empty());
    }
}

/// Returns the `signature.status` of each line a batch printed, `?` for a line without one.
fn batch_statuses(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap_or(Value::Null);
            value["signature"]["status"]
                .as_str()
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

/// Asserts that each `"key":` occurs in `text`, each after the one before.
fn assert_in_order(text: &str, keys: &[&str]) {
    let mut from = 0;
    for key in keys {
        let found = text[from..].find(&format!("\"{key}\":"));
        assert!(found.is_some(), "{key} missing or out of order in {text}");
        from += found.unwrap_or_default();
    }
}
