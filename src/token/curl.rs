//! The request a pasted curl command sends, built as far as the places a token can travel. Those
//! are the URL, with the query that `-G` and `--url-query` add to it, and the headers, among them
//! the `Cookie` header of `-b` and the `Authorization` header of `--oauth2-bearer`.

use super::curl_options::{LONG_WITH_VALUE, SHORT_WITH_VALUE, split_short_group};
use super::shell;

/// One request a curl command (or a lone `-H` argument) sends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CurlRequest {
    /// The URL as curl sends it: without its fragment, with the query that `--url-query` and `-G`
    /// data add to it, and with the path and query of `--request-target` in place of its own.
    pub url: Option<String>,
    /// Header lines (`Name: value`) in the order curl builds them: `-H` headers, then the
    /// `Authorization` header of `--oauth2-bearer` unless a `-H` line sets one, then the `Cookie`
    /// header of the `-b` cookies.
    pub headers: Vec<String>,
    /// Whether the `Authorization` header comes from `--oauth2-bearer`.
    pub oauth2_bearer: bool,
    /// Whether `-u`/`--user` sends a user name and password (HTTP Basic).
    pub sends_user: bool,
    /// Arguments that name files curl reads (`-b FILE`, `-d @FILE`, `-H @FILE`), which idflow
    /// does not read, each described as `-b "cookies.txt"`.
    pub unread_files: Vec<String>,
    /// Whether data sent in the request body (data without `-G`) has an `access_token` pair.
    pub body_has_access_token: bool,
    /// The method curl sends: `-X`/`--request`, else HEAD for `-I`/`--head`, POST for data without
    /// `-G`, GET otherwise.
    pub method: String,
    /// The reason the client exits without sending the request, when it does (HTTPie's `-A bearer`
    /// without `-a`).
    pub not_sent: Option<&'static str>,
}

/// A data option, named by the way curl reads its value.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Data {
    /// `-d`, `--data`, `--data-ascii`, `--data-binary`: `@FILE` reads a file.
    Plain,
    /// `--data-raw`: taken as written.
    Raw,
    /// `--data-urlencode`: the value part percent-encoded, `@FILE` and `name@FILE` read a file.
    UrlEncode,
    /// `--url-query`: as `--data-urlencode`, or as written after a leading `+`.
    UrlQuery,
}

/// A word of a curl command that may be a URL.
struct UrlWord {
    text: String,
    /// Whether `--url` gave it, rather than a word that is not an option.
    explicit: bool,
}

/// Options of one request group of a curl command (the whole command, or the part before or
/// after a `--next`) that decide where a token travels, before its requests are built.
#[derive(Default)]
// Each flag is an independent curl option.
#[allow(clippy::struct_excessive_bools)]
struct Options {
    request: CurlRequest,
    urls: Vec<UrlWord>,
    request_target: Option<String>,
    get: bool,
    /// `-I`/`--head`.
    head: bool,
    /// `--path-as-is`: curl sends `/./` and `/../` in the path instead of resolving them.
    path_as_is: bool,
    /// `-X`/`--request`.
    method: Option<String>,
    /// `-F`/`--form`/`--form-string`/`--json`, which make curl send a POST.
    posts: bool,
    data: Vec<String>,
    url_query: Vec<String>,
    cookies: Vec<String>,
    oauth2_token: Option<String>,
}

impl CurlRequest {
    /// Builds the request that `text` sends, or returns `None` when `text` is neither a curl
    /// command (first word `curl`) nor a lone `-H`/`--header` argument. Of a command that sends
    /// several requests, this is the one decode reads: the first that carries a token, else the
    /// first. Files the command names are listed in [`CurlRequest::unread_files`], never read.
    pub fn parse(text: &str) -> Option<Self> {
        let requests = Self::parse_all(text)?;
        let index = super::request::decoded_request(&requests);
        requests.into_iter().nth(index)
    }

