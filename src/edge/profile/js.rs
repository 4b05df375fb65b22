//! The JavaScript an EdgeWorker runs on a token: `JSON.parse` as ECMAScript specifies it, and
//! `String(value)` with `Number.prototype.toString`. They differ from `serde_json` in ways that
//! change the edge's verdict: `1e400` parses as `Infinity`, a lone surrogate escape stays in the
//! string, every number is a double, and the last of two members with one name wins.

/// A value `JSON.parse` returns.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum JsValue {
    Null,
    Bool(bool),
    /// Every JSON number is a double; beyond its range it is `Infinity` or `-Infinity`.
    Number(f64),
    /// A lone surrogate (`"\ud800"`) is kept as U+FFFD, because a Rust string cannot hold it.
    String(String),
    Array(Vec<JsValue>),
    /// Members in the order written; [`JsValue::get`] returns the last of a repeated name.
    Object(Vec<(String, JsValue)>),
}

/// Maximum nesting `parse` follows before it gives up.
// NOTE: V8 parses deeper nesting than this; a token nested deeper is reported as not parsed.
const MAX_DEPTH: usize = 1000;

impl JsValue {
    /// Returns the member `name` of an object, as `value.name` reads it: the last one written, or
    /// `None` for other values, whose JSON-named properties are all undefined.
    pub(super) fn get(&self, name: &str) -> Option<&JsValue> {
        let Self::Object(members) = self else {
            return None;
        };
        members
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    /// Returns JavaScript's truthiness of the value.
    pub(super) fn is_truthy(&self) -> bool {
        match self {
            Self::Null => false,
            Self::Bool(flag) => *flag,
            Self::Number(number) => *number != 0.0 && !number.is_nan(),
            Self::String(text) => !text.is_empty(),
            Self::Array(_) | Self::Object(_) => true,
        }
    }

    /// Converts the value as JavaScript's `String(value)` does: arrays joined with commas (with
    /// `null` as the empty string), objects as `[object Object]`.
    pub(super) fn to_js_string(&self) -> String {
        match self {
            Self::Null => "null".to_owned(),
            Self::Bool(flag) => flag.to_string(),
            Self::Number(number) => number_to_string(*number),
            Self::String(text) => text.clone(),
            Self::Array(items) => items
                .iter()
                .map(|item| match item {
                    Self::Null => String::new(),
                    other => other.to_js_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            Self::Object(_) => "[object Object]".to_owned(),
        }
    }
}

/// Parses `text` as `JSON.parse` does, or returns `None` where it throws a `SyntaxError`.
pub(super) fn parse(text: &str) -> Option<JsValue> {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        position: 0,
    };
    let value = parser.value(0)?;
    parser.skip_whitespace();
    (parser.position == parser.bytes.len()).then_some(value)
}

struct Parser<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    /// Skips the four characters JSON allows as whitespace.
    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.position += 1;
        }
    }

    fn literal(&mut self, word: &str, value: JsValue) -> Option<JsValue> {
        let end = self.position + word.len();
        (self.bytes.get(self.position..end)? == word.as_bytes()).then(|| {
            self.position = end;
            value
        })
    }

    fn value(&mut self, depth: usize) -> Option<JsValue> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_whitespace();
        match self.peek()? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => self.string().map(JsValue::String),
            b't' => self.literal("true", JsValue::Bool(true)),
            b'f' => self.literal("false", JsValue::Bool(false)),
            b'n' => self.literal("null", JsValue::Null),
            _ => self.number(),
        }
    }

    fn object(&mut self, depth: usize) -> Option<JsValue> {
        self.position += 1;
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.position += 1;
            return Some(JsValue::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return None;
            }
            let name = self.string()?;
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return None;
            }
            self.position += 1;
            members.push((name, self.value(depth + 1)?));
            self.skip_whitespace();
            match self.peek()? {
                b',' => self.position += 1,
                b'}' => {
                    self.position += 1;
                    return Some(JsValue::Object(members));
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<JsValue> {
        self.position += 1;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.position += 1;
            return Some(JsValue::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek()? {
                b',' => self.position += 1,
                b']' => {
                    self.position += 1;
                    return Some(JsValue::Array(items));
                }
                _ => return None,
            }
        }
    }

    /// Reads a string from its opening quote. Escapes give UTF-16 code units; a pair of
    /// surrogates joins into one character and a lone one becomes U+FFFD.
    fn string(&mut self) -> Option<String> {
        self.position += 1;
        let mut units: Vec<u16> = Vec::new();
        loop {
            let rest = std::str::from_utf8(self.bytes.get(self.position..)?).ok()?;
            let character = rest.chars().next()?;
            self.position += character.len_utf8();
            match character {
                '"' => return Some(String::from_utf16_lossy(&units)),
                '\\' => {
                    let escaped = self.peek()?;
                    self.position += 1;
                    let unit = match escaped {
                        b'"' => u16::from(b'"'),
                        b'\\' => u16::from(b'\\'),
                        b'/' => u16::from(b'/'),
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => u16::from(b'\n'),
                        b'r' => u16::from(b'\r'),
                        b't' => u16::from(b'\t'),
                        b'u' => {
                            let hex = std::str::from_utf8(
                                self.bytes.get(self.position..self.position + 4)?,
                            )
                            .ok()?;
                            if !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                                return None;
                            }
                            self.position += 4;
                            u16::from_str_radix(hex, 16).ok()?
                        }
                        _ => return None,
                    };
                    units.push(unit);
                }
                control if u32::from(control) < 0x20 => return None,
                other => {
                    let mut buffer = [0_u16; 2];
                    units.extend_from_slice(other.encode_utf16(&mut buffer));
                }
            }
        }
    }

    /// Reads a number in JSON's grammar; Rust's `f64` parse rounds as ECMAScript does, and reads
    /// a value past the double range as infinity.
    fn number(&mut self) -> Option<JsValue> {
        let start = self.position;
        if self.peek() == Some(b'-') {
            self.position += 1;
        }
        match self.peek()? {
            b'0' => self.position += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.position += 1;
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.position += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.position += 1;
            }
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        let text = std::str::from_utf8(&self.bytes[start..self.position]).ok()?;
        text.parse::<f64>().ok().map(JsValue::Number)
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|byte| byte.is_ascii_digit()) {
            self.position += 1;
        }
    }
}

