//! Finding the token in pasted text: a bare token, a `Bearer …` value, an `Authorization:` or
//! `Cookie:` line, a JSON token response or object of headers, an HTTP request or response, or a
//! curl or HTTPie command (or curl's `-H` argument), with one pair of quotes and surrounding
//! whitespace trimmed.

use super::request::{self, OtherToken};
use super::response::{self, ResponseShape};
use super::{
    Problem, Severity, TokenError, TokenKind, base64url, count_dots, envoy, jose, jwks, plural,
};
use super::{configured, pasted};
use crate::mesh::jwt::config::JwtProvider;

/// Authorization schemes recognised in front of a token. Any other first word is taken as part of
/// the token, so that a token with a space inside is not mistaken for a scheme and a token.
pub(crate) const TOKEN_SCHEMES: [&str; 5] = ["bearer", "token", "jwt", "dpop", "mac"];

/// Schemes that carry credentials rather than a token.
pub(crate) const CREDENTIAL_SCHEMES: [&str; 4] = ["basic", "digest", "negotiate", "ntlm"];

/// Description of the accepted input, for errors.
const EXPECTED: &str = "expected a JWT (header.payload.signature, three base64url segments and two dots), \
     a JWE (five segments and four dots) or an opaque token (one word of letters, digits and -._~+/ \
     with optional trailing =), alone or after `Bearer `, in an `Authorization:` line or a curl command";

/// Istio's handling of a request whose token Envoy does not find.
const NO_TOKEN_CONSEQUENCE: &str = "Envoy's jwt_authn looks only for the case-sensitive prefix \
     `Bearer ` (with one space), so the mesh treats the request as carrying no token: it passes \
     RequestAuthentication without a request principal, and an AuthorizationPolicy that requires \
     one returns 403 `RBAC: access denied`, not 401";

/// A token located in the input, before decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    pub text: String,
    pub kind: TokenKind,
    /// Description of where the token was found, for `Inspection::found_as`.
    pub location: String,
    pub header_name: Option<String>,
    /// The query parameter the token was found in, for a URL or a curl command.
    pub query_parameter: Option<String>,
    /// The cookie the token was found in, for a `Cookie` or `Set-Cookie` header.
    pub cookie_name: Option<String>,
    pub scheme: Option<String>,
    pub problems: Vec<Problem>,
    /// The text Envoy's `jwt_authn` reads from the value the token was found in.
    pub mesh_reading: MeshReading,
    /// The other tokens Envoy's `jwt_authn` reads from the request, which it verifies too.
    pub others: Vec<OtherToken>,
}

/// The text Envoy's `jwt_authn` reads from the header value a token was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum MeshReading {
    /// Exactly the token found, so `inspect` adds the problem for its format status once it has
    /// decoded the token.
    Token,
    /// Other text (the token with characters around it), whose format checks fail with this
    /// status.
    Other(&'static str),
    /// Other text with whitespace inside its signature segment, whose format checks pass, so
    /// only the keys tell whether Envoy accepts it. The text is the one Envoy reads, with the
    /// whitespace that Abseil's decoder skips removed.
    Spaced(String),
    /// Nothing: the value is an `Authorization` value without the `Bearer ` prefix, so Envoy
    /// finds no token and the mesh lets the request on without a request principal.
    Missing,
    /// Nothing by default: the token is in another header or a cookie, which the mesh reads only
    /// when a `RequestAuthentication` lists it.
    Nothing,
}

/// Finds the token in `text`. Errors describe the input by its shape only (how it was given, the
/// header name, the scheme word and its length), because it may hold a password or a key.
pub(super) fn find_token(text: &str) -> Result<Found, TokenError> {
    find_token_at(text, &[])
}

/// Finds the token in `text` as [`find_token`] does, but at the locations `providers` read
/// (the workload's `jwtRules`) when Envoy reads a token there that is not at Istio's defaults.
pub(super) fn find_token_at(text: &str, providers: &[&JwtProvider]) -> Result<Found, TokenError> {
    // Only ASCII whitespace: HTTP codecs strip spaces and tabs around a value, but Envoy reads a
    // no-break space after a token as part of it.
    // A byte order mark starts files that some editors and PowerShell write.
    let trimmed = text
        .trim_start_matches('\u{feff}')
        .trim_matches(|c: char| c.is_ascii_whitespace());
    if trimmed.is_empty() {
        return Err(TokenError::Empty);
    }
    if !providers.is_empty()
        && let Some(found) = configured::find_at(trimmed, providers)
    {
        return Ok(found);
    }
    match bare_jwt(trimmed) {
        Some(found) => Ok(found),
        None => find_in_shapes(trimmed),
    }
}

