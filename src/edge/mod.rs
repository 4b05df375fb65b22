//! Akamai edge records: DataStream 2 records (JSON), `X-Akamai-EdgeWorker-*-Info` debug header
//! values, the edge verdict and the identity the edge saw.

// Akamai's product names (EdgeWorker, DataStream) are CamelCase words, not code identifiers.
#![allow(clippy::doc_markdown)]

mod custom;
mod execution;
mod header;
pub mod profile;
mod reader;
mod status;
mod usage;
mod value;
mod verdict;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

pub use custom::{EdgeCustomField, parse_custom_field};
pub use execution::{EwExecutionEntry, ExecutionStage, ServerFlow, parse_ew_execution_info};
pub use header::{
    EwInfo, parse_ew_info_header, parse_ew_info_header_name, parse_ew_info_header_named,
};
pub use reader::{Ds2Batch, Ds2LineError, read_ds2};
pub use status::{EwEvent, EwOutcome, EwStatus, FailureKind, ResourceTier};
pub use usage::{EwUsageEntry, OffReason, parse_ew_usage_info};
pub use verdict::{EdgeVerdict, edge_verdict};

use crate::redact::hide_path_credentials;
use value::{ds2_text, epoch_seconds_to_rfc3339, parse_optional, percent_decode, quote};

/// Largest DataStream 2 record accepted, in bytes. Real records are a few KB (the custom field alone
/// is capped at 1000 bytes), so anything near this size is not a DataStream 2 record.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// One DataStream 2 record. Absent values (`-`, `^`, `null`, missing) are `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EdgeRecord {
    /// `reqId`, the edge request id, which the edge forwards to origin in `x-edge-request-id`.
    pub req_id: Option<String>,
    /// `reqTimeSec` as RFC 3339 UTC with milliseconds.
    pub time: Option<String>,
    /// `cp`, the CP code.
    pub cp_code: Option<String>,
    /// `statusCode`; 0 when the client connection ended before a response.
    pub status: Option<u16>,
    /// `reqHost`.
    pub host: Option<String>,
    /// `reqPath`, with a leading `/` added when the record leaves it out.
    pub path: Option<String>,
    /// `queryStr`, percent-decoded.
    pub query: Option<String>,
    /// `reqMethod`.
    pub method: Option<String>,
    /// `reqPort`.
    pub port: Option<u16>,
    /// `cliIP`.
    pub client_ip: Option<String>,
    /// `UA`, percent-decoded.
    pub user_agent: Option<String>,
    /// `referer`, percent-decoded.
    pub referer: Option<String>,
    /// `proto`, e.g. `HTTP/1.1`.
    pub protocol: Option<String>,
    /// `errorCode`, e.g. `ERR_CLIENT_ABORT|general`.
    pub error_code: Option<String>,
    /// `edgeIP`.
    pub edge_ip: Option<String>,
    /// `xForwardedFor`.
    pub x_forwarded_for: Option<String>,
    /// `cacheStatus`.
    pub cache_status: Option<String>,
    /// `turnAroundTimeMSec`.
    pub turnaround_ms: Option<u64>,
    /// `breadcrumbs`, percent-decoded.
    pub breadcrumbs: Option<String>,
    /// `version`, the DataStream 2 record format version.
    pub format_version: Option<String>,
    /// `customField` verbatim.
    pub custom_field: Option<String>,
    /// `customField` read by the edge identity convention, when it follows it.
    pub custom: Option<EdgeCustomField>,
    /// `ewUsageInfo`, one entry per event handler.
    pub ew_usage: Vec<EwUsageEntry>,
    /// `ewExecutionInfo`, one entry per stage.
    pub ew_execution: Vec<EwExecutionEntry>,
    /// EdgeWorker name, which DataStream 2 does not carry: the caller may fill it from a debug
    /// header or its configuration, and the hop location then shows it.
    pub ew_name: Option<String>,
    /// Fields this reader does not interpret, as received.
    pub extra: BTreeMap<String, Value>,
    /// Fields that were present but invalid; the record is kept without them.
    pub problems: Vec<EdgeError>,
}

/// Errors from parsing edge input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdgeError {
    #[error(
        "not a DataStream 2 record: {0}; expected a JSON object with fields such as reqId and statusCode"
    )]
    NotDs2(String),
    #[error(
        "invalid JSON in a DataStream 2 record: {0}; expected one JSON object per line or a JSON array of objects"
    )]
    InvalidJson(String),
    #[error(
        "DataStream 2 record of {bytes} bytes is over the {max}-byte limit; check that the input is a DataStream 2 file"
    )]
    TooLarge { bytes: usize, max: usize },
    #[error(
        "invalid DataStream 2 field {field} \"{value}\": {reason}; the record is kept without it"
    )]
    Field {
        field: String,
        value: String,
        reason: String,
    },
    #[error("invalid EdgeWorker debug header value \"{value}\": {reason}")]
    Header { value: String, reason: String },
    #[error(
        "invalid EdgeWorker debug header name \"{name}\": {reason}; expected X-Akamai-EdgeWorker-<Event>-Info"
    )]
    HeaderName { name: String, reason: String },
}

impl EdgeError {
    pub(crate) fn field(field: &str, value: &str, reason: &str) -> Self {
        Self::Field {
            field: field.to_owned(),
            value: quote(value),
            reason: reason.to_owned(),
        }
    }

    pub(crate) fn header(value: &str, reason: &str) -> Self {
        Self::Header {
            value: quote(value),
            reason: reason.to_owned(),
        }
    }
}

