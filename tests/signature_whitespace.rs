//! Whitespace inside a token, checked against Envoy 1.40. Its jwt_authn reads everything from the
//! first base64url character after `Bearer ` to the end of the value, and Abseil's base64url
//! decoder skips whitespace. So a space or tab that splits the signature segment leaves the
//! signature intact (200). A word after the token lands in the signature (401), and whitespace
//! in the header or payload segment lands in the signed text (401).
//!
//! The Envoy filters are [`mint::istiod_filters`]: one provider under `requires_any` with
//! `allow_missing`, and RBAC that requires a request principal of the issuer. The tests that
//! compare with Envoy need it (`ENVOY` or scripts/test.sh) and fail without it.

mod envoy_harness;
#[path = "what_if/mint.rs"]
mod mint;
mod support;

use envoy_harness::envoy;
use serde_json::{Value, json};
use support::predicted_verdict;

const OK: &str = "200 via_upstream";
const VERIFICATION_FAILS: &str = "401 jwt_authn_access_denied{Jwt_verification_fails}";
const SIGNATURE_BASE64: &str =
    "401 jwt_authn_access_denied{Jwt_signature_is_an_invalid_Base64url_encoded}";
const HEADER_JSON: &str = "401 jwt_authn_access_denied{Jwt_header_is_an_invalid_JSON}";

/// Returns a valid RS256 token of [`mint::ISSUER`] for `alice` that expires in an hour. Its
/// signature segment has 342 characters.
fn token() -> String {
    let exp = chrono::Utc::now().timestamp() + 3600;
    mint::mint(
        mint::key(),
        &json!({"iss": mint::ISSUER, "sub": "alice", "exp": exp}),
    )
}

/// Splits `token` into its three segments.
fn segments(token: &str) -> [&str; 3] {
    let parts: Vec<&str> = token.split('.').collect();
    parts.try_into().expect("a token of three segments")
}

/// Returns `text` with `separator` inserted at each byte offset of `at`, in increasing order.
fn split_at(text: &str, at: &[usize], separator: &str) -> String {
    let mut out = String::new();
    let mut start = 0;
    for &offset in at {
        out.push_str(&text[start..offset]);
        out.push_str(separator);
        start = offset;
    }
    out.push_str(&text[start..]);
    out
}

/// Returns each shape of whitespace in or around `token`, named, with the verdict Envoy 1.40
/// gave for it as `Bearer <shape>`.
fn shapes(token: &str) -> Vec<(String, String, &'static str)> {
    let [header, payload, signature] = segments(token);
    let with_signature = |signature: String| format!("{header}.{payload}.{signature}");
    let mut shapes = Vec::new();
    for (name, separator) in [("space", " "), ("tab", "\t")] {
        for at in [1, 20, 100, 341] {
            shapes.push((
                format!("{name} in the signature at {at}"),
                with_signature(split_at(signature, &[at], separator)),
                OK,
            ));
        }
    }
    let more = [
        (
            "space before the signature",
            format!("{header}.{payload}. {signature}"),
            OK,
        ),
        (
            "two spaces in the signature",
            with_signature(split_at(signature, &[100], "  ")),
            OK,
        ),
        (
            "a space and a tab in the signature",
            with_signature(split_at(signature, &[100], " \t")),
            OK,
        ),
        (
            "spaces at three places in the signature",
            with_signature(split_at(signature, &[50, 200, 300], " ")),
            OK,
        ),
        (
            "space in the payload",
            format!("{header}.{}.{signature}", split_at(payload, &[10], " ")),
            VERIFICATION_FAILS,
        ),
        (
            "space in the header",
            format!("{}.{payload}.{signature}", split_at(header, &[10], " ")),
            VERIFICATION_FAILS,
        ),
        // 342 + 3 characters leave one over a group of four, which no base64 decodes.
        (
            "trailing word abc",
            format!("{token} abc"),
            SIGNATURE_BASE64,
        ),
        (
            "trailing word abcd",
            format!("{token} abcd"),
            VERIFICATION_FAILS,
        ),
        (
            "split signature and a trailing word",
            format!("{} abcd", with_signature(split_at(signature, &[100], " "))),
            VERIFICATION_FAILS,
        ),
        (
            "%20 in the signature",
            with_signature(split_at(signature, &[100], "%20")),
            SIGNATURE_BASE64,
        ),
        ("leading word", format!("abc {token}"), HEADER_JSON),
    ];
    shapes.extend(
        more.into_iter()
            .map(|(name, text, verdict)| (name.to_owned(), text, verdict)),
    );
    shapes
}

/// Sends one request per `Authorization` value through an Envoy with [`mint::istiod_filters`] and
/// returns `STATUS DETAILS` for each.
fn envoy_verdicts(values: &[String]) -> Vec<String> {
    let requests: Vec<(&str, Vec<(String, String)>)> = values
        .iter()
        .map(|value| ("/", vec![("Authorization".to_owned(), value.clone())]))
        .collect();
    envoy_harness::http_statuses(
        mint::istiod_filters(mint::ISSUER),
        envoy::free_port(),
        "orders.shop.svc.cluster.local:8080",
        "spiffe://cluster.local/ns/shop/sa/orders",
        &requests,
    )
}

/// Writes [`mint::jwks`] to a new file and returns its path.
fn jwks_file() -> String {
    let path = envoy_harness::scratch_dir("signature-whitespace-jwks").join("jwks.json");
    std::fs::write(&path, mint::jwks()).expect("JWKS written");
    path.to_str().expect("UTF-8 path").to_owned()
}

/// Runs `idflow decode --batch ARGS` with `input` on standard input and returns each line's JSON
/// object and the exit status.
fn run_batch(input: &str, args: &[&str]) -> (Vec<Value>, Option<i32>) {
    let output = support::run_batch(input.as_bytes().to_vec(), args);
    let objects = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .collect();
    (objects, output.status.code())
}

