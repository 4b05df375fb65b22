//! The fast path against the full search, on generated lines of several formats.

mod differential;
mod oracle;

use super::{split, split_unique};
use crate::accesslog::fields::Shape;
use crate::accesslog::format::{Format, Segment};
use crate::accesslog::{DEMO_EXTRA_FIELDS, ISTIO_TEXT_FORMAT, ISTIO_TEXT_FORMAT_LEGACY};

/// Formats with every kind of field and literal: quoted and bracketed fields, adjacent fields,
/// delimiters other than spaces and quotes, maximum lengths, and a JSON last field.
fn formats() -> Vec<Format> {
    let demo = format!("{}{DEMO_EXTRA_FIELDS}", ISTIO_TEXT_FORMAT.trim_end());
    let sources = [
        ISTIO_TEXT_FORMAT,
        ISTIO_TEXT_FORMAT_LEGACY,
        demo.as_str(),
        "[%START_TIME(%Y-%m-%d %H:%M:%S)%] %RESPONSE_CODE%",
        r#"[%START_TIME%] "%REQ(USER-AGENT)%" "%REQ(REFERER)%""#,
        r#"%RESPONSE_CODE% "%REQ(AUTHORIZATION)%""#,
        "%START_TIME(%Y-%m-%dT%H:%M:%S)% 100%% %RESPONSE_CODE% \"%REQ(:AUTHORITY)%\" %REQ(X-B3-TRACEID)% %UPSTREAM_CLUSTER%",
        r#"%RESPONSE_CODE%%REQ(X-A)% "%REQ(USER-AGENT)%""#,
        r#"%REQ(:METHOD)%,%REQ(X-A)%;"%REQ(USER-AGENT)%" [%REQ(X-B)%] %DURATION%"#,
        r#""%REQ(USER-AGENT)%""#,
        r#""%REQ(USER-AGENT)%" %RESPONSE_CODE% %DYNAMIC_METADATA(envoy.filters.http.jwt_authn)%"#,
        r#"%RESPONSE_CODE% "%REQ(USER-AGENT):5%" "%REQ(X-FORWARDED-FOR)%" %ROUTE_NAME%"#,
        r#"%REQ(:PATH)%" %RESPONSE_CODE% "%REQ(X-REQUEST-ID)%" x %RESPONSE_FLAGS%"#,
    ];
    sources
        .iter()
        .map(|source| Format::compile(source).expect("test formats compile"))
        .collect()
}

/// A small deterministic generator (xorshift64), so that a failure repeats.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next() % bound as u64).unwrap_or(0)
    }

    fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
        choices[self.below(choices.len())]
    }

    /// Returns the offset of a character of `line`, or its length.
    fn boundary(&mut self, line: &str) -> usize {
        let count = line.chars().count();
        line.char_indices()
            .nth(self.below(count + 1))
            .map_or(line.len(), |(index, _)| index)
    }
}

