//! Reading the `exp`, `nbf` and `iat` `NumericDates` of the claims as times, and judging them the
//! way Envoy's `jwt_authn` does.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::{Problem, TimeClaim};

/// Envoy's `jwt_authn` default `clock_skew_seconds`; Istio does not change it, so `exp` and `nbf`
/// are checked with this tolerance.
const ENVOY_CLOCK_SKEW_SECONDS: i64 = 60;

const TIME_CLAIMS: [&str; 3] = ["exp", "nbf", "iat"];

/// Returns the time claims of `claims` relative to `now`, and the problems with them.
pub(super) fn read_times(claims: &Value, now: DateTime<Utc>) -> (Vec<TimeClaim>, Vec<Problem>) {
    let mut times = Vec::new();
    let mut problems = Vec::new();

    for claim in TIME_CLAIMS {
        let Some(value) = claims.get(claim) else {
            if claim == "exp" {
                problems.push(Problem::warning(
                    "no_expiry",
                    "the token has no `exp` claim, so it does not expire; Envoy accepts it for as \
                     long as its key is trusted",
                ));
            }
            continue;
        };
        let Some(time) = numeric_date(value) else {
            if value.is_number() {
                problems.push(Problem::warning(
                    "numeric_date_out_of_range",
                    format!("`{claim}` is {value}, outside the dates idflow can show"),
                ));
                // Envoy still compares the number with its clock.
                problems.extend(
                    mesh_seconds_from_now(value, now).and_then(|seconds| judge(claim, seconds)),
                );
                continue;
            }
            problems.push(Problem::error(
                "invalid_numeric_date",
                format!(
                    "`{claim}` is {}, not a NumericDate (a number of seconds since 1970-01-01 UTC); \
                     Envoy's jwt_authn returns 401 `Jwt payload [{claim}] field is not an integer`",
                    describe(value)
                ),
            ));
            continue;
        };
        let relative_seconds = (time - now).num_seconds();
        if claim == "exp" && is_zero_seconds(value) {
            problems.push(Problem::warning(
                "no_expiry",
                format!(
                    "`exp` is {value}, which Envoy's jwt_authn reads as 0, meaning no expiry: the \
                     mesh accepts the token for as long as its key is trusted, while verifiers that \
                     follow RFC 7519 reject it as expired in 1970"
                ),
            ));
        } else {
            let judged = mesh_seconds_from_now(value, now).unwrap_or(relative_seconds);
            problems.extend(judge(claim, judged));
        }
        times.push(TimeClaim {
            claim: claim.to_owned(),
            time: time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            relative_seconds,
        });
    }
    (times, problems)
}

