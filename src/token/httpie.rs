//! The request a pasted HTTPie command (`http …` or `https …`) sends, built as far as the places
//! a token can travel: the URL with the `name==value` query items added, the `Name:value` header
//! items, and the `Authorization` header of `-A bearer -a TOKEN`. The rules are those of HTTPie
//! 3.2's documentation and argument parser, checked against `http --offline` of HTTPie 3.2.4.

use super::curl::{
    CurlRequest, percent_encode, percent_encode_except, sent_url, without_dot_segments,
};
use super::curl_options::split_short_group;
use super::shell;

/// HTTPie's short options that take a value, either the rest of the word (`-Abearer`) or the next
/// word. Every other letter is a flag.
const SHORT_WITH_VALUE: &str = "aAopPs";

/// HTTPie's long options that take a value, without `--`. The value of an option missing here
/// counts as a positional argument.
const LONG_WITH_VALUE: &[&str] = &[
    "auth",
    "auth-type",
    "boundary",
    "cert",
    "cert-key",
    "cert-key-pass",
    "ciphers",
    "default-scheme",
    "format-options",
    "history-print",
    "max-headers",
    "max-redirects",
    "output",
    "pretty",
    "print",
    "proxy",
    "raw",
    "response-charset",
    "response-mime",
    "session",
    "session-read-only",
    "ssl",
    "style",
    "timeout",
    "verify",
];

/// The separators of request items. HTTPie takes the one that starts first in the item, and the
/// longest of those that start there, so `a==b` is a query item and `a:=1` a JSON data item.
const SEPARATORS: [&str; 10] = [":", ":@", ";", "==", "==@", "=", "=@", ":=", ":=@", "@"];

/// The characters of the separators, which a backslash escapes in an item.
const SEPARATOR_CHARS: &str = ":;=@";

/// The options of an HTTPie command that decide where a token travels.
#[derive(Default)]
struct Options {
    positionals: Vec<String>,
    auth: Option<String>,
    auth_type: Option<String>,
    default_scheme: Option<String>,
    /// Arguments that name files HTTPie reads, described as the user wrote them.
    files: Vec<String>,
    /// Whether `--raw` gives a request body, which makes the default method POST.
    raw_body: bool,
}

/// Builds the request that `text` sends, or returns `None` when its first word is not `http` or
/// `https`, the two commands HTTPie installs. Files the command names are listed in
/// [`CurlRequest::unread_files`], never read.
pub(super) fn parse(text: &str) -> Option<CurlRequest> {
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let (program, rest) = text.split_once(|c: char| c.is_ascii_whitespace())?;
    // `https` differs from `http` only in the scheme of a URL given without one.
    let scheme = match program {
        "http" | "https" => program,
        _ => return None,
    };
    let options = Options::parse(&shell::split_words(rest));
    Some(options.build(scheme))
}

