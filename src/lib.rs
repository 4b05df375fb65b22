//! idflow: follow a request's identity from the Akamai edge through an Istio mesh.
//!
//! The domain modules (`token`, `accesslog`, `edge`, `flow`) are plain Rust with no IO, no async and
//! no terminal. `source` reads inputs, `output` writes the headless forms, `tui` draws the screens.

pub mod accesslog;
pub mod cli;
pub mod edge;
pub mod flow;
pub mod mesh;
pub mod model;
pub mod output;
pub mod source;
pub mod token;
pub mod tui;
