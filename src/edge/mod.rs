//! Akamai edge records: DataStream 2 records (JSON and structured), `X-Akamai-EdgeWorker-*-Info`
//! debug header values, the edge verdict and the identity the edge saw.

use crate::flow::Observation;
use crate::model::{Hop, HopKind};

/// One DataStream 2 record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EdgeRecord {
    pub req_id: String,
}

/// Errors from parsing edge input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdgeError {
    #[error("not a DataStream 2 record: {0}")]
    NotDs2(String),
}

/// Parses one DataStream 2 JSON record.
pub fn parse_ds2_json(line: &str) -> Result<EdgeRecord, EdgeError> {
    Err(EdgeError::NotDs2(line.chars().take(40).collect()))
}

impl EdgeRecord {
    /// Builds the edge observation of this record.
    pub fn observe(&self) -> Observation {
        Observation {
            hop: Hop::new(HopKind::Edge, "edge"),
            edge_request_id: Some(self.req_id.clone()),
            request_id: None,
            method: None,
            path: None,
            authority: None,
            client_ip: None,
        }
    }
}
