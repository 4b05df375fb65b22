//! Input text quoted in messages, cut to a length and with tokens hidden.
//!
//! Messages about a malformed access log line, an invalid DataStream 2 field or a policy value quote
//! the input so that the user can find it. That input may carry a bearer token, and the messages
//! reach the terminal, the TUI and the debug log, so these quotes go through [`excerpt`].

use std::borrow::Cow;

/// Placeholder for a hidden token or credential.
const HIDDEN: &str = "[token hidden]";

/// Shortest run of base64url characters and dots, starting with `eyJ`, taken for a JWT or JWE.
/// `eyJ` is `{"` in base64url, the start of every JOSE header.
const MIN_JOSE_CHARS: usize = 16;

/// Shortest word after an authorization scheme taken for a credential. An opaque token has no
/// shape of its own, but a scheme word and a separator announce one.
const MIN_CREDENTIAL_CHARS: usize = 8;

/// Length from which a word after a scheme is taken for a credential whatever its letters.
const LONG_CREDENTIAL_CHARS: usize = 32;

/// Authorization schemes whose next word is a credential, compared without case.
const SCHEMES: [&str; 4] = ["bearer", "token", "dpop", "basic"];

/// Returns at most `max` characters of `text` for a message, with `…` where it was cut. Each JWT
/// or JWE, in either base64 alphabet, and each credential-like word after `Bearer`, `Token`,
/// `DPoP` or `Basic` and a space, tab or `%20`, becomes `[token hidden]`, which counts as one
/// character.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    hide(text, max, false)
}

/// Returns [`excerpt`]'s text. In a path (`in_path`), a `/` ends a token, which otherwise may
/// contain one (the standard base64 alphabet).
fn hide(text: &str, max: usize, in_path: bool) -> String {
    let mut out = String::with_capacity(text.len().min(max.saturating_mul(4)) + 4);
    let mut shown_chars = 0;
    let mut index = 0;
    while let Some(c) = text[index..].chars().next() {
        if shown_chars == max {
            out.push('…');
            break;
        }
        if let Some(end) = secret_end(text, index, in_path) {
            out.push_str(HIDDEN);
            index = end;
        } else {
            out.push(c);
            index += c.len_utf8();
        }
        shown_chars += 1;
    }
    out
}

/// Returns the end of the token or credential that starts at byte `start` of `text`, if one does.
fn secret_end(text: &str, start: usize, in_path: bool) -> Option<usize> {
    let before = &text[..start];
    let rest = &text[start..];
    // A percent-encoded character (`%20`, `%22`) ends in a hex digit, yet separates words.
    let inside_word =
        before.chars().next_back().is_some_and(is_base64url) && !ends_with_percent_escape(before);
    if rest.starts_with("eyJ") {
        let len = rest
            .find(|c: char| {
                !(is_base64url(c) || matches!(c, '.' | '=' | '+') || (c == '/' && !in_path))
            })
            .unwrap_or(rest.len());
        // Inside a word (`Bearer_eyJ…`, `xeyJ…`), only a JWS or JWE shape with its dots counts.
        let dots = rest[..len].matches('.').count();
        if len >= MIN_JOSE_CHARS && (!inside_word || dots >= 2) {
            return Some(start + len);
        }
    }
    if inside_word {
        return None;
    }
    if follows_scheme(before) {
        let len = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '&'))
            .unwrap_or(rest.len());
        if looks_like_credential(&rest[..len]) {
            return Some(start + len);
        }
    }
    None
}

/// Returns whether `text` ends with a percent-encoded character such as `%20`.
fn ends_with_percent_escape(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 3
        && bytes[bytes.len() - 3] == b'%'
        && bytes[bytes.len() - 2..].iter().all(u8::is_ascii_hexdigit)
}

