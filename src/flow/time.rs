//! A fast reader for the one time form on the hot path: RFC 3339 in UTC with milliseconds, as
//! Envoy logs `%START_TIME%` and as every hop's time is stored (`2025-03-04T10:15:02.118Z`).
//!
//! Every other form returns `None`, and the callers then parse with chrono, so the results are
//! chrono's for every input. The fast reader exists because chrono's general RFC 3339 parser was
//! a large part of the time spent per record: a hop's time is read when flows are sorted, indexed
//! and aged.

/// Returns milliseconds since the Unix epoch for a valid `YYYY-MM-DDTHH:MM:SS.mmmZ`, or `None` for
/// any other text (including other valid RFC 3339 forms, and second 60).
pub(crate) fn canonical_utc_millis(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 24 {
        return None;
    }
    let separators = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ];
    if separators.iter().any(|&(at, byte)| bytes[at] != byte) {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<i64> {
        bytes[from..to].iter().try_fold(0i64, |value, &byte| {
            byte.is_ascii_digit()
                .then(|| value * 10 + i64::from(byte - b'0'))
        })
    };
    let year = number(0, 4)?;
    let month = number(5, 7)?;
    let day = number(8, 10)?;
    let hour = number(11, 13)?;
    let minute = number(14, 16)?;
    let second = number(17, 19)?;
    let millis = number(20, 23)?;
    let valid = (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(seconds * 1_000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Returns the days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard
/// Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, SecondsFormat};

    use super::*;

    fn chrono_millis(text: &str) -> Option<i64> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|parsed| parsed.timestamp_millis())
    }

    #[test]
    fn agrees_with_chrono_over_many_days() {
        let mut time = DateTime::parse_from_rfc3339("1899-12-25T23:59:58.999Z")
            .expect("valid start")
            .to_utc();
        // Steps of 6,553 minutes and 7 ms cross month ends, leap days (1900, 2000 and 2400
        // included) and every hour of the day over about 2,500 years.
        for _ in 0..200_000 {
            let text = time.to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(canonical_utc_millis(&text), chrono_millis(&text), "{text}");
            time += Duration::minutes(6_553) + Duration::milliseconds(7);
        }
    }

    #[test]
    fn reads_canonical_form() {
        assert_eq!(
            canonical_utc_millis("2025-03-04T10:15:02.118Z"),
            chrono_millis("2025-03-04T10:15:02.118Z")
        );
    }

    #[test]
    fn leaves_other_forms_to_chrono() {
        for text in [
            "2025-03-04T10:15:02Z",
            "2025-03-04T10:15:02.1180Z",
            "2025-03-04T10:15:02.118+01:00",
            "2025-03-04t10:15:02.118Z",
            "2025-03-04 10:15:02.118Z",
            "2016-12-31T23:59:60.000Z",
            "2025-02-29T10:15:02.118Z",
            "2024-13-01T10:15:02.118Z",
            "2024-00-01T10:15:02.118Z",
            "2024-01-00T10:15:02.118Z",
            "2024-01-01T24:00:00.000Z",
            "2024-01-01T10:60:00.000Z",
            "+024-01-01T10:15:02.118Z",
            "2024-01-01T10:15:02.1a8Z",
            "",
        ] {
            assert_eq!(canonical_utc_millis(text), None, "{text}");
        }
    }

    #[test]
    fn reads_leap_day() {
        assert_eq!(
            canonical_utc_millis("2024-02-29T00:00:00.000Z"),
            chrono_millis("2024-02-29T00:00:00.000Z")
        );
    }
}
