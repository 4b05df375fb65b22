//! `idflow decode`: decode a token, with the exit status DESIGN.md lists.

mod compact;
mod edge;
mod nested;
mod unfetched;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal as _, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

use super::PolicyFiles;
use super::{DecodeArgs, EXIT_USAGE, OutputFormat};
use crate::mesh::crd::{JwtRule, ObjectMeta};
use crate::mesh::jwt::{self, config::JwtProvider};
use crate::mesh::load::load_policy_file;
use crate::mesh::named;
use crate::mesh::scope::{AppliedPolicies, AppliedRequestAuthentication, policies_for};
use crate::mesh::{MeshSettings, Workload};
use crate::redact;
use crate::token::fetch::{FetchSettings, Fetcher};
use crate::token::keys::{self, KeySet, SignatureReport, SignatureStatus, SourceKind};
use crate::token::{self, Inspection, TokenKind, relative_phrase};

/// Pasted input above this size is refused before decoding; real tokens stay far below it.
const MAX_INPUT_BYTES: u64 = 8 * 1024 * 1024;

/// Exit status for a token that was found and decoded but is invalid.
const EXIT_INVALID: u8 = 1;

/// The exit statuses of `idflow decode`, for its `--help` text. Status 1 follows
/// [`token::Problem::invalidates`].
pub const EXIT_STATUS_HELP: &str = "Exit status:
  0  a token was found and nothing makes it invalid (warnings and notes may remain)
  1  a token was found but is invalid: it has a problem of error severity (a segment that is not
     base64url or not JSON, `alg` none or missing, an empty signature, a JWE, an opaque token
     where Envoy expects a JWT, an Authorization value without `Bearer ` so that Envoy finds no
     token, text before or after the token or spaces inside it, quotes around it, a time claim that is not
     a number), or it has expired or is not yet valid, even
     within Envoy's 1 min of clock skew; or keys were given (--jwks, --issuer, --key,
     --secret-file, --secret) and no key verified its signature (invalid, key not found, or
     unverified because the keys could not be fetched or Envoy would reject the JWKS)
  2  no token in the input, or invalid flags, or a key file that cannot be read or parsed.
     With --edge-profile, a URL, curl command or header line without a token still gets the
     edge's verdict, because the EdgeWorker responds to every request
With --batch: 0 when every line is valid, 1 when any line is invalid or holds no token, 2 on
invalid flags.";

// The key flags of `idflow decode` and the limits of JWKS and discovery fetches.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// Verify against this JWKS: a file, or an https:// URL (http:// only on loopback).
    /// Repeatable; the sets are tried in order.
    #[arg(long, value_name = "FILE|URL")]
    pub jwks: Vec<String>,
    /// Verify against the JWKS of this issuer, found by OIDC discovery
    /// (`<URL>/.well-known/openid-configuration`, then its `jwks_uri`). Repeatable.
    #[arg(long, value_name = "URL")]
    pub issuer: Vec<String>,
    /// Verify against a PEM public key or certificate (RSA, EC P-256/P-384/P-521, Ed25519).
    /// Repeatable.
    #[arg(long = "key", value_name = "PEM_FILE")]
    pub pem_keys: Vec<PathBuf>,
    /// Verify HS256/HS384/HS512 tokens with the secret in this file (raw bytes; one trailing
    /// newline is dropped).
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    /// Verify HS256/HS384/HS512 tokens with this secret. It lands in shell history and process
    /// lists; prefer --secret-file.
    #[arg(long, value_name = "SECRET")]
    pub secret: Option<String>,
    /// Trust the CA certificates in this PEM file, in addition to the system's, for JWKS and
    /// discovery fetches.
    #[arg(long, value_name = "PEM_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Seconds allowed to connect to a JWKS or discovery server, TLS handshake included.
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_seconds)]
    pub connect_timeout: Duration,
    /// Seconds allowed for each JWKS or discovery fetch, redirects and body included (Istio's
    /// jwtRules timeout defaults to 5 s too).
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_seconds)]
    pub fetch_timeout: Duration,
    /// Largest JWKS or discovery response accepted, in bytes (at least 1).
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = 1024 * 1024,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub max_fetch_bytes: u64,
}

/// Runs `idflow decode` and returns the exit status that [`EXIT_STATUS_HELP`] lists.
pub fn run(args: &DecodeArgs) -> ExitCode {
    if args.batch {
        exit_status(run_batch(args))
    } else {
        exit_status(decode(args).and_then(print))
    }
}

/// Runs `idflow decode` for `args` that give no key source, edge profile, policies or `--batch`
/// ([`DecodeArgs::reads_token_only`]), with the output of [`run`]. It reaches none of the code that
/// loads keys, fetches or evaluates profiles, so the small `idflow` executable that runs it
/// links none of that and starts faster.
pub fn run_token_only(args: &DecodeArgs) -> ExitCode {
    exit_status(decode_token_only(args).and_then(print))
}

/// Prints the output of a single decode and returns whether the token is invalid.
fn print((output, invalid): (String, bool)) -> Result<bool, String> {
    // A full disk is an error to report, not a panic. A closed pipe (`| head`) keeps the
    // verdict's exit status.
    write_results(&mut std::io::stdout().lock(), &mut output.into_bytes())?;
    Ok(invalid)
}