/// Returns whether a word after a scheme looks like a credential rather than prose: at least
/// eight characters with a digit, both cases or a base64 or token punctuation character, or
/// [`LONG_CREDENTIAL_CHARS`] characters of any kind. A `name=value` pair (`kid=rsa-1`) is no
/// credential, though base64 may end in `=`.
fn looks_like_credential(word: &str) -> bool {
    if word.trim_end_matches('=').contains('=') {
        return false;
    }
    let chars = word.chars().count();
    if chars >= LONG_CREDENTIAL_CHARS {
        return true;
    }
    let has = |test: fn(&char) -> bool| word.chars().any(|c| test(&c));
    chars >= MIN_CREDENTIAL_CHARS
        && (has(char::is_ascii_digit)
            || (has(char::is_ascii_uppercase) && has(char::is_ascii_lowercase))
            || has(|c| matches!(c, '-' | '_' | '.' | '=' | '+' | '/' | '~')))
}

/// Returns whether `before` ends with an authorization scheme word and a separator: spaces, tabs
/// or a percent-encoded space. The scheme word starts the text or follows whitespace, a quote,
/// `:` or `=`, so that the `token` of a path such as `/oauth/token` is no scheme.
fn follows_scheme(before: &str) -> bool {
    let mut trimmed = before.trim_end_matches([' ', '\t']);
    let mut separated = trimmed.len() < before.len();
    while let Some(shorter) = trimmed.strip_suffix("%20") {
        trimmed = shorter;
        separated = true;
    }
    if !separated {
        return false;
    }
    let word_start = trimmed
        .char_indices()
        .rev()
        .find(|&(_, c)| !c.is_ascii_alphabetic())
        .map_or(0, |(index, c)| index + c.len_utf8());
    let starts_word = trimmed[..word_start]
        .chars()
        .next_back()
        .is_none_or(|c| c.is_whitespace() || matches!(c, '"' | '\'' | ':' | '='));
    let word = &trimmed[word_start..];
    starts_word
        && SCHEMES
            .iter()
            .any(|scheme| word.eq_ignore_ascii_case(scheme))
}

/// Placeholder for the user and password of a URL.
const HIDDEN_USERINFO: &str = "[credentials hidden]";

/// Returns `url` with the user and password of its authority (`user:password@`) replaced by
/// `[credentials hidden]`, for logs, messages and labels. The request itself still sends them, as
/// HTTP Basic credentials. Text without `://` or without `@` before the path is returned as it is,
/// so a malformed URL in an error message is hidden too.
pub(crate) fn hide_url_credentials(url: &str) -> Cow<'_, str> {
    let Some(scheme_end) = url.find("://") else {
        return Cow::Borrowed(url);
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |end| authority_start + end);
    // A password may contain `@` unencoded in careless input, so the last one ends the userinfo.
    let Some(at) = url[authority_start..authority_end].rfind('@') else {
        return Cow::Borrowed(url);
    };
    let host_start = authority_start + at;
    Cow::Owned(format!(
        "{}{HIDDEN_USERINFO}{}",
        &url[..authority_start],
        &url[host_start..]
    ))
}

/// Query parameters whose values are credentials whatever their shape. `access_token` is also
/// where Envoy's `jwt_authn` looks for a token by default.
const CREDENTIAL_PARAMETERS: [&str; 9] = [
    "access_token",
    "id_token",
    "refresh_token",
    "token",
    "jwt",
    "client_secret",
    "api_key",
    "apikey",
    "password",
];