    /// Builds every request that `text` sends, in the order curl sends them, or returns `None` as
    /// [`CurlRequest::parse`] does. curl sends one request for each URL, and `--next` (or `-:`)
    /// starts a new group of options for the URLs after it. The list is never empty.
    pub fn parse_all(text: &str) -> Option<Vec<Self>> {
        let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
        // `curl.exe` is how Windows users call curl, and how browsers copy a request for them.
        let is_command = text
            .strip_prefix("curl.exe")
            .or_else(|| text.strip_prefix("curl"))
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace));
        let is_argument = text.starts_with("-H") || text.starts_with("--header");
        if !is_command && !is_argument {
            return None;
        }

        let words = shell::split_words(&shell::cmd_unescaped(text));
        let skip = usize::from(is_command).min(words.len());
        let groups: Vec<Options> = words[skip..]
            .split(|word| word == "--next" || word == "-:")
            .map(Options::parse)
            .collect();
        // curl sends nothing for a group without a URL, but a pasted fragment of a command (a
        // lone `-H` argument) has none at all and still names a header.
        let any_url = groups.iter().any(|group| !group.urls().is_empty());
        let requests = groups
            .into_iter()
            .filter(|group| !any_url || !group.urls().is_empty())
            .flat_map(Options::build)
            .collect();
        Some(requests)
    }

    /// Returns the value of the first header called `name` (any case), with the whitespace that
    /// HTTP codecs strip around it removed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_pairs()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// Returns the value of header `name` (any case) as a server reads it: the first value, or
    /// for `Cookie` every value joined with `; `, because the cookies of several `Cookie` headers
    /// form one list.
    pub fn header_value(&self, name: &str) -> Option<String> {
        if !name.eq_ignore_ascii_case("cookie") {
            return self.header(name).map(str::to_owned);
        }
        let values: Vec<&str> = self
            .header_pairs()
            .filter(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
            .collect();
        (!values.is_empty()).then(|| values.join("; "))
    }

    /// Returns the path and query of the request: the URL without its scheme and authority, `/`
    /// when it names none.
    pub fn path(&self) -> String {
        let url = self.url.as_deref().unwrap_or_default();
        let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
        let path = if url.starts_with('/') {
            url
        } else {
            after_scheme
                .find(['/', '?'])
                .map_or("", |at| &after_scheme[at..])
        };
        match path {
            "" => "/".to_owned(),
            query if query.starts_with('?') => format!("/{query}"),
            path => path.to_owned(),
        }
    }

    /// Returns the headers as `(name, value)` pairs, split at the first `:` as curl splits them.
    pub fn header_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some((name.trim(), value.trim_matches([' ', '\t'])))
        })
    }
}

