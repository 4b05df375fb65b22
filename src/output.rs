//! The headless JSON and NDJSON forms of flows.

use std::io::{self, Write};

use crate::model::{Decision, Flow, Hop};

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
