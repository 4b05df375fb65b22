//! Fetching JWKS and OIDC discovery documents over HTTPS, with bounded time and size, redirects
//! kept on the same host, and a per-run cache that a key rotation may refresh once per URL.
//!
//! This is the one part of `token` that does IO. It blocks the caller on its own current-thread
//! runtime, so `idflow decode` stays synchronous.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::error::Error as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::{StatusCode, Url, header};

use crate::redact;

/// Maximum redirects followed for one fetch; a JWKS URL rarely needs more than one.
const MAX_REDIRECTS: usize = 10;

/// Limits and trust for fetches.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// Time allowed to open the TCP connection and finish the TLS handshake.
    pub connect_timeout: Duration,
    /// Time allowed for the whole fetch, redirects and body included.
    pub timeout: Duration,
    /// Largest response body accepted, in bytes.
    pub max_bytes: u64,
    /// A PEM file of CA certificates trusted in addition to the system's roots.
    pub ca_file: Option<PathBuf>,
}

/// Failure of a fetch. Each message names the URL and what to do.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(
        "refusing to fetch {url}: plain http is allowed only for loopback addresses (127.0.0.1, \
         ::1, localhost); use https"
    )]
    PlainHttp { url: String },
    #[error("refusing to fetch {url}: only https (and http on loopback) URLs are supported")]
    UnsupportedScheme { url: String },
    #[error(
        "refusing to fetch {url}: {host} is a name reserved for documentation (RFC 2606), \
         where no issuer publishes keys; give the keys with --jwks FILE, or use the issuer's real URL"
    )]
    ReservedHost { url: String, host: String },
    #[error(
        "fetching {url} timed out after {seconds} s; check that the server answers, or raise \
         --fetch-timeout"
    )]
    Timeout { url: String, seconds: f64 },
    #[error(
        "connecting to {url} timed out after {seconds} s; check the host and port, or raise \
         --connect-timeout"
    )]
    ConnectTimeout { url: String, seconds: f64 },
    #[error("DNS lookup of {host:?} failed for {url}: {detail}; check the host name")]
    Dns {
        url: String,
        host: String,
        detail: String,
    },
    #[error(
        "TLS connection to {url} failed: {detail}; if the server uses a private CA, pass its \
         certificate with --ca-file"
    )]
    Tls { url: String, detail: String },
    #[error("connecting to {url} failed: {detail}")]
    Connect { url: String, detail: String },
    #[error("fetching {url} failed: {detail}")]
    Request { url: String, detail: String },
    #[error("GET {url} returned HTTP {status}; check the URL, or retry when the server is back")]
    Status { url: String, status: StatusCode },
    #[error(
        "the response from {url} is larger than {limit} bytes, so it was not read further; a JWKS \
         is far smaller, so check the URL, or raise --max-fetch-bytes"
    )]
    TooLarge { url: String, limit: u64 },
    #[error(
        "{url} redirects to another host ({from} to {to}); redirects are followed only on the \
         same host, so pass the final URL ({location}) if you trust it"
    )]
    CrossHostRedirect {
        url: String,
        from: String,
        to: String,
        location: String,
    },
    #[error("{url} redirected more than {MAX_REDIRECTS} times; pass the final URL")]
    TooManyRedirects { url: String },
    #[error("{url} answered HTTP {status} without a valid `Location` header")]
    BadRedirect { url: String, status: StatusCode },
    #[error("the response from {url} is not UTF-8 text; a JWKS is JSON")]
    NotText { url: String },
    #[error("cannot use --ca-file {path:?}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("cannot start the HTTP client: {0}")]
    Client(String),
}

impl FetchError {
    /// Hides the user and password of each URL the error names, because its message reaches
    /// stderr, the JSON output and the log.
    fn without_credentials(mut self) -> Self {
        match &mut self {
            Self::CrossHostRedirect { url, location, .. } => {
                hide_userinfo(url);
                hide_userinfo(location);
            }
            Self::InvalidUrl { url, .. }
            | Self::PlainHttp { url }
            | Self::UnsupportedScheme { url }
            | Self::ReservedHost { url, .. }
            | Self::Timeout { url, .. }
            | Self::ConnectTimeout { url, .. }
            | Self::Dns { url, .. }
            | Self::Tls { url, .. }
            | Self::Connect { url, .. }
            | Self::Request { url, .. }
            | Self::Status { url, .. }
            | Self::TooLarge { url, .. }
            | Self::TooManyRedirects { url }
            | Self::BadRedirect { url, .. }
            | Self::NotText { url } => hide_userinfo(url),
            Self::CaFile { .. } | Self::Client(_) => {}
        }
        self
    }
}

