//! The edge verdict of one DataStream 2 record, and the edge hop built from it.
//!
//! An edge status alone does not show who responded: an origin 401/403 passes through the edge
//! unchanged, and an EdgeWorker that calls `respondWith(403)` still reports `Success`. The verdict
//! therefore comes from the EdgeWorker's own report (`ew_verdict` in `customField`), else from the
//! `respondWith` status in `ewExecutionInfo`, else from the execution status, and is `unknown` when
//! none of them decides.

use super::EdgeRecord;
use super::status::EwStatus;
use super::usage::OffReason;
use crate::flow::Observation;
use crate::model::{DecidedBy, Decision, Hop, HopKind};

/// The edge's decision on one request, with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeVerdict {
    pub decision: Decision,
    pub decided_by: DecidedBy,
    pub reason: String,
    /// True when an EdgeWorker error let the request go on to origin unvalidated.
    pub fail_open: bool,
}

impl EdgeVerdict {
    fn new(decision: Decision, decided_by: DecidedBy, reason: String) -> Self {
        Self {
            decision,
            decided_by,
            reason,
            fail_open: false,
        }
    }
}

/// The EdgeWorker fields of a record, summarised over all handlers and stages.
struct EwSummary<'a> {
    /// Whether the record has any EdgeWorker field at all.
    present: bool,
    /// Whether any handler ran its logic.
    ran: bool,
    failure: Option<String>,
    respond_with: Option<u16>,
    continue_on_error: bool,
    off_reason: Option<&'a OffReason>,
}

impl<'a> EwSummary<'a> {
    fn of(record: &'a EdgeRecord) -> Self {
        let usage_failure = record
            .ew_usage
            .iter()
            .filter_map(|entry| {
                entry
                    .status
                    .as_ref()
                    .filter(|status| status.is_failure())
                    .map(|status| (entry.event, status))
            })
            .map(|(event, status)| match event {
                Some(event) => format!("{event} {status}"),
                None => status.to_string(),
            });
        let execution_failure =
            record
                .ew_execution
                .iter()
                .find_map(|entry| match &entry.error_status {
                    Some(status) if status.is_failure() => Some(status.to_string()),
                    _ => entry
                        .server_flow
                        .is_error()
                        .then(|| format!("server flow: {}", entry.server_flow.describe())),
                });
        let off_reason = record
            .ew_usage
            .iter()
            .all(|entry| entry.off_reason != OffReason::On)
            .then(|| record.ew_usage.first().map(|entry| &entry.off_reason))
            .flatten();
        Self {
            present: !record.ew_usage.is_empty() || !record.ew_execution.is_empty(),
            ran: !record.ew_execution.is_empty()
                || record.ew_usage.iter().any(|entry| entry.logic_executed),
            failure: execution_failure.or_else(|| usage_failure.into_iter().next()),
            respond_with: record
                .ew_execution
                .iter()
                .find_map(|entry| entry.http_status_change),
            continue_on_error: record
                .ew_usage
                .iter()
                .any(|entry| entry.continue_on_error == Some(true)),
            off_reason,
        }
    }
}