/// Returns `path` with its credentials hidden. Each JWT, and each credential after a scheme, is
/// hidden as [`excerpt`] hides it. So is the value of each query or fragment parameter named like a
/// credential (`access_token`, `id_token`, `api_key` …, in any case, percent-encoded or not).
/// Paths are shown and exported, and a token in them would otherwise be too.
pub(crate) fn hide_path_credentials(path: &str) -> Cow<'_, str> {
    let named = |parameter: &str| {
        let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        let name = percent_decoded(name);
        !value.is_empty()
            && CREDENTIAL_PARAMETERS
                .iter()
                .any(|secret| name.eq_ignore_ascii_case(secret))
    };
    let has_named = path
        .find(['?', '#'])
        .is_some_and(|start| path[start + 1..].split(['&', '#', '?']).any(named));
    // Every access log line's path comes here, so text with no `eyJ` and no scheme word skips the
    // character-by-character scan and the copy.
    if !has_named && !may_contain_secret(path) {
        return Cow::Borrowed(path);
    }
    let shown = hide(path, usize::MAX, true);
    if !has_named && shown == path {
        return Cow::Borrowed(path);
    }
    if !has_named {
        return Cow::Owned(shown);
    }
    let mut out = String::with_capacity(shown.len());
    let mut rest = shown.as_str();
    while let Some(start) = rest.find(['?', '#', '&']) {
        out.push_str(&rest[..=start]);
        rest = &rest[start + 1..];
        let end = rest.find(['&', '#', '?']).unwrap_or(rest.len());
        let parameter = &rest[..end];
        match parameter.split_once('=') {
            Some((name, _)) if named(parameter) => {
                out.push_str(name);
                out.push('=');
                out.push_str(HIDDEN);
            }
            _ => out.push_str(parameter),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Returns whether `text` contains `eyJ` or a scheme word in any case, without which [`hide`]
/// finds nothing to hide.
fn may_contain_secret(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.contains("eyJ")
        || SCHEMES.iter().any(|scheme| {
            bytes
                .windows(scheme.len())
                .any(|window| window.eq_ignore_ascii_case(scheme.as_bytes()))
        })
}

/// Returns `text` with each `%XX` escape decoded, as Envoy reads query parameters.
fn percent_decoded(text: &str) -> Cow<'_, str> {
    if text.contains('%') {
        Cow::Owned(crate::mesh::jwt::extract::percent_decode(text))
    } else {
        Cow::Borrowed(text)
    }
}

/// Returns whether a logged `Authorization` value carries the credential, not only its scheme: a
/// credential-like word after the scheme, or one word of more than seven characters that is no
/// scheme (a credential sent without one). `%REQ(AUTHORIZATION):7%` logs `Bearer ` and carries
/// none.
pub(crate) fn carries_credential(authorization: &str) -> bool {
    let mut words = authorization.split_whitespace();
    match (words.next(), words.next()) {
        (Some(_), Some(credential)) => looks_like_credential(credential),
        (Some(only), None) => !is_scheme_word(only) && only.chars().count() > 7,
        _ => false,
    }
}

/// The scheme recorded for an `Authorization` value that starts with its credential.
const NO_SCHEME: &str = "(no scheme)";

/// Returns only the scheme of a logged `Authorization` value, so that a log or record that contains
/// the whole header never passes the credential on. A first word that cannot be a scheme is a
/// credential sent without one, returned as `(no scheme)`.
pub(crate) fn authorization_scheme(value: &str) -> Option<&str> {
    let first = value.split_whitespace().next()?;
    Some(if is_scheme_word(first) {
        first
    } else {
        NO_SCHEME
    })
}

/// Returns `text` with each token and credential hidden as [`excerpt`] hides them, uncut.
pub(crate) fn hide_tokens(text: &str) -> String {
    excerpt(text, usize::MAX)
}

/// Returns `text` typed or pasted into a prompt with tokens hidden as [`hide_tokens`] hides them,
/// and also every run of 40 or more base64url characters. A token split by a space leaves its
/// signature (43 characters or more) as such a run, while the ids people filter by are shorter
/// (a UUID has 36 characters).
pub(crate) fn hide_pasted(text: &str) -> String {
    const LONG_RUN: usize = 40;
    let hidden = hide_tokens(text);
    let mut out = String::with_capacity(hidden.len());
    let mut run = String::new();
    for c in hidden.chars().chain(std::iter::once(' ')) {
        if is_base64url(c) || c == '%' {
            run.push(c);
            continue;
        }
        if run.chars().count() >= LONG_RUN {
            out.push_str(HIDDEN);
        } else {
            out.push_str(&run);
        }
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}

/// Makes a panic print its message with tokens hidden as [`hide_pasted`] hides them. The standard
/// message quotes the text a slice failed on, which can be a pasted token, so it is not printed.
pub(crate) fn hide_tokens_in_panics() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("no message");
        let location = info
            .location()
            .map_or_else(String::new, |location| format!(" at {location}"));
        eprintln!(
            "idflow: internal error{location}: {}. Please report it with the command line, \
             without the token",
            hide_pasted(message)
        );
    }));
}

