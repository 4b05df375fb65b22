//! Saved access logs and edge records read from files or from memory.

use std::path::Path;

use crate::accesslog::{LogParser, credentials_notice};
use crate::edge;
use crate::flow::{self, Observation};
use crate::model::{Flow, HopRole};

/// The format of one input, recognised from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// Envoy access log lines (TEXT or JSON encoding).
    AccessLog,
    /// DataStream 2 JSON records, one a line.
    DataStream2,
}

/// One input: a name (the file name, which names the proxy for access logs) and its text.
#[derive(Debug, Clone)]
pub struct Input {
    pub name: String,
    pub text: String,
}

/// Flows built from a set of inputs, with what could not be read.
#[derive(Debug, Default)]
pub struct Loaded {
    pub flows: Vec<Flow>,
    /// Records read, over all inputs.
    pub records: usize,
    /// One line per input with problems, e.g. `shop.orders.log: 3 unparsable access log lines (first at line 7: …)`.
    pub notices: Vec<String>,
}

/// Recognises an input's format from its first non-blank line.
///
/// DataStream 2 JSON records carry `reqId` (one a line, or in a JSON array), Envoy's JSON access log is
/// any other JSON object, and Envoy's TEXT access log starts with `[` and a timestamp.
pub fn detect_format(text: &str) -> Option<InputFormat> {
    let first = text.lines().map(str::trim).find(|line| !line.is_empty())?;
    if let Some(rest) = first.strip_prefix('[') {
        // A JSON array of DataStream 2 records (as an HTTPS push delivers them) also starts with `[`,
        // but an access log line starts with `[` and a timestamp. A JSON array of anything else is
        // neither.
        let rest = rest.trim_start();
        let next = if rest.is_empty() {
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .nth(1)
                .unwrap_or("")
        } else {
            rest
        };
        if next.starts_with('{') || next.starts_with(']') {
            return text
                .contains("\"reqId\"")
                .then_some(InputFormat::DataStream2);
        }
        return Some(InputFormat::AccessLog);
    }
    if first.starts_with('{') {
        if first.contains("\"reqId\"") {
            return Some(InputFormat::DataStream2);
        }
        return Some(InputFormat::AccessLog);
    }
    None
}

/// Derives a mesh hop's location and role from an access log's file name `NAMESPACE.WORKLOAD.log`.
///
/// A workload whose name contains `gateway` is a gateway; any other is a sidecar. A name without a
/// namespace part is used whole as the workload.
pub fn location_from_file_name(name: &str) -> (String, HopRole) {
    let file = Path::new(name)
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or(name);
    let stem = file.strip_suffix(".log").unwrap_or(file);
    let stem = stem.strip_suffix(".json").unwrap_or(stem);
    let location = match stem.split_once('.') {
        Some((namespace, workload)) if !namespace.is_empty() && !workload.is_empty() => {
            format!("{namespace}/{workload}")
        }
        _ => stem.to_owned(),
    };
    let role = if location.contains("gateway") {
        HopRole::Gateway
    } else {
        HopRole::Sidecar
    };
    (location, role)
}

/// Flows kept by default when loading saved files; older ones are dropped and counted.
pub const DEFAULT_MAX_FLOWS: usize = 100_000;

/// Reads every input, correlates the records into at most [`DEFAULT_MAX_FLOWS`] flows, and reports
/// unreadable lines as notices.
pub fn load_inputs(inputs: &[Input]) -> Loaded {
    load_inputs_bounded(inputs, DEFAULT_MAX_FLOWS)
}

