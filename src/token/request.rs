//! Reading the tokens of a pasted curl command or URL the way Envoy's `jwt_authn` reads them with
//! Istio's default locations: the `Authorization` header after `Bearer `, then the `access_token`
//! query parameter. Envoy verifies every token it reads, so decode reports each token beside the
//! one it decodes.

use chrono::{DateTime, Utc};

use super::curl::CurlRequest;
use super::find::{
    Found, MeshReading, not_a_token, pick_token_in, read_query_value, split_header_line,
};
use super::{
    Problem, Severity, TokenError, TokenKind, count_dots, envoy, jose, plural, quote_truncated,
    times,
};
use super::{httpie, pasted};
use crate::mesh::jwt::config::JwtProvider;
use crate::mesh::jwt::extract::{self, Location};
use crate::mesh::{self, codec};

/// The query parameter Envoy's jwt_authn reads a token from when a `RequestAuthentication` names
/// no location.
pub(super) const QUERY_PARAMETER: &str = "access_token";

/// The header line a curl command sends the token in, and how it was given.
pub(super) struct CurlHeader {
    pub line: String,
    pub source: &'static str,
    /// How many `Authorization` headers the command sends, and the one value Envoy makes of them
    /// (joined with `,`) when there are several.
    pub repeated: Option<(usize, String)>,
    /// The other tokens Envoy reads from the request, and notes on what idflow did not read.
    pub beside: Beside,
}

/// The other tokens and the unread parts of a request, beside the token decode reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Beside {
    /// Tokens that Envoy's `jwt_authn` reads after the first, in its order.
    pub others: Vec<OtherToken>,
    /// Problems about parts of the request idflow did not read (files, the body).
    pub problems: Vec<Problem>,
}

/// A token that Envoy's `jwt_authn` reads besides the one decode reads.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct OtherToken {
    /// Its location, for messages: ``the `access_token` query parameter``.
    pub location: String,
    pub text: String,
}

impl std::fmt::Debug for OtherToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "OtherToken({}, {} bytes, redacted)",
            self.location,
            self.text.len()
        )
    }
}

/// Returns the header a curl command sends the token in, or `None` for text that is neither a
/// curl command nor a URL. The error is the whole outcome for a request whose token Envoy reads
/// from the query, or that carries no token.
pub(super) fn curl_or_url(
    text: &str,
) -> Result<Option<CurlHeader>, Box<Result<Found, TokenError>>> {
    let Some((source, requests)) = requests_in(text) else {
        return Ok(None);
    };
    let index = decoded_request(&requests);
    let request = &requests[index];
    let mut beside = Beside {
        others: Vec::new(),
        problems: unread_problems(source, request),
    };
    beside
        .problems
        .extend(several_requests_problem(&requests, index));
    beside.problems.extend(codec_problem(request));
    // Whitespace before the colon makes Envoy reject the request (see `codec_problem`), but the
    // header is still read for its token.
    let lines: Vec<String> = request
        .headers
        .iter()
        .map(|line| match line.split_once(':') {
            Some((name, value)) => format!("{}:{value}", name.trim_end()),
            None => line.clone(),
        })
        .collect();
    let read = envoy_reads(request);
    let authorization = lines.iter().find(|line| is_authorization(line)).cloned();
    match read.first().map(|found| &found.location) {
        Some(Location::Header { .. }) => {
            beside.others = read[1..].iter().map(other_token).collect();
        }
        Some(Location::Param(_)) => {
            if authorization.is_some() {
                beside.problems.push(Problem::note(
                    "authorization_not_read",
                    format!(
                        "the Authorization header has no `Bearer ` prefix, so Envoy's jwt_authn \
                         reads no token from it. It reads the token in the `{QUERY_PARAMETER}` \
                         query parameter"
                    ),
                ));
            }
            beside.others = read[1..].iter().map(other_token).collect();
            let url = request.url.as_deref().unwrap_or_default();
            let found = found_in_query(source, text, url, beside);
            return Err(Box::new(
                found.unwrap_or_else(|| Err(no_token(source, text, request))),
            ));
        }
        Some(Location::Cookie(_)) | None => {}
    }

    // Envoy reads the `Authorization` header first. Without one, a header whose value contains a
    // JSON object in base64url (`eyJ` encodes `{"`) is the likely custom token location, and the
    // `Cookie` header of `-b` is one of them.
    let chosen = authorization.or_else(|| lines.iter().find(|line| line.contains("eyJ")).cloned());
    let Some(line) = chosen else {
        return Err(Box::new(Err(no_token(source, text, request))));
    };
    let source = match source {
        HTTPIE if request.oauth2_bearer => "HTTPie -A bearer",
        _ if request.oauth2_bearer => "curl --oauth2-bearer",
        _ => source,
    };
    // Envoy's HTTP/1 codec joins repeated `Authorization` headers into one value with `,`, and an
    // empty one adds nothing.
    let authorizations: Vec<&str> = request
        .header_pairs()
        .filter(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value)
        .collect();
    let repeated = (authorizations.len() > 1)
        .then(|| extract::join_header_values("authorization", authorizations.iter().copied()))
        .flatten()
        .map(|joined| (authorizations.len(), joined));
    Ok(Some(CurlHeader {
        line,
        source,
        repeated,
        beside,
    }))
}

