//! EdgeWorker vocabularies shared by the debug headers and the DataStream 2 fields: execution
//! status (three spellings of the same thing), event handlers and resource tiers.

use std::fmt;

/// Execution status of one EdgeWorker event handler.
///
/// The same status appears as a debug-header string (`ExecutionError`), a report API enum
/// (`executionError`) and a DataStream 2 number (`6`).
/// All three map to one variant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EwStatus {
    Success,
    GenericError,
    UnknownEdgeWorker,
    UnimplementedHandler,
    RuntimeError,
    ExecutionError,
    TimeoutError,
    ResourceLimit,
    RingBufferError,
    Blocklisted,
    BundleVersionUnavailable,
    CpuTimeoutError,
    WallTimeoutError,
    InitCpuTimeoutError,
    InitWallTimeoutError,
    ResponseProviderCancelled,
    UnsupportedResponseProviderMethod,
    EdgeWorkerDeleted,
    SoftwareTooOld,
    ErpDrop,
    EdgeServerError,
    SubworkerNotEnabled,
    SubworkerLimitHit,
    /// `Failed`, which only the standard (non-enhanced) debug headers use.
    Failed,
    /// A numeric code that Akamai documents only as "generic, unnamed or uncategorized".
    OtherCode(u32),
    /// A status string not in Akamai's lists, kept verbatim.
    Other(String),
}

/// The effect of a status on the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EwOutcome {
    /// The handler ran to completion (a `respondWith` deny also counts as success).
    Success,
    /// The handler is not implemented, so nothing ran for that event.
    NotImplemented,
    Failure(FailureKind),
}

/// The broad cause of a failed execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The script threw, failed to compile or hit a runtime error.
    Script,
    /// A wall-time or CPU-time limit, at initialisation or while running.
    Timeout,
    /// A preset memory or resource limit.
    ResourceLimit,
    /// The EdgeWorker or its version could not be loaded or is not allowed to run.
    Configuration,
    /// The edge platform failed around the EdgeWorker.
    Platform,
    /// A failure the source does not categorise (`Failed`, unnamed codes, unknown strings).
    Unspecified,
}

/// One row per status: variant, DataStream 2 code, debug-header string, report API enum.
///
/// NOTE: Akamai documents codes 9 to 11 and 16 to 23 only by their execution-report names, so the
/// debug-header spellings of those rows are derived from the names, not seen in a real header.
const STATUSES: &[(EwStatus, Option<u32>, &str, &str)] = &[
    (EwStatus::Success, Some(1), "Success", "success"),
    (
        EwStatus::GenericError,
        Some(2),
        "GenericError",
        "genericError",
    ),
    (
        EwStatus::UnknownEdgeWorker,
        Some(3),
        "UnknownEdgeWorker",
        "unknownEdgeWorkerId",
    ),
    (
        EwStatus::UnimplementedHandler,
        Some(4),
        "UnimplementedHandler",
        "unimplementedEventHandler",
    ),
    (
        EwStatus::RuntimeError,
        Some(5),
        "RuntimeError",
        "runtimeError",
    ),
    (
        EwStatus::ExecutionError,
        Some(6),
        "ExecutionError",
        "executionError",
    ),
    (
        EwStatus::TimeoutError,
        Some(7),
        "TimeoutError",
        "timeoutError",
    ),
    (
        EwStatus::ResourceLimit,
        Some(8),
        "ResourceLimit",
        "resourceLimitHit",
    ),
    (
        EwStatus::RingBufferError,
        Some(9),
        "RingBufferError",
        "ringBufferError",
    ),
    (
        EwStatus::Blocklisted,
        Some(10),
        "Blocklisted",
        "blocklisted",
    ),
    (
        EwStatus::BundleVersionUnavailable,
        Some(11),
        "BundleVersionUnavailable",
        "bundleVersionUnavailable",
    ),
    (
        EwStatus::CpuTimeoutError,
        Some(12),
        "CpuTimeoutError",
        "cpuTimeoutError",
    ),
    (
        EwStatus::WallTimeoutError,
        Some(13),
        "WallTimeoutError",
        "wallTimeoutError",
    ),
    (
        EwStatus::InitCpuTimeoutError,
        Some(14),
        "InitCpuTimeoutError",
        "initCpuTimeoutError",
    ),
    (
        EwStatus::InitWallTimeoutError,
        Some(15),
        "InitWallTimeoutError",
        "initWallTimeoutError",
    ),
    (
        EwStatus::ResponseProviderCancelled,
        Some(16),
        "ResponseProviderCancelled",
        "responseProviderCancelled",
    ),
    (
        EwStatus::UnsupportedResponseProviderMethod,
        Some(17),
        "UnsupportedResponseProviderMethod",
        "unsupportedResponseProviderMethod",
    ),
    (
        EwStatus::EdgeWorkerDeleted,
        Some(18),
        "EdgeWorkerDeleted",
        "edgeWorkerDeleted",
    ),
    (
        EwStatus::SoftwareTooOld,
        Some(19),
        "SoftwareTooOld",
        "softwareTooOld",
    ),
    (EwStatus::ErpDrop, Some(20), "ErpDrop", "erpDrop"),
    (
        EwStatus::EdgeServerError,
        Some(21),
        "EdgeServerError",
        "edgeServerError",
    ),
    (
        EwStatus::SubworkerNotEnabled,
        Some(22),
        "SubworkerNotEnabled",
        "subworkerNotEnabled",
    ),
    (
        EwStatus::SubworkerLimitHit,
        Some(23),
        "SubworkerLimitHit",
        "subworkerLimitHit",
    ),
    (EwStatus::Failed, None, "Failed", "failed"),
];