/// Returns the exit status for the outcome of a decode, after printing its error.
fn exit_status(result: Result<bool, String>) -> ExitCode {
    match result {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::from(EXIT_INVALID),
        Err(message) => {
            stderr_line!("idflow decode: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Parses a positive number of seconds for the fetch timeouts.
pub fn parse_seconds(value: &str) -> Result<Duration, String> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|seconds| seconds.is_finite() && *seconds > 0.0 && *seconds <= 3600.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("invalid number of seconds {value:?}: expected a number above 0 and at most 3600, e.g. 5 or 0.5"))
}

/// Returns the output and whether the token is invalid or, with keys, unverified; or the error
/// message.
fn decode(args: &DecodeArgs) -> Result<(String, bool), String> {
    let now = clock(args)?;
    let mut keys = Keys::load(args)?;
    let edge = edge::EdgeCheck::load(args, &mut keys)?;
    let input = read_input(args)?;
    let providers: Vec<&JwtProvider> = keys.providers.iter().collect();
    let mut inspection = match token::inspect_at(&input, now, &providers) {
        Ok(inspection) => inspection,
        Err(error) => {
            let message = error.to_string();
            if let Some(edge) = &edge {
                print_edge_without_token(args, edge, &input, &message, now)?;
            }
            return Err(message);
        }
    };
    let report = keys.check(&mut inspection);
    let nested_report = keys.check_nested(&inspection);
    let invalid = keys.judges_invalid(&inspection, &report);
    let format = args.output.unwrap_or(OutputFormat::Text);
    let edge_output = edge.as_ref().map(|edge| match format {
        OutputFormat::Json | OutputFormat::Ndjson => {
            EdgeOutput::Json(edge.json(&input, &inspection, now, args.show_secrets))
        }
        OutputFormat::Text => {
            EdgeOutput::Text(edge.text(&input, &inspection, now, args.show_secrets))
        }
    });
    let reports = Reports {
        outer: &report,
        nested: nested_report.as_ref(),
    };
    let output = render(args, &inspection, reports, edge_output)?;
    Ok((output, invalid))
}

/// Prints what the edge decides for `input`, in which decode found no token (`message` gives
/// the reason), because the EdgeWorker still responds to such a request. Prints nothing for
/// input that is not a request. The exit status stays that of input without a token.
fn print_edge_without_token(
    args: &DecodeArgs,
    edge: &edge::EdgeCheck,
    input: &str,
    message: &str,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let format = args.output.unwrap_or(OutputFormat::Text);
    let output = match format {
        OutputFormat::Json | OutputFormat::Ndjson => {
            let Some(edge) = edge.json_without_token(input, now) else {
                return Ok(());
            };
            json_document(&json!({"error": message, "edge": edge}), format)?
        }
        OutputFormat::Text => {
            let Some(edge) = edge.text_without_token(input, now) else {
                return Ok(());
            };
            crate::output::escape_terminal_controls(edge.trim_start_matches('\n')).into_owned()
        }
    };
    write_results(&mut std::io::stdout().lock(), &mut output.into_bytes())?;
    Ok(())
}

/// Decodes as [`decode`] does for `args` without keys or an edge profile: the signature is
/// unverified and only the token's own problems make it invalid.
fn decode_token_only(args: &DecodeArgs) -> Result<(String, bool), String> {
    let now = clock(args)?;
    let input = read_input(args)?;
    let inspection = token::inspect(&input, now).map_err(|error| error.to_string())?;
    let report = no_keys_report(&inspection);
    let nested_report = inspection.nested.as_deref().map(no_keys_report);
    let reports = Reports {
        outer: &report,
        nested: nested_report.as_ref(),
    };
    let output = render(args, &inspection, reports, None)?;
    Ok((output, inspection.is_invalid()))
}

/// The edge profile's part of a single decode's output.
enum EdgeOutput {
    Json(Value),
    Text(String),
}

/// Reads the pasted text: the TOKEN words, the file they name, or standard input.
fn read_input(args: &DecodeArgs) -> Result<String, String> {
    Ok(match args.token_text().as_deref() {
        // `Bearer -` puts the scheme in front of the token read from standard input.
        Some(words)
            if args.token.len() > 1 && args.token.last().is_some_and(|word| word == "-") =>
        {
            let prefix = words.trim_end_matches('-');
            format!("{prefix}{}", read_stdin()?.trim())
        }
        Some(path) if std::path::Path::new(path).is_file() => read_token_file(path)?,
        Some(token) if token != "-" => {
            check_not_a_path(token)?;
            token.to_owned()
        }
        _ => read_stdin()?,
    })
}

/// The signature reports of a token and of its nested token.
#[derive(Clone, Copy)]
struct Reports<'a> {
    outer: &'a SignatureReport,
    /// The report for [`Inspection::nested`], present when the token has one.
    nested: Option<&'a SignatureReport>,
}

/// Writes the output of a single decode in the format `args` choose.
fn render(
    args: &DecodeArgs,
    inspection: &Inspection,
    reports: Reports,
    edge: Option<EdgeOutput>,
) -> Result<String, String> {
    let format = args.output.unwrap_or(OutputFormat::Text);
    let report = reports.outer;
    Ok(match format {
        OutputFormat::Json | OutputFormat::Ndjson => {
            let mut value = to_json(inspection, report, args.show_secrets);
            value.nested = nested::to_json(inspection, reports.nested, args.show_secrets);
            value.edge = match edge {
                Some(EdgeOutput::Json(json)) => Some(json),
                _ => None,
            };
            if format == OutputFormat::Json {
                json_document(&value, format)?
            } else {
                let mut line = Vec::new();
                compact::write(&value, &mut line)
                    .map_err(|error| format!("failed to write JSON: {error}"))?;
                line.push(b'\n');
                String::from_utf8(line).map_err(|error| format!("failed to write JSON: {error}"))?
            }
        }
        OutputFormat::Text => {
            let mut text = to_text(inspection, report, args.show_secrets);
            text.push_str(&nested::to_text(
                inspection,
                reports.nested,
                args.show_secrets,
            ));
            if let Some(EdgeOutput::Text(edge)) = edge {
                text.push_str(&edge);
            }
            crate::output::escape_terminal_controls(&text).into_owned()
        }
    })
}

/// Writes `value` as one JSON document and a newline: indented for `-o json`, on one line for
/// `-o ndjson`.
fn json_document(value: &impl Serialize, format: OutputFormat) -> Result<String, String> {
    let mut text = if format == OutputFormat::Json {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .map_err(|error| format!("failed to write JSON: {error}"))?;
    text.push('\n');
    Ok(text)
}

fn clock(args: &DecodeArgs) -> Result<DateTime<Utc>, String> {
    match &args.at {
        Some(value) => parse_at(value),
        None => Ok(Utc::now()),
    }
}

/// Decodes one token per line and prints one JSON object per line as it goes; returns whether any
/// line was invalid (a line without a token counts as invalid).
fn run_batch(args: &DecodeArgs) -> Result<bool, String> {
    if args.output == Some(OutputFormat::Text) {
        return Err(
            "--batch prints one JSON object per line; drop -o text or use -o ndjson".to_owned(),
        );
    }
    let now = clock(args)?;
    let mut keys = Keys::load(args)?;
    let edge = edge::EdgeCheck::load(args, &mut keys)?;
    let input: Box<dyn Read> = match args.token_text().as_deref() {
        Some(path) if path != "-" => Box::new(File::open(path).map_err(|error| {
            format!("cannot read the batch file {path:?}: {error}; check the path")
        })?),
        _ => Box::new(std::io::stdin()),
    };
    let mut reader = BufReader::with_capacity(INPUT_BUFFER_BYTES, input);
    let mut stdout = std::io::stdout().lock();
    let mut any_invalid = false;
    let mut line_number = 0_u64;
    let mut out = Vec::new();
    let mut line_bytes = Vec::new();
    loop {
        // Results are written in blocks, and whenever the lines read so far are done: the next
        // read may wait for input that is typed or comes from a follower (`tail -f`).
        if reader.buffer().is_empty() && !write_results(&mut stdout, &mut out)? {
            return Ok(any_invalid);
        }
        let line = match read_line(&mut reader, &mut line_bytes) {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(error) => {
                // The results decoded so far are written before the error is reported.
                if !write_results(&mut stdout, &mut out)? {
                    return Ok(any_invalid);
                }
                return Err(error);
            }
        };
        line_number += 1;
        let written = match line {
            // Blank as `decode` alone trims: other whitespace is a line without a token.
            Line::Text(text)
                if text
                    .trim_matches(|c: char| c.is_ascii_whitespace())
                    .is_empty() =>
            {
                continue;
            }
            Line::Text(text) => match token::inspect(text, now) {
                Ok(mut inspection) => {
                    let report = keys.check(&mut inspection);
                    let nested_report = keys.check_nested(&inspection);
                    any_invalid |= keys.judges_invalid(&inspection, &report);
                    let mut object = to_json(&inspection, &report, args.show_secrets);
                    object.nested =
                        nested::to_json(&inspection, nested_report.as_ref(), args.show_secrets);
                    object.edge = edge
                        .as_ref()
                        .map(|edge| edge.json(text, &inspection, now, args.show_secrets));
                    object.line = Some(line_number);
                    compact::write(&object, &mut out)
                }
                Err(error) => {
                    any_invalid = true;
                    let mut object = json!({"line": line_number, "error": error.to_string()});
                    if let Some(edge) = edge
                        .as_ref()
                        .and_then(|edge| edge.json_without_token(text, now))
                    {
                        object["edge"] = edge;
                    }
                    serde_json::to_writer(&mut out, &object)
                }
            },
            Line::Bad(error) => {
                any_invalid = true;
                let object = json!({"line": line_number, "error": error});
                serde_json::to_writer(&mut out, &object)
            }
        };
        written.map_err(|error| format!("failed to write JSON: {error}"))?;
        out.push(b'\n');
        if out.len() >= OUTPUT_BLOCK_BYTES && !write_results(&mut stdout, &mut out)? {
            return Ok(any_invalid);
        }
    }
    write_results(&mut stdout, &mut out)?;
    Ok(any_invalid)
}

/// Size of the blocks of results a batch writes while more input is at hand.
const OUTPUT_BLOCK_BYTES: usize = 64 * 1024;

/// Size of the batch input buffer: a pipe then hands over up to its own capacity in one read, and
/// the results of all its lines go out in one write.
const INPUT_BUFFER_BYTES: usize = 64 * 1024;

/// Writes and empties the pending results. Returns false when the reader of standard output has
/// gone (`| head`), so that the caller stops quietly with the exit status it has.
fn write_results(stdout: &mut impl std::io::Write, out: &mut Vec<u8>) -> Result<bool, String> {
    match stdout.write_all(out) {
        Ok(()) => {
            out.clear();
            Ok(true)
        }
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(error) => Err(format!("failed to write standard output: {error}")),
    }
}

/// One line of batch input.
enum Line<'a> {
    Text(&'a str),
    /// A line that cannot hold a token, with the reason.
    Bad(String),
}

/// Reads one line of at most [`MAX_INPUT_BYTES`] into `bytes`, which one batch reuses for every
/// line, or returns `None` at the end of the input.
fn read_line<'a>(
    reader: &mut dyn BufRead,
    bytes: &'a mut Vec<u8>,
) -> Result<Option<Line<'a>>, String> {
    bytes.clear();
    // Two bytes more than the limit leave room for the CRLF after a line of the limit.
    let read = reader
        .take(MAX_INPUT_BYTES + 2)
        .read_until(b'\n', bytes)
        .map_err(|error| format!("failed to read the batch input: {error}"))?;
    if read == 0 {
        return Ok(None);
    }
    // The first compare is false for every line under the limit, so the loop pays no more.
    if read as u64 > MAX_INPUT_BYTES && content_len(bytes) as u64 > MAX_INPUT_BYTES {
        if !bytes.ends_with(b"\n") {
            // Skip the rest of the over-long line so the next line starts in the right place.
            skip_line(reader)
                .map_err(|error| format!("failed to read the batch input: {error}"))?;
        }
        return Ok(Some(Line::Bad(format!(
            "line is longer than {} MiB; a token is far shorter",
            MAX_INPUT_BYTES / 1024 / 1024
        ))));
    }
    Ok(Some(match std::str::from_utf8(bytes) {
        Ok(text) => Line::Text(text),
        Err(error) => Line::Bad(format!(
            "line is not UTF-8 text (invalid byte at offset {}); a token is ASCII",
            error.valid_up_to()
        )),
    }))
}