/// Finds the token in `trimmed`, pasted text without surrounding whitespace, by trying each shape
/// it may have in turn.
fn find_in_shapes(trimmed: &str) -> Result<Found, TokenError> {
    match response::read_json(trimmed).or_else(|| response::redirect_token(trimmed)) {
        Some(ResponseShape::OAuthError(error)) => {
            return Err(not_a_token(
                &["OAuth error response".to_owned()],
                trimmed,
                &format!(
                    "the authorization server returned the error {error} and issued no token. \
                     Fix the request to its endpoint, then paste its access_token"
                ),
            ));
        }
        Some(ResponseShape::Line {
            line,
            source,
            problems,
        }) => {
            let mut found = find_token(&line)?;
            found.location = format!("{source}, {}", found.location);
            found.problems.extend(problems);
            return Ok(found);
        }
        None => {}
    }
    if let Some(body) = response::http_response_body(trimmed) {
        let mut found = find_token(body).map_err(response::body_error)?;
        // A token response is JSON (RFC 6749 section 5.1), so one word that is not a JWT is a
        // plain-text body such as `ok`.
        if found.kind == TokenKind::Opaque && found.location == "bare token" {
            return Err(not_a_token(
                &["HTTP response body".to_owned()],
                body,
                "the body is one word that is not a JWT, and a token response is a JSON \
                 object. Paste the response of the token endpoint, or the token alone",
            ));
        }
        found.location = format!("HTTP response body, {}", found.location);
        return Ok(found);
    }

    let in_request = match request::curl_or_url(trimmed) {
        Err(found) => *found,
        Ok(Some(header)) => {
            let parts = vec![header.source.to_owned()];
            let line = header.line.trim();
            let found = find_in_line(trimmed, parts, line, false, header.repeated.as_ref());
            found.map(|mut found| {
                found.others = header.beside.others;
                found.problems.extend(header.beside.problems);
                found
            })
        }
        Ok(None) => {
            if let Some(inner) = quoted_header(trimmed) {
                let mut found = find_token(inner)?;
                found.location = format!("quoted in other text, {}", found.location);
                return Ok(found);
            }
            // A path without a query carries no token, and `decode PATH` rejects the same text
            // as an argument. A path with a query was read above.
            // NOTE: an opaque token in standard base64 may start with `/` too.
            if trimmed.starts_with('/') && !trimmed.contains(char::is_whitespace) {
                return Err(not_a_token(
                    &["path".to_owned()],
                    trimmed,
                    "a path without a query carries no token where Envoy's jwt_authn looks by \
                     default. Paste the whole request (a curl command, or the request with its \
                     headers), or the token alone",
                ));
            }
            let (line, quoted) = strip_quotes(trimmed);
            let mut found = find_in_line(trimmed, Vec::new(), line, quoted, None)?;
            let (name, value) = split_header_line(line).unwrap_or(("authorization", line));
            found
                .problems
                .extend(request::pasted_value_codec_problem(name, value));
            return Ok(found);
        }
    };
    // The output of `curl -v` for an implicit-flow authorization request has no bearer token in
    // the request, but the token in the `Location` of the redirect sent in response.
    if in_request.is_err()
        && let Some(heads) = pasted::verbose_redirect_heads(trimmed)
        && let Ok(mut in_location) = find_token(&heads)
    {
        in_location.location = format!("curl -v output, {}", in_location.location);
        return Ok(in_location);
    }
    // The output of `curl -v` for a request to a token endpoint has no bearer token in the
    // request, but the token response in the response body.
    if in_request.is_err()
        && let Some(body) = pasted::verbose_response_body(trimmed)
        && let Ok(mut in_body) = find_token(&body)
    {
        in_body.location = format!("curl -v response body, {}", in_body.location);
        return Ok(in_body);
    }
    in_request
}

/// Returns what [`find_in_shapes`] finds in `text` when it is a bare JWS or JWE in base64url, the
/// shape of every line of a batch, or `None` for text of another shape. A batch of tokens spends a
/// good part of its time finding the token otherwise: each reader of another shape scans the text.
fn bare_jwt(text: &str) -> Option<Found> {
    // A JOSE header is a JSON object, whose base64url starts with `eyJ`, so no scheme, header
    // name or quote comes first, and the alphabet leaves no room for whitespace or `%20`.
    if !(text.starts_with("eyJ") && base64url::is_url_safe_with_dots(text)) {
        return None;
    }
    let kind = classify(text).ok()?;
    Some(Found {
        text: text.to_owned(),
        kind,
        location: "bare token".to_owned(),
        header_name: None,
        query_parameter: None,
        cookie_name: None,
        scheme: None,
        problems: Vec::new(),
        mesh_reading: MeshReading::Token,
        others: Vec::new(),
    })
}

/// Returns the quoted text around `Bearer <token>` in `text`, when other text surrounds the quotes:
/// `"authorization": "Bearer <jwt>"` in a browser's "Copy as fetch", or `"Authorization:Bearer
/// <jwt>"` in an `HTTPie` command. The quotes belong to the code or command that was copied, not
/// to the header, so the header is the quoted text. `None` when `Bearer ` is not inside a pair of
/// quotes on its line.
fn quoted_header(text: &str) -> Option<&str> {
    let position = text.find(envoy::BEARER_PREFIX)?;
    let line_start = text[..position].rfind('\n').map_or(0, |at| at + 1);
    let mut open: Option<(char, usize)> = None;
    for (at, c) in text[line_start..position].char_indices() {
        match open {
            Some((quote, _)) if c == quote => open = None,
            None if c == '"' || c == '\'' => open = Some((c, line_start + at)),
            _ => {}
        }
    }
    let (quote, start) = open?;
    let end = position + text[position..].find([quote, '\n'])?;
    let inner = &text[start + 1..end];
    // Quotes around the whole input are removed as usual elsewhere.
    let surrounded = start > 0 || end + 1 < text.len();
    (surrounded && text[end..].starts_with(quote)).then_some(inner)
}

