//! Envoy's `uri_template` path matcher without a regex. Envoy turns the template into an RE2
//! pattern and full-matches it against the path without query (`convertPathPatternSyntaxToRegex`
//! in `source/extensions/path/uri_template_lib`): a `*` segment becomes `[SEGMENT]+`, a `**`
//! segment `[SEGMENT/]*`, and any other segment its escaped literal, joined with `/`.
//! [`PathTemplate`] walks the same pieces over the path's bytes.

use regex::Regex;

/// The characters a `*` segment may contain (RFC 3986 unreserved, `%`, and the sub-delimiters
/// except `*`), as in Envoy's `uri_template` library.
const SEGMENT_CHARS: &[u8] = b"-._~%!$&'()+,;:@=";

fn is_segment_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || SEGMENT_CHARS.contains(&b)
}

/// A compiled path template.
#[derive(Debug)]
pub(super) enum PathTemplate {
    /// Literal text and wildcards, with at most one `**`.
    Pieces(Vec<Piece>),
    /// A template with two or more `**` segments, kept as the equivalent regex because walking it
    /// by backtracking could take exponential time.
    Regex(Regex),
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Piece {
    /// Bytes that must appear as written, `/` separators included.
    Literal(String),
    /// `*`: one or more segment characters.
    Segment,
    /// `**`: zero or more segment characters or `/`.
    Segments,
}

impl PathTemplate {
    /// Compiles a template such as `/api/*/items/**`. Only whole `*` and `**` segments are
    /// wildcards, and everything else, `{name}` included, is literal.
    pub fn new(template: &str) -> Result<Self, regex::Error> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut many = 0;
        for (i, segment) in template.split('/').enumerate() {
            if i > 0 {
                literal.push('/');
            }
            let wildcard = match segment {
                "*" => Piece::Segment,
                "**" => {
                    many += 1;
                    Piece::Segments
                }
                text => {
                    literal.push_str(text);
                    continue;
                }
            };
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            pieces.push(wildcard);
        }
        if !literal.is_empty() || pieces.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        if many > 1 {
            return Ok(Self::Regex(template_regex(template)?));
        }
        Ok(Self::Pieces(pieces))
    }

    /// Returns whether the whole path matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            Self::Pieces(pieces) => match_pieces(pieces, path.as_bytes()),
            Self::Regex(re) => re.is_match(path),
        }
    }
}

/// Matches `pieces` against all of `rest`. A `*` takes the whole run of segment bytes. That is the
/// only choice that can succeed, because the piece after it is the end or a literal starting with
/// `/`, which is not a segment byte. The single `**` tries every end position, so the worst case
/// is quadratic in the path length.
fn match_pieces(pieces: &[Piece], mut rest: &[u8]) -> bool {
    for (i, piece) in pieces.iter().enumerate() {
        match piece {
            Piece::Literal(text) => {
                let Some(after) = rest.strip_prefix(text.as_bytes()) else {
                    return false;
                };
                rest = after;
            }
            Piece::Segment => {
                let run = rest.iter().take_while(|b| is_segment_byte(**b)).count();
                if run == 0 {
                    return false;
                }
                rest = &rest[run..];
            }
            Piece::Segments => {
                let run = rest
                    .iter()
                    .take_while(|b| **b == b'/' || is_segment_byte(**b))
                    .count();
                let tail = &pieces[i + 1..];
                return (0..=run).any(|taken| match_pieces(tail, &rest[taken..]));
            }
        }
    }
    rest.is_empty()
}