/// DataStream 2 fields this reader interprets; a JSON object with none of them is not a record.
const KNOWN_FIELDS: &[&str] = &[
    "reqId",
    "reqTimeSec",
    "cp",
    "statusCode",
    "reqHost",
    "reqPath",
    "queryStr",
    "reqMethod",
    "reqPort",
    "cliIP",
    "UA",
    "referer",
    "proto",
    "errorCode",
    "edgeIP",
    "xForwardedFor",
    "cacheStatus",
    "turnAroundTimeMSec",
    "breadcrumbs",
    "version",
    "customField",
    "ewUsageInfo",
    "ewExecutionInfo",
];

/// Parses one DataStream 2 JSON record.
///
/// Values may be JSON strings or numbers. A present but invalid field does not fail the record: it is
/// left out and listed in [`EdgeRecord::problems`].
pub fn parse_ds2_json(line: &str) -> Result<EdgeRecord, EdgeError> {
    if line.len() > MAX_RECORD_BYTES {
        return Err(EdgeError::TooLarge {
            bytes: line.len(),
            max: MAX_RECORD_BYTES,
        });
    }
    let value: Value =
        serde_json::from_str(line).map_err(|error| EdgeError::InvalidJson(error.to_string()))?;
    match value {
        Value::Object(object) => EdgeRecord::from_object(object),
        other => Err(EdgeError::NotDs2(format!("found {}", json_kind(&other)))),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl EdgeRecord {
    fn from_object(mut object: Map<String, Value>) -> Result<Self, EdgeError> {
        if !KNOWN_FIELDS.iter().any(|field| object.contains_key(*field)) {
            return Err(EdgeError::NotDs2(
                "none of the DataStream 2 fields reqId, reqTimeSec, statusCode, reqHost is present"
                    .to_owned(),
            ));
        }
        let mut problems = Vec::new();
        let mut take = |field: &str| -> Option<String> {
            let value = object.remove(field)?;
            ds2_text(&value).unwrap_or_else(|kind| {
                let reason = format!("expected a string or a number, found {kind}");
                problems.push(EdgeError::field(field, &value.to_string(), &reason));
                None
            })
        };
        // `UA`, `referer`, `queryStr` and `breadcrumbs` arrive percent-encoded. `+` stays as it is
        // because in a query string or a user agent it is a literal character.
        // NOTE: Akamai does not document whether `queryStr` is encoded once more over its form on the
        // wire. If it is not, decoding turns `%26` inside a query value into `&`.
        let decode = |text: Option<String>| text.map(|text| percent_decode(&text, false));
        let mut record = Self {
            req_id: take("reqId"),
            cp_code: take("cp"),
            host: take("reqHost"),
            path: take("reqPath").map(with_leading_slash),
            query: decode(take("queryStr")),
            method: take("reqMethod"),
            client_ip: take("cliIP"),
            user_agent: decode(take("UA")),
            referer: decode(take("referer")),
            protocol: take("proto"),
            error_code: take("errorCode"),
            edge_ip: take("edgeIP"),
            x_forwarded_for: take("xForwardedFor"),
            cache_status: take("cacheStatus"),
            breadcrumbs: decode(take("breadcrumbs")),
            format_version: take("version"),
            ..Self::default()
        };
        let req_time = take("reqTimeSec");
        let status = take("statusCode");
        let port = take("reqPort");
        let turnaround = take("turnAroundTimeMSec");
        let usage = take("ewUsageInfo");
        let execution = take("ewExecutionInfo");
        let custom_field = take("customField");
        record.extra = object.into_iter().collect();
        record.problems = problems;

        record.time = record.parse_with("reqTimeSec", req_time, |text| {
            epoch_seconds_to_rfc3339(text).map(Some)
        });
        record.status = record.parse_with("statusCode", status, |text| {
            parse_optional(text, "HTTP status code")
        });
        record.port =
            record.parse_with("reqPort", port, |text| parse_optional(text, "port number"));
        record.turnaround_ms = record.parse_with("turnAroundTimeMSec", turnaround, |text| {
            parse_optional(text, "time in milliseconds")
        });
        if let Some(text) = usage {
            match parse_ew_usage_info(&text) {
                Ok(entries) => record.ew_usage = entries,
                Err(problem) => record.problems.push(problem),
            }
        }
        if let Some(text) = execution {
            match parse_ew_execution_info(&text) {
                Ok(entries) => record.ew_execution = entries,
                Err(problem) => record.problems.push(problem),
            }
        }
        if let Some(text) = custom_field {
            let (custom, problems) = parse_custom_field(&text);
            record.custom = custom;
            record.problems.extend(problems);
            record.custom_field = Some(text);
        }
        Ok(record)
    }

    /// Parses an optional field with `parse`, recording a problem instead of failing the record.
    fn parse_with<T>(
        &mut self,
        field: &str,
        text: Option<String>,
        parse: impl FnOnce(&str) -> Result<Option<T>, String>,
    ) -> Option<T> {
        let text = text?;
        parse(&text).unwrap_or_else(|reason| {
            self.problems.push(EdgeError::field(field, &text, &reason));
            None
        })
    }

    /// Returns the request path with its query string, as the mesh logs `:path`, with credentials
    /// in the query hidden.
    pub fn path_with_query(&self) -> Option<String> {
        let path = self.path.as_deref().unwrap_or("/");
        match (&self.path, &self.query) {
            (None, None) => None,
            (_, Some(query)) => {
                Some(hide_path_credentials(&format!("{path}?{query}")).into_owned())
            }
            (Some(_), None) => Some(path.to_owned()),
        }
    }
}

fn with_leading_slash(path: String) -> String {
    if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    }
}