/// Returns the length of `line` without its line ending, LF or CRLF.
fn content_len(line: &[u8]) -> usize {
    let ending = if line.ends_with(b"\r\n") {
        2
    } else {
        usize::from(line.ends_with(b"\n"))
    };
    line.len() - ending
}

/// Discards the input up to and including the next newline one buffer at a time, so that a line
/// without end (`/dev/zero`, a binary file) costs no memory.
fn skip_line(reader: &mut dyn BufRead) -> std::io::Result<()> {
    loop {
        let buffer = match reader.fill_buf() {
            Ok(buffer) => buffer,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if buffer.is_empty() {
            return Ok(());
        }
        if let Some(end) = buffer.iter().position(|&byte| byte == b'\n') {
            reader.consume(end + 1);
            return Ok(());
        }
        let length = buffer.len();
        reader.consume(length);
    }
}

/// The `--policies` files read for `--workload`, and the policies that cover it.
struct WorkloadPolicies {
    files: PolicyFiles,
    /// The workload with the labels `idflow check --workload` and the what-if rows take for its
    /// name.
    target: Workload,
    applied: AppliedPolicies,
}

impl WorkloadPolicies {
    /// Reads `--policies`, with the namespace of `workload` (`NS/NAME`) for objects that name
    /// none, and finds the policies that cover it.
    fn load(args: &DecodeArgs, workload: &str) -> Result<Self, String> {
        let (namespace, name) =
            super::check::split_workload(workload).map_err(|error| error.to_string())?;
        let mut files = PolicyFiles::default();
        for path in &args.policies {
            let loaded = load_policy_file(path, &namespace).map_err(|error| error.to_string())?;
            files.add(&path.display().to_string(), loaded.policies);
        }
        let settings = MeshSettings::default();
        let target = named::workload_or_default(
            &files.policies,
            &settings.root_namespace,
            &namespace,
            &name,
        );
        let applied = policies_for(&files.policies, &target, &settings);
        Ok(Self {
            files,
            target,
            applied,
        })
    }
}

/// The key sets given on the command line, loaded once per run.
struct Keys {
    sets: Vec<KeySet>,
    /// Messages of sources that were given but could not be used (a failed fetch, a JWKS Envoy
    /// rejects).
    failures: Vec<String>,
    fetcher: Option<Fetcher>,
    /// Whether any key flag was given: then an unverified token is invalid (exit status 1).
    any_key_flag: bool,
    /// Key sets of the `jwtRules` entries covering `--workload`, by issuer.
    policy_sets: Vec<(String, KeySet)>,
    /// The Envoy providers of the `jwtRules` entries covering `--workload`, whose token
    /// locations decide where decode reads the token.
    providers: Vec<JwtProvider>,
    /// `--workload`, for messages.
    workload: Option<String>,
    /// The `jwtRules` entries covering `--workload` whose `jwksUri` could not be fetched.
    unfetched: Vec<unfetched::UnfetchedRule>,
    /// Each `--issuer` key set's label, the issuer given and the issuer its discovery document
    /// declares, when it declares one.
    discovered: Vec<(String, String, Option<String>)>,
}

impl Keys {
    /// Loads every key flag. A source that cannot be read (a missing file, a PEM that does not
    /// parse, an empty secret) is a usage error; a fetch that fails or a JWKS that Envoy rejects
    /// only leaves tokens unverified, and is named in the signature message.
    fn load(args: &DecodeArgs) -> Result<Self, String> {
        let mut keys = Self {
            sets: Vec::new(),
            failures: Vec::new(),
            fetcher: None,
            any_key_flag: !args.keys.jwks.is_empty()
                || !args.keys.issuer.is_empty()
                || !args.keys.pem_keys.is_empty()
                || args.keys.secret_file.is_some()
                || args.keys.secret.is_some()
                || args.workload.is_some(),
            policy_sets: Vec::new(),
            providers: Vec::new(),
            workload: args.workload.clone(),
            unfetched: Vec::new(),
            discovered: Vec::new(),
        };
        if !args.policies.is_empty() && args.edge_profile.is_none() && args.workload.is_none() {
            return Err(
                "--policies needs --edge-profile (to compare with) or --workload NS/NAME (to verify with its keys)"
                    .to_owned(),
            );
        }
        if let Some(workload) = &args.workload {
            keys.load_policy_keys(args, workload)?;
        }
        for source in &args.keys.jwks {
            if source.contains("://") {
                let label = redact::hide_url_credentials(source);
                let result = keys.fetch_jwks(args, SourceKind::Url, &label, source);
                keys.keep(result);
            } else {
                let text = read_text(source, "JWKS file")?;
                let result = KeySet::from_jwks_text(SourceKind::File, source, None, &text)
                    .map_err(|error| error.to_string());
                keys.keep(result);
            }
        }
        for issuer in &args.keys.issuer {
            let result = keys.discover(args, issuer);
            keys.keep(result);
        }
        for path in &args.keys.pem_keys {
            let label = path.display().to_string();
            let text = read_text(&label, "PEM key file")?;
            let set = KeySet::from_pem(&label, &text).map_err(|error| error.to_string())?;
            keys.sets.push(set);
        }
        if let Some(path) = &args.keys.secret_file {
            let label = path.display().to_string();
            let mut secret = std::fs::read(path).map_err(|error| {
                format!("cannot read the secret file {label:?}: {error}; check the path")
            })?;
            // `echo SECRET > FILE` adds a newline that is not part of the secret.
            if secret.ends_with(b"\n") {
                secret.pop();
                if secret.ends_with(b"\r") {
                    secret.pop();
                }
            }
            let set = KeySet::from_secret(&format!("--secret-file {label}"), &secret)
                .map_err(|error| error.to_string())?;
            keys.sets.push(set);
        }
        if let Some(secret) = &args.keys.secret {
            stderr_line!(
                "idflow decode: warning: a secret given with --secret lands in shell history and \
                 process lists; prefer --secret-file"
            );
            let set = KeySet::from_secret("--secret", secret.as_bytes())
                .map_err(|error| error.to_string())?;
            keys.sets.push(set);
        }
        for failure in &keys.failures {
            stderr_line!("idflow decode: warning: {failure}");
        }
        Ok(keys)
    }

    /// Loads the keys of every `jwtRules` entry of the `RequestAuthentication` objects in
    /// --policies that cover `workload`. A `jwksUri` that cannot be fetched leaves its issuer
    /// unverified.
    fn load_policy_keys(&mut self, args: &DecodeArgs, workload: &str) -> Result<(), String> {
        let covering = WorkloadPolicies::load(args, workload)?;
        for notice in &covering.files.notices {
            stderr_line!("idflow decode: warning: {notice}");
        }
        let files = &covering.files;
        let target = &covering.target;
        let applied = &covering.applied;
        // An object defined in several files is labelled with the file whose definition counts.
        let origin = |meta: &ObjectMeta| {
            let object = format!("RequestAuthentication {}/{}", meta.namespace, meta.name);
            files
                .file_of_repeated(&object)
                .map_or_else(String::new, |file| format!(" ({file})"))
        };
        self.add_rule_keys(args, &applied.request_authentication, origin);
        let covering: Vec<_> = applied
            .request_authentication
            .iter()
            .map(|applied| applied.policy.clone())
            .collect();
        // Only the token locations matter here, so no JWKS is supplied for a `jwksUri`.
        if let Some(built) = jwt::build(&covering, &BTreeMap::new(), &MeshSettings::default()) {
            self.providers = built.config().providers.values().cloned().collect();
        }
        if applied.request_authentication.is_empty() {
            stderr_line!(
                "idflow decode: warning: no RequestAuthentication in --policies covers {workload} \
                 (pod labels {}), so the mesh would not check the token there",
                named::labels_text(&target.labels)
            );
        }
        Ok(())
    }

    /// Loads the keys of each `jwtRules` entry of `applied`. `origin` gives the text that follows
    /// an object's name in labels.
    fn add_rule_keys(
        &mut self,
        args: &DecodeArgs,
        applied: &[AppliedRequestAuthentication],
        origin: impl Fn(&ObjectMeta) -> String,
    ) {
        for applied in applied {
            let meta = &applied.policy.metadata;
            let origin = origin(meta);
            for (index, rule) in applied.policy.spec.jwt_rules.iter().enumerate() {
                let label = format!(
                    "RequestAuthentication {}/{}{origin} jwtRules[{index}]",
                    meta.namespace, meta.name
                );
                let result = if !rule.jwks.is_empty() {
                    KeySet::from_jwks_text(SourceKind::Policy, &label, None, &rule.jwks)
                        .map_err(|error| error.to_string())
                } else if !rule.jwks_uri.is_empty() {
                    self.fetch_rule_jwks(args, &label, rule)
                } else {
                    Err(format!("{label} has neither jwks nor jwksUri"))
                };
                match result {
                    Ok(set) => self.policy_sets.push((rule.issuer.clone(), set)),
                    Err(message) => self.failures.push(message),
                }
            }
        }
    }

    /// Fetches the JWKS of `rule`'s `jwksUri`, and records the rule when the fetch fails.
    fn fetch_rule_jwks(
        &mut self,
        args: &DecodeArgs,
        label: &str,
        rule: &JwtRule,
    ) -> Result<KeySet, String> {
        let text = self
            .fetcher(args)?
            .get(&rule.jwks_uri)
            .map_err(|error| error.to_string());
        match text {
            Ok(text) => {
                KeySet::from_jwks_text(SourceKind::Policy, label, Some(&rule.jwks_uri), &text)
                    .map_err(|error| error.to_string())
            }
            Err(message) => {
                self.unfetched.push(unfetched::UnfetchedRule {
                    label: label.to_owned(),
                    issuer: rule.issuer.clone(),
                    jwks_uri: rule.jwks_uri.clone(),
                });
                Err(message)
            }
        }
    }

    fn keep(&mut self, result: Result<KeySet, String>) {
        match result {
            Ok(set) => self.sets.push(set),
            Err(message) => self.failures.push(message),
        }
    }

    /// Returns the fetcher, built on first use; a bad --ca-file is a usage error, but it is
    /// reported as a failure of the source that needed it.
    fn fetcher(&mut self, args: &DecodeArgs) -> Result<&mut Fetcher, String> {
        if self.fetcher.is_none() {
            let fetcher = Fetcher::new(FetchSettings {
                connect_timeout: args.keys.connect_timeout,
                timeout: args.keys.fetch_timeout,
                max_bytes: args.keys.max_fetch_bytes,
                ca_file: args.keys.ca_file.clone(),
            })
            .map_err(|error| error.to_string())?;
            self.fetcher = Some(fetcher);
        }
        self.fetcher
            .as_mut()
            .ok_or_else(|| "the HTTP client is missing".to_owned())
    }

    fn fetch_jwks(
        &mut self,
        args: &DecodeArgs,
        kind: SourceKind,
        label: &str,
        url: &str,
    ) -> Result<KeySet, String> {
        let text = self
            .fetcher(args)?
            .get(url)
            .map_err(|error| error.to_string())?;
        KeySet::from_jwks_text(kind, label, Some(url), &text).map_err(|error| error.to_string())
    }

    /// Fetches the issuer's discovery document, then the JWKS its `jwks_uri` names.
    fn discover(&mut self, args: &DecodeArgs, issuer: &str) -> Result<KeySet, String> {
        let url = keys::discovery_url(issuer);
        let document = self
            .fetcher(args)?
            .get(&url)
            .map_err(|error| error.to_string())?;
        let (jwks_uri, warning) = keys::jwks_uri_from_discovery(&url, issuer, &document)
            .map_err(|error| error.to_string())?;
        if let Some(warning) = warning {
            stderr_line!("idflow decode: warning: {warning}");
        }
        let label = format!(
            "{} (jwks_uri of issuer {})",
            redact::hide_url_credentials(&jwks_uri),
            redact::hide_url_credentials(issuer)
        );
        let declared = serde_json::from_str::<serde_json::Value>(&document)
            .ok()
            .and_then(|document| document.get("issuer")?.as_str().map(str::to_owned));
        self.discovered
            .push((label.clone(), issuer.to_owned(), declared));
        self.fetch_jwks(args, SourceKind::Issuer, &label, &jwks_uri)
    }

    /// Checks the token's signature. When no key matches its `kid`, each fetched JWKS is fetched
    /// once more (a key rotation publishes the new key before tokens carry it) and the check is
    /// repeated; that refetch happens at most once per URL per run. With `--workload`, the keys
    /// of the `jwtRules` entries for the token's issuer are tried too, as the workload's Envoy
    /// picks its provider by `iss`. A token verified with the keys of an `--issuer` whose `iss` is
    /// missing or names another issuer gets the problem [`issuer_mismatch`]. When whitespace splits
    /// the signature segment, the token Envoy reads from the value as sent is checked first, and
    /// replaces the inspection when it verifies ([`keys::settle_as_sent`]).
    fn check(&mut self, inspection: &mut Inspection) -> SignatureReport {
        if !self.any_key_flag {
            return no_keys_report(inspection);
        }
        if let Some(as_sent) = inspection.as_sent.take() {
            let mut as_sent = *as_sent;
            let report = self.check(&mut as_sent);
            if let Some(report) = keys::settle_as_sent(inspection, as_sent, report) {
                return report;
            }
        }
        let issuer = inspection
            .claims
            .as_ref()
            .and_then(|claims| claims.get("iss"))
            .and_then(serde_json::Value::as_str);
        let mut report = self.check_sets(inspection, issuer);
        if report.status == SignatureStatus::KeyNotFound {
            let refetched = self.refetch(issuer);
            if !refetched.is_empty() {
                report = self.check_sets(inspection, issuer);
                let _ = write!(
                    report.message,
                    " (after fetching {} again because no key matched the token's `kid`)",
                    refetched.join(", ")
                );
            }
        }
        let without_rule_keys = self
            .policy_sets
            .iter()
            .all(|(rule_issuer, _)| Some(rule_issuer.as_str()) != issuer);
        let unfetched = self.workload.as_deref().and_then(|workload| {
            unfetched::unfetched_rule_verdict(
                &self.unfetched,
                inspection.token.expose(),
                issuer,
                workload,
            )
        });
        if let Some(verdict) = unfetched.filter(|_| without_rule_keys) {
            report.message.push_str(&verdict);
        } else if let Some(workload) = &self.workload
            && without_rule_keys
        {
            let _ = write!(
                report.message,
                " (no jwtRules entry covering {workload} has the token's issuer {}, so its Envoy \
                 answers 401 `Jwt issuer is not configured`)",
                issuer.map_or_else(|| "(none)".to_owned(), |issuer| format!("{issuer:?}"))
            );
        }
        let verified_by = self
            .discovered
            .iter()
            .find(|(label, _, _)| report.key_source.as_deref() == Some(label.as_str()))
            .map(|(_, discovered, declared)| (discovered.as_str(), declared.clone()));
        // Envoy also rejects a token without `iss` when the provider names an issuer, as
        // istiod's providers do (401 `Jwt issuer is not configured`).
        if report.status == SignatureStatus::Verified
            && let Some((discovered, declared)) = verified_by
            && issuer != Some(discovered)
            && issuer != declared.as_deref()
        {
            inspection
                .problems
                .push(issuer_mismatch(issuer, discovered));
            inspection.problems.sort_by_key(|problem| problem.severity);
        }
        report
    }

    /// Checks the signature of the token nested in `inspection`'s payload, when it has one, with
    /// the same keys as the outer token but without fetching a JWKS again. Its `iss` picks the
    /// `jwtRules` sets, as for the outer token.
    fn check_nested(&self, inspection: &Inspection) -> Option<SignatureReport> {
        let inner = inspection.nested.as_deref()?;
        if !self.any_key_flag {
            return Some(no_keys_report(inner));
        }
        let issuer = inner
            .claims
            .as_ref()
            .and_then(|claims| claims.get("iss"))
            .and_then(serde_json::Value::as_str);
        Some(self.check_sets(inner, issuer))
    }

    /// Checks the token against the key flags' sets, then the `jwtRules` sets for `issuer`.
    fn check_sets(&self, inspection: &Inspection, issuer: Option<&str>) -> SignatureReport {
        let policy = self
            .policy_sets
            .iter()
            .filter(|(rule_issuer, _)| Some(rule_issuer.as_str()) == issuer)
            .map(|(_, set)| set);
        let sets: Vec<&KeySet> = self.sets.iter().chain(policy).collect();
        keys::check_signature(inspection, &sets, &self.failures)
    }

    /// Fetches each fetched JWKS among those [`Keys::check_sets`] uses once more, and returns the
    /// URLs fetched. Every set from a fetched URL takes the new keys, also one for another issuer,
    /// because the fetcher fetches a URL again only once per run.
    fn refetch(&mut self, issuer: Option<&str>) -> Vec<String> {
        let Some(fetcher) = self.fetcher.as_mut() else {
            return Vec::new();
        };
        let policy = self
            .policy_sets
            .iter()
            .filter(|(rule_issuer, _)| Some(rule_issuer.as_str()) == issuer)
            .map(|(_, set)| set);
        let mut urls: Vec<String> = self
            .sets
            .iter()
            .chain(policy)
            .filter_map(|set| set.url.clone())
            .collect();
        urls.dedup();
        let mut refetched = Vec::new();
        for url in urls {
            match fetcher.refresh(&url) {
                None => {}
                Some(Ok(text)) => {
                    let all = self
                        .sets
                        .iter_mut()
                        .chain(self.policy_sets.iter_mut().map(|(_, set)| set));
                    for set in all.filter(|set| set.url.as_deref() == Some(url.as_str())) {
                        match KeySet::from_jwks_text(set.kind, &set.label, Some(&url), &text) {
                            Ok(fresh) => *set = fresh,
                            Err(error) => self.failures.push(error.to_string()),
                        }
                    }
                    refetched.push(redact::hide_url_credentials(&url).into_owned());
                }
                Some(Err(error)) => self.failures.push(error.to_string()),
            }
        }
        refetched
    }

    /// Returns true when the token earns exit status 1: a problem invalidates it, or keys were
    /// given and the signature was not verified.
    fn judges_invalid(&self, inspection: &Inspection, report: &SignatureReport) -> bool {
        inspection.is_invalid() || (self.any_key_flag && report.status != SignatureStatus::Verified)
    }
}

/// Returns the problem of a token whose `iss` is `issuer` (`None` without one) but whose
/// signature the keys of `discovered`, given with `--issuer`, verified. Istio pairs each issuer
/// with its keys, so Envoy finds no provider for the token.
fn issuer_mismatch(issuer: Option<&str>, discovered: &str) -> token::Problem {
    let discovered = redact::hide_url_credentials(discovered);
    let iss = issuer.map_or_else(
        || "no `iss`".to_owned(),
        |issuer| format!("`iss` {issuer:?}"),
    );
    token::Problem::error(
        "issuer_mismatch",
        format!(
            "the token has {iss}, but the keys of issuer {discovered:?} (--issuer) verified it. A \
             RequestAuthentication for {discovered:?} does not accept it: Envoy returns 401 `Jwt \
             issuer is not configured`. Pass the token's own issuer to --issuer, or use a token \
             that issuer {discovered:?} issued"
        ),
    )
}

/// The signature object when no keys were given: nothing checked.
fn no_keys_report(inspection: &Inspection) -> SignatureReport {
    SignatureReport {
        status: SignatureStatus::Unverified,
        alg: signature_alg(inspection).map(str::to_owned),
        kid: inspection.kid().map(str::to_owned),
        key_source: None,
        key_source_kind: None,
        key_index: None,
        envoy_status: None,
        message: "no keys given; pass --jwks, --issuer, --key or --secret-file to verify"
            .to_owned(),
    }
}

/// Reads a key file named on the command line; failure is a usage error.
fn read_text(path: &str, what: &str) -> Result<String, String> {
    let bytes = std::fs::read(path)
        .map_err(|error| format!("cannot read the {what} {path:?}: {error}; check the path"))?;
    String::from_utf8(bytes).map_err(|_| format!("the {what} {path:?} is not UTF-8 text"))
}

/// Parses `--at` as RFC 3339 or whole Unix seconds.
/// Parses `--at` as `idflow check` does, whose error hides a token given by mistake.
fn parse_at(value: &str) -> Result<DateTime<Utc>, String> {
    super::check::parse_time(value).map_err(|error| error.to_string())
}

fn read_stdin() -> Result<String, String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        stderr_line!("idflow decode: reading the token from standard input; end it with Ctrl-D");
    }
    read_bounded(stdin.lock(), "standard input")
}