/// Replaces `url` with its text without user and password.
fn hide_userinfo(url: &mut String) {
    if let Cow::Owned(hidden) = redact::hide_url_credentials(url) {
        *url = hidden;
    }
}

/// Fetches documents over HTTP(S) and remembers them for the rest of the run.
pub struct Fetcher {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    settings: FetchSettings,
    cache: HashMap<String, String>,
    refreshed: HashSet<String>,
}

impl Fetcher {
    /// Builds the client: rustls with the system's roots plus `--ca-file`, no proxy, no automatic
    /// redirects (they are followed here, on the same host only).
    // NOTE: proxy variables (HTTPS_PROXY …) are ignored, so a JWKS behind a proxy cannot be fetched.
    pub fn new(settings: FetchSettings) -> Result<Self, FetchError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| FetchError::Client(error.to_string()))?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("idflow/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &settings.ca_file {
            let ca_error = |reason: String| FetchError::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|error| ca_error(error.to_string()))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|error| ca_error(format!("not a PEM certificate bundle ({error})")))?;
            if certificates.is_empty() {
                return Err(ca_error(
                    "no `-----BEGIN CERTIFICATE-----` block found".to_owned(),
                ));
            }
            builder = builder.tls_certs_merge(certificates);
        }
        let client = builder
            .build()
            .map_err(|error| FetchError::Client(error_chain(&error)))?;
        Ok(Self {
            runtime,
            client,
            settings,
            cache: HashMap::new(),
            refreshed: HashSet::new(),
        })
    }

    /// Returns the document at `url`, fetched once per run.
    pub fn get(&mut self, url: &str) -> Result<String, FetchError> {
        if let Some(text) = self.cache.get(url) {
            return Ok(text.clone());
        }
        let text = self.fetch(url)?;
        self.cache.insert(url.to_owned(), text.clone());
        Ok(text)
    }

    /// Fetches `url` again, bypassing the cache, at most once per run; returns `None` when it was
    /// already refreshed. Used when no key matches a token's `kid`, which a key rotation causes.
    pub fn refresh(&mut self, url: &str) -> Option<Result<String, FetchError>> {
        if !self.refreshed.insert(url.to_owned()) {
            return None;
        }
        tracing::debug!(
            url = %redact::hide_url_credentials(url),
            "refetching the JWKS: no key matched the token's kid"
        );
        let result = self.fetch(url);
        if let Ok(text) = &result {
            self.cache.insert(url.to_owned(), text.clone());
        }
        Some(result)
    }

    fn fetch(&self, url: &str) -> Result<String, FetchError> {
        let parsed = checked_url(url).map_err(FetchError::without_credentials)?;
        let timeout = self.settings.timeout;
        let work = fetch_following(&self.client, parsed, self.settings.max_bytes, url);
        let result = self.runtime.block_on(async {
            tokio::time::timeout(timeout, work)
                .await
                .unwrap_or_else(|_| {
                    Err(FetchError::Timeout {
                        url: url.to_owned(),
                        seconds: timeout.as_secs_f64(),
                    })
                })
        });
        // `classify` cannot see the settings, so the connect timeout is filled in here.
        result.map_err(|error| {
            let error = match error {
                FetchError::ConnectTimeout { url, .. } => FetchError::ConnectTimeout {
                    url,
                    seconds: self.settings.connect_timeout.as_secs_f64(),
                },
                other => other,
            };
            error.without_credentials()
        })
    }
}

/// Follows same-host redirects from `url` and reads the final body within `max_bytes`.
async fn fetch_following(
    client: &reqwest::Client,
    mut url: Url,
    max_bytes: u64,
    original: &str,
) -> Result<String, FetchError> {
    for _ in 0..=MAX_REDIRECTS {
        tracing::debug!(url = %redact::hide_url_credentials(url.as_str()), "fetching");
        let response = client
            .get(url.clone())
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| classify(&url, error))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| url.join(value).ok())
                .ok_or_else(|| FetchError::BadRedirect {
                    url: url.to_string(),
                    status,
                })?;
            if location.host_str() != url.host_str() {
                return Err(FetchError::CrossHostRedirect {
                    url: url.to_string(),
                    from: url.host_str().unwrap_or_default().to_owned(),
                    to: location.host_str().unwrap_or_default().to_owned(),
                    location: location.to_string(),
                });
            }
            url = checked_url(location.as_str())?;
            continue;
        }
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.to_string(),
                status,
            });
        }
        return read_limited(response, &url, max_bytes).await;
    }
    Err(FetchError::TooManyRedirects {
        url: original.to_owned(),
    })
}

