//! The Token view's state and the parts of [`super::update`] that concern it: the what-if table,
//! kept until its inputs change, and copying the claims.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::edge::profile::{Difference, EdgeDecision, ProfileVerdict};
use crate::mesh::MeshSettings;
use crate::mesh::check::Mesh;
use crate::token::{Inspection, TokenError};

use super::app::{App, FlashLevel};
use super::what_if::{self, Probe, Row, Target, TokenFound};

/// The Token view's last inspection and what-if table. The raw token stays inside the
/// inspection, redacted from `Debug`, and is never drawn.
#[derive(Debug, Default)]
pub struct TokenPane {
    pub result: Option<Result<Inspection, TokenError>>,
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

/// Inputs of the what-if table. The table is computed again only when they change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct WhatIfKey {
    /// The token's fingerprint, never the token.
    fingerprint: String,
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
        // Compared field by field, so that the check costs no allocation on every action.
        let unchanged = self.token.what_if_key.as_ref().is_some_and(|key| {
            key.fingerprint == inspection.fingerprint
                && key.method == self.live.what_if.method
                && key.path == self.live.what_if.path
                && key.generation == self.policy_generation
        });
        if unchanged {
            return;
        }
        let key = WhatIfKey {
            fingerprint: inspection.fingerprint.clone(),
            method: self.live.what_if.method.clone(),
            path: self.live.what_if.path.clone(),
            generation: self.policy_generation,
        };
        let token = inspection.token.expose().to_owned();
        let mut rows = self.what_if_rows(&token);
        let edge = self.edge.as_ref().and_then(|edge| {
            // The edge evaluates the request the rows send: the token as `Authorization: Bearer`.
            let sent = crate::token::inspect(&format!("Authorization: Bearer {token}"), self.now());
            let decision = edge
                .profile
                .evaluate(&sent.ok()?, edge.keys.as_ref(), self.now());
            let policies = if self.live.workloads.is_empty() {
                &self.policies
            } else {
                &self.live.policies
            };
            Some((
                decision,
                edge.profile.differences(&policies.request_authentication),
            ))
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

    /// Evaluates the what-if request with `token` at every workload known: the live cluster's when
    /// it reported some, else those the session's policies and flows name.
    fn what_if_rows(&self, token: &str) -> Vec<Row> {
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
    /// never copied.
    pub(super) fn copy_claims(&mut self) {
        let claims = match &self.token.result {
            Some(Ok(inspection)) => inspection.claims.as_ref(),
            _ => None,
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
                self.set_flash(FlashLevel::Info, "claims copied");
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