/// Reads the token from the file that the TOKEN argument names. A real token is very unlikely
/// to be the path of an existing file, so a path is read rather than decoded.
fn read_token_file(path: &str) -> Result<String, String> {
    let file = File::open(path)
        .map_err(|error| format!("cannot read the token file {path:?}: {error}; check the path"))?;
    read_bounded(file, &format!("the token file {path:?}"))
}

/// Rejects a TOKEN argument that names a folder or looks like the path of a missing file
/// (`./`, `../`, `/` or `~/` first): no token starts so, and decoding the path itself would report
/// misleading problems.
fn check_not_a_path(argument: &str) -> Result<(), String> {
    let path = std::path::Path::new(argument);
    if path.is_dir() {
        return Err(format!(
            "{argument:?} is a folder, not a token or a token file; give the token, a file that holds it, or - for standard input"
        ));
    }
    // A path with a query (`/api?access_token=…`) is a request target that decode reads.
    let is_request_target = argument.starts_with('/') && argument.contains('?');
    if !is_request_target
        && ["./", "../", "/", "~/"]
            .iter()
            .any(|start| argument.starts_with(start))
    {
        return Err(format!(
            "no file {argument:?}, and a token does not start with a path; check the file name"
        ));
    }
    if looks_like_file_name(argument) {
        return Err(format!(
            "no file {argument:?}, and a token does not end in a file extension; check the file name"
        ));
    }
    Ok(())
}