/// Returns whether `word` can be an authorization scheme: up to 16 ASCII letters, as `Bearer`,
/// `Basic`, `DPoP` and `Negotiate` are. Anything else in that place is a credential.
fn is_scheme_word(word: &str) -> bool {
    (1..=16).contains(&word.len()) && word.chars().all(|c| c.is_ascii_alphabetic())
}

fn is_base64url(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

#[cfg(test)]
mod tests {
    use super::{carries_credential, excerpt, hide_pasted};

    #[test]
    fn url_userinfo_hidden() {
        let cases = [
            (
                "http://user:secret-1@127.0.0.1:8080/certs",
                "http://[credentials hidden]@127.0.0.1:8080/certs",
            ),
            (
                "https://user@idp.test",
                "https://[credentials hidden]@idp.test",
            ),
            (
                "https://u:p@ss@idp.test/a?x=1@b",
                "https://[credentials hidden]@idp.test/a?x=1@b",
            ),
            ("https://idp.test/a@b", "https://idp.test/a@b"),
            ("https://idp.test?next=a@b", "https://idp.test?next=a@b"),
            ("keys/jwks.json", "keys/jwks.json"),
            ("http://[::1]:80/j", "http://[::1]:80/j"),
        ];
        for (input, expected) in cases {
            assert_eq!(super::hide_url_credentials(input), expected, "{input}");
        }
    }

    #[test]
    fn pasted_long_runs_hidden() {
        let signature = "c2lnbmF0dXJl".repeat(4);
        let uuid = "3e57c0a3-1b2c-4d5e-8f90-0123456789ab";

        assert_eq!(
            hide_pasted(&format!("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0. {signature}")),
            "[token hidden] [token hidden]"
        );
        assert_eq!(hide_pasted(uuid), uuid);
        assert_eq!(hide_pasted("GET /api/orders"), "GET /api/orders");
    }

    /// A JWT-shaped text that no key signed: header `{"alg":"none"}`, payload `{"sub":"x"}`.
    const JWT: &str = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";

    #[test]
    fn excerpt_cuts_and_marks() {
        assert_eq!(excerpt("abcdef", 3), "abc…");
        assert_eq!(excerpt("abc", 3), "abc");
        assert_eq!(excerpt("", 3), "");
        assert_eq!(excerpt("ééé", 2), "éé…");
    }

    #[test]
    fn excerpt_hides_jwt() {
        assert_eq!(
            excerpt(&format!("\"Bearer {JWT}\" \"ua\""), 200),
            "\"Bearer [token hidden]\" \"ua\""
        );
        assert_eq!(
            excerpt(&format!("GET /api?access_token={JWT}&x=1"), 200),
            "GET /api?access_token=[token hidden]&x=1"
        );
        assert_eq!(excerpt(JWT, 200), "[token hidden]");
    }

    #[test]
    fn excerpt_hides_jwt_glued_to_word() {
        assert_eq!(
            excerpt(&format!("Authorization=Bearer_{JWT}"), 200),
            "Authorization=Bearer_[token hidden]"
        );
        assert_eq!(excerpt(&format!("x{JWT} y"), 200), "x[token hidden] y");
        // A word that only contains `eyJ` without a token's dots is kept.
        let word = "keyJournalEntriesForTheWholeYear";
        assert_eq!(excerpt(word, 200), word);
    }

    #[test]
    fn excerpt_hides_jwt_cut_by_length() {
        // The token starts before the cut and ends after it: none of it shows.
        let text = format!("auth={JWT}");
        assert_eq!(excerpt(&text, 8), "auth=[token hidden]");
        assert_eq!(excerpt(&text, 5), "auth=…");
    }

    #[test]
    fn excerpt_hides_jwe_and_padded_jwt() {
        let jwe = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXY.Y2lwaGVy.dGFn";
        assert_eq!(excerpt(jwe, 200), "[token hidden]");
        let padded = "eyJhbGciOiJub25lIn0=.eyJzdWIiOiJ4In0=.c2ln";
        assert_eq!(excerpt(padded, 200), "[token hidden]");
    }

    #[test]
    fn excerpt_hides_credential_after_scheme() {
        assert_eq!(
            excerpt("Authorization: Bearer 2YotnFZFEjr1zCsicMWpAA", 200),
            "Authorization: Bearer [token hidden]"
        );
        assert_eq!(
            excerpt("authorization: basic dXNlcjpwYXNzd29yZA==", 200),
            "authorization: basic [token hidden]"
        );
        assert_eq!(
            excerpt("\"DPoP  Ab3dEf9h\"", 200),
            "\"DPoP  [token hidden]\""
        );
        assert_eq!(
            excerpt("auth Bearer\tAb3dEf9h", 200),
            "auth Bearer\t[token hidden]"
        );
        assert_eq!(excerpt("Bearer%20Ab3dEf9h", 200), "Bearer%20[token hidden]");
    }

    #[test]
    fn excerpt_hides_standard_alphabet_jwt() {
        let standard = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln+/c2ln";
        assert_eq!(excerpt(standard, 200), "[token hidden]");
    }

    #[test]
    fn excerpt_keeps_prose_and_paths() {
        for text in [
            "POST /oauth/token HTTP/1.1 200",
            "refresh token rotation disabled",
            "Basic authentication required",
            "the bearer abcdefgh",
        ] {
            assert_eq!(excerpt(text, 200), text);
        }
    }

    #[test]
    fn excerpt_keeps_ordinary_text() {
        // A scheme alone, a short word after it, and words that merely contain `eyJ` stay.
        assert_eq!(excerpt("\"Bearer \" \"-\"", 200), "\"Bearer \" \"-\"");
        assert_eq!(excerpt("Bearer abc", 200), "Bearer abc");
        assert_eq!(
            excerpt("keyJournal-entry-1234567", 200),
            "keyJournal-entry-1234567"
        );
        assert_eq!(excerpt("eyJshort", 200), "eyJshort");
        assert_eq!(
            excerpt("bearertoken abcdefghijkl", 200),
            "bearertoken abcdefghijkl"
        );
    }

    #[test]
    fn credential_in_authorization_value() {
        assert!(carries_credential(&format!("Bearer {JWT}")));
        assert!(carries_credential("Basic dXNlcjpwYXNzd29yZA=="));
        assert!(carries_credential(JWT));
        assert!(!carries_credential("Bearer "));
        assert!(!carries_credential("Bearer"));
        assert!(!carries_credential("Basic d"));
        assert!(!carries_credential(""));
    }

    #[test]
    fn path_credentials_hidden() {
        use super::hide_path_credentials;
        let cases = [
            (
                format!("/api?status=open&access_token={JWT}"),
                "/api?status=open&access_token=[token hidden]",
            ),
            (
                format!("/api?next={JWT}&API_KEY=k3y"),
                "/api?next=[token hidden]&API_KEY=[token hidden]",
            ),
            (format!("/t/{JWT}/x"), "/t/[token hidden]/x"),
            (format!("/cb#id_token={JWT}"), "/cb#id_token=[token hidden]"),
            (format!("/api?q=%22{JWT}%22"), "/api?q=%22[token hidden]%22"),
            (
                "/api?auth=Bearer%20opaqSECRETabc123XYZ&x=1".to_owned(),
                "/api?auth=Bearer%20[token hidden]&x=1",
            ),
            (
                "/api?access%5Ftoken=opaque123".to_owned(),
                "/api?access%5Ftoken=[token hidden]",
            ),
        ];
        for (path, expected) in &cases {
            assert_eq!(hide_path_credentials(path), *expected);
        }
        for ordinary in [
            "/api/orders",
            "/api?status=open&page=2",
            "/api?token=",
            "/a?x",
        ] {
            assert!(matches!(
                hide_path_credentials(ordinary),
                std::borrow::Cow::Borrowed(_)
            ));
        }
    }

    #[test]
    fn key_value_words_kept() {
        for text in [
            "token kid=rsa-2024-01 not in JWKS",
            "Token issuer=https://idp.example.com/realms/shop not trusted",
        ] {
            assert_eq!(excerpt(text, 200), text);
        }
    }
}