/// Builds the regex Envoy builds for a template, anchored at both ends.
pub(super) fn template_regex(template: &str) -> Result<Regex, regex::Error> {
    const SEGMENT: &str = "[a-zA-Z0-9-._~%!$&'()+,;:@=]";
    let parts: Vec<String> = template
        .split('/')
        .map(|segment| match segment {
            "**" => format!("{}*", SEGMENT.replace(']', "/]")),
            "*" => format!("{SEGMENT}+"),
            literal => regex::escape(literal),
        })
        .collect();
    Regex::new(&format!("^(?:{})$", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xorshift;

    const TEMPLATES: &[&str] = &[
        "",
        "/",
        "*",
        "**",
        "/*",
        "/**",
        "/api/*",
        "/api/**",
        "/api/*/items",
        "/api/*/items/*",
        "/api/**/items",
        "/api/*/**",
        "/*/*/*",
        "/a//*",
        "//**",
        "/a/*.m4s",
        "/a/**.mpd",
        "/a/{name}/*",
        "/a.b/(x)/*",
        "/a/***",
        "/**/**",
        "/a/**/b/**",
        "/**/x/**/y",
    ];

    const PATHS: &[&str] = &[
        "",
        "/",
        "//",
        "///",
        "/api",
        "/api/",
        "/api/v1",
        "/api/v1/",
        "/api/v1/items",
        "/api/v1/items/",
        "/api/v1/items/17",
        "/api/v1/items/17/",
        "/api/v1/other/items",
        "/api/a/b/c/items",
        "/api/items",
        "/api//items",
        "/api/v1/items/a b",
        "/api/v1/items/a*b",
        "/api/v1/items/caf\u{e9}",
        "/api/v1/items/%2F",
        "/api/v1/items/~!$&'()+,;:@=",
        "/a/b/c",
        "/a//b",
        "/a/x.m4s",
        "/a/*.m4s",
        "/a/**.mpd",
        "/a/b/c.mpd",
        "/a/{name}/x",
        "/a/v/x",
        "/a.b/(x)/y",
        "/axb/(x)/y",
        "/a/***",
        "/a/b",
        "/a/x/b/y",
        "/a/b/",
        "/q/x/r/y",
        "/x/y",
        "/x/x/y/y",
        "a/b",
        "/a\nb",
        "/a?b",
        "/a#b",
    ];

    #[test]
    fn pieces_agree_with_regex() {
        for template in TEMPLATES {
            let compiled = PathTemplate::new(template).expect("template compiles");
            let re = template_regex(template).expect("template regex compiles");
            for path in PATHS {
                assert_eq!(
                    compiled.matches(path),
                    re.is_match(path),
                    "template {template:?} on path {path:?}"
                );
            }
        }
    }

    #[test]
    fn every_byte_agrees_with_regex() {
        for template in ["/a/*", "/a/**", "/a/*/b"] {
            let compiled = PathTemplate::new(template).expect("template compiles");
            let re = template_regex(template).expect("template regex compiles");
            for c in (0u32..0x250).filter_map(char::from_u32) {
                for path in [
                    format!("/a/{c}"),
                    format!("/a/x{c}y/b"),
                    format!("/a/{c}/b"),
                ] {
                    assert_eq!(
                        compiled.matches(&path),
                        re.is_match(&path),
                        "template {template:?} on path {path:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn generated_cases_agree_with_regex() {
        const SEGMENTS: &[&str] = &["a", "b", "*", "**", "", "{x}", "a.b"];
        // Path segments built like the template's, so many paths match.
        const PATH_SEGMENTS: &[&str] = &["a", "b", "", "a.b", "{x}", "*", "\u{e9}", "a b", "."];
        let mut matched = 0;
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..300 {
            let template: Vec<&str> = (0..=next(4))
                .map(|_| SEGMENTS[next(SEGMENTS.len())])
                .collect();
            let template = format!("/{}", template.join("/"));
            let compiled = PathTemplate::new(&template).expect("template compiles");
            let re = template_regex(&template).expect("template regex compiles");
            for _ in 0..200 {
                let path: Vec<&str> = (0..next(6))
                    .map(|_| PATH_SEGMENTS[next(PATH_SEGMENTS.len())])
                    .collect();
                let path = format!("/{}", path.join("/"));
                matched += usize::from(re.is_match(&path));
                assert_eq!(
                    compiled.matches(&path),
                    re.is_match(&path),
                    "template {template:?} on path {path:?}"
                );
            }
        }
        // The generated cases must include matches, or the comparison proves little.
        assert!(matched > 1000, "only {matched} generated cases match");
    }

    #[test]
    fn two_double_stars_use_regex() {
        let compiled = PathTemplate::new("/a/**/b/**").expect("template compiles");
        assert!(matches!(compiled, PathTemplate::Regex(_)));
    }

    #[test]
    fn pieces_of_template() {
        let compiled = PathTemplate::new("/api/*/items/**").expect("template compiles");
        let PathTemplate::Pieces(pieces) = compiled else {
            panic!("one ** should compile to pieces");
        };
        assert_eq!(
            pieces,
            [
                Piece::Literal("/api/".to_owned()),
                Piece::Segment,
                Piece::Literal("/items/".to_owned()),
                Piece::Segments,
            ]
        );
    }
}
