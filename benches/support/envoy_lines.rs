//! Generated Envoy access log lines for the benchmarks, made from the lines recorded in `demo/`.
//!
//! Each recorded gateway line and the sidecar line with the same `x-request-id` form one request
//! template. A generated request fills a template with its own start time, `x-request-id`, edge
//! request id and path, so that every request is a separate flow of one or two hops, as on a
//! busy mesh. Shared by `benches/pipeline.rs`, `examples/memory.rs` and `examples/bench_cluster.rs`.

#![allow(dead_code)]

use std::path::Path;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use idflow::accesslog::parse_line;
use idflow::model::HopRole;

/// Location of the proxy that logs the gateway lines, as `NAMESPACE/WORKLOAD`.
pub const GATEWAY: &str = "istio-system/istio-ingressgateway";
/// Location of the proxy that logs the sidecar lines.
pub const SIDECAR: &str = "shop/orders";

/// Paths a generated request picks from; `{n}` is replaced by a number.
const PATHS: [&str; 5] = [
    "/api/orders",
    "/api/orders/{n}",
    "/api/orders?status=open&page={n}",
    "/api/cart/{n}/items",
    "/api/orders/{n}/shipping",
];

/// One recorded line with its variable parts replaced by markers.
#[derive(Debug, Clone)]
struct Template {
    /// The text before the start time, between the variable parts, and after the edge id.
    pieces: Vec<(Part, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Text,
    Time,
    Path,
    RequestId,
    EdgeId,
}

impl Template {
    /// Splits a recorded line at its start time, path, `x-request-id` and edge request id.
    fn new(line: &str) -> Option<Self> {
        let entry = parse_line(line).ok()?;
        let mut marks = vec![
            (entry.start_time?, Part::Time),
            (entry.path?, Part::Path),
            (entry.request_id?, Part::RequestId),
            (entry.edge_request_id?, Part::EdgeId),
        ];
        let mut pieces = Vec::new();
        let mut rest = line;
        // The parts appear in this order in the demo's format, each once before the next.
        for (value, part) in marks.drain(..) {
            let at = rest.find(&value)?;
            pieces.push((Part::Text, rest[..at].to_owned()));
            pieces.push((part, String::new()));
            rest = &rest[at + value.len()..];
        }
        pieces.push((Part::Text, rest.to_owned()));
        Some(Self { pieces })
    }

    fn fill(&self, out: &mut String, time: &str, path: &str, request_id: &str, edge_id: &str) {
        for (part, text) in &self.pieces {
            out.push_str(match part {
                Part::Text => text,
                Part::Time => time,
                Part::Path => path,
                Part::RequestId => request_id,
                Part::EdgeId => edge_id,
            });
        }
    }
}

/// The request templates: a gateway line and, when one was recorded, the sidecar line of the same
/// request.
#[derive(Debug, Clone)]
pub struct Generator {
    requests: Vec<(Template, Option<Template>)>,
}

/// One generated line and the proxy that logged it.
#[derive(Debug, Clone)]
pub struct GeneratedLine {
    pub text: String,
    pub location: &'static str,
    pub role: HopRole,
}

impl Generator {
    /// Loads the templates from the recorded logs in `demo/`.
    ///
    /// # Panics
    /// When the demo logs are missing or yield no template: they ship with the crate.
    pub fn from_demo() -> Self {
        let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
        let read = |name: &str| {
            std::fs::read_to_string(demo.join(name)).expect("the demo logs ship with the crate")
        };
        let gateway = read("istio-system.istio-ingressgateway.log");
        let sidecar = read("shop.orders.log");
        let requests: Vec<(Template, Option<Template>)> = gateway
            .lines()
            .filter_map(|line| {
                let request_id = parse_line(line).ok()?.request_id?;
                let behind = sidecar
                    .lines()
                    .find(|candidate| candidate.contains(&request_id))
                    .and_then(Template::new);
                Some((Template::new(line)?, behind))
            })
            .collect();
        assert!(!requests.is_empty(), "no template in the demo logs");
        Self { requests }
    }

    /// Returns the lines of request number `index`: the gateway's, then the sidecar's when the
    /// template has one. Requests start 1 ms apart.
    pub fn request(&self, index: u64) -> Vec<GeneratedLine> {
        let (gateway, sidecar) = &self.requests[slot(index, self.requests.len())];
        let base = DateTime::parse_from_rfc3339("2026-12-04T22:25:30.000Z")
            .expect("the base time is RFC 3339")
            .with_timezone(&Utc);
        let start = base + Duration::milliseconds(i64::try_from(index).unwrap_or(i64::MAX));
        let time = |delay_ms: i64| {
            (start + Duration::milliseconds(delay_ms)).to_rfc3339_opts(SecondsFormat::Millis, true)
        };
        let path = PATHS[slot(index / 7, PATHS.len())].replace("{n}", &(index % 9973).to_string());
        let request_id = format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            index.wrapping_mul(2_654_435_761) & 0xffff_ffff,
            (index >> 16) & 0xffff,
            index & 0xfff,
            (index >> 12) & 0xfff,
            index
        );
        let edge_id = format!("{:08x}", index.wrapping_mul(40_503) & 0xffff_ffff);

        let mut lines = Vec::with_capacity(2);
        let mut text = String::with_capacity(600);
        gateway.fill(&mut text, &time(0), &path, &request_id, &edge_id);
        lines.push(GeneratedLine {
            text,
            location: GATEWAY,
            role: HopRole::Gateway,
        });
        if let Some(sidecar) = sidecar {
            let mut text = String::with_capacity(600);
            sidecar.fill(&mut text, &time(3), &path, &request_id, &edge_id);
            lines.push(GeneratedLine {
                text,
                location: SIDECAR,
                role: HopRole::Sidecar,
            });
        }
        lines
    }

    /// Returns at least `count` lines (a request's lines are never split), requests numbered from
    /// `first`.
    pub fn lines(&self, first: u64, count: usize) -> Vec<GeneratedLine> {
        let mut lines = Vec::with_capacity(count + 1);
        let mut index = first;
        while lines.len() < count {
            lines.extend(self.request(index));
            index += 1;
        }
        lines
    }
}

/// Returns `index` modulo `len` as an index.
fn slot(index: u64, len: usize) -> usize {
    usize::try_from(index % len as u64).unwrap_or(0)
}