/// Finds the token in `line` (a header line, a header value or a token) of the input `trimmed`.
/// `parts` describe how the line was given (`curl command`) and `quoted` whether quotes around it
/// were removed. `repeated` counts and joins the `Authorization` headers a curl command repeats.
fn find_in_line(
    trimmed: &str,
    mut parts: Vec<String>,
    line: &str,
    quoted: bool,
    repeated: Option<&(usize, String)>,
) -> Result<Found, TokenError> {
    let (header_name, value) = match split_header_line(line) {
        Some((name, value)) => {
            parts.push(format!("{name} header"));
            (Some(name.to_ascii_lowercase()), value)
        }
        None => (None, line),
    };
    match header_name.as_deref() {
        Some("cookie") => return found_in_cookie(parts, trimmed, value),
        Some("set-cookie") => return found_in_set_cookie(parts, trimmed, value),
        _ => {}
    }
    let (mut scheme, mut rest) = split_scheme(value);
    let scheme_problem = bearer_after_text(header_name.as_deref(), scheme, value);
    if let Some((after, part, _)) = &scheme_problem {
        parts.push(part.clone());
        scheme = Some("Bearer");
        rest = after;
    } else if let Some(scheme) = scheme {
        parts.push(format!("{scheme} scheme"));
        if CREDENTIAL_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
            return Err(not_a_token(
                &parts,
                trimmed,
                &format!(
                    "the `{scheme}` scheme carries credentials, not a token; idflow decodes \
                     bearer tokens, so paste an `Authorization: Bearer` line, a JWT or an opaque token"
                ),
            ));
        }
    } else if header_name.as_deref() == Some("authorization") {
        parts.push("no scheme".to_owned());
    }
    if rest.is_empty() {
        return Err(not_a_token(
            &parts,
            trimmed,
            "nothing follows the scheme; expected a token after it",
        ));
    }
    // Text that contains no token may still end in one that Envoy's jwt_authn reads.
    let (mut picked, failure) = match pick_token(rest) {
        Ok(picked) => (picked, None),
        Err(reason) => ((String::new(), TokenKind::Opaque, Vec::new()), Some(reason)),
    };
    let reading = mesh_reading(header_name.as_deref(), scheme, value, rest, &picked.0);
    let mut mesh_reading = read_as_mesh(reading, rest, &mut picked);
    if let Some((count, joined)) = repeated {
        let source = parts.first().map_or("request", String::as_str);
        let (status, problem) = request::repeated_header(source, *count, joined);
        picked.2.push(problem);
        mesh_reading = MeshReading::Other(status);
    }
    if let Some(reason) = failure
        && picked.0.is_empty()
    {
        let reason = match mesh_reading {
            // No token to decode, but Envoy reads the value (a header or scheme was given) and
            // rejects it.
            MeshReading::Other(status) if scheme.is_some() => format!(
                "{reason}. Envoy's jwt_authn still reads this value and returns 401 `{status}` on \
                 every workload that a RequestAuthentication selects"
            ),
            _ => reason,
        };
        return Err(not_a_token(&parts, trimmed, &reason));
    }

    if parts.is_empty() {
        parts.push("bare token".to_owned());
    }
    if quoted {
        parts.push("in quotes".to_owned());
    }
    let (token, kind, mut problems) = picked;
    problems.extend(scheme_problem.map(|(_, _, problem)| problem));

    Ok(Found {
        text: token,
        kind,
        location: parts.join(", "),
        header_name,
        query_parameter: None,
        cookie_name: None,
        scheme: scheme.map(str::to_owned),
        problems,
        mesh_reading,
        others: Vec::new(),
    })
}

/// Returns the text after `Bearer ` when other text comes before it in a value the mesh reads as
/// an `Authorization` header, with the description for `Found::location` and the problem.
/// Envoy's jwt_authn searches the whole value for `Bearer `, so such a token reaches the mesh.
fn bearer_after_text<'a>(
    header_name: Option<&str>,
    scheme: Option<&str>,
    value: &'a str,
) -> Option<(&'a str, String, Problem)> {
    if header_name.is_some_and(|name| name != "authorization") || scheme == Some("Bearer") {
        return None;
    }
    let position = value
        .find(envoy::BEARER_PREFIX)
        .filter(|position| *position > 0)?;
    let skipped = plural(value[..position].chars().count(), "character");
    let problem = Problem::warning(
        "text_before_scheme",
        format!(
            "the value has {skipped} before `Bearer `. Envoy's jwt_authn finds `Bearer ` anywhere \
             in the value and reads the token after it, but servers that follow RFC 6750 expect \
             the scheme first and reject the header. Remove the text before the scheme"
        ),
    );
    Some((
        value[position + envoy::BEARER_PREFIX.len()..].trim_start(),
        format!("Bearer scheme after {skipped}"),
        problem,
    ))
}

