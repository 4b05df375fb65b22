//! The what-if table of the Token view, drawn as plain lines so that it scrolls with the view.
//! Columns are cut to the width with `…`, widest first, so that no line wraps.
//!
//! ```text
//! What-if GET /api/orders  (e edits the request)
//! WORKLOAD          TOKEN AT          AUTHN           PRINCIPAL    VERDICT   POLICY        EDGE
//! shop/orders       authorization: B… ok · sig ok     https://id…  deny 403  shop/deny-d…  —
//! ```

use ratatui::text::{Line, Span};

use crate::model::Decision;

use super::app::App;
use super::format::{styled, truncate};
use super::text::wrap;
use super::theme::{Slot, Theme};
use super::what_if::{Row, Signature, TokenFound};

const HEADERS: [&str; 7] = [
    "WORKLOAD",
    "TOKEN AT",
    "AUTHN",
    "PRINCIPAL",
    "VERDICT",
    "POLICY/RULE",
    "EDGE",
];
/// Columns between two cells.
const GAP: &str = " ";
/// A column is not cut below this many columns while a wider one can give way.
const MIN_COLUMN: usize = 3;
/// The edge column without an edge profile.
const NO_EDGE: &str = "—";

/// Returns the what-if request line with tokens hidden. In the path a `/` ends a token, so the
/// segments after a hidden token stay visible.
fn shown_request(app: &App) -> String {
    let what_if = &app.live.what_if;
    let path = crate::redact::hide_path_credentials(&what_if.path);
    crate::redact::hide_pasted(&format!("{} {path}", what_if.method))
}

/// Appends the what-if section: the request line, the table and the notes below it.
pub fn lines(app: &App, width: usize, out: &mut Vec<Line<'static>>) {
    let theme = &app.theme;
    out.push(Line::from(vec![
        styled(theme, Slot::Header, "What-if "),
        styled(theme, Slot::Text, shown_request(app)),
        styled(theme, Slot::Muted, "  (e edits the request)"),
    ]));
    let rows = &app.token.what_if;
    if rows.is_empty() {
        for part in wrap(
            "No workloads known: idflow demo and replay --policies FILE take them from policy \
             selectors and flows, the live TUI from the cluster.",
            width.max(1),
        ) {
            out.push(Line::from(styled(theme, Slot::Muted, part)));
        }
        return;
    }
    let cells: Vec<[(String, Slot); 7]> = rows.iter().map(row_cells).collect();
    let widths = column_widths(&cells, width);
    out.push(table_line(
        theme,
        &HEADERS.map(|header| (header.to_owned(), Slot::Header)),
        &widths,
    ));
    for row in &cells {
        out.push(table_line(theme, row, &widths));
    }
    cut_rows(theme, &cells, &widths, width, out);
    notes(app, width, out);
    edge_lines(app, width, out);
}

/// Appends what the edge profile decided and why, then each difference between the profile and
/// the mesh's `RequestAuthentication`s.
fn edge_lines(app: &App, width: usize, out: &mut Vec<Line<'static>>) {
    let (Some(edge), Some((decision, differences))) = (&app.edge, &app.token.edge) else {
        return;
    };
    let theme = &app.theme;
    out.push(Line::default());
    out.push(Line::from(vec![
        styled(theme, Slot::Header, "Edge "),
        styled(
            theme,
            Slot::Muted,
            format!("(profile {})", edge.profile.name),
        ),
    ]));
    let mut texts = vec![(decision.reason.clone(), Slot::Text)];
    texts.extend(
        decision
            .notes
            .iter()
            .map(|note| (format!("note: {note}"), Slot::Muted)),
    );
    texts.extend(differences.iter().map(|difference| {
        let text = match &difference.policy {
            Some(policy) => format!("differs from {policy}: {}", difference.message),
            None => format!("differs: {}", difference.message),
        };
        (text, Slot::Unverified)
    }));
    for (text, slot) in texts {
        for part in wrap(&text, width.max(1)) {
            out.push(Line::from(styled(theme, slot, part)));
        }
    }
}

