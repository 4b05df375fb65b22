//! DataStream 2 `ewExecutionInfo`: one entry per stage, joined by `|`, each
//! `stage:id:processTime:totalTime:stageTime:usedMemory:serverFlow:errorStatus:httpStatusChange:internal1:tier:internal2…`.

use super::EdgeError;
use super::status::{EwEvent, EwStatus, ResourceTier};
use super::value::parse_optional;

const FIELD: &str = "ewExecutionInfo";

/// One stage's entry of `ewExecutionInfo`.
#[derive(Debug, Clone, PartialEq)]
pub struct EwExecutionEntry {
    pub stage: ExecutionStage,
    pub ew_id: u64,
    pub process_time_ms: Option<f64>,
    pub total_time_ms: Option<f64>,
    /// Includes the overhead of building the EdgeWorker request.
    pub stage_time_ms: Option<f64>,
    /// Used memory in KB (the debug headers report bytes).
    pub memory_kb: Option<u64>,
    pub server_flow: ServerFlow,
    /// Empty while the flow is normal.
    pub error_status: Option<EwStatus>,
    /// The status the EdgeWorker passed to `respondWith`: the edge's own response, e.g. a 403 deny.
    pub http_status_change: Option<u16>,
    pub tier: Option<ResourceTier>,
    /// The fields Akamai calls internal (1 to 5) and any later ones, verbatim.
    pub internal: Vec<String>,
}

/// The part of the request an entry measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionStage {
    Event(EwEvent),
    /// `S`: a sub-request.
    SubRequest,
    /// `m`: a missing stage.
    Missing,
    Other(String),
}

impl ExecutionStage {
    fn from_code(code: &str) -> Self {
        match code {
            "c" => Self::Event(EwEvent::OnClientRequest),
            "o" => Self::Event(EwEvent::OnOriginRequest),
            "O" => Self::Event(EwEvent::OnOriginResponse),
            "C" => Self::Event(EwEvent::OnClientResponse),
            "R" => Self::Event(EwEvent::ResponseProvider),
            "S" => Self::SubRequest,
            "m" => Self::Missing,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// The outcome of the edge server's EdgeWorkers flow for a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFlow {
    /// `n`: normal.
    Normal,
    /// `a`: subWorkers disabled.
    SubworkersDisabled,
    /// `s`: the JavaScript engine was unavailable.
    EngineUnavailable,
    /// `r`: a termination request.
    Terminated,
    /// `T`: write timeout.
    WriteTimeout,
    /// `t`: read timeout.
    ReadTimeout,
    /// `e`: the EdgeWorker returned an error.
    EdgeWorkerError,
    /// `E`: bad input from the EdgeWorker.
    BadInput,
    /// `u`: unexpected termination of a non-GET request.
    UnexpectedTermination,
    /// `m`: applying the EdgeWorker's commands failed.
    CommandError,
    /// `c`: the result came from cached results.
    Cached,
    /// `o`: other.
    OtherFlow,
    Unknown(String),
}

impl ServerFlow {
    fn from_code(code: &str) -> Self {
        match code {
            "n" => Self::Normal,
            "a" => Self::SubworkersDisabled,
            "s" => Self::EngineUnavailable,
            "r" => Self::Terminated,
            "T" => Self::WriteTimeout,
            "t" => Self::ReadTimeout,
            "e" => Self::EdgeWorkerError,
            "E" => Self::BadInput,
            "u" => Self::UnexpectedTermination,
            "m" => Self::CommandError,
            "c" => Self::Cached,
            "o" => Self::OtherFlow,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// Returns a short description, e.g. `EdgeWorker returned an error`.
    pub fn describe(&self) -> String {
        let text = match self {
            Self::Normal => "normal",
            Self::SubworkersDisabled => "subWorkers disabled",
            Self::EngineUnavailable => "JavaScript engine unavailable",
            Self::Terminated => "termination request",
            Self::WriteTimeout => "write timeout",
            Self::ReadTimeout => "read timeout",
            Self::EdgeWorkerError => "EdgeWorker returned an error",
            Self::BadInput => "bad input from the EdgeWorker",
            Self::UnexpectedTermination => "unexpected termination of a non-GET request",
            Self::CommandError => "error applying the EdgeWorker's commands",
            Self::Cached => "result from cached results",
            Self::OtherFlow => "other",
            Self::Unknown(code) => return format!("unknown server flow `{code}`"),
        };
        text.to_owned()
    }

    /// Returns true for the flows that end in an error rather than a normal or cached result.
    pub fn is_error(&self) -> bool {
        !matches!(self, Self::Normal | Self::Cached | Self::SubworkersDisabled)
    }
}

/// Parses `ewExecutionInfo`.
pub fn parse_ew_execution_info(text: &str) -> Result<Vec<EwExecutionEntry>, EdgeError> {
    text.split('|')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| parse_entry(entry).map_err(|reason| EdgeError::field(FIELD, text, &reason)))
        .collect()
}

fn parse_entry(entry: &str) -> Result<EwExecutionEntry, String> {
    let parts: Vec<&str> = entry.split(':').collect();
    let [
        stage,
        id,
        process,
        total,
        stage_time,
        memory,
        flow,
        rest @ ..,
    ] = parts.as_slice()
    else {
        return Err(format!(
            "entry `{entry}` has {} fields, expected at least 7 (stage:id:process:total:stageTime:memory:flow)",
            parts.len()
        ));
    };
    let at = |index: usize| rest.get(index).copied().unwrap_or("");

    let ew_id = id
        .parse()
        .map_err(|_| format!("EdgeWorker id `{id}` is not a number"))?;
    let error_status = parse_optional(at(0), "error status code")?.map(EwStatus::from_code);
    let http_status_change = parse_optional(at(1), "HTTP status change")?;
    let tier = parse_optional(at(3), "tier id")?.map(ResourceTier::from_id);
    let internal = rest
        .iter()
        .enumerate()
        .filter(|(index, _)| *index == 2 || *index > 3)
        .map(|(_, text)| (*text).to_owned())
        .collect();

    Ok(EwExecutionEntry {
        stage: ExecutionStage::from_code(stage),
        ew_id,
        process_time_ms: parse_optional(process, "process time in milliseconds")?,
        total_time_ms: parse_optional(total, "total time in milliseconds")?,
        stage_time_ms: parse_optional(stage_time, "stage time in milliseconds")?,
        memory_kb: parse_optional(memory, "used memory in KB")?,
        server_flow: ServerFlow::from_code(flow),
        error_status,
        http_status_change,
        tier,
        internal,
    })
}
