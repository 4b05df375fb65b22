//! Command-line flags (clap) and the subcommands they run.

/// Writes a line to standard error as `eprintln!` does, but ignores a failed write. `eprintln!`
/// panics when standard error is closed (`2>&-`) or its reader has gone (`2>&1 | head -1`). A lost
/// warning must not turn a verdict's exit status into a crash.
macro_rules! stderr_line {
    ($($arg:tt)*) => {
        $crate::cli::write_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub mod check;
pub mod decode;
pub mod follow;
pub mod front;
mod live;
mod live_options;
mod replay;
mod simulate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use live_options::{parse, parse_from};

/// Exit status of every subcommand for invalid flags and for input that cannot be read or
/// parsed, as clap uses it for usage errors.
pub const EXIT_USAGE: u8 = 2;

/// Follow a request's identity from the Akamai edge through an Istio mesh.
#[derive(Debug, Parser)]
#[command(name = "idflow", bin_name = "idflow", version, about)]
pub struct Cli {
    /// Colour theme: a built-in name (`default`, `light`) or a TOML theme file.
    #[arg(
        long,
        global = true,
        default_value = "default",
        help_heading = "Global options"
    )]
    pub theme: String,
    /// Write a debug log to this file (off by default; the filter comes from `IDFLOW_LOG`, default
    /// `info`). Nothing is logged to the terminal, because the TUI owns it.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Global options"
    )]
    pub log_file: Option<PathBuf>,
    /// The cluster for the live TUI (no subcommand), as kubectl's flags choose it.
    #[command(flatten)]
    pub kube: follow::KubeArgs,
    /// Flows the live TUI keeps in memory; past it the oldest are dropped and counted.
    #[arg(long, default_value_t = crate::source::DEFAULT_MAX_FLOWS, value_name = "N", value_parser = parse_max_flows)]
    pub max_flows: usize,
    /// Edge profile (TOML, see profiles/edge.sample.toml) whose verdict fills the live Token
    /// view's edge column. A key source given as a JWKS URL is not fetched here.
    #[arg(long = "edge-profile", value_name = "FILE")]
    pub edge_profile: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Each subcommand's arguments are built only when that subcommand runs (`defer`): building all of
/// them took a seventh of the instructions of one `idflow decode`. A deferred `Args` struct's doc
/// comment would replace the subcommand's about line in its help, so those structs carry plain
/// comments (`tests/cli_help.rs` checks).
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Open the TUI on the built-in demo data (no cluster needed).
    Demo,
    /// Decode a token and show header, claims and times.
    Decode(DecodeArgs),
    /// Show flows and findings from saved access logs and edge records.
    Replay(ReplayArgs),
    /// Simulate an Istio sidecar or gateway for one request: the verdict Envoy would give, and why.
    Check(Box<check::CheckArgs>),
    /// Print the Envoy filters istiod would generate for a workload (jwt_authn, RBAC), as JSON.
    EnvoyConfig(Box<check::EnvoyConfigArgs>),
    /// Follow live flows from the istio-proxy logs of a cluster's pods, as NDJSON.
    Follow(Box<follow::FollowArgs>),
}

/// Output forms for the headless commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
    Ndjson,
}