impl Options {
    fn parse(words: &[String]) -> Self {
        let mut options = Self::default();
        let mut iter = words.iter();
        while let Some(word) = iter.next() {
            if word == "--" {
                // Items after `--` may start with `-`.
                options.positionals.extend(iter.by_ref().cloned());
            } else if let Some(long) = word.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((name, value)) => (name, Some(value.to_owned())),
                    None => (long, None),
                };
                if LONG_WITH_VALUE.contains(&name) {
                    let value = inline.or_else(|| iter.next().cloned()).unwrap_or_default();
                    options.apply(name, value);
                }
            } else if let Some(letters) = word.strip_prefix('-').filter(|rest| !rest.is_empty()) {
                options.apply_short(letters, &mut iter);
            } else {
                options.positionals.push(word.clone());
            }
        }
        options
    }

    /// Applies a group of short options (`vF`, `Abearer`, `a`), taking the value of the one that
    /// needs it from the rest of the word or from `rest`.
    fn apply_short<'a>(&mut self, letters: &str, rest: &mut impl Iterator<Item = &'a String>) {
        match split_short_group(letters, SHORT_WITH_VALUE, rest) {
            (_, Some(('a', value))) => self.apply("auth", value),
            (_, Some(('A', value))) => self.apply("auth-type", value),
            _ => {}
        }
    }

    fn apply(&mut self, name: &str, value: String) {
        match name {
            "auth" => self.auth = Some(value),
            "auth-type" => self.auth_type = Some(value),
            "default-scheme" => self.default_scheme = Some(value),
            "raw" => self.raw_body = true,
            // A session file may hold headers and credentials that HTTPie sends.
            "session" | "session-read-only" => self
                .files
                .push(format!("--{name} {}", super::quote_truncated(&value))),
            _ => {}
        }
    }

    /// Builds the request: the method and URL from the positional arguments, then the request
    /// items, then the `Authorization` header of the auth options.
    fn build(self, program: &str) -> CurlRequest {
        // HTTPie takes the first of two or more positional arguments for the method when it is
        // letters only, and otherwise for the URL, with the method guessed from the items.
        let explicit_method = self.positionals.len() >= 2
            && self.positionals[0]
                .bytes()
                .all(|byte| byte.is_ascii_alphabetic());
        let (method, url, items) = match self.positionals.as_slice() {
            [method, url, items @ ..] if explicit_method => {
                (Some(method.to_ascii_uppercase()), Some(url), items)
            }
            [url, items @ ..] => (None, Some(url), items),
            [] => (None, None, &[][..]),
        };

        let mut request = CurlRequest {
            unread_files: self.files,
            ..CurlRequest::default()
        };
        let mut query = Vec::new();
        let mut has_data = self.raw_body;
        for item in items {
            let Some((name, separator, value)) = split_item(item) else {
                continue;
            };
            match separator {
                ":" if value.trim().is_empty() => {
                    // `Name:` removes the header, `Name;` sends it empty.
                    request.headers.retain(|line| !header_named(line, &name));
                }
                ":" => request.headers.push(format!("{name}: {}", value.trim())),
                ";" => request.headers.push(format!("{name}: ")),
                "==" => query.push(format!("{}={}", form_encode(&name), form_encode(&value))),
                "=" => {
                    has_data = true;
                    request.body_has_access_token |= name == super::request::QUERY_PARAMETER;
                }
                ":=" => has_data = true,
                _ => {
                    // Every other separator ends in `@` and reads a file.
                    has_data |= !matches!(separator, ":@" | "==@");
                    request.unread_files.push(super::quote_truncated(item));
                }
            }
        }
        request.method = method.unwrap_or_else(|| if has_data { "POST" } else { "GET" }.to_owned());

        match self.auth_type.as_deref() {
            // HTTPie 3.2.4 exits with `error: --auth required` and sends nothing.
            Some("bearer") if self.auth.is_none() => {
                request.not_sent = Some(
                    "HTTPie exits with `--auth required` and sends no request, because -A bearer \
                     needs the token in -a",
                );
            }
            Some("bearer") => {
                // The auth header replaces a header item of the same name.
                request
                    .headers
                    .retain(|line| !header_named(line, "authorization"));
                let token = self.auth.unwrap_or_default();
                request
                    .headers
                    .push(format!("Authorization: Bearer {token}"));
                request.oauth2_bearer = true;
            }
            // `basic` is the default, and `digest` sends credentials too.
            _ if self.auth.is_some() => request.sends_user = true,
            _ => {}
        }

        let scheme = self.default_scheme.as_deref().unwrap_or(program);
        request.url = url.map(|url| {
            let url = requote(&full_url(url, scheme));
            sent_url(&url, &query.join("&"), None)
        });
        request
    }
}

/// Returns `url` as HTTPie's HTTP libraries send it (HTTPie 3.2.4). urllib3 (`parse_url`)
/// resolves the dot segments of the path, and encodes every `%` as `%25` unless each one starts
/// an escape of two hex digits. Then `requests` (`requote_uri`) decodes the escapes of unreserved
/// characters and percent-encodes all but letters, digits, `-._~`, `%` and the delimiters
/// `!#$&'()*+,/:;=?@[]`. So `host/a b` sends `/a%20b`, `host/%70ublic/../x` sends `/x` and
/// `host/a/%2E%2E/x` sends `/a/../x`.
// NOTE: urllib3 checks the escapes of the path, the query and the fragment apart, and this checks
// them in the whole URL.
fn requote(url: &str) -> String {
    let url = without_dot_segments(url);
    if !escapes_are_valid(&url) {
        return percent_encode_except(&url, b"!#$&'()*+,/:;=?@[]");
    }
    percent_encode_except(&unquote_unreserved(&url), b"%!#$&'()*+,/:;=?@[]")
}