impl Options {
    /// Reads the options and URLs of one request group.
    fn parse(words: &[String]) -> Self {
        let mut options = Options::default();
        let mut iter = words.iter();
        while let Some(word) = iter.next() {
            if let Some(long) = word.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((name, value)) => (name, Some(value.to_owned())),
                    None => (long, None),
                };
                if matches!(name, "get" | "head" | "path-as-is") {
                    options.get |= name == "get";
                    options.head |= name == "head";
                    options.path_as_is |= name == "path-as-is";
                    continue;
                }
                let takes_value = Options::reads_long(name)
                    || LONG_WITH_VALUE.contains(&format!("--{name}").as_str());
                if takes_value {
                    let value = inline.or_else(|| iter.next().cloned()).unwrap_or_default();
                    options.apply_long(name, value);
                }
            } else if let Some(letters) = word.strip_prefix('-').filter(|rest| !rest.is_empty()) {
                options.apply_short(letters, &mut iter);
            } else {
                options.urls.push(UrlWord {
                    text: word.clone(),
                    explicit: false,
                });
            }
        }
        options
    }

    /// Returns the URLs curl fetches, in order. curl takes every word that is not an option for a
    /// URL, but the value of an option unknown here would be such a word too. So when any URL has
    /// a scheme, the words without one are left out, and otherwise only the first word counts
    /// unless `--url` gave URLs.
    fn urls(&self) -> Vec<&str> {
        let any_scheme = self.urls.iter().any(|url| url.text.contains("://"));
        let any_explicit = self.urls.iter().any(|url| url.explicit);
        let first_word = self.urls.iter().position(|url| !url.explicit);
        self.urls
            .iter()
            .enumerate()
            .filter(|(index, url)| {
                url.explicit
                    || url.text.contains("://")
                    || (!any_scheme && !any_explicit && Some(*index) == first_word)
            })
            .map(|(_, url)| url.text.as_str())
            .collect()
    }

    /// Returns whether `name` (without `--`) is a long option that [`Options::apply_long`] reads.
    fn reads_long(name: &str) -> bool {
        matches!(
            name,
            "header"
                | "cookie"
                | "data"
                | "data-ascii"
                | "data-binary"
                | "data-raw"
                | "data-urlencode"
                | "url-query"
                | "oauth2-bearer"
                | "user"
                | "url"
                | "request-target"
        )
    }

    fn apply_long(&mut self, name: &str, value: String) {
        match name {
            "header" => self.header(value),
            "cookie" => self.cookie(value),
            "data" | "data-ascii" | "data-binary" => self.data(Data::Plain, &value),
            "data-raw" => self.data(Data::Raw, &value),
            "data-urlencode" => self.data(Data::UrlEncode, &value),
            "url-query" => self.data(Data::UrlQuery, &value),
            "oauth2-bearer" => self.oauth2_token = Some(value),
            "user" => self.request.sends_user = true,
            "url" => self.urls.push(UrlWord {
                text: value,
                explicit: true,
            }),
            "request-target" => self.request_target = Some(value),
            "request" => self.method = Some(value),
            "form" | "form-string" | "json" => self.posts = true,
            // Options that take a value idflow has no use for.
            _ => {}
        }
    }

    /// Applies a group of short options (`sG`, `HName: v`, `d`), taking the value of the one that
    /// needs it from the rest of the word or from `rest`.
    fn apply_short<'a>(&mut self, letters: &str, rest: &mut impl Iterator<Item = &'a String>) {
        let (flags, option) = split_short_group(letters, SHORT_WITH_VALUE, rest);
        self.get |= flags.contains('G');
        self.head |= flags.contains('I');
        let Some((letter, value)) = option else {
            return;
        };
        match letter {
            'H' => self.header(value),
            'b' => self.cookie(value),
            'd' => self.data(Data::Plain, &value),
            'u' => self.request.sends_user = true,
            'X' => self.method = Some(value),
            'F' => self.posts = true,
            _ => {}
        }
    }

    /// Adds a `-H` line. curl reads the header lines of a file from `@FILE`.
    fn header(&mut self, value: String) {
        match value.strip_prefix('@') {
            Some(file) => self.unread("-H", file),
            None => self.request.headers.push(value),
        }
    }

    /// Adds a `-b` value: cookies when it contains `=`, else the name of a cookie file, as curl
    /// decides.
    fn cookie(&mut self, value: String) {
        if value.contains('=') {
            self.cookies.push(value);
        } else {
            self.unread("-b", &value);
        }
    }

    /// Adds the piece of data or query that one data option sends.
    fn data(&mut self, kind: Data, value: &str) {
        let piece = match kind {
            Data::Plain => match value.strip_prefix('@') {
                Some(file) => return self.unread("-d", file),
                None => value.to_owned(),
            },
            Data::Raw => value.to_owned(),
            Data::UrlEncode | Data::UrlQuery => match (kind, value.strip_prefix('+')) {
                (Data::UrlQuery, Some(as_written)) => as_written.to_owned(),
                _ => match url_encoded(value) {
                    Ok(piece) => piece,
                    Err(file) if kind == Data::UrlQuery => return self.unread("--url-query", file),
                    Err(file) => return self.unread("--data-urlencode", file),
                },
            },
        };
        if kind == Data::UrlQuery {
            self.url_query.push(piece);
        } else {
            self.data.push(piece);
        }
    }

    fn unread(&mut self, option: &str, file: &str) {
        self.request
            .unread_files
            .push(format!("{option} {}", super::quote_truncated(file)));
    }

    /// Builds the requests of the group, one for each URL: the query added to the URL, and the
    /// headers curl adds itself.
    fn build(mut self) -> Vec<CurlRequest> {
        // curl joins the pieces of several data options with `&`.
        let mut query = self.url_query.clone();
        if self.get {
            query.append(&mut self.data);
        } else {
            self.request.body_has_access_token = self.data.iter().any(|data| {
                data.split('&').any(|pair| {
                    pair.split_once('=')
                        .is_some_and(|(name, _)| name == super::request::QUERY_PARAMETER)
                })
            });
        }
        let query = query.join("&");
        self.request.method = match &self.method {
            Some(method) => method.clone(),
            None if self.head => "HEAD".to_owned(),
            None if self.posts || (!self.get && !self.data.is_empty()) => "POST".to_owned(),
            None => "GET".to_owned(),
        };

        let has_authorization = self.request.header("authorization").is_some();
        if let Some(token) = self.oauth2_token.take().filter(|_| !has_authorization) {
            // A `-H 'Authorization: …'` line replaces the header curl builds for the bearer token.
            self.request
                .headers
                .push(format!("Authorization: Bearer {token}"));
            self.request.oauth2_bearer = true;
        }
        if !self.cookies.is_empty() {
            // curl sends the cookies of every `-b NAME=VALUE` in one header, joined with `; `.
            self.request
                .headers
                .push(format!("Cookie: {}", self.cookies.join("; ")));
        }

        let target = self.request_target.as_deref();
        let urls = self.urls();
        if urls.is_empty() {
            let mut request = self.request.clone();
            // NOTE: without a URL the query has nowhere to go, so a path of `/` takes its place.
            request.url = match target {
                Some(target) => Some(target.to_owned()),
                None => (!query.is_empty()).then(|| with_query("/", &query)),
            };
            return vec![request];
        }
        urls.iter()
            .map(|url| {
                let url = if self.path_as_is {
                    (*url).to_owned()
                } else {
                    without_dot_segments(url)
                };
                CurlRequest {
                    url: Some(sent_url(&url, &query, target)),
                    ..self.request.clone()
                }
            })
            .collect()
    }
}