/// File name endings of the files people keep tokens, keys and requests in.
const FILE_EXTENSIONS: [&str; 9] = [
    "txt", "jwt", "json", "token", "pem", "log", "yaml", "yml", "toml",
];

/// Returns whether `argument` reads as a file name rather than a token: file name characters
/// (folders included) ending in a dot and a [`FILE_EXTENSIONS`] word. A token never ends so: the
/// last segment of a JWT is a signature of 43 characters or more, and that of an opaque token is
/// not such a word.
fn looks_like_file_name(argument: &str) -> bool {
    let Some((stem, extension)) = argument.rsplit_once('.') else {
        return false;
    };
    !stem.is_empty()
        && !stem.ends_with('/')
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && FILE_EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str())
}

/// Reads at most [`MAX_INPUT_BYTES`] of UTF-8 text from `reader`. Errors name it `source_name`.
fn read_bounded(reader: impl std::io::Read, source_name: &str) -> Result<String, String> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("failed to read {source_name}: {error}"))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!(
            "{source_name} is larger than {} MiB; give only the token or the header that holds it",
            MAX_INPUT_BYTES / 1024 / 1024
        ));
    }
    String::from_utf8(bytes).map_err(|error| {
        format!(
            "{source_name} is not UTF-8 text (invalid byte at offset {}); a token is ASCII",
            error.utf8_error().valid_up_to()
        )
    })
}

