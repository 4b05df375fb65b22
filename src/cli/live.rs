//! `idflow` with no subcommand: the TUI on a live cluster, as `idflow --context C -n NS`.
//!
//! The kubeconfig is read and the context checked before the screen is taken over, so a wrong
//! flag prints its error and exits 2. `:ctx NAME` and `:ns NAME` restart the source on the same
//! kubeconfig files; a failed switch shows its error in the TUI and leaves the old source stopped.

use std::path::Path;
use std::process::ExitCode;

use crate::source::kube::{
    ConfigSource, KubeSettings, LiveMessage, LiveSettings, LiveSource, ResolvedKube, Scope,
    connect, resolve,
};
use crate::tui::{self, Action, App, Effect, Feed, LiveUpdate};

use super::follow::KubeArgs;
use super::replay::edge_setup;
use crate::edge::profile::EdgeProfile;

/// Runs the live TUI, keeping at most `max_flows` flows, until the user quits. `edge_profile`
/// fills the Token view's edge column.
pub fn run(
    args: &KubeArgs,
    max_flows: usize,
    edge_profile: Option<&Path>,
    theme: &str,
) -> anyhow::Result<ExitCode> {
    let settings = args.settings();
    let resolved = resolve(&settings)?;
    let theme = tui::Theme::load(theme)?;
    let edge = match edge_profile {
        Some(path) => Some(edge_setup(EdgeProfile::load(path))?),
        None => None,
    };
    let mut app = App::new(
        tui::Session {
            title: resolved.context.clone(),
            edge,
            ..tui::Session::default()
        },
        theme,
    );
    app.live.context = Some(resolved.context.clone());
    app.live.namespace = resolved.scope.namespace().map(str::to_owned);
    app.live.contexts = context_names(&resolved);
    app.live.namespaces_seen.extend(app.live.namespace.clone());
    app.view = tui::View::Workloads;
    tui::run_app(app, || async move {
        let client = connect(&resolved).await?;
        let source = LiveSource::start(client, live_settings(resolved.scope.clone(), max_flows));
        Ok(LiveFeed {
            settings,
            source,
            scope: resolved.scope,
            max_flows,
        })
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Returns the kubeconfig's context names, sorted; empty for in-cluster configuration.
fn context_names(resolved: &ResolvedKube) -> Vec<String> {
    let ConfigSource::Files { kubeconfig, .. } = &resolved.source else {
        return Vec::new();
    };
    let mut names: Vec<String> = kubeconfig
        .contexts
        .iter()
        .map(|named| named.name.clone())
        .collect();
    names.sort_unstable();
    names
}

/// The live source and the settings to restart it with.
struct LiveFeed {
    /// The flags, with the context and namespace as last switched.
    settings: KubeSettings,
    source: LiveSource,
    scope: Scope,
    max_flows: usize,
}

/// Returns the live source's settings for `scope` with the `--max-flows` bound.
fn live_settings(scope: Scope, max_flows: usize) -> LiveSettings {
    let mut settings = LiveSettings::new(scope);
    settings.max_flows = max_flows;
    settings
}

impl LiveFeed {
    async fn restart(&mut self) -> Result<(), String> {
        let resolved = resolve(&self.settings).map_err(|error| error.to_string())?;
        let client = connect(&resolved)
            .await
            .map_err(|error| error.to_string())?;
        self.scope = resolved.scope.clone();
        self.source
            .restart(client, live_settings(resolved.scope, self.max_flows));
        Ok(())
    }
}

impl Feed for LiveFeed {
    async fn next(&mut self) -> Option<Action> {
        self.source.recv().await.map(action)
    }

    fn try_next(&mut self) -> Option<Action> {
        self.source.try_recv().map(action)
    }

    async fn perform(&mut self, effect: Effect) -> Vec<Action> {
        match effect {
            Effect::SwitchContext(context) => {
                self.settings.context = Some(context);
                // The namespace stays as the user chose it, as kubectl's flags would.
                if let Scope::Namespace(namespace) = &self.scope {
                    self.settings.namespace = Some(namespace.clone());
                }
            }
            Effect::SwitchNamespace(namespace) => {
                self.settings.all_namespaces = namespace.is_none();
                self.settings.namespace = namespace;
            }
        }
        match self.restart().await {
            Ok(()) => Vec::new(),
            Err(error) => {
                self.source.stop();
                vec![Action::Live(LiveUpdate::Failed(format!(
                    "switching the context or namespace failed: {error}"
                )))]
            }
        }
    }
}

/// Turns a source message into the action that applies it.
fn action(message: LiveMessage) -> Action {
    match message {
        LiveMessage::Flow(flow) => Action::AddFlow(*flow),
        LiveMessage::Workloads(workloads) => Action::Live(LiveUpdate::Workloads(workloads)),
        LiveMessage::Policies(policies) => Action::Live(LiveUpdate::Policies(policies)),
        LiveMessage::Stream(status) => Action::Live(LiveUpdate::Stream(status)),
        LiveMessage::Counts(counts) => Action::Live(LiveUpdate::Counts(counts)),
        LiveMessage::Notice(text) => Action::Live(LiveUpdate::Notice(text)),
    }
}
