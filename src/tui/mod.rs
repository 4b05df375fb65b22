//! The terminal UI: application state, one `Action` enum, one `update`, views that only read state.
//!
//! [`App`] contains the state and [`update`] is the only place that changes it; [`render`] draws a
//! frame from it. The key table in `keys` maps key presses to actions and also generates the help
//! screen and the hint bar. Views ask the [`Theme`] for semantic slots, never for colours.

mod app;
mod bars;
mod clipboard;
mod detail;
mod filter;
mod flows;
mod format;
mod help;
mod keys;
mod live;
mod live_update;
mod runner;
mod screen;
mod text;
mod theme;
mod token_update;
mod token_view;
pub mod what_if;
mod what_if_table;
mod workloads;

pub use app::{
    Action, App, Flash, FlashLevel, MAX_FLOWS, Prompt, PromptKind, TokenPane, View, update,
};
pub use keys::{BINDINGS, Binding, Context, Hint, action_for};
pub use live::{
    Counter, DenialStats, Effect, LiveState, LiveUpdate, PickKind, StreamTally, WhatIf, kind_label,
    pods_ready, policy_count,
};
pub use runner::{FEED_CAPACITY, Feed, run, run_app, run_with_feed};
pub use screen::render;
pub use theme::{Slot, Theme, ThemeError};

/// The input the TUI opens on: a title, the flows known so far and notices about the inputs.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Shown first in the status line, e.g. `demo` or a kube context.
    pub title: String,
    pub flows: Vec<crate::model::Flow>,
    /// Problems with the inputs that did not stop the session, e.g. `3 lines of shop.orders.log
    /// could not be parsed`.
    pub notices: Vec<String>,
    /// Istio policies for the Token view's what-if (the demo's, or replay `--policies`).
    pub policies: crate::mesh::crd::PolicySet,
    /// The edge profile that fills the what-if table's edge column; `None` shows "—".
    pub edge: Option<EdgeSetup>,
}

/// An edge profile with the keys of its key source, loaded once per session.
#[derive(Debug, Clone)]
pub struct EdgeSetup {
    pub profile: crate::edge::profile::EdgeProfile,
    /// The key source's keys; `None` when the profile names none, so signatures go unchecked.
    pub keys: Option<crate::token::keys::KeySet>,
}
