//! `idflow replay` and `idflow demo`: flows and findings from saved files, headless or in the TUI.

use std::collections::HashSet;
use std::io::{self, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::{OutputFormat, PolicyFiles, ReplayArgs};
use crate::edge::profile::EdgeProfile;
use crate::mesh::crd::PolicySet;
use crate::mesh::load::{load_policies, load_policy_file};
use crate::output;
use crate::source::{self, Input, Loaded};
use crate::tui;

/// Runs `idflow replay`.
pub fn run(args: &ReplayArgs, theme: &str) -> anyhow::Result<ExitCode> {
    let (inputs, mut notices) = read_inputs(&args.files)?;
    let mut loaded = source::load_inputs_bounded(&inputs, args.max_flows.max(1));
    notices.append(&mut loaded.notices);
    loaded.notices = notices;
    // The files are read whatever the output, so that a wrong path fails in scripts too.
    let mut files = PolicyFiles::default();
    for path in &args.policies {
        // NOTE: `idflow check -f` puts objects without a namespace in the workload's
        // namespace, so for such files its verdicts can differ from the what-if table's.
        let file = load_policy_file(path, "default")?;
        loaded.notices.extend(
            file.notices
                .iter()
                .map(|notice| format!("{}: {notice}", path.display())),
        );
        files.add(&path.display().to_string(), file.policies);
    }
    loaded.notices.append(&mut files.notices);
    let policies = files.policies;
    let edge = match &args.edge_profile {
        Some(path) => Some(edge_setup(EdgeProfile::load(path))?),
        None => None,
    };
    if args.output.is_some() && (!args.policies.is_empty() || edge.is_some()) {
        loaded.notices.push(
            "--policies and --edge-profile feed the TUI's Token view; with -o they were read \
             and checked but are not used"
                .to_owned(),
        );
    }
    match args.output {
        Some(OutputFormat::Ndjson) => {
            print_notices(&loaded);
            output::write_ndjson(&mut io::stdout().lock(), &loaded.flows)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(OutputFormat::Json) => {
            print_notices(&loaded);
            output::write_json(&mut io::stdout().lock(), &loaded.flows)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(OutputFormat::Text) => {
            print_notices(&loaded);
            output::write_text(&mut io::stdout().lock(), &loaded.flows)?;
            Ok(ExitCode::SUCCESS)
        }
        None => open_tui(loaded, policies, edge, "replay", theme),
    }
}

/// Reads each file once (`-` is standard input), decoding bytes that are not UTF-8 as U+FFFD so
/// one bad header value costs one line, not the file.
fn read_inputs(paths: &[PathBuf]) -> anyhow::Result<(Vec<Input>, Vec<String>)> {
    let mut inputs = Vec::with_capacity(paths.len());
    let mut notices = Vec::new();
    let mut seen = HashSet::new();
    for path in paths {
        let name = path.display().to_string();
        let bytes = if name == "-" {
            let mut bytes = Vec::new();
            io::stdin()
                .lock()
                .read_to_end(&mut bytes)
                .context("cannot read standard input")?;
            bytes
        } else {
            let identity = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            if !seen.insert(identity) {
                notices.push(format!("{name}: given more than once; read once"));
                continue;
            }
            std::fs::read(path).with_context(|| {
                format!("cannot read {name:?}: check the path and that it is a readable file")
            })?
        };
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                let text = String::from_utf8_lossy(error.as_bytes()).into_owned();
                notices.push(format!(
                    "{name}: bytes that are not UTF-8 were replaced with U+FFFD on {} line(s)",
                    text.lines()
                        .filter(|line| line.contains('\u{FFFD}'))
                        .count()
                ));
                text
            }
        };
        // An editor that saves UTF-8 with a byte order mark puts U+FEFF before the first line,
        // which would hide the line's `[` or `{` from the format detection and the parser.
        let text = match text.strip_prefix('\u{FEFF}') {
            Some(rest) => rest.to_owned(),
            None => text,
        };
        let name = if name == "-" {
            "stdin".to_owned()
        } else {
            name
        };
        inputs.push(Input { name, text });
    }
    Ok((inputs, notices))
}

/// Runs `idflow demo`: the TUI on the embedded demo data.
pub fn run_demo(theme: &str) -> anyhow::Result<ExitCode> {
    let loaded = source::load_inputs(&source::demo::inputs());
    // The demo's file also contains a Gateway and a VirtualService, skipped without a notice.
    let (name, text) = source::demo::POLICIES;
    let policies = load_policies(text, name, "default")?;
    let (name, text) = source::demo::EDGE_PROFILE;
    let edge = edge_setup(EdgeProfile::from_toml(text, name))?;
    open_tui(loaded, policies, Some(edge), "demo", theme)
}

/// Loads the keys of a loaded edge profile for the TUI; a profile or key source that cannot be
/// read is an error before the screen is taken over.
pub(super) fn edge_setup(profile: Result<EdgeProfile, String>) -> anyhow::Result<tui::EdgeSetup> {
    let profile = profile.map_err(anyhow::Error::msg)?;
    let keys = profile.local_keys().map_err(anyhow::Error::msg)?;
    Ok(tui::EdgeSetup { profile, keys })
}

fn print_notices(loaded: &Loaded) {
    for notice in &loaded.notices {
        stderr_line!("idflow: {notice}");
    }
}

/// Opens the TUI on the flows, with `policies` for the Token view's what-if.
fn open_tui(
    loaded: Loaded,
    policies: PolicySet,
    edge: Option<tui::EdgeSetup>,
    title: &str,
    theme: &str,
) -> anyhow::Result<ExitCode> {
    let theme = tui::Theme::load(theme)?;
    let session = tui::Session {
        title: title.to_owned(),
        flows: loaded.flows,
        notices: loaded.notices,
        policies,
        edge,
    };
    tui::run(session, theme)?;
    Ok(ExitCode::SUCCESS)
}
