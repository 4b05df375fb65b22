//! DataStream 2 `ewUsageInfo`: one entry per event handler, each
//! `//id/version/handler/offReason/logicExecuted/status[/revision/overLogLimit/continueOnError/botStage]/#initCpu,initWall`.
//!
//! Akamai appended fields over time (revision and log limit, then continue-on-error and the
//! onBotSegmentAvailable stage), so every field after the status is optional and any further field
//! is kept.

use super::EdgeError;
use super::status::{EwEvent, EwStatus};
use super::value::parse_optional;

const FIELD: &str = "ewUsageInfo";

/// One event handler's entry of `ewUsageInfo`.
#[derive(Debug, Clone, PartialEq)]
pub struct EwUsageEntry {
    pub ew_id: u64,
    pub version: String,
    /// `None` for `-` (no handler).
    pub event: Option<EwEvent>,
    pub off_reason: OffReason,
    pub logic_executed: bool,
    /// `None` when the entry gives `-`.
    pub status: Option<EwStatus>,
    /// Flexible-composition revision id; `None` for `-` or in older records.
    pub revision: Option<String>,
    /// True when the DataStream 2 JavaScript-log limit was reached, so this request's logs are lost.
    pub over_log_limit: Option<bool>,
    /// The "Continue on error" setting: with it, a failed handler (other than responseProvider)
    /// still sends the request to origin.
    pub continue_on_error: Option<bool>,
    /// onBotSegmentAvailable stage, kept raw because Akamai does not list its values.
    pub bot_stage: Option<String>,
    pub init_cpu_ms: Option<f64>,
    pub init_wall_ms: Option<f64>,
    /// Fields after the ones above, from a newer format.
    pub extra: Vec<String>,
}

/// The reason EdgeWorkers did not run, or `On`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffReason {
    /// `-`: the property metadata turned EdgeWorkers on.
    On,
    /// `m`: the property metadata turned EdgeWorkers off.
    MetadataOff,
    /// `i`: an internal request (SureRoute race, Intermediary Processing Agent, purge …).
    InternalRequest,
    /// `n`: the request arrived on a network EdgeWorkers does not support.
    UnsupportedNetwork,
    /// `s`: a security product denied the request first.
    SecurityDenied,
    /// `g`: the edge server failed EdgeWorkers (older documentation only).
    EdgeServerFailed,
    Other(String),
}

impl OffReason {
    fn from_code(code: &str) -> Self {
        match code {
            "-" | "" => Self::On,
            "m" => Self::MetadataOff,
            "i" => Self::InternalRequest,
            "n" => Self::UnsupportedNetwork,
            "s" => Self::SecurityDenied,
            "g" => Self::EdgeServerFailed,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Returns a short description for a hop's reason.
    pub fn describe(&self) -> String {
        match self {
            Self::On => "EdgeWorkers on".to_owned(),
            Self::MetadataOff => "the property turned EdgeWorkers off".to_owned(),
            Self::InternalRequest => {
                "an internal request, where EdgeWorkers does not run".to_owned()
            }
            Self::UnsupportedNetwork => "a network EdgeWorkers does not support".to_owned(),
            Self::SecurityDenied => "a security product denied the request first".to_owned(),
            Self::EdgeServerFailed => "the edge server failed EdgeWorkers".to_owned(),
            Self::Other(code) => format!("off reason `{code}`"),
        }
    }
}

/// Parses `ewUsageInfo`, whose entries each start with `//` and may be joined by `\`.
///
/// NOTE: Akamai does not document how the `\` separator is escaped in JSON streams. The decoded
/// text may contain `\//` or `//` between entries, and both are accepted.
pub fn parse_ew_usage_info(text: &str) -> Result<Vec<EwUsageEntry>, EdgeError> {
    let trimmed = text.trim();
    let Some(body) = trimmed.strip_prefix("//") else {
        return Err(EdgeError::field(
            FIELD,
            text,
            "expected entries that start with `//`",
        ));
    };
    body.split("//")
        .map(|entry| entry.trim().trim_end_matches('\\'))
        .filter(|entry| !entry.is_empty())
        .map(|entry| parse_entry(entry).map_err(|reason| EdgeError::field(FIELD, text, &reason)))
        .collect()
}

fn parse_entry(entry: &str) -> Result<EwUsageEntry, String> {
    let (fields, metrics) = match entry.split_once('#') {
        Some((fields, metrics)) => (fields.trim_end_matches('/'), Some(metrics)),
        None => (entry.trim_end_matches('/'), None),
    };
    let parts: Vec<&str> = fields.split('/').collect();
    let [id, version, handler, off, logic, status, rest @ ..] = parts.as_slice() else {
        return Err(format!(
            "entry `{entry}` has {} fields, expected at least 6 (id/version/handler/offReason/logicExecuted/status)",
            parts.len()
        ));
    };

    let ew_id = id
        .parse()
        .map_err(|_| format!("EdgeWorker id `{id}` is not a number"))?;
    let event = match *handler {
        "-" => None,
        code => Some(
            EwEvent::from_usage_code(code)
                .ok_or_else(|| format!("event handler `{code}` is not 1 to 5 or `-`"))?,
        ),
    };
    let logic_executed = flag(logic, "logicExecuted")?.unwrap_or(false);
    let status = match *status {
        "-" | "" => None,
        code => Some(EwStatus::from_code(
            code.parse()
                .map_err(|_| format!("status `{code}` is not a number"))?,
        )),
    };
    let optional = |index: usize| {
        rest.get(index)
            .copied()
            .filter(|text| !matches!(*text, "" | "-"))
    };
    let (init_cpu_ms, init_wall_ms) = parse_metrics(metrics)?;

    Ok(EwUsageEntry {
        ew_id,
        version: (*version).to_owned(),
        event,
        off_reason: OffReason::from_code(off),
        logic_executed,
        status,
        revision: optional(0).map(str::to_owned),
        over_log_limit: optional(1)
            .map(|text| flag(text, "overJavaScriptLogLimit"))
            .transpose()?
            .flatten(),
        continue_on_error: optional(2)
            .map(|text| flag(text, "continueOnError"))
            .transpose()?
            .flatten(),
        bot_stage: optional(3).map(str::to_owned),
        init_cpu_ms,
        init_wall_ms,
        extra: rest.iter().skip(4).map(|text| (*text).to_owned()).collect(),
    })
}

fn flag(text: &str, name: &str) -> Result<Option<bool>, String> {
    match text {
        "0" => Ok(Some(false)),
        "1" => Ok(Some(true)),
        "-" | "" => Ok(None),
        other => Err(format!("{name} `{other}` is not 0 or 1")),
    }
}

/// Parses `#<init CPU ms>,<init wall ms>`.
fn parse_metrics(metrics: Option<&str>) -> Result<(Option<f64>, Option<f64>), String> {
    let Some(metrics) = metrics.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok((None, None));
    };
    let (cpu, wall) = metrics.split_once(',').unwrap_or((metrics, ""));
    Ok((
        parse_optional(cpu, "init CPU time in milliseconds")?,
        parse_optional(wall, "init wall time in milliseconds")?,
    ))
}
