//! The `/` filter: a case-insensitive substring over the text a flow's row shows and the fields a
//! user searches flows by.

use crate::model::Flow;

use super::format::{badge, badge_text, clock, edge_cell, mesh_cell, mesh_hops};

/// Returns true when `needle` (already lower-case) occurs in the flow's searchable text. An empty
/// needle matches every flow.
pub fn matches(flow: &Flow, needle: &str) -> bool {
    needle.is_empty()
        || searchable_text(flow)
            .iter()
            .any(|text| text.to_lowercase().contains(needle))
}

/// Returns every text the filter searches for one flow: each cell of its row as the Flows table
/// renders it at full width, and each hop's location, policy and reason and finding's kind.
fn searchable_text(flow: &Flow) -> Vec<String> {
    let mut texts = vec![
        clock(flow.time.as_deref()),
        flow.method.clone().unwrap_or_default(),
        flow.path.clone().unwrap_or_default(),
        badge_text(flow),
    ];
    texts.extend(edge_cell(flow).map(|(text, _)| text));
    // Every mesh hop, also those past the last hop column, and with the cause word that narrow
    // screens leave out.
    texts.extend(mesh_hops(flow).map(|hop| mesh_cell(hop, true).0));
    for hop in &flow.hops {
        texts.push(hop.location.clone());
        texts.extend(hop.policy.clone());
        texts.extend(hop.reason.clone());
    }
    for finding in &flow.findings {
        texts.push(finding.kind.as_str().to_owned());
        texts.push(badge(finding.kind).to_owned());
    }
    texts
}
