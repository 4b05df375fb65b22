//! A full-match regex, with a fast path for the shapes istiod emits most: literal text joined by
//! `.*` and `.+` (`.+`, `.*/ns/NS/.*`, `spiffe://.*-corp`). Such a regex matches exactly when the
//! value has no `\n` (which `.` never matches) and the literal parts occur in order with enough
//! characters between them, so it is matched without running the regex engine.

use regex::Regex;

/// A regex matched against the whole value.
#[derive(Debug)]
pub(super) enum FullRegex {
    Glob(Glob),
    Regex(Regex),
}

impl FullRegex {
    /// Compiles `pattern`, anchored at both ends as Envoy's RE2 full match is.
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        if let Some(glob) = Glob::parse(pattern) {
            return Ok(Self::Glob(glob));
        }
        Regex::new(&format!("^(?:{pattern})$")).map(Self::Regex)
    }

    pub fn is_match(&self, value: &str) -> bool {
        match self {
            Self::Glob(glob) => glob.is_match(value),
            Self::Regex(re) => re.is_match(value),
        }
    }

    /// Returns `L` when the regex is `.*L.*`, which matches exactly the values without `\n` that
    /// contain `L`. Returns `None` for every other shape.
    pub fn contained_literal(&self) -> Option<&str> {
        let Self::Glob(glob) = self else {
            return None;
        };
        match (glob.literals.as_slice(), glob.min_chars.as_slice()) {
            ([before, literal, after], [0, 0]) if before.is_empty() && after.is_empty() => {
                Some(literal)
            }
            _ => None,
        }
    }
}

/// `literals[0] .{min_chars[0],} literals[1] … literals[n]`, with `.` any character except `\n`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Glob {
    literals: Vec<String>,
    /// The minimum number of characters of each gap between two literals (0 for `.*`, 1 for `.+`).
    min_chars: Vec<usize>,
}

impl Glob {
    /// Parses a regex made only of plain characters, escaped metacharacters and `.*`/`.+`.
    /// Returns `None` for anything else, which then goes to the regex engine.
    fn parse(pattern: &str) -> Option<Self> {
        let mut literals = vec![String::new()];
        let mut min_chars = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    let escaped = chars.next()?;
                    if !"\\.+*?()|[]{}^$".contains(escaped) {
                        return None;
                    }
                    literals.last_mut()?.push(escaped);
                }
                '.' => {
                    let min = match chars.next()? {
                        '*' => 0,
                        '+' => 1,
                        _ => return None,
                    };
                    // Adjacent gaps merge: `.*.+` is one gap of at least one character.
                    if literals.last().is_some_and(String::is_empty) && !min_chars.is_empty() {
                        *min_chars.last_mut()? += min;
                    } else {
                        min_chars.push(min);
                        literals.push(String::new());
                    }
                }
                c if c.is_ascii_alphanumeric() || "/-_:@=,%!~&;'\"<> ".contains(c) => {
                    literals.last_mut()?.push(c);
                }
                // Quantifiers (`*+?{`) are not plain characters, so a quantified literal or a lazy
                // `.*?` ends up here too.
                _ => return None,
            }
        }
        Some(Self {
            literals,
            min_chars,
        })
    }

    fn is_match(&self, value: &str) -> bool {
        let bytes = value.as_bytes();
        let (first, rest) = match self.literals.as_slice() {
            [only] => return bytes.len() == only.len() && starts_with(bytes, only.as_bytes()),
            [first, rest @ ..] => (first.as_bytes(), rest),
            [] => return value.is_empty(),
        };
        let Some((last, middle)) = rest.split_last() else {
            return false;
        };
        let last = last.as_bytes();

        // The first and the last literal must not overlap.
        let Some(gaps_end) = bytes.len().checked_sub(last.len()) else {
            return false;
        };
        if gaps_end < first.len()
            || !starts_with(bytes, first)
            || !starts_with(&bytes[gaps_end..], last)
            || bytes.contains(&b'\n')
        {
            return false;
        }
        let gaps = &value[first.len()..gaps_end];

        // Each middle literal is taken at its leftmost position, which leaves the most room for
        // the literals and gaps after it.
        let mut pos = 0;
        for (literal, min) in middle.iter().zip(&self.min_chars) {
            let Some(start) = skip_chars(gaps, pos, *min) else {
                return false;
            };
            let Some(found) = find(&gaps.as_bytes()[start..], literal.as_bytes()) else {
                return false;
            };
            pos = start + found + literal.len();
        }

        let last_min = self.min_chars.last().copied().unwrap_or(0);
        skip_chars(gaps, pos, last_min).is_some()
    }
}

/// Returns whether `haystack` starts with `literal`. An empty literal returns before comparing,
/// because glibc's AVX-512 `memcmp` reads even a zero-length slice with a masked load. At the
/// dangling address of an empty `String`, `perf` on `benches/check.rs` showed that load taking most
/// of a glob match's time.
fn starts_with(haystack: &[u8], literal: &[u8]) -> bool {
    literal.is_empty() || haystack.starts_with(literal)
}

/// Returns the offset of the first `needle` in `haystack`. A plain scan: for the short values
/// matched here it is faster than `str::find`, which sets up a two-way searcher per call. A match
/// of a whole UTF-8 needle always starts on a character boundary.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let Some((&first, _)) = needle.split_first() else {
        return Some(0);
    };
    let last_start = haystack.len().checked_sub(needle.len())?;
    (0..=last_start).find(|&i| haystack[i] == first && haystack[i..i + needle.len()] == *needle)
}