/// Turns what Envoy's `jwt_authn` reads into the [`MeshReading`] of `picked`, the token found in
/// `rest`, and adds the problem for it. When Envoy reads a whole token with other characters
/// before it, that token is the one the request carries, so it replaces `picked`.
fn read_as_mesh(
    reading: Reading,
    rest: &str,
    picked: &mut (String, TokenKind, Vec<Problem>),
) -> MeshReading {
    match reading {
        Reading::Token => MeshReading::Token,
        Reading::Missing(problem) => {
            picked.2.push(problem);
            MeshReading::Missing
        }
        Reading::Nothing(problem) => {
            picked.2.extend(problem);
            MeshReading::Nothing
        }
        Reading::Other(envoy_token) => {
            if let Some(status) = envoy::jwt_authn_format_status(envoy_token) {
                picked.2.extend(format_problem(Some(status)));
                return MeshReading::Other(status);
            }
            if envoy::has_ascii_whitespace(envoy_token) {
                let joined = envoy_token
                    .chars()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect();
                return MeshReading::Spaced(joined);
            }
            *picked = (
                envoy_token.to_owned(),
                TokenKind::Jws,
                vec![text_before_token(rest, envoy_token)],
            );
            MeshReading::Token
        }
    }
}

/// Returns what Envoy's `jwt_authn` reads from `value`, the percent-decoded value of a query
/// parameter whose token is `picked`, and adds the problem for it. Envoy reads the whole value as
/// the token, so whitespace inside it is judged as in a header value after `Bearer `.
pub(super) fn read_query_value(
    value: &str,
    picked: &mut (String, TokenKind, Vec<Problem>),
) -> MeshReading {
    let reading = if value == picked.0 {
        Reading::Token
    } else {
        Reading::Other(value)
    };
    read_as_mesh(reading, value, picked)
}

/// Returns the problem for a value that Envoy's `jwt_authn` reads as one token with whitespace
/// inside its signature segment, when no key was checked yet.
pub(super) fn keys_decide_problem() -> Problem {
    Problem::warning(
        "whitespace_in_signature",
        "Envoy's jwt_authn reads the whole value as one token: its base64url decoder skips the \
         whitespace, so the text after the whitespace is part of the signature it checks. Only \
         the issuer's keys tell whether that signature verifies, and if it does, Envoy accepts \
         the token. Decode with the keys (--jwks, --issuer, --key or --secret-file) to tell",
    )
}

/// Returns the token Envoy's `jwt_authn` reads when `found` has the reading
/// [`MeshReading::Spaced`], with the location of `found` and the problems of that location. The
/// problems about the words `found` was picked from are replaced by one about the whitespace.
pub(super) fn as_sent(found: &Found) -> Option<Found> {
    let MeshReading::Spaced(joined) = &found.mesh_reading else {
        return None;
    };
    let mut problems: Vec<Problem> = found
        .problems
        .iter()
        .filter(|problem| !PICK_PROBLEMS.contains(&problem.code.as_str()))
        .cloned()
        .collect();
    problems.push(Problem::warning(
        "internal_whitespace",
        "the token has whitespace inside its signature segment. Envoy's jwt_authn skips it and \
         verifies the token, but servers that follow RFC 6750 reject a token with whitespace in \
         it. idflow decoded the token with the whitespace removed. Send it without the \
         whitespace",
    ));
    Some(Found {
        text: joined.clone(),
        kind: TokenKind::Jws,
        location: found.location.clone(),
        header_name: found.header_name.clone(),
        query_parameter: found.query_parameter.clone(),
        cookie_name: found.cookie_name.clone(),
        scheme: found.scheme.clone(),
        problems,
        mesh_reading: MeshReading::Token,
        others: found.others.clone(),
    })
}

/// Codes of the problems [`pick_token`] reports about the words of a value with whitespace
/// inside.
const PICK_PROBLEMS: [&str; 3] = ["internal_whitespace", "trailing_text", "leading_text"];

/// Returns the problem for characters that Envoy's `jwt_authn` skips between `Bearer ` and the
/// token.
fn text_before_token(rest: &str, envoy_token: &str) -> Problem {
    let skipped = rest.len().saturating_sub(envoy_token.len());
    let skipped = plural(
        rest.get(..skipped)
            .map_or(skipped, |text| text.chars().count()),
        "character",
    );
    Problem::warning(
        "text_before_token",
        format!(
            "the token follows {skipped} that are not part of it. Envoy's jwt_authn skips to the \
             first base64url character after `Bearer ` and reads the token, but other servers \
             reject the value. Remove the extra text from the header"
        ),
    )
}