/// The name of a pasted HTTPie command in messages.
const HTTPIE: &str = "HTTPie command";

/// Returns how `text` was given (`curl command`, `HTTPie command`, `HTTP request`, `URL` …) and
/// the requests it sends, or `None` for text in none of these shapes.
fn requests_in(text: &str) -> Option<(&'static str, Vec<CurlRequest>)> {
    if let Some(requests) = CurlRequest::parse_all(text) {
        let source = if text.starts_with("curl") {
            "curl command"
        } else {
            "curl -H argument"
        };
        return Some((source, requests));
    }
    if let Some(request) = httpie::parse(text) {
        return Some((HTTPIE, vec![request]));
    }
    pasted::parse(text).map(|(source, request)| (source, vec![request]))
}

/// Returns the request that pasted `text` sends, when it is a curl or HTTPie command, an HTTP
/// request (as `curl -v` prints it), a URL or a path with a query: of several requests, the one
/// whose token decode reads. Returns `None` for other text, such as a header line or a token.
pub fn sent_request(text: &str) -> Option<CurlRequest> {
    read_request(text).map(|(_, request)| request)
}

/// Returns how pasted `text` was given and the request [`sent_request`] returns for it.
pub(super) fn read_request(text: &str) -> Option<(&'static str, CurlRequest)> {
    let (source, mut requests) = requests_in(without_padding(text))?;
    let index = decoded_request(&requests);
    Some((source, requests.swap_remove(index)))
}

/// Returns the request that the token pasted in `text` is sent in, as [`sent_request`] does. For
/// `curl -v` output of a request without a token, it returns `None` when the response has a body
/// or a redirect with a token. Such is the output for a token or authorization endpoint, and
/// decode reads the token in the response.
pub fn pasted_request(text: &str) -> Option<CurlRequest> {
    let request = sent_request(text)?;
    let text = without_padding(text);
    let token_in_response = !carries_token(&request)
        && (pasted::verbose_response_body(text).is_some()
            || pasted::verbose_redirect_heads(text).is_some());
    (!token_in_response).then_some(request)
}

/// Returns `text` without a leading byte order mark and surrounding ASCII whitespace.
fn without_padding(text: &str) -> &str {
    text.trim_start_matches('\u{feff}')
        .trim_matches(|c: char| c.is_ascii_whitespace())
}

/// Returns whether `line` is an `Authorization` header line.
fn is_authorization(line: &str) -> bool {
    split_header_line(line).is_some_and(|(name, _)| name.eq_ignore_ascii_case("authorization"))
}

/// Returns the index of the request decode reads among the `requests` one command sends: the first
/// that carries a token Envoy reads or a header with a JWT, else the first.
pub(super) fn decoded_request(requests: &[CurlRequest]) -> usize {
    requests.iter().position(carries_token).unwrap_or_default()
}