/// The `decode -o json` object of the DESIGN.md contract. It borrows from the inspection and is
/// written straight out; the fields are in alphabetical order, as scripts have always seen them.
#[derive(Serialize)]
struct DecodeJson<'a> {
    claims: &'a Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    edge: Option<Value>,
    encoded_len: usize,
    fingerprint: &'a str,
    found_as: &'a str,
    header: &'a Option<Value>,
    header_name: &'a Option<String>,
    kind: TokenKind,
    /// The input line, in `--batch` mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
    /// The token nested in the payload (`cty` `JWT`), in the same shape without `nested`.
    #[serde(skip_serializing_if = "Option::is_none")]
    nested: Option<Box<DecodeJson<'a>>>,
    problems: &'a [token::Problem],
    scheme: &'a Option<String>,
    signature: SignatureJson<'a>,
    times: BTreeMap<&'a str, TimeJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
}

/// The `signature` object: the report's fields in alphabetical order, and the signature segment
/// itself with `--show-secrets`.
#[derive(Serialize)]
struct SignatureJson<'a> {
    alg: &'a Option<String>,
    envoy_status: Option<&'a str>,
    key_index: Option<usize>,
    key_source: &'a Option<String>,
    key_source_kind: Option<keys::SourceKind>,
    kid: &'a Option<String>,
    message: &'a str,
    status: SignatureStatus,
    /// Only with `--show-secrets`, and then `null` for a token without a signature segment.
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<ShownSecret<'a>>,
}