/// Envoy's verdict for each shape is the one recorded in [`shapes`], and decode with the keys
/// predicts it, for the shape pasted alone and as a `Bearer` value.
#[test]
fn decode_predicts_envoy() {
    let token = token();
    let shapes = shapes(&token);
    let values: Vec<String> = shapes
        .iter()
        .map(|(_, text, _)| format!("Bearer {text}"))
        .collect();
    let verdicts = envoy_verdicts(&values);
    let jwks = jwks_file();

    for ((name, _, _), verdict) in shapes.iter().zip(&verdicts) {
        eprintln!("{name}: Envoy {verdict}");
    }
    for ((name, _, expected), verdict) in shapes.iter().zip(&verdicts) {
        assert_eq!(verdict, expected, "Envoy for {name}");
    }
    for ((name, text, _), verdict) in shapes.iter().zip(&verdicts) {
        for input in [text.clone(), format!("Bearer {text}")] {
            let (code, json, stderr) = support::decode_output(&input, &["--jwks", &jwks]);
            assert_eq!(
                predicted_verdict(code, &json),
                *verdict,
                "decode for {name} ({input:.8}): {stderr}"
            );
        }
    }
}

/// With the keys, a signature split by whitespace that verifies is one token with the whitespace
/// removed: the fingerprint is the token's, the signature is verified and the problem names both
/// Envoy's and RFC 6750's reading.
#[test]
fn verified_split_is_one_token() {
    let token = token();
    let [header, payload, signature] = segments(&token);
    let jwks = jwks_file();
    for separator in [" ", "\t", "  "] {
        let spaced = format!(
            "Bearer {header}.{payload}.{}",
            split_at(signature, &[100], separator)
        );
        let (code, json, stderr) = support::decode_output(&spaced, &["--jwks", &jwks]);
        assert_eq!(code, 0, "{separator:?}: {stderr}{json}");
        assert_eq!(json["signature"]["status"], "verified", "{separator:?}");
        assert_eq!(
            json["fingerprint"],
            idflow::token::fingerprint(&token),
            "{separator:?}"
        );
        assert_eq!(
            support::problem_codes(&json),
            ["internal_whitespace"],
            "{separator:?}"
        );
        let message = support::problem_message(&json, "internal_whitespace");
        assert!(message.contains("Envoy's jwt_authn"), "{message}");
        assert!(message.contains("RFC 6750"), "{message}");
    }
}

/// A word after a token that verifies alone is trailing text, with or without the keys, and
/// decode names the 401 Envoy returns for the value as sent: the word completes no RS256
/// signature.
#[test]
fn trailing_word_fails() {
    let token = token();
    let jwks = jwks_file();
    for keys in [vec![], vec!["--jwks", jwks.as_str()]] {
        let (code, json, _) = support::decode_output(&format!("{token} abcd"), &keys);
        assert_eq!(code, 1, "{keys:?}");
        assert_eq!(
            json["fingerprint"],
            idflow::token::fingerprint(&token),
            "{keys:?}"
        );
        assert_ne!(
            support::problem_message(&json, "trailing_text"),
            "",
            "{keys:?}"
        );
        let format = support::problem_message(&json, "mesh_rejects_format");
        assert!(
            format.contains("Jwt verification fails"),
            "{keys:?}: {json}"
        );
    }
    let (_, json, _) = support::decode_output(&format!("{token} abcd"), &["--jwks", &jwks]);
    assert_eq!(json["signature"]["envoy_status"], "Jwt verification fails");
}

/// Without keys, decode claims no verdict for a signature that whitespace splits: it names the
/// reading Envoy uses and leaves the verdict to the keys.
#[test]
fn keyless_split_leaves_verdict_to_keys() {
    let token = token();
    let [header, payload, signature] = segments(&token);
    for at in [20, 100, 341] {
        let spaced = format!(
            "Bearer {header}.{payload}.{}",
            split_at(signature, &[at], " ")
        );
        let (_, json, stderr) = support::decode_output(&spaced, &[]);
        assert_eq!(json["signature"]["envoy_status"], Value::Null, "{at}");
        assert_eq!(
            support::problem_message(&json, "mesh_rejects_format"),
            "",
            "{at}: {stderr}"
        );
        let message = support::problem_message(&json, "whitespace_in_signature");
        assert!(message.contains("Envoy's jwt_authn"), "{at}: {json}");
        assert!(message.contains("keys"), "{at}: {message}");
    }
}

/// A batch gives each shape the object a single decode prints, with and without keys.
#[test]
fn batch_matches_single() {
    let token = token();
    let inputs: Vec<String> = shapes(&token)
        .into_iter()
        .map(|(_, text, _)| format!("Bearer {text}"))
        .collect();
    let jwks = jwks_file();
    let at = chrono::Utc::now().timestamp().to_string();
    for keys in [vec![], vec!["--jwks", jwks.as_str()]] {
        let mut args = vec!["--at", at.as_str()];
        args.extend(&keys);
        let (objects, status) = run_batch(&inputs.join("\n"), &args);
        assert_eq!(objects.len(), inputs.len(), "{keys:?}");
        let mut any_invalid = false;
        for (input, object) in inputs.iter().zip(objects) {
            let (code, single, stderr) = support::decode_output(input, &args);
            any_invalid |= code != 0;
            let mut object = object;
            object.as_object_mut().and_then(|map| map.remove("line"));
            assert_eq!(object, single, "{keys:?} {input:.20}: {stderr}");
        }
        assert_eq!(status, Some(i32::from(any_invalid)), "{keys:?}");
    }
}
