//! Memory of the live pipeline: feeds generated Envoy lines through the parser and a bounded flow
//! tracker, as the live source does, and prints the flows kept and dropped and the peak memory.
//!
//! ```text
//! cargo run --release --example memory -- [--lines N] [--max-flows N]
//! ```
//!
//! Defaults: 1,000,000 lines, 100,000 flows (the default of `idflow follow --max-flows`). Lines are
//! made one request at a time, so that the peak is the pipeline's and not the input's. The peak
//! (`VmHWM`) and resident size (`VmRSS`) come from `/proc/self/status` (Linux only).

idflow::use_pipeline_allocator!();

#[path = "../benches/support/envoy_lines.rs"]
mod envoy_lines;

use std::process::ExitCode;
use std::time::Instant;

use envoy_lines::Generator;
use idflow::accesslog::LogParser;
use idflow::source::kube::FlowTracker;

/// Lines between two collections of the changed flows: 500 ms at 200,000 lines a second, as
/// often as the live source collects them.
const COLLECT_EVERY: u64 = 100_000;

struct Options {
    lines: u64,
    max_flows: usize,
}

/// Reads `--lines N` and `--max-flows N`.
fn options() -> Result<Options, String> {
    let mut options = Options {
        lines: 1_000_000,
        max_flows: 100_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("\"{flag}\" needs a number after it"))?;
        let number = |value: &str| {
            value
                .replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("\"{value}\" after {flag} is not a whole number"))
        };
        match flag.as_str() {
            "--lines" => options.lines = number(&value)?,
            "--max-flows" => {
                options.max_flows = usize::try_from(number(&value)?)
                    .map_err(|_| format!("\"{value}\" after {flag} is too large"))?;
            }
            _ => {
                return Err(format!(
                    "unknown flag \"{flag}\"; use --lines N or --max-flows N"
                ));
            }
        }
    }
    Ok(options)
}

/// Returns a `/proc/self/status` value in KiB, e.g. `VmHWM`, or 0 where there is none.
fn status_kib(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("memory: {message}");
            return ExitCode::from(2);
        }
    };
    let generator = Generator::from_demo();
    let mut parser = LogParser::new();
    let mut tracker = FlowTracker::new(options.max_flows);
    let before_kib = status_kib("VmRSS");
    let started = Instant::now();

    let mut fed = 0u64;
    let mut request = 0u64;
    let mut next_collect = COLLECT_EVERY;
    while fed < options.lines {
        for line in generator.request(request) {
            if let Ok(observation) = parser.parse_observation(&line.text, line.location, line.role)
            {
                tracker.push(observation);
            }
            fed += 1;
        }
        request += 1;
        if fed >= next_collect {
            drop(tracker.changed());
            next_collect += COLLECT_EVERY;
        }
    }
    drop(tracker.changed());
    let elapsed = started.elapsed();

    let after_kib = status_kib("VmRSS");
    let kept = tracker.len();
    let per_flow = (after_kib.saturating_sub(before_kib) * 1024)
        .checked_div(kept as u64)
        .unwrap_or(0);
    println!("lines fed:        {fed}");
    println!("lines parsed:     {}", parser.stats().parsed);
    println!("max flows:        {}", options.max_flows);
    println!("flows kept:       {kept}");
    println!("flows dropped:    {}", tracker.evicted());
    println!("VmRSS before:     {before_kib} KiB");
    println!("VmRSS after:      {after_kib} KiB");
    println!("VmHWM (peak):     {} KiB", status_kib("VmHWM"));
    println!("bytes per flow:   {per_flow} (RSS growth / flows kept)");
    // Up to 2^53 lines convert to f64 exactly, far more than this example feeds.
    #[allow(clippy::cast_precision_loss)]
    let rate = fed as f64 / elapsed.as_secs_f64();
    println!(
        "time:             {:.2} s ({rate:.0} lines/s, generation included)",
        elapsed.as_secs_f64()
    );
    ExitCode::SUCCESS
}