/// Decides the edge verdict of `record`.
pub fn edge_verdict(record: &EdgeRecord) -> EdgeVerdict {
    let status = record.status;
    let went_on = status.is_some_and(|code| (200..400).contains(&code));
    let summary = EwSummary::of(record);
    let custom = record.custom.as_ref();

    if let Some(custom) = custom.filter(|custom| custom.verdict.is_some() || custom.fail_open) {
        let decision = if custom.fail_open {
            Decision::Error
        } else {
            custom.verdict.unwrap_or(Decision::Unknown)
        };
        let reason = custom.reason.clone().unwrap_or_else(|| {
            format!(
                "the EdgeWorker reported {} without a reason",
                decision_name(decision)
            )
        });
        return EdgeVerdict {
            fail_open: custom.fail_open || (decision == Decision::Error && went_on),
            ..EdgeVerdict::new(decision, DecidedBy::Edgeworker, reason)
        };
    }

    if let Some(failure) = summary.failure {
        let fail_open = went_on || summary.continue_on_error;
        let outcome = match status {
            Some(code) if fail_open => {
                format!("the request went on to origin (fail open, status {code})")
            }
            _ if fail_open => "the request went on to origin (fail open)".to_owned(),
            Some(code) => format!("the edge answered {code}"),
            None => "the record has no status".to_owned(),
        };
        return EdgeVerdict {
            fail_open,
            ..EdgeVerdict::new(
                Decision::Error,
                DecidedBy::Edgeworker,
                format!("the EdgeWorker failed ({failure}) and {outcome}"),
            )
        };
    }

    if let Some(code) = summary.respond_with {
        let decision = if code >= 400 {
            Decision::Deny
        } else {
            Decision::Allow
        };
        return EdgeVerdict::new(
            decision,
            DecidedBy::Edgeworker,
            format!("the EdgeWorker answered {code} itself (respondWith)"),
        );
    }

    let unknown = |reason: String| EdgeVerdict::new(Decision::Unknown, DecidedBy::Other, reason);
    let Some(code) = status else {
        return unknown("the record has no statusCode and no EdgeWorker verdict".to_owned());
    };
    if code == 0 {
        return unknown(
            "the client connection ended before the edge sent a response (status 0)".to_owned(),
        );
    }
    if summary.present && !summary.ran {
        let off_description = summary.off_reason.map_or_else(
            || "no handler ran its logic".to_owned(),
            OffReason::describe,
        );
        return unknown(format!(
            "the EdgeWorker did not run ({off_description}), so the edge gave no verdict"
        ));
    }
    if code >= 400 {
        // Only ewExecutionInfo shows that respondWith was not called; ewUsageInfo reports a
        // respondWith deny as plain success.
        if !record.ew_execution.is_empty() {
            return EdgeVerdict::new(
                Decision::Allow,
                DecidedBy::Edgeworker,
                format!(
                    "the EdgeWorker ran and passed the request on (no respondWith status), so the {code} came from origin or another edge behavior"
                ),
            );
        }
        return unknown(format!(
            "status {code}, and nothing in the record says whether the EdgeWorker or the origin answered; origin statuses pass through the edge"
        ));
    }
    if summary.present {
        return EdgeVerdict::new(
            Decision::Allow,
            DecidedBy::Edgeworker,
            format!("the EdgeWorker ran without error and the request went on (status {code})"),
        );
    }
    unknown(format!(
        "status {code}, and the record has no EdgeWorker fields (ewUsageInfo, ewExecutionInfo, customField ew_verdict)"
    ))
}

fn decision_name(decision: Decision) -> &'static str {
    match decision {
        Decision::Allow => "allow",
        Decision::Deny => "deny",
        Decision::Error => "error",
        Decision::Unknown => "unknown",
    }
}

impl EdgeRecord {
    /// Returns the EdgeWorker id, from `ewUsageInfo` or else `ewExecutionInfo`.
    pub fn ew_id(&self) -> Option<u64> {
        self.ew_usage
            .first()
            .map(|entry| entry.ew_id)
            .or_else(|| self.ew_execution.first().map(|entry| entry.ew_id))
    }

    /// Returns the hop location: `edge`, then `/ew <id>` and the name when known.
    pub fn location(&self) -> String {
        match (self.ew_id(), &self.ew_name) {
            (Some(id), Some(name)) => format!("edge/ew {id} {name}"),
            (Some(id), None) => format!("edge/ew {id}"),
            (None, Some(name)) => format!("edge/ew {name}"),
            (None, None) => "edge".to_owned(),
        }
    }

    /// Returns the facts behind the verdict as `key=value` pairs joined by `; `, or `None`.
    fn details(&self, verdict: &EdgeVerdict) -> Option<String> {
        let mut details = Vec::new();
        if verdict.fail_open {
            details.push("fail_open=1".to_owned());
        }
        for entry in &self.ew_usage {
            let event = entry.event.map_or("-", |event| event.as_str());
            let status = entry.status.as_ref().map_or("-", EwStatus::as_str);
            details.push(format!("ew_status={event}:{status}"));
        }
        for entry in &self.ew_execution {
            if let Some(status) = &entry.error_status {
                details.push(format!("ew_error={status}"));
            }
            if let Some(code) = entry.http_status_change {
                details.push(format!("respond_with={code}"));
            }
        }
        if let Some(code) = &self.error_code {
            details.push(format!("error_code={code}"));
        }
        if let Some(forwarded) = self
            .custom
            .as_ref()
            .and_then(|custom| custom.forwarded.as_ref())
        {
            details.push(format!("fwd={forwarded}"));
        }
        (!details.is_empty()).then(|| details.join("; "))
    }

    /// Builds the edge observation of this record.
    pub fn observe(&self) -> Observation {
        let verdict = edge_verdict(self);
        let mut hop = Hop::new(HopKind::Edge, self.location());
        hop.time.clone_from(&self.time);
        hop.status = self.status.unwrap_or(0);
        hop.decision = verdict.decision;
        hop.decided_by = verdict.decided_by;
        hop.details = self.details(&verdict);
        hop.reason = Some(verdict.reason);
        hop.identity = self
            .custom
            .as_ref()
            .map(super::EdgeCustomField::identity)
            .unwrap_or_default();
        Observation {
            hop,
            edge_request_id: self.req_id.clone(),
            request_id: None,
            method: self.method.clone(),
            path: self.path_with_query(),
            authority: self.host.clone(),
            client_ip: self.client_ip.clone(),
        }
    }
}