/// Writes a double as ECMAScript's `Number::toString` does: the shortest digits that read back as
/// the same double, in positional form from 1e-6 up to 1e21 and in exponent form (`1e+21`,
/// `1.5e-7`) outside it.
pub(super) fn number_to_string(number: f64) -> String {
    if number.is_nan() {
        return "NaN".to_owned();
    }
    if number == 0.0 {
        // Both zeros, because String(-0) is "0".
        return "0".to_owned();
    }
    if number.is_infinite() {
        return if number > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        }
        .to_owned();
    }
    let sign = if number < 0.0 { "-" } else { "" };

    // Rust's `{:e}` writes the shortest round-trip digits: `d.ddde±x`.
    let scientific = format!("{:e}", number.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let k = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    // ECMAScript's n: the position of the decimal point relative to the digits.
    let n = exponent + 1;

    let body = if k <= n && n <= 21 {
        let zeros = usize::try_from(n - k).unwrap_or(0);
        format!("{digits}{}", "0".repeat(zeros))
    } else if 0 < n && n <= 21 {
        let point = usize::try_from(n).unwrap_or(0);
        format!("{}.{}", &digits[..point], &digits[point..])
    } else if -6 < n && n <= 0 {
        let zeros = usize::try_from(-n).unwrap_or(0);
        format!("0.{}{digits}", "0".repeat(zeros))
    } else {
        let sign = if n - 1 < 0 { '-' } else { '+' };
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        format!("{first}{fraction}e{sign}{}", (n - 1).abs())
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_to_string_cases() {
        let cases = [
            (1.0, "1"),
            (100.0, "100"),
            (-0.0, "0"),
            (1500.0, "1500"),
            (0.1, "0.1"),
            (-1.5, "-1.5"),
            (123.456, "123.456"),
            (12_345_678_901_234_567_890.0, "12345678901234567000"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (1e20, "100000000000000000000"),
            (0.000_001, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (5e-324, "5e-324"),
        ];
        for (number, expected) in cases {
            assert_eq!(number_to_string(number), expected, "{number:e}");
        }
    }

    #[test]
    fn parse_number_out_of_range() {
        assert_eq!(parse("1e400"), Some(JsValue::Number(f64::INFINITY)));
        assert_eq!(parse("-1e400"), Some(JsValue::Number(f64::NEG_INFINITY)));
    }

    #[test]
    fn parse_lone_surrogate() {
        assert_eq!(
            parse(r#""\ud800""#),
            Some(JsValue::String("\u{fffd}".to_owned()))
        );
        assert_eq!(
            parse(r#""\ud83d\ude00""#),
            Some(JsValue::String("\u{1f600}".to_owned()))
        );
    }

    #[test]
    fn parse_rejects_what_json_parse_rejects() {
        for text in [
            "",
            "01",
            "1.",
            ".5",
            "+1",
            "[1,]",
            "{\"a\":1,}",
            "'a'",
            "\"\t\"",
            "nul",
            "1 2",
            "{a:1}",
            "\"\\x\"",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn repeated_member_last_wins() {
        let value = parse(r#"{"sub":"a","sub":"b"}"#).expect("an object");
        assert_eq!(value.get("sub"), Some(&JsValue::String("b".to_owned())));
    }

    #[test]
    fn array_string_joins() {
        let value = parse("[1.0,2E0,null,\"x\",[3,4]]").expect("an array");
        assert_eq!(value.to_js_string(), "1,2,,x,3,4");
    }
}
