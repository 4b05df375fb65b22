//! `idflow decode`: decode a token, with the exit status DESIGN.md lists.

use std::fmt::Write as _;
use std::io::{IsTerminal as _, Read as _};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{DecodeArgs, OutputFormat};
use crate::token::{self, Inspection, TokenKind, relative_phrase};

/// Pasted input above this size is refused before decoding; real tokens stay far below it.
const MAX_INPUT_BYTES: u64 = 8 * 1024 * 1024;

/// Exit status for a token that was found and decoded but is invalid.
const EXIT_INVALID: u8 = 1;

/// Exit status for input that contains no token, and for usage errors.
const EXIT_USAGE: u8 = 2;

/// The exit statuses of `idflow decode`, for its `--help` text. Status 1 follows
/// [`token::Problem::invalidates`].
pub const EXIT_STATUS_HELP: &str = "Exit status:
  0  a token was found and nothing makes it invalid (warnings and notes may remain)
  1  a token was found but is invalid: it has a problem of error severity (a segment that is not
     base64url or not JSON, `alg` none or missing, an empty signature, a JWE, an opaque token
     where Envoy expects a JWT, a scheme other than `Bearer ` with one space, text around the
     token, a time claim that is not a number), or it has expired or is not yet valid, even
     within Envoy's 1 min of clock skew
  2  no token in the input, or invalid flags";

