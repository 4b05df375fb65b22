//! JSON as protobuf's JSON parser reads a JWT header or payload for Envoy's `jwt_authn`.
//!
//! `jwt_verify_lib` reads both with `JsonStringToMessage` into a `google.protobuf.Struct`, and
//! protobuf's parser (its `json/internal/lexer` since protobuf 22) runs with its legacy syntax on.
//! That syntax accepts a comma before `}` or `]`, and strings and member names in single quotes.
//! It accepts member names without quotes (`[A-Za-z_][A-Za-z0-9_]*`, other than `true`, `false`
//! and `null`), control characters inside strings, and the escapes `\'` and `\U` (read as `\u`).
//! Everything else follows RFC 8259: whitespace is space, tab, CR and LF only, with no comments,
//! no `NaN`, no leading zeros, no `+1`, `.5` or `1.`, no lone surrogates and no text after the
//! value. Envoy 1.40 returns 200 for tokens whose header or payload use these forms.
//!
//! Strict JSON takes `serde_json`'s fast path in [`envoy::parse_json`]. Only text that it rejects
//! is rewritten here into strict JSON and parsed again, so valid tokens pay nothing for this.

use std::fmt;

use serde_json::Value;

use super::envoy;

/// A header or payload as protobuf's JSON parser reads it.
pub(super) struct ProtobufJson {
    pub value: Value,
    /// Whether protobuf's parser rejects the text though it parses here, as
    /// [`envoy::parse_json`] explains.
    pub rejected: bool,
    /// The first form that strict JSON lacks, when the text is not strict JSON.
    pub lenient: Option<Leniency>,
}

/// Parses `text` the way protobuf's JSON parser reads it. Returns `serde_json`'s error for the
/// text as given when neither strict JSON nor protobuf's legacy syntax reads it.
pub(super) fn read(text: &str) -> serde_json::Result<ProtobufJson> {
    let strict_error = match envoy::parse_json(text) {
        Ok((value, rejected)) => {
            return Ok(ProtobufJson {
                value,
                rejected,
                lenient: None,
            });
        }
        Err(error) => error,
    };
    let Some((strict, leniency)) = to_strict(text) else {
        return Err(strict_error);
    };
    match envoy::parse_json(&strict) {
        Ok((value, rejected)) => Ok(ProtobufJson {
            value,
            rejected,
            lenient: Some(leniency),
        }),
        Err(_) => Err(strict_error),
    }
}

/// A form that protobuf's legacy JSON syntax accepts and strict JSON does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LeniencyKind {
    TrailingComma,
    SingleQuotes,
    UnquotedName,
    ControlCharacter(char),
    QuoteEscape,
    UpperCaseUnicodeEscape,
}

/// The first non-strict form in a JSON text, with its 1-based line and byte column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Leniency {
    pub kind: LeniencyKind,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Leniency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            LeniencyKind::TrailingComma => f.write_str("a comma before a closing `}` or `]`")?,
            LeniencyKind::SingleQuotes => f.write_str("a string in single quotes")?,
            LeniencyKind::UnquotedName => f.write_str("a member name without quotes")?,
            LeniencyKind::ControlCharacter(control) => {
                let code = u32::from(control);
                write!(f, "the control character U+{code:04X} inside a string")?;
            }
            LeniencyKind::QuoteEscape => f.write_str(r"the escape `\'`")?,
            LeniencyKind::UpperCaseUnicodeEscape => f.write_str(r"the escape `\U`")?,
        }
        write!(f, " at line {}, column {}", self.line, self.column)
    }
}

/// Rewrites `text` that protobuf's legacy JSON syntax accepts into strict JSON, and returns it
/// with the first non-strict form found. Returns `None` when protobuf's parser rejects the syntax
/// too, or when the text has no non-strict form (then `serde_json` rejected it for another
/// reason, such as a number out of range, which protobuf rejects as well).
pub(super) fn to_strict(text: &str) -> Option<(String, Leniency)> {
    let mut rewriter = Rewriter {
        text,
        position: 0,
        strict: String::with_capacity(text.len() + 16),
        first: None,
    };
    rewriter.document()?;
    let (kind, offset) = rewriter.first?;
    let before = &text.as_bytes()[..offset];
    let line_start = before
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |newline| newline + 1);
    let leniency = Leniency {
        kind,
        line: before.split(|&byte| byte == b'\n').count(),
        column: offset - line_start + 1,
    };
    Some((rewriter.strict, leniency))
}

/// An object or array that the rewriter is inside.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Container {
    Object,
    Array,
}

impl Container {
    fn closer(self) -> u8 {
        match self {
            Self::Object => b'}',
            Self::Array => b']',
        }
    }
}

/// Reader of protobuf's legacy JSON syntax that writes the same value as strict JSON. It keeps
/// its containers on a stack rather than recursing, so deep input cannot overflow the call
/// stack. `serde_json` then applies the depth limits to the strict text.
struct Rewriter<'a> {
    text: &'a str,
    position: usize,
    strict: String,
    first: Option<(LeniencyKind, usize)>,
}