/// Reads the body in chunks and stops as soon as it passes `max_bytes`.
async fn read_limited(
    mut response: reqwest::Response,
    url: &Url,
    max_bytes: u64,
) -> Result<String, FetchError> {
    let too_large = || FetchError::TooLarge {
        url: url.to_string(),
        limit: max_bytes,
    };
    if response
        .content_length()
        .is_some_and(|length| length > max_bytes)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| classify(url, error))?
    {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > max_bytes {
            return Err(too_large());
        }
    }
    String::from_utf8(body).map_err(|_| FetchError::NotText {
        url: url.to_string(),
    })
}

/// Parses `url` and enforces the scheme rule: https anywhere, http only on loopback.
fn checked_url(url: &str) -> Result<Url, FetchError> {
    let parsed = Url::parse(url).map_err(|error| FetchError::InvalidUrl {
        url: url.to_owned(),
        reason: format!("{error}; expected an absolute https:// URL"),
    })?;
    let parsed = match parsed.scheme() {
        "https" => parsed,
        "http" if is_loopback(&parsed) => parsed,
        "http" => {
            return Err(FetchError::PlainHttp {
                url: url.to_owned(),
            });
        }
        _ => {
            return Err(FetchError::UnsupportedScheme {
                url: url.to_owned(),
            });
        }
    };
    // Sample policies and documents name these hosts; a lookup would only leave the machine.
    match parsed.host_str() {
        Some(host) if is_reserved_example(host) => Err(FetchError::ReservedHost {
            url: url.to_owned(),
            host: host.to_owned(),
        }),
        _ => Ok(parsed),
    }
}

/// Returns whether `host` is one of RFC 2606's names for documentation: `example.com`,
/// `example.net`, `example.org` and their subdomains, or a name under the `.example` or `.invalid`
/// top-level domains. `.test` is left out: local development setups resolve names under it.
fn is_reserved_example(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let under = |domain: &str| {
        host == domain
            || host
                .strip_suffix(domain)
                .is_some_and(|rest| rest.ends_with('.'))
    };
    [
        "example.com",
        "example.net",
        "example.org",
        "example",
        "invalid",
    ]
    .iter()
    .any(|domain| under(domain))
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// Sorts a reqwest error into timeout, DNS, TLS or connection failure, by its source chain. The
/// detail leaves out the URL, which the message names once, without its user and password.
fn classify(url: &Url, error: reqwest::Error) -> FetchError {
    let error = error.without_url();
    let detail = error_chain(&error);
    let url_text = url.to_string();
    if error.is_timeout() && error.is_connect() {
        return FetchError::ConnectTimeout {
            url: url_text,
            seconds: 0.0,
        };
    }
    let lower = detail.to_ascii_lowercase();
    if lower.contains("dns error") || lower.contains("failed to lookup address") {
        return FetchError::Dns {
            url: url_text,
            host: url.host_str().unwrap_or_default().to_owned(),
            detail,
        };
    }
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        return FetchError::Tls {
            url: url_text,
            detail,
        };
    }
    if error.is_connect() {
        return FetchError::Connect {
            url: url_text,
            detail,
        };
    }
    FetchError::Request {
        url: url_text,
        detail,
    }
}

/// Joins an error and its sources, skipping a source whose text its parent already contains.
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_loopback_allowed() {
        let urls = [
            "http://127.0.0.1:8080/j",
            "http://[::1]/j",
            "http://localhost/j",
        ];
        for url in urls {
            assert!(checked_url(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn http_remote_refused() {
        let error = checked_url("http://idp.example.com/certs").expect_err("plain http");
        assert!(matches!(error, FetchError::PlainHttp { .. }));
        for url in [
            "https://idp.example.com/jwks",
            "https://EXAMPLE.org./certs",
            "https://idp.invalid/jwks",
            "https://a.example/jwks",
        ] {
            let error = checked_url(url).expect_err(url);
            assert!(
                matches!(error, FetchError::ReservedHost { .. }),
                "{url}: {error}"
            );
        }
        for url in [
            "https://notexample.com/jwks",
            "https://example.com.evil.io/jwks",
            "https://contest/jwks",
            "https://auth.shop.test/jwks",
            "https://127.0.0.1:8443/jwks",
        ] {
            assert!(checked_url(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn ftp_refused() {
        let error = checked_url("ftp://127.0.0.1/certs").expect_err("scheme");
        assert!(matches!(error, FetchError::UnsupportedScheme { .. }));
    }
}
