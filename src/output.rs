//! The headless JSON and NDJSON forms of flows.

use std::io::{self, Write};

use crate::model::Flow;

/// Writes one flow per line as JSON (NDJSON), the `replay` and `follow` contract.
pub fn write_ndjson(out: &mut impl Write, flows: &[Flow]) -> io::Result<()> {
    for flow in flows {
        serde_json::to_writer(&mut *out, flow)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