/// Returns the byte offset `count` characters after `pos` in `text`, or `None` past its end.
fn skip_chars(text: &str, pos: usize, count: usize) -> Option<usize> {
    let mut offset = pos;
    let mut chars = text[pos..].chars();
    for _ in 0..count {
        offset += chars.next()?.len_utf8();
    }
    Some(offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xorshift;

    const PATTERNS: &[&str] = &[
        ".+",
        ".*",
        "",
        "abc",
        ".*/ns/team-1/.*",
        ".*/ns/team-.*/.*",
        "spiffe://.*-corp",
        "spiffe://cluster\\.local/.+",
        "spiffe://.+/ns/foo/.+",
        "a.*b.*c",
        "a.+b.+c",
        "a.*.+b",
        ".+.+",
        "x.+",
        ".+x",
        "aa.*aa",
        "a.*a.*a",
        "a\\*b",
        // Shapes the glob does not take, so the regex engine matches them.
        "spiffe://.+/ns/foo/(.+/|)sa/bar(/.+)?",
        "a.?b",
        ".*?x",
        "a+b",
        "[a-z]+",
        "a|b",
        "\\d+",
        "a.b",
    ];

    const VALUES: &[&str] = &[
        "",
        "a",
        "x",
        "xx",
        "ab",
        "abc",
        "aabc",
        "a*b",
        "aab",
        "aaa",
        "aaaa",
        "aXa",
        "aXaXa",
        "a\u{e9}b\u{e9}c",
        "a\u{e9}\u{e9}b",
        "axbxc",
        "abbc",
        "a\nb",
        "\n",
        "a\nbc",
        "spiffe://cluster.local/ns/team-1/sa/client",
        "spiffe://cluster.local/ns/team-12/sa/client",
        "spiffe://cluster.local/ns/team-/sa/x",
        "spiffe://cluster.local/ns/team-1/sa/client\n",
        "spiffe://td/ns/foo/sa/bar",
        "spiffe://td/ns/foo/x/sa/bar/y",
        "spiffe://x-corp",
        "spiffe://-corp",
        "spiffe://cluster.local/",
        "spiffe://clusterXlocal/a",
        "/ns/team-1/",
        "caf\u{e9}",
    ];

    #[test]
    fn glob_agrees_with_regex() {
        for pattern in PATTERNS {
            let fast = FullRegex::new(pattern).expect("pattern compiles");
            let re = Regex::new(&format!("^(?:{pattern})$")).expect("regex compiles");
            for value in VALUES {
                assert_eq!(
                    fast.is_match(value),
                    re.is_match(value),
                    "pattern {pattern:?} on value {value:?}"
                );
            }
        }
    }

    #[test]
    fn generated_cases_agree_with_regex() {
        const TOKENS: &[&str] = &["a", "b", "ab", ".*", ".+", "\\.", "/", "-"];
        const VALUE_CHARS: &[char] = &['a', 'b', '.', '/', '-', '\n', '\u{e9}'];
        let mut matched = 0;
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for _ in 0..300 {
            let pattern: String = (0..next(6)).map(|_| TOKENS[next(TOKENS.len())]).collect();
            let fast = FullRegex::new(&pattern).expect("pattern compiles");
            let re = Regex::new(&format!("^(?:{pattern})$")).expect("regex compiles");
            for _ in 0..200 {
                let value: String = (0..next(8))
                    .map(|_| VALUE_CHARS[next(VALUE_CHARS.len())])
                    .collect();
                matched += usize::from(re.is_match(&value));
                assert_eq!(
                    fast.is_match(&value),
                    re.is_match(&value),
                    "pattern {pattern:?} on value {value:?}"
                );
            }
        }
        // The generated cases must include matches, or the comparison proves little.
        assert!(matched > 1000, "only {matched} generated cases match");
    }

    #[test]
    fn istiod_shapes_take_the_glob() {
        for pattern in [".+", ".*/ns/team-1/.*", "spiffe://.*-corp", "a\\.b.*"] {
            let compiled = FullRegex::new(pattern).expect("pattern compiles");
            assert!(
                matches!(compiled, FullRegex::Glob(_)),
                "{pattern} should take the glob"
            );
        }
    }

    #[test]
    fn other_shapes_take_the_regex() {
        for pattern in ["a.b", "a+", ".*?", "(a|b)", "\\d", "caf\u{e9}.*"] {
            let compiled = FullRegex::new(pattern).expect("pattern compiles");
            assert!(
                matches!(compiled, FullRegex::Regex(_)),
                "{pattern} should take the regex"
            );
        }
    }

    #[test]
    fn contained_literal_of_namespace_shape() {
        let literal = |pattern: &str| {
            FullRegex::new(pattern)
                .expect("pattern compiles")
                .contained_literal()
                .map(str::to_owned)
        };
        assert_eq!(literal(".*/ns/team-1/.*"), Some("/ns/team-1/".to_owned()));
        assert_eq!(literal(".*a\\.b.*"), Some("a.b".to_owned()));
        for other in [
            ".+/ns/a/.*",
            ".*/ns/a/.+",
            "x.*/ns/a/.*",
            ".*/ns/a/.*x",
            ".*/ns/.*/.*",
            ".*",
            "/ns/a/",
            ".*caf\u{e9}.*",
        ] {
            assert_eq!(literal(other), None, "{other}");
        }
    }

    #[test]
    fn invalid_regex_is_error() {
        assert!(FullRegex::new("a(").is_err());
    }

    #[test]
    fn gaps_merge() {
        let Some(glob) = Glob::parse("a.*.+b") else {
            panic!("a.*.+b should parse");
        };
        assert_eq!(glob.min_chars, [1]);
        assert_eq!(glob.literals, ["a", "b"]);
    }
}
