//! The `nested` member of `decode` output: the token in the payload of a JWS whose header says
//! `cty` `JWT`, with its own signature report.

use std::fmt::Write as _;

use super::{DecodeJson, to_json as outer_json, to_text as outer_text};
use crate::token::Inspection;
use crate::token::keys::SignatureReport;

/// Builds the `nested` object of `inspection`'s JSON, when it has a nested token and a report.
pub(super) fn to_json<'a>(
    inspection: &'a Inspection,
    report: Option<&'a SignatureReport>,
    show_secrets: bool,
) -> Option<Box<DecodeJson<'a>>> {
    let inner = inspection.nested.as_deref()?;
    Some(Box::new(outer_json(inner, report?, show_secrets)))
}

/// Builds the `nested JWT` section of the readable summary, or an empty string without a nested
/// token.
pub(super) fn to_text(
    inspection: &Inspection,
    report: Option<&SignatureReport>,
    show_secrets: bool,
) -> String {
    let (Some(inner), Some(report)) = (inspection.nested.as_deref(), report) else {
        return String::new();
    };
    let mut out = String::from("\nnested JWT (the payload, one level down)\n");
    for line in outer_text(inner, report, show_secrets).lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}
