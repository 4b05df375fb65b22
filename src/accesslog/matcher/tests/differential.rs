//! `split_unique` against its earlier version, which the full search was checked against, on real,
//! generated and damaged lines of several formats.

use super::oracle;
use super::{Random, formats, generate, mutate};
use crate::accesslog::format::Format;
use crate::accesslog::matcher::{MAX_LINE_BYTES, split_unique};
use crate::accesslog::parse_line;

/// Formats beyond the shared list: literals that are not ASCII, that contain braces or tabs, and a
/// bare field with a maximum length.
fn more_formats() -> Vec<Format> {
    let sources = [
        "%RESPONSE_CODE%\u{b7}\"%REQ(USER-AGENT)%\"\u{b7}%ROUTE_NAME%",
        "%RESPONSE_CODE% {%REQ(X-A)%} %ROUTE_NAME%",
        "%RESPONSE_CODE%\t%RESPONSE_CODE_DETAILS%\t\"%REQ(USER-AGENT)%\"",
        "%REQ(X-A):4% %RESPONSE_FLAGS%|%UPSTREAM_CLUSTER%",
        "%RESPONSE_CODE_DETAILS%\u{e9}%ROUTE_NAME%",
    ];
    sources
        .iter()
        .map(|source| Format::compile(source).expect("test formats compile"))
        .collect()
}

fn read_lines(relative: &str) -> Vec<String> {
    let path = format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    text.lines().map(str::to_string).collect()
}

/// The recorded demo lines, the fixture log, and the lines the access log tests quote as raw
/// string constants.
fn real_lines() -> Vec<String> {
    let mut lines = read_lines("demo/istio-system.istio-ingressgateway.log");
    lines.extend(read_lines("demo/shop.orders.log"));
    lines.extend(read_lines("tests/fixtures/accesslog/mixed.log"));
    for source in read_lines("tests/accesslog.rs") {
        let quoted = source
            .strip_prefix("const ")
            .and_then(|rest| rest.split_once("= r#\""))
            .and_then(|(_, value)| value.strip_suffix("\"#;"));
        if let Some(value) = quoted {
            lines.push(value.to_string());
        }
    }
    lines
}

/// Returns the demo lines with a start time, path, `x-request-id` and edge request id of their
/// own, as the benchmark's generator makes them.
fn generated_lines(random: &mut Random, count: usize) -> Vec<String> {
    let demo: Vec<String> = real_lines()
        .into_iter()
        .filter(|line| parse_line(line).is_ok_and(|entry| entry.edge_request_id.is_some()))
        .collect();
    let paths = [
        "/api/orders",
        "/api/orders/",
        "/api/orders?status=open&page=",
        "/api/cart/",
    ];
    (0..count)
        .map(|index| {
            let line = &demo[index % demo.len()];
            let entry = parse_line(line).expect("filtered on parsing");
            let mut out = line.clone();
            let time = format!(
                "2026-12-04T22:{:02}:{:02}.{:03}Z",
                random.below(60),
                random.below(60),
                random.below(1000)
            );
            let path = format!("{}{}", random.pick(&paths), random.below(9973));
            let request_id = format!("{:016x}-4{:03x}", random.next(), random.below(0x1000));
            let edge_id = format!("{:08x}", random.next() & 0xffff_ffff);
            let replacements = [
                (entry.start_time, time),
                (entry.path, path),
                (entry.request_id, request_id),
                (entry.edge_request_id, edge_id),
            ];
            for (old, new) in replacements {
                if let Some(old) = old {
                    out = out.replacen(&old, &new, 1);
                }
            }
            out
        })
        .collect()
}

/// Changes `line` in one of the ways `mutate` does not (a `-`, brace, tab, control or non-ASCII
/// character inserted or put in place of another, a piece repeated) or in one of its ways.
fn damage(line: &str, random: &mut Random) -> String {
    let at = random.boundary(line);
    let inserts = [
        "-",
        "{",
        "}",
        "{}",
        "\t",
        "\u{b}",
        "\u{1}",
        "\u{e9}",
        "\u{a0}",
        "\u{2028}",
        "\u{1f600}",
        "\" ",
        " \"",
        "] \"",
    ];
    let mut changed = line.to_string();
    match random.below(5) {
        0 | 1 => changed.insert_str(at, random.pick(&inserts)),
        2 => {
            if let Some(c) = changed[at..].chars().next() {
                let by = random.pick(&inserts);
                changed.replace_range(at..at + c.len_utf8(), by);
            }
        }
        3 => {
            let end = random.boundary(line).max(at);
            let piece = changed[at..end].to_string();
            changed.insert_str(end, &piece);
        }
        _ => changed = mutate(&changed, random),
    }
    changed
}

/// Compares both versions on `line` for every format, and counts per format the lines the new
/// version split.
fn assert_same(formats: &[Format], line: &str, split_counts: &mut [usize]) {
    for (format, count) in formats.iter().zip(split_counts) {
        let new = split_unique(&format.segments, format.literal_quotes, line);
        let old = oracle::split_unique(&format.segments, format.literal_quotes, line);
        *count += usize::from(new.is_some());
        assert_eq!(new, old, "format {}\nline {line:?}", format.source());
    }
}

#[test]
fn split_unique_matches_oracle() {
    let mut formats = formats();
    formats.extend(more_formats());
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    let mut split_counts = vec![0usize; formats.len()];
    let mut lines = real_lines();
    lines.extend(generated_lines(&mut random, 2_000));
    for round in 0..3_000 {
        lines.push(generate(&formats[round % formats.len()], &mut random));
    }
    let originals = lines.len();
    for index in 0..originals {
        // One to three changes on top of each line, from both sets of changes.
        for _ in 0..3 {
            let mut changed = lines[index].clone();
            for _ in 0..=random.below(3) {
                changed = damage(&changed, &mut random);
            }
            lines.push(changed);
        }
    }
    for line in &lines {
        assert_same(&formats, line, &mut split_counts);
    }
    // Every format must split some of the lines, or the comparison proves little for it.
    for (format, count) in formats.iter().zip(split_counts) {
        assert!(count > 0, "no line of {} was split", format.source());
    }
}

#[test]
fn split_unique_matches_oracle_long() {
    // Runs of one character that make a line just fit or exceed the maximum length.
    let formats = formats();
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let mut split_counts = vec![0usize; formats.len()];
    let lines = real_lines();
    for (index, line) in lines.iter().take(8).enumerate() {
        let at = random.boundary(line);
        let run = ["x", " ", "\"", "{"][index % 4];
        for extra in [0, 1] {
            let mut long = line.clone();
            long.insert_str(at, &run.repeat(MAX_LINE_BYTES + extra - line.len()));
            assert_same(&formats, &long, &mut split_counts);
        }
    }
    assert!(
        split_counts.iter().any(|&count| count > 0),
        "no long line split"
    );
}
