//! `idflow replay` and `idflow demo`: flows and findings from saved files, headless or in the TUI.

use std::io;
use std::process::ExitCode;

use anyhow::Context;

use super::{OutputFormat, ReplayArgs};
use crate::output;
use crate::source::{self, Input, Loaded};
use crate::tui;

/// Runs `idflow replay`.
pub fn run(args: &ReplayArgs, theme: &str) -> anyhow::Result<ExitCode> {
    let mut inputs = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read {:?}: check the path and that it is a text file",
                path.display().to_string()
            )
        })?;
        inputs.push(Input {
            name: path.display().to_string(),
            text,
        });
    }
    let loaded = source::load_inputs(&inputs);
    match args.output {
        Some(OutputFormat::Ndjson | OutputFormat::Json) => {
            print_notices(&loaded);
            output::write_ndjson(&mut io::stdout().lock(), &loaded.flows)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(OutputFormat::Text) | None => open_tui(loaded, "replay", theme),
    }
}

/// Runs `idflow demo`: the TUI on the embedded demo data.
pub fn run_demo(theme: &str) -> anyhow::Result<ExitCode> {
    let loaded = source::load_inputs(&source::demo::inputs());
    open_tui(loaded, "demo", theme)
}

fn print_notices(loaded: &Loaded) {
    for notice in &loaded.notices {
        eprintln!("idflow: {notice}");
    }
}

fn open_tui(loaded: Loaded, title: &str, theme: &str) -> anyhow::Result<ExitCode> {
    let theme = tui::Theme::load(theme)?;
    let session = tui::Session {
        title: title.to_owned(),
        flows: loaded.flows,
        notices: loaded.notices,
    };
    tui::run(session, theme)?;
    Ok(ExitCode::SUCCESS)
}