impl EwStatus {
    /// Parses a status string from a debug header or the report API, ignoring ASCII case.
    ///
    /// Every documented example writes `UnimplementedEventHandler` while the field table writes
    /// `UnimplementedHandler`; both are accepted, as are the report enums `unknownEdgeWorkerId` and
    /// `resourceLimitHit`. Unknown strings become [`EwStatus::Other`].
    pub fn from_name(name: &str) -> Self {
        let name = name.trim();
        if name.eq_ignore_ascii_case("UnimplementedEventHandler") {
            return Self::UnimplementedHandler;
        }
        STATUSES
            .iter()
            .find(|(_, _, debug, report)| {
                name.eq_ignore_ascii_case(debug) || name.eq_ignore_ascii_case(report)
            })
            .map_or_else(
                || Self::Other(name.to_owned()),
                |(status, ..)| status.clone(),
            )
    }

    /// Maps a DataStream 2 status code (`ewUsageInfo` status, `ewExecutionInfo` error status).
    pub fn from_code(code: u32) -> Self {
        STATUSES
            .iter()
            .find(|(_, known, ..)| *known == Some(code))
            .map_or(Self::OtherCode(code), |(status, ..)| status.clone())
    }

    /// Returns the DataStream 2 code, when the status has one.
    pub fn code(&self) -> Option<u32> {
        match self {
            Self::OtherCode(code) => Some(*code),
            _ => self.row().and_then(|(_, code, ..)| *code),
        }
    }

    /// Returns the debug-header spelling, e.g. `CpuTimeoutError`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Other(name) => name,
            Self::OtherCode(_) => "UnnamedError",
            _ => self.row().map_or("Unknown", |(_, _, debug, _)| debug),
        }
    }

    /// Classifies the status as success, not implemented, or a kind of failure.
    pub fn outcome(&self) -> EwOutcome {
        let kind = match self {
            Self::Success => return EwOutcome::Success,
            Self::UnimplementedHandler => return EwOutcome::NotImplemented,
            Self::GenericError | Self::RuntimeError | Self::ExecutionError => FailureKind::Script,
            Self::TimeoutError
            | Self::CpuTimeoutError
            | Self::WallTimeoutError
            | Self::InitCpuTimeoutError
            | Self::InitWallTimeoutError => FailureKind::Timeout,
            Self::ResourceLimit | Self::SubworkerLimitHit => FailureKind::ResourceLimit,
            Self::UnknownEdgeWorker
            | Self::Blocklisted
            | Self::BundleVersionUnavailable
            | Self::EdgeWorkerDeleted
            | Self::SoftwareTooOld
            | Self::SubworkerNotEnabled
            | Self::UnsupportedResponseProviderMethod => FailureKind::Configuration,
            Self::RingBufferError
            | Self::ResponseProviderCancelled
            | Self::ErpDrop
            | Self::EdgeServerError => FailureKind::Platform,
            Self::Failed | Self::OtherCode(_) | Self::Other(_) => FailureKind::Unspecified,
        };
        EwOutcome::Failure(kind)
    }

    /// Returns true when the handler failed.
    pub fn is_failure(&self) -> bool {
        matches!(self.outcome(), EwOutcome::Failure(_))
    }

    fn row(&self) -> Option<&'static (EwStatus, Option<u32>, &'static str, &'static str)> {
        STATUSES.iter().find(|(status, ..)| status == self)
    }
}

impl fmt::Display for EwStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OtherCode(code) => write!(f, "UnnamedError({code})"),
            _ => f.write_str(self.as_str()),
        }
    }
}

/// An EdgeWorker event handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EwEvent {
    OnClientRequest,
    OnOriginRequest,
    OnOriginResponse,
    OnClientResponse,
    ResponseProvider,
    OnBotSegmentAvailable,
}

const EVENTS: &[(EwEvent, &str)] = &[
    (EwEvent::OnClientRequest, "onClientRequest"),
    (EwEvent::OnOriginRequest, "onOriginRequest"),
    (EwEvent::OnOriginResponse, "onOriginResponse"),
    (EwEvent::OnClientResponse, "onClientResponse"),
    (EwEvent::ResponseProvider, "responseProvider"),
    (EwEvent::OnBotSegmentAvailable, "onBotSegmentAvailable"),
];

impl EwEvent {
    /// Parses a handler name, ignoring ASCII case (HTTP/2 lower-cases header names).
    pub fn from_name(name: &str) -> Option<Self> {
        EVENTS
            .iter()
            .find(|(_, known)| name.eq_ignore_ascii_case(known))
            .map(|(event, _)| *event)
    }

    /// Maps the `ewUsageInfo` event handler number (1 to 5).
    pub fn from_usage_code(code: &str) -> Option<Self> {
        match code {
            "1" => Some(Self::OnClientRequest),
            "2" => Some(Self::OnOriginRequest),
            "3" => Some(Self::OnOriginResponse),
            "4" => Some(Self::OnClientResponse),
            "5" => Some(Self::ResponseProvider),
            _ => None,
        }
    }

    /// Returns the handler's JavaScript name, e.g. `onClientRequest`.
    pub fn as_str(self) -> &'static str {
        EVENTS
            .iter()
            .find(|(event, _)| *event == self)
            .map_or("unknown", |(_, name)| name)
    }
}

impl fmt::Display for EwEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// EdgeWorkers resource tier, by its numeric id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceTier {
    Basic,
    Dynamic,
    Enterprise,
    Other(u32),
}

impl ResourceTier {
    /// Maps a tier id: 100 Basic Compute, 200 Dynamic Compute, 280 Enterprise Compute.
    pub fn from_id(id: u32) -> Self {
        match id {
            100 => Self::Basic,
            200 => Self::Dynamic,
            280 => Self::Enterprise,
            other => Self::Other(other),
        }
    }
}