/// Returns whether `request` carries a token that Envoy reads or a header with a JWT.
fn carries_token(request: &CurlRequest) -> bool {
    !envoy_reads(request).is_empty() || request.headers.iter().any(|line| line.contains("eyJ"))
}

/// Returns the problem for a command that sends several requests, naming each by its URL without
/// the query (which may hold a token). `decoded` is the index of the one decode reads.
fn several_requests_problem(requests: &[CurlRequest], decoded: usize) -> Option<Problem> {
    if requests.len() < 2 {
        return None;
    }
    let name = |index: usize| {
        let url = requests[index].url.as_deref().unwrap_or("/");
        let without_query = url.split('?').next().unwrap_or_default();
        format!("{} ({})", index + 1, quote_truncated(without_query))
    };
    let others: Vec<String> = (0..requests.len())
        .filter(|index| *index != decoded)
        .map(|index| {
            let carries = if envoy_reads(&requests[index]).is_empty() {
                "carries no token that Envoy reads, so a policy that requires a request principal \
                 denies it with 403"
            } else {
                "carries a token too"
            };
            format!(" Request {} {carries}.", name(index))
        })
        .collect();
    Some(Problem::warning(
        "several_requests",
        format!(
            "the curl command sends {} requests, one for each URL, each with the options of its \
             part of the command (`--next` starts a new part). idflow decoded the token of \
             request {}, the first that carries one.{} Paste a command with one URL to decode \
             another request",
            requests.len(),
            name(decoded),
            others.concat()
        ),
    ))
}

/// Returns the problem for a request whose method or headers Envoy's HTTP/1 codec rejects before
/// jwt_authn runs, as `idflow check` reports it. The 431 for an oversized request head is left to
/// the size checks.
/// NOTE: the path is not checked, because how curl encodes a URL's path (spaces, UTF-8) depends
/// on its version. Nor is the QUERY method's `Content-Type`, because the `Content-Type` that curl
/// adds for `-d` is not among the headers read here.
fn codec_problem(request: &CurlRequest) -> Option<Problem> {
    codec_problem_then(request, MESH_NEVER_READS)
}

/// The sentence after a `codec_rejects_request` message about a token that decode decoded.
const MESH_NEVER_READS: &str = " So the mesh never reads the token decoded here.";

/// Returns the problem [`codec_problem`] returns, with `after` after the response code details.
fn codec_problem_then(request: &CurlRequest, after: &str) -> Option<Problem> {
    let headers = request
        .headers
        .iter()
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some((name.to_owned(), value.trim_matches([' ', '\t']).to_owned()))
        })
        .collect();
    let sent = mesh::Request {
        method: request.method.clone(),
        headers,
        ..mesh::Request::default()
    };
    let spaced_name = request.headers.iter().find_map(|line| {
        let (name, _) = line.split_once(':')?;
        (name.trim_end() != name).then(|| name.trim_end())
    });
    let fix = match spaced_name {
        Some(name) => format!(
            " Remove the whitespace between {} and its colon",
            quote_truncated(name)
        ),
        None => String::new(),
    };
    let after = format!("{after}{fix}");
    codec_rejection_problem(&sent, |details| details.starts_with("http1."), &after)
}

/// Returns the problem for a pasted header line, `Bearer` value or bare token whose characters
/// Envoy's HTTP/1 codec rejects with 400 `http1.invalid_characters`, as it does in a curl
/// command. `name` is the header the value is sent in: `Authorization` for a `Bearer` value or a
/// bare token.
pub(super) fn pasted_value_codec_problem(name: &str, value: &str) -> Option<Problem> {
    let sent = mesh::Request {
        headers: vec![(name.to_owned(), value.to_owned())],
        ..mesh::Request::default()
    };
    // A line feed in pasted text is a wrapped line, not part of the value.
    codec_rejection_problem(
        &sent,
        |details| details == "http1.invalid_characters",
        MESH_NEVER_READS,
    )
}