/// Finds the token in the value of a `Cookie` header: the value of the first cookie that contains
/// a JWT. `parts` describe how the input was given, for messages.
fn found_in_cookie(parts: Vec<String>, trimmed: &str, value: &str) -> Result<Found, TokenError> {
    let Some((cookie, token)) = jwt_cookie(value) else {
        return Err(not_a_token(
            &parts,
            trimmed,
            "no cookie holds a JWT (three base64url segments and two dots)",
        ));
    };
    cookie_token(parts, trimmed, cookie, token, Vec::new())
}

/// Finds the token in the value of a `Set-Cookie` header. RFC 6265 section 4.1.1 puts the cookie's
/// `name=value` first, perhaps with the value in double quotes, and its attributes (`Path`,
/// `Max-Age`, `HttpOnly` …) after `; `, so the token is the value alone. The request that follows
/// sends it back as `Cookie: name=value`.
fn found_in_set_cookie(
    parts: Vec<String>,
    trimmed: &str,
    value: &str,
) -> Result<Found, TokenError> {
    let pair = value.split(';').next().unwrap_or_default();
    let Some((cookie, cookie_value)) = pair.split_once('=') else {
        return Err(not_a_token(
            &parts,
            trimmed,
            "the Set-Cookie value has no `name=value` pair before its first `;`",
        ));
    };
    let cookie = cookie.trim();
    let cookie_value = cookie_value.trim();
    let unquoted = cookie_value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(cookie_value);
    let note = Problem::note(
        "set_cookie",
        format!(
            "the token is the value of the `{cookie}` cookie in a Set-Cookie header, which a \
             server sends in a response. The browser then sends the value back in its requests \
             as `Cookie: {cookie}=<value>`, without the attributes after `;`"
        ),
    );
    cookie_token(parts, trimmed, cookie, unquoted, vec![note])
}

/// Builds what is found for `token`, the value of `cookie`, with `problems` about where it was
/// found. The request carries it in its `Cookie` header.
fn cookie_token(
    mut parts: Vec<String>,
    trimmed: &str,
    cookie: &str,
    token: &str,
    mut problems: Vec<Problem>,
) -> Result<Found, TokenError> {
    parts.push(format!("cookie {cookie}"));
    let (token, kind, picked_problems) =
        pick_token(token).map_err(|reason| not_a_token(&parts, trimmed, &reason))?;
    problems.extend(picked_problems);
    problems.push(Problem::warning(
        "not_default_location",
        format!(
            "the token is in the `{cookie}` cookie; Istio's default location is \
             `Authorization: Bearer`, so the mesh reads this cookie only when a \
             RequestAuthentication lists it under `fromCookies` (Envoy's `from_cookies`)"
        ),
    ));
    Ok(Found {
        text: token,
        kind,
        location: parts.join(", "),
        header_name: Some("cookie".to_owned()),
        query_parameter: None,
        cookie_name: Some(cookie.to_owned()),
        scheme: None,
        problems,
        mesh_reading: MeshReading::Nothing,
        others: Vec::new(),
    })
}

/// Returns the first cookie of a `Cookie` header value whose value classifies as a JWS or JWE,
/// as `(name, value)`.
fn jwt_cookie(value: &str) -> Option<(&str, &str)> {
    value.split(';').find_map(|pair| {
        let (name, token) = pair.trim().split_once('=')?;
        let token = token.trim().trim_matches('"');
        matches!(classify(token), Ok(TokenKind::Jws | TokenKind::Jwe))
            .then_some((name.trim(), token))
    })
}

/// Removes one pair of matching surrounding quotes, and the whitespace inside them.
pub(super) fn strip_quotes(text: &str) -> (&str, bool) {
    for quote in ['"', '\''] {
        if let Some(inner) = text
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return (inner.trim(), true);
        }
    }
    (text, false)
}

/// Splits `Name: value` when `Name` reads as a header name: words of letters, each perhaps ending
/// in digits, joined by hyphens (`Authorization`, `X-Api-Key`, `X-B3-Sampled`). RFC 9110 allows
/// more, but the first half of `key:secret` or `user:password` must not be taken for a header
/// name, because messages repeat header names.
pub(super) fn split_header_line(line: &str) -> Option<(&str, &str)> {
    const MAX_NAME_CHARS: usize = 64;
    let (name, value) = line.split_once(':')?;
    let is_word = |word: &str| {
        let digits = word.trim_end_matches(|c: char| c.is_ascii_digit());
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_alphabetic())
    };
    if name.len() > MAX_NAME_CHARS || !name.split('-').all(is_word) {
        return None;
    }
    Some((name, value.trim_matches(|c: char| c.is_ascii_whitespace())))
}