/// Returns the piece `--data-urlencode` sends for `value`: `content` and `=content` encoded,
/// `name=content` with the content encoded. `@FILE` and `name@FILE` read a file, whose name is the
/// error.
fn url_encoded(value: &str) -> Result<String, &str> {
    // curl looks for `=` first and only then for `@`, so `a=b@c` is name `a` and content `b@c`.
    let separator = value.find('=').or_else(|| value.find('@'));
    match separator {
        Some(index) if value[index..].starts_with('@') => Err(&value[index + 1..]),
        Some(0) => Ok(percent_encode(&value[1..])),
        Some(index) => Ok(format!(
            "{}={}",
            &value[..index],
            percent_encode(&value[index + 1..])
        )),
        None => Ok(percent_encode(value)),
    }
}

/// Percent-encodes every byte except RFC 3986's unreserved characters, as `curl_easy_escape`
/// does.
pub(super) fn percent_encode(text: &str) -> String {
    percent_encode_except(text, b"")
}

/// Percent-encodes every byte except RFC 3986's unreserved characters and the bytes of
/// `unescaped`.
pub(super) fn percent_encode_except(text: &str, unescaped: &[u8]) -> String {
    use std::fmt::Write as _;

    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || unescaped.contains(&byte)
        {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// Returns `url` as curl sends it: without its fragment, which curl never sends, with `query`
/// added to its query, or with `target` (`--request-target`) in place of its path and query.
pub(super) fn sent_url(url: &str, query: &str, target: Option<&str>) -> String {
    let base = url.split('#').next().unwrap_or_default();
    match target {
        Some(target) => format!("{}{target}", origin(base)),
        None => with_query(base, query),
    }
}

/// Returns `url` with the `.` and `..` segments of its path resolved (RFC 3986 section 5.2.4),
/// as curl does before sending unless given `--path-as-is`, and as HTTPie does.
pub(super) fn without_dot_segments(url: &str) -> String {
    let origin = origin(url);
    let rest = &url[origin.len()..];
    let path_end = rest.find(['?', '#']).unwrap_or(rest.len());
    let (path, after) = rest.split_at(path_end);
    if !path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return url.to_owned();
    }
    let mut kept: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (index, segment) in segments.iter().enumerate() {
        let last = index + 1 == segments.len();
        match *segment {
            "." if last => kept.push(""),
            "." => {}
            ".." => {
                kept.pop();
                if last {
                    kept.push("");
                }
            }
            other => kept.push(other),
        }
    }
    format!("{origin}/{}{after}", kept.join("/"))
}

/// Returns the scheme and authority of `url` (`https://host:8443`), or the host and port of a URL
/// without a scheme.
fn origin(url: &str) -> &str {
    let start = url.find("://").map_or(0, |index| index + 3);
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |index| start + index);
    &url[..end]
}