/// Returns the `codec_rejects_request` problem for the 400 that Envoy's HTTP/1 codec returns for
/// `sent`, when `counts` accepts its response code details. `after` ends the message.
fn codec_rejection_problem(
    sent: &mesh::Request,
    counts: impl Fn(&str) -> bool,
    after: &str,
) -> Option<Problem> {
    let verdict = codec::rejection("", sent, &[])
        .filter(|verdict| verdict.status == 400 && counts(&verdict.response_code_details))?;
    let message = verdict
        .explanation
        .first()
        .map(|step| step.message.as_str())
        .unwrap_or_default();
    Some(Problem::error(
        "codec_rejects_request",
        format!(
            "{message}, with response code details `{}`.{after}",
            verdict.response_code_details
        ),
    ))
}

/// Returns the tokens Envoy's `jwt_authn` reads from `request` with Istio's default locations, in
/// the order it reads them.
fn envoy_reads(request: &CurlRequest) -> Vec<extract::Found> {
    let headers: Vec<(String, String)> = request
        .header_pairs()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let provider = JwtProvider::default();
    extract::extract(
        &[&provider],
        &headers,
        request.url.as_deref().unwrap_or("/"),
    )
}

pub(super) fn other_token(found: &extract::Found) -> OtherToken {
    let location = match &found.location {
        Location::Header { name, .. } if name == "authorization" => {
            "the `Authorization` header".to_owned()
        }
        Location::Header { name, .. } => format!("the `{name}` header"),
        Location::Param(name) => format!("the `{name}` query parameter"),
        Location::Cookie(name) => format!("cookie `{name}`"),
    };
    OtherToken {
        location,
        text: found.token.clone(),
    }
}

/// Returns the problems for the files a curl or HTTPie command (`source`) reads and for an
/// `access_token` sent in the body, which idflow cannot judge.
fn unread_problems(source: &str, request: &CurlRequest) -> Vec<Problem> {
    let httpie = source == HTTPIE;
    let mut problems = Vec::new();
    if !request.unread_files.is_empty() {
        let (files, contents) = if request.unread_files.len() == 1 {
            ("a file", "its contents")
        } else {
            ("files", "their contents")
        };
        let (command, example) = if httpie {
            ("HTTPie", "a header as Name:value")
        } else {
            ("curl", "cookies as -b 'name=value'")
        };
        problems.push(Problem::note(
            "file_not_read",
            format!(
                "the {command} command reads {files} that idflow does not open ({}). Paste \
                 {contents} into the command to have them read, e.g. {example}",
                request.unread_files.join(", ")
            ),
        ));
    }
    if request.body_has_access_token {
        let message = if httpie {
            format!(
                "the HTTPie command sends `{QUERY_PARAMETER}` as a data item (`=`), so it goes \
                 in the request body, where Envoy's jwt_authn does not look. Write it as a query \
                 item, `{QUERY_PARAMETER}==…`, to send it in the query"
            )
        } else {
            format!(
                "the curl command sends an `{QUERY_PARAMETER}` pair as data without -G, so it \
                 goes in the request body, where Envoy's jwt_authn does not look. Add -G to \
                 send it in the query"
            )
        };
        problems.push(Problem::warning("token_in_body", message));
    }
    problems
}