/// A secret shown on request: the text, or `null` when the token has none.
#[derive(Serialize)]
#[serde(transparent)]
struct ShownSecret<'a>(Option<&'a str>);

#[derive(Serialize)]
struct TimeJson<'a> {
    relative_seconds: i64,
    time: &'a str,
}

/// Builds the `decode -o json` object of the DESIGN.md contract.
fn to_json<'a>(
    inspection: &'a Inspection,
    report: &'a SignatureReport,
    show_secrets: bool,
) -> DecodeJson<'a> {
    let times = inspection
        .times
        .iter()
        .map(|time| {
            let entry = TimeJson {
                relative_seconds: time.relative_seconds,
                time: &time.time,
            };
            (time.claim.as_str(), entry)
        })
        .collect();
    DecodeJson {
        claims: &inspection.claims,
        edge: None,
        encoded_len: inspection.encoded_len,
        fingerprint: &inspection.fingerprint,
        found_as: &inspection.found_as,
        header: &inspection.header,
        header_name: &inspection.header_name,
        kind: inspection.kind,
        line: None,
        nested: None,
        problems: &inspection.problems,
        scheme: &inspection.scheme,
        signature: SignatureJson {
            alg: &report.alg,
            envoy_status: report.envoy_status,
            key_index: report.key_index,
            key_source: &report.key_source,
            key_source_kind: report.key_source_kind,
            kid: &report.kid,
            message: &report.message,
            status: report.status,
            value: show_secrets.then(|| ShownSecret(inspection.signature_segment())),
        },
        times,
        token: show_secrets.then(|| inspection.token.expose()),
    }
}

