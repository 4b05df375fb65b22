//! Throughput of flow correlation on large replays, in records per second.
//!
//! Run with `cargo bench --bench correlate`. Each case correlates 100,000 prepared records:
//! - `demo_unique_ids`: requests shaped like the demo, an edge, a gateway and a sidecar record each,
//!   every request with its own edge request id and `x-request-id`.
//! - `identical_burst`: sidecar records of identical requests (same method, path and client address
//!   within 3 s), each with its own edge request id, so no id joins them and the heuristic join sees
//!   every earlier record of the burst as a record of the same shape.
//! - `identical_burst_bounded`: the same burst added live into a correlator that keeps 10,000 flows,
//!   without building the flows (as the live tracker adds records and builds flows only when it
//!   collects them).

idflow::use_pipeline_allocator!();

use std::hint::black_box;
use std::time::Duration as WallTime;

use chrono::{DateTime, Duration, SecondsFormat};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use idflow::flow::{Correlator, Observation, correlate};
use idflow::model::{Hop, HopKind, HopRole};

const RECORDS: usize = 100_000;
const PATHS: [&str; 4] = ["/api/orders", "/api/orders/42", "/api/cart", "/healthz"];

/// Returns the RFC 3339 time `offset_ms` after a fixed base time.
fn at(offset_ms: i64) -> String {
    let base = DateTime::parse_from_rfc3339("2025-03-04T10:15:02.118Z").expect("base time parses");
    (base + Duration::milliseconds(offset_ms))
        .to_utc()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn record(
    kind: HopKind,
    location: &str,
    role: Option<HopRole>,
    offset_ms: i64,
    path: &str,
    client_ip: &str,
) -> Observation {
    let mut hop = Hop::new(kind, location);
    hop.role = role;
    hop.time = Some(at(offset_ms));
    hop.status = 200;
    Observation {
        hop,
        edge_request_id: None,
        request_id: None,
        method: Some("GET".to_owned()),
        path: Some(path.to_owned()),
        authority: Some("api.example.com".to_owned()),
        client_ip: Some(client_ip.to_owned()),
    }
}

/// Returns `RECORDS` records of demo-shaped requests, one request every 2 ms from 16 clients.
fn demo_unique_ids() -> Vec<Observation> {
    let mut records = Vec::with_capacity(RECORDS);
    for index in 0..RECORDS / 3 {
        let start = i64::try_from(index).expect("small index") * 2;
        let path = PATHS[index % PATHS.len()];
        let client_ip = format!("203.0.113.{}", index % 16);
        let edge_id = format!("edge-{index}");
        let request_id = format!("rid-{index}");

        let mut edge = record(
            HopKind::Edge,
            "edge/ew 4242 jwt-check",
            None,
            start,
            path,
            &client_ip,
        );
        edge.edge_request_id = Some(edge_id.clone());
        records.push(edge);
        for (location, role, delay) in [
            ("istio-system/istio-ingressgateway", HopRole::Gateway, 20),
            ("shop/orders", HopRole::Sidecar, 40),
        ] {
            let mut mesh = record(
                HopKind::Mesh,
                location,
                Some(role),
                start + delay,
                path,
                &client_ip,
            );
            mesh.edge_request_id = Some(edge_id.clone());
            mesh.request_id = Some(request_id.clone());
            records.push(mesh);
        }
    }
    records
}

/// Returns `RECORDS` sidecar records of identical requests spread over 3 s, each with its own edge
/// request id.
fn identical_burst() -> Vec<Observation> {
    (0..RECORDS)
        .map(|index| {
            let offset = i64::try_from(index * 3_000 / RECORDS).expect("small offset");
            let mut sidecar = record(
                HopKind::Mesh,
                "shop/orders",
                Some(HopRole::Sidecar),
                offset,
                "/api/orders",
                "203.0.113.10",
            );
            sidecar.edge_request_id = Some(format!("edge-{index}"));
            sidecar
        })
        .collect()
}

fn bench_correlate(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("correlate");
    // One iteration correlates all records, so ten samples of one iteration each take about 10 s.
    group.sample_size(10);
    group.measurement_time(WallTime::from_secs(10));

    for (name, records) in [
        ("demo_unique_ids", demo_unique_ids()),
        ("identical_burst", identical_burst()),
    ] {
        group.throughput(Throughput::Elements(records.len() as u64));
        group.bench_function(name, |bencher| {
            bencher.iter_batched(
                || records.clone(),
                |batch| black_box(correlate(batch)),
                BatchSize::LargeInput,
            );
        });
    }

    let burst = identical_burst();
    group.throughput(Throughput::Elements(burst.len() as u64));
    group.bench_function("identical_burst_bounded", |bencher| {
        bencher.iter_batched(
            || burst.clone(),
            |batch| {
                let mut correlator = Correlator::new(10_000);
                for observation in batch {
                    black_box(correlator.add(observation));
                }
                correlator.evicted()
            },
            BatchSize::LargeInput,
        );
    });

    group.finish();
}

criterion_group!(benches, bench_correlate);
criterion_main!(benches);