/// Values that fit each shape, then values that do not fit it or make a line hard to split.
const NUMBERS: [&[&str]; 2] = [&["0", "19", "328", "-"], &["", "4x8", "12 3"]];
const TOKENS: [&[&str]; 2] = [
    &[
        "-",
        "GET",
        "HTTP/1.1",
        "/api/orders?status=open",
        "via_upstream",
        "jwt_authn_access_denied{Jwt is expired}",
        "jwt_authn_access_denied{Jwt_is_expired}",
        "rbac_access_denied_matched_policy[ns[shop]-policy[deny-delete]-rule[0]]",
        "inbound|8080||;",
        "caf\u{e9}",
    ],
    &[
        "/api/a\"b",
        "{unclosed brace",
        "x}y{z}",
        "a\u{a0}b",
        "",
        "a\"",
    ],
];
const QUOTELESS: [&[&str]; 2] = [
    &[
        "-",
        "",
        "203.0.113.10, 10.0.0.1",
        "api.example.com",
        "d77482c6-8692-40bf-b041-fd7e3faa0ee8",
        "spiffe://cluster.local/ns/shop/sa/orders",
        "2025-03-04 12:00:00",
        "\u{e9}t\u{e9}",
    ],
    &["203.0.113.10\", \"10.0.0.1", "x] [y", "a\""],
];
const FREE: [&[&str]; 2] = [
    &["-", "", "curl/8.5.0", "agent with spaces", "Bearer "],
    &[
        "Mozilla/5.0 \"probe\" \"fake-id\"",
        "\" \"",
        "a\" ",
        "\"",
        "x\"y",
        "Bearer eyJhbGciOiJSUzI1NiJ9",
        "\" \" \" \"",
    ],
];
const LAST: [&[&str]; 2] = [
    &[
        "-",
        r#"{"payload":{"aud":"orders-api","iss":"https://idp.example.com","sub":"user-1042"}}"#,
        r#"{"name":"Ada Lovelace","sub":"u1"}"#,
        "[1, 2]",
        "default",
    ],
    &[r#"{"a":"x\" y"}"#, r#"{"a":"b" "c"}"#, "two words", ""],
];

/// Returns a line of `format`: with values that fit every field, with one value that may not,
/// or with many of them (some from another shape's list), a third of the lines each.
fn generate(format: &Format, random: &mut Random) -> String {
    let fields = format
        .segments
        .iter()
        .filter(|segment| matches!(segment, Segment::Field(_)))
        .count();
    let mode = random.below(3);
    let odd_one = random.below(fields);
    let mut line = String::new();
    let mut field_index = 0;
    for (index, segment) in format.segments.iter().enumerate() {
        let field = match segment {
            Segment::Literal(text) => {
                line.push_str(text);
                continue;
            }
            Segment::Field(field) => field,
        };
        let tricky = match mode {
            0 => false,
            1 => field_index == odd_one,
            _ => random.below(4) == 0,
        };
        field_index += 1;
        let shape = if mode == 2 && random.below(8) == 0 {
            [Shape::Number, Shape::Token, Shape::NoQuote, Shape::Free][random.below(4)]
        } else {
            field.shape
        };
        let pools = match shape {
            _ if index + 1 == format.segments.len() && random.below(2) == 0 => LAST,
            Shape::Number => NUMBERS,
            Shape::Token => TOKENS,
            Shape::NoQuote => QUOTELESS,
            Shape::Free => FREE,
        };
        line.push_str(random.pick(pools[usize::from(tricky)]));
    }
    line
}

/// Changes one character of `line` in one of the ways a broken or hostile line differs: an
/// inserted quote, space or `" "`, a removed character, or a cut.
fn mutate(line: &str, random: &mut Random) -> String {
    let at = random.boundary(line);
    let mut changed = line.to_string();
    match random.below(5) {
        0 => changed.insert(at, '"'),
        1 => changed.insert(at, ' '),
        2 => changed.insert_str(at, "\" \""),
        3 => changed.truncate(at),
        _ => {
            if let Some(c) = changed[at..].chars().next() {
                changed.replace_range(at..at + c.len_utf8(), "");
            }
        }
    }
    changed
}

#[test]
fn fast_path_agrees_with_search() {
    let formats = formats();
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    // Per format: lines that split, and how many of them the fast path decided.
    let mut counts = vec![(0usize, 0usize); formats.len()];
    for round in 0..4_000 {
        let source = &formats[round % formats.len()];
        let mut line = generate(source, &mut random);
        if random.below(3) == 0 {
            line = mutate(&line, &mut random);
        }
        // Every format is tried on the line, so most tries are lines of another format.
        for (format, (parsed, decided)) in formats.iter().zip(&mut counts) {
            let full = split(&format.segments, &line);
            *parsed += usize::from(full.is_ok());
            let Some(spans) = split_unique(&format.segments, format.literal_quotes, &line) else {
                continue;
            };
            *decided += 1;
            assert_eq!(
                full.as_ref().map_err(|mismatch| &mismatch.error),
                Ok(&spans),
                "format {}\nline {line}",
                format.source()
            );
        }
    }
    // The lines must exercise both paths on every format.
    for (format, (parsed, decided)) in formats.iter().zip(counts) {
        assert!(decided > 0, "fast path took no line of {}", format.source());
        assert!(
            decided < parsed,
            "no line of {} needed the full search",
            format.source()
        );
    }
}

#[test]
fn fast_path_takes_demo_lines() {
    let demo = format!("{}{DEMO_EXTRA_FIELDS}", ISTIO_TEXT_FORMAT.trim_end());
    let format = Format::compile(&demo).expect("compiles");
    let root = env!("CARGO_MANIFEST_DIR");
    for name in ["istio-system.istio-ingressgateway.log", "shop.orders.log"] {
        let text = std::fs::read_to_string(format!("{root}/demo/{name}")).expect("demo log");
        for line in text.lines() {
            let fast = split_unique(&format.segments, format.literal_quotes, line);
            assert!(fast.is_some(), "fast path declined {line}");
        }
    }
}

#[test]
fn fast_path_declines_quoted_agent() {
    let format = Format::compile(ISTIO_TEXT_FORMAT).expect("compiles");
    let line = r#"[2025-03-04T12:00:00.000Z] "GET /api HTTP/1.1" 403 - rbac_access_denied_matched_policy[none] - "-" 0 19 0 - "203.0.113.10" "Mozilla/5.0 "probe" "fake-id"" "00000000-0000-4000-8000-000000000021" "api.example.com" "-" - - 10.0.7.9:8080 10.0.5.4:40000 - -"#;
    let fast = split_unique(&format.segments, format.literal_quotes, line);
    assert_eq!(fast, None);
    assert!(split(&format.segments, line).is_ok());
}

#[test]
fn fast_path_declines_later_tail() {
    // The claims contain `" `, the literal before them, so the last field could also start
    // inside them: only the full search can tell.
    let demo = format!("{}{DEMO_EXTRA_FIELDS}", ISTIO_TEXT_FORMAT.trim_end());
    let format = Format::compile(&demo).expect("compiles");
    let line = r#"[2026-12-04T22:25:30.098Z] "GET /api HTTP/1.1" 200 - via_upstream - "-" 0 328 5 4 "192.0.2.2" "curl/8.5.0" "d77482c6" "api.example.com" "127.0.0.1:36007" outbound|8080||orders 127.0.0.1:57350 127.0.0.1:42925 127.0.0.1:32980 - orders "3e57c0a3" "-" "Bearer " {"name":"x\" y","sub":"u1"}"#;
    assert_eq!(
        split_unique(&format.segments, format.literal_quotes, line),
        None
    );
    assert!(split(&format.segments, line).is_ok());
}

#[test]
fn long_values_within_budget() {
    // The fast path does not count the full search's work, so on the built-in formats the full
    // search must accept every long line that the fast path accepts.
    let demo = format!("{}{DEMO_EXTRA_FIELDS}", ISTIO_TEXT_FORMAT.trim_end());
    let format = Format::compile(&demo).expect("compiles");
    let line = r#"[2026-12-04T22:25:30.098Z] "GET /api HTTP/1.1" 200 - via_upstream - "-" 0 328 5 4 "192.0.2.2" "curl/8.5.0" "d77482c6" "api.example.com" "127.0.0.1:36007" outbound|8080||orders 127.0.0.1:57350 127.0.0.1:42925 127.0.0.1:32980 - orders "3e57c0a3" "-" "Bearer " {"sub":"u1"}"#;
    let long = "x".repeat(super::MAX_LINE_BYTES - line.len());
    for value in [
        "/api",
        "192.0.2.2",
        "curl/8.5.0",
        "d77482c6",
        "outbound|8080||orders",
        "u1",
    ] {
        let changed = line.replacen(value, &long, 1);
        let fast = split_unique(&format.segments, format.literal_quotes, &changed);
        assert!(fast.is_some(), "fast path declined a long {value}");
        assert_eq!(
            split(&format.segments, &changed).map_err(|mismatch| mismatch.error),
            Ok(fast.unwrap_or_default()),
            "long {value}"
        );
    }
}