impl Rewriter<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.position).copied()
    }

    fn note(&mut self, kind: LeniencyKind, offset: usize) {
        if self.first.is_none() {
            self.first = Some((kind, offset));
        }
    }

    /// Skips the whitespace of protobuf's lexer (and of RFC 8259): space, tab, CR and LF.
    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.position += 1;
        }
    }

    /// Reads one value and then only whitespace to the end of the text.
    fn document(&mut self) -> Option<()> {
        let mut containers: Vec<Container> = Vec::new();
        loop {
            // A value starts here.
            self.skip_whitespace();
            match self.peek()? {
                open @ (b'{' | b'[') => {
                    let container = if open == b'{' {
                        Container::Object
                    } else {
                        Container::Array
                    };
                    self.position += 1;
                    self.strict.push(char::from(open));
                    self.skip_whitespace();
                    if self.peek() == Some(container.closer()) {
                        self.position += 1;
                        self.strict.push(char::from(container.closer()));
                    } else {
                        containers.push(container);
                        if container == Container::Object {
                            self.member_name()?;
                        }
                        continue;
                    }
                }
                b'"' | b'\'' => self.string()?,
                b'-' | b'0'..=b'9' => self.number()?,
                b't' => self.literal("true")?,
                b'f' => self.literal("false")?,
                b'n' => self.literal("null")?,
                _ => return None,
            }

            // A value ended here: close containers until another member or item follows.
            loop {
                self.skip_whitespace();
                let Some(&container) = containers.last() else {
                    return (self.position == self.text.len()).then_some(());
                };
                let comma = self.position;
                let has_comma = self.peek() == Some(b',');
                if has_comma {
                    self.position += 1;
                    self.skip_whitespace();
                }
                if self.peek() == Some(container.closer()) {
                    if has_comma {
                        self.note(LeniencyKind::TrailingComma, comma);
                    }
                    self.position += 1;
                    self.strict.push(char::from(container.closer()));
                    containers.pop();
                    continue;
                }
                if !has_comma {
                    return None;
                }
                self.strict.push(',');
                if container == Container::Object {
                    self.member_name()?;
                }
                break;
            }
        }
    }

    /// Reads a member name, quoted or bare, and the `:` after it.
    fn member_name(&mut self) -> Option<()> {
        self.skip_whitespace();
        if matches!(self.peek(), Some(b'"' | b'\'')) {
            self.string()?;
        } else {
            let start = self.position;
            let length = self.text.as_bytes()[start..]
                .iter()
                .take_while(|byte| byte.is_ascii_alphanumeric() || **byte == b'_')
                .count();
            let word = &self.text[start..start + length];
            let starts_with_digit = word.starts_with(|c: char| c.is_ascii_digit());
            if word.is_empty() || starts_with_digit || matches!(word, "true" | "false" | "null") {
                return None;
            }
            self.note(LeniencyKind::UnquotedName, start);
            self.position += length;
            self.push_string(word);
        }
        self.skip_whitespace();
        if self.peek() != Some(b':') {
            return None;
        }
        self.position += 1;
        self.strict.push(':');
        Some(())
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        if !self.text[self.position..].starts_with(word) {
            return None;
        }
        self.position += word.len();
        self.strict.push_str(word);
        Some(())
    }

    /// Reads an RFC 8259 number, which is also protobuf's, and copies it as written.
    fn number(&mut self) -> Option<()> {
        let bytes = self.text.as_bytes();
        let start = self.position;
        let digits = |from: usize| {
            bytes[from..]
                .iter()
                .take_while(|byte| byte.is_ascii_digit())
                .count()
        };

        let mut end = start + usize::from(bytes[start] == b'-');
        let integer = digits(end);
        if integer == 0 || (integer > 1 && bytes[end] == b'0') {
            return None;
        }
        end += integer;

        if bytes.get(end) == Some(&b'.') {
            let fraction = digits(end + 1);
            if fraction == 0 {
                return None;
            }
            end += 1 + fraction;
        }

        if matches!(bytes.get(end), Some(b'e' | b'E')) {
            end += 1;
            if matches!(bytes.get(end), Some(b'+' | b'-')) {
                end += 1;
            }
            let exponent = digits(end);
            if exponent == 0 {
                return None;
            }
            end += exponent;
        }

        self.strict.push_str(&self.text[start..end]);
        self.position = end;
        Some(())
    }

    /// Reads a string in double or single quotes and writes it in double quotes.
    fn string(&mut self) -> Option<()> {
        let start = self.position;
        let quote = self.peek()?;
        if quote == b'\'' {
            self.note(LeniencyKind::SingleQuotes, start);
        }
        self.position += 1;
        let mut value = String::new();
        loop {
            let character = self.text[self.position..].chars().next()?;
            let offset = self.position;
            self.position += character.len_utf8();
            match character {
                closing if closing == char::from(quote) => break,
                '\\' => value.push(self.escape(offset)?),
                control if control < ' ' => {
                    self.note(LeniencyKind::ControlCharacter(control), offset);
                    value.push(control);
                }
                other => value.push(other),
            }
        }
        self.push_string(&value);
        Some(())
    }

    /// Reads the escape after a backslash at `offset` and returns the character it stands for.
    fn escape(&mut self, offset: usize) -> Option<char> {
        let letter = self.peek()?;
        self.position += 1;
        let character = match letter {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'\'' => {
                self.note(LeniencyKind::QuoteEscape, offset);
                '\''
            }
            b'u' | b'U' => {
                if letter == b'U' {
                    self.note(LeniencyKind::UpperCaseUnicodeEscape, offset);
                }
                self.unicode_escape()?
            }
            _ => return None,
        };
        Some(character)
    }

    /// Reads the four hex digits of a `\u` escape, and a second escape when the first is a high
    /// surrogate. A lone surrogate is invalid, as in protobuf's lexer.
    fn unicode_escape(&mut self) -> Option<char> {
        let high = self.hex4()?;
        if !(0xD800..0xDC00).contains(&high) {
            return char::from_u32(high);
        }
        if !self.text[self.position..].starts_with("\\u") {
            return None;
        }
        self.position += 2;
        let low = self.hex4()?;
        if !(0xDC00..0xE000).contains(&low) {
            return None;
        }
        char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.position..self.position + 4)?;
        if !digits.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return None;
        }
        self.position += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    fn push_string(&mut self, value: &str) {
        self.strict.push_str(&Value::from(value).to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Option<LeniencyKind> {
        to_strict(text).map(|(_, leniency)| leniency.kind)
    }

    #[test]
    fn lenient_forms_rewritten() {
        let cases = [
            (r#"{"a":1,}"#, r#"{"a":1}"#, LeniencyKind::TrailingComma),
            ("[1, 2 ,\n]", "[1,2]", LeniencyKind::TrailingComma),
            ("{'a':'b\"'}", r#"{"a":"b\""}"#, LeniencyKind::SingleQuotes),
            ("{a_1:true}", r#"{"a_1":true}"#, LeniencyKind::UnquotedName),
            (
                "{\"a\":\"x\ty\"}",
                r#"{"a":"x\ty"}"#,
                LeniencyKind::ControlCharacter('\t'),
            ),
            (r#"{"a":"\'"}"#, r#"{"a":"'"}"#, LeniencyKind::QuoteEscape),
            (
                r#"["\U0041"]"#,
                r#"["A"]"#,
                LeniencyKind::UpperCaseUnicodeEscape,
            ),
        ];
        for (text, strict, expected) in cases {
            let (rewritten, leniency) = to_strict(text).expect(text);
            assert_eq!(rewritten, strict, "{text}");
            assert_eq!(leniency.kind, expected, "{text}");
        }
    }

    #[test]
    fn rejected_by_both_stay_rejected() {
        let texts = [
            "[1,,2]",
            "[,1]",
            "{,}",
            "{\"a\":1,,}",
            "[1 2]",
            "{\"a\":1}/*c*/",
            "[1]//c",
            "[NaN]",
            "[Infinity]",
            "[01]",
            "[+1]",
            "[.5]",
            "[1.]",
            "[0x1]",
            r#"["\x41"]"#,
            r#"["\a"]"#,
            r#"["\ud800"]"#,
            r#"["\udc00"]"#,
            "\u{feff}{}",
            "{} x",
            "{}\u{c}",
            "\u{b}{}",
            "\u{a0}{}",
            "{1a:1}",
            "{true:1}",
            "{'a:1}",
            "[tru]",
            "",
        ];
        for text in texts {
            assert_eq!(kind(text), None, "{text:?}");
            assert!(read(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn position_of_first_form() {
        let (_, leniency) = to_strict("{\"a\":1,\n 'b':[2,],}").expect("legacy syntax");
        assert_eq!(leniency.kind, LeniencyKind::SingleQuotes);
        assert_eq!((leniency.line, leniency.column), (2, 2));
        assert_eq!(
            leniency.to_string(),
            "a string in single quotes at line 2, column 2"
        );
    }

    #[test]
    fn read_keeps_protobuf_rejections() {
        let repeated = read("{a:1,'a':2}").expect("legacy syntax");
        assert!(repeated.rejected);
        assert_eq!(repeated.value, serde_json::json!({"a": 2}));

        let deep = format!("{}1,{}", "[".repeat(101), "]".repeat(101));
        assert!(read(&deep).expect("legacy syntax").rejected);
    }

    #[test]
    fn read_strict_has_no_leniency() {
        let strict = read(r#"{"a":[1,{"b":null}]}"#).expect("strict JSON");
        assert_eq!(strict.lenient, None);
        assert!(!strict.rejected);
    }

    #[test]
    fn number_out_of_range_rejected() {
        assert!(read("{a:1e400}").is_err());
    }
}