/// Runs `idflow decode` and returns the exit status that [`EXIT_STATUS_HELP`] lists.
// NOTE: keys (`--jwks`, `--issuer`) are not handled yet, so status 1 never means "unverified".
pub fn run(args: &DecodeArgs) -> ExitCode {
    match decode(args) {
        Ok((output, invalid)) => {
            print!("{output}");
            if invalid {
                ExitCode::from(EXIT_INVALID)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(message) => {
            eprintln!("idflow decode: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Returns the output and whether the token is invalid, or the error message.
fn decode(args: &DecodeArgs) -> Result<(String, bool), String> {
    let now = match &args.at {
        Some(value) => parse_at(value)?,
        None => Utc::now(),
    };
    let input = match args.token.as_deref() {
        Some(token) if token != "-" => token.to_owned(),
        _ => read_stdin()?,
    };
    let inspection = token::inspect(&input, now).map_err(|error| error.to_string())?;

    let output = match args.output {
        OutputFormat::Json | OutputFormat::Ndjson => {
            let value = to_json(&inspection, args.show_secrets);
            let mut text = if args.output == OutputFormat::Json {
                serde_json::to_string_pretty(&value)
            } else {
                serde_json::to_string(&value)
            }
            .map_err(|error| format!("failed to write JSON: {error}"))?;
            text.push('\n');
            text
        }
        OutputFormat::Text => to_text(&inspection, args.show_secrets),
    };
    Ok((output, inspection.is_invalid()))
}

/// Parses `--at` as RFC 3339 or whole Unix seconds.
fn parse_at(value: &str) -> Result<DateTime<Utc>, String> {
    let parsed = if let Ok(seconds) = value.trim().parse::<i64>() {
        DateTime::from_timestamp(seconds, 0)
    } else {
        DateTime::parse_from_rfc3339(value.trim())
            .ok()
            .map(|time| time.with_timezone(&Utc))
    };
    parsed.ok_or_else(|| {
        format!(
            "invalid --at value {value:?}: expected RFC 3339 (2025-03-04T11:02:10Z) or Unix seconds (1741086130)"
        )
    })
}

fn read_stdin() -> Result<String, String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("idflow decode: reading the token from standard input; end it with Ctrl-D");
    }
    let mut bytes = Vec::new();
    stdin
        .lock()
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("failed to read standard input: {error}"))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!(
            "standard input is larger than {} MiB; paste only the token or the header that holds it",
            MAX_INPUT_BYTES / 1024 / 1024
        ));
    }
    String::from_utf8(bytes).map_err(|error| {
        format!(
            "standard input is not UTF-8 text (invalid byte at offset {}); a token is ASCII",
            error.utf8_error().valid_up_to()
        )
    })
}

/// Builds the `decode -o json` object of the DESIGN.md contract.
fn to_json(inspection: &Inspection, show_secrets: bool) -> Value {
    let times: Map<String, Value> = inspection
        .times
        .iter()
        .map(|time| {
            let entry = json!({"time": time.time, "relative_seconds": time.relative_seconds});
            (time.claim.clone(), entry)
        })
        .collect();

    let mut signature = json!({
        "status": "unverified",
        "alg": signature_alg(inspection),
        "kid": inspection.kid(),
    });
    let mut object = json!({
        "kind": inspection.kind,
        "found_as": inspection.found_as,
        "header_name": inspection.header_name,
        "scheme": inspection.scheme,
        "header": inspection.header,
        "claims": inspection.claims,
        "times": times,
        "problems": inspection.problems,
        "fingerprint": inspection.fingerprint,
        "encoded_len": inspection.encoded_len,
    });
    if show_secrets {
        signature["value"] = json!(inspection.signature_segment());
        object["token"] = json!(inspection.token.expose());
    }
    object["signature"] = signature;
    object
}

/// Returns the signature algorithm, which a JWE lacks because its `alg` names key management.
fn signature_alg(inspection: &Inspection) -> Option<&str> {
    match inspection.kind {
        TokenKind::Jws => inspection.alg(),
        TokenKind::Jwe | TokenKind::Opaque => None,
    }
}

/// Builds the readable summary.
fn to_text(inspection: &Inspection, show_secrets: bool) -> String {
    let mut out = String::new();
    let kind = match inspection.kind {
        TokenKind::Jws => "JWS (signed JWT)",
        TokenKind::Jwe => "JWE (encrypted JWT)",
        TokenKind::Opaque => "opaque token",
    };
    let _ = writeln!(out, "kind         {kind}");
    let _ = writeln!(out, "found as     {}", inspection.found_as);
    let _ = writeln!(
        out,
        "size         {} bytes, fingerprint {}",
        inspection.encoded_len, inspection.fingerprint
    );
    if inspection.kind == TokenKind::Jws {
        let alg = inspection.alg().unwrap_or("none given");
        let key_id = inspection
            .kid()
            .map_or_else(|| "none".to_owned(), |kid| format!("{kid:?}"));
        let _ = writeln!(
            out,
            "signature    unverified (alg {alg}, kid {key_id}); no keys given"
        );
    }
    if show_secrets {
        let _ = writeln!(out, "token        {}", inspection.token.expose());
    }

    for (title, value) in [
        ("header", &inspection.header),
        ("claims", &inspection.claims),
    ] {
        if let Some(value) = value {
            let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
            let _ = writeln!(out, "\n{title}");
            for line in pretty.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
    }

    if !inspection.times.is_empty() {
        let _ = writeln!(out, "\ntimes");
        for time in &inspection.times {
            let phrase = relative_phrase(time.relative_seconds);
            let _ = writeln!(out, "  {:<4} {}  ({phrase})", time.claim, time.time);
        }
    }

    let _ = writeln!(out, "\nproblems");
    if inspection.problems.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for problem in &inspection.problems {
        let severity = match problem.severity {
            token::Severity::Error => "error",
            token::Severity::Warning => "warning",
            token::Severity::Note => "note",
        };
        let _ = writeln!(out, "  {severity:<8} {}: {}", problem.code, problem.message);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_unix_seconds() {
        let time = parse_at("1741086130").expect("valid");
        assert_eq!(time.timestamp(), 1_741_086_130);
    }

    #[test]
    fn at_rfc3339_offset() {
        let time = parse_at("2025-03-04T12:02:10+01:00").expect("valid");
        assert_eq!(time.timestamp(), 1_741_086_130);
    }

    #[test]
    fn at_invalid_names_value() {
        let error = parse_at("yesterday").expect_err("invalid");
        assert!(error.contains("\"yesterday\""), "{error}");
    }
}