#[derive(Debug, Args)]
#[command(after_help = decode::EXIT_STATUS_HELP)]
pub struct DecodeArgs {
    /// The token, or text that contains one (`Bearer …`, an `Authorization:` line, a curl `-H`
    /// argument), or the path of a file that holds it. `-` or nothing reads standard input. With
    /// --batch, a file of tokens. Several words are joined with spaces, so `Bearer TOKEN` works
    /// unquoted.
    #[arg(value_name = "TOKEN", num_args = 0..)]
    pub token: Vec<String>,
    /// Output form (default `text`; --batch always prints NDJSON, so it takes `json` or
    /// `ndjson` only).
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<OutputFormat>,
    /// Show the raw token and signature instead of hiding them.
    #[arg(long)]
    pub show_secrets: bool,
    /// The clock for times, RFC 3339 or Unix seconds (default: now).
    #[arg(long)]
    pub at: Option<String>,
    /// Key sources and fetch limits.
    #[command(flatten)]
    pub keys: Box<decode::KeyArgs>,
    /// Read one token per line (from the file named by TOKEN, or standard input) and print one
    /// JSON object per line (NDJSON) with its line number; blank lines are skipped. Keys are
    /// loaded once.
    #[arg(long)]
    pub batch: bool,
    /// Also show what an Akamai EdgeWorker described by this edge profile (TOML, see
    /// profiles/edge.sample.toml) decides for the token. The exit status stays that of the token.
    #[arg(long, value_name = "FILE")]
    pub edge_profile: Option<PathBuf>,
    /// A policy file (YAML or JSON, multi-document) whose `RequestAuthentication` objects the edge
    /// profile is compared with (the differences are listed per object) and, with --workload,
    /// whose keys verify the token. Repeatable.
    #[arg(long = "policies", value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// Verify with the keys of the `RequestAuthentication` objects in --policies that cover this
    /// workload (NAMESPACE/NAME, pod label `app=NAME`): each `jwtRules` entry for the token's
    /// issuer, its inline `jwks` or its `jwksUri`, as the workload's Envoy would.
    #[arg(long, value_name = "NS/NAME", requires = "policies")]
    pub workload: Option<String>,
}

/// Prints clap's message for a command line it rejected, with tokens hidden, because clap quotes
/// the offending argument and an unquoted `Bearer TOKEN` or a token given to the wrong flag is
/// one. Help and version output go to standard output as clap prints them.
pub fn exit_on_usage_error(error: &clap::Error) -> ExitCode {
    let text = error.render().to_string();
    if error.use_stderr() {
        write_stderr(format_args!("{}", crate::redact::hide_tokens(&text)));
    } else {
        // `--help | head` closes the pipe early; the text was for the reader that left.
        let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
    }
    ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(EXIT_USAGE))
}

impl DecodeArgs {
    /// Returns the TOKEN words joined with spaces, or `None` when none was given. A shell splits
    /// an unquoted `Bearer TOKEN` in two; taking the words as one argument also keeps clap from
    /// quoting the token in an "unexpected argument" error.
    pub fn token_text(&self) -> Option<String> {
        (!self.token.is_empty()).then(|| self.token.join(" "))
    }

    /// Returns whether the arguments name the token alone: no key source, edge profile, policies,
    /// CA file or `--batch`, so [`decode::run_token_only`] decodes them.
    pub fn reads_token_only(&self) -> bool {
        let keys = &self.keys;
        keys.jwks.is_empty()
            && keys.issuer.is_empty()
            && keys.pem_keys.is_empty()
            && keys.secret_file.is_none()
            && keys.secret.is_none()
            && keys.ca_file.is_none()
            && !self.batch
            && self.edge_profile.is_none()
            && self.policies.is_empty()
            && self.workload.is_none()
    }
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Access log and edge record files, in any order; `-` reads standard input. An access log's
    /// file name names its proxy: `NAMESPACE.WORKLOAD.log`.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output form: `ndjson` prints one flow per line, `json` one array, `text` one line per flow;
    /// without it the TUI opens.
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<OutputFormat>,
    /// Flows kept in memory; past it the oldest are dropped and counted.
    #[arg(long, default_value_t = crate::source::DEFAULT_MAX_FLOWS, value_parser = parse_max_flows)]
    pub max_flows: usize,
    /// Istio policy files (YAML or JSON, multi-document) for the Token view's what-if
    /// (repeatable); objects without a namespace go to `default`.
    #[arg(long = "policies", value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// Edge profile (TOML, see profiles/edge.sample.toml) whose verdict fills the Token view's
    /// edge column. A key source given as a JWKS URL is not fetched here; use a file or a PEM.
    #[arg(long = "edge-profile", value_name = "FILE")]
    pub edge_profile: Option<PathBuf>,
}

