//! Reading a whole DataStream 2 JSON file: one record per line, or a JSON array of records (as an
//! HTTPS push delivers them), with an error per bad record instead of stopping at the first one.

use std::fmt;

use super::value::quote;
use super::{EdgeError, EdgeRecord, parse_ds2_json};

/// The records of one file and the errors found on the way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ds2Batch {
    pub records: Vec<EdgeRecord>,
    /// Every line that failed, and every invalid field of a record that was kept, with its line.
    pub errors: Vec<Ds2LineError>,
}

/// An error with the 1-based line where its record starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ds2LineError {
    pub line: usize,
    pub error: EdgeError,
}

impl fmt::Display for Ds2LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.error)
    }
}

impl std::error::Error for Ds2LineError {}

/// Reads DataStream 2 JSON text: a JSON array of records, or one record (or one array) per line.
/// Blank lines are ignored.
pub fn read_ds2(text: &str) -> Ds2Batch {
    let mut batch = Ds2Batch::default();
    let mut rest = text;
    let mut lines_before = 0;
    // A pretty-printed array spans lines, so it is split as a whole. Any text after it is read line
    // by line like the rest of the file.
    if text.trim_start().starts_with('[') {
        match split_array(text, 1) {
            Ok((elements, end)) => {
                batch.add_elements(elements);
                rest = &text[end..];
                lines_before = text[..end].matches('\n').count();
            }
            Err(error) => {
                batch.errors.push(error);
                return batch;
            }
        }
    }
    for (index, line) in rest.lines().enumerate() {
        let line_number = lines_before + index + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if !line.starts_with('[') {
            batch.add_record(line, line_number);
            continue;
        }
        match split_array(line, line_number) {
            Ok((elements, end)) => {
                batch.add_elements(elements);
                let after = line[end..].trim();
                if !after.is_empty() {
                    let reason = format!("unexpected text after the array: \"{}\"", quote(after));
                    batch.errors.push(invalid_json(line_number, &reason));
                }
            }
            Err(error) => batch.errors.push(error),
        }
    }
    batch
}

fn invalid_json(line: usize, reason: &str) -> Ds2LineError {
    Ds2LineError {
        line,
        error: EdgeError::InvalidJson(reason.to_owned()),
    }
}

impl Ds2Batch {
    fn add_record(&mut self, text: &str, line: usize) {
        match parse_ds2_json(text) {
            Ok(record) => {
                let problems = record.problems.iter().cloned();
                self.errors
                    .extend(problems.map(|error| Ds2LineError { line, error }));
                self.records.push(record);
            }
            Err(error) => self.errors.push(Ds2LineError { line, error }),
        }
    }

    fn add_elements(&mut self, elements: Vec<Element<'_>>) {
        for (line, element) in elements {
            self.add_record(element, line);
        }
    }
}

/// One element of a JSON array: the line where it starts and its text.
type Element<'a> = (usize, &'a str);

/// Splits the text of one JSON array into its elements, each with the line where it starts.
///
/// Only the array's structure is scanned here (strings, nesting, commas), so one bad element is
/// reported on its own line while the others still parse.
/// Returns the elements and the byte offset just past the closing `]`.
fn split_array(text: &str, first_line: usize) -> Result<(Vec<Element<'_>>, usize), Ds2LineError> {
    let open = text
        .find('[')
        .ok_or_else(|| invalid_json(first_line, "expected `[`"))?;
    let mut line = first_line + text[..open].matches('\n').count();
    let mut elements = Vec::new();
    let mut start: Option<(usize, usize)> = None;
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;

    for (at, byte) in text.bytes().enumerate().skip(open + 1) {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                b'\n' => line += 1,
                _ => {}
            }
            continue;
        }
        match byte {
            b'\n' => line += 1,
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => depth -= 1,
            b',' | b']' if depth == 0 => {
                let (element_start, element_line) = start.take().unwrap_or((at, line));
                let element = text[element_start..at].trim();
                if !element.is_empty() || byte == b',' {
                    elements.push((element_line, element));
                }
                if byte == b']' {
                    return Ok((elements, at + 1));
                }
                continue;
            }
            _ => {}
        }
        if start.is_none() && !byte.is_ascii_whitespace() {
            start = Some((at, line));
        }
    }
    Err(invalid_json(
        first_line,
        "the JSON array is not closed with `]`",
    ))
}
