//! Reading a whole DataStream 2 JSON file: one record per line, or a JSON array of records (as an
//! HTTPS push delivers them), with an error per bad record instead of stopping at the first one.

use std::fmt;

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
    if text.trim_start().starts_with('[') {
        batch.add_array(text, 1);
        return batch;
    }
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            batch.add_array(line, line_number);
        } else {
            batch.add_record(line, line_number);
        }
    }
    batch
}

impl Ds2Batch {
    fn add_record(&mut self, text: &str, line: usize) {
        match parse_ds2_json(text) {
            Ok(mut record) => {
                let problems = std::mem::take(&mut record.problems);
                self.errors.extend(
                    problems
                        .iter()
                        .cloned()
                        .map(|error| Ds2LineError { line, error }),
                );
                record.problems = problems;
                self.records.push(record);
            }
            Err(error) => self.errors.push(Ds2LineError { line, error }),
        }
    }

    fn add_array(&mut self, text: &str, first_line: usize) {
        match split_array(text, first_line) {
            Ok(elements) => {
                for (line, element) in elements {
                    self.add_record(element, line);
                }
            }
            Err(error) => self.errors.push(error),
        }
    }
}

/// Splits the text of one JSON array into its elements, each with the line where it starts.
///
/// Only the array's structure is scanned here (strings, nesting, commas), so one bad element is
/// reported on its own line while the others still parse.
fn split_array(text: &str, first_line: usize) -> Result<Vec<(usize, &str)>, Ds2LineError> {
    let fail = |line: usize, reason: &str| Ds2LineError {
        line,
        error: EdgeError::InvalidJson(reason.to_owned()),
    };
    let open = text
        .find('[')
        .ok_or_else(|| fail(first_line, "expected `[`"))?;
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
            b',' | b']' => {
                let (element_start, element_line) = start.take().unwrap_or((at, line));
                let element = text[element_start..at].trim();
                if !element.is_empty() || byte == b',' {
                    elements.push((element_line, element));
                }
                if byte == b']' {
                    let rest = text[at + 1..].trim();
                    if !rest.is_empty() {
                        return Err(fail(
                            line,
                            &format!(
                                "unexpected text after the array: \"{}\"",
                                super::value::quote(rest)
                            ),
                        ));
                    }
                    return Ok(elements);
                }
                continue;
            }
            _ => {}
        }
        if start.is_none() && !byte.is_ascii_whitespace() {
            start = Some((at, line));
        }
    }
    Err(fail(first_line, "the JSON array is not closed with `]`"))
}
