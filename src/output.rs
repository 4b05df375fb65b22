//! The headless JSON and NDJSON forms of flows.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use crate::model::{Decision, Flow, Hop};

/// Returns `text` with the characters that would act on a terminal instead of showing written as
/// `\u{…}`: controls other than newline and tab, and the Unicode bidirectional controls, which
/// can make a claim read backwards (CVE-2021-42574). Token claims and log values come from
/// outside.
pub fn escape_terminal_controls(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.contains(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            let _ = write!(escaped, "\\u{{{:04x}}}", u32::from(c));
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// Writes one flow per line as JSON (NDJSON), the `replay` and `follow` contract.
pub fn write_ndjson(out: &mut impl Write, flows: &[Flow]) -> io::Result<()> {
    for flow in flows {
        serde_json::to_writer(&mut *out, flow)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Writes all flows as one JSON array.
pub fn write_json(out: &mut impl Write, flows: &[Flow]) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, flows)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Writes one line per flow for reading in a terminal: time, method, path, each hop's verdict,
/// then the findings.
pub fn write_text(out: &mut impl Write, flows: &[Flow]) -> io::Result<()> {
    for flow in flows {
        let hops: Vec<String> = flow.hops.iter().map(hop_text).collect();
        let findings: Vec<&str> = flow
            .findings
            .iter()
            .map(|finding| finding.kind.as_str())
            .collect();
        writeln!(
            out,
            "{} {} {} | {} | {}",
            flow.time.as_deref().unwrap_or("-"),
            flow.method.as_deref().unwrap_or("-"),
            flow.path.as_deref().unwrap_or("-"),
            hops.join(" -> "),
            if findings.is_empty() {
                "ok".to_owned()
            } else {
                findings.join(", ")
            }
        )?;
        for finding in &flow.findings {
            writeln!(out, "    {}: {}", finding.kind.as_str(), finding.message)?;
        }
    }
    out.flush()
}

fn hop_text(hop: &Hop) -> String {
    let decision = match hop.decision {
        Decision::Allow => "allow",
        Decision::Deny => "deny",
        Decision::Error => "error",
        Decision::Unknown => "unknown",
    };
    format!("{} {} {decision}", hop.location, hop.status)
}

#[cfg(test)]
mod escape_tests {
    use super::escape_terminal_controls;

    #[test]
    fn controls_and_bidi_escaped() {
        assert_eq!(escape_terminal_controls("plain\nline\t"), "plain\nline\t");
        assert_eq!(escape_terminal_controls("a\u{1b}[31mb"), "a\\u{001b}[31mb");
        assert_eq!(
            escape_terminal_controls("admin\u{202e}nimda"),
            "admin\\u{202e}nimda"
        );
    }
}
