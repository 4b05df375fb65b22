//! The live-cluster source against a loopback HTTP server that returns the Kubernetes API's 404
//! `Status` for every request, as an API server without Istio's CRDs and without the namespace
//! does. Tests against the fake API server with pods, policies and logs are added when it is merged.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use idflow::source::kube::{
    KubeSettings, LiveMessage, LiveSettings, LiveSource, Scope, connect, resolve,
};

const NOT_FOUND: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}"#;

/// Starts a server on 127.0.0.1 that responds to each request with a 404 `Status`, and returns its port.
fn start_not_found_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("local address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
            let mut line = String::new();
            // Read the request head up to the blank line; the requests here have no body.
            while reader.read_line(&mut line).is_ok_and(|read| read > 0) {
                if line == "\r\n" {
                    break;
                }
                line.clear();
            }
            let response = format!(
                "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{NOT_FOUND}",
                NOT_FOUND.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    port
}

fn write_kubeconfig(port: u16) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("idflow-kube-source-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let path = dir.join("config");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: loopback\n  cluster:\n    server: http://127.0.0.1:{port}\nusers:\n- name: tester\n  user: {{}}\ncontexts:\n- name: test\n  context:\n    cluster: loopback\n    user: tester\n    namespace: shop\ncurrent-context: test\n"
    );
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

#[tokio::test]
async fn missing_crds_reported_once() {
    let port = start_not_found_server();
    let settings = KubeSettings {
        kubeconfig: Some(write_kubeconfig(port)),
        ..KubeSettings::default()
    };
    let resolved = resolve(&settings).expect("kubeconfig resolves");
    assert_eq!(resolved.scope, Scope::Namespace("shop".to_owned()));

    let client = connect(&resolved).await.expect("client");
    let mut source = LiveSource::start(client, LiveSettings::new(resolved.scope.clone()));
    let mut notices = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, source.recv()).await {
        if let LiveMessage::Notice(text) = message {
            let done = text.contains("security policies are not available");
            notices.push(text);
            if done {
                break;
            }
        }
    }
    let crd_notices = notices
        .iter()
        .filter(|text| text.contains("security policies are not available"))
        .count();
    assert_eq!(crd_notices, 1, "notices: {notices:?}");
}
