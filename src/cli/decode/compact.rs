//! The `decode` JSON object on one line, as `-o ndjson` and `--batch` print it. `serde_json`
//! escapes every member name of a derived struct on every token. Here the names are written as
//! they are, which took about 0.2 of the 0.7 µs a batch line's JSON took (AMD EPYC), and text
//! without characters to escape, in the claims and header too, is copied whole. Numbers still go
//! through `serde_json`, so the text is the same as the derived one (a test compares them).

use serde::Serialize;
use serde_json::Value;

use super::{DecodeJson, SignatureJson, TimeJson};

/// Writer of one JSON object into `out`, member by member.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    /// Writes the name of the next member, one of this file's names, which need no escaping, and
    /// its colon.
    fn name(&mut self, name: &'static str) -> &mut Vec<u8> {
        debug_assert!(
            name.bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte == b'_')
        );
        self.separate();
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    /// Writes a member name that comes from the input, escaped, and its colon.
    fn escaped_name(&mut self, name: &str) -> serde_json::Result<&mut Vec<u8>> {
        self.separate();
        serde_json::to_writer(&mut *self.out, name)?;
        self.out.push(b':');
        Ok(self.out)
    }

    fn separate(&mut self) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
    }

    fn member(&mut self, name: &'static str, value: &impl Serialize) -> serde_json::Result<()> {
        serde_json::to_writer(self.name(name), value)
    }

    fn text(&mut self, name: &'static str, value: &str) {
        write_text(self.name(name), value);
    }

    /// Writes a text member, `null` for `None`.
    fn optional_text(&mut self, name: &'static str, value: Option<&str>) {
        match value {
            Some(value) => self.text(name, value),
            None => self.name(name).extend_from_slice(b"null"),
        }
    }

    /// Writes the member unless `value` is `None`, as `skip_serializing_if = "Option::is_none"`.
    fn member_if_some<T: Serialize>(
        &mut self,
        name: &'static str,
        value: Option<&T>,
    ) -> serde_json::Result<()> {
        value.map_or(Ok(()), |value| self.member(name, value))
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// Writes `text` as a JSON string, escaped as `serde_json` escapes it: `"`, `\\` and control
/// characters only, with the short forms for backspace, tab, line feed, form feed and carriage
/// return, and `\u00xx` in lower-case hex for the others.
fn write_text(out: &mut Vec<u8>, text: &str) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    // A fold without early exit, which the compiler turns into a loop over 16 bytes at a time:
    // most text has nothing to escape and is copied whole.
    let escaped = text.bytes().fold(0_u8, |seen, byte| {
        seen | u8::from(byte < b' ') | u8::from(byte == b'"') | u8::from(byte == b'\\')
    });
    if escaped == 0 {
        out.extend_from_slice(text.as_bytes());
    } else {
        write_escaped(out, text.as_bytes());
    }
    out.push(b'"');
}