/// Splits a leading authorization scheme from the rest of a header value.
fn split_scheme(value: &str) -> (Option<&str>, &str) {
    // No scheme is longer than 9 characters, so the first word matters only when a space ends it
    // within the first 10; a longer first word is cut short here and still matches no scheme.
    let first_end = value
        .char_indices()
        .take(10)
        .find(|(_, c)| c.is_whitespace())
        .map_or(value.len(), |(index, _)| index);
    let first = &value[..first_end];
    let is_scheme = |schemes: &[&str]| {
        schemes
            .iter()
            .any(|scheme| scheme.eq_ignore_ascii_case(first))
    };
    if is_scheme(&TOKEN_SCHEMES) || is_scheme(&CREDENTIAL_SCHEMES) {
        let rest = value[first.len()..].trim_start();
        return (Some(first), rest);
    }
    // A scheme written with punctuation after it (`Bearer:`, `Bearer=`, `Bearer-`) before a JWT:
    // the scheme as written, so that the problem can name it, and the JWT after it.
    if let Some(end) = value
        .char_indices()
        .take(10)
        .find_map(|(index, c)| matches!(c, ':' | '=' | '-').then_some(index))
    {
        let word = &value[..end];
        let rest = value[end + 1..].trim_start();
        let known = TOKEN_SCHEMES
            .iter()
            .chain(&CREDENTIAL_SCHEMES)
            .any(|scheme| scheme.eq_ignore_ascii_case(word));
        if known && matches!(count_dots(rest), 2 | 4) && !has_whitespace(rest) {
            return (Some(&value[..=end]), rest);
        }
    }
    (None, value)
}