/// Returns whether every `%` in `url` starts an escape of two hex digits.
fn escapes_are_valid(url: &str) -> bool {
    url.match_indices('%').all(|(index, _)| {
        url.get(index + 1..index + 3)
            .is_some_and(|hex| hex.bytes().all(|byte| byte.is_ascii_hexdigit()))
    })
}

/// Decodes each escape in `url` that stands for an RFC 3986 unreserved character (a letter, a
/// digit or `-._~`), as `requests` (`unquote_unreserved`) does. Every `%` in `url` starts an escape
/// of two hex digits ([`escapes_are_valid`]), and the other escapes are kept in upper case, as
/// urllib3 writes them.
fn unquote_unreserved(url: &str) -> String {
    let mut sent = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(index) = rest.find('%') {
        sent.push_str(&rest[..index]);
        let hex = rest.get(index + 1..index + 3).unwrap_or_default();
        match u8::from_str_radix(hex, 16) {
            Ok(byte) if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) => {
                sent.push(char::from(byte));
            }
            _ => {
                sent.push('%');
                sent.push_str(&hex.to_ascii_uppercase());
            }
        }
        rest = rest.get(index + 3..).unwrap_or_default();
    }
    sent.push_str(rest);
    sent
}

/// Splits a request item at its separator into the name, the separator and the value, with the
/// backslash escapes of separator characters removed. Returns `None` for an item without one,
/// which HTTPie rejects.
fn split_item(item: &str) -> Option<(String, &'static str, String)> {
    let mut name = String::new();
    let mut chars = item.char_indices();
    while let Some((at, c)) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some((_, escaped)) if SEPARATOR_CHARS.contains(escaped) => name.push(escaped),
                Some((_, other)) => {
                    name.push('\\');
                    name.push(other);
                }
                None => name.push('\\'),
            }
            continue;
        }
        let separator = SEPARATORS
            .iter()
            .filter(|separator| item[at..].starts_with(**separator))
            .max_by_key(|separator| separator.len());
        if let Some(separator) = separator {
            let value = unescape(&item[at + separator.len()..]);
            return Some((name, separator, value));
        }
        name.push(c);
    }
    None
}

/// Removes the backslash before each separator character of `text`.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match chars.peek() {
            Some(next) if c == '\\' && SEPARATOR_CHARS.contains(*next) => {}
            _ => out.push(c),
        }
    }
    out
}

/// Returns whether the header line `line` is called `name`, in any case.
fn header_named(line: &str, name: &str) -> bool {
    line.split_once(':')
        .is_some_and(|(header, _)| header.trim().eq_ignore_ascii_case(name))
}

/// Encodes a query item's name or value as HTTPie's HTTP library does (Python's `quote_plus`):
/// every byte except letters, digits and `-._~` percent-encoded, and a space as `+`.
fn form_encode(text: &str) -> String {
    percent_encode(text).replace("%20", "+")
}

/// Returns the URL HTTPie requests for the URL argument `url`: `://host` and a URL without a
/// scheme get `scheme`, and `:3000/x` (or `:/x`, `:`) stands for `localhost`.
fn full_url(url: &str, scheme: &str) -> String {
    let url = url.strip_prefix("://").unwrap_or(url);
    if has_scheme(url) {
        return url.to_owned();
    }
    match url.strip_prefix(':').filter(|rest| !rest.starts_with(':')) {
        Some(rest) => {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let (port, path) = rest.split_at(digits);
            let port = if port.is_empty() {
                String::new()
            } else {
                format!(":{port}")
            };
            format!("{scheme}://localhost{port}{path}")
        }
        None => format!("{scheme}://{url}"),
    }
}

