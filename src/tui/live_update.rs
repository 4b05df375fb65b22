//! The parts of [`super::update`] that concern a live cluster: flows that change, pause, the
//! Workloads view, the what-if, and switching context or namespace.

use std::collections::BTreeMap;

use chrono::Utc;

use crate::mesh::check::{Mesh, check};
use crate::mesh::{MeshSettings, Request};
use crate::model::Flow;
use crate::source::kube::MeshWorkload;

use super::app::{App, FlashLevel, View};
use super::live::{Effect, LiveUpdate, PickKind};

/// The value of `:ns` that means every namespace, as in k9s.
const ALL_NAMESPACES: &str = "all";

impl App {
    /// Takes the requests that [`super::update`] left for the event loop.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.live.effects)
    }

    /// Adds a flow and refreshes the rows shown.
    pub(super) fn add_flow(&mut self, flow: Flow) {
        if self.insert_flow(flow) {
            self.refresh_visible();
        }
    }

    /// Adds a flow, or replaces the one with the same id (a live source sends a flow again when a
    /// late hop joins it), and counts its new denials. While paused the flow is held. Returns
    /// whether the shown flows changed; the caller refreshes the rows.
    pub(super) fn insert_flow(&mut self, flow: Flow) -> bool {
        let tick = self.live.ticks;
        let held = self.live.held.iter().rposition(|held| held.id == flow.id);
        let shown = self.flows.iter().rposition(|shown| shown.id == flow.id);
        let before = held
            .map(|index| &self.live.held[index])
            .or_else(|| shown.map(|index| &self.flows[index]));
        self.live.denials.record(before, &flow, tick);
        self.live.namespaces_seen.extend(
            flow.hops
                .iter()
                .filter_map(|hop| hop.location.split_once('/').map(|(ns, _)| ns.to_owned())),
        );
        if self.live.paused {
            match held {
                Some(index) => self.live.held[index] = flow,
                None => self.live.held.push(flow),
            }
            return false;
        }
        match shown {
            Some(index) => self.flows[index] = flow,
            None => self.push_flow(flow),
        }
        true
    }

    pub(super) fn toggle_pause(&mut self) {
        self.live.paused = !self.live.paused;
        if self.live.paused {
            self.set_flash(
                FlashLevel::Info,
                "paused: new flows are collected; press p to show them",
            );
            return;
        }
        for flow in std::mem::take(&mut self.live.held) {
            match self.flows.iter().rposition(|shown| shown.id == flow.id) {
                Some(index) => self.flows[index] = flow,
                None => self.push_flow(flow),
            }
        }
        self.refresh_visible();
    }

    pub(super) fn apply_live(&mut self, update: LiveUpdate) {
        if let LiveUpdate::Failed(text) = &update {
            self.set_flash(FlashLevel::Error, text.clone());
        }
        let refresh = matches!(update, LiveUpdate::Policies(_) | LiveUpdate::Workloads(_));
        self.live.apply(update, &mut self.notices);
        if refresh {
            self.policy_generation += 1;
        }
        if refresh && self.view == View::Workload && self.live.what_if.result.is_some() {
            self.evaluate_what_if();
        }
    }

    /// Runs `:ctx` and `:ns`; returns false for other commands.
    pub(super) fn run_live_command(&mut self, command: &str) -> bool {
        let (name, argument) = command
            .split_once(char::is_whitespace)
            .map_or((command, ""), |(name, rest)| (name, rest.trim()));
        match (name, argument) {
            ("ctx" | "context", "") => self.open_pick(PickKind::Contexts),
            ("ctx" | "context", context) => self.switch_context(context),
            ("ns" | "namespace", "") => self.open_pick(PickKind::Namespaces),
            ("ns" | "namespace", namespace) => self.switch_namespace(namespace),
            ("workloads" | "wl" | "w", "") => self.view = View::Workloads,
            _ => return false,
        }
        true
    }

    fn open_pick(&mut self, kind: PickKind) {
        if self.live.context.is_none() {
            self.set_flash(
                FlashLevel::Error,
                "no cluster in this session; start idflow with --context NAME -n NAMESPACE",
            );
            return;
        }
        let current = match kind {
            PickKind::Contexts => self.live.context.clone(),
            PickKind::Namespaces => self.live.namespace.clone(),
        };
        self.live.pick_selected = self
            .live
            .pick_items(kind)
            .iter()
            .position(|item| Some(item) == current.as_ref())
            .unwrap_or(0);
        self.view = View::Pick(kind);
    }

    /// Enter in a pick list: switches to the selected context or namespace.
    pub(super) fn pick(&mut self, kind: PickKind) {
        let Some(item) = self
            .live
            .pick_items(kind)
            .get(self.live.pick_selected)
            .cloned()
        else {
            return;
        };
        match kind {
            PickKind::Contexts => self.switch_context(&item),
            PickKind::Namespaces => self.switch_namespace(&item),
        }
    }

    fn switch_context(&mut self, context: &str) {
        if self.live.context.is_none() {
            return self.open_pick(PickKind::Contexts);
        }
        if !self.live.contexts.iter().any(|known| known == context) {
            let available = self.live.contexts.join(", ");
            return self.set_flash(
                FlashLevel::Error,
                format!("context \"{context}\" is not in the kubeconfig; available: {available}"),
            );
        }
        self.live.context = Some(context.to_owned());
        context.clone_into(&mut self.title);
        self.live.namespaces_seen.clear();
        self.restart(Effect::SwitchContext(context.to_owned()));
    }

    fn switch_namespace(&mut self, namespace: &str) {
        if self.live.context.is_none() {
            return self.open_pick(PickKind::Namespaces);
        }
        let namespace = (namespace != ALL_NAMESPACES).then(|| namespace.to_owned());
        self.live.namespace.clone_from(&namespace);
        self.restart(Effect::SwitchNamespace(namespace));
    }

    /// Clears what the old source showed and asks the event loop to start the new one.
    fn restart(&mut self, effect: Effect) {
        self.flows.clear();
        self.dropped_flows = 0;
        self.notices.clear();
        self.live.reset_cluster_data();
        self.policy_generation += 1;
        self.refresh_visible();
        self.view = View::Workloads;
        self.live.effects.push(effect);
    }

    /// Enter in the Workloads view: opens the selected workload with a fresh what-if.
    pub(super) fn open_workload(&mut self) {
        if self.live.selected_workload().is_some() {
            self.view = View::Workload;
            self.detail_scroll = 0;
            self.evaluate_what_if();
        }
    }

    /// Opens the Flows view filtered to the selected workload.
    pub(super) fn show_workload_flows(&mut self) {
        if let Some(location) = self.live.selected_workload().map(MeshWorkload::location) {
            self.view = View::Flows;
            self.set_filter(&location);
        }
    }

    /// Returns the what-if request as the prompt shows it: `METHOD PATH`.
    pub(super) fn what_if_text(&self) -> String {
        format!("{} {}", self.live.what_if.method, self.live.what_if.path)
    }

    /// Reads `METHOD PATH` (or a path alone, sent with GET) and evaluates it.
    pub(super) fn submit_what_if(&mut self, text: &str) {
        let mut words = text.split_whitespace();
        let (method, path) = match (words.next(), words.next()) {
            (Some(path), None) if path.starts_with('/') => ("GET", path),
            (Some(method), Some(path)) if path.starts_with('/') => (method, path),
            _ => {
                return self.set_flash(
                    FlashLevel::Error,
                    format!(
                        "cannot read \"{}\" as a request; type METHOD PATH, e.g. GET /api/orders",
                        text.trim()
                    ),
                );
            }
        };
        let extra: Vec<&str> = words.collect();
        if !extra.is_empty() {
            return self.set_flash(
                FlashLevel::Error,
                format!(
                    "the what-if request takes METHOD PATH alone, and \"{}\" follows the path, \
                     so the request was not changed. A query belongs in the path, after `?`",
                    extra.join(" ")
                ),
            );
        }
        method.clone_into(&mut self.live.what_if.method);
        path.clone_into(&mut self.live.what_if.path);
        self.evaluate_what_if();
    }

    /// Simulates the what-if request at the selected workload against the live policies.
    fn evaluate_what_if(&mut self) {
        let Some(workload) = self.live.selected_workload() else {
            return;
        };
        let result = match workload.to_mesh() {
            None => Err(format!(
                "{} has no Envoy proxy of its own ({}); no policy is enforced in its pods",
                workload.location(),
                workload.proxy.label()
            )),
            Some(mesh_workload) => {
                let settings = MeshSettings {
                    now: Utc::now(),
                    ..self.live.mesh.clone()
                };
                let jwks = BTreeMap::new();
                let mesh = Mesh {
                    policies: &self.live.policies,
                    jwks: &jwks,
                    providers: &[],
                    settings: &settings,
                };
                let request = Request {
                    method: self.live.what_if.method.clone(),
                    path: self.live.what_if.path.clone(),
                    ..Request::default()
                };
                check(&mesh, &mesh_workload, &request).map_err(|error| error.to_string())
            }
        };
        self.live.what_if.result = Some(result);
    }
}