/// Returns whether `text` contains a character that `char::is_whitespace` accepts, testing bytes
/// when the text is ASCII, as tokens are.
fn has_whitespace(text: &str) -> bool {
    if text.is_ascii() {
        // The ASCII whitespace of `char::is_whitespace`: `is_ascii_whitespace` and vertical tab.
        // A fold without early exit compiles to a branch-free loop, faster on a token that has none.
        text.bytes().fold(false, |seen, byte| {
            seen | matches!(byte, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ')
        })
    } else {
        text.contains(char::is_whitespace)
    }
}

/// The place of a header value, named in the messages of [`pick_token_in`].
pub(super) const IN_HEADER: &str = "the header";

/// Picks the token out of the text after the scheme of a header value, as [`pick_token_in`] does.
pub(super) fn pick_token(rest: &str) -> Result<(String, TokenKind, Vec<Problem>), String> {
    pick_token_in(rest, IN_HEADER)
}

/// Picks the token out of `rest`, a value sent in `place` (`the header` or ``the `access_token`
/// query parameter``), reporting whitespace inside it and text after it.
/// The error is the reason `rest` contains no token, in words that repeat none of it.
pub(super) fn pick_token_in(
    rest: &str,
    place: &str,
) -> Result<(String, TokenKind, Vec<Problem>), String> {
    if let (inner, true) = strip_quotes(rest)
        && !inner.is_empty()
    {
        let (token, kind, mut problems) = pick_unquoted(inner, place)?;
        problems.push(Problem::error(
            "quoted_token",
            "the token is in quotes inside the value. A token never contains quotes, so servers \
             that read the value as sent reject it. idflow decoded the token without them. Send \
             it without quotes",
        ));
        return Ok((token, kind, problems));
    }
    pick_unquoted(rest, place)
}

/// Picks the token out of `rest` as [`pick_token_in`] does, once a pair of quotes is gone.
fn pick_unquoted(rest: &str, place: &str) -> Result<(String, TokenKind, Vec<Problem>), String> {
    let has_space = has_whitespace(rest) || rest.contains("%20");
    if !has_space {
        let kind = classify(rest)?;
        return Ok((rest.to_owned(), kind, Vec::new()));
    }
    // The ASCII whitespace around the value is gone, so this is a space that is not ASCII, such as
    // a no-break space copied from a web page.
    let unspaced = rest.trim_start();
    if unspaced.len() < rest.len() && !unspaced.is_empty() {
        let space = rest.chars().next().unwrap_or(' ');
        let (token, kind, mut problems) = pick_unquoted(unspaced, place)?;
        problems.push(Problem::warning(
            "leading_whitespace",
            format!(
                "the token follows U+{:04X}, a space that is not ASCII. Envoy's jwt_authn reads \
                 from the first base64url character and accepts it, but servers that follow RFC \
                 6750 reject {place}. Remove the space",
                u32::from(space)
            ),
        ));
        return Ok((token, kind, problems));
    }

    let compact: String = rest
        .replace("%20", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let first = rest.split_whitespace().next().unwrap_or_default();
    let compact_kind = classify(&compact)
        .ok()
        .filter(|kind| *kind != TokenKind::Opaque);
    let first_kind = classify(first)
        .ok()
        .filter(|kind| *kind != TokenKind::Opaque);

    // `<jwt> abc` reads both as a token with a space inside and as a token with text after it.
    // A first word that decodes cleanly is taken as the whole token, because the text after it
    // then lands in the signature, where any base64url text decodes.
    // NOTE: a JWS wrapped inside its signature segment is therefore read as text after a token.
    // Its header and claims are the same either way, but the fingerprint differs.
    let prefer_first = first_kind.is_some_and(|kind| decodes_cleanly(first, kind));
    // `x Bearer: <jwt>` ends in a clean token that the words before it would garble.
    let body = rest.trim_end();
    let last = body.split_whitespace().next_back().unwrap_or_default();
    if !prefer_first
        && !compact_kind.is_some_and(|kind| decodes_cleanly(&compact, kind))
        && let Some(kind) = classify(last)
            .ok()
            .filter(|kind| *kind != TokenKind::Opaque && decodes_cleanly(last, *kind))
    {
        let before = body[..body.len() - last.len()].trim_end();
        let problem = Problem::error(
            "leading_text",
            format!(
                "the token follows text that is not part of it ({}); idflow decoded the token \
                 after it. Remove the extra text from {place}",
                plural(before.chars().count(), "character")
            ),
        );
        return Ok((last.to_owned(), kind, vec![problem]));
    }
    if let Some(kind) = compact_kind.filter(|_| !prefer_first) {
        let offset = rest
            .find(|c: char| c.is_whitespace() || c == '%')
            .unwrap_or_default();
        let problem = Problem::error(
            "internal_whitespace",
            format!(
                "the token has a space or `%20` inside it (first at byte {offset}); a token never \
                 contains one, so it was wrapped, cut or URL-encoded on the way. idflow decoded it \
                 with the spaces removed; send it without them"
            ),
        );
        return Ok((compact, kind, vec![problem]));
    }

    if let Some(kind) = first_kind {
        let after = &rest[first.len()..];
        let junk = after.trim_start();
        let what = if junk.is_empty() {
            // Only whitespace follows: a no-break space from a web page, or a decoded `%20`.
            let space = after.chars().next().unwrap_or(' ');
            if space.is_ascii() {
                "whitespace".to_owned()
            } else {
                format!("U+{:04X}, a space that is not ASCII", u32::from(space))
            }
        } else {
            format!(
                "a space and {}",
                plural(junk.chars().count(), "more character")
            )
        };
        let problem = Problem::error(
            "trailing_text",
            format!(
                "the token is followed by text that is not part of it ({what}); idflow decoded \
                 the token before it. Remove the extra text from {place}"
            ),
        );
        return Ok((first.to_owned(), kind, vec![problem]));
    }

    Err(format!("it contains whitespace inside; {EXPECTED}"))
}

/// Returns true when every segment of `token` decodes without an error-level problem.
fn decodes_cleanly(token: &str, kind: TokenKind) -> bool {
    jose::decode(token, kind)
        .problems
        .iter()
        .all(|problem| problem.severity != Severity::Error || problem.code.starts_with("jwe_"))
}

/// Tells the token kind from the dot count, or returns why `token` is no token. Two or four dots
/// make a JWS or JWE whatever the characters, so that decoding can name a bad character by
/// segment. Envoy's `jwt_verify_lib` skips empty segments, so other text of the `b64token`
/// alphabet with three non-empty segments (`<jwt>.`, `<jwt>..`) is a JWS too, unless its header
/// names an `enc` (a JWE without an encrypted key and IV). Any other word of that alphabet is an
/// opaque token, which `jose::decode` reports as having the wrong number of segments.
fn classify(token: &str) -> Result<TokenKind, String> {
    let dots = count_dots(token);
    if dots == 2 {
        return Ok(TokenKind::Jws);
    }
    let b64token = !token.starts_with('=') && token.chars().all(is_b64token_char);
    if b64token && envoy::split_jws(token).is_some() {
        // Every `enc` of RFC 7518 writes an authentication tag, so a JWE never ends in an empty
        // segment. Envoy's jwt_authn verifies `<jws>..` as a JWS whatever its header names.
        let encrypted = dots == 4 && !token.ends_with('.') && header_names_enc(token);
        return Ok(if encrypted {
            TokenKind::Jwe
        } else {
            TokenKind::Jws
        });
    }
    if dots == 4 {
        return Ok(TokenKind::Jwe);
    }
    if let Some(offset) = token.find(|c: char| !is_b64token_char(c)) {
        let character = token[offset..].chars().next().unwrap_or_default();
        return Err(format!(
            "it contains {character:?} at byte {offset}, which no token contains; {EXPECTED}"
        ));
    }
    if token.starts_with('=') {
        return Err(format!("it starts with '='; {EXPECTED}"));
    }
    Ok(TokenKind::Opaque)
}

/// Returns true when the first non-empty segment of `token` decodes to a JSON object with `enc`.
fn header_names_enc(token: &str) -> bool {
    token
        .split('.')
        .find(|segment| !segment.is_empty())
        .and_then(jwks::websafe_decode)
        .and_then(|bytes| {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes).ok()
        })
        .is_some_and(|header| header.contains_key("enc"))
}

/// Characters of the RFC 6750 `b64token`: letters, digits, `-._~+/`, and `=` only at the end.
fn is_b64token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/' | '=')
}

/// The text Envoy's `jwt_authn` reads from a value, before its format checks.
enum Reading<'a> {
    /// Exactly the token found.
    Token,
    /// Other text than the token found.
    Other(&'a str),
    /// No token: the value lacks the `Bearer ` prefix, for the reason in the problem.
    Missing(Problem),
    /// Nothing by default, for the reason in the problem (none when the token is in a cookie).
    Nothing(Option<Problem>),
}