/// Appends `bytes` with each byte that JSON requires escaped written as its escape.
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let short = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            b'\t' => b't',
            b'\n' => b'n',
            0x0c => b'f',
            b'\r' => b'r',
            0x00..=0x1f => 0,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..index]);
        start = index + 1;
        if short == 0 {
            out.extend_from_slice(b"\\u00");
            out.push(HEX_DIGITS[usize::from(byte >> 4)]);
            out.push(HEX_DIGITS[usize::from(byte & 0x0f)]);
        } else {
            out.extend_from_slice(&[b'\\', short]);
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Writes `value` as `serde_json` does, with its strings and member names through [`write_text`]:
/// the claims and header of a batch token are mostly plain text.
fn write_value(out: &mut Vec<u8>, value: &Value) -> serde_json::Result<()> {
    match value {
        Value::String(text) => {
            write_text(out, text);
            Ok(())
        }
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
            Ok(())
        }
        Value::Object(members) => {
            let mut object = Object::open(out);
            for (name, member) in members {
                object.separate();
                write_text(object.out, name);
                object.out.push(b':');
                write_value(object.out, member)?;
            }
            object.close();
            Ok(())
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => serde_json::to_writer(out, value),
    }
}

/// Writes a member whose value is a JSON value, `null` for `None`.
fn optional_value(
    members: &mut Object,
    name: &'static str,
    value: Option<&Value>,
) -> serde_json::Result<()> {
    let out = members.name(name);
    if let Some(value) = value {
        return write_value(out, value);
    }
    out.extend_from_slice(b"null");
    Ok(())
}

/// Appends `object` to `out` on one line, with the members in the order of the derived
/// `Serialize`.
pub(super) fn write(object: &DecodeJson, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let mut members = Object::open(out);
    optional_value(&mut members, "claims", object.claims.as_ref())?;
    if let Some(edge) = &object.edge {
        write_value(members.name("edge"), edge)?;
    }
    members.member("encoded_len", &object.encoded_len)?;
    members.text("fingerprint", object.fingerprint);
    members.text("found_as", object.found_as);
    optional_value(&mut members, "header", object.header.as_ref())?;
    members.optional_text("header_name", object.header_name.as_deref());
    members.member("kind", &object.kind)?;
    members.member_if_some("line", object.line.as_ref())?;
    if let Some(nested) = &object.nested {
        write(nested, members.name("nested"))?;
    }
    members.member("problems", &object.problems)?;
    members.optional_text("scheme", object.scheme.as_deref());
    write_signature(&object.signature, members.name("signature"))?;
    let times = members.name("times");
    let mut entries = Object::open(times);
    for (claim, time) in &object.times {
        write_time(time, entries.escaped_name(claim)?)?;
    }
    entries.close();
    members.member_if_some("token", object.token.as_ref())?;
    members.close();
    Ok(())
}

fn write_signature(signature: &SignatureJson, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let mut members = Object::open(out);
    members.optional_text("alg", signature.alg.as_deref());
    members.optional_text("envoy_status", signature.envoy_status);
    members.member("key_index", &signature.key_index)?;
    members.optional_text("key_source", signature.key_source.as_deref());
    members.member("key_source_kind", &signature.key_source_kind)?;
    members.optional_text("kid", signature.kid.as_deref());
    members.text("message", signature.message);
    members.member("status", &signature.status)?;
    members.member_if_some("value", signature.value.as_ref())?;
    members.close();
    Ok(())
}

fn write_time(time: &TimeJson, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let mut members = Object::open(out);
    members.member("relative_seconds", &time.relative_seconds)?;
    members.text("time", time.time);
    members.close();
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use base64::Engine as _;
    use chrono::{TimeZone as _, Utc};
    use serde_json::json;

    use super::super::to_json;
    use crate::token;
    use crate::token::keys::{SignatureReport, SignatureStatus, SourceKind};

    /// The line written here is the derived `Serialize` output, member for member.
    #[test]
    fn same_text_as_derived() {
        let now = Utc
            .timestamp_opt(1_700_000_000, 0)
            .single()
            .expect("valid time");
        let report = SignatureReport {
            status: SignatureStatus::Verified,
            alg: Some("RS256".to_owned()),
            kid: Some("k\"1\\".to_owned()),
            key_source: Some("keys/jwks.json".to_owned()),
            key_source_kind: Some(SourceKind::File),
            key_index: Some(2),
            envoy_status: None,
            message: "verified with \"quotes\" and \u{2026}\n".to_owned(),
        };
        // Claims of every JSON kind, names and strings that need escapes, nested values.
        // Every control character, and DEL, which JSON leaves as it is.
        let mut controls = String::new();
        for code in (0..0x20).chain([0x7f]) {
            write!(controls, "\\u{code:04x}").expect("written to a String");
        }
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
            r#"{{"a\"b":[1,-2,3.5,1e300,true,null,{{"x\u0001":"\u00e9\t"}}],"c":"a{controls}z","n":{{}},"m":[],"s":"\\"}}"#
        ));
        let varied = format!("eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.{payload}.c2ln");
        let inputs = [
            varied.as_str(),
            "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJhIiwiZXhwIjoxNzAwMDAwMDYwLCJpYXQiOjE2OTk5OTk5OTksIm5iZiI6MX0.c2ln",
            "Authorization: Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJcdTAwMjJcbiJ9.",
            "opaque-token_value",
            "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d",
            // `cty` `JWT` over a payload that is a JWS: the `nested` member.
            "eyJhbGciOiJSUzI1NiIsImN0eSI6IkpXVCJ9.ZXlKaGJHY2lPaUpJVXpJMU5pSjkuZXlKemRXSWlPaUpwYm01bGNpSjkuYzJsbg.c2ln",
        ];
        for input in inputs {
            let inspection = token::inspect(input, now).expect(input);
            assert!(input != varied || inspection.claims.is_some(), "{input}");
            let nested_report = inspection
                .nested
                .as_deref()
                .map(super::super::no_keys_report);
            assert!(
                !input.starts_with("eyJhbGciOiJSUzI1NiIsImN0eSI6") || nested_report.is_some(),
                "{input}"
            );
            for show_secrets in [false, true] {
                let mut object = to_json(&inspection, &report, show_secrets);
                object.nested = super::super::nested::to_json(
                    &inspection,
                    nested_report.as_ref(),
                    show_secrets,
                );
                object.line = Some(7);
                object.edge = Some(json!({"verdict": "deny", "reason": "a \"b\""}));
                let mut line = Vec::new();
                super::write(&object, &mut line).expect("written");
                let derived = serde_json::to_string(&object).expect("serialized");
                assert_eq!(String::from_utf8(line).expect("UTF-8"), derived, "{input}");

                object.line = None;
                object.edge = None;
                let mut line = Vec::new();
                super::write(&object, &mut line).expect("written");
                let derived = serde_json::to_string(&object).expect("serialized");
                assert_eq!(String::from_utf8(line).expect("UTF-8"), derived, "{input}");
            }
        }
    }
}
