//! Throughput of the live pipeline, from raw access log lines to flows, in lines per second.
//!
//! Run with `cargo bench --bench pipeline`. The lines are made from the recorded demo lines, with
//! a start time, ids and path of their own per request. A request is a gateway line and, for most
//! requests, the sidecar line of the same request. Each case takes 100,000 such lines through what
//! the live source's join task does with each line: [`LogParser::parse_observation`] and
//! [`FlowTracker::push`]. The changed flows are collected every 10,000 lines, as the task's timer
//! does.
//! - `parse_only`: [`LogParser::parse`] alone, which builds the whole entry, for comparison.
//! - `parse_observe`: [`LogParser::parse_observation`] alone, without correlation.
//! - `parse_correlate`: parse and correlation into a tracker keeping 100,000 flows (the default).
//! - `parse_correlate_bounded`: the same into a tracker keeping 10,000 flows, so that most flows
//!   are evicted on the way.

idflow::use_pipeline_allocator!();

#[path = "support/envoy_lines.rs"]
mod envoy_lines;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use envoy_lines::{GeneratedLine, Generator};
use idflow::accesslog::LogParser;
use idflow::source::kube::FlowTracker;

const LINES: usize = 100_000;
/// Lines between two collections of the changed flows. The live source collects every 500 ms,
/// which is 100,000 lines at 200,000 lines a second; collecting more often costs more.
const COLLECT_EVERY: usize = 10_000;

/// Runs the live join task's work on `lines` and returns the flows kept and evicted.
fn run_pipeline(lines: &[GeneratedLine], max_flows: usize) -> (usize, u64) {
    let mut parser = LogParser::new();
    let mut tracker = FlowTracker::new(max_flows);
    for (index, line) in lines.iter().enumerate() {
        if let Ok(observation) = parser.parse_observation(&line.text, line.location, line.role) {
            tracker.push(observation);
        }
        if index % COLLECT_EVERY == COLLECT_EVERY - 1 {
            black_box(tracker.changed());
        }
    }
    black_box(tracker.changed());
    (tracker.len(), tracker.evicted())
}

fn bench_pipeline(criterion: &mut Criterion) {
    let lines = Generator::from_demo().lines(0, LINES);
    let lines = &lines[..LINES];
    // A benchmark of lines that do not parse would measure the error path only.
    let mut parser = LogParser::new();
    for line in lines {
        assert!(parser.parse(&line.text).is_ok(), "{}", line.text);
    }

    let mut group = criterion.benchmark_group("pipeline");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(LINES as u64));

    group.bench_function("parse_only", |bencher| {
        bencher.iter(|| {
            let mut parser = LogParser::new();
            for line in lines {
                black_box(parser.parse(&line.text).is_ok());
            }
            parser.stats().parsed
        });
    });
    group.bench_function("parse_observe", |bencher| {
        bencher.iter(|| {
            let mut parser = LogParser::new();
            for line in lines {
                black_box(parser.parse_observation(&line.text, line.location, line.role)).ok();
            }
            parser.stats().parsed
        });
    });
    group.bench_function("parse_correlate", |bencher| {
        bencher.iter(|| run_pipeline(lines, 100_000));
    });
    group.bench_function("parse_correlate_bounded", |bencher| {
        bencher.iter(|| run_pipeline(lines, 10_000));
    });
    group.finish();
}

criterion_group!(benches, bench_pipeline);
criterion_main!(benches);