/// Parses `--max-flows`: a whole number of at least 1.
pub fn parse_max_flows(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(count) if count >= 1 => Ok(count),
        _ => Err(format!(
            "invalid number of flows {text:?}: expected a whole number of at least 1, e.g. 100000"
        )),
    }
}

/// Runs the parsed command line and returns the process exit status.
pub fn run(cli: Cli) -> ExitCode {
    crate::redact::hide_tokens_in_panics();
    if let Some(path) = &cli.log_file
        && let Err(error) = start_log(path)
    {
        stderr_line!(
            "idflow: cannot write the log file {:?}: {error}; check the folder exists and is writable",
            path.display().to_string()
        );
        return ExitCode::from(EXIT_USAGE);
    }
    let result = match cli.command {
        Some(Command::Decode(args)) => return decode::run(&args),
        Some(Command::Demo) => replay::run_demo(&cli.theme),
        Some(Command::Replay(args)) => replay::run(&args, &cli.theme),
        Some(Command::Check(args)) => simulate::run_check(&args),
        Some(Command::EnvoyConfig(args)) => simulate::run_envoy_config(&args),
        Some(Command::Follow(args)) => follow::run(&args),
        None => live::run(
            &cli.kube,
            cli.max_flows,
            cli.edge_profile.as_deref(),
            &cli.theme,
        ),
    };
    match result {
        Ok(code) => code,
        // A reader that stopped early (`| head`) closed standard output: everything it requested
        // was written, so end quietly, as `follow` does.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            stderr_line!("idflow: {error:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Policies read from several files in turn, as `kubectl apply -f` of each would leave them: an
/// object that a later file defines again is replaced, with a notice naming both files.
#[derive(Debug, Default)]
pub(crate) struct PolicyFiles {
    pub policies: crate::mesh::crd::PolicySet,
    pub notices: Vec<String>,
    /// The file each object (`KIND NAMESPACE/NAME`) was last read from.
    origins: std::collections::BTreeMap<String, String>,
    /// The objects defined in more than one file.
    repeated: std::collections::BTreeSet<String>,
}

impl PolicyFiles {
    /// Adds the policies read from `file`.
    pub(crate) fn add(&mut self, file: &str, policies: crate::mesh::crd::PolicySet) {
        let names = policies.object_names();
        for object in self.policies.append(policies) {
            let earlier = self
                .origins
                .get(&object)
                .map_or("an earlier file", String::as_str);
            self.notices.push(format!(
                "{object} is defined in {earlier} and again in {file}; the later definition \
                 replaces the earlier one, as a later `kubectl apply` would"
            ));
            self.repeated.insert(object);
        }
        for name in names {
            self.origins.insert(name, file.to_owned());
        }
    }

    /// Returns the file the object `KIND NAMESPACE/NAME` was last read from.
    pub(crate) fn file_of(&self, object: &str) -> Option<&str> {
        self.origins.get(object).map(String::as_str)
    }

    /// Returns the file the object `KIND NAMESPACE/NAME` was last read from, when several files
    /// define it.
    pub(crate) fn file_of_repeated(&self, object: &str) -> Option<&str> {
        if !self.repeated.contains(object) {
            return None;
        }
        self.file_of(object)
    }
}

/// Writes `text` to standard error, ignoring a failed write ([`stderr_line!`] explains why).
pub(crate) fn write_stderr(text: std::fmt::Arguments<'_>) {
    let _ = std::io::Write::write_fmt(&mut std::io::stderr(), text);
}

/// Returns whether `error` comes from writing to a pipe whose reader has gone.
pub(crate) fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let kind = cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                cause
                    .downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            });
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// Sends `tracing` events to `path`, filtered by `IDFLOW_LOG` (e.g. `debug`, `idflow::source=trace`).
fn start_log(path: &std::path::Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("IDFLOW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .init();
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "idflow started");
    Ok(())
}