/// Returns the seven cells of a row, each with its theme slot.
fn row_cells(row: &Row) -> [(String, Slot); 7] {
    let found = match &row.found {
        TokenFound::Missing => ("missing".to_owned(), Slot::Dropped),
        TokenFound::At(location) => (location.clone(), Slot::Text),
        TokenFound::NotAt(locations) => (format!("not at {}", locations.join(", ")), Slot::Dropped),
        TokenFound::NotRead => ("not read".to_owned(), Slot::Muted),
    };
    let authn_text = row.authn_text();
    let authn_slot = match authn_text.as_str() {
        "ok" => Slot::Allow,
        "not checked" | "no token" | "not reached" | "-" => Slot::Muted,
        "Jwt is expired" | "Jwt not yet valid" => Slot::Expired,
        _ => Slot::Deny,
    };
    let authn = match row.signature {
        None => authn_text,
        Some(signature) => format!("{authn_text} · {}", signature_word(signature)),
    };
    let (principal, verdict, decided) = match &row.verdict {
        Ok(verdict) => {
            let principal = verdict
                .request_principal
                .clone()
                .unwrap_or_else(|| "-".to_owned());
            let word = super::format::decision_word(verdict.decision);
            let status = if verdict.status == 0 {
                "reset".to_owned()
            } else {
                verdict.status.to_string()
            };
            let slot = if verdict.decision == Decision::Allow {
                Slot::Allow
            } else {
                Slot::Deny
            };
            let decided = match row.decided_by() {
                Some((policy, Some(rule))) => format!("{policy} rule {rule}"),
                Some((policy, None)) => policy,
                None => "none".to_owned(),
            };
            (
                (principal, Slot::Text),
                (format!("{word} {status}"), slot),
                (decided, Slot::Text),
            )
        }
        Err(_) => (
            ("-".to_owned(), Slot::Muted),
            ("error".to_owned(), Slot::Error),
            ("see below".to_owned(), Slot::Muted),
        ),
    };
    let edge = match &row.edge {
        Some(edge) if edge.starts_with("deny") => (edge.clone(), Slot::Deny),
        Some(edge) if edge == "fail-open" => (edge.clone(), Slot::Unverified),
        Some(edge) => (edge.clone(), Slot::Allow),
        None => (NO_EDGE.to_owned(), Slot::Muted),
    };
    [
        (row.workload.clone(), Slot::Accent),
        found,
        (authn, authn_slot),
        principal,
        verdict,
        decided,
        edge,
    ]
}

fn signature_word(signature: Signature) -> &'static str {
    match signature {
        Signature::Verified => "sig ok",
        Signature::KeyNotFound => "no key",
        Signature::Invalid => "sig bad",
        Signature::BadJwks => "bad jwks",
    }
}

/// Returns each column's width: its widest cell, then the widest column cut by one until the row
/// fits `width` or every column is at [`MIN_COLUMN`].
fn column_widths(rows: &[[(String, Slot); 7]], width: usize) -> [usize; 7] {
    let mut widths = HEADERS.map(|header| Span::raw(header).width());
    for row in rows {
        for (column, (text, _)) in row.iter().enumerate() {
            widths[column] = widths[column].max(Span::raw(text.as_str()).width());
        }
    }
    let gaps = GAP.len() * (widths.len() - 1);
    while widths.iter().sum::<usize>() + gaps > width {
        let Some((widest, _)) = widths
            .iter()
            .enumerate()
            .filter(|(_, width)| **width > MIN_COLUMN)
            .max_by_key(|(index, width)| (**width, std::cmp::Reverse(*index)))
        else {
            break;
        };
        widths[widest] -= 1;
    }
    widths
}

fn table_line(theme: &Theme, cells: &[(String, Slot); 7], widths: &[usize; 7]) -> Line<'static> {
    let mut spans = Vec::with_capacity(cells.len() * 2);
    for (index, ((text, slot), width)) in cells.iter().zip(widths).enumerate() {
        if index > 0 {
            spans.push(Span::raw(GAP));
        }
        let cut = truncate(text, *width);
        let pad = width.saturating_sub(Span::raw(cut.as_str()).width());
        // The last column is not padded, so a line never ends in spaces.
        let text = if index + 1 == cells.len() {
            cut
        } else {
            format!("{cut}{}", " ".repeat(pad))
        };
        spans.push(styled(theme, *slot, text));
    }
    Line::from(spans)
}