/// Builds the error for a curl command or URL from which Envoy reads no token and idflow finds
/// none to decode.
fn no_token(source: &str, text: &str, request: &CurlRequest) -> TokenError {
    if let Some(reason) = request.not_sent {
        return not_a_token(&[source.to_owned()], text, reason);
    }
    let mut reason = match source {
        "URL" | "path" => format!(
            "the {source} has no `{QUERY_PARAMETER}` query parameter, the one Envoy's jwt_authn \
             reads by default"
        ),
        "HTTP request" | pasted::HEADER_BLOCK => format!(
            "the {source} has no `Authorization: Bearer` header and no `{QUERY_PARAMETER}` \
             query parameter, the locations Envoy's jwt_authn reads by default"
        ),
        HTTPIE => {
            let sends = if request.sends_user {
                "the HTTPie command sends a user name and password (-a without -A bearer, HTTP \
                 Basic or Digest), not a token"
            } else {
                "the HTTPie command sends no token"
            };
            format!(
                "{sends}; expected -A bearer -a <token> or an item Authorization:'Bearer <token>'"
            )
        }
        _ => {
            let sends = if request.sends_user {
                "the curl command sends a user name and password (-u, HTTP Basic), not a token"
            } else {
                "the curl command sends no token"
            };
            format!(
                "{sends}; expected -H 'Authorization: Bearer <token>' or --oauth2-bearer <token>"
            )
        }
    };
    let codec = codec_problem_then(request, "");
    for problem in unread_problems(source, request).into_iter().chain(codec) {
        // Messages start in lower case, so the first letter becomes a capital after a full stop.
        let mut letters = problem.message.chars();
        reason.push_str(". ");
        reason.extend(letters.next().map(|first| first.to_ascii_uppercase()));
        reason.push_str(letters.as_str());
    }
    not_a_token(&[source.to_owned()], text, &reason)
}

/// Finds the token in the first `access_token` query parameter of `url`, with its name and value
/// percent-decoded as Envoy decodes them. `source` and `text` describe the input, for messages.
/// Returns `None` when the URL has no such parameter.
fn found_in_query(
    source: &str,
    text: &str,
    url: &str,
    beside: Beside,
) -> Option<Result<Found, TokenError>> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or_default();
    let value = query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let decode = extract::percent_decode;
        (decode(name) == QUERY_PARAMETER).then(|| decode(value))
    })?;
    let parts = [
        source.to_owned(),
        format!("{QUERY_PARAMETER} query parameter"),
    ];
    let place = format!("the `{QUERY_PARAMETER}` query parameter");
    let picked = match trailing_whitespace(&value) {
        Some(picked) => Ok((picked, MeshReading::Token)),
        None => pick_token_in(&value, &place).map(|mut picked| {
            let reading = read_query_value(&value, &mut picked);
            (picked, reading)
        }),
    };
    Some(match picked {
        Ok(((token, kind, mut problems), mesh_reading)) => {
            problems.extend(beside.problems);
            Ok(Found {
                text: token,
                kind,
                location: parts.join(", "),
                header_name: None,
                query_parameter: Some(QUERY_PARAMETER.to_owned()),
                cookie_name: None,
                scheme: None,
                problems,
                mesh_reading,
                others: beside.others,
            })
        }
        Err(reason) => Err(not_a_token(&parts, text, &reason)),
    })
}

/// Returns the JWS in `value` when only whitespace follows it (a `%20` the URL added). Envoy's
/// base64url decoder skips whitespace, and the signature covers only the first two segments, so
/// Envoy 1.40 accepts such a token with 200.
fn trailing_whitespace(value: &str) -> Option<(String, TokenKind, Vec<Problem>)> {
    let token = value.trim_end_matches(|c: char| c.is_ascii_whitespace());
    let whitespace = value.len() - token.len();
    if whitespace == 0 || token.contains(char::is_whitespace) || count_dots(token) != 2 {
        return None;
    }
    let problem = Problem::warning(
        "trailing_text",
        format!(
            "the `{QUERY_PARAMETER}` value ends in {} (percent-encoded in the URL, e.g. `%20`). \
             Envoy's jwt_authn skips whitespace when it decodes the signature, so the mesh \
             accepts the token, but other servers may reject it. Remove the encoded whitespace \
             from the URL",
            plural(whitespace, "whitespace character")
        ),
    );
    Some((token.to_owned(), TokenKind::Jws, vec![problem]))
}

/// Returns Envoy's status for `count` repeated Authorization headers, whose values its HTTP/1
/// codec joins into `joined`, and the problem that reports it, naming the `source` that sends
/// them (`curl command`, `HTTPie command`).
pub(super) fn repeated_header(source: &str, count: usize, joined: &str) -> (&'static str, Problem) {
    let status = envoy::extract_from_header(joined)
        .and_then(envoy::jwt_authn_format_status)
        .unwrap_or(envoy::BAD_FORMAT);
    let problem = Problem::error(
        "repeated_header",
        format!(
            "the {source} sends {count} Authorization headers; Envoy joins them into one value \
             separated by `,`, reads it as one token and returns 401 `{status}`. Send one \
             Authorization header"
        ),
    );
    (status, problem)
}

