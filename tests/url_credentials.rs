//! URLs with a user and password (`http://user:password@host/…`) in `idflow decode`: the request
//! sends them as HTTP Basic credentials, and no output, warning or log line shows them.
//!
//! A plain HTTP server on 127.0.0.1, started by each test, records the `Authorization` header of
//! every request it gets.

#[path = "what_if/mint.rs"]
mod mint;
mod support;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use support::decode_output;

/// The user and password the tests put in the URLs; minted here, never real.
const USER: &str = "jwks-user";
const PASSWORD: &str = "url-password-4411";

/// The request line and `Authorization` header of one request.
type Seen = (String, Option<String>);

/// A loopback HTTP server that responds to every request with `status` and `body`, and records the
/// request line and `Authorization` header of each request.
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    fn start(status: u16, body: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut authorization = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("authorization")
                    {
                        authorization = Some(value.trim().to_owned());
                    }
                }
                recorded
                    .lock()
                    .expect("lock")
                    .push((request_line.trim().to_owned(), authorization));
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { port, seen }
    }

    /// Returns `http://USER:PASSWORD@127.0.0.1:PORT{path}`.
    fn url_with_credentials(&self, path: &str) -> String {
        format!("http://{USER}:{PASSWORD}@127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

/// Checks the warning of a fetch that got HTTP 500 from a URL with credentials: it names the
/// status and the URL without user and password.
fn assert_failure_warning_hidden(stderr: &str) {
    assert!(
        stderr.contains("HTTP 500"),
        "the warning names the status: {stderr}"
    );
    assert!(
        stderr.contains("[credentials hidden]@127.0.0.1"),
        "the warning names the URL: {stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert!(!stderr.contains(USER), "{stderr}");
}

fn token() -> String {
    let now = chrono::Utc::now().timestamp();
    mint::mint(
        mint::key(),
        &mint::claims(mint::ISSUER, "orders", now, 3600),
    )
}

fn basic_credentials() -> String {
    let pair = format!("{USER}:{PASSWORD}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

#[test]
fn jwks_url_credentials_sent_not_shown() {
    let server = Server::start(200, mint::jwks());
    let url = server.url_with_credentials("/certs");

    let (code, json, stderr) = decode_output(&token(), &["--jwks", &url]);

    assert_eq!(code, 0, "verified: {json} {stderr}");
    assert_eq!(json["signature"]["status"], "verified", "{json}");
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].0, "GET /certs HTTP/1.1");
    assert_eq!(requests[0].1.as_deref(), Some(basic_credentials().as_str()));
    let key_source = json["signature"]["key_source"].as_str().unwrap_or_default();
    assert_eq!(
        key_source,
        format!(
            "http://[credentials hidden]@127.0.0.1:{}/certs",
            server.port
        )
    );
    assert!(!json.to_string().contains(PASSWORD), "{json}");
    assert!(!json.to_string().contains(USER), "{json}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}

#[test]
fn jwks_url_failure_hides_credentials() {
    let server = Server::start(500, String::new());
    let url = server.url_with_credentials("/certs");

    let (code, json, stderr) = decode_output(&token(), &["--jwks", &url]);

    assert_eq!(code, 1, "unverified: {json} {stderr}");
    assert_eq!(server.requests().len(), 1);
    assert_failure_warning_hidden(&stderr);
    let message = json["signature"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("HTTP 500"), "{message}");
    assert!(!json.to_string().contains(PASSWORD), "{json}");
}

#[test]
fn connect_failure_hides_credentials() {
    // Bound, then closed: nothing listens on the port, so the connection is refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let url = format!("http://{USER}:{PASSWORD}@127.0.0.1:{port}/certs");

    let (code, json, stderr) = decode_output(&token(), &["--jwks", &url]);

    assert_eq!(code, 1, "unverified: {json} {stderr}");
    assert!(stderr.contains("connecting to"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert!(!json.to_string().contains(PASSWORD), "{json}");
}

#[test]
fn discovery_credentials_hidden() {
    let jwks = Server::start(200, mint::jwks());
    let jwks_uri = jwks.url_with_credentials("/certs");
    let discovery = Server::start(
        200,
        serde_json::json!({"issuer": "https://other-idp.shop.test", "jwks_uri": jwks_uri})
            .to_string(),
    );
    let issuer = discovery.url_with_credentials("");

    let (code, json, stderr) = decode_output(&token(), &["--issuer", &issuer]);

    assert_eq!(json["signature"]["status"], "verified", "{json} {stderr}");
    // The token's `iss` is not the issuer given, so decode reports `issuer_mismatch`.
    assert_eq!(code, 1, "{json}");
    let requests = discovery.requests();
    assert_eq!(
        requests[0].0,
        "GET /.well-known/openid-configuration HTTP/1.1"
    );
    assert_eq!(requests[0].1.as_deref(), Some(basic_credentials().as_str()));
    assert_eq!(
        jwks.requests()[0].1.as_deref(),
        Some(basic_credentials().as_str())
    );
    assert!(
        stderr.contains("[credentials hidden]"),
        "the issuer warning names the document: {stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert!(!json.to_string().contains(PASSWORD), "{json}");
}

/// Writes an edge profile whose EdgeWorker fetches its keys from `jwks`, and returns its path.
fn edge_profile(jwks: &str, label: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("url-credentials-{}-{label}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("folder created");
    let path = dir.join("edge.toml");
    let text = format!(
        "name = \"credentials\"\n\n[checks]\nissuers = [\"{}\"]\n\n[keys]\njwks = \"{jwks}\"\n",
        mint::ISSUER
    );
    std::fs::write(&path, text).expect("profile written");
    path
}

#[test]
fn edge_profile_fetch_failure_hidden() {
    let server = Server::start(500, String::new());
    let profile = edge_profile(&server.url_with_credentials("/certs"), "failure");
    let profile = profile.display().to_string();

    let (_, json, stderr) = decode_output(&token(), &["--edge-profile", &profile]);

    assert_eq!(server.requests().len(), 1);
    assert_failure_warning_hidden(&stderr);
    assert!(!json.to_string().contains(PASSWORD), "{json}");
}

#[test]
fn edge_profile_fetch_sends_credentials() {
    let server = Server::start(200, mint::jwks());
    let profile = edge_profile(&server.url_with_credentials("/certs"), "fetch");
    let profile = profile.display().to_string();

    let (_, json, stderr) = decode_output(&token(), &["--edge-profile", &profile]);

    assert!(json.get("edge").is_some(), "{json} {stderr}");
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].1.as_deref(), Some(basic_credentials().as_str()));
    assert!(!json.to_string().contains(PASSWORD), "{json}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}

#[test]
fn edge_profile_bad_url_hidden() {
    // Plain http to a host that is not loopback is rejected before any request.
    let profile = edge_profile(
        &format!("http://{USER}:{PASSWORD}@10.0.0.5/jwks.json"),
        "plain-http",
    );
    let profile = profile.display().to_string();

    let (code, _, stderr) = decode_output(&token(), &["--edge-profile", &profile]);

    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("plain http"), "{stderr}");
    assert!(stderr.contains("[credentials hidden]@10.0.0.5"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}