/// Appends every row that lost text to `…`, in full and wrapped, so that a narrow terminal still
/// shows the whole jwt_authn status and policy name.
fn cut_rows(
    theme: &Theme,
    cells: &[[(String, Slot); 7]],
    widths: &[usize; 7],
    width: usize,
    out: &mut Vec<Line<'static>>,
) {
    for row in cells {
        let cut = row
            .iter()
            .zip(widths)
            .any(|((text, _), width)| Span::raw(text.as_str()).width() > *width);
        if !cut {
            continue;
        }
        let [workload, found, authn, principal, verdict, decided, edge] = row;
        let token = if found.0 == "missing" || found.0.starts_with("not ") {
            format!("token {}", found.0)
        } else {
            format!("token at {}", found.0)
        };
        let decision = if decided.0 == "none" {
            format!("{}, no deciding policy", verdict.0)
        } else {
            format!("{} by {}", verdict.0, decided.0)
        };
        let text = format!(
            "{}: {token}, authn {}, principal {}, {decision}, edge {}",
            workload.0, authn.0, principal.0, edge.0
        );
        for part in wrap(&text, width.max(1)) {
            out.push(Line::from(styled(theme, Slot::Text, part)));
        }
    }
}

/// Appends what the table cannot show in its cells: the mTLS peer each row's request came from,
/// and the errors of rows without a verdict.
fn notes(app: &App, width: usize, out: &mut Vec<Line<'static>>) {
    let theme = &app.theme;
    let mut texts = Vec::new();
    for row in &app.token.what_if {
        match (&row.verdict, &row.peer) {
            (Err(error), _) => texts.push((format!("{}: {error}", row.workload), Slot::Error)),
            (Ok(_), Some(peer)) => texts.push((
                format!(
                    "{} is called over mTLS by {peer}, as in its flows.",
                    row.workload
                ),
                Slot::Muted,
            )),
            (Ok(_), None) => {}
        }
    }
    if app.token.what_if.iter().any(|row| row.peer.is_none()) {
        texts.push((
            "Rows without a caller in flows are sent in plaintext, as idflow check sends them \
             without --source-principal."
                .to_owned(),
            Slot::Muted,
        ));
    }
    for (text, slot) in texts {
        for part in wrap(&text, width.max(1)) {
            out.push(Line::from(styled(theme, slot, part)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(texts: [&str; 7]) -> [(String, Slot); 7] {
        texts.map(|text| (text.to_owned(), Slot::Text))
    }

    #[test]
    fn widths_fit_narrow() {
        let rows = [cells([
            "istio-system/istio-ingressgateway",
            "authorization: Bearer",
            "Jwks doesn't have key to match kid or alg from Jwt",
            "https://idp.example.com/alice",
            "deny 401",
            "istio-system/ingress-jwt",
            "—",
        ])];
        for width in [78, 60, 40] {
            let widths = column_widths(&rows, width);
            assert!(
                widths.iter().sum::<usize>() + 6 <= width,
                "{width}: {widths:?}"
            );
        }
    }

    #[test]
    fn widths_keep_minimum() {
        let rows = [cells(["a-long-name"; 7])];
        let widths = column_widths(&rows, 5);
        assert!(
            widths.iter().all(|width| *width == MIN_COLUMN),
            "{widths:?}"
        );
    }

    #[test]
    fn widths_natural_when_wide() {
        let rows = [cells([
            "shop/orders",
            "missing",
            "ok",
            "-",
            "allow 200",
            "none",
            "—",
        ])];
        let widths = column_widths(&rows, 200);
        assert_eq!(widths[0], "shop/orders".len());
        assert_eq!(widths[4], "allow 200".len());
    }
}