/// Returns one problem for each token in `others`, which Envoy's `jwt_authn` verifies besides
/// `decoded`, the token decode read, with times judged at `now`.
pub(super) fn other_token_problems(
    others: &[OtherToken],
    decoded: &str,
    now: DateTime<Utc>,
) -> Vec<Problem> {
    others
        .iter()
        .map(|other| other_token_problem(other, decoded, now))
        .collect()
}

fn other_token_problem(other: &OtherToken, decoded: &str, now: DateTime<Utc>) -> Problem {
    let location = &other.location;
    if other.text == decoded {
        return Problem::note(
            "token_read_twice",
            format!(
                "the request carries the same token in {location} too. Envoy's jwt_authn \
                 verifies both copies, with the same outcome"
            ),
        );
    }
    if let Some(status) = envoy::jwt_authn_format_status(&other.text) {
        return Problem::error(
            "other_token_rejected",
            format!(
                "the request also carries a token in {location}, which Envoy's jwt_authn reads \
                 and verifies too. Its format fails, so Envoy returns 401 `{status}`, with \
                 response code details `jwt_authn_access_denied{{{}}}`, for the whole request on \
                 every workload that a RequestAuthentication selects. Envoy 1.40 verifies that \
                 token first, so this is the status it returns even when the token decoded here \
                 fails too. Remove that token or send a valid one there",
                status.replace(' ', "_")
            ),
        );
    }
    if let Some(status) = time_status(&other.text, now) {
        return Problem::error(
            "other_token_rejected",
            format!(
                "the request also carries a token in {location}, which Envoy's jwt_authn reads \
                 and verifies too, before the token decoded here. Its times are out of range, so \
                 Envoy returns 401 for the whole request: `{status}` when a RequestAuthentication \
                 lists its issuer, `Jwt issuer is not configured` when none does. Remove that \
                 token or send a valid one there"
            ),
        );
    }
    // NOTE: the keys given to decode verify only the decoded token, so another token whose
    // signature alone fails is reported as this warning, not as a 401.
    let other_issuer = issuer(&other.text);
    let issuer_differs = match &other_issuer {
        Some(other_issuer) => issuer(decoded).as_ref() != Some(other_issuer),
        None => false,
    };
    let message = match other_issuer.filter(|_| issuer_differs) {
        Some(other_issuer) => format!(
            "the request also carries a token of another issuer, {}, in {location}, which \
             Envoy's jwt_authn verifies too: the mesh returns 401 `Jwt issuer is not configured` \
             unless a RequestAuthentication lists that issuer as well, and then 401 unless the \
             token passes its checks. idflow decoded only the first token Envoy reads",
            quote_truncated(&other_issuer)
        ),
        None => format!(
            "the request also carries a different token in {location}, which Envoy's jwt_authn \
             verifies too: the mesh returns 401 unless that token passes as well (issuer, \
             audience, signature and times). idflow decoded only the first token Envoy reads"
        ),
    };
    Problem::warning("other_token", message)
}

/// Returns the `iss` claim of `token` when it is a string.
fn issuer(token: &str) -> Option<String> {
    let claims = jose::decode(token, TokenKind::Jws).claims?;
    claims.get("iss")?.as_str().map(str::to_owned)
}

/// Returns the `jwt_authn` status for a token whose `exp` or `nbf` Envoy rejects at `now`.
fn time_status(token: &str, now: DateTime<Utc>) -> Option<&'static str> {
    let claims = jose::decode(token, TokenKind::Jws).claims?;
    let (_, problems) = times::read_times(&claims, now);
    problems
        .iter()
        .filter(|problem| problem.severity == Severity::Error)
        .find_map(|problem| match problem.code.as_str() {
            "expired" => Some("Jwt is expired"),
            "not_yet_valid" => Some("Jwt not yet valid"),
            _ => None,
        })
}