/// Returns the signature algorithm, which a JWE lacks because its `alg` names key management.
fn signature_alg(inspection: &Inspection) -> Option<&str> {
    match inspection.kind {
        TokenKind::Jws => inspection.alg(),
        TokenKind::Jwe | TokenKind::Opaque => None,
    }
}

/// Builds the readable summary.
fn to_text(inspection: &Inspection, report: &SignatureReport, show_secrets: bool) -> String {
    let mut out = String::new();
    let kind = match inspection.kind {
        TokenKind::Jws => "JWS (signed JWT)",
        TokenKind::Jwe => "JWE (encrypted JWT)",
        TokenKind::Opaque => "opaque token",
    };
    let _ = writeln!(out, "kind         {kind}");
    let _ = writeln!(out, "found as     {}", inspection.found_as);
    let _ = writeln!(
        out,
        "size         {} bytes, fingerprint {}",
        inspection.encoded_len, inspection.fingerprint
    );
    let status = match report.status {
        SignatureStatus::Verified => "verified",
        SignatureStatus::Invalid => "invalid",
        SignatureStatus::Unverified => "unverified",
        SignatureStatus::KeyNotFound => "key not found",
    };
    let alg = report
        .alg
        .as_deref()
        .map_or_else(|| "no alg".to_owned(), |alg| format!("alg {alg}"));
    let key_id = report
        .kid
        .as_deref()
        .map_or_else(|| "no kid".to_owned(), |kid| format!("kid {kid:?}"));
    let _ = writeln!(out, "signature    {status} ({alg}, {key_id})");
    let _ = writeln!(out, "             {}", report.message);
    if show_secrets {
        let _ = writeln!(out, "token        {}", inspection.token.expose());
    }

    for (title, value) in [
        ("header", &inspection.header),
        ("claims", &inspection.claims),
    ] {
        if let Some(value) = value {
            let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
            let _ = writeln!(out, "\n{title}");
            for line in pretty.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
    }

    if !inspection.times.is_empty() {
        let _ = writeln!(out, "\ntimes");
        for time in &inspection.times {
            let phrase = relative_phrase(time.relative_seconds);
            let _ = writeln!(out, "  {:<4} {}  ({phrase})", time.claim, time.time);
        }
    }

    let _ = writeln!(out, "\nproblems");
    if inspection.problems.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for problem in &inspection.problems {
        let severity = match problem.severity {
            token::Severity::Error => "error",
            token::Severity::Warning => "warning",
            token::Severity::Note => "note",
        };
        let _ = writeln!(out, "  {severity:<8} {}: {}", problem.code, problem.message);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_not_tokens() {
        for name in [
            "token.txt",
            "jwt.JSON",
            "my_token-2.jwt",
            "tokens/token.txt",
            "token.jwt.txt",
            "creds.yml",
        ] {
            assert!(looks_like_file_name(name), "{name}");
        }
        for token in [
            "ya29.a0AfB_byC",
            "opaque-token",
            ".txt",
            "x.y.z",
            "dir/.txt",
        ] {
            assert!(!looks_like_file_name(token), "{token}");
        }
    }

    #[test]
    fn at_unix_seconds() {
        let time = parse_at("1741086130").expect("valid");
        assert_eq!(time.timestamp(), 1_741_086_130);
    }

    #[test]
    fn at_rfc3339_offset() {
        let time = parse_at("2025-03-04T12:02:10+01:00").expect("valid");
        assert_eq!(time.timestamp(), 1_741_086_130);
    }

    #[test]
    fn at_invalid_names_value() {
        let error = parse_at("yesterday").expect_err("invalid");
        assert!(error.contains("\"yesterday\""), "{error}");
    }
}
