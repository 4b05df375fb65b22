//! The Token view's state and the parts of [`super::update`] that concern it: the what-if table,
//! kept until its inputs change, and copying the claims.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::edge::profile::{Difference, EdgeDecision, ProfileVerdict, sent_header_value};
use crate::mesh::MeshSettings;
use crate::mesh::check::Mesh;
use crate::token::{Inspection, TokenError};

use super::EdgeSetup;
use super::app::{App, FlashLevel};
use super::what_if::{self, Carrier, Probe, Row, Target, TokenFound};

/// The Token view's last inspection and what-if table. The raw token stays inside the
/// inspection, redacted from `Debug`, and is never drawn.
#[derive(Debug, Default)]
pub struct TokenPane {
    pub result: Option<Result<Inspection, TokenError>>,
    /// The text the inspection came from, which the edge judges as pasted.
    pub(super) pasted: PastedText,
    /// First line shown, for scrolling.
    pub scroll: u16,
    /// One row per known workload, for the current token and what-if request.
    pub what_if: Vec<Row>,
    /// What the edge profile decides for the current token, with the differences between the
    /// profile and the mesh's `RequestAuthentication`s; `None` without a profile.
    pub edge: Option<(EdgeDecision, Vec<Difference>)>,
    /// The inputs `what_if` was computed from.
    pub(super) what_if_key: Option<WhatIfKey>,
}

/// Pasted text, which contains a token, so it is redacted from `Debug` and never drawn.
#[derive(Clone, Default)]
pub(super) struct PastedText(pub(super) String);

impl std::fmt::Debug for PastedText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PastedText({} bytes, redacted)", self.0.len())
    }
}

/// Inputs of the what-if table. The table is computed again only when they change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WhatIfKey {
    /// The token's fingerprint, never the token.
    fingerprint: String,
    /// The fingerprint of the pasted text, which the edge judges: the same token pasted with
    /// another scheme or header gets another edge verdict.
    pasted_fingerprint: String,
    method: String,
    path: String,
    /// [`App::policy_generation`] at the time.
    generation: u64,
}

impl App {
    /// Returns the clock: the fixed one when set, else the system clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.unwrap_or_else(Utc::now)
    }

    /// Takes the text that `y` asked to copy, for the event loop to send to the terminal.
    pub fn take_clipboard(&mut self) -> Option<String> {
        self.clipboard.take()
    }

    /// Recomputes the what-if table when the token, the what-if request or the policies changed
    /// since it was computed; otherwise leaves it as it is.
    pub(super) fn refresh_token_what_if(&mut self) {
        let Some(Ok(inspection)) = &self.token.result else {
            self.token.what_if.clear();
            self.token.edge = None;
            self.token.what_if_key = None;
            return;
        };
        let pasted_fingerprint = crate::token::fingerprint(&self.token.pasted.0);
        // Compared field by field, so that the check costs no allocation on every action.
        let unchanged = self.token.what_if_key.as_ref().is_some_and(|key| {
            key.fingerprint == inspection.fingerprint
                && key.pasted_fingerprint == pasted_fingerprint
                && key.method == self.live.what_if.method
                && key.path == self.live.what_if.path
                && key.generation == self.policy_generation
        });
        if unchanged {
            return;
        }
        let key = WhatIfKey {
            fingerprint: inspection.fingerprint.clone(),
            pasted_fingerprint,
            method: self.live.what_if.method.clone(),
            path: self.live.what_if.path.clone(),
            generation: self.policy_generation,
        };
        let token = inspection.token.expose().to_owned();
        let carrier = what_if::carrier(&self.token.pasted.0, inspection);
        let mut rows = self.what_if_rows(&token, &carrier);
        let edge = self.edge.as_ref().map(|edge| {
            let decision = self.judge_at_edge(edge, inspection, &carrier);
            let policies = if self.live.workloads.is_empty() {
                &self.policies
            } else {
                &self.live.policies
            };
            (
                decision,
                edge.profile.differences(&policies.request_authentication),
            )
        });
        if let Some((decision, _)) = &edge {
            let cell = edge_cell(decision);
            for row in &mut rows {
                row.edge = Some(cell.clone());
            }
        }
        self.token.what_if = rows;
        self.token.edge = edge;
        self.token.what_if_key = Some(key);
    }

    /// Decides what the edge does with the request the mesh columns judge: the what-if path, with
    /// the value as pasted where `carrier` puts it, so `x Bearer <jwt>` gets the edge's verdict
    /// for that value, as `idflow decode --edge-profile` gives it.
    fn judge_at_edge(
        &self,
        edge: &EdgeSetup,
        inspection: &Inspection,
        carrier: &Carrier,
    ) -> EdgeDecision {
        let path = self.live.what_if.path.split('?').next();
        let sent = sent_header_value(&self.token.pasted.0, inspection);
        // A bare value goes in `Authorization`, so the edge reads it as that header line.
        let as_header = match (&inspection.header_name, carrier) {
            (None, Carrier::Header(name, value)) => {
                crate::token::inspect(&format!("{name}: {value}"), self.now())
                    .ok()
                    .map(|header| (header, value.clone()))
            }
            _ => None,
        };
        let (judged, sent) = match &as_header {
            Some((header, value)) => (header, Some(value.as_str())),
            None => (inspection, sent.as_deref()),
        };
        edge.profile
            .evaluate_request(judged, sent, path, edge.keys.as_ref(), self.now())
    }

    /// Evaluates the what-if request with `token`, sent where `carrier` puts it, at every workload
    /// known: the live cluster's when it reported some, else those the session's policies and
    /// flows name.
    fn what_if_rows(&self, token: &str, carrier: &Carrier) -> Vec<Row> {
        let live = !self.live.workloads.is_empty();
        let settings = MeshSettings {
            now: self.now(),
            ..if live {
                self.live.mesh.clone()
            } else {
                MeshSettings::default()
            }
        };
        let jwks = BTreeMap::new();
        let mesh = Mesh {
            policies: if live {
                &self.live.policies
            } else {
                &self.policies
            },
            jwks: &jwks,
            providers: &[],
            settings: &settings,
        };
        let probe = Probe {
            method: &self.live.what_if.method,
            path: &self.live.what_if.path,
            token: Some(token),
            carrier,
        };
        if !live {
            let targets = what_if::targets(&self.policies, &self.flows);
            return what_if::evaluate(&mesh, &targets, probe);
        }
        let mut rows = Vec::with_capacity(self.live.workloads.len());
        for workload in &self.live.workloads {
            let location = workload.location();
            let Some(mesh_workload) = workload.to_mesh() else {
                rows.push(Row {
                    workload: location.clone(),
                    peer: None,
                    found: TokenFound::NotRead,
                    signature: None,
                    verdict: Err(format!(
                        "no Envoy proxy of its own ({}), so no policy is enforced in its pods",
                        workload.proxy.label()
                    )),
                    edge: None,
                });
                continue;
            };
            let target = Target {
                workload: mesh_workload,
                source_principal: what_if::caller_in_flows(&self.flows, &location),
            };
            rows.extend(what_if::evaluate(&mesh, &[target], probe));
        }
        rows
    }

    /// Asks the event loop to copy the claims, as JSON, to the clipboard. The token itself is
    /// never copied. A JWS whose payload is a nested JWT has no claims of its own, so the nested
    /// token's claims, the only ones the view shows, are copied.
    pub(super) fn copy_claims(&mut self) {
        let (claims, copied) = match &self.token.result {
            Some(Ok(inspection)) => match (&inspection.claims, inspection.nested.as_deref()) {
                (None, Some(inner)) => (inner.claims.as_ref(), "claims of the nested JWT copied"),
                (claims, _) => (claims.as_ref(), "claims copied"),
            },
            _ => (None, "claims copied"),
        };
        let Some(claims) = claims else {
            return self.set_flash(
                FlashLevel::Error,
                "no claims to copy; paste a signed JWT first",
            );
        };
        match serde_json::to_string_pretty(claims) {
            Ok(text) => {
                self.clipboard = Some(text);
                self.set_flash(FlashLevel::Info, copied);
            }
            Err(error) => self.set_flash(
                FlashLevel::Error,
                format!("could not write the claims as JSON: {error}"),
            ),
        }
    }
}

