//! Sends one request (or opens one TCP connection) to the inbound listener, over mTLS when the
//! request has a peer principal.
//!
//! HTTP requests are written by hand on the socket: an HTTP client library parses the URL and
//! resolves `..` and `%xx` before sending, which would hide exactly the path normalization that
//! Envoy's `normalize_path` performs and the policies are matched against.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use socket2::{Domain, Socket, Type};

use super::pki::{CertPair, Pki};

const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// One request as it goes on the wire.
#[derive(Debug, Clone)]
pub struct WireRequest {
    pub method: String,
    /// Request target exactly as sent, query string included.
    pub path: String,
    pub host: String,
    pub headers: Vec<(String, String)>,
    /// The client certificate's URI SAN; `None` sends plaintext.
    pub peer: Option<String>,
    pub source_ip: IpAddr,
    pub sni: Option<String>,
}

/// The client side of a TCP connection.
#[derive(Debug, Clone)]
pub struct TcpOutcome {
    /// The client's address, which Envoy logs as `%DOWNSTREAM_REMOTE_ADDRESS%`.
    pub local: SocketAddr,
    /// Whether the upstream responded, so the connection was let through.
    pub responded: bool,
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

fn connect(port: u16, source_ip: IpAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(source_ip, 0).into())?;
    socket.connect_timeout(
        &SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port).into(),
        IO_TIMEOUT,
    )?;
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

fn tls_config(ca_pem: &str, client: &CertPair) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|e| e.to_string())?;
    roots.add(ca).map_err(|e| e.to_string())?;
    let chain = vec![
        CertificateDer::from_pem_slice(client.cert_pem.as_bytes()).map_err(|e| e.to_string())?,
    ];
    let key =
        PrivateKeyDer::from_pem_slice(client.key_pem.as_bytes()).map_err(|e| e.to_string())?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

fn open(
    port: u16,
    request: &WireRequest,
    pki: &Pki,
) -> Result<(Box<dyn Stream>, SocketAddr), String> {
    let tcp = connect(port, request.source_ip)
        .map_err(|error| format!("cannot connect to 127.0.0.1:{port}: {error}"))?;
    let local = tcp.local_addr().map_err(|e| e.to_string())?;
    let Some(peer) = &request.peer else {
        return Ok((Box::new(tcp), local));
    };
    let client = pki
        .clients
        .get(peer)
        .ok_or_else(|| format!("no client certificate minted for {peer:?}"))?;
    let name = match &request.sni {
        Some(sni) => ServerName::try_from(sni.clone()).map_err(|e| e.to_string())?,
        None => ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into()),
    };
    let connection = rustls::ClientConnection::new(tls_config(&pki.ca_pem, client)?, name)
        .map_err(|e| e.to_string())?;
    Ok((Box::new(rustls::StreamOwned::new(connection, tcp)), local))
}

/// Sends an HTTP/1.1 request and returns the response status.
pub fn send_http(port: u16, request: &WireRequest, pki: &Pki) -> Result<u16, String> {
    let (mut stream, _) = open(port, request, pki)?;
    let mut text = format!(
        "{} {} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n",
        request.method, request.path, request.host
    );
    for (name, value) in &request.headers {
        let _ = write!(text, "{name}: {value}\r\n");
    }
    text.push_str("\r\n");
    stream
        .write_all(text.as_bytes())
        .map_err(|error| format!("cannot send the request: {error}"))?;
    let mut response = Vec::new();
    // A TLS peer may close without close_notify, and the bytes read so far contain the status line.
    if let Err(error) = stream.read_to_end(&mut response)
        && response.is_empty()
    {
        return Err(format!("no response: {error}"));
    }
    let response = String::from_utf8_lossy(&response);
    let status = response
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| {
            format!(
                "not an HTTP response: {:?}",
                response.chars().take(80).collect::<String>()
            )
        })?;
    Ok(status)
}

/// Opens a TCP connection, sends a line and reports whether the upstream responded.
pub fn send_tcp(port: u16, request: &WireRequest, pki: &Pki) -> Result<TcpOutcome, String> {
    let (mut stream, local) = open(port, request, pki)?;
    // The client speaks first so that the TLS inspector can tell plaintext from TLS.
    let _ = stream.write_all(b"ping\n");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    Ok(TcpOutcome {
        local,
        responded: !response.is_empty(),
    })
}