/// Tells what Envoy's `jwt_authn` reads from the raw value as the request would send it: the token
/// found in `rest`, other text, or nothing (with the problem that explains why).
fn mesh_reading<'a>(
    header_name: Option<&str>,
    scheme: Option<&str>,
    value: &'a str,
    rest: &'a str,
    token: &str,
) -> Reading<'a> {
    if let Some(name) = header_name.filter(|name| *name != "authorization") {
        return Reading::Nothing(Some(Problem::warning(
            "not_default_location",
            format!(
                "the token is in the `{name}` header; Istio's default location is `Authorization: \
                 Bearer`, so the mesh reads this header only when a RequestAuthentication lists it \
                 under `fromHeaders`"
            ),
        )));
    }

    // A bare token is judged as if sent as `Authorization: Bearer <token>`, from which Envoy reads
    // from the first base64url character on.
    let envoy_token = if header_name.is_none() && scheme.is_none() {
        Some(match rest.find(envoy::is_base64url) {
            Some(start) => &rest[start..],
            None => rest,
        })
    } else {
        envoy::extract_from_header(value)
    };
    match envoy_token {
        None => Reading::Missing(no_token_problem(scheme)),
        Some(envoy_token) if envoy_token == token => Reading::Token,
        Some(envoy_token) => Reading::Other(envoy_token),
    }
}

/// Returns the problem for the `jwt_verify_lib` format status of the token Envoy reads, if any.
pub(super) fn format_problem(status: Option<&str>) -> Option<Problem> {
    let status = status?;
    Some(Problem::error(
        "mesh_rejects_format",
        format!(
            "Envoy's jwt_authn (1.29 and later) returns 401 `{status}` for this value, with \
             response code details `jwt_authn_access_denied{{{}}}`, on every workload that a \
             RequestAuthentication selects, even without an AuthorizationPolicy",
            status.replace(' ', "_")
        ),
    ))
}

fn no_token_problem(scheme: Option<&str>) -> Problem {
    match scheme {
        None => Problem::error(
            "missing_scheme",
            format!("the Authorization header has no `Bearer` scheme. {NO_TOKEN_CONSEQUENCE}"),
        ),
        Some("Bearer") => Problem::error(
            "bearer_prefix_not_found",
            format!(
                "the `Bearer` scheme is not followed by exactly one space. {NO_TOKEN_CONSEQUENCE}"
            ),
        ),
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer") => Problem::error(
            "scheme_not_bearer",
            format!(
                "the scheme is written `{scheme}`; HTTP schemes are case-insensitive, but \
                 {NO_TOKEN_CONSEQUENCE}"
            ),
        ),
        Some(scheme) => Problem::error(
            "unexpected_scheme",
            format!("the scheme is `{scheme}`, not `Bearer`. {NO_TOKEN_CONSEQUENCE}"),
        ),
    }
}

/// Builds the error for `input`, described by `parts` (how it was given) and its length only.
pub(super) fn not_a_token(parts: &[String], input: &str, reason: &str) -> TokenError {
    let mut shape = parts.to_vec();
    shape.push(plural(input.chars().count(), "character"));
    TokenError::NotAToken {
        input: format!("the input ({})", shape.join(", ")),
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shortcut for bare tokens finds what the readers of every shape find.
    #[test]
    fn bare_jwt_matches_find_in_shapes() {
        let header = "eyJhbGciOiJSUzI1NiJ9";
        let inputs = [
            format!("{header}.eyJzdWIiOiJhIn0.c2ln"),
            format!("{header}.eyJzdWIiOiJhIn0."),
            format!("{header}..eyJzdWIiOiJhIn0.c2ln"),
            format!("{header}.eyJzdWIiOiJhIn0.c2ln."),
            format!("{header}.a.b.c.d"),
            format!("{header}.a.b.c.d.e"),
            format!("{header}.e30"),
            "eyJ".to_owned(),
            "eyJ-_x.y".to_owned(),
            "eyJ..".to_owned(),
        ];
        for input in inputs {
            let shortcut = bare_jwt(&input).expect(&input);
            let general = find_in_shapes(&input);
            assert_eq!(Ok(shortcut), general, "{input}");
        }
        for other in [
            "eyJ+x.y.z",
            "eyJ x.y.z",
            "Bearer eyJ.a.b",
            "eyJ=.a.b",
            "x.eyJ.a",
        ] {
            assert_eq!(bare_jwt(other), None, "{other}");
        }
    }

    /// A header that names `enc` makes four dots a JWE only when the authentication tag, the last
    /// segment, is not empty.
    #[test]
    fn classify_enc_with_empty_tag() {
        use base64::Engine as _;

        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"alg":"RS256","enc":"A256GCM"}"#);
        assert_eq!(
            classify(&format!("{header}.e30.c2ln..")),
            Ok(TokenKind::Jws)
        );
        assert_eq!(
            classify(&format!("{header}..aXY.Y3Q.dGFn")),
            Ok(TokenKind::Jwe)
        );
        assert_eq!(
            classify(&format!("{header}...Y3Q.dGFn")),
            Ok(TokenKind::Jwe)
        );
    }
}