/// Returns the edge column's text for `decision`: `allow`, `deny 401` or `fail-open`.
pub(super) fn edge_cell(decision: &EdgeDecision) -> String {
    match (decision.verdict, decision.status) {
        (ProfileVerdict::Allow, _) => "allow".to_owned(),
        (ProfileVerdict::Deny, Some(status)) => format!("deny {status}"),
        (ProfileVerdict::Deny, None) => "deny".to_owned(),
        (ProfileVerdict::FailOpen, _) => "fail-open".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::edge::profile::EdgeProfile;
    use crate::tui::{Action, EdgeSetup, Session, Theme, update};

    /// Returns a JWT whose signature no key checks, because the profile below has none.
    fn token() -> String {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(r#"{"iss":"https://idp.test","sub":"alice"}"#);
        format!("{header}.{payload}.c2lnbmF0dXJl")
    }

    /// Returns an app with an edge profile of Akamai's defaults and no keys.
    fn edge_app() -> App {
        let mut app = App::new(
            Session::default(),
            Theme::load_colored("default").expect("the default theme loads"),
        );
        let profile =
            EdgeProfile::from_toml("name = \"defaults\"\n", "<inline>").expect("a valid profile");
        app.edge = Some(EdgeSetup {
            profile,
            keys: None,
        });
        app
    }

    /// Pastes `text` and returns the edge's verdict cell and reason.
    fn paste_edge(app: &mut App, text: String) -> (String, String) {
        update(app, Action::Paste(text));
        let (decision, _) = app.token.edge.as_ref().expect("an edge decision");
        (edge_cell(decision), decision.reason.clone())
    }

    #[test]
    fn edge_judges_value_as_pasted() {
        let mut app = edge_app();
        let (cell, reason) = paste_edge(&mut app, format!("Bearer {}", token()));
        assert_eq!(cell, "allow", "{reason}");
        // `replace('Bearer ', '')` leaves `x ` in front of the token, so decoding throws.
        let (cell, reason) = paste_edge(&mut app, format!("x Bearer {}", token()));
        assert_eq!(cell, "deny 400", "{reason}");
        assert!(reason.contains("`x`"), "{reason}");
    }

    #[test]
    fn pasted_text_redacted_in_debug() {
        let text = PastedText(format!("Bearer {}", token()));
        assert!(!format!("{text:?}").contains(&token()));
    }
}