/// Appends `query` to the query of `url`, after a `&` when it has one.
fn with_query(url: &str, query: &str) -> String {
    if query.is_empty() {
        return url.to_owned();
    }
    let separator = match url.split_once('?') {
        Some((_, existing)) if !existing.is_empty() && !existing.ends_with('&') => "&",
        Some(_) => "",
        None => "?",
    };
    format!("{url}{separator}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> CurlRequest {
        CurlRequest::parse(text).expect("a curl command")
    }

    #[test]
    fn headers_all_spellings() {
        let request = parse("curl -H 'A: 1' --header 'B: 2' --header='C: 3' -H'D: 4' --head x");
        assert_eq!(request.headers, ["A: 1", "B: 2", "C: 3", "D: 4"]);
        assert_eq!(request.url.as_deref(), Some("x"));
    }

    #[test]
    fn not_curl() {
        assert_eq!(CurlRequest::parse("curly -H 'A: 1'"), None);
        assert_eq!(CurlRequest::parse("Authorization: Bearer x"), None);
    }

    #[test]
    fn get_data_joined() {
        let cases = [
            ("curl -G -d a=1 -d b=2 https://h/p", "https://h/p?a=1&b=2"),
            ("curl -d a=1 --get https://h/p?x=0", "https://h/p?x=0&a=1"),
            ("curl https://h/public/../orders", "https://h/orders"),
            (
                "curl https://h/a/./b/../c/?q=/../x",
                "https://h/a/c/?q=/../x",
            ),
            ("curl https://h/a/..", "https://h/"),
            (
                "curl --path-as-is https://h/public/../orders",
                "https://h/public/../orders",
            ),
            ("curl -sGd a=1 https://h/p?#top", "https://h/p?a=1"),
            ("curl -G --data-raw @a https://h/", "https://h/?@a"),
            (
                "curl -G --data-urlencode a=b+c/d https://h/",
                "https://h/?a=b%2Bc%2Fd",
            ),
            (
                "curl -G --data-urlencode '=x y' https://h/",
                "https://h/?x%20y",
            ),
            ("curl --url-query a=b%c https://h/", "https://h/?a=b%25c"),
            ("curl --url-query +a=b%c https://h/", "https://h/?a=b%c"),
            ("curl --url https://h/ -G -d a=1", "https://h/?a=1"),
        ];
        for (command, url) in cases {
            assert_eq!(parse(command).url.as_deref(), Some(url), "{command}");
        }
    }

    #[test]
    fn data_without_get_is_body() {
        let request = parse("curl -d access_token=x https://h/");
        assert_eq!(request.url.as_deref(), Some("https://h/"));
        assert!(request.body_has_access_token);
    }

    #[test]
    fn cookies_and_files() {
        let request = parse("curl -b 'a=1;jwt=x' --cookie b=2 -b jar.txt -d @body.json https://h/");
        assert_eq!(request.header("cookie"), Some("a=1;jwt=x; b=2"));
        assert_eq!(
            request.unread_files,
            [r#"-b "jar.txt""#, r#"-d "body.json""#]
        );
    }

    #[test]
    fn oauth2_bearer_unless_header() {
        let bearer = parse("curl --oauth2-bearer t https://h/");
        assert_eq!(bearer.header("authorization"), Some("Bearer t"));
        assert!(bearer.oauth2_bearer);

        let replaced = parse("curl --oauth2-bearer t -H 'Authorization: Bearer u' https://h/");
        assert_eq!(replaced.header("authorization"), Some("Bearer u"));
        assert!(!replaced.oauth2_bearer);
    }

    #[test]
    fn values_not_taken_for_url() {
        let request = parse("curl -X GET -o out.txt --max-time 5 -u a:b https://h/");
        assert_eq!(request.url.as_deref(), Some("https://h/"));
        assert!(request.sends_user);

        let unknown = parse("curl --made-up-option value https://h/?a=1");
        assert_eq!(unknown.url.as_deref(), Some("https://h/?a=1"));
    }

    #[test]
    fn fragment_not_sent() {
        let request = parse("curl 'https://h/p?a=1#x?access_token=t'");
        assert_eq!(request.url.as_deref(), Some("https://h/p?a=1"));
    }

    #[test]
    fn request_per_url() {
        let requests = CurlRequest::parse_all("curl -H 'A: 1' https://h/a --url https://h/b")
            .expect("a curl command");
        let urls: Vec<_> = requests
            .iter()
            .map(|request| request.url.as_deref())
            .collect();
        assert_eq!(urls, [Some("https://h/a"), Some("https://h/b")]);
        assert_eq!(requests[1].headers, ["A: 1"]);
    }

    #[test]
    fn next_resets_options() {
        let requests = CurlRequest::parse_all("curl -H 'A: 1' https://h/a --next https://h/b")
            .expect("a curl command");
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].headers, ["A: 1"]);
        assert!(requests[1].headers.is_empty());
    }

    #[test]
    fn method_and_path() {
        let parse = |text: &str| CurlRequest::parse(text).expect("a curl command");
        let delete = parse("curl -X DELETE 'https://shop.test/api/orders/1?x=1' -H 'A: b'");
        let post = parse("curl -d a=1 https://shop.test");
        let get = parse("curl -G -d a=1 https://shop.test/api");
        let head = parse("curl -sI shop.test/health");
        let form = parse("curl -F file=@a https://shop.test/upload");
        let json = parse("curl --json '{}' https://shop.test/api");

        assert_eq!(form.method, "POST");
        assert_eq!(json.method, "POST");

        assert_eq!(
            (delete.method.as_str(), delete.path()),
            ("DELETE", "/api/orders/1?x=1".to_owned())
        );
        assert_eq!(
            (post.method.as_str(), post.path()),
            ("POST", "/".to_owned())
        );
        assert_eq!(
            (get.method.as_str(), get.path()),
            ("GET", "/api?a=1".to_owned())
        );
        assert_eq!(
            (head.method.as_str(), head.path()),
            ("HEAD", "/health".to_owned())
        );
    }

    #[test]
    fn group_without_url_skipped() {
        let requests = CurlRequest::parse_all("curl -H 'A: 1' --next -H 'B: 2' https://h/b")
            .expect("a curl command");
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].headers, ["B: 2"]);
    }

    #[test]
    fn request_target_replaces_path() {
        let request = parse("curl --request-target '/x?a=1' https://h:8443/p?b=2");
        assert_eq!(request.url.as_deref(), Some("https://h:8443/x?a=1"));
    }

    #[test]
    fn url_query_file_named() {
        let request = parse("curl --url-query a@f.txt https://h/");
        assert_eq!(request.unread_files, [r#"--url-query "f.txt""#]);
    }
}
