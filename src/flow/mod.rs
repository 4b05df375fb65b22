//! Joining the edge and mesh records of one request into a flow of hops, and the findings about it.

use crate::model::{Flow, Hop};

/// One record of a request at one hop, with the keys that can join it to the other hops' records.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub hop: Hop,
    /// The edge request id: DataStream 2 `reqId` at the edge, the forwarded header in the mesh.
    pub edge_request_id: Option<String>,
    /// Envoy's `x-request-id`.
    pub request_id: Option<String>,
    pub method: Option<String>,
    /// Path with its query string, as logged.
    pub path: Option<String>,
    pub authority: Option<String>,
    /// The original client address (edge `cliIP`, first `x-forwarded-for` entry in the mesh).
    pub client_ip: Option<String>,
}

/// Joins observations into flows and attaches findings. Input order does not matter.
pub fn correlate(observations: Vec<Observation>) -> Vec<Flow> {
    let _ = observations;
    Vec::new()
}
