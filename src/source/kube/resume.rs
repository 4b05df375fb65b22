//! Resuming a log stream after a reconnect without repeating lines.
//!
//! With `timestamps=true` the API server prefixes each line with its RFC 3339 time (nanoseconds).
//! A reconnect requests `sinceTime` = the last delivered time, rounded down to the second because
//! the client sends whole seconds. The new stream therefore repeats the lines of that second. Lines
//! older than the last delivered time are dropped; lines with exactly that time are dropped as many
//! times as they were already delivered, since two lines can share a timestamp.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};

use chrono::{DateTime, SubsecRound, Utc};

/// Upper bound on distinct lines remembered at the last timestamp.
// NOTE: lines past this many at one nanosecond timestamp are read again after a reconnect; the
// correlator then merges each repeat into its hop (`duplicates_merged`).
const MAX_BOUNDARY_LINES: usize = 1024;

/// Splits `TIMESTAMP TEXT` into the time and the text. Returns `None` when the line does not start
/// with an RFC 3339 time.
pub fn split_timestamp(line: &str) -> Option<(DateTime<Utc>, &str)> {
    let (time, text) = line.split_once(' ').unwrap_or((line, ""));
    let time = DateTime::parse_from_rfc3339(time).ok()?;
    Some((time.with_timezone(&Utc), text))
}

/// The position reached in one container's log, for resuming after a reconnect.
#[derive(Debug, Clone, Default)]
pub struct ResumePoint {
    last: Option<DateTime<Utc>>,
    /// Lines delivered with the time `last`, by [`line_key`], and how often.
    at_last: HashMap<u64, u32>,
    /// While resuming: lines at `last` still expected again, by [`line_key`], and how often.
    repeat: HashMap<u64, u32>,
    resuming: bool,
}

impl ResumePoint {
    /// Returns the `sinceTime` for the next connection: the last delivered time rounded down to
    /// the second, or `None` before the first line.
    pub fn since_time(&self) -> Option<DateTime<Utc>> {
        self.last.map(|last| last.trunc_subsecs(0))
    }

    /// Marks the start of a new connection, whose first lines repeat the boundary second.
    pub fn begin_resume(&mut self) {
        self.resuming = self.last.is_some();
        self.repeat.clone_from(&self.at_last);
    }

    /// Returns whether to deliver a line with time `time` and text `text`, and records it.
    pub fn accept(&mut self, time: DateTime<Utc>, text: &str) -> bool {
        let Some(last) = self.last else {
            self.advance(time, text);
            return true;
        };
        if time > last {
            self.advance(time, text);
            return true;
        }
        if self.resuming {
            if time < last {
                return false;
            }
            if let Some(count) = self
                .repeat
                .get_mut(&line_key(text))
                .filter(|count| **count > 0)
            {
                *count -= 1;
                return false;
            }
        }
        // A connection delivers in order, so an older time here is the runtime's clock, not a repeat.
        if time == last && self.at_last.len() < MAX_BOUNDARY_LINES {
            *self.at_last.entry(line_key(text)).or_insert(0) += 1;
        }
        true
    }

    fn advance(&mut self, time: DateTime<Utc>, text: &str) {
        self.last = Some(time);
        self.resuming = false;
        self.repeat.clear();
        self.at_last.clear();
        self.at_last.insert(line_key(text), 1);
    }
}

/// Returns the key under which a line is remembered: a 64-bit hash, so that a line of up to
/// [`super::logs::MAX_LOG_LINE_BYTES`] costs 12 bytes here. Two different lines would have to share
/// the nanosecond timestamp and the hash for one to be skipped as the other's repeat.
fn line_key(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("test time")
            .with_timezone(&Utc)
    }

    /// Feeds `lines` (`TIME TEXT`) and returns the texts delivered.
    fn feed(point: &mut ResumePoint, lines: &[&str]) -> Vec<String> {
        lines
            .iter()
            .filter_map(|line| {
                let (time, text) = split_timestamp(line).expect("test line");
                point.accept(time, text).then(|| text.to_owned())
            })
            .collect()
    }

    #[test]
    fn split_reads_nanoseconds() {
        let (parsed, text) =
            split_timestamp("2026-03-01T10:00:00.123456789Z [access] GET /").expect("split");
        assert_eq!(parsed, time("2026-03-01T10:00:00.123456789Z"));
        assert_eq!(text, "[access] GET /");
    }

    #[test]
    fn split_rejects_untimed_line() {
        assert!(split_timestamp("[2026-03-01T10:00:00Z] GET /").is_none());
    }

    #[test]
    fn since_time_rounds_down() {
        let mut point = ResumePoint::default();
        feed(&mut point, &["2026-03-01T10:00:05.900Z a"]);
        assert_eq!(point.since_time(), Some(time("2026-03-01T10:00:05Z")));
    }

    #[test]
    fn since_time_absent_before_lines() {
        assert_eq!(ResumePoint::default().since_time(), None);
    }

    #[test]
    fn resume_skips_boundary_repeats() {
        let mut point = ResumePoint::default();
        feed(
            &mut point,
            &[
                "2026-03-01T10:00:05.100Z a",
                "2026-03-01T10:00:05.700Z b",
                "2026-03-01T10:00:05.700Z c",
            ],
        );
        point.begin_resume();
        let delivered = feed(
            &mut point,
            &[
                "2026-03-01T10:00:05.100Z a",
                "2026-03-01T10:00:05.700Z b",
                "2026-03-01T10:00:05.700Z c",
                "2026-03-01T10:00:05.700Z d",
                "2026-03-01T10:00:06.000Z e",
            ],
        );
        assert_eq!(delivered, ["d", "e"]);
    }

    #[test]
    fn resume_keeps_same_text_twice() {
        let mut point = ResumePoint::default();
        feed(&mut point, &["2026-03-01T10:00:05.700Z same"]);
        point.begin_resume();
        let delivered = feed(
            &mut point,
            &[
                "2026-03-01T10:00:05.700Z same",
                "2026-03-01T10:00:05.700Z same",
            ],
        );
        assert_eq!(delivered, ["same"]);
    }

    #[test]
    fn live_stream_keeps_older_time() {
        let mut point = ResumePoint::default();
        let delivered = feed(
            &mut point,
            &["2026-03-01T10:00:06Z a", "2026-03-01T10:00:05Z b"],
        );
        assert_eq!(delivered, ["a", "b"]);
    }

    #[test]
    fn resume_ends_after_new_time() {
        let mut point = ResumePoint::default();
        feed(&mut point, &["2026-03-01T10:00:05Z a"]);
        point.begin_resume();
        let delivered = feed(
            &mut point,
            &["2026-03-01T10:00:06Z b", "2026-03-01T10:00:06Z b"],
        );
        assert_eq!(delivered, ["b", "b"]);
    }
}