/// Reads a JSON number of seconds since the epoch, fractions included (RFC 7519 allows them).
fn numeric_date(value: &Value) -> Option<DateTime<Utc>> {
    let Value::Number(number) = value else {
        return None;
    };
    if let Some(seconds) = number.as_i64() {
        return DateTime::from_timestamp(seconds, 0);
    }
    let seconds = number.as_f64()?;
    if !seconds.is_finite() {
        return None;
    }
    let whole = seconds.floor();
    // A double near 1.8e9 carries about 0.2 µs of precision, so the fraction is rounded to whole
    // microseconds: 1796483812.8 shows as .800, not .799999952. Casts are exact within chrono's
    // range, which `from_timestamp` checks.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let nanos = (((seconds - whole) * 1e6).round().min(999_999.0) as u32) * 1_000;
    if whole.abs() > 1e15 {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    DateTime::from_timestamp(whole as i64, nanos)
}

/// Returns the seconds from `now` to the time claim `value` as Envoy's `jwt_authn` compares them:
/// both truncated to whole seconds, so an `exp` 60.5 s ago counts as 61 s. `None` for a negative
/// number, which Envoy rejects.
fn mesh_seconds_from_now(value: &Value, now: DateTime<Utc>) -> Option<i64> {
    if value.as_f64()? < 0.0 {
        return None;
    }
    let seconds = i128::from(super::verify::envoy_seconds(value)?) - i128::from(now.timestamp());
    Some(i64::try_from(seconds).unwrap_or(i64::MAX))
}

/// Returns whether `value` is a number that `jwt_verify_lib` truncates to 0 seconds, which it
/// treats as an absent claim.
fn is_zero_seconds(value: &Value) -> bool {
    value
        .as_f64()
        .is_some_and(|seconds| (0.0..1.0).contains(&seconds))
}

/// Describes a non-`NumericDate` value for a message, e.g. `the string "1700000000"`.
fn describe(value: &Value) -> String {
    match value {
        Value::String(text) => format!("the string {}", super::quote_truncated(text)),
        Value::Number(number) => format!("the number {number}"),
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => format!("the boolean {flag}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// Returns the problem, if any, with `claim` lying `relative_seconds` from now.
fn judge(claim: &str, relative_seconds: i64) -> Option<Problem> {
    match claim {
        // RFC 7519: the token must not be accepted on or after `exp`. Envoy rejects when
        // now > exp + clock skew.
        "exp" if relative_seconds <= 0 => {
            let skew = skew_phrase();
            let ago = relative_phrase(relative_seconds);
            let grace = ENVOY_CLOCK_SKEW_SECONDS + relative_seconds;
            let problem = if grace >= 0 {
                Problem::warning(
                    "expired",
                    format!(
                        "expired {ago}, still accepted by the mesh for {} because Envoy's \
                         jwt_authn allows {skew} of clock skew",
                        duration_phrase(grace.unsigned_abs())
                    ),
                )
            } else {
                Problem::error(
                    "expired",
                    format!(
                        "expired {ago}; the mesh returns 401 `Jwt is expired` (Envoy's jwt_authn \
                         allows only {skew} of clock skew); get a fresh token"
                    ),
                )
            };
            Some(problem)
        }
        // Envoy rejects when now < nbf - clock skew.
        "nbf" if relative_seconds > 0 => {
            let skew = skew_phrase();
            let valid_in = relative_phrase(relative_seconds);
            let wait = relative_seconds - ENVOY_CLOCK_SKEW_SECONDS;
            let problem = if wait <= 0 {
                Problem::warning(
                    "not_yet_valid",
                    format!(
                        "not valid yet: `nbf` makes it valid {valid_in}, but the mesh already \
                         accepts it because Envoy's jwt_authn allows {skew} of clock skew"
                    ),
                )
            } else {
                Problem::error(
                    "not_yet_valid",
                    format!(
                        "not valid yet: `nbf` makes it valid {valid_in}, and the mesh returns 401 \
                         `Jwt not yet valid` for another {}; check the clocks of the issuer and \
                         the mesh",
                        duration_phrase(wait.unsigned_abs())
                    ),
                )
            };
            Some(problem)
        }
        "iat" if relative_seconds > ENVOY_CLOCK_SKEW_SECONDS => Some(Problem::warning(
            "issued_in_future",
            format!(
                "`iat` lies {} in the future, so the issuer's clock is ahead; Envoy does not \
                 check `iat`, but other verifiers may reject the token",
                duration_phrase(relative_seconds.unsigned_abs())
            ),
        )),
        _ => None,
    }
}

/// Returns Envoy's clock skew in words. Only the problems that name it call this, because most
/// times have no problem.
fn skew_phrase() -> String {
    duration_phrase(ENVOY_CLOCK_SKEW_SECONDS.unsigned_abs())
}

/// Returns `seconds` from now in words: `in 3 days`, `1 h 5 min ago`, `now`. Problem messages and
/// the Token view use this one form.
pub fn relative_phrase(seconds: i64) -> String {
    let amount = duration_phrase(seconds.unsigned_abs());
    match seconds {
        0 => "now".to_owned(),
        1.. => format!("in {amount}"),
        _ => format!("{amount} ago"),
    }
}

/// Returns a length of time in words, to the two largest units below one day (`1 h 5 min`), in
/// days below two years, then in years of 365 days.
fn duration_phrase(seconds: u64) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    const YEAR: u64 = 365 * DAY;

    match seconds {
        s if s < MINUTE => format!("{s} s"),
        s if s < HOUR => format!("{} min", s / MINUTE),
        s if s < DAY => match s % HOUR / MINUTE {
            0 => format!("{} h", s / HOUR),
            minutes => format!("{} h {minutes} min", s / HOUR),
        },
        s if s < 2 * DAY => match s % DAY / HOUR {
            0 => "1 day".to_owned(),
            hours => format!("1 day {hours} h"),
        },
        s if s < 2 * YEAR => format!("{} days", s / DAY),
        s => format!("{} years", s / YEAR),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrase_table() {
        let cases = [
            (0, "now"),
            (30, "in 30 s"),
            (-59, "59 s ago"),
            (-60, "1 min ago"),
            (-3_600, "1 h ago"),
            (3_900, "in 1 h 5 min"),
            (-7_199, "1 h 59 min ago"),
            (-10_801, "3 h ago"),
            (86_400, "in 1 day"),
            (-(86_400 + 5 * 3_600), "1 day 5 h ago"),
            (3 * 86_400, "in 3 days"),
            (-800 * 86_400, "2 years ago"),
            (i64::MIN, "292471208677 years ago"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(relative_phrase(seconds), expected, "seconds {seconds}");
        }
    }

    #[test]
    fn fractional_numeric_date() {
        let time = numeric_date(&serde_json::json!(1.5)).expect("valid");
        assert_eq!(time.timestamp_subsec_millis(), 500);
    }
}
