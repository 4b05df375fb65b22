//! Resuming a log stream after a reconnect without repeating or losing lines.
//!
//! With `timestamps=true` the API server prefixes each line with its RFC 3339 time (nanoseconds).
//! A reconnect requests `sinceTime` = the newest delivered time, rounded down to the second because
//! the client sends whole seconds. The kubelet reads the same file again and returns, in file
//! order, every line with a time in or after that second. The lines delivered before the cut
//! with such a time are exactly the first ones it returns, because a stream delivers in file
//! order, so that many lines are skipped whatever their text. Lines that share a timestamp, and
//! lines whose runtime clock went backwards within the second, are counted like any other.

use chrono::{DateTime, SubsecRound, Utc};

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
    /// The newest time delivered.
    last: Option<DateTime<Utc>>,
    /// Lines delivered with a time in the second of `last` or later: a reconnect reads them again
    /// first.
    in_last_second: u64,
    /// While resuming: lines of the new connection still to skip.
    skip: u64,
}

impl ResumePoint {
    /// Returns the `sinceTime` for the next connection: the newest delivered time rounded down to
    /// the second, or `None` before the first line.
    pub fn since_time(&self) -> Option<DateTime<Utc>> {
        self.last.map(|last| last.trunc_subsecs(0))
    }

    /// Marks the start of a new connection, whose first lines repeat those delivered from the
    /// boundary second on.
    pub fn begin_resume(&mut self) {
        self.skip = self.in_last_second;
    }

    /// Returns whether to deliver a line with time `time`, and records it.
    pub fn accept(&mut self, time: DateTime<Utc>) -> bool {
        let Some(last) = self.last else {
            self.last = Some(time);
            self.in_last_second = 1;
            return true;
        };
        let second = last.trunc_subsecs(0);
        if self.skip > 0 {
            if time > last {
                // Newer than anything delivered, so the repeats are over early: the file changed
                // (a rotation), or the server did not send every delivered line again.
                self.skip = 0;
            } else {
                // A time before the requested second is not part of the repeat either, but the
                // server does not send one.
                self.skip -= u64::from(time >= second);
                return false;
            }
        }
        if time > last {
            if time.trunc_subsecs(0) > second {
                self.in_last_second = 0;
            }
            self.last = Some(time);
        }
        // A connection delivers in file order, so an older time here is the runtime's clock.
        if self.last.is_some_and(|last| time >= last.trunc_subsecs(0)) {
            self.in_last_second += 1;
        }
        true
    }
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
                point.accept(time).then(|| text.to_owned())
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
    fn resume_keeps_older_line_in_second() {
        let mut point = ResumePoint::default();
        feed(&mut point, &["2026-03-01T10:00:05.700Z a"]);
        point.begin_resume();
        // Written after the cut with a clock 5 µs behind: new, though older than `a`.
        let delivered = feed(
            &mut point,
            &[
                "2026-03-01T10:00:05.700Z a",
                "2026-03-01T10:00:05.699995Z b",
                "2026-03-01T10:00:06Z c",
            ],
        );
        assert_eq!(delivered, ["b", "c"]);
    }

    #[test]
    fn resume_counts_many_same_time() {
        let line = "2026-03-01T10:00:05.700Z same";
        let mut point = ResumePoint::default();
        assert_eq!(feed(&mut point, &vec![line; 2_000]).len(), 2_000);
        point.begin_resume();
        let delivered = feed(&mut point, &vec![line; 2_500]);
        assert_eq!(delivered.len(), 500);
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