/// Returns whether `url` starts with a scheme and `://`, as RFC 3986 spells a scheme.
fn has_scheme(url: &str) -> bool {
    url.split_once("://").is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> CurlRequest {
        super::parse(text).expect("an HTTPie command")
    }

    #[test]
    fn bearer_auth_spellings() {
        for command in [
            "http -A bearer -a t GET https://h/p",
            "http --auth-type=bearer --auth=t https://h/p",
            "http --auth-type bearer --auth t https://h/p",
            "http -Abearer -at https://h/p Authorization:'Bearer other'",
        ] {
            let request = parse(command);
            assert_eq!(
                request.header("authorization"),
                Some("Bearer t"),
                "{command}"
            );
            assert!(request.oauth2_bearer, "{command}");
            assert_eq!(request.path(), "/p", "{command}");
        }
    }

    #[test]
    fn method_guessed_from_items() {
        let cases = [
            ("http h.test/a", "GET", "http://h.test/a"),
            ("http h.test/a x=1", "POST", "http://h.test/a"),
            ("http --raw x h.test/a", "POST", "http://h.test/a"),
            ("http 'h.test/a b' q==2", "GET", "http://h.test/a%20b?q=2"),
            (
                "http h.test/caf\u{e9}|x",
                "GET",
                "http://h.test/caf%C3%A9%7Cx",
            ),
            ("http --raw=x h.test/a q==2", "POST", "http://h.test/a?q=2"),
            ("http h.test/a 'x:=1' q==2", "POST", "http://h.test/a?q=2"),
            ("http put h.test/a", "PUT", "http://h.test/a"),
            (
                "https h.test/a?b=1 q==a+b/",
                "GET",
                "https://h.test/a?b=1&q=a%2Bb%2F",
            ),
            ("http :3000/x", "GET", "http://localhost:3000/x"),
            ("http : 'a b==c d'", "GET", "http://localhost?a+b=c+d"),
            ("http ://h.test/y", "GET", "http://h.test/y"),
        ];
        for (command, method, url) in cases {
            let request = parse(command);
            assert_eq!(request.method, method, "{command}");
            assert_eq!(request.url.as_deref(), Some(url), "{command}");
        }
    }

    /// URLs as HTTPie 3.2.4 sends them (`http --offline` prints the request line).
    #[test]
    fn url_normalised_as_sent() {
        let cases = [
            ("http h.test/public/../orders", "http://h.test/orders"),
            ("http h.test/%70ublic/x", "http://h.test/public/x"),
            (
                "http h.test/public/%2E%2E/orders",
                "http://h.test/public/../orders",
            ),
            ("http h.test/a/./b/", "http://h.test/a/b/"),
            ("http h.test/%7Eu%2Fx%41", "http://h.test/~u%2FxA"),
            ("http h.test/a/..", "http://h.test/"),
            ("http h.test/%zz/%41", "http://h.test/%25zz/%2541"),
            ("http h.test/%2/x", "http://h.test/%252/x"),
            ("http h.test/%2f%7e", "http://h.test/%2F~"),
        ];
        for (command, url) in cases {
            let request = parse(command);
            assert_eq!(request.url.as_deref(), Some(url), "{command}");
        }
    }

    #[test]
    fn header_items() {
        let request =
            parse(r"http h.test Authorization:' Bearer t ' Accept: X-Empty\; 'X-A\:b:c' X-E;");
        assert_eq!(
            request.headers,
            ["Authorization: Bearer t", "X-Empty: ", "X-A:b: c", "X-E: "]
        );
    }

    #[test]
    fn basic_auth_and_files() {
        let request = parse("http -a user:pass --session=s h.test 'X-T:@t.txt' body=@b.json");
        assert!(request.sends_user);
        assert_eq!(request.method, "POST");
        assert_eq!(request.unread_files.len(), 3, "{:?}", request.unread_files);
    }

    #[test]
    fn not_httpie() {
        assert!(super::parse("http://h.test/a").is_none());
        assert!(super::parse("httpx h.test").is_none());
    }
}