/// Reads every input and correlates the records into at most `max_flows` flows, keeping the newest.
pub fn load_inputs_bounded(inputs: &[Input], max_flows: usize) -> Loaded {
    let mut observations: Vec<Observation> = Vec::new();
    let mut notices = Vec::new();

    for input in inputs {
        match detect_format(&input.text) {
            Some(InputFormat::AccessLog) => {
                let (location, role) = location_from_file_name(&input.name);
                if !location.contains('/') {
                    notices.push(format!(
                        "{}: the file name does not say which namespace the proxy is in; name it NAMESPACE.WORKLOAD.log (e.g. shop.orders.log); its hops are shown as {location:?}",
                        input.name
                    ));
                }
                read_access_log(input, &location, role, &mut observations, &mut notices);
            }
            Some(InputFormat::DataStream2) => read_ds2(input, &mut observations, &mut notices),
            None if input.text.trim().is_empty() => notices.push(format!("{}: empty", input.name)),
            None => notices.push(format!(
                "{}: skipped: neither an Envoy access log (TEXT lines starting with `[` and a time, or JSON objects) nor DataStream 2 records (JSON objects with `reqId`)",
                input.name
            )),
        }
    }

    let records = observations.len();
    tracing::info!(
        inputs = inputs.len(),
        records,
        notices = notices.len(),
        "inputs loaded"
    );
    for notice in &notices {
        tracing::warn!("{notice}");
    }
    let correlated = flow::correlate_bounded(observations, max_flows);
    notices.extend(correlation_notices(&correlated, max_flows));
    Loaded {
        flows: correlated.flows,
        records,
        notices,
    }
}

/// Returns one notice for each kind of record or flow the correlation left out.
fn correlation_notices(correlated: &flow::Correlated, max_flows: usize) -> Vec<String> {
    let mut notices = Vec::new();
    if correlated.duplicates > 0 {
        notices.push(format!(
            "{} duplicate access log records merged (the same proxy, time, request, status and ids as a record already read; is a log given twice?)",
            correlated.duplicates
        ));
    }
    if correlated.hops_dropped > 0 {
        notices.push(format!(
            "{} records dropped from flows that already had {} hops (many requests sharing one request id?)",
            correlated.hops_dropped,
            flow::MAX_HOPS_PER_FLOW
        ));
    }
    if correlated.evicted > 0 {
        notices.push(format!(
            "kept the newest {} and dropped {} older; raise --max-flows to keep more",
            crate::token::plural(max_flows, "flow"),
            correlated.evicted
        ));
    }
    notices
}

fn read_access_log(
    input: &Input,
    location: &str,
    role: HopRole,
    observations: &mut Vec<Observation>,
    notices: &mut Vec<String>,
) {
    let mut failed = Failures::default();
    let mut parser = LogParser::new();
    for (index, line) in input.text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parser.parse_observation(line, location, role) {
            Ok(observation) => observations.push(observation),
            Err(error) => failed.add(index + 1, &error.to_string()),
        }
    }
    failed.report(&input.name, "unparsable access log line", notices);
    if let Some(notice) = credentials_notice(parser.stats().credentials_logged) {
        notices.push(format!("{}: {notice}", input.name));
    }
}

fn read_ds2(input: &Input, observations: &mut Vec<Observation>, notices: &mut Vec<String>) {
    let batch = edge::read_ds2(&input.text);
    observations.extend(batch.records.iter().map(edge::EdgeRecord::observe));
    let mut failed = Failures::default();
    for error in &batch.errors {
        failed.add(error.line, &error.error.to_string());
    }
    failed.report(&input.name, "DataStream 2 read error", notices);
}

/// Lines of one input that could not be parsed: a count and the first example.
#[derive(Default)]
struct Failures {
    count: usize,
    first: Option<(usize, String)>,
}

impl Failures {
    fn add(&mut self, line_number: usize, message: &str) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some((line_number, message.to_owned()));
        }
    }

    /// Adds one notice, e.g. `shop.orders.log: 3 unparsable access log lines (first at line 7: …)`.
    fn report(self, name: &str, noun: &str, notices: &mut Vec<String>) {
        if let Some((line_number, message)) = self.first {
            let plural = if self.count == 1 { "" } else { "s" };
            notices.push(format!(
                "{name}: {} {noun}{plural} (first at line {line_number}: {message})",
                self.count
            ));
        }
    }
}
